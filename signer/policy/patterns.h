// Globs and CIDR ranges for the policy engine, compiled once and matched without allocating.
// Internal to signer/policy (policy.h is the public interface).
//
//   auto p = Pattern::Compile("{{name}}.*.svc", Pattern::Syntax::kDns, /*variables=*/true);
//   p->Matches("web.team-a.svc", Variables{.ns = "team-a", .name = "web"});   // true
//
// Syntaxes (docs/policy.md, "Patterns"):
//   kDns   "*" any run of characters inside one label (never a '.'), "**" one or more whole
//          labels; "**" must be a whole label. Case-insensitive (ASCII).
//   kUri   "*" any run of characters without '/', "**" any run of characters. Case-sensitive.
//   kText  "*" (and "**") any run of characters. Case-sensitive.
// With `variables`, {{namespace}}, {{name}} and {{serviceAccount}} stand for the request's
// values and match them literally (case-insensitively in kDns); a pattern that uses a variable
// the request has no value for matches nothing. Without, braces are literal text.
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

class Pattern {
 public:
  enum class Syntax { kDns, kUri, kText };

  // Errors are the bare reason ("uses an unknown variable; ..."); the caller adds the field.
  static Result<Pattern> Compile(std::string_view text, Syntax syntax, bool variables);

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

  bool MatchTokens(std::string_view s, const Variables& vars) const;

  std::string text_;
  std::string literals_;  // literal runs, lower-cased for kDns
  std::vector<Token> tokens_;
  Syntax syntax_ = Syntax::kText;
  uint8_t vars_used_ = 0;  // bit per Var
  bool literal_only_ = false;
};

// Matches text of the form local-part@domain: the local part as kText (case-sensitive, as RFC
// 5321 says), the domain as kDns. Both split at the last '@'.
class EmailPattern {
 public:
  static Result<EmailPattern> Compile(std::string_view text, bool variables);
  bool Matches(std::string_view email, const Variables& vars) const;
  const std::string& text() const { return text_; }

 private:
  std::string text_;
  std::optional<Pattern> local_, domain_;
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
