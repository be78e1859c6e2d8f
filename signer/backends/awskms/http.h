// Our own small HTTP interface for the KMS and STS clients (STYLE.md §3): cpprestsdk is behind
// it, so it can be replaced, and tests put a fault-injecting transport in its place. The signer
// must not depend on operator/kube, so this is not kube::HttpTransport, though it has its shape.
#pragma once

#include <chrono>
#include <map>
#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "certwright/signer/result.h"

namespace certwright::signer::awskms {

struct HttpRequest {
  std::string endpoint;  // scheme://host[:port]
  std::string method;    // "POST"
  std::string path;      // "/"
  std::vector<std::pair<std::string, std::string>> headers;
  std::string body;
};

struct HttpResponse {
  int status = 0;
  std::map<std::string, std::string> headers;  // lower-case names
  std::string body;
};

class HttpTransport {
 public:
  virtual ~HttpTransport() = default;
  // Any HTTP status is a response; no answer (refused, reset, timed out, TLS failure) is
  // kUnavailable. Messages never contain headers or bodies of the request (they hold secrets).
  virtual Result<HttpResponse> Send(const HttpRequest& request) = 0;
};

struct HttpTransportOptions {
  std::chrono::milliseconds timeout{10000};  // per request
};

// cpprestsdk over HTTPS (system trust store) or HTTP: one http_client per endpoint, reused, so
// connections are kept alive and pooled by cpprestsdk. Thread-safe.
std::shared_ptr<HttpTransport> MakeCppRestTransport(HttpTransportOptions options = {});

}  // namespace certwright::signer::awskms
