// Globs and CIDR ranges for the policy engine, compiled once and matched without allocating.
// Internal to signer/policy (policy.h is the public interface).
//
//   auto p = Pattern::Compile("{{name}}.*.svc", Pattern::Syntax::kDns, /*variables=*/true);
//   p->Matches("web.team-a.svc", Variables{.ns = "team-a", .name = "web"});   // true
//
// Syntaxes (docs/policy.md, "Patterns"):
//   kDns         "*" any run of characters inside one label (never a '.'), "**" one or more
//                whole labels; "**" must be a whole label. Case-insensitive (ASCII).
//   kUri         "*" any run of characters without '/', '?', '#', '@' or ':' (so it stays inside
//                one part of the URI), "**" any run of characters. Case-sensitive.
//   kText        "*" (and "**") any run of characters. Case-sensitive.
//   kEmailLocal  an email's local part: as kText.
// With `variables`, {{namespace}}, {{name}} and {{serviceAccount}} stand for the request's
// values and match them literally (case-insensitively in kDns). A pattern that uses a variable
// the request has no value for, or whose value does not fit the syntax, matches nothing: in
// kDns a value must be one DNS label ([a-z0-9-], 1 to 63, no '-' at either end); in kUri it
// holds none of / ? # @ : * % or backslash, nor whitespace or control characters; in kEmailLocal only
// letters, digits and . _ + -. Without `variables`, braces are literal text.
//
// Use::kDenied patterns fail closed, for `denied` rules, where a miss lets a request through:
// a value longer than kMaxMatchedLength matches; kDns ignores trailing dots (of the value and the
// pattern) and a value whose leftmost label is "*" matches when a name it covers (any one label
// in place of the '*') would; kEmailLocal ignores ASCII case.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "certwright/signer/result.h"

namespace certwright::signer::policy::internal {

// The values a pattern's variables stand for. Empty: the request has none.
struct Variables {
  std::string_view ns;
  std::string_view name;
  std::string_view service_account;  // the ServiceAccount's name (not "ns/name")
};

// Longer values are matched by no kAllowed pattern and by every kDenied one.
inline constexpr size_t kMaxMatchedLength = 4095;

// A leftmost label "*": a wildcard name, which covers every name with one label in its place.
inline bool IsWildcardName(std::string_view name) { return !name.empty() && name[0] == '*' && (name.size() == 1 || name[1] == '.'); }

class Pattern {
 public:
  enum class Syntax { kDns, kUri, kText, kEmailLocal };
  enum class Use { kAllowed, kDenied };

  // Errors are the bare reason ("uses an unknown variable; ..."); the caller adds the field.
  static Result<Pattern> Compile(std::string_view text, Syntax syntax, bool variables, Use use = Use::kAllowed);

  bool Matches(std::string_view s, const Variables& vars) const;
  bool Matches(std::string_view s) const { return Matches(s, Variables{}); }
  const std::string& text() const { return text_; }  // as written

 private:
  enum class Kind : uint8_t { kLiteral, kVariable, kStar, kDoubleStar };
  enum Var : uint8_t { kNamespace, kName, kServiceAccount };
  struct Token {
    Kind kind;
    uint8_t var;       // kVariable
    uint32_t offset;   // kLiteral: into literals_
    uint32_t length;
  };

  // The pattern as written, without Use::kDenied's extras.
  bool MatchesExactly(std::string_view s, const Variables& vars) const;
  // kDns: whether some name of one label followed by `rest` ("" or ".<labels>") matches.
  bool MatchesOneLabelBefore(std::string_view rest, const Variables& vars) const;
  bool VariablesFit(const Variables& vars) const;
  bool MatchTokens(std::string_view s, const Variables& vars) const;

  std::string text_;
  std::string literals_;  // literal runs, lower-cased when fold_
  std::vector<Token> tokens_;
  Syntax syntax_ = Syntax::kText;
  Use use_ = Use::kAllowed;
  bool fold_ = false;      // ASCII case-insensitive: kDns, and kEmailLocal when kDenied
  uint8_t vars_used_ = 0;  // bit per Var
  bool literal_only_ = false;
};

// Matches text of the form local-part@domain: the local part as kEmailLocal (case-sensitive, as
// RFC 5321 says), the domain as kDns. Both split at the last '@'. Use::kDenied also strips one
// level of double quotes around the value's local part ("\"ceo\"@example.com" is ceo@...) and
// ignores the local part's case, as mail servers commonly do.
class EmailPattern {
 public:
  static Result<EmailPattern> Compile(std::string_view text, bool variables, Pattern::Use use = Pattern::Use::kAllowed);
  bool Matches(std::string_view email, const Variables& vars) const;
  const std::string& text() const { return text_; }

 private:
  std::string text_;
  std::optional<Pattern> local_, domain_;
  Pattern::Use use_ = Pattern::Use::kAllowed;
};

// An IPv4 or IPv6 address as 16 bytes; IPv4 (and IPv4-mapped IPv6, ::ffff:a.b.c.d, which TLS
// clients treat as the IPv4 address) in the last 4.
struct IpAddress {
  uint8_t bytes[16] = {};
  bool v4 = false;

  static std::optional<IpAddress> Parse(std::string_view text);
};

class IpRange {
 public:
  // "10.0.0.0/8", "fd00::/8": netip.ParsePrefix syntax (Kubernetes CEL's isCIDR), no bits set
  // after the prefix length, no IPv4-mapped IPv6.
  static Result<IpRange> Parse(std::string_view text);
  bool Contains(const IpAddress& ip) const;
  const std::string& text() const { return text_; }

 private:
  std::string text_;
  IpAddress network_;
  int bits_ = 0;
};

// The messages Compile and IpRange::Parse return, shared with the CRD's CEL rules.
inline constexpr std::string_view kUnknownVariable =
    "uses an unknown variable; the variables are {{namespace}}, {{name}} and {{serviceAccount}}";
inline constexpr std::string_view kDoubleStarLabel = "\"**\" must be a whole DNS label (as in **.example.com)";
inline constexpr std::string_view kNotEmail = "must be local-part@domain (globs allowed, as in *@example.com)";
inline constexpr std::string_view kNotCidr = "must be a CIDR such as 10.0.0.0/8 or fd00::/8";
inline constexpr std::string_view kCidrHostBits = "must have no bits set after the prefix length, as in 10.0.0.0/8";

}  // namespace certwright::signer::policy::internal
