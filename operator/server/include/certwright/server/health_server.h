// The plain-HTTP endpoints every certwright process serves (DESIGN.md "Observability"):
//   /healthz  200 while the process is alive and its loops turn (also /livez)
//   /readyz   200 once the caches have synced (503 with the reason before)
//   /metrics  Prometheus text format of the registry
// Routes on certwright's one HTTP server (http::Server); AddRoutes puts the same three on a
// server that serves more (the webhook's HTTPS port).
#pragma once

#include <functional>
#include <memory>
#include <string>

#include "certwright/http/server.h"
#include "certwright/signer/result.h"

namespace prometheus {
class Registry;
}

namespace certwright::server {

struct HealthServerOptions {
  std::string address = "0.0.0.0:9402";  // host:port; port 0 picks a free one
  std::shared_ptr<prometheus::Registry> registry;
  // "" when ready, else why not.
  std::function<std::string()> not_ready_reason;
};

// Adds /healthz, /livez and /readyz to `router`, and /metrics when `with_metrics`.
void AddHealthRoutes(http::Router& router, const HealthServerOptions& options, bool with_metrics = true);

class HealthServer {
 public:
  static Result<std::unique_ptr<HealthServer>> Start(HealthServerOptions options);
  int port() const { return server_->port(); }

 private:
  explicit HealthServer(std::unique_ptr<http::Server> server) : server_(std::move(server)) {}
  std::unique_ptr<http::Server> server_;
};

}  // namespace certwright::server
