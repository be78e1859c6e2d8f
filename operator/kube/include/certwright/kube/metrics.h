// Client metrics (prometheus-cpp): requests by verb, resource and code, and latency.
#pragma once

#include <chrono>
#include <memory>
#include <string>

namespace prometheus {
class Registry;
}

namespace certwright::kube {

class ClientMetrics {
 public:
  explicit ClientMetrics(std::shared_ptr<prometheus::Registry> registry);
  ~ClientMetrics();
  // code: the HTTP status, or "error" when no response arrived.
  void Observe(const std::string& verb, const std::string& resource, const std::string& code,
               std::chrono::duration<double> latency);

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

}  // namespace certwright::kube
