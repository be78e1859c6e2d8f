#include "certwright/webhook/routes.h"

#include <prometheus/counter.h>
#include <prometheus/histogram.h>
#include <prometheus/registry.h>

#include <chrono>
#include <map>

namespace certwright::webhook {

namespace {

class AdmissionMetrics {
 public:
  explicit AdmissionMetrics(prometheus::Registry& registry)
      : requests_(prometheus::BuildCounter()
                      .Name("certwright_webhook_requests_total")
                      .Help("AdmissionReviews answered, by path, resource, operation and result")
                      .Register(registry)),
        latency_(prometheus::BuildHistogram()
                     .Name("certwright_webhook_request_duration_seconds")
                     .Help("Time to answer an AdmissionReview, from the request's last byte to the answer")
                     .Register(registry)) {}

  void Observe(const std::string& path, const AdmissionOutcome& outcome, std::chrono::nanoseconds took) {
    const std::map<std::string, std::string> labels = {
        {"path", path}, {"resource", outcome.resource}, {"operation", outcome.operation}, {"result", outcome.result}};
    requests_.Add(labels).Increment();
    latency_.Add(labels, prometheus::Histogram::BucketBoundaries{0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005,
                                                                0.01, 0.025, 0.1, 1})
        .Observe(std::chrono::duration<double>(took).count());
  }

 private:
  prometheus::Family<prometheus::Counter>& requests_;
  prometheus::Family<prometheus::Histogram>& latency_;
};

}  // namespace

void AddAdmissionRoutes(http::Router& router, const AdmissionContext& context,
                        std::shared_ptr<prometheus::Registry> registry) {
  std::shared_ptr<AdmissionMetrics> metrics;
  if (registry) metrics = std::make_shared<AdmissionMetrics>(*registry);
  auto route = [&context, metrics, registry](std::string path, AdmissionOutcome (*judge)(std::string_view,
                                                                                       const AdmissionContext&)) {
    return [&context, metrics, registry, path = std::move(path), judge](const http::Request& request) {
      const auto started = std::chrono::steady_clock::now();
      AdmissionOutcome outcome = judge(request.body, context);
      if (metrics) metrics->Observe(path, outcome, std::chrono::steady_clock::now() - started);
      return http::Response::Text(outcome.http_status, std::move(outcome.body),
                                  outcome.http_status == 200 ? "application/json" : "text/plain; charset=utf-8");
    };
  };
  router.Handle("POST", "/validate", route("/validate", &Validate));
  router.Handle("POST", "/mutate", route("/mutate", &Mutate));
}

}  // namespace certwright::webhook
