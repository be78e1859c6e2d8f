// Key URIs: how certwright names a key, in the manner of RFC 7512.
//
//   pkcs11:token=ca;object=issuing-ca?module-path=/usr/lib/softhsm/libsofthsm2.so&pin-source=/run/pin
//   file:/etc/certwright/ca.key
//   awskms:key-id=alias/ca;region=eu-west-1?endpoint=http://127.0.0.1:4599
//
// The scheme picks the backend (see key_backend.h). This parser knows only the generic shape:
// `scheme:` then `;`-separated path attributes, then `?` and `&`-separated query attributes,
// each `name=value` with percent-encoded values (RFC 7512 §2.3). `file:` URIs carry a path
// instead of attributes. Each backend validates the attribute names it accepts. Parse errors
// name the offending attribute.
#pragma once

#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "certwright/signer/result.h"

namespace certwright::signer {

class KeyUri {
 public:
  using Attributes = std::vector<std::pair<std::string, std::string>>;

  static Result<KeyUri> Parse(std::string_view text);

  // The values of secret attributes (pin-value, secret-access-key, session-token) are wiped
  // when a KeyUri goes, in every copy.
  KeyUri() = default;
  KeyUri(const KeyUri&) = default;
  KeyUri(KeyUri&&) = default;
  KeyUri& operator=(const KeyUri&) = default;
  KeyUri& operator=(KeyUri&&) = default;
  ~KeyUri();

  const std::string& scheme() const { return scheme_; }
  // Decoded attributes in the order written.
  const Attributes& path_attributes() const { return path_; }
  const Attributes& query_attributes() const { return query_; }
  std::optional<std::string> path_attribute(std::string_view name) const;
  std::optional<std::string> query_attribute(std::string_view name) const;
  // For `file:` URIs: the decoded filesystem path.
  const std::string& file_path() const { return file_path_; }

  // The URI as text with secret query attributes (pin-value, secret keys) replaced by "***",
  // safe for logs, Events and errors.
  std::string Redacted() const;

 private:
  std::string scheme_;
  Attributes path_;
  Attributes query_;
  std::string file_path_;
};

// RFC 3986 percent-decoding; errors for truncated or non-hex escapes.
Result<std::string> PercentDecode(std::string_view text);
// Percent-encodes every byte but letters, digits, "-._~" (RFC 3986 unreserved) and the
// characters in `also_safe`. The default keeps what RFC 7512 `pk11-pchar` allows unescaped.
std::string PercentEncode(std::string_view bytes, std::string_view also_safe = ":[]@!$'()*+,/");

// Checks that a URI uses only the named attributes; the error names the first unknown one.
// Attribute names starting with "x-" are vendor extensions (RFC 7512 §2.3) and are accepted.
Status CheckAttributes(const KeyUri& uri, const std::vector<std::string_view>& allowed_path,
                       const std::vector<std::string_view>& allowed_query);

}  // namespace certwright::signer
