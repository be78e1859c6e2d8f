// HttpTransport over cpprestsdk (Debian's libcpprest-dev 2.10.18). Exceptions from cpprestsdk
// and Boost.Asio are caught here and become Errors (STYLE.md §7).
#include <cpprest/filestream.h>
#include <cpprest/http_client.h>
#include <cpprest/containerstream.h>
#include <pplx/threadpool.h>
#include <sys/stat.h>

#include <algorithm>
#include <atomic>
#include <mutex>

#include "certwright/kube/http.h"
#include "certwright/signer/pem.h"

namespace certwright::kube {

namespace {

using web::http::client::http_client;
using web::http::client::http_client_config;

// cpprestsdk's pool defaults to 40 threads; size it once, before first use (TESTBED.md).
void InitThreadPool() {
  static std::once_flag once;
  std::call_once(once, [] {
    try {
      crossplat::threadpool::initialize_with_threads(8);
    } catch (const std::exception&) {
      // Another cpprestsdk user in the process (the awskms backend) started the pool first: it
      // keeps the default size, which works as well.
    }
  });
}

std::string Lower(std::string s) {
  std::transform(s.begin(), s.end(), s.begin(), [](unsigned char c) { return std::tolower(c); });
  return s;
}

// Reads the bearer token, re-reading the file when it changes (service-account token rotation).
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

http_client_config MakeConfig(const ClientConfig& config, std::chrono::seconds timeout) {
  http_client_config cfg;
  cfg.set_timeout(timeout);
  cfg.set_validate_certificates(!config.insecure_skip_tls_verify);
  const std::string ca = config.ca_pem, cert = config.client_cert_pem, key = config.client_key_pem;
  cfg.set_ssl_context_callback([ca, cert, key](boost::asio::ssl::context& ctx) {
    if (!ca.empty()) {
      ctx.add_certificate_authority(boost::asio::buffer(ca.data(), ca.size()));
    } else {
      ctx.set_default_verify_paths();
    }
    if (!cert.empty()) ctx.use_certificate_chain(boost::asio::buffer(cert.data(), cert.size()));
    if (!key.empty()) ctx.use_private_key(boost::asio::buffer(key.data(), key.size()), boost::asio::ssl::context::pem);
  });
  return cfg;
}

web::http::http_request MakeRequest(const HttpRequest& request, TokenSource& tokens, const std::string& user_agent) {
  web::http::http_request req(request.method);
  req.set_request_uri(request.target);
  req.headers().add("User-Agent", user_agent);
  req.headers().add("Accept", "application/json");
  std::string token = tokens.Get();
  if (!token.empty()) req.headers().add("Authorization", "Bearer " + token);
  std::string content_type = "application/json";
  for (const auto& [k, v] : request.headers) {
    if (Lower(k) == "content-type") {
      content_type = v;
    } else {
      req.headers().add(k, v);
    }
  }
  if (!request.body.empty() || request.method == "POST" || request.method == "PUT" || request.method == "PATCH") {
    req.set_body(request.body, content_type);
  }
  return req;
}

Error ConnectionError(const std::string& server, const std::string& what) {
  // The message never contains headers (tokens) or bodies.
  return Unavailable("cannot reach the Kubernetes API server " + server + ": " + what);
}

class CppRestStream final : public HttpStream {
 public:
  CppRestStream(web::http::http_response response, pplx::cancellation_token_source cts)
      : response_(std::move(response)), body_(response_.body()), cts_(std::move(cts)) {}

  ~CppRestStream() override { Cancel(); }

  int status() const override { return response_.status_code(); }

  Result<std::optional<std::string>> ReadLine() override {
    if (cancelled_) return std::optional<std::string>();
    try {
      concurrency::streams::container_buffer<std::string> line;
      size_t n = body_.read_line(line).get();
      if (cancelled_) return std::optional<std::string>();
      if (n == 0 && body_.is_eof()) return std::optional<std::string>();
      return std::optional<std::string>(std::move(line.collection()));
    } catch (const std::exception& e) {
      if (cancelled_) return std::optional<std::string>();
      return Unavailable(std::string("watch stream broke: ") + e.what());
    }
  }

  void Cancel() override {
    if (cancelled_.exchange(true)) return;
    cts_.cancel();
    try {
      body_.close().wait();
    } catch (const std::exception&) {
      // Closing a stream whose connection already went away: nothing left to release.
    }
  }

 private:
  web::http::http_response response_;
  concurrency::streams::istream body_;
  pplx::cancellation_token_source cts_;
  std::atomic<bool> cancelled_{false};
};

class CppRestTransport final : public HttpTransport {
 public:
  explicit CppRestTransport(const ClientConfig& config)
      : server_(config.server),
        user_agent_(config.user_agent),
        tokens_(config),
        client_(config.server, MakeConfig(config, config.request_timeout)),
        // Watches: the timeout applies per read, so it must exceed the watch's timeoutSeconds.
        stream_client_(config.server, MakeConfig(config, std::chrono::seconds(3600))) {}

  Result<HttpResponse> Send(const HttpRequest& request) override {
    try {
      auto req = MakeRequest(request, tokens_, user_agent_);
      web::http::http_response response = client_.request(req).get();
      HttpResponse out;
      out.status = response.status_code();
      for (const auto& [k, v] : response.headers()) out.headers[Lower(k)] = v;
      out.body = response.extract_utf8string(true).get();
      return out;
    } catch (const std::exception& e) {
      return ConnectionError(server_, e.what());
    }
  }

  Result<std::unique_ptr<HttpStream>> Stream(const HttpRequest& request) override {
    try {
      auto req = MakeRequest(request, tokens_, user_agent_);
      pplx::cancellation_token_source cts;
      web::http::http_response response = stream_client_.request(req, cts.get_token()).get();
      return std::unique_ptr<HttpStream>(std::make_unique<CppRestStream>(std::move(response), std::move(cts)));
    } catch (const std::exception& e) {
      return ConnectionError(server_, e.what());
    }
  }

 private:
  std::string server_;
  std::string user_agent_;
  TokenSource tokens_;
  http_client client_;
  http_client stream_client_;
};

}  // namespace

Result<std::shared_ptr<HttpTransport>> MakeHttpTransport(const ClientConfig& config) {
  InitThreadPool();
  try {
    return std::shared_ptr<HttpTransport>(std::make_shared<CppRestTransport>(config));
  } catch (const std::exception& e) {
    return InvalidArgument("API server address \"" + config.server + "\" is not usable: " + e.what());
  }
}

}  // namespace certwright::kube
