// The HTTP client of certwright's one HTTP layer: the Kubernetes client (operator/kube) and the
// AWS KMS/STS client (signer/backends/awskms) both send through it. cpprestsdk is behind it.
//
//   auto client = http::MakeClient({.default_endpoint = "https://127.0.0.1:6443", .ca_pem = ca});
//   auto reply = (*client)->Send({.method = "GET", .target = "/version"});
//
// Tests put a fault-injecting Client of their own in its place.
#pragma once

#include <chrono>
#include <memory>
#include <optional>
#include <string>

#include "certwright/http/message.h"
#include "certwright/signer/result.h"

namespace certwright::http {

// A streamed response (a Kubernetes watch): lines as they arrive.
class LineStream {
 public:
  virtual ~LineStream() = default;
  virtual int status() const = 0;
  // The next line without its newline; nullopt at the end of the stream. Errors on timeouts and
  // broken connections.
  virtual Result<std::optional<std::string>> ReadLine() = 0;
  // Unblocks a ReadLine in progress from another thread; it then returns end of stream.
  virtual void Cancel() = 0;
};

class Client {
 public:
  virtual ~Client() = default;
  // Any HTTP status is a Response; no answer (refused, reset, timed out, TLS failure) is
  // kUnavailable. Messages never contain the request's headers or body (they hold secrets).
  // Blocks the calling thread; never call it from a continuation on cpprestsdk's pool.
  virtual Result<Response> Send(const Request& request) = 0;
  // Sends the request and returns once headers arrived; the body is read line by line. (Test
  // clients that never stream may leave it: kInternal.)
  virtual Result<std::unique_ptr<LineStream>> Stream(const Request& request);
};

struct ClientOptions {
  std::string default_endpoint;  // scheme://host[:port] for requests without one
  // Trust: PEM CA certificates; "" uses the system trust store. insecure skips verification.
  std::string ca_pem;
  bool insecure_skip_tls_verify = false;
  // Client certificate (PEM chain and key), for mutual TLS; "" for none.
  std::string client_cert_pem;
  std::string client_key_pem;
  std::string user_agent = "certwright";
  std::chrono::milliseconds timeout{std::chrono::seconds(10)};  // per request (Send)
  // Streams: the timeout applies per read, so it must exceed a watch's timeoutSeconds.
  std::chrono::milliseconds stream_timeout{std::chrono::hours(1)};
};

// Keeps one connection pool per endpoint (keep-alive). Thread-safe. kInvalidArgument for an
// unusable default endpoint.
Result<std::shared_ptr<Client>> MakeClient(ClientOptions options);

}  // namespace certwright::http
