// Our own small HTTP interface, so the HTTP library (cpprestsdk, in maintenance upstream) can be
// replaced without touching the client (TESTBED.md). One transport per API server; thread-safe.
#pragma once

#include <chrono>
#include <map>
#include <memory>
#include <optional>
#include <string>

#include "certwright/kube/config.h"
#include "certwright/signer/result.h"

namespace certwright::kube {

struct HttpRequest {
  std::string method;   // GET, POST, PUT, PATCH, DELETE
  std::string target;   // path and query: /api/v1/namespaces/x/configmaps?limit=500
  std::map<std::string, std::string> headers;
  std::string body;
  std::chrono::seconds timeout{0};  // 0: the transport's default
};

struct HttpResponse {
  int status = 0;
  std::map<std::string, std::string> headers;  // lower-case names
  std::string body;
};

// A streamed response (watch): lines as they arrive.
class HttpStream {
 public:
  virtual ~HttpStream() = default;
  virtual int status() const = 0;
  // The next line without its newline; nullopt at the end of the stream. Errors on timeouts and
  // broken connections.
  virtual Result<std::optional<std::string>> ReadLine() = 0;
  // Unblocks a ReadLine in progress from another thread; it then returns end of stream.
  virtual void Cancel() = 0;
};

class HttpTransport {
 public:
  virtual ~HttpTransport() = default;
  // Connection errors are kUnavailable; any HTTP status is a successful HttpResponse.
  virtual Result<HttpResponse> Send(const HttpRequest& request) = 0;
  // Sends the request and returns once headers arrived; the body is read line by line.
  virtual Result<std::unique_ptr<HttpStream>> Stream(const HttpRequest& request) = 0;
};

// cpprestsdk-backed HTTPS transport: server CA, client certificate, bearer token (re-read from
// token_file when it changes), keep-alive connection reuse.
Result<std::shared_ptr<HttpTransport>> MakeHttpTransport(const ClientConfig& config);

}  // namespace certwright::kube
