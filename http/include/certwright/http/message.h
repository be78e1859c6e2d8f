// The HTTP messages of certwright's one HTTP layer (client and server alike). Plain data: the
// library behind it (cpprestsdk for the client, Boost.Beast for the server) never shows through.
#pragma once

#include <chrono>
#include <map>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace certwright::http {

// Header names as written; lookups ignore case (RFC 9110 §5.1).
using HeaderList = std::vector<std::pair<std::string, std::string>>;

struct Request {
  std::string method;    // GET, POST, PUT, PATCH, DELETE
  // Client side: scheme://host[:port] of the server; "" sends to the client's default endpoint.
  std::string endpoint;
  std::string target;    // path and query: /api/v1/namespaces/x/configmaps?limit=500
  HeaderList headers;
  std::string body;
  // Client side: 0 is the client's default timeout.
  std::chrono::milliseconds timeout{0};
  // Server side: the peer's address ("127.0.0.1:51234").
  std::string peer;

  // The first header named `name` (any case), or nullopt.
  std::optional<std::string_view> Header(std::string_view name) const;
  // The path of the target without the query.
  std::string_view Path() const;
};

struct Response {
  int status = 0;
  std::map<std::string, std::string> headers;  // lower-case names
  std::string body;

  // A response with a body and its content type.
  static Response Text(int status, std::string body, std::string content_type = "text/plain; charset=utf-8");
};

// Lower-case ASCII (header names).
std::string LowerAscii(std::string_view s);

}  // namespace certwright::http
