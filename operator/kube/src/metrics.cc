#include "certwright/kube/metrics.h"

#include <prometheus/counter.h>
#include <prometheus/histogram.h>
#include <prometheus/registry.h>

namespace certwright::kube {

struct ClientMetrics::Impl {
  std::shared_ptr<prometheus::Registry> registry;
  prometheus::Family<prometheus::Counter>* requests;
  prometheus::Family<prometheus::Histogram>* latency;
};

ClientMetrics::ClientMetrics(std::shared_ptr<prometheus::Registry> registry) : impl_(std::make_unique<Impl>()) {
  impl_->registry = registry;
  impl_->requests = &prometheus::BuildCounter()
                         .Name("certwright_kube_client_requests_total")
                         .Help("Kubernetes API requests by verb, resource and HTTP status code")
                         .Register(*registry);
  impl_->latency = &prometheus::BuildHistogram()
                        .Name("certwright_kube_client_request_duration_seconds")
                        .Help("Kubernetes API request latency by verb and resource")
                        .Register(*registry);
}

ClientMetrics::~ClientMetrics() = default;

void ClientMetrics::Observe(const std::string& verb, const std::string& resource, const std::string& code,
                            std::chrono::duration<double> latency) {
  impl_->requests->Add({{"verb", verb}, {"resource", resource}, {"code", code}}).Increment();
  static const prometheus::Histogram::BucketBoundaries kBuckets = {0.001, 0.0025, 0.005, 0.01, 0.025, 0.05,
                                                                  0.1,   0.25,   0.5,   1,    2.5,   5};
  impl_->latency->Add({{"verb", verb}, {"resource", resource}}, kBuckets).Observe(latency.count());
}

}  // namespace certwright::kube
