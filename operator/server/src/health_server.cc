#include "certwright/server/health_server.h"

#include <prometheus/registry.h>
#include <prometheus/text_serializer.h>

namespace certwright::server {

void AddHealthRoutes(http::Router& router, const HealthServerOptions& options, bool with_metrics) {
  auto alive = [](const http::Request&) { return http::Response::Text(200, "ok\n"); };
  router.Handle("GET", "/healthz", alive);
  router.Handle("GET", "/livez", alive);
  router.Handle("GET", "/readyz", [why = options.not_ready_reason](const http::Request&) {
    const std::string reason = why ? why() : "";
    return reason.empty() ? http::Response::Text(200, "ok\n") : http::Response::Text(503, reason + "\n");
  });
  if (with_metrics && options.registry) {
    router.Handle("GET", "/metrics", [registry = options.registry](const http::Request&) {
      return http::Response::Text(200, prometheus::TextSerializer().Serialize(registry->Collect()),
                                  "text/plain; version=0.0.4");
    });
  }
}

Result<std::unique_ptr<HealthServer>> HealthServer::Start(HealthServerOptions options) {
  http::Router router;
  AddHealthRoutes(router, options);
  http::ServerOptions server;
  server.address = options.address;
  server.threads = 1;
  server.max_body_bytes = 0;  // GETs only
  // Probes and scrapes, not clients: few connections, short waits, so the port cannot be held.
  server.max_connections = 64;
  server.first_request_timeout = std::chrono::seconds(5);
  server.idle_timeout = std::chrono::seconds(30);
  server.max_buffered_body_bytes = 0;
  auto started = http::Server::Start(std::move(server), std::move(router));
  if (!started) {
    return Unavailable("cannot serve health and metrics on " + options.address + ": " + started.error().message());
  }
  return std::unique_ptr<HealthServer>(new HealthServer(std::move(*started)));
}

}  // namespace certwright::server
