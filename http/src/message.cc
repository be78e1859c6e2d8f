#include "certwright/http/client.h"
#include "certwright/http/message.h"

#include <algorithm>

namespace certwright::http {

std::string LowerAscii(std::string_view s) {
  std::string out(s);
  std::transform(out.begin(), out.end(), out.begin(), [](unsigned char c) { return static_cast<char>(std::tolower(c)); });
  return out;
}

std::optional<std::string_view> Request::Header(std::string_view name) const {
  for (const auto& [k, v] : headers) {
    if (k.size() == name.size() && std::equal(k.begin(), k.end(), name.begin(), [](char a, char b) {
          return std::tolower(static_cast<unsigned char>(a)) == std::tolower(static_cast<unsigned char>(b));
        })) {
      return std::string_view(v);
    }
  }
  return std::nullopt;
}

std::string_view Request::Path() const {
  std::string_view t(target);
  const size_t q = t.find_first_of("?#");
  return q == std::string_view::npos ? t : t.substr(0, q);
}

Response Response::Text(int status, std::string body, std::string content_type) {
  Response r;
  r.status = status;
  r.headers["content-type"] = std::move(content_type);
  r.body = std::move(body);
  return r;
}

Result<std::unique_ptr<LineStream>> Client::Stream(const Request& request) {
  return Internal("this HTTP client cannot stream " + request.method + " " + std::string(request.Path()));
}

}  // namespace certwright::http
