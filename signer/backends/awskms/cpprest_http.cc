// HttpTransport over cpprestsdk. Exceptions from cpprestsdk and Boost.Asio are caught here and
// become Errors (STYLE.md §7).
//
// The cpprestsdk thread pool is left at its default size: operator/kube sizes it once with
// initialize_with_threads, which throws if the pool was already used, so the signer must not be
// the one to size it.
#include <cpprest/http_client.h>

#include <algorithm>
#include <mutex>

#include "awskms/http.h"

namespace certwright::signer::awskms {

namespace {

std::string Lower(std::string s) {
  std::transform(s.begin(), s.end(), s.begin(), [](unsigned char c) { return std::tolower(c); });
  return s;
}

class CppRestTransport final : public HttpTransport {
 public:
  explicit CppRestTransport(HttpTransportOptions options) : options_(options) {}

  Result<HttpResponse> Send(const HttpRequest& request) override {
    try {
      web::http::client::http_client& client = ClientFor(request.endpoint);
      web::http::http_request req(request.method);
      req.set_request_uri(request.path);
      std::string content_type = "application/octet-stream";
      for (const auto& [k, v] : request.headers) {
        if (Lower(k) == "content-type") {
          content_type = v;
        } else {
          req.headers().add(k, v);
        }
      }
      req.set_body(request.body, content_type);
      web::http::http_response response = client.request(req).get();
      HttpResponse out;
      out.status = response.status_code();
      for (const auto& [k, v] : response.headers()) out.headers[Lower(k)] = v;
      auto body = response.extract_vector().get();
      out.body.assign(body.begin(), body.end());
      return out;
    } catch (const std::exception& e) {
      return Unavailable("no answer from " + request.endpoint + ": " + e.what());
    }
  }

 private:
  // One client per endpoint: cpprestsdk keeps its connections alive and pools them per client.
  web::http::client::http_client& ClientFor(const std::string& endpoint) {
    std::lock_guard<std::mutex> lock(mutex_);
    auto it = clients_.find(endpoint);
    if (it != clients_.end()) return *it->second;
    web::http::client::http_client_config config;
    config.set_timeout(std::chrono::duration_cast<std::chrono::microseconds>(options_.timeout));
    config.set_validate_certificates(true);
    auto client = std::make_unique<web::http::client::http_client>(endpoint, config);
    return *clients_.emplace(endpoint, std::move(client)).first->second;
  }

  HttpTransportOptions options_;
  std::mutex mutex_;
  std::map<std::string, std::unique_ptr<web::http::client::http_client>> clients_;
};

}  // namespace

std::shared_ptr<HttpTransport> MakeCppRestTransport(HttpTransportOptions options) {
  return std::make_shared<CppRestTransport>(options);
}

}  // namespace certwright::signer::awskms
