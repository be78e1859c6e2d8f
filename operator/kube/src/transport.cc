// The API server's HTTP client: certwright's one HTTP layer (http::MakeClient) with what every
// Kubernetes request carries — the server CA and client certificate from the kubeconfig, JSON
// accepted, and the bearer token, re-read from token_file when it changes (service-account token
// rotation).
#include <sys/stat.h>

#include <mutex>

#include "certwright/kube/client.h"
#include "certwright/signer/pem.h"

namespace certwright::kube {

namespace {

class TokenSource {
 public:
  explicit TokenSource(const ClientConfig& config) : static_token_(config.token), file_(config.token_file) {}

  std::string Get() {
    if (file_.empty()) return static_token_;
    std::lock_guard<std::mutex> lock(mutex_);
    struct stat st {};
    if (::stat(file_.c_str(), &st) != 0) return cached_;  // keep the last good token
    const auto mtime = std::chrono::seconds(st.st_mtim.tv_sec) + std::chrono::nanoseconds(st.st_mtim.tv_nsec);
    if (mtime != mtime_ || cached_.empty()) {
      auto token = signer::ReadFileBounded(file_, 64 * 1024);
      if (token.ok()) {
        cached_ = *token;
        while (!cached_.empty() && (cached_.back() == '\n' || cached_.back() == '\r')) cached_.pop_back();
        mtime_ = mtime;
      }
    }
    return cached_;
  }

 private:
  std::string static_token_;
  std::string file_;
  std::mutex mutex_;
  std::string cached_;
  std::chrono::nanoseconds mtime_{0};
};

class ApiServerClient final : public http::Client {
 public:
  ApiServerClient(std::shared_ptr<http::Client> inner, const ClientConfig& config)
      : inner_(std::move(inner)), server_(config.server), tokens_(config) {}

  // http::Client
  Result<http::Response> Send(const http::Request& request) override {
    auto response = inner_->Send(Authenticated(request));
    if (!response) return NoAnswer(std::move(response).error());
    return response;
  }
  Result<std::unique_ptr<http::LineStream>> Stream(const http::Request& request) override {
    auto stream = inner_->Stream(Authenticated(request));
    if (!stream) return NoAnswer(std::move(stream).error());
    return stream;
  }

 private:
  http::Request Authenticated(const http::Request& request) {
    http::Request out = request;
    if (!out.Header("Accept")) out.headers.emplace_back("Accept", "application/json");
    if (!out.body.empty() && !out.Header("Content-Type")) out.headers.emplace_back("Content-Type", "application/json");
    const std::string token = tokens_.Get();
    if (!token.empty()) out.headers.emplace_back("Authorization", "Bearer " + token);
    return out;
  }

  Error NoAnswer(Error e) const {
    if (e.kind() != ErrorKind::kUnavailable) return e;
    return Unavailable("cannot reach the Kubernetes API server " + server_ + " (" + e.message() + ")");
  }

  std::shared_ptr<http::Client> inner_;
  std::string server_;
  TokenSource tokens_;
};

}  // namespace

Result<std::shared_ptr<http::Client>> MakeHttpClient(const ClientConfig& config) {
  http::ClientOptions options;
  options.default_endpoint = config.server;
  options.ca_pem = config.ca_pem;
  options.insecure_skip_tls_verify = config.insecure_skip_tls_verify;
  options.client_cert_pem = config.client_cert_pem;
  options.client_key_pem = config.client_key_pem;
  options.user_agent = config.user_agent;
  options.timeout = config.request_timeout;
  // Watches: the timeout applies per read, so it must exceed the watch's timeoutSeconds.
  options.stream_timeout = std::chrono::hours(1);
  auto inner = http::MakeClient(std::move(options));
  if (!inner) {
    return InvalidArgument("API server address \"" + config.server + "\" is not usable: " + inner.error().message());
  }
  return std::shared_ptr<http::Client>(std::make_shared<ApiServerClient>(std::move(*inner), config));
}

}  // namespace certwright::kube
