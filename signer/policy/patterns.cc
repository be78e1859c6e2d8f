// Globs and CIDRs for the policy engine. Matching runs the pattern as a sequence of tokens over
// a bit set of reachable input positions (one pass per token), so any pattern costs
// O(tokens x length) with no backtracking and no allocation, whatever an admin writes.
#include "patterns.h"

#include <arpa/inet.h>

#include <cstring>

namespace certwright::signer::policy::internal {

namespace {

constexpr size_t kMaxInput = kMaxMatchedLength;  // names are far shorter
constexpr size_t kWords = (kMaxInput + 1 + 63) / 64;

inline char Lower(char c) { return (c >= 'A' && c <= 'Z') ? static_cast<char>(c - 'A' + 'a') : c; }

// `lower` is already lower-case when `fold`.
inline bool EqualAt(std::string_view s, size_t at, std::string_view lower, bool fold) {
  if (at + lower.size() > s.size()) return false;
  if (!fold) return std::memcmp(s.data() + at, lower.data(), lower.size()) == 0;
  for (size_t i = 0; i < lower.size(); ++i) {
    if (Lower(s[at + i]) != lower[i]) return false;
  }
  return true;
}

inline bool EqualFold(std::string_view a, std::string_view b, bool fold) {
  if (a.size() != b.size()) return false;
  if (!fold) return a == b;
  for (size_t i = 0; i < a.size(); ++i) {
    if (Lower(a[i]) != Lower(b[i])) return false;
  }
  return true;
}

// Where "*" stops in a URI: at each delimiter of RFC 3986's generic syntax that separates its
// parts (path segments, query, fragment, userinfo, port), so "https://*.example.com/" cannot
// reach past the host.
inline bool UriStop(char c) { return c == '/' || c == '?' || c == '#' || c == '@' || c == ':'; }

// One DNS label, as RFC 1123 writes host names: what a variable may stand for in kDns.
bool IsDnsLabel(std::string_view v) {
  if (v.empty() || v.size() > 63 || v.front() == '-' || v.back() == '-') return false;
  for (char c : v) {
    if (!((c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '-')) return false;
  }
  return true;
}

// A URI part that cannot change the URI's structure: no delimiter, no wildcard, no escape ('%',
// and '\', which WHATWG parsers read as '/'), no whitespace or control character.
bool IsUriPart(std::string_view v) {
  for (char c : v) {
    const auto u = static_cast<unsigned char>(c);
    if (u <= 0x20 || u == 0x7f || UriStop(c) || c == '*' || c == '%' || c == '\\') return false;
  }
  return true;
}

// RFC 5322 dot-atom characters, less the rarely used ones that have meaning elsewhere.
bool IsEmailLocal(std::string_view v) {
  for (char c : v) {
    if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '.' || c == '_' ||
          c == '+' || c == '-')) {
      return false;
    }
  }
  return true;
}

std::string_view WithoutTrailingDots(std::string_view s) {
  while (!s.empty() && s.back() == '.') s.remove_suffix(1);
  return s;
}

struct Bits {
  uint64_t w[kWords];
  void Clear(size_t words) { std::memset(w, 0, words * sizeof(uint64_t)); }
  void Set(size_t i) { w[i >> 6] |= uint64_t{1} << (i & 63); }
  bool Test(size_t i) const { return (w[i >> 6] >> (i & 63)) & 1; }
};

}  // namespace

// ---- Pattern --------------------------------------------------------------------------------

Result<Pattern> Pattern::Compile(std::string_view text, Syntax syntax, bool variables, Use use) {
  Pattern p;
  p.text_ = std::string(text);
  p.syntax_ = syntax;
  p.use_ = use;
  p.fold_ = syntax == Syntax::kDns || (syntax == Syntax::kEmailLocal && use == Use::kDenied);
  const bool fold = p.fold_;

  if (syntax == Syntax::kDns) {
    // Every "**" is a whole label: each label is "**" or has no two stars in a row.
    size_t start = 0;
    while (start <= text.size()) {
      size_t end = text.find('.', start);
      if (end == std::string_view::npos) end = text.size();
      std::string_view label = text.substr(start, end - start);
      if (label != "**" && label.find("**") != std::string_view::npos) return InvalidArgument(std::string(kDoubleStarLabel));
      start = end + 1;
    }
  }

  if (variables) {
    // Exactly the CRD's CEL rule: remove every known variable, then no "{{" may be left.
    std::string rest(text);
    for (std::string_view v : {"{{namespace}}", "{{name}}", "{{serviceAccount}}"}) {
      for (size_t at = rest.find(v); at != std::string::npos; at = rest.find(v, at)) rest.erase(at, v.size());
    }
    if (rest.find("{{") != std::string::npos) return InvalidArgument(std::string(kUnknownVariable));
  }

  auto literal = [&](std::string_view run) {
    if (run.empty()) return;
    if (!p.tokens_.empty() && p.tokens_.back().kind == Kind::kLiteral) {
      p.tokens_.back().length += static_cast<uint32_t>(run.size());
    } else {
      p.tokens_.push_back({Kind::kLiteral, 0, static_cast<uint32_t>(p.literals_.size()), static_cast<uint32_t>(run.size())});
    }
    for (char c : run) p.literals_ += fold ? Lower(c) : c;
  };

  size_t i = 0;
  while (i < text.size()) {
    if (text[i] == '*') {
      size_t n = 1;
      while (i + n < text.size() && text[i + n] == '*') ++n;
      // kText, kEmailLocal: "**" is "*". kUri: "**" crosses '/', "***" is "**". kDns: checked above.
      const bool two = n >= 2 && (syntax == Syntax::kDns || syntax == Syntax::kUri);
      p.tokens_.push_back({two ? Kind::kDoubleStar : Kind::kStar, 0, 0, 0});
      i += n;
      continue;
    }
    if (variables && text.compare(i, 2, "{{") == 0) {
      struct Name { std::string_view text; Var var; };
      static constexpr Name kNames[] = {{"{{namespace}}", kNamespace}, {"{{name}}", kName},
                                        {"{{serviceAccount}}", kServiceAccount}};
      const Name* found = nullptr;
      for (const auto& n : kNames) {
        if (text.compare(i, n.text.size(), n.text) == 0) found = &n;
      }
      if (!found) {  // a brace before a variable ("{{{name}}"): literal text
        literal(text.substr(i, 1));
        ++i;
        continue;
      }
      p.tokens_.push_back({Kind::kVariable, found->var, 0, 0});
      p.vars_used_ |= static_cast<uint8_t>(1u << found->var);
      i += found->text.size();
      continue;
    }
    size_t j = i + 1;
    while (j < text.size() && text[j] != '*' && !(variables && text.compare(j, 2, "{{") == 0)) ++j;
    literal(text.substr(i, j - i));
    i = j;
  }
  // A denied "evil.com." is "evil.com" (the value loses its trailing dots too).
  if (syntax == Syntax::kDns && use == Use::kDenied) {
    while (!p.tokens_.empty() && p.tokens_.back().kind == Kind::kLiteral && p.literals_.back() == '.') {
      p.literals_.pop_back();
      if (--p.tokens_.back().length == 0) p.tokens_.pop_back();
    }
  }
  p.literal_only_ = p.tokens_.empty() || (p.tokens_.size() == 1 && p.tokens_[0].kind == Kind::kLiteral);
  return p;
}

bool Pattern::Matches(std::string_view s, const Variables& vars) const {
  if (use_ == Use::kAllowed) return MatchesExactly(s, vars);
  // Denied: fail closed.
  if (s.size() > kMaxInput) return true;
  if (syntax_ != Syntax::kDns) return MatchesExactly(s, vars);
  s = WithoutTrailingDots(s);
  if (MatchesExactly(s, vars)) return true;
  return IsWildcardName(s) && MatchesOneLabelBefore(s.substr(1), vars);
}

bool Pattern::VariablesFit(const Variables& vars) const {
  for (uint8_t var : {kNamespace, kName, kServiceAccount}) {
    if (!(vars_used_ & (1u << var))) continue;
    const std::string_view v = var == kNamespace ? vars.ns : var == kName ? vars.name : vars.service_account;
    if (v.empty()) return false;
    switch (syntax_) {
      case Syntax::kDns:
        if (!IsDnsLabel(v)) return false;
        break;
      case Syntax::kUri:
        if (!IsUriPart(v)) return false;
        break;
      case Syntax::kEmailLocal:
        if (!IsEmailLocal(v)) return false;
        break;
      case Syntax::kText:
        break;
    }
  }
  return true;
}

bool Pattern::MatchesExactly(std::string_view s, const Variables& vars) const {
  if (vars_used_ != 0 && !VariablesFit(vars)) return false;
  if (literal_only_) return EqualFold(s, literals_, fold_);
  if (s.size() > kMaxInput) return false;
  return MatchTokens(s, vars);
}

// The names "<label><rest>" the pattern matches are those whose label matches the pattern's first
// label (the pattern's labels line up with the name's, "**" aside), so one probe decides: the
// pattern's own first label with each "*" (or "**") as "a" and each variable as its value.
bool Pattern::MatchesOneLabelBefore(std::string_view rest, const Variables& vars) const {
  char probe[kMaxInput + 1];
  size_t n = 0;
  auto put = [&](std::string_view part) {
    if (n + part.size() > kMaxInput) return false;
    std::memcpy(probe + n, part.data(), part.size());
    n += part.size();
    return true;
  };
  for (const Token& t : tokens_) {
    bool label_ends = false;
    std::string_view part;
    switch (t.kind) {
      case Kind::kLiteral:
        part = std::string_view(literals_).substr(t.offset, t.length);
        if (size_t dot = part.find('.'); dot != std::string_view::npos) {
          part = part.substr(0, dot);
          label_ends = true;
        }
        break;
      case Kind::kVariable:
        part = t.var == kNamespace ? vars.ns : t.var == kName ? vars.name : vars.service_account;
        break;
      case Kind::kStar:
      case Kind::kDoubleStar:
        part = "a";
        break;
    }
    if (!put(part)) return true;  // too long to check: denied
    if (label_ends) break;
  }
  if (n == 0) return false;  // an empty first label matches no name
  if (!put(rest)) return true;
  return MatchesExactly(std::string_view(probe, n), vars);
}

bool Pattern::MatchTokens(std::string_view s, const Variables& vars) const {
  const bool fold = fold_;
  const size_t n = s.size();
  const size_t words = (n + 1 + 63) / 64;
  Bits a, b;  // a: positions reachable before the token; b: after it
  a.Clear(words);
  a.Set(0);
  Bits* cur = &a;
  Bits* next = &b;
  for (const Token& t : tokens_) {
    next->Clear(words);
    bool any = false;
    switch (t.kind) {
      case Kind::kLiteral:
      case Kind::kVariable: {
        std::string_view text;
        if (t.kind == Kind::kLiteral) {
          text = std::string_view(literals_).substr(t.offset, t.length);
        } else {
          text = t.var == kNamespace ? vars.ns : t.var == kName ? vars.name : vars.service_account;
        }
        for (size_t w = 0; w < words; ++w) {
          for (uint64_t bits = cur->w[w]; bits != 0; bits &= bits - 1) {
            const size_t at = w * 64 + static_cast<size_t>(__builtin_ctzll(bits));
            bool eq = t.kind == Kind::kLiteral ? EqualAt(s, at, text, fold)
                                               : (at + text.size() <= n && EqualFold(s.substr(at, text.size()), text, fold));
            if (eq) {
              next->Set(at + text.size());
              any = true;
            }
          }
        }
        break;
      }
      case Kind::kStar: {
        // Any run without a separator ('.' for DNS, UriStop for URIs; none for text).
        bool carry = false;
        for (size_t j = 0; j <= n; ++j) {
          if (cur->Test(j)) carry = true;
          if (carry) {
            next->Set(j);
            any = true;
          }
          if (j < n && ((syntax_ == Syntax::kDns && s[j] == '.') || (syntax_ == Syntax::kUri && UriStop(s[j])))) {
            carry = false;
          }
        }
        break;
      }
      case Kind::kDoubleStar: {
        if (syntax_ == Syntax::kUri) {
          bool carry = false;
          for (size_t j = 0; j <= n; ++j) {
            if (cur->Test(j)) carry = true;
            if (carry) {
              next->Set(j);
              any = true;
            }
          }
        } else {
          // DNS: one or more whole labels, so a non-empty run that neither starts nor ends
          // with '.' (its neighbours in the pattern are '.' or the ends).
          bool carry = false;
          for (size_t j = 0; j <= n; ++j) {
            if (carry && j > 0 && s[j - 1] != '.') {
              next->Set(j);
              any = true;
            }
            if (j < n && cur->Test(j) && s[j] != '.') carry = true;
          }
        }
        break;
      }
    }
    if (!any) return false;
    std::swap(cur, next);
  }
  return cur->Test(n);
}

// ---- EmailPattern ---------------------------------------------------------------------------

Result<EmailPattern> EmailPattern::Compile(std::string_view text, bool variables, Pattern::Use use) {
  EmailPattern e;
  e.text_ = std::string(text);
  e.use_ = use;
  const size_t at = text.rfind('@');
  if (at == std::string_view::npos) return InvalidArgument(std::string(kNotEmail));
  CW_ASSIGN_OR_RETURN(Pattern domain, Pattern::Compile(text.substr(at + 1), Pattern::Syntax::kDns, variables, use));
  CW_ASSIGN_OR_RETURN(Pattern local, Pattern::Compile(text.substr(0, at), Pattern::Syntax::kEmailLocal, variables, use));
  e.local_ = std::move(local);
  e.domain_ = std::move(domain);
  return e;
}

bool EmailPattern::Matches(std::string_view email, const Variables& vars) const {
  const bool denied = use_ == Pattern::Use::kDenied;
  if (denied && email.size() > kMaxInput) return true;
  const size_t at = email.rfind('@');
  if (at == std::string_view::npos) return false;
  std::string_view local = email.substr(0, at);
  if (denied && local.size() >= 2 && local.front() == '"' && local.back() == '"') local = local.substr(1, local.size() - 2);
  return domain_->Matches(email.substr(at + 1), vars) && local_->Matches(local, vars);
}

// ---- IP addresses and ranges ------------------------------------------------------------------

std::optional<IpAddress> IpAddress::Parse(std::string_view text) {
  char buf[64];
  if (text.empty() || text.size() >= sizeof buf) return std::nullopt;
  std::memcpy(buf, text.data(), text.size());
  buf[text.size()] = '\0';
  IpAddress ip;
  if (text.find(':') == std::string_view::npos) {
    if (inet_pton(AF_INET, buf, ip.bytes + 12) != 1) return std::nullopt;
    ip.v4 = true;
    return ip;
  }
  if (inet_pton(AF_INET6, buf, ip.bytes) != 1) return std::nullopt;
  static constexpr uint8_t kMapped[12] = {0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff};
  if (std::memcmp(ip.bytes, kMapped, sizeof kMapped) == 0) {
    std::memset(ip.bytes, 0, sizeof kMapped);
    ip.v4 = true;
  }
  return ip;
}

Result<IpRange> IpRange::Parse(std::string_view text) {
  const Error not_cidr = InvalidArgument(std::string(kNotCidr));
  const size_t slash = text.find('/');
  if (slash == std::string_view::npos) return not_cidr;
  std::string_view addr = text.substr(0, slash), len = text.substr(slash + 1);
  // Decimal, no sign, no leading zero (netip.ParsePrefix).
  if (len.empty() || len.size() > 3 || (len.size() > 1 && len[0] == '0')) return not_cidr;
  int bits = 0;
  for (char c : len) {
    if (c < '0' || c > '9') return not_cidr;
    bits = bits * 10 + (c - '0');
  }
  auto ip = IpAddress::Parse(addr);
  if (!ip) return not_cidr;
  // IPv4-mapped IPv6 ranges are refused, as Kubernetes' isCIDR() refuses them.
  if (ip->v4 && addr.find(':') != std::string_view::npos) return not_cidr;
  if (bits > (ip->v4 ? 32 : 128)) return not_cidr;
  IpRange r;
  r.text_ = std::string(text);
  r.network_ = *ip;
  r.bits_ = ip->v4 ? 96 + bits : bits;  // compared over the 16 bytes
  for (int i = r.bits_; i < 128; ++i) {
    if (r.network_.bytes[i / 8] & (0x80 >> (i % 8))) return InvalidArgument(std::string(kCidrHostBits));
  }
  return r;
}

bool IpRange::Contains(const IpAddress& ip) const {
  if (ip.v4 != network_.v4) return false;
  const int full = bits_ / 8;
  if (std::memcmp(ip.bytes, network_.bytes, static_cast<size_t>(full)) != 0) return false;
  const int rest = bits_ % 8;
  if (rest == 0) return true;
  const uint8_t mask = static_cast<uint8_t>(0xff << (8 - rest));
  return (ip.bytes[full] & mask) == network_.bytes[full];
}

}  // namespace certwright::signer::policy::internal
