// The controllers' Prometheus metrics (DESIGN.md "Observability"):
//   certwright_certificate_expiration_timestamp_seconds{namespace,name,issuer_name,issuer_kind}
//   certwright_certificate_ready_status{namespace,name,condition}   1 for the current condition
//   certwright_issuances_total{issuer_kind,issuer_name,backend,result}
//   certwright_issuance_duration_seconds{issuer_kind,issuer_name,backend}  key + sign + Secret write
//   certwright_signer_errors_total{backend}
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
  // An Event dropped because the recorder's queue was full (--event-qps, --event-burst).
  void EventDropped();
  kube::WorkQueueMetrics WorkQueue(const std::string& controller);

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

}  // namespace certwright::controllers
