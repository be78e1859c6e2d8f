// Client over cpprestsdk (Debian's libcpprest-dev 2.10.18). Exceptions from cpprestsdk and
// Boost.Asio are caught here and become Errors (STYLE.md §7).
#include "certwright/http/client.h"

#include <cpprest/containerstream.h>
#include <cpprest/http_client.h>
#include <pplx/threadpool.h>

#include <atomic>
#include <map>
#include <mutex>

namespace certwright::http {

namespace {

using web::http::client::http_client;
using web::http::client::http_client_config;

// cpprestsdk's pool defaults to 40 threads; it is sized once, before first use (TESTBED.md). All
// of certwright's clients come through here, so no other code may touch the pool first.
void InitThreadPool() {
  static std::once_flag once;
  std::call_once(once, [] {
    try {
      crossplat::threadpool::initialize_with_threads(8);
    } catch (const std::exception&) {
      // Used already (a test linking cpprestsdk directly): the default size works as well.
    }
  });
}

http_client_config MakeConfig(const ClientOptions& options, std::chrono::milliseconds timeout) {
  http_client_config cfg;
  cfg.set_timeout(std::chrono::duration_cast<std::chrono::microseconds>(timeout));
  cfg.set_validate_certificates(!options.insecure_skip_tls_verify);
  const std::string ca = options.ca_pem, cert = options.client_cert_pem, key = options.client_key_pem;
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

web::http::http_request MakeRequest(const Request& request, const std::string& user_agent) {
  web::http::http_request req(request.method);
  req.set_request_uri(request.target);
  bool has_user_agent = false;
  std::string content_type = "application/octet-stream";
  for (const auto& [k, v] : request.headers) {
    const std::string name = LowerAscii(k);
    if (name == "content-type") {
      content_type = v;
      continue;
    }
    if (name == "user-agent") has_user_agent = true;
    req.headers().add(k, v);
  }
  if (!has_user_agent && !user_agent.empty()) req.headers().add("User-Agent", user_agent);
  if (!request.body.empty() || request.method == "POST" || request.method == "PUT" || request.method == "PATCH") {
    req.set_body(request.body, content_type);
  }
  return req;
}

class CppRestStream final : public LineStream {
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
      return Unavailable(std::string("stream broke: ") + e.what());
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

class CppRestClient final : public Client {
 public:
  explicit CppRestClient(ClientOptions options) : options_(std::move(options)) {}

  Result<Response> Send(const Request& request) override {
    const std::string& endpoint = EndpointOf(request);
    try {
      http_client& client = ClientFor(endpoint, request.timeout.count() > 0 ? request.timeout : options_.timeout);
      web::http::http_response response = client.request(MakeRequest(request, options_.user_agent)).get();
      Response out;
      out.status = response.status_code();
      for (const auto& [k, v] : response.headers()) out.headers[LowerAscii(k)] = v;
      auto body = response.extract_vector().get();
      out.body.assign(body.begin(), body.end());
      return out;
    } catch (const std::exception& e) {
      return NoAnswer(endpoint, e);
    }
  }

  Result<std::unique_ptr<LineStream>> Stream(const Request& request) override {
    const std::string& endpoint = EndpointOf(request);
    try {
      http_client& client = ClientFor(endpoint, request.timeout.count() > 0 ? request.timeout : options_.stream_timeout);
      pplx::cancellation_token_source cts;
      web::http::http_response response =
          client.request(MakeRequest(request, options_.user_agent), cts.get_token()).get();
      return std::unique_ptr<LineStream>(std::make_unique<CppRestStream>(std::move(response), std::move(cts)));
    } catch (const std::exception& e) {
      return NoAnswer(endpoint, e);
    }
  }

 private:
  const std::string& EndpointOf(const Request& request) const {
    return request.endpoint.empty() ? options_.default_endpoint : request.endpoint;
  }

  static Error NoAnswer(const std::string& endpoint, const std::exception& e) {
    // Never the request's headers (tokens, signatures) or body.
    return Unavailable("no answer from " + endpoint + ": " + e.what());
  }

  // One http_client per endpoint and timeout: cpprestsdk keeps connections alive and pools them
  // per client.
  http_client& ClientFor(const std::string& endpoint, std::chrono::milliseconds timeout) {
    std::lock_guard<std::mutex> lock(mutex_);
    auto key = std::make_pair(endpoint, timeout.count());
    auto it = clients_.find(key);
    if (it != clients_.end()) return *it->second;
    auto client = std::make_unique<http_client>(endpoint, MakeConfig(options_, timeout));
    return *clients_.emplace(std::move(key), std::move(client)).first->second;
  }

  ClientOptions options_;
  std::mutex mutex_;
  std::map<std::pair<std::string, long long>, std::unique_ptr<http_client>> clients_;
};

}  // namespace

Result<std::shared_ptr<Client>> MakeClient(ClientOptions options) {
  InitThreadPool();
  try {
    auto client = std::make_shared<CppRestClient>(options);
    if (!options.default_endpoint.empty()) {
      // Parse it now, so a bad address is reported where it was configured.
      http_client probe(options.default_endpoint, MakeConfig(options, options.timeout));
    }
    return std::shared_ptr<Client>(std::move(client));
  } catch (const std::exception& e) {
    return InvalidArgument("server address \"" + options.default_endpoint + "\" is not usable: " + e.what());
  }
}

}  // namespace certwright::http
