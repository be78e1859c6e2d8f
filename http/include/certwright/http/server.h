// The HTTP server of certwright's one HTTP layer: the webhook's HTTPS endpoints and every
// process's /healthz, /readyz, /metrics. Boost.Beast over Asio is behind it (docs/performance.md
// says why not cpprestsdk's listener).
//
//   http::Router router;
//   router.Handle("GET", "/healthz", [](const http::Request&) { return http::Response::Text(200, "ok\n"); });
//   auto server = http::Server::Start({.address = "127.0.0.1:0", .tls = credentials}, std::move(router));
//   int port = (*server)->port();
//
// Handlers run on the server's own threads (never on cpprestsdk's shared pool), so they may block
// briefly; an exception escaping a handler becomes a 500 and is logged. The server bounds what a
// client can make it hold: header (431) and body (413) sizes, the time to send a request, idle
// keep-alive connections, TLS handshakes, the number of open connections, the bytes of bodies
// held at once (503), and what a chunked body's framing may buffer. Too slow a client is
// disconnected without an answer.
#pragma once

#include <chrono>
#include <functional>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "certwright/http/message.h"
#include "certwright/http/tls.h"
#include "certwright/signer/result.h"

namespace certwright::http {

using Handler = std::function<Response(const Request&)>;

// Exact-path routes by method. An unknown path is 404; a known path with another method is 405.
class Router {
 public:
  void Handle(std::string method, std::string path, Handler handler);
  Response Dispatch(const Request& request) const;

 private:
  struct Route {
    std::string method;
    std::string path;
    Handler handler;
  };
  std::vector<Route> routes_;
};

struct ServerOptions {
  std::string address = "0.0.0.0:0";  // host:port; port 0 picks a free one (see port())
  std::shared_ptr<TlsCredentials> tls;  // nullptr: plain HTTP
  int threads = 2;
  size_t max_header_bytes = 16 * 1024;
  size_t max_body_bytes = 1024 * 1024;  // larger bodies get 413 without being read
  // Waiting for the next request on a kept-alive connection and receiving its headers; past it
  // the connection is closed without an answer.
  std::chrono::milliseconds idle_timeout{std::chrono::seconds(90)};
  // The same for a new connection's first request (and its TLS handshake before it): short, so
  // connections that never send cannot hold the slots.
  std::chrono::milliseconds first_request_timeout{std::chrono::seconds(10)};
  // From the end of the headers to the last byte of the body, and writing the response.
  std::chrono::milliseconds request_timeout{std::chrono::seconds(10)};
  std::chrono::milliseconds handshake_timeout{std::chrono::seconds(10)};
  size_t max_connections = 1024;  // beyond it new connections are closed at once
  // Request bodies held by all connections at once, counted by what each declares (a chunked
  // body counts as max_body_bytes): beyond it a request gets 503 without being read.
  size_t max_buffered_body_bytes = 64 * 1024 * 1024;
  // Called after each response to a request is written (not after 413/431/400 answers to
  // requests that could not be read), with the time from the request's last byte to the response's
  // (metrics, benchmarks); the Response has its status and headers, not its body. On the server's
  // thread; keep it cheap.
  std::function<void(const Request&, const Response&, std::chrono::nanoseconds)> on_response;
};

class Server {
 public:
  // Binds and starts serving. kUnavailable when the address cannot be bound.
  static Result<std::unique_ptr<Server>> Start(ServerOptions options, Router router);
  ~Server();  // stops: closes the listener and every connection, joins the threads

  int port() const;  // the bound port

  // Implementation details below (server.cc's connections hold the Impl).
  struct Impl;

 private:
  explicit Server(std::unique_ptr<Impl> impl);
  std::unique_ptr<Impl> impl_;
};

}  // namespace certwright::http
