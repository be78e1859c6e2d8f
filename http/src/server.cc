// Server over Boost.Beast (Debian's Boost 1.74, the Asio cpprestsdk also uses). One strand per
// connection on the server's own io_context threads; every read and handshake has a deadline
// (beast::tcp_stream expiry), the parser bounds header and body sizes, and no exception leaves
// a handler (STYLE.md §7).
#include "certwright/http/server.h"

#include <spdlog/spdlog.h>

#include <atomic>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/ssl.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/strand.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/http.hpp>
#include <boost/beast/ssl.hpp>
#include <charconv>
#include <thread>

#include "tls_identity.h"

namespace certwright::http {

namespace net = boost::asio;
namespace beast = boost::beast;
namespace bhttp = boost::beast::http;
using tcp = boost::asio::ip::tcp;

// ---- Router ----

void Router::Handle(std::string method, std::string path, Handler handler) {
  routes_.push_back({std::move(method), std::move(path), std::move(handler)});
}

Response Router::Dispatch(const Request& request) const {
  const std::string_view path = request.Path();
  bool path_known = false;
  for (const Route& route : routes_) {
    if (route.path != path) continue;
    path_known = true;
    if (route.method == request.method) return route.handler(request);
  }
  if (path_known) return Response::Text(405, "method " + request.method + " is not allowed on " + std::string(path) + "\n");
  return Response::Text(404, "not found\n");
}

// ---- Server ----

namespace {

Result<tcp::endpoint> ParseAddress(const std::string& address) {
  const size_t colon = address.rfind(':');
  if (colon == std::string::npos) return InvalidArgument("listen address \"" + address + "\" is not host:port");
  std::string host = address.substr(0, colon);
  const std::string port_text = address.substr(colon + 1);
  int port = -1;
  auto [end, ec] = std::from_chars(port_text.data(), port_text.data() + port_text.size(), port);
  if (ec != std::errc() || end != port_text.data() + port_text.size() || port < 0 || port > 65535) {
    return InvalidArgument("listen address \"" + address + "\": the port is not a number from 0 to 65535");
  }
  if (host.size() >= 2 && host.front() == '[' && host.back() == ']') host = host.substr(1, host.size() - 2);
  if (host.empty()) host = "0.0.0.0";
  boost::system::error_code error;
  const auto ip = net::ip::make_address(host, error);
  if (error) return InvalidArgument("listen address \"" + address + "\": \"" + host + "\" is not an IP address");
  return tcp::endpoint(ip, static_cast<unsigned short>(port));
}

}  // namespace

struct Server::Impl {
  // Declared first, destroyed last: sessions (destroyed with the io_context) use them.
  ServerOptions options;
  Router router;
  std::unique_ptr<net::ssl::context> ssl;
  std::atomic<size_t> connections{0};
  std::atomic<size_t> buffered_body_bytes{0};  // declared by the requests being read
  net::io_context io;
  tcp::acceptor acceptor{io};
  net::steady_timer accept_backoff{io};
  std::vector<std::thread> threads;
  int port = 0;

  void Accept();
};

namespace {

// Shared by plain and TLS connections: the request/response loop over a stream.
template <class Derived>
class Session {
 public:
  // The read buffer holds only what the parser has not consumed: a request's headers, a chunk's
  // framing, trailers. Its ceiling makes an endless chunk extension or trailer a read error.
  explicit Session(Server::Impl& server)
      : server_(server), buffer_(server.options.max_header_bytes + 64 * 1024) {}
  ~Session() {
    ReleaseBody();
    server_.connections.fetch_sub(1);
  }

 protected:
  Derived& self() { return static_cast<Derived&>(*this); }

  void ReadRequest() {
    parser_.emplace();
    parser_->header_limit(static_cast<std::uint32_t>(server_.options.max_header_bytes));
    parser_->body_limit(server_.options.max_body_bytes);
    // Waiting for the next request, and its headers, is bounded by the idle timeout (shorter for
    // a connection's first request).
    beast::get_lowest_layer(self().stream())
        .expires_after(served_ == 0 ? std::min(server_.options.first_request_timeout, server_.options.idle_timeout)
                                    : server_.options.idle_timeout);
    bhttp::async_read_header(self().stream(), buffer_, *parser_,
                             [s = self().shared_from_this()](beast::error_code ec, size_t) { s->OnHeader(ec); });
  }

  void OnHeader(beast::error_code ec) {
    if (ec) return OnReadError(ec);
    // What the body will hold, against what all connections may hold at once.
    const auto declared = parser_->content_length();
    if (declared && *declared > server_.options.max_body_bytes) {
      return WriteError(413, "request body larger than " + std::to_string(server_.options.max_body_bytes) + " bytes\n");
    }
    const size_t want = declared ? static_cast<size_t>(*declared)
                                 : (parser_->chunked() ? server_.options.max_body_bytes : 0);
    if (want > 0) {
      if (server_.buffered_body_bytes.fetch_add(want) + want > server_.options.max_buffered_body_bytes) {
        server_.buffered_body_bytes.fetch_sub(want);
        return WriteError(503, "too many request bodies in flight; try again\n");
      }
      reserved_ = want;
    }
    beast::get_lowest_layer(self().stream()).expires_after(server_.options.request_timeout);
    bhttp::async_read(self().stream(), buffer_, *parser_,
                      [s = self().shared_from_this()](beast::error_code ec, size_t) { s->OnBody(ec); });
  }

  void ReleaseBody() {
    if (reserved_ > 0) server_.buffered_body_bytes.fetch_sub(reserved_);
    reserved_ = 0;
  }

  void OnReadError(beast::error_code ec) {
    ReleaseBody();
    if (ec == bhttp::error::end_of_stream || ec == net::error::eof || ec == beast::error::timeout ||
        ec == net::error::operation_aborted || ec == net::ssl::error::stream_truncated) {
      return self().Close();  // the client went away, or took too long: nothing to answer
    }
    if (ec == bhttp::error::body_limit) {
      return WriteError(413, "request body larger than " + std::to_string(server_.options.max_body_bytes) + " bytes\n");
    }
    if (ec == bhttp::error::header_limit || ec == bhttp::error::buffer_overflow) {
      return WriteError(431, "request headers larger than " + std::to_string(server_.options.max_header_bytes) +
                                 " bytes\n");
    }
    if (ec.category() == bhttp::make_error_code(bhttp::error::bad_target).category()) {
      return WriteError(400, "malformed HTTP request: " + ec.message() + "\n");
    }
    self().Close();  // a broken connection
  }

  // Answers and closes: the rest of the request is not read.
  void WriteError(int status, std::string body) {
    Request request;
    Response response = Response::Text(status, std::move(body));
    Write(std::move(request), std::move(response), /*keep_alive=*/false, std::chrono::steady_clock::now());
  }

  void OnBody(beast::error_code ec) {
    if (ec) return OnReadError(ec);
    ++served_;
    const auto started = std::chrono::steady_clock::now();
    auto& message = parser_->get();
    Request request;
    request.method = std::string(message.method_string());
    request.target = std::string(message.target());
    for (const auto& field : message) request.headers.emplace_back(field.name_string(), field.value());
    request.body = std::move(message.body());
    request.peer = peer_;
    Response response;
    try {
      response = server_.router.Dispatch(request);
    } catch (const std::exception& e) {
      spdlog::error("HTTP handler for {} {} failed: {}", request.method, request.Path(), e.what());
      response = Response::Text(500, "internal error\n");
    } catch (...) {
      spdlog::error("HTTP handler for {} {} failed", request.method, request.Path());
      response = Response::Text(500, "internal error\n");
    }
    ReleaseBody();  // the handler is done with it (the request is moved into the write's state)
    Write(std::move(request), std::move(response), message.keep_alive(), started);
  }

  void Write(Request request, Response response, bool keep_alive, std::chrono::steady_clock::time_point started) {
    auto out = std::make_shared<bhttp::response<bhttp::string_body>>();
    out->version(11);
    out->result(static_cast<unsigned>(response.status));
    for (const auto& [k, v] : response.headers) out->set(k, v);
    out->keep_alive(keep_alive);
    out->body() = std::move(response.body);
    out->prepare_payload();
    response.body.clear();
    beast::get_lowest_layer(self().stream()).expires_after(server_.options.request_timeout);
    auto done = std::make_shared<std::pair<Request, Response>>(std::move(request), std::move(response));
    bhttp::async_write(self().stream(), *out,
                       [s = self().shared_from_this(), out, done, keep_alive, started](beast::error_code ec, size_t) {
                         if (s->server_.options.on_response && !done->first.method.empty()) {
                           s->server_.options.on_response(done->first, done->second,
                                                          std::chrono::steady_clock::now() - started);
                         }
                         if (ec || !keep_alive) return s->Close();
                         s->ReadRequest();
                       });
  }

  Server::Impl& server_;
  beast::flat_buffer buffer_;
  std::optional<bhttp::request_parser<bhttp::string_body>> parser_;
  std::string peer_;
  size_t reserved_ = 0;  // of buffered_body_bytes, while this request's body is read and handled
  size_t served_ = 0;    // requests answered on this connection
};

class PlainSession final : public Session<PlainSession>, public std::enable_shared_from_this<PlainSession> {
 public:
  PlainSession(Server::Impl& server, tcp::socket socket) : Session(server), stream_(std::move(socket)) {}
  void Run(std::string peer) {
    peer_ = std::move(peer);
    net::dispatch(stream_.get_executor(), [s = shared_from_this()] { s->ReadRequest(); });
  }
  beast::tcp_stream& stream() { return stream_; }
  void Close() {
    beast::error_code ignored;
    stream_.socket().shutdown(tcp::socket::shutdown_send, ignored);
    stream_.close();
  }

 private:
  beast::tcp_stream stream_;
};

class TlsSession final : public Session<TlsSession>, public std::enable_shared_from_this<TlsSession> {
 public:
  TlsSession(Server::Impl& server, tcp::socket socket, net::ssl::context& ctx)
      : Session(server), stream_(std::move(socket), ctx) {}
  void Run(std::string peer) {
    peer_ = std::move(peer);
    net::dispatch(stream_.get_executor(), [s = shared_from_this()] {
      beast::get_lowest_layer(s->stream_)
          .expires_after(std::min(s->server_.options.handshake_timeout, s->server_.options.first_request_timeout));
      s->stream_.async_handshake(net::ssl::stream_base::server, [s](beast::error_code ec) {
        if (ec) return s->CloseSocket();  // not TLS, no certificate yet, or too slow
        s->ReadRequest();
      });
    });
  }
  beast::ssl_stream<beast::tcp_stream>& stream() { return stream_; }
  void Close() {
    if (closing_) return;
    closing_ = true;
    beast::get_lowest_layer(stream_).expires_after(std::chrono::seconds(2));
    stream_.async_shutdown([s = shared_from_this()](beast::error_code) { s->CloseSocket(); });
  }
  void CloseSocket() { beast::get_lowest_layer(stream_).close(); }

 private:
  beast::ssl_stream<beast::tcp_stream> stream_;
  bool closing_ = false;
};

}  // namespace

void Server::Impl::Accept() {
  acceptor.async_accept(net::make_strand(io), [this](beast::error_code ec, tcp::socket socket) {
    if (ec == net::error::operation_aborted || !acceptor.is_open()) return;
    if (ec) {
      // Out of descriptors (EMFILE) or memory: accepting again at once would spin a core. Wait a
      // little; connections queue in the backlog meanwhile.
      spdlog::warn("HTTP server on port {}: accept failed: {}", port, ec.message());
      accept_backoff.expires_after(std::chrono::milliseconds(100));
      accept_backoff.async_wait([this](beast::error_code wait_ec) {
        if (!wait_ec && acceptor.is_open()) Accept();
      });
      return;
    }
    {
      if (connections.fetch_add(1) >= options.max_connections) {
        connections.fetch_sub(1);
        beast::error_code ignored;
        socket.close(ignored);
      } else {
        std::string peer;
        beast::error_code peer_error;
        const auto remote = socket.remote_endpoint(peer_error);
        if (!peer_error) peer = remote.address().to_string() + ":" + std::to_string(remote.port());
        if (ssl) {
          std::make_shared<TlsSession>(*this, std::move(socket), *ssl)->Run(std::move(peer));
        } else {
          std::make_shared<PlainSession>(*this, std::move(socket))->Run(std::move(peer));
        }
      }
    }
    Accept();
  });
}

Result<std::unique_ptr<Server>> Server::Start(ServerOptions options, Router router) {
  CW_ASSIGN_OR_RETURN(tcp::endpoint endpoint, ParseAddress(options.address));
  auto impl = std::make_unique<Impl>();
  impl->options = std::move(options);
  impl->router = std::move(router);
  if (impl->options.threads < 1) impl->options.threads = 1;
  try {
    if (impl->options.tls) {
      impl->ssl = std::make_unique<net::ssl::context>(net::ssl::context::tls_server);
      impl->ssl->set_options(net::ssl::context::default_workarounds | net::ssl::context::no_sslv2 |
                             net::ssl::context::no_sslv3 | net::ssl::context::no_tlsv1 |
                             net::ssl::context::no_tlsv1_1 | net::ssl::context::single_dh_use);
      // The identity is chosen per handshake, so a renewed certificate is served without a restart.
      SSL_CTX_set_cert_cb(impl->ssl->native_handle(), &SelectIdentity, impl->options.tls.get());
    }
    impl->acceptor.open(endpoint.protocol());
    impl->acceptor.set_option(net::socket_base::reuse_address(true));
    impl->acceptor.bind(endpoint);
    impl->acceptor.listen(net::socket_base::max_listen_connections);
    impl->port = impl->acceptor.local_endpoint().port();
  } catch (const std::exception& e) {
    return Unavailable("cannot listen on " + impl->options.address + ": " + e.what());
  }
  impl->Accept();
  for (int i = 0; i < impl->options.threads; ++i) {
    impl->threads.emplace_back([io = &impl->io] {
      try {
        io->run();
      } catch (const std::exception& e) {
        spdlog::error("HTTP server thread stopped: {}", e.what());
      }
    });
  }
  return std::unique_ptr<Server>(new Server(std::move(impl)));
}

Server::Server(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}

Server::~Server() {
  net::post(impl_->io, [impl = impl_.get()] {
    beast::error_code ignored;
    impl->acceptor.close(ignored);
    impl->accept_backoff.cancel();
  });
  impl_->io.stop();
  for (auto& t : impl_->threads) t.join();
}

int Server::port() const { return impl_->port; }

}  // namespace certwright::http
