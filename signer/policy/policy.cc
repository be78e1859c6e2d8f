// The policy engine: compiling CertificatePolicy specs and evaluating requests against them.
//
// Evaluate() runs before every signature, so its common path allocates only the decision's own
// strings: policies are indexed by exact issuer name, patterns are precompiled (patterns.h) and
// variables are matched in place, and messages are written only once the decision is known.
#include <algorithm>
#include <cstring>

#include "certwright/signer/duration.h"
#include "policy_internal.h"

namespace certwright::signer::policy {

using internal::CompiledSelector;
using internal::EmailPattern;
using internal::IpAddress;
using internal::IpRange;
using internal::Pattern;
using internal::Variables;

std::string_view DoorName(Door door) {
  switch (door) {
    case Door::kCertificate: return "Certificate";
    case Door::kCertificateSigningRequest: return "CertificateSigningRequest";
    case Door::kPodCertificateRequest: return "PodCertificateRequest";
    case Door::kKubernetesSigner: return "KubernetesSigner";
    case Door::kIssuerBootstrap: return "IssuerBootstrap";
  }
  return "Unknown";
}

namespace {

// ---- Messages ---------------------------------------------------------------------------------

std::string Quote(std::string_view s) {
  std::string out = "\"";
  for (char c : s) {
    if (c == '"' || c == '\\') out += '\\';
    out += c;
  }
  return out + "\"";
}

template <typename T, typename Text>
std::string QuotedList(const std::vector<T>& items, Text text) {
  std::string out = "[";
  for (size_t i = 0; i < items.size(); ++i) {
    if (i) out += ", ";
    out += Quote(text(items[i]));
  }
  return out + "]";
}

std::string PolicyPrefix(std::string_view name) { return "CertificatePolicy " + Quote(name) + ": "; }

std::string Indexed(std::string_view field, size_t i) { return std::string(field) + "[" + std::to_string(i) + "]"; }

Error FieldError(std::string_view field, std::string_view message) {
  return InvalidArgument(std::string(field) + ": " + std::string(message));
}

std::string_view KeyTypeName(KeyType type) {
  switch (type) {
    case KeyType::kRsa: return "RSA";
    case KeyType::kEcdsa: return "ECDSA";
    case KeyType::kEd25519: return "Ed25519";
  }
  return "unknown";
}

// "RSA 2048", "ECDSA P-256", "Ed25519".
std::string KeyName(const KeySpec& key) {
  switch (key.type) {
    case KeyType::kRsa: return "RSA " + std::to_string(key.bits);
    case KeyType::kEcdsa: return "ECDSA P-" + std::to_string(key.bits);
    case KeyType::kEd25519: return "Ed25519";
  }
  return "unknown";
}

// "RSA >= 3072", "ECDSA", "Ed25519".
std::string KeyRuleName(const KeyAlgorithmRule& rule) {
  std::string out(KeyTypeName(rule.type));
  if (rule.min_size > 0) out += " >= " + std::to_string(rule.min_size);
  return out;
}

// ---- Compiling ----------------------------------------------------------------------------------

Result<std::vector<Pattern>> CompileList(const std::vector<std::string>& items, std::string_view field,
                                         Pattern::Syntax syntax, bool variables,
                                         Pattern::Use use = Pattern::Use::kAllowed) {
  std::vector<Pattern> out;
  out.reserve(items.size());
  for (size_t i = 0; i < items.size(); ++i) {
    if (items[i].empty()) return FieldError(Indexed(field, i), "must not be empty");
    auto p = Pattern::Compile(items[i], syntax, variables, use);
    if (!p.ok()) return FieldError(Indexed(field, i), p.error().message());
    out.push_back(std::move(*p));
  }
  return out;
}

Result<std::vector<EmailPattern>> CompileEmails(const std::vector<std::string>& items, std::string_view field,
                                                Pattern::Use use) {
  std::vector<EmailPattern> out;
  out.reserve(items.size());
  for (size_t i = 0; i < items.size(); ++i) {
    if (items[i].empty()) return FieldError(Indexed(field, i), "must not be empty");
    auto p = EmailPattern::Compile(items[i], /*variables=*/true, use);
    if (!p.ok()) return FieldError(Indexed(field, i), p.error().message());
    out.push_back(std::move(*p));
  }
  return out;
}

Result<std::vector<IpRange>> CompileRanges(const std::vector<std::string>& items, std::string_view field) {
  std::vector<IpRange> out;
  out.reserve(items.size());
  for (size_t i = 0; i < items.size(); ++i) {
    auto r = IpRange::Parse(items[i]);
    if (!r.ok()) return FieldError(Indexed(field, i), r.error().message());
    out.push_back(std::move(*r));
  }
  return out;
}

Result<CompiledSelector> CompileSelector(const PolicySelector& s) {
  CompiledSelector c;
  for (size_t i = 0; i < s.issuer_refs.size(); ++i) {
    const auto& ref = s.issuer_refs[i];
    if (!ref.kind.empty() && ref.kind != "Issuer" && ref.kind != "ClusterIssuer") {
      return FieldError(Indexed("selector.issuerRefs", i) + ".kind",
                        "must be Issuer or ClusterIssuer (got " + Quote(ref.kind) + ")");
    }
    CW_ASSIGN_OR_RETURN(Pattern name, Pattern::Compile(ref.name.empty() ? "*" : ref.name, Pattern::Syntax::kText, false));
    c.issuer_refs.push_back({std::move(name), ref.kind});
  }
  CW_ASSIGN_OR_RETURN(c.namespace_names,
                      CompileList(s.namespace_names, "selector.namespaces.names", Pattern::Syntax::kText, false));
  c.match_labels = s.namespace_match_labels;
  CW_RETURN_IF_ERROR(CheckLabelRequirements(s.namespace_match_expressions, "selector.namespaces.matchExpressions"));
  c.match_expressions = s.namespace_match_expressions;
  c.has_namespace_part = !s.namespace_names.empty() || !s.namespace_match_labels.empty() ||
                         !s.namespace_match_expressions.empty();
  CW_ASSIGN_OR_RETURN(c.users, CompileList(s.users, "selector.requesters.users", Pattern::Syntax::kText, false));
  CW_ASSIGN_OR_RETURN(c.groups, CompileList(s.groups, "selector.requesters.groups", Pattern::Syntax::kText, false));
  for (size_t i = 0; i < s.service_accounts.size(); ++i) {
    const std::string& sa = s.service_accounts[i];
    const size_t slash = sa.find('/');
    if (slash == std::string::npos || slash == 0 || slash + 1 == sa.size() || sa.find('/', slash + 1) != std::string::npos) {
      return FieldError(Indexed("selector.requesters.serviceAccounts", i),
                        "must be namespace/name (globs allowed, as in team-a/*)");
    }
    CW_ASSIGN_OR_RETURN(Pattern ns, Pattern::Compile(sa.substr(0, slash), Pattern::Syntax::kText, false));
    CW_ASSIGN_OR_RETURN(Pattern name, Pattern::Compile(sa.substr(slash + 1), Pattern::Syntax::kText, false));
    c.service_accounts.push_back({std::move(ns), std::move(name)});
  }
  c.has_requesters = !s.users.empty() || !s.groups.empty() || !s.service_accounts.empty();
  for (Door d : s.doors) c.doors |= 1u << static_cast<unsigned>(d);
  return c;
}

struct SubjectField {
  const char* attribute;  // as DistinguishedName names it (api SubjectOf, OpenSSL short names)
  const char* rule;
  std::optional<std::vector<std::string>> SubjectRules::*list;
};
constexpr SubjectField kSubjectFields[] = {
    {"O", "allowed.subject.organizations", &SubjectRules::organizations},
    {"OU", "allowed.subject.organizationalUnits", &SubjectRules::organizational_units},
    {"C", "allowed.subject.countries", &SubjectRules::countries},
    {"ST", "allowed.subject.provinces", &SubjectRules::provinces},
    {"L", "allowed.subject.localities", &SubjectRules::localities},
    {"street", "allowed.subject.streetAddresses", &SubjectRules::street_addresses},
    {"postalCode", "allowed.subject.postalCodes", &SubjectRules::postal_codes},
    {"serialNumber", "allowed.subject.serialNumbers", &SubjectRules::serial_numbers},
};

Status CompileAllowed(const AllowedRules& a, CompiledPolicy& p) {
  if (a.common_name) {
    auto cn = Pattern::Compile(*a.common_name, Pattern::Syntax::kText, true);
    if (!cn.ok()) return FieldError("allowed.commonName", cn.error().message());
    p.common_name = std::move(*cn);
  }
  if (a.dns_names) {
    CW_ASSIGN_OR_RETURN(p.dns_names, CompileList(*a.dns_names, "allowed.dnsNames", Pattern::Syntax::kDns, true));
  }
  if (a.ip_ranges) {
    CW_ASSIGN_OR_RETURN(p.ip_ranges, CompileRanges(*a.ip_ranges, "allowed.ipAddresses"));
  }
  if (a.uris) {
    CW_ASSIGN_OR_RETURN(p.uris, CompileList(*a.uris, "allowed.uris", Pattern::Syntax::kUri, true));
  }
  if (a.email_addresses) {
    CW_ASSIGN_OR_RETURN(p.email_addresses,
                        CompileEmails(*a.email_addresses, "allowed.emailAddresses", Pattern::Use::kAllowed));
  }
  for (const auto& f : kSubjectFields) {
    const auto& list = a.subject.*f.list;
    if (!list) continue;
    CW_ASSIGN_OR_RETURN(auto patterns, CompileList(*list, f.rule, Pattern::Syntax::kText, true));
    p.subject.push_back({f.attribute, f.rule, std::move(patterns)});
  }
  if (a.usages) {
    const auto& known = KnownUsageNames();
    for (size_t i = 0; i < a.usages->size(); ++i) {
      if (std::find(known.begin(), known.end(), (*a.usages)[i]) == known.end()) {
        std::string names;
        for (auto k : known) names += (names.empty() ? "" : ", ") + Quote(k);
        return FieldError(Indexed("allowed.usages", i), "unknown usage " + Quote((*a.usages)[i]) + "; known: " + names);
      }
    }
    CW_ASSIGN_OR_RETURN(Usages u, ParseUsages(*a.usages));
    p.usages = std::move(u);
  }
  if (a.key_algorithms) {
    for (size_t i = 0; i < a.key_algorithms->size(); ++i) {
      const auto& k = (*a.key_algorithms)[i];
      const std::string field = Indexed("allowed.keyAlgorithms", i) + ".minSize";
      if (k.min_size < 0) return FieldError(field, "must not be negative");
      if (k.type == KeyType::kEd25519 && k.min_size != 0) return FieldError(field, "Ed25519 keys have no size; remove minSize");
    }
  }
  if (a.max_path_length) {
    if (*a.max_path_length < 0) return FieldError("allowed.maxPathLength", "must not be negative");
    if (!a.is_ca) return FieldError("allowed.maxPathLength", "maxPathLength requires isCA: true");
  }
  return Ok();
}

// Denied patterns fail closed (patterns.h, Use::kDenied): a miss there lets a request through.
Status CompileDenied(const DeniedRules& d, CompiledPolicy& p) {
  constexpr auto kDenied = Pattern::Use::kDenied;
  CW_ASSIGN_OR_RETURN(p.denied_dns_names,
                      CompileList(d.dns_names, "denied.dnsNames", Pattern::Syntax::kDns, true, kDenied));
  CW_ASSIGN_OR_RETURN(p.denied_ip_ranges, CompileRanges(d.ip_ranges, "denied.ipAddresses"));
  CW_ASSIGN_OR_RETURN(p.denied_uris, CompileList(d.uris, "denied.uris", Pattern::Syntax::kUri, true, kDenied));
  CW_ASSIGN_OR_RETURN(p.denied_email_addresses, CompileEmails(d.email_addresses, "denied.emailAddresses", kDenied));
  return Ok();
}

// Whether a spec has an `allowed` section: `present`, or (for specs built in code) any field set.
bool HasAllowed(const AllowedRules& a) {
  const SubjectRules& s = a.subject;
  return a.present || a.common_name || a.dns_names || a.uris || a.email_addresses || a.ip_ranges || s.organizations ||
         s.organizational_units || s.countries || s.provinces || s.localities || s.street_addresses ||
         s.postal_codes || s.serial_numbers || a.usages || a.key_algorithms || a.is_ca || a.max_path_length;
}

Status CheckConstraints(const Constraints& c) {
  if (c.min_duration && c.min_duration->count() < 0) return FieldError("constraints.minDuration", "must not be negative");
  if (c.max_duration && c.max_duration->count() < 0) return FieldError("constraints.maxDuration", "must not be negative");
  if (c.min_duration && c.max_duration && *c.min_duration > *c.max_duration) {
    return FieldError("constraints.minDuration", "minDuration must not be longer than maxDuration");
  }
  return Ok();
}

// ---- Selecting ----------------------------------------------------------------------------------

bool AnyMatches(const std::vector<Pattern>& patterns, std::string_view s) {
  for (const auto& p : patterns) {
    if (p.Matches(s)) return true;
  }
  return false;
}

bool LabelsMatch(const CompiledSelector& s, const std::map<std::string, std::string>& labels) {
  return policy::LabelsMatch(s.match_labels, s.match_expressions, labels);
}

bool Selects(const CompiledPolicy& p, const PolicyRequest& r) {
  if (!p.selector) return true;
  const CompiledSelector& s = *p.selector;
  if (s.doors != 0 && !(s.doors & (1u << static_cast<unsigned>(r.door)))) return false;
  if (!s.issuer_refs.empty()) {
    bool any = false;
    for (const auto& ref : s.issuer_refs) {
      if ((ref.kind.empty() || ref.kind == r.issuer_kind) && ref.name.Matches(r.issuer_name)) {
        any = true;
        break;
      }
    }
    if (!any) return false;
  }
  if (s.has_namespace_part) {
    if (r.ns.empty()) return false;
    if (!s.namespace_names.empty() && !AnyMatches(s.namespace_names, r.ns)) return false;
    if (!LabelsMatch(s, r.namespace_labels)) return false;
  }
  if (s.has_requesters) {
    // A Certificate's requester is its namespace: requester selectors are for CSRs and pods.
    if (r.door == Door::kCertificate) return false;
    bool who = !r.user.empty() && AnyMatches(s.users, r.user);
    for (size_t i = 0; !who && i < r.groups.size(); ++i) who = AnyMatches(s.groups, r.groups[i]);
    if (!who && r.service_account) {
      for (const auto& sa : s.service_accounts) {
        if (sa.ns.Matches(r.service_account->first) && sa.name.Matches(r.service_account->second)) {
          who = true;
          break;
        }
      }
    }
    if (!who) return false;
  }
  return true;
}

// ---- Judging ------------------------------------------------------------------------------------

// The request and what every policy's rules look at, computed once.
struct Subject {
  const PolicyRequest& r;
  const CertificateTemplate& t;
  Variables vars;
  // The usages the certificate will carry, as the signer computes them (signer::EffectiveUsages).
  uint32_t key_usage = 0;
  Usages effective;
};

Subject Describe(const PolicyRequest& r, const CertificateTemplate& t) {
  Subject s{r, t, Variables{r.ns, r.name, r.service_account ? std::string_view(r.service_account->second) : ""}, 0, {}};
  // A template the signer refuses (cert sign on a leaf) is judged on its usages as written: the
  // signer's own error then says what is wrong.
  if (auto effective = EffectiveUsages(t, r.key); effective.ok()) {
    s.effective = std::move(*effective);
  } else if (t.usages) {
    s.effective = *t.usages;
  }
  s.key_usage = s.effective.key_usage;
  return s;
}

// A rule a policy failed, and how to say so. `rule` is nullptr when the policy allows.
struct Verdict {
  const char* rule = nullptr;
  std::string message;  // written only when asked for
};

template <typename Patterns>
const std::string* FirstUnmatched(const std::vector<std::string>& values, const Patterns& patterns, const Variables& v) {
  for (const auto& value : values) {
    bool ok = false;
    for (const auto& p : patterns) {
      if (p.Matches(value, v)) {
        ok = true;
        break;
      }
    }
    if (!ok) return &value;
  }
  return nullptr;
}

// `denied` rules: the first requested value one of them matches.
Verdict CheckDenied(const CompiledPolicy& p, const Subject& s, bool explain) {
  Verdict v;
  auto patterns = [&](const std::vector<std::string>& values, const auto& denied, const char* rule) {
    for (const auto& value : values) {
      if (value.size() > internal::kMaxMatchedLength) {  // the patterns would match it too; say why
        v.rule = rule;
        if (explain) {
          v.message = PolicyPrefix(p.name) + rule + ": a value of " + std::to_string(value.size()) +
                      " characters is denied unchecked (denied patterns check at most " +
                      std::to_string(internal::kMaxMatchedLength) + ")";
        }
        return true;
      }
      for (const auto& d : denied) {
        if (d.Matches(value, s.vars)) {
          v.rule = rule;
          if (explain) {
            const bool wildcard = std::string_view(rule) == "denied.dnsNames" && internal::IsWildcardName(value);
            v.message = PolicyPrefix(p.name) + rule + ": " + Quote(value) +
                        (wildcard ? " covers a name the denied pattern " + Quote(d.text()) + " matches"
                                  : " matches the denied pattern " + Quote(d.text()));
          }
          return true;
        }
      }
    }
    return false;
  };
  if (!p.denied_dns_names.empty() && patterns(s.t.dns_names, p.denied_dns_names, "denied.dnsNames")) return v;
  if (!p.denied_ip_ranges.empty()) {
    for (const auto& value : s.t.ip_addresses) {
      auto ip = IpAddress::Parse(value);
      const IpRange* hit = nullptr;
      if (ip) {
        for (const auto& range : p.denied_ip_ranges) {
          if (range.Contains(*ip)) {
            hit = &range;
            break;
          }
        }
      }
      if (!ip || hit) {
        v.rule = "denied.ipAddresses";
        if (explain) {
          v.message = PolicyPrefix(p.name) + v.rule + ": " + Quote(value) +
                      (ip ? " is in the denied range " + hit->text() : std::string(" is not an IP address"));
        }
        return v;
      }
    }
  }
  if (!p.denied_uris.empty() && patterns(s.t.uris, p.denied_uris, "denied.uris")) return v;
  if (!p.denied_email_addresses.empty() &&
      patterns(s.t.email_addresses, p.denied_email_addresses, "denied.emailAddresses")) {
    return v;
  }
  return v;
}

// constraints.minDuration, which granting and restricting policies alike enforce.
Verdict CheckMinDuration(const CompiledPolicy& p, const Subject& s, bool explain) {
  Verdict v;
  const auto& min = p.spec.constraints.min_duration;
  if (min && s.t.duration < *min) {
    v.rule = "constraints.minDuration";
    if (explain) {
      v.message = PolicyPrefix(p.name) + v.rule + ": the requested duration " + FormatDuration(s.t.duration) +
                  " is shorter than the minimum " + FormatDuration(*min);
    }
  }
  return v;
}

// `allowed` rules and `constraints`, in the order docs/policy.md lists them.
Verdict CheckAllowed(const CompiledPolicy& p, const Subject& s, bool explain) {
  const AllowedRules& a = p.spec.allowed;
  const CertificateTemplate& t = s.t;
  Verdict v;
  auto fail = [&](const char* rule, auto&& message) -> Verdict& {
    v.rule = rule;
    if (explain) v.message = PolicyPrefix(p.name) + rule + ": " + message();
    return v;
  };
  auto text = [](const auto& pattern) -> const std::string& { return pattern.text(); };

  if (t.is_ca && !a.is_ca) return fail("allowed.isCA", [] { return std::string("CA certificates are not allowed"); });
  if (p.common_name) {
    for (const auto& attribute : t.subject.attributes()) {
      const std::string& value = attribute.second;
      if (attribute.first == "CN" && !p.common_name->Matches(value, s.vars)) {
        return fail("allowed.commonName", [&] { return Quote(value) + " does not match " + Quote(p.common_name->text()); });
      }
    }
  }
  if (p.dns_names) {
    if (auto* bad = FirstUnmatched(t.dns_names, *p.dns_names, s.vars)) {
      return fail("allowed.dnsNames", [&] { return Quote(*bad) + " matches none of " + QuotedList(*p.dns_names, text); });
    }
  }
  if (p.ip_ranges) {
    for (const auto& value : t.ip_addresses) {
      auto ip = IpAddress::Parse(value);
      if (!ip) return fail("allowed.ipAddresses", [&] { return Quote(value) + " is not an IP address"; });
      bool in = false;
      for (const auto& range : *p.ip_ranges) {
        if (range.Contains(*ip)) {
          in = true;
          break;
        }
      }
      if (!in) {
        return fail("allowed.ipAddresses", [&] { return Quote(value) + " is in none of " + QuotedList(*p.ip_ranges, text); });
      }
    }
  }
  if (p.uris) {
    if (auto* bad = FirstUnmatched(t.uris, *p.uris, s.vars)) {
      return fail("allowed.uris", [&] { return Quote(*bad) + " matches none of " + QuotedList(*p.uris, text); });
    }
  }
  if (p.email_addresses) {
    if (auto* bad = FirstUnmatched(t.email_addresses, *p.email_addresses, s.vars)) {
      return fail("allowed.emailAddresses",
                  [&] { return Quote(*bad) + " matches none of " + QuotedList(*p.email_addresses, text); });
    }
  }
  if (!p.subject.empty()) {
    for (const auto& attribute : t.subject.attributes()) {
      const std::string& type = attribute.first;
      const std::string& value = attribute.second;
      if (type == "CN") continue;
      const SubjectField* field = nullptr;
      for (const auto& f : kSubjectFields) {
        if (type == f.attribute) field = &f;
      }
      if (!field) {
        return fail("allowed.subject", [&] {
          return "the subject attribute " + type +
                 " is not allowed (a policy with allowed.subject allows only CN, O, OU, C, ST, L, street, postalCode "
                 "and serialNumber)";
        });
      }
      for (const auto& rule : p.subject) {
        if (rule.attribute != field->attribute) continue;
        bool ok = false;
        for (const auto& pattern : rule.patterns) {
          if (pattern.Matches(value, s.vars)) {
            ok = true;
            break;
          }
        }
        if (!ok) {
          return fail(rule.rule, [&] { return Quote(value) + " matches none of " + QuotedList(rule.patterns, text); });
        }
      }
    }
  }
  if (p.usages) {
    uint32_t extra_bits = s.key_usage & ~p.usages->key_usage;
    std::vector<int> extra_ext;
    bool extra = extra_bits != 0;
    for (int nid : s.effective.extended) {
      if (std::find(p.usages->extended.begin(), p.usages->extended.end(), nid) == p.usages->extended.end()) {
        extra = true;
        if (explain) extra_ext.push_back(nid);
      }
    }
    if (extra) {
      return fail("allowed.usages", [&] {
        const auto names = UsageNames(Usages{extra_bits, extra_ext});
        return Quote(names.empty() ? "" : names.front()) + " is not one of " +
               QuotedList(*a.usages, [](const std::string& u) -> const std::string& { return u; });
      });
    }
  }
  if (a.key_algorithms) {
    bool ok = false;
    for (const auto& k : *a.key_algorithms) {
      if (k.type == s.r.key.type && s.r.key.bits >= k.min_size) {
        ok = true;
        break;
      }
    }
    if (!ok) {
      return fail("allowed.keyAlgorithms", [&] {
        std::string allowed;
        for (const auto& k : *a.key_algorithms) allowed += (allowed.empty() ? "" : ", ") + KeyRuleName(k);
        return KeyName(s.r.key) + " keys are not allowed (allowed: " + (allowed.empty() ? "none" : allowed) + ")";
      });
    }
  }
  return CheckMinDuration(p, s, explain);
}

std::optional<std::chrono::seconds> Shorter(std::optional<std::chrono::seconds> a, std::optional<std::chrono::seconds> b) {
  if (!a) return b;
  if (!b) return a;
  return std::min(*a, *b);
}

// Of two allowing policies, the one that decides: the longer maxDuration (none is longest),
// then the first by name (`a` comes first).
bool Outranks(const CompiledPolicy& b, const CompiledPolicy& a) {
  const auto& ma = a.spec.constraints.max_duration;
  const auto& mb = b.spec.constraints.max_duration;
  if (!ma) return false;
  if (!mb) return true;
  return *mb > *ma;
}

PolicyDecision Deny(PolicyDecision d, std::string policy, const char* rule, std::string message) {
  d.allowed = false;
  d.policy = std::move(policy);
  d.rule = rule ? rule : "";
  d.message = std::move(message);
  return d;
}

}  // namespace

Result<std::shared_ptr<const CompiledPolicy>> Compile(std::string name, const PolicySpec& spec) {
  auto p = std::make_shared<CompiledPolicy>();
  p->name = std::move(name);
  p->spec = spec;
  p->grants = HasAllowed(spec.allowed);
  CW_ASSIGN_OR_RETURN(auto selector, CompileSelector(spec.selector));
  p->selector = std::move(selector);
  CW_RETURN_IF_ERROR(CompileAllowed(spec.allowed, *p));
  CW_RETURN_IF_ERROR(CompileDenied(spec.denied, *p));
  CW_RETURN_IF_ERROR(CheckConstraints(spec.constraints));
  return std::shared_ptr<const CompiledPolicy>(std::move(p));
}

// ---- PolicySet ----------------------------------------------------------------------------------

struct PolicySet::Impl {
  struct Entry {
    const CompiledPolicy* policy;
    uint64_t sequence;  // Add order, for equal names
    bool operator<(const Entry& o) const {
      if (int c = policy->name.compare(o.policy->name); c != 0) return c < 0;
      return sequence < o.sequence;
    }
  };
  std::vector<std::shared_ptr<const CompiledPolicy>> owned;
  // Policies whose issuerRefs all name one issuer exactly, by that name; the rest in `general`.
  // Each list is sorted by name.
  std::map<std::string, std::vector<Entry>, std::less<>> by_issuer;
  std::vector<Entry> general;
  uint64_t next_sequence = 0;

  void Insert(std::shared_ptr<const CompiledPolicy> p) {
    Entry e{p.get(), next_sequence++};
    owned.push_back(std::move(p));
    auto put = [&](std::vector<Entry>& list) { list.insert(std::upper_bound(list.begin(), list.end(), e), e); };
    std::vector<std::string> names;
    bool exact = e.policy->selector && !e.policy->selector->issuer_refs.empty();
    if (exact) {
      for (const auto& ref : e.policy->selector->issuer_refs) {
        if (ref.name.text().find('*') != std::string::npos) {
          exact = false;
          break;
        }
        if (std::find(names.begin(), names.end(), ref.name.text()) == names.end()) names.push_back(ref.name.text());
      }
    }
    if (!exact) return put(general);
    for (const auto& n : names) put(by_issuer[n]);
  }
};

PolicySet::PolicySet() : impl_(std::make_unique<Impl>()) {}
PolicySet::~PolicySet() = default;
PolicySet::PolicySet(PolicySet&&) noexcept = default;
PolicySet& PolicySet::operator=(PolicySet&&) noexcept = default;

void PolicySet::Add(std::shared_ptr<const CompiledPolicy> policy) {
  if (policy) impl_->Insert(std::move(policy));
}

void PolicySet::AddInvalid(std::string name, std::optional<PolicySelector> selector, std::string error) {
  auto p = std::make_shared<CompiledPolicy>();
  p->name = std::move(name);
  p->invalid = std::move(error);
  if (selector) {
    if (auto s = CompileSelector(*selector); s.ok()) p->selector = std::move(*s);
  }
  impl_->Insert(std::move(p));
}

size_t PolicySet::size() const { return impl_->owned.size(); }

PolicyDecision PolicySet::Evaluate(const PolicyRequest& r, bool policy_required) const {
  PolicyDecision d;
  if (r.tmpl == nullptr) {
    return Deny(std::move(d), "", nullptr, "internal error: the policy request has no certificate template");
  }

  // The selecting policies, by name: the issuer's own index entry merged with the general list.
  std::vector<const CompiledPolicy*> selected;
  {
    static const std::vector<Impl::Entry> kNone;
    auto it = impl_->by_issuer.find(std::string_view(r.issuer_name));
    const auto& a = it == impl_->by_issuer.end() ? kNone : it->second;
    const auto& b = impl_->general;
    size_t i = 0, j = 0;
    while (i < a.size() || j < b.size()) {
      const Impl::Entry& e = (j == b.size() || (i < a.size() && a[i] < b[j])) ? a[i++] : b[j++];
      if (Selects(*e.policy, r)) selected.push_back(e.policy);
    }
  }
  d.selected.reserve(selected.size());
  for (const auto* p : selected) d.selected.push_back(p->name);

  // No granting policy selects: what the issuer's policy setting says. `max`: the restrictions'.
  auto without_grant = [&](std::optional<std::chrono::seconds> max) {
    if (policy_required) {
      const std::string kind = r.issuer_kind.empty() ? "issuer" : r.issuer_kind;
      return Deny(std::move(d), "", nullptr,
                  kind + " " + Quote(r.issuer_name) +
                      " requires a CertificatePolicy (policy: Required) and none selects this request (" +
                      (r.ns.empty() ? std::string("no namespace") : "namespace " + Quote(r.ns)) + ", door " +
                      std::string(DoorName(r.door)) + ")");
    }
    if (r.tmpl->is_ca) {
      return Deny(std::move(d), "", nullptr,
                  "CA certificates need a CertificatePolicy with allowed.isCA: true, and none selects this request");
    }
    if (max && r.tmpl->duration > *max) d.max_duration = *max;
    return std::move(d);
  };
  if (selected.empty()) return without_grant(std::nullopt);

  const Subject s = Describe(r, *r.tmpl);

  // Invalid policies and denied rules, of granting and restricting policies alike: any one denies.
  for (const auto* p : selected) {
    if (p->invalid) {
      return Deny(std::move(d), p->name, nullptr,
                  "CertificatePolicy " + Quote(p->name) + " is invalid and denies what it selects: " + *p->invalid);
    }
    if (Verdict v = CheckDenied(*p, s, false); v.rule) {
      v = CheckDenied(*p, s, true);
      return Deny(std::move(d), p->name, v.rule, std::move(v.message));
    }
  }

  // Restricting policies (no `allowed`): minDuration denies, the shortest maxDuration applies.
  std::optional<std::chrono::seconds> max;
  size_t granting = 0;
  for (const auto* p : selected) {
    if (p->grants) {
      ++granting;
      continue;
    }
    if (CheckMinDuration(*p, s, false).rule) {
      Verdict v = CheckMinDuration(*p, s, true);
      return Deny(std::move(d), p->name, v.rule, std::move(v.message));
    }
    max = Shorter(max, p->spec.constraints.max_duration);
  }

  if (granting == 0) return without_grant(max);

  // One allowing policy suffices; the one with the longest maxDuration decides.
  const CompiledPolicy* best = nullptr;
  const CompiledPolicy* only = nullptr;  // the granting policy, when there is one
  for (const auto* p : selected) {
    if (!p->grants) continue;
    only = p;
    if (CheckAllowed(*p, s, false).rule) continue;
    if (!best || Outranks(*p, *best)) best = p;
  }
  if (best) {
    d.policy = best->name;
    max = Shorter(max, best->spec.constraints.max_duration);
    if (max && r.tmpl->duration > *max) d.max_duration = *max;
    const auto& path = best->spec.allowed.max_path_length;
    if (r.tmpl->is_ca && path && (!r.tmpl->max_path_length || *r.tmpl->max_path_length > *path)) {
      d.max_path_length = *path;
    }
    return d;
  }

  if (granting == 1) {
    Verdict v = CheckAllowed(*only, s, true);
    return Deny(std::move(d), only->name, v.rule, std::move(v.message));
  }
  std::string message = "no CertificatePolicy allows this request: ";
  bool first = true;
  for (const auto* p : selected) {
    if (!p->grants) continue;
    if (!first) message += "; ";
    first = false;
    message += CheckAllowed(*p, s, true).message;
  }
  return Deny(std::move(d), "", nullptr, std::move(message));
}

bool LabelsMatch(const std::map<std::string, std::string>& match_labels,
                 const std::vector<LabelSelectorRequirement>& match_expressions,
                 const std::map<std::string, std::string>& labels) {
  for (const auto& [k, v] : match_labels) {
    auto it = labels.find(k);
    if (it == labels.end() || it->second != v) return false;
  }
  for (const auto& e : match_expressions) {
    auto it = labels.find(e.key);
    const bool found = it != labels.end();
    const bool in = found && std::find(e.values.begin(), e.values.end(), it->second) != e.values.end();
    if (e.op == "In" && !in) return false;
    if (e.op == "NotIn" && in) return false;
    if (e.op == "Exists" && !found) return false;
    if (e.op == "DoesNotExist" && found) return false;
  }
  return true;
}

Status CheckLabelRequirements(const std::vector<LabelSelectorRequirement>& match_expressions, std::string_view field) {
  for (size_t i = 0; i < match_expressions.size(); ++i) {
    const auto& e = match_expressions[i];
    const std::string at = Indexed(field, i);
    if (e.key.empty()) return FieldError(at + ".key", "is required");
    if (e.op == "In" || e.op == "NotIn") {
      if (e.values.empty()) return FieldError(at + ".values", "values must be set when operator is In or NotIn");
    } else if (e.op == "Exists" || e.op == "DoesNotExist") {
      if (!e.values.empty()) {
        return FieldError(at + ".values", "values must be empty when operator is Exists or DoesNotExist");
      }
    } else {
      return FieldError(at + ".operator", "must be In, NotIn, Exists or DoesNotExist (got " + Quote(e.op) + ")");
    }
  }
  return Ok();
}

}  // namespace certwright::signer::policy
