// The plain-HTTP endpoints every certwright process serves (DESIGN.md "Observability"):
//   /healthz  200 while the process is alive and its loops turn
//   /readyz   200 once the caches have synced (503 with the reason before)
//   /metrics  Prometheus text format of the registry
// cpprestsdk's listener, kept behind this small class so it can be replaced.
#pragma once

#include <functional>
#include <memory>
#include <string>

#include "certwright/signer/result.h"

namespace prometheus {
class Registry;
}

namespace certwright::server {

struct HealthServerOptions {
  std::string address = "0.0.0.0:9402";  // host:port; port 0 is not supported by the listener
  std::shared_ptr<prometheus::Registry> registry;
  // "" when ready, else why not.
  std::function<std::string()> not_ready_reason;
};

class HealthServer {
 public:
  static Result<std::unique_ptr<HealthServer>> Start(HealthServerOptions options);
  ~HealthServer();

 private:
  struct Impl;
  explicit HealthServer(std::unique_ptr<Impl> impl);
  std::unique_ptr<Impl> impl_;
};

}  // namespace certwright::server
