// CompiledPolicy: a PolicySpec with its patterns compiled, its CIDRs parsed and its usages as
// bits. Internal to signer/policy; policy.h only declares it.
#pragma once

#include <optional>
#include <string>
#include <vector>

#include "certwright/signer/policy.h"
#include "patterns.h"

namespace certwright::signer::policy {

namespace internal {

struct CompiledSelector {
  struct IssuerRef {
    Pattern name;
    std::string kind;  // "" = either
  };
  std::vector<IssuerRef> issuer_refs;
  std::vector<Pattern> namespace_names;
  std::map<std::string, std::string> match_labels;
  std::vector<LabelSelectorRequirement> match_expressions;
  bool has_namespace_part = false;
  struct ServiceAccount {
    Pattern ns, name;  // "ns/name" split at the '/'
  };
  std::vector<Pattern> users, groups;
  std::vector<ServiceAccount> service_accounts;
  bool has_requesters = false;
  uint32_t doors = 0;  // bit per Door; 0 = every door
};

struct CompiledSubjectRule {
  const char* attribute;  // the DistinguishedName attribute type: "O", "OU", ...
  const char* rule;       // "allowed.subject.organizations"
  std::vector<Pattern> patterns;
};

}  // namespace internal

class CompiledPolicy {
 public:
  std::string name;

  // Set for a policy added with AddInvalid: it denies what it selects with this error.
  std::optional<std::string> invalid;
  // nullopt (only for invalid policies without a usable selector): selects every request.
  std::optional<internal::CompiledSelector> selector;

  PolicySpec spec;  // as written, for messages
  // The spec has an `allowed` section: the policy grants what it allows. Without one it only
  // restricts (denied rules, minDuration, maxDuration).
  bool grants = false;

  // allowed
  std::optional<internal::Pattern> common_name;
  std::optional<std::vector<internal::Pattern>> dns_names, uris;
  std::optional<std::vector<internal::EmailPattern>> email_addresses;
  std::optional<std::vector<internal::IpRange>> ip_ranges;
  std::vector<internal::CompiledSubjectRule> subject;  // only the lists that are set
  std::optional<Usages> usages;
  // denied
  std::vector<internal::Pattern> denied_dns_names, denied_uris;
  std::vector<internal::EmailPattern> denied_email_addresses;
  std::vector<internal::IpRange> denied_ip_ranges;
};

}  // namespace certwright::signer::policy
