// webhook_bench: AdmissionReviews answered per second, and their server-side p50/p99, over TLS
// with keep-alive at 1, 8 and 64 concurrent clients, against a baseline of the same clients
// hitting /healthz on the same server in the same run (hack/bench/webhook). Targets (issue #11):
// p99 <= 2 ms at 8 clients and >= 5,000 reviews/s on this 2-core machine.
//
//   build-bench/hack/bench/webhook_bench [seconds per point, default 3] [--compare-cpprest]
//
// The server is the webhook's own: http::Server (Boost.Beast, 2 threads) with TLS from
// http::TlsCredentials and webhook::AddAdmissionRoutes (metrics included) — POST /validate to
// webhook::Validate with 100 CertificatePolicies
// in force (hack/bench/bench_policies.h) and a known ClusterIssuer, so each review parses the
// Certificate, validates every field and runs IssuanceService::Decide. The review: a Certificate
// CREATE with three dnsNames that the one selecting policy allows. Server-side latency is
// http::ServerOptions::on_response's: from the request's last byte to the response's. The clients
// are blocking OpenSSL connections, one thread each, on the same 2 cores.
//
// --compare-cpprest runs webhook::Validate (the same work, without the metrics) behind
// cpprestsdk's http_listener (TLS through
// set_ssl_context_callback, the body read in a continuation) and prints its client-side figures
// next to ours: the measurement behind choosing Boost.Beast for the server (docs/performance.md).
#include <arpa/inet.h>
#include <cpprest/http_listener.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <openssl/err.h>
#include <openssl/pem.h>
#include <openssl/ssl.h>
#include <prometheus/registry.h>
#include <sys/socket.h>
#include <unistd.h>

#include <atomic>
#include <cstdio>
#include <cstring>
#include <iostream>
#include <mutex>
#include <thread>

#include "bench_common.h"
#include "bench_policies.h"
#include "certwright/http/server.h"
#include "certwright/issuance/service.h"
#include "certwright/signer/key.h"
#include "certwright/signer/pem.h"
#include "certwright/signer/x509.h"
#include "certwright/webhook/admission.h"
#include "certwright/webhook/routes.h"
#include "file/file_backend.h"

namespace {

using namespace certwright;
using Clock = std::chrono::steady_clock;

std::string KeyPem(EVP_PKEY* key) {
  BIO* bio = BIO_new(BIO_s_mem());
  PEM_write_bio_PrivateKey(bio, key, nullptr, nullptr, 0, nullptr, nullptr);
  char* data = nullptr;
  long len = BIO_get_mem_data(bio, &data);
  std::string out(data, static_cast<size_t>(len));
  BIO_free(bio);
  return out;
}

struct Serving {
  std::string ca_pem, chain_pem, key_pem;
};

Serving MakeServing() {
  auto signing = signer::SigningKeyFromPKey(*signer::GenerateKey(signer::KeySpec::EcdsaP256()), "memory:bench-ca");
  signer::CertificateTemplate ca_tmpl;
  ca_tmpl.subject.Add("CN", "webhook bench CA");
  ca_tmpl.is_ca = true;
  ca_tmpl.duration = std::chrono::hours(24);
  auto root = signer::SelfSign(**signing, ca_tmpl);
  auto ca = signer::CertificateAuthority::Create(*signing, *signer::ParseCertificates(root->pem), {});
  auto leaf_key = signer::GenerateKey(signer::KeySpec::EcdsaP256());
  signer::CertificateTemplate leaf;
  leaf.subject.Add("CN", "127.0.0.1");
  leaf.ip_addresses = {"127.0.0.1"};
  leaf.duration = std::chrono::hours(1);
  auto issued = ca->Issue(leaf, leaf_key->get());
  return {root->pem, issued->pem + root->pem, KeyPem(leaf_key->get())};
}

std::string ReviewBody() {
  kube::Json cert = {
      {"apiVersion", "certwright.dev/v1alpha1"},
      {"kind", "Certificate"},
      {"metadata", {{"name", "web"}, {"namespace", "team-a"}}},
      {"spec",
       {{"secretName", "web-tls"},
        {"commonName", "web.team-a.svc"},
        {"dnsNames", {"web.team-a.svc", "web.team-a.svc.cluster.local", "web.example.com"}},
        {"duration", "2160h"},
        {"privateKey", {{"algorithm", "ECDSA"}, {"size", 256}}},
        {"usages", {"digital signature", "key encipherment", "server auth"}},
        {"issuerRef", {{"name", "corp-ca"}, {"kind", "ClusterIssuer"}}}}}};
  kube::Json review = {
      {"apiVersion", "admission.k8s.io/v1"},
      {"kind", "AdmissionReview"},
      {"request",
       {{"uid", "705ab4f5-6393-11e8-b7cc-42010a800002"},
        {"kind", {{"group", "certwright.dev"}, {"version", "v1alpha1"}, {"kind", "Certificate"}}},
        {"resource", {{"group", "certwright.dev"}, {"version", "v1alpha1"}, {"resource", "certificates"}}},
        {"requestKind", {{"group", "certwright.dev"}, {"version", "v1alpha1"}, {"kind", "Certificate"}}},
        {"name", "web"},
        {"namespace", "team-a"},
        {"operation", "CREATE"},
        {"userInfo", {{"username", "alice"}, {"groups", {"system:authenticated"}}}},
        {"object", cert},
        {"oldObject", nullptr},
        {"dryRun", false}}}};
  return review.dump();
}

kube::Json CorpCa() {
  return {{"apiVersion", "certwright.dev/v1alpha1"},
          {"kind", "ClusterIssuer"},
          {"metadata", {{"name", "corp-ca"}, {"resourceVersion", "1"}}},
          {"spec", {{"ca", {{"secretName", "corp-ca"}}}}},
          {"status", {{"conditions", {{{"type", "Ready"}, {"status", "True"}, {"reason", "KeyLoaded"}}}}}}};
}

// One blocking TLS connection with keep-alive.
class Connection {
 public:
  Connection(SSL_CTX* ctx, int port) {
    fd_ = ::socket(AF_INET, SOCK_STREAM, 0);
    int one = 1;
    setsockopt(fd_, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
    sockaddr_in addr{};
    addr.sin_family = AF_INET;
    addr.sin_port = htons(static_cast<uint16_t>(port));
    addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    if (::connect(fd_, reinterpret_cast<sockaddr*>(&addr), sizeof(addr)) != 0) return;
    ssl_ = SSL_new(ctx);
    SSL_set_fd(ssl_, fd_);
    ok_ = SSL_connect(ssl_) == 1;
  }
  ~Connection() {
    if (ssl_) SSL_free(ssl_);
    ::close(fd_);
  }
  bool ok() const { return ok_; }

  // Sends `request` and reads one response; its status, or 0 on failure.
  int RoundTrip(const std::string& request) {
    if (SSL_write(ssl_, request.data(), static_cast<int>(request.size())) <= 0) return 0;
    std::string in;
    char buf[16384];
    size_t header_end = std::string::npos, need = 0;
    while (true) {
      int n = SSL_read(ssl_, buf, sizeof(buf));
      if (n <= 0) return 0;
      in.append(buf, static_cast<size_t>(n));
      if (header_end == std::string::npos) {
        header_end = in.find("\r\n\r\n");
        if (header_end == std::string::npos) continue;
        const char* cl = strcasestr(in.c_str(), "content-length:");
        need = header_end + 4 + (cl ? std::strtoul(cl + 15, nullptr, 10) : 0);
      }
      if (in.size() >= need) break;
    }
    return std::atoi(in.c_str() + 9);
  }

 private:
  int fd_ = -1;
  SSL* ssl_ = nullptr;
  bool ok_ = false;
};

struct Point {
  double per_second = 0;
  double server_p50_us = 0, server_p99_us = 0;
  double client_p50_us = 0, client_p99_us = 0;
  long failures = 0;
};

// Server-side durations of the current point, by path.
struct ServerSamples {
  std::mutex mutex;
  std::vector<double> us;
  void Add(double v) {
    std::lock_guard lock(mutex);
    us.push_back(v);
  }
  std::vector<double> Take() {
    std::lock_guard lock(mutex);
    return std::exchange(us, {});
  }
};

Point Run(SSL_CTX* ctx, int port, int clients, const std::string& request, double seconds, ServerSamples* server) {
  std::atomic<long> done{0}, failures{0};
  std::vector<std::vector<double>> client_us(static_cast<size_t>(clients));
  std::atomic<bool> go{false}, stop{false};
  std::vector<std::thread> threads;
  for (int c = 0; c < clients; ++c) {
    threads.emplace_back([&, c] {
      Connection conn(ctx, port);
      if (!conn.ok()) {
        ++failures;
        return;
      }
      conn.RoundTrip(request);  // warm the connection
      while (!go) std::this_thread::yield();
      auto& mine = client_us[static_cast<size_t>(c)];
      while (!stop) {
        const auto t0 = Clock::now();
        const int status = conn.RoundTrip(request);
        mine.push_back(std::chrono::duration<double, std::micro>(Clock::now() - t0).count());
        if (status == 200) ++done; else ++failures;
        if (status == 0) break;
      }
    });
  }
  std::this_thread::sleep_for(std::chrono::milliseconds(300));
  if (server) server->Take();
  const auto start = Clock::now();
  go = true;
  std::this_thread::sleep_for(std::chrono::duration<double>(seconds));
  stop = true;
  const double elapsed = std::chrono::duration<double>(Clock::now() - start).count();
  for (auto& t : threads) t.join();
  Point p;
  p.per_second = static_cast<double>(done) / elapsed;
  p.failures = failures;
  std::vector<double> all;
  for (auto& v : client_us) all.insert(all.end(), v.begin(), v.end());
  p.client_p50_us = bench::Percentile(all, 50);
  p.client_p99_us = bench::Percentile(all, 99);
  if (server) {
    auto s = server->Take();
    p.server_p50_us = bench::Percentile(s, 50);
    p.server_p99_us = bench::Percentile(s, 99);
  }
  return p;
}

std::string Post(const std::string& path, const std::string& body) {
  return "POST " + path + " HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\nContent-Length: " +
         std::to_string(body.size()) + "\r\n\r\n" + body;
}
std::string Get(const std::string& path) { return "GET " + path + " HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n"; }

// The same handler behind cpprestsdk's listener.
std::unique_ptr<web::http::experimental::listener::http_listener> StartCppRest(
    int port, const Serving& serving, const std::function<webhook::AdmissionOutcome(std::string_view)>& validate) {
  web::http::experimental::listener::http_listener_config config;
  config.set_ssl_context_callback([serving](boost::asio::ssl::context& ctx) {
    ctx.use_certificate_chain(boost::asio::buffer(serving.chain_pem.data(), serving.chain_pem.size()));
    ctx.use_private_key(boost::asio::buffer(serving.key_pem.data(), serving.key_pem.size()),
                        boost::asio::ssl::context::pem);
  });
  auto listener = std::make_unique<web::http::experimental::listener::http_listener>(
      web::uri("https://127.0.0.1:" + std::to_string(port)), config);
  listener->support(web::http::methods::GET, [](web::http::http_request r) { r.reply(200, "ok\n", "text/plain"); });
  listener->support(web::http::methods::POST, [validate](web::http::http_request r) {
    r.extract_string(true).then([r, validate](std::string body) mutable {
      auto out = validate(body);
      r.reply(static_cast<web::http::status_code>(out.http_status), out.body, "application/json");
    });
  });
  listener->open().wait();
  return listener;
}

}  // namespace

int main(int argc, char** argv) {
  const double seconds = argc > 1 && argv[1][0] != '-' ? std::atof(argv[1]) : 3.0;
  bool compare = false;
  for (int i = 1; i < argc; ++i) compare |= std::string(argv[i]) == "--compare-cpprest";

  const Serving serving = MakeServing();
  issuance::IssuanceService service({});
  service.SetPolicies(std::make_shared<const signer::policy::PolicySet>(bench::HundredPolicies()));
  service.SetNamespaceLabels([](const std::string&) { return std::map<std::string, std::string>{}; });
  webhook::AdmissionContext admission;
  admission.issuance = &service;
  const auto corp_ca = std::make_shared<const kube::Json>(CorpCa());
  admission.issuer = [&](const std::string& kind, const std::string&,
                         const std::string& name) -> std::shared_ptr<const kube::Json> {
    return kind == "ClusterIssuer" && name == "corp-ca" ? corp_ca : nullptr;
  };
  const std::string body = ReviewBody();
  {
    auto first = webhook::Validate(body, admission);
    auto reply = kube::Json::parse(first.body, nullptr, false);
    const bool allowed = !reply.is_discarded() && reply["response"].value("allowed", false);
    std::cout << "the review: " << body.size() << " bytes, answered " << (allowed ? "allowed" : "NOT allowed") << " ("
              << first.result << ")\n";
    if (!allowed) {
      std::cout << first.body << "\n";
      return 1;
    }
  }

  auto tls = std::make_shared<http::TlsCredentials>();
  if (auto s = tls->Update(serving.chain_pem, serving.key_pem); !s.ok()) {
    std::cerr << s.error().message() << "\n";
    return 1;
  }
  ServerSamples samples;
  http::Router router;
  // The webhook's own routes, metrics included: what `certwright webhook` serves.
  webhook::AddAdmissionRoutes(router, admission, std::make_shared<prometheus::Registry>());
  router.Handle("GET", "/healthz", [](const http::Request&) { return http::Response::Text(200, "ok\n"); });
  http::ServerOptions options;
  options.address = "127.0.0.1:0";
  options.tls = tls;
  options.threads = 2;
  options.on_response = [&](const http::Request&, const http::Response&, std::chrono::nanoseconds took) {
    samples.Add(std::chrono::duration<double, std::micro>(took).count());
  };
  auto server = http::Server::Start(std::move(options), std::move(router));
  if (!server.ok()) {
    std::cerr << server.error().message() << "\n";
    return 1;
  }
  const int port = (*server)->port();

  SSL_CTX* ctx = SSL_CTX_new(TLS_client_method());
  SSL_CTX_set_verify(ctx, SSL_VERIFY_NONE, nullptr);

  std::printf("\n%-8s %-10s %12s %12s %12s %12s %12s %8s\n", "clients", "path", "req/s", "server p50", "server p99",
              "client p50", "client p99", "failed");
  std::vector<std::pair<int, std::pair<Point, Point>>> rows;
  for (int clients : {1, 8, 64}) {
    Point health = Run(ctx, port, clients, Get("/healthz"), seconds, &samples);
    Point review = Run(ctx, port, clients, Post("/validate", body), seconds, &samples);
    for (auto [name, p] : {std::pair<const char*, Point&>{"/healthz", health}, {"/validate", review}}) {
      std::printf("%-8d %-10s %12.0f %10.0fus %10.0fus %10.0fus %10.0fus %8ld\n", clients, name, p.per_second,
                  p.server_p50_us, p.server_p99_us, p.client_p50_us, p.client_p99_us, p.failures);
    }
    rows.push_back({clients, {health, review}});
  }
  std::printf("\nreviews/s as a ratio to /healthz requests/s (same server, same clients, same run):\n");
  for (auto& [clients, pr] : rows) {
    std::printf("  %2d clients: %.2f (%.0f reviews/s vs %.0f /healthz/s)\n", clients,
                pr.second.per_second / pr.first.per_second, pr.second.per_second, pr.first.per_second);
  }
  server->reset();

  if (compare) {
    const int cport = port;  // free again now
    auto listener = StartCppRest(cport, serving, [&](std::string_view b) { return webhook::Validate(b, admission); });
    std::printf("\ncpprestsdk http_listener, same handler (client-side only):\n");
    std::printf("%-8s %-10s %12s %12s %12s %8s\n", "clients", "path", "req/s", "client p50", "client p99", "failed");
    for (int clients : {1, 8, 64}) {
      Point health = Run(ctx, cport, clients, Get("/healthz"), seconds, nullptr);
      Point review = Run(ctx, cport, clients, Post("/validate", body), seconds, nullptr);
      for (auto [name, p] : {std::pair<const char*, Point&>{"/healthz", health}, {"/validate", review}}) {
        std::printf("%-8d %-10s %12.0f %10.0fus %10.0fus %8ld\n", clients, name, p.per_second, p.client_p50_us,
                    p.client_p99_us, p.failures);
      }
    }
    listener->close().wait();
  }
  SSL_CTX_free(ctx);
  return 0;
}
