// The API server's HTTP client: certwright's one HTTP layer (http::MakeClient) configured with what
// every Kubernetes request carries (ClientOptions::default_headers, so no request is copied to add
// them) — the server CA and client certificate from the kubeconfig, JSON
// accepted, and the bearer token, re-read from token_file when it changes (service-account token
// rotation).
#include <openssl/crypto.h>
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
  options.server_name = "the Kubernetes API server";
  auto tokens = std::make_shared<TokenSource>(config);
  options.default_headers = [tokens] {
    http::HeaderList headers = {{"Accept", "application/json"}, {"Content-Type", "application/json"}};
    std::string token = tokens->Get();
    if (!token.empty()) headers.emplace_back("Authorization", "Bearer " + token);
    OPENSSL_cleanse(token.data(), token.size());
    return headers;
  };
  auto client = http::MakeClient(std::move(options));
  if (!client) {
    return InvalidArgument("API server address \"" + config.server + "\" is not usable: " + client.error().message());
  }
  return client;
}

}  // namespace certwright::kube
