#include "certwright/server/health_server.h"

#include <cpprest/http_listener.h>
#include <prometheus/registry.h>
#include <prometheus/text_serializer.h>

namespace certwright::server {

struct HealthServer::Impl {
  HealthServerOptions options;
  std::unique_ptr<web::http::experimental::listener::http_listener> listener;
};

Result<std::unique_ptr<HealthServer>> HealthServer::Start(HealthServerOptions options) {
  auto impl = std::make_unique<Impl>();
  impl->options = std::move(options);
  try {
    impl->listener = std::make_unique<web::http::experimental::listener::http_listener>(
        web::uri("http://" + impl->options.address));
    Impl* self = impl.get();
    impl->listener->support(web::http::methods::GET, [self](web::http::http_request request) {
      const std::string path = request.relative_uri().path();
      if (path == "/healthz" || path == "/livez") {
        request.reply(web::http::status_codes::OK, "ok\n", "text/plain");
      } else if (path == "/readyz") {
        const std::string why = self->options.not_ready_reason ? self->options.not_ready_reason() : "";
        if (why.empty()) {
          request.reply(web::http::status_codes::OK, "ok\n", "text/plain");
        } else {
          request.reply(web::http::status_codes::ServiceUnavailable, why + "\n", "text/plain");
        }
      } else if (path == "/metrics" && self->options.registry) {
        const std::string body = prometheus::TextSerializer().Serialize(self->options.registry->Collect());
        request.reply(web::http::status_codes::OK, body, "text/plain; version=0.0.4");
      } else {
        request.reply(web::http::status_codes::NotFound, "not found\n", "text/plain");
      }
    });
    impl->listener->open().wait();
  } catch (const std::exception& e) {
    return Unavailable("cannot serve health and metrics on " + impl->options.address + ": " + e.what());
  }
  return std::unique_ptr<HealthServer>(new HealthServer(std::move(impl)));
}

HealthServer::HealthServer(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}

HealthServer::~HealthServer() {
  try {
    impl_->listener->close().wait();
  } catch (...) {
    // Closing at exit: nothing left to tell anyone.
  }
}

}  // namespace certwright::server
