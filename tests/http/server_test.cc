// tests/http: the one HTTP layer — the server's routes and bounds, TLS with the identity swapped
// under load, and the client against it.
#include "certwright/http/server.h"

#include <arpa/inet.h>
#include <gtest/gtest.h>
#include <netinet/in.h>
#include <openssl/pem.h>
#include <openssl/ssl.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <atomic>
#include <thread>

#include "certwright/http/client.h"
#include "support/test_ca.h"

namespace certwright::http {
namespace {

using namespace std::chrono_literals;

// A raw TCP connection to 127.0.0.1:port: what a broken or hostile client sends.
class RawConnection {
 public:
  explicit RawConnection(int port) {
    fd_ = ::socket(AF_INET, SOCK_STREAM, 0);
    sockaddr_in addr{};
    addr.sin_family = AF_INET;
    addr.sin_port = htons(static_cast<uint16_t>(port));
    addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    connected_ = ::connect(fd_, reinterpret_cast<sockaddr*>(&addr), sizeof(addr)) == 0;
  }
  ~RawConnection() { ::close(fd_); }
  bool connected() const { return connected_; }
  void Send(const std::string& data) {
    size_t off = 0;
    while (off < data.size()) {
      ssize_t n = ::send(fd_, data.data() + off, data.size() - off, MSG_NOSIGNAL);
      if (n <= 0) return;
      off += static_cast<size_t>(n);
    }
  }
  // Everything until the peer closes or `limit` passes.
  std::string ReadUntilClosed(std::chrono::milliseconds limit) {
    std::string out;
    const auto deadline = std::chrono::steady_clock::now() + limit;
    while (std::chrono::steady_clock::now() < deadline) {
      pollfd p{fd_, POLLIN, 0};
      if (::poll(&p, 1, 50) <= 0) continue;
      char buf[4096];
      ssize_t n = ::recv(fd_, buf, sizeof(buf), 0);
      if (n <= 0) {
        closed_ = true;
        break;
      }
      out.append(buf, static_cast<size_t>(n));
    }
    return out;
  }
  // One response's worth: until `needle` has arrived.
  std::string ReadUntil(const std::string& needle, std::chrono::milliseconds limit) {
    std::string out;
    const auto deadline = std::chrono::steady_clock::now() + limit;
    while (out.find(needle) == std::string::npos && std::chrono::steady_clock::now() < deadline) {
      pollfd p{fd_, POLLIN, 0};
      if (::poll(&p, 1, 50) <= 0) continue;
      char buf[4096];
      ssize_t n = ::recv(fd_, buf, sizeof(buf), 0);
      if (n <= 0) break;
      out.append(buf, static_cast<size_t>(n));
    }
    return out;
  }
  bool closed() const { return closed_; }

 private:
  int fd_ = -1;
  bool connected_ = false;
  bool closed_ = false;
};

Router EchoRouter() {
  Router router;
  router.Handle("GET", "/hello", [](const Request& r) {
    return Response::Text(200, "hello " + std::string(r.Header("X-Name").value_or("nobody")) + "\n");
  });
  router.Handle("POST", "/echo", [](const Request& r) { return Response::Text(200, r.body, "application/json"); });
  router.Handle("GET", "/throws", [](const Request&) -> Response { throw std::runtime_error("boom"); });
  return router;
}

std::unique_ptr<Server> StartServer(ServerOptions options, Router router = EchoRouter()) {
  options.address = "127.0.0.1:0";
  auto server = Server::Start(std::move(options), std::move(router));
  EXPECT_TRUE(server.ok()) << (server.ok() ? "" : server.error().message());
  return server.ok() ? std::move(*server) : nullptr;
}

TEST(Router, DispatchesByPathThenMethod) {
  Router router = EchoRouter();
  Request get;
  get.method = "GET";
  get.target = "/hello?x=1";
  EXPECT_EQ(router.Dispatch(get).status, 200) << "the query is not part of the path";
  get.target = "/nowhere";
  EXPECT_EQ(router.Dispatch(get).status, 404);
  Request del;
  del.method = "DELETE";
  del.target = "/hello";
  Response r = router.Dispatch(del);
  EXPECT_EQ(r.status, 405);
  EXPECT_EQ(r.body, "method DELETE is not allowed on /hello\n");
}

TEST(Server, RefusesAnAddressThatIsNotHostPort) {
  ServerOptions options;
  options.address = "localhost";
  auto server = Server::Start(options, Router());
  ASSERT_FALSE(server.ok());
  EXPECT_EQ(server.error().message(), "listen address \"localhost\" is not host:port");
  options.address = "127.0.0.1:99999";
  server = Server::Start(options, Router());
  ASSERT_FALSE(server.ok());
  EXPECT_EQ(server.error().message(), "listen address \"127.0.0.1:99999\": the port is not a number from 0 to 65535");
}

TEST(Server, ServesRoutesOverKeptAliveConnections) {
  auto server = StartServer({});
  ASSERT_TRUE(server);
  RawConnection c(server->port());
  ASSERT_TRUE(c.connected());
  c.Send("GET /hello HTTP/1.1\r\nHost: x\r\nX-Name: ada\r\n\r\n");
  std::string first = c.ReadUntil("hello ada\n", 2s);
  EXPECT_NE(first.find("HTTP/1.1 200 OK"), std::string::npos) << first;
  c.Send("POST /echo HTTP/1.1\r\nHost: x\r\nContent-Length: 7\r\n\r\n{\"a\":1}");
  std::string second = c.ReadUntil("{\"a\":1}", 2s);
  EXPECT_NE(second.find("HTTP/1.1 200 OK"), std::string::npos) << "the same connection serves a second request";
  EXPECT_NE(second.find("content-type: application/json"), std::string::npos) << second;
  c.Send("GET /nowhere HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n");
  std::string third = c.ReadUntilClosed(2s);
  EXPECT_NE(third.find("HTTP/1.1 404"), std::string::npos) << third;
  EXPECT_TRUE(c.closed()) << "Connection: close is honoured";
}

TEST(Server, AnExceptionInAHandlerIsA500AndTheServerGoesOn) {
  auto server = StartServer({});
  ASSERT_TRUE(server);
  {
    RawConnection c(server->port());
    c.Send("GET /throws HTTP/1.1\r\nHost: x\r\n\r\n");
    EXPECT_NE(c.ReadUntil("internal error", 2s).find("HTTP/1.1 500"), std::string::npos);
  }
  RawConnection again(server->port());
  again.Send("GET /hello HTTP/1.1\r\nHost: x\r\n\r\n");
  EXPECT_NE(again.ReadUntil("hello nobody", 2s).find("200 OK"), std::string::npos);
}

// What a client can make the server hold is bounded: one row per bound, with the answer.
TEST(Server, BoundsWhatAClientCanSend) {
  ServerOptions options;
  options.max_body_bytes = 1024;
  options.max_header_bytes = 2048;
  auto server = StartServer(options);
  ASSERT_TRUE(server);
  struct Row {
    std::string name;
    std::string request;
    std::string expected_status;
  } rows[] = {
      {"declared body over the limit, not sent", "POST /echo HTTP/1.1\r\nHost: x\r\nContent-Length: 10485760\r\n\r\n",
       "HTTP/1.1 413"},
      {"chunked body over the limit",
       "POST /echo HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n800\r\n" + std::string(2048, 'a') +
           "\r\n0\r\n\r\n",
       "HTTP/1.1 413"},
      {"headers over the limit", "GET /hello HTTP/1.1\r\nHost: x\r\nX-Big: " + std::string(4096, 'b') + "\r\n\r\n",
       "HTTP/1.1 431"},
      {"not HTTP at all", "HELLO THERE\r\n\r\n", "HTTP/1.1 400"},
      {"bad Content-Length", "POST /echo HTTP/1.1\r\nHost: x\r\nContent-Length: -5\r\n\r\n", "HTTP/1.1 400"},
  };
  for (const Row& row : rows) {
    RawConnection c(server->port());
    ASSERT_TRUE(c.connected());
    c.Send(row.request);
    std::string reply = c.ReadUntilClosed(3s);
    EXPECT_EQ(reply.substr(0, row.expected_status.size()), row.expected_status) << row.name << ": " << reply;
    EXPECT_TRUE(c.closed()) << row.name << ": the connection is closed after the error";
  }
}

TEST(Server, BoundsWhatAChunkedBodysFramingCanBuffer) {
  ServerOptions options;
  options.max_header_bytes = 2048;
  auto server = StartServer(options);
  ASSERT_TRUE(server);
  for (const std::string& flood : {std::string("1;a=") + std::string(1 << 20, 'x'),                    // chunk extension
                                   std::string("0\r\nX-Trailer: ") + std::string(1 << 20, 'y')}) {  // trailer
    RawConnection c(server->port());
    c.Send("POST /echo HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n" + flood);
    const std::string reply = c.ReadUntilClosed(3s);
    EXPECT_TRUE(reply.empty() || reply.rfind("HTTP/1.1 4", 0) == 0) << reply.substr(0, 200);
    EXPECT_TRUE(c.closed()) << "a megabyte of framing without a line end ends the connection";
  }
}

TEST(Server, RefusesBodiesBeyondWhatAllConnectionsMayHold) {
  ServerOptions options;
  options.max_body_bytes = 1000;
  options.max_buffered_body_bytes = 1500;
  auto server = StartServer(options);
  ASSERT_TRUE(server);
  RawConnection holding(server->port());
  holding.Send("POST /echo HTTP/1.1\r\nHost: x\r\nContent-Length: 1000\r\n\r\nabc");  // and the rest never
  std::this_thread::sleep_for(200ms);
  RawConnection second(server->port());
  second.Send("POST /echo HTTP/1.1\r\nHost: x\r\nContent-Length: 1000\r\n\r\n" + std::string(1000, 'b'));
  const std::string reply = second.ReadUntilClosed(3s);
  EXPECT_EQ(reply.rfind("HTTP/1.1 503", 0), 0u) << reply;
  holding.Send(std::string(997, 'a'));
  EXPECT_NE(holding.ReadUntil(std::string(997, 'a'), 3s).find("HTTP/1.1 200"), std::string::npos);
  RawConnection third(server->port());
  third.Send("POST /echo HTTP/1.1\r\nHost: x\r\nContent-Length: 5\r\n\r\nhello");
  EXPECT_NE(third.ReadUntil("hello", 3s).find("HTTP/1.1 200"), std::string::npos) << "the budget is given back";
}

TEST(Server, DisconnectsClientsThatAreTooSlow) {
  ServerOptions options;
  options.idle_timeout = 300ms;
  options.request_timeout = 300ms;
  auto server = StartServer(options);
  ASSERT_TRUE(server);
  RawConnection silent(server->port());
  silent.ReadUntilClosed(3s);
  EXPECT_TRUE(silent.closed()) << "a connection that sends nothing is closed after the idle timeout";

  ServerOptions patient;
  patient.idle_timeout = 60s;
  patient.first_request_timeout = 300ms;
  auto second = StartServer(patient);
  ASSERT_TRUE(second);
  RawConnection never(second->port());
  const auto opened = std::chrono::steady_clock::now();
  never.ReadUntilClosed(3s);
  EXPECT_TRUE(never.closed()) << "a new connection gets the first-request timeout, not the idle one";
  EXPECT_LT(std::chrono::steady_clock::now() - opened, 2s);

  RawConnection trickle(server->port());
  trickle.Send("POST /echo HTTP/1.1\r\nHost: x\r\nContent-Length: 100\r\n\r\nabc");
  const auto start = std::chrono::steady_clock::now();
  trickle.ReadUntilClosed(3s);
  EXPECT_TRUE(trickle.closed()) << "a body that never completes is cut off after the request timeout";
  EXPECT_LT(std::chrono::steady_clock::now() - start, 2s);
}

TEST(Server, ClosesConnectionsBeyondTheLimit) {
  ServerOptions options;
  options.max_connections = 2;
  auto server = StartServer(options);
  ASSERT_TRUE(server);
  RawConnection a(server->port()), b(server->port());
  a.Send("GET /hello HTTP/1.1\r\nHost: x\r\n\r\n");
  b.Send("GET /hello HTTP/1.1\r\nHost: x\r\n\r\n");
  ASSERT_NE(a.ReadUntil("hello", 2s).find("200 OK"), std::string::npos);
  ASSERT_NE(b.ReadUntil("hello", 2s).find("200 OK"), std::string::npos);
  RawConnection third(server->port());
  third.Send("GET /hello HTTP/1.1\r\nHost: x\r\n\r\n");
  EXPECT_EQ(third.ReadUntilClosed(2s), "") << "the third connection is closed unanswered";
  EXPECT_TRUE(third.closed());
}

TEST(Server, ReportsEachResponseWithItsDuration) {
  std::atomic<int> seen{0};
  std::atomic<int> last_status{0};
  ServerOptions options;
  options.on_response = [&](const Request& request, const Response& response, std::chrono::nanoseconds took) {
    EXPECT_EQ(request.Path(), "/hello");
    EXPECT_GE(took.count(), 0);
    last_status = response.status;
    ++seen;
  };
  auto server = StartServer(options);
  ASSERT_TRUE(server);
  RawConnection c(server->port());
  c.Send("GET /hello HTTP/1.1\r\nHost: x\r\n\r\n");
  c.ReadUntil("hello", 2s);
  for (int i = 0; i < 100 && seen == 0; ++i) std::this_thread::sleep_for(10ms);
  EXPECT_EQ(seen, 1);
  EXPECT_EQ(last_status, 200);
}

// ---- TLS ----

struct ServingPair {
  std::string chain_pem;
  std::string key_pem;
};

ServingPair IssueServing(const testing::TestCa& ca, const std::string& cn) {
  ossl::PKey key = testing::GenerateTestKey(signer::KeySpec::EcdsaP256());
  signer::CertificateTemplate tmpl;
  tmpl.subject.Add("CN", cn);
  tmpl.ip_addresses = {"127.0.0.1"};
  tmpl.usages = signer::Usages{signer::kDigitalSignature, {NID_server_auth}};
  tmpl.duration = std::chrono::hours(1);
  auto issued = ca.ca->Issue(tmpl, key.get());
  EXPECT_TRUE(issued.ok()) << (issued.ok() ? "" : issued.error().message());
  ServingPair pair;
  pair.chain_pem = issued->pem + ca.pem;
  BIO* bio = BIO_new(BIO_s_mem());
  PEM_write_bio_PrivateKey(bio, key.get(), nullptr, nullptr, 0, nullptr, nullptr);
  char* data = nullptr;
  long len = BIO_get_mem_data(bio, &data);
  pair.key_pem.assign(data, static_cast<size_t>(len));
  BIO_free(bio);
  return pair;
}

// The subject CN of the certificate a fresh TLS connection to the server is shown.
std::string PresentedCommonName(int port, const std::string& ca_pem) {
  SSL_CTX* ctx = SSL_CTX_new(TLS_client_method());
  BIO* bio = BIO_new_mem_buf(ca_pem.data(), static_cast<int>(ca_pem.size()));
  X509* root = PEM_read_bio_X509(bio, nullptr, nullptr, nullptr);
  BIO_free(bio);
  X509_STORE_add_cert(SSL_CTX_get_cert_store(ctx), root);
  X509_free(root);
  SSL_CTX_set_verify(ctx, SSL_VERIFY_PEER, nullptr);
  std::string cn;
  SSL* ssl = SSL_new(ctx);
  int fd = -1;
  {
    fd = ::socket(AF_INET, SOCK_STREAM, 0);
    sockaddr_in addr{};
    addr.sin_family = AF_INET;
    addr.sin_port = htons(static_cast<uint16_t>(port));
    addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    if (::connect(fd, reinterpret_cast<sockaddr*>(&addr), sizeof(addr)) != 0) fd = -1;
  }
  if (fd >= 0 && SSL_set_fd(ssl, fd) == 1 && SSL_connect(ssl) == 1) {
    X509* peer = SSL_get1_peer_certificate(ssl);
    if (peer) {
      char buf[256] = {0};
      X509_NAME_get_text_by_NID(X509_get_subject_name(peer), NID_commonName, buf, sizeof(buf));
      cn = buf;
      X509_free(peer);
    }
    SSL_shutdown(ssl);
  }
  SSL_free(ssl);
  if (fd >= 0) ::close(fd);
  SSL_CTX_free(ctx);
  return cn;
}

TEST(TlsCredentials, RefusesPairsThatDoNotBelongTogetherAndKeepsTheOldOne) {
  auto ca = testing::MakeSoftwareCa(signer::KeySpec::EcdsaP256());
  ServingPair a = IssueServing(ca, "a"), b = IssueServing(ca, "b");
  TlsCredentials credentials;
  EXPECT_FALSE(credentials.loaded());
  ASSERT_TRUE(credentials.Update(a.chain_pem, a.key_pem).ok());
  const std::string first = credentials.LeafSha256();
  EXPECT_EQ(first.size(), 64u);
  auto mismatched = credentials.Update(a.chain_pem, b.key_pem);
  ASSERT_FALSE(mismatched.ok());
  EXPECT_EQ(mismatched.error().message(), "the serving key does not match the serving certificate");
  auto empty = credentials.Update("not pem", a.key_pem);
  ASSERT_FALSE(empty.ok());
  EXPECT_EQ(empty.error().message(), "the serving certificate chain holds no PEM certificate");
  auto bad_key = credentials.Update(a.chain_pem, "-----BEGIN PRIVATE KEY-----\nAAAA\n-----END PRIVATE KEY-----\n");
  ASSERT_FALSE(bad_key.ok());
  EXPECT_EQ(bad_key.error().message().rfind("the serving key is not a PEM private key", 0), 0u);
  EXPECT_EQ(credentials.LeafSha256(), first) << "a refused update replaces nothing";
}

TEST(TlsServer, WithoutAnIdentityHandshakesFailAndTheServerStaysUp) {
  ServerOptions options;
  options.tls = std::make_shared<TlsCredentials>();
  auto server = StartServer(options);
  ASSERT_TRUE(server);
  auto ca = testing::MakeSoftwareCa(signer::KeySpec::EcdsaP256());
  EXPECT_EQ(PresentedCommonName(server->port(), ca.pem), "");
  ServingPair a = IssueServing(ca, "late");
  ASSERT_TRUE(options.tls->Update(a.chain_pem, a.key_pem).ok());
  EXPECT_EQ(PresentedCommonName(server->port(), ca.pem), "late") << "the identity loaded later is served";
}

TEST(TlsServer, PlainHttpOnTheTlsPortIsDroppedNotAnswered) {
  auto ca = testing::MakeSoftwareCa(signer::KeySpec::EcdsaP256());
  ServingPair a = IssueServing(ca, "a");
  ServerOptions options;
  options.tls = std::make_shared<TlsCredentials>();
  ASSERT_TRUE(options.tls->Update(a.chain_pem, a.key_pem).ok());
  auto server = StartServer(options);
  ASSERT_TRUE(server);
  RawConnection c(server->port());
  c.Send("GET /hello HTTP/1.1\r\nHost: x\r\n\r\n");
  EXPECT_EQ(c.ReadUntilClosed(3s).find("hello"), std::string::npos);
  EXPECT_TRUE(c.closed());
}

// The serving certificate is replaced while clients keep sending: no request fails, and new
// connections see the new certificate.
TEST(TlsServer, SwapsItsCertificateUnderLoadWithoutDroppingRequests) {
  auto ca = testing::MakeSoftwareCa(signer::KeySpec::EcdsaP256());
  ServerOptions options;
  options.tls = std::make_shared<TlsCredentials>();
  ServingPair first = IssueServing(ca, "serving-0");
  ASSERT_TRUE(options.tls->Update(first.chain_pem, first.key_pem).ok());
  auto server = StartServer(options);
  ASSERT_TRUE(server);
  const std::string endpoint = "https://127.0.0.1:" + std::to_string(server->port());

  std::atomic<bool> stop{false};
  std::atomic<int> ok{0}, failed{0};
  std::vector<std::thread> clients;
  std::mutex errors_mutex;
  std::string first_error;
  for (int t = 0; t < 4; ++t) {
    clients.emplace_back([&, t] {
      // Half the clients reconnect for every request (they see each new certificate), half keep
      // one connection alive across the swaps.
      ClientOptions co;
      co.default_endpoint = endpoint;
      co.ca_pem = ca.pem;
      co.timeout = 5s;
      std::shared_ptr<Client> kept = *MakeClient(co);
      while (!stop) {
        std::shared_ptr<Client> client = t % 2 == 0 ? kept : *MakeClient(co);
        Request r;
        r.method = "POST";
        r.target = "/echo";
        r.body = "{\"n\":" + std::to_string(t) + "}";
        auto reply = client->Send(r);
        if (reply.ok() && reply->status == 200 && reply->body == r.body) {
          ++ok;
        } else {
          ++failed;
          std::lock_guard<std::mutex> lock(errors_mutex);
          if (first_error.empty()) first_error = reply.ok() ? std::to_string(reply->status) : reply.error().message();
        }
      }
    });
  }
  for (int i = 1; i <= 10; ++i) {
    std::this_thread::sleep_for(50ms);
    ServingPair next = IssueServing(ca, "serving-" + std::to_string(i));
    ASSERT_TRUE(options.tls->Update(next.chain_pem, next.key_pem).ok());
    EXPECT_EQ(PresentedCommonName(server->port(), ca.pem), "serving-" + std::to_string(i));
  }
  stop = true;
  for (auto& c : clients) c.join();
  EXPECT_EQ(failed, 0) << first_error;
  EXPECT_GT(ok, 20);
}

TEST(Client, ReportsNoAnswerWithoutTheRequest) {
  ClientOptions co;
  co.default_endpoint = "http://127.0.0.1:1";
  co.timeout = 2s;
  auto client = MakeClient(co);
  ASSERT_TRUE(client.ok());
  Request r;
  r.method = "POST";
  r.target = "/";
  r.headers = {{"Authorization", "Bearer s3cret"}};
  r.body = "password=hunter2";
  auto reply = (*client)->Send(r);
  ASSERT_FALSE(reply.ok());
  EXPECT_EQ(reply.error().kind(), ErrorKind::kUnavailable);
  EXPECT_EQ(reply.error().message().rfind("no answer from http://127.0.0.1:1: ", 0), 0u) << reply.error().message();
  EXPECT_EQ(reply.error().message().find("s3cret"), std::string::npos);
  EXPECT_EQ(reply.error().message().find("hunter2"), std::string::npos);
}

TEST(Client, RefusesAnUnusableDefaultEndpoint) {
  ClientOptions co;
  co.default_endpoint = "ht!tp://bad host";
  auto client = MakeClient(co);
  ASSERT_FALSE(client.ok());
  EXPECT_EQ(client.error().kind(), ErrorKind::kInvalidArgument);
}

}  // namespace
}  // namespace certwright::http
