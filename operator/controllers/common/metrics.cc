#include "certwright/controllers/metrics.h"

#include <prometheus/counter.h>
#include <prometheus/family.h>
#include <prometheus/gauge.h>
#include <prometheus/histogram.h>
#include <prometheus/registry.h>

#include <map>
#include <mutex>

namespace certwright::controllers {

struct Metrics::Impl {
  std::shared_ptr<prometheus::Registry> registry;
  prometheus::Family<prometheus::Gauge>& expiry;
  prometheus::Family<prometheus::Gauge>& ready;
  prometheus::Family<prometheus::Counter>& issuances;
  prometheus::Family<prometheus::Histogram>& issuance_latency;
  prometheus::Family<prometheus::Counter>& signer_errors;
  prometheus::Counter& events_dropped;
  prometheus::Family<prometheus::Gauge>& issuer_ca_expiry;
  prometheus::Family<prometheus::Gauge>& bundle_certificates;
  prometheus::Family<prometheus::Gauge>& bundle_bytes;
  prometheus::Family<prometheus::Gauge>& bundle_updated;
  prometheus::Family<prometheus::Counter>& bundle_writes;
  prometheus::Family<prometheus::Counter>& injections;
  prometheus::Family<prometheus::Gauge>& depth;
  prometheus::Family<prometheus::Counter>& adds;
  prometheus::Family<prometheus::Counter>& retries;
  prometheus::Family<prometheus::Histogram>& queue_latency;
  prometheus::Family<prometheus::Histogram>& work_duration;

  std::mutex mutex;
  // What was last set per Certificate, so a deleted one's series can be removed.
  struct Series {
    prometheus::Gauge* expiry = nullptr;
    std::vector<prometheus::Gauge*> ready;
  };
  std::map<std::string, Series> certificates;

  explicit Impl(std::shared_ptr<prometheus::Registry> r)
      : registry(std::move(r)),
        expiry(prometheus::BuildGauge()
                   .Name("certwright_certificate_expiration_timestamp_seconds")
                   .Help("The notAfter of the certificate in a Certificate's Secret, as a Unix time")
                   .Register(*registry)),
        ready(prometheus::BuildGauge()
                  .Name("certwright_certificate_ready_status")
                  .Help("The Ready condition of a Certificate: 1 for its current status")
                  .Register(*registry)),
        issuances(prometheus::BuildCounter()
                      .Name("certwright_issuances_total")
                      .Help("Certificate issuances by issuer, key backend and result")
                      .Register(*registry)),
        issuance_latency(prometheus::BuildHistogram()
                             .Name("certwright_issuance_duration_seconds")
                             .Help("Time to make the key, sign and write the Secret")
                             .Register(*registry)),
        signer_errors(prometheus::BuildCounter()
                          .Name("certwright_signer_errors_total")
                          .Help("Failed signatures by key backend")
                          .Register(*registry)),
        events_dropped(prometheus::BuildCounter()
                           .Name("certwright_events_dropped_total")
                           .Help("Kubernetes Events not written because the recorder's queue was full")
                           .Register(*registry)
                           .Add({})),
        issuer_ca_expiry(prometheus::BuildGauge()
                             .Name("certwright_issuer_ca_expiration_timestamp_seconds")
                             .Help("The notAfter of a Ready issuer's CA certificate, as a Unix time")
                             .Register(*registry)),
        bundle_certificates(prometheus::BuildGauge()
                                .Name("certwright_trustbundle_certificates")
                                .Help("Certificates in a TrustBundle (after de-duplication and expiry)")
                                .Register(*registry)),
        bundle_bytes(prometheus::BuildGauge()
                         .Name("certwright_trustbundle_bytes")
                         .Help("Size of a TrustBundle's PEM")
                         .Register(*registry)),
        bundle_updated(prometheus::BuildGauge()
                           .Name("certwright_trustbundle_last_update_timestamp_seconds")
                           .Help("When a TrustBundle's content last changed, as a Unix time")
                           .Register(*registry)),
        bundle_writes(prometheus::BuildCounter()
                          .Name("certwright_trustbundle_target_writes_total")
                          .Help("ConfigMap and Secret writes for TrustBundle targets, by operation")
                          .Register(*registry)),
        injections(prometheus::BuildCounter()
                       .Name("certwright_cainjector_writes_total")
                       .Help("Objects whose caBundle fields the CA injector wrote, by kind")
                       .Register(*registry)),
        depth(prometheus::BuildGauge().Name("certwright_workqueue_depth").Help("Keys waiting").Register(*registry)),
        adds(prometheus::BuildCounter().Name("certwright_workqueue_adds_total").Help("Keys queued").Register(*registry)),
        retries(prometheus::BuildCounter()
                    .Name("certwright_workqueue_retries_total")
                    .Help("Keys queued again after a failure")
                    .Register(*registry)),
        queue_latency(prometheus::BuildHistogram()
                          .Name("certwright_workqueue_queue_duration_seconds")
                          .Help("Time a key waits in the queue")
                          .Register(*registry)),
        work_duration(prometheus::BuildHistogram()
                          .Name("certwright_workqueue_work_duration_seconds")
                          .Help("Time a reconcile takes")
                          .Register(*registry)) {}
};

namespace {
const prometheus::Histogram::BucketBoundaries& LatencyBuckets() {
  static const prometheus::Histogram::BucketBoundaries b{0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1,
                                                         0.25,  0.5,    1,     2.5,  5,     10};
  return b;
}
}  // namespace

Metrics::Metrics(std::shared_ptr<prometheus::Registry> registry) : impl_(std::make_unique<Impl>(std::move(registry))) {}
Metrics::~Metrics() = default;

void Metrics::SetCertificate(const std::string& ns, const std::string& name, const std::string& issuer_kind,
                             const std::string& issuer_name, double not_after_seconds,
                             const std::string& ready_status) {
  std::lock_guard lock(impl_->mutex);
  auto& series = impl_->certificates[ns + "/" + name];
  if (series.expiry != nullptr) impl_->expiry.Remove(series.expiry);
  series.expiry = nullptr;
  if (not_after_seconds > 0) {
    series.expiry = &impl_->expiry.Add(
        {{"namespace", ns}, {"name", name}, {"issuer_kind", issuer_kind}, {"issuer_name", issuer_name}});
    series.expiry->Set(not_after_seconds);
  }
  if (series.ready.empty()) {
    for (const char* condition : {"True", "False", "Unknown"}) {
      series.ready.push_back(&impl_->ready.Add({{"namespace", ns}, {"name", name}, {"condition", condition}}));
    }
  }
  series.ready[0]->Set(ready_status == "True" ? 1 : 0);
  series.ready[1]->Set(ready_status == "False" ? 1 : 0);
  series.ready[2]->Set(ready_status != "True" && ready_status != "False" ? 1 : 0);
}

void Metrics::EraseCertificate(const std::string& ns, const std::string& name) {
  std::lock_guard lock(impl_->mutex);
  auto it = impl_->certificates.find(ns + "/" + name);
  if (it == impl_->certificates.end()) return;
  if (it->second.expiry != nullptr) impl_->expiry.Remove(it->second.expiry);
  for (auto* g : it->second.ready) impl_->ready.Remove(g);
  impl_->certificates.erase(it);
}

void Metrics::ObserveIssuance(const std::string& issuer_kind, const std::string& issuer_name,
                              const std::string& backend, bool ok, std::chrono::duration<double> latency) {
  impl_->issuances
      .Add({{"issuer_kind", issuer_kind},
            {"issuer_name", issuer_name},
            {"backend", backend},
            {"result", ok ? "success" : "failure"}})
      .Increment();
  if (ok) {
    impl_->issuance_latency
        .Add({{"issuer_kind", issuer_kind}, {"issuer_name", issuer_name}, {"backend", backend}}, LatencyBuckets())
        .Observe(latency.count());
  }
}

void Metrics::SignerError(const std::string& backend) { impl_->signer_errors.Add({{"backend", backend}}).Increment(); }
void Metrics::EventDropped() { impl_->events_dropped.Increment(); }

void Metrics::SetIssuerCaExpiry(const std::string& kind, const std::string& ns, const std::string& name,
                                double not_after_seconds) {
  const prometheus::Labels labels{{"issuer_kind", kind}, {"issuer_namespace", ns}, {"issuer_name", name}};
  std::lock_guard lock(impl_->mutex);
  if (not_after_seconds > 0) {
    impl_->issuer_ca_expiry.Add(labels).Set(not_after_seconds);
  } else if (impl_->issuer_ca_expiry.Has(labels)) {
    impl_->issuer_ca_expiry.Remove(&impl_->issuer_ca_expiry.Add(labels));
  }
}

void Metrics::SetTrustBundle(const std::string& bundle, size_t certificates, size_t pem_bytes,
                             double last_update_seconds) {
  std::lock_guard lock(impl_->mutex);
  impl_->bundle_certificates.Add({{"bundle", bundle}}).Set(static_cast<double>(certificates));
  impl_->bundle_bytes.Add({{"bundle", bundle}}).Set(static_cast<double>(pem_bytes));
  impl_->bundle_updated.Add({{"bundle", bundle}}).Set(last_update_seconds);
}

void Metrics::EraseTrustBundle(const std::string& bundle) {
  std::lock_guard lock(impl_->mutex);
  for (auto* family : {&impl_->bundle_certificates, &impl_->bundle_bytes, &impl_->bundle_updated}) {
    if (family->Has({{"bundle", bundle}})) family->Remove(&family->Add({{"bundle", bundle}}));
  }
}

void Metrics::TrustBundleTargetWrite(const std::string& bundle, const std::string& kind, const std::string& op) {
  impl_->bundle_writes.Add({{"bundle", bundle}, {"kind", kind}, {"op", op}}).Increment();
}

void Metrics::CaInjected(const std::string& kind) { impl_->injections.Add({{"kind", kind}}).Increment(); }

kube::WorkQueueMetrics Metrics::WorkQueue(const std::string& controller) {
  auto& depth = impl_->depth.Add({{"name", controller}});
  auto& adds = impl_->adds.Add({{"name", controller}});
  auto& retries = impl_->retries.Add({{"name", controller}});
  auto& queue = impl_->queue_latency.Add({{"name", controller}}, LatencyBuckets());
  auto& work = impl_->work_duration.Add({{"name", controller}}, LatencyBuckets());
  kube::WorkQueueMetrics m;
  m.depth = [&depth](std::size_t n) { depth.Set(static_cast<double>(n)); };
  m.add = [&adds] { adds.Increment(); };
  m.retry = [&retries] { retries.Increment(); };
  m.queue_latency = [&queue](std::chrono::nanoseconds d) { queue.Observe(std::chrono::duration<double>(d).count()); };
  m.work_duration = [&work](std::chrono::nanoseconds d) { work.Observe(std::chrono::duration<double>(d).count()); };
  return m;
}

}  // namespace certwright::controllers
