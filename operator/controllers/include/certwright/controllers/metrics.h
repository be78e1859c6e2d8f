// The controllers' Prometheus metrics (DESIGN.md "Observability"):
//   certwright_certificate_expiration_timestamp_seconds{namespace,name,issuer_name,issuer_kind}
//   certwright_certificate_ready_status{namespace,name,condition}   1 for the current condition
//   certwright_issuances_total{issuer_kind,issuer_name,backend,result}
//   certwright_issuance_duration_seconds{issuer_kind,issuer_name,backend}  key + sign + Secret write
//   certwright_signer_errors_total{backend}
//   certwright_issuer_ca_expiration_timestamp_seconds{issuer_kind,issuer_namespace,issuer_name}  Ready CA issuers
//   certwright_trustbundle_certificates{bundle}, certwright_trustbundle_bytes{bundle} (the PEM),
//   certwright_trustbundle_last_update_timestamp_seconds{bundle}   when the content last changed
//   certwright_trustbundle_target_writes_total{bundle,kind,op}     ConfigMap/Secret create/update/delete
//   certwright_cainjector_writes_total{kind}                       objects whose caBundle was written
//   certwright_workqueue_{depth,adds_total,retries_total,queue_duration_seconds,work_duration_seconds}{name}
#pragma once

#include <chrono>
#include <memory>
#include <string>

#include "certwright/kube/workqueue.h"

namespace prometheus {
class Registry;
}

namespace certwright::controllers {

class Metrics {
 public:
  explicit Metrics(std::shared_ptr<prometheus::Registry> registry);
  ~Metrics();

  void SetCertificate(const std::string& ns, const std::string& name, const std::string& issuer_kind,
                      const std::string& issuer_name, double not_after_seconds, const std::string& ready_status);
  void EraseCertificate(const std::string& ns, const std::string& name);
  void ObserveIssuance(const std::string& issuer_kind, const std::string& issuer_name, const std::string& backend,
                       bool ok, std::chrono::duration<double> latency);
  void SignerError(const std::string& backend);
  // not_after_seconds <= 0 removes the series (the issuer is gone or not Ready).
  void SetIssuerCaExpiry(const std::string& kind, const std::string& ns, const std::string& name,
                         double not_after_seconds);
  void SetTrustBundle(const std::string& bundle, size_t certificates, size_t pem_bytes, double last_update_seconds);
  void EraseTrustBundle(const std::string& bundle);
  void TrustBundleTargetWrite(const std::string& bundle, const std::string& kind, const std::string& op);
  void CaInjected(const std::string& kind);
  // An Event dropped because the recorder's queue was full (--event-qps, --event-burst).
  void EventDropped();
  kube::WorkQueueMetrics WorkQueue(const std::string& controller);

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

}  // namespace certwright::controllers
