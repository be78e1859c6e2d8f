#include "certwright/signer/key_uri.h"

#include <algorithm>
#include <cctype>

#include "certwright/signer/secret.h"

namespace certwright::signer {

namespace {

constexpr size_t kMaxUriLength = 4096;

int HexValue(char c) {
  if (c >= '0' && c <= '9') return c - '0';
  if (c >= 'a' && c <= 'f') return c - 'a' + 10;
  if (c >= 'A' && c <= 'F') return c - 'A' + 10;
  return -1;
}

bool IsSecretAttribute(std::string_view name) {
  return name == "pin-value" || name == "secret-access-key" || name == "session-token";
}

// Appends to `attrs`, which the caller owns, so that what was parsed before an error is wiped
// with it (a pin-value may come before the attribute that is wrong).
Status ParseAttributes(std::string_view text, char separator, std::string_view where, std::string_view scheme,
                       KeyUri::Attributes& attrs) {
  if (text.empty()) return Ok();
  size_t pos = 0;
  while (pos <= text.size()) {
    size_t end = text.find(separator, pos);
    if (end == std::string_view::npos) end = text.size();
    std::string_view item = text.substr(pos, end - pos);
    pos = end + 1;
    if (item.empty()) {
      if (end == text.size()) break;  // tolerate a trailing separator
      return InvalidArgument(std::string(scheme) + " URI has an empty " + std::string(where) + " attribute");
    }
    size_t eq = item.find('=');
    if (eq == std::string_view::npos || eq == 0) {
      return InvalidArgument(std::string(scheme) + " URI " + std::string(where) + " attribute \"" +
                             std::string(item) + "\" is not of the form name=value");
    }
    std::string name(item.substr(0, eq));
    for (char c : name) {
      if (!(std::islower(static_cast<unsigned char>(c)) || std::isdigit(static_cast<unsigned char>(c)) || c == '-')) {
        return InvalidArgument(std::string(scheme) + " URI attribute name \"" + name +
                               "\" may contain only lowercase letters, digits and '-'");
      }
    }
    auto value = PercentDecode(item.substr(eq + 1));
    if (!value && IsSecretAttribute(name)) {
      // PercentDecode's message quotes the text, and this text is a secret.
      return InvalidArgument(std::string(scheme) + " URI attribute \"" + name +
                             "\" has a malformed percent-escape (the value is secret and not shown)");
    }
    if (!value) return value.error().WithContext(std::string(scheme) + " URI attribute \"" + name + "\"");
    bool duplicate = std::any_of(attrs.begin(), attrs.end(), [&](const auto& a) { return a.first == name; });
    if (duplicate) {
      Wipe(*value);
      return InvalidArgument(std::string(scheme) + " URI attribute \"" + name + "\" appears more than once");
    }
    attrs.emplace_back(std::move(name), std::move(*value));
    Wipe(*value);  // a short value moved out leaves its bytes in the small-string buffer
    if (end == text.size()) break;
  }
  return Ok();
}

std::optional<std::string> Find(const KeyUri::Attributes& attrs, std::string_view name) {
  for (const auto& [k, v] : attrs) {
    if (k == name) return v;
  }
  return std::nullopt;
}

}  // namespace

Result<std::string> PercentDecode(std::string_view text) {
  std::string out;
  out.reserve(text.size());
  for (size_t i = 0; i < text.size(); ++i) {
    if (text[i] != '%') {
      out += text[i];
      continue;
    }
    if (i + 2 >= text.size()) {
      return InvalidArgument("truncated percent-escape at the end of \"" + std::string(text) + "\"");
    }
    int hi = HexValue(text[i + 1]);
    int lo = HexValue(text[i + 2]);
    if (hi < 0 || lo < 0) {
      return InvalidArgument("invalid percent-escape \"" + std::string(text.substr(i, 3)) + "\"");
    }
    out += static_cast<char>(hi * 16 + lo);
    i += 2;
  }
  return out;
}

std::string PercentEncode(std::string_view bytes, std::string_view also_safe) {
  static const char* kHex = "0123456789ABCDEF";
  std::string out;
  for (unsigned char c : bytes) {
    if (std::isalnum(c) || c == '-' || c == '.' || c == '_' || c == '~' ||
        also_safe.find(static_cast<char>(c)) != std::string_view::npos) {
      out += static_cast<char>(c);
    } else {
      out += '%';
      out += kHex[c >> 4];
      out += kHex[c & 15];
    }
  }
  return out;
}

Result<KeyUri> KeyUri::Parse(std::string_view text) {
  if (text.empty()) return InvalidArgument("key URI is empty");
  if (text.size() > kMaxUriLength) {
    return InvalidArgument("key URI is " + std::to_string(text.size()) + " characters long; the limit is " +
                           std::to_string(kMaxUriLength));
  }
  size_t colon = text.find(':');
  if (colon == std::string_view::npos || colon == 0) {
    return InvalidArgument("key URI \"" + std::string(text.substr(0, 64)) +
                           "\" has no scheme: expected pkcs11:, file: or awskms:");
  }
  KeyUri uri;
  uri.scheme_ = std::string(text.substr(0, colon));
  std::transform(uri.scheme_.begin(), uri.scheme_.end(), uri.scheme_.begin(),
                 [](unsigned char c) { return std::tolower(c); });
  std::string_view rest = text.substr(colon + 1);

  if (uri.scheme_ == "file") {
    // file:/abs/path, file:///abs/path, file://localhost/abs/path, file:relative/path
    if (rest.starts_with("//")) {
      rest.remove_prefix(2);
      size_t slash = rest.find('/');
      std::string_view host = rest.substr(0, slash);
      if (!host.empty() && host != "localhost") {
        return InvalidArgument("file URI names host \"" + std::string(host) + "\": only local files are supported");
      }
      rest = slash == std::string_view::npos ? std::string_view() : rest.substr(slash);
    }
    if (rest.empty()) return InvalidArgument("file URI has no path");
    auto path = PercentDecode(rest);
    if (!path) return path.error().WithContext("file URI path");
    uri.file_path_ = std::move(*path);
    return uri;
  }

  size_t q = rest.find('?');
  std::string_view path_part = rest.substr(0, q);
  std::string_view query_part = q == std::string_view::npos ? std::string_view() : rest.substr(q + 1);
  CW_RETURN_IF_ERROR(ParseAttributes(path_part, ';', "path", uri.scheme_, uri.path_));
  CW_RETURN_IF_ERROR(ParseAttributes(query_part, '&', "query", uri.scheme_, uri.query_));
  return uri;
}

KeyUri::~KeyUri() {
  // Wherever a secret was written (CheckAttributes refuses it in the path later, but it is
  // parsed and held until then).
  for (auto* attrs : {&path_, &query_}) {
    for (auto& [name, value] : *attrs) {
      if (IsSecretAttribute(name)) Wipe(value);
    }
  }
}

std::optional<std::string> KeyUri::path_attribute(std::string_view name) const { return Find(path_, name); }
std::optional<std::string> KeyUri::query_attribute(std::string_view name) const { return Find(query_, name); }

std::string KeyUri::Redacted() const {
  std::string out = scheme_ + ":";
  if (scheme_ == "file") return out + PercentEncode(file_path_);
  for (size_t i = 0; i < path_.size(); ++i) {
    if (i) out += ';';
    out += path_[i].first + "=" + PercentEncode(path_[i].second);
  }
  for (size_t i = 0; i < query_.size(); ++i) {
    out += i == 0 ? '?' : '&';
    out += query_[i].first + "=" + (IsSecretAttribute(query_[i].first) ? "***" : PercentEncode(query_[i].second));
  }
  return out;
}

Status CheckAttributes(const KeyUri& uri, const std::vector<std::string_view>& allowed_path,
                       const std::vector<std::string_view>& allowed_query) {
  auto check = [&](const KeyUri::Attributes& attrs, const std::vector<std::string_view>& allowed,
                   std::string_view where) -> Status {
    for (const auto& [name, value] : attrs) {
      if (name.starts_with("x-")) continue;
      if (std::find(allowed.begin(), allowed.end(), name) != allowed.end()) continue;
      std::string list;
      for (auto a : allowed) list += (list.empty() ? "" : ", ") + std::string(a);
      // An attribute of the other part is a common slip: say where it belongs.
      const auto& other = (&allowed == &allowed_path) ? allowed_query : allowed_path;
      if (std::find(other.begin(), other.end(), name) != other.end()) {
        return InvalidArgument(uri.scheme() + " URI attribute \"" + name + "\" belongs in the " +
                               (where == "path" ? "query (after '?')" : "path (before '?')"));
      }
      return InvalidArgument(uri.scheme() + " URI has unknown " + std::string(where) + " attribute \"" + name +
                             "\"; known: " + list);
    }
    return Ok();
  };
  CW_RETURN_IF_ERROR(check(uri.path_attributes(), allowed_path, "path"));
  return check(uri.query_attributes(), allowed_query, "query");
}

}  // namespace certwright::signer
