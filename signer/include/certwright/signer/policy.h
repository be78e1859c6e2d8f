// Issuance policy: may this request be signed, and for how long?
//
// One engine for every front door. The issuance service (operator/issuance/) evaluates it before
// every signature; the admission webhook runs the same evaluation at `kubectl apply` time, so a
// rule gives the same message at every door. No Kubernetes here: policies arrive parsed
// (operator/api/policy.h parses the CertificatePolicy resource into a PolicySpec), requests as
// plain data.
//
//   PolicySet set;                               // immutable once built; share it
//   set.Add(Compile("web", spec).value());       // a policy that does not compile is kept, and
//                                                // denies what it selects (fail closed)
//   PolicyRequest r{.door = Door::kCertificate, .ns = "team-a", .name = "web", ...};
//   PolicyDecision d = set.Evaluate(r, /*policy_required=*/false);
//   if (!d.allowed) return PolicyDenied(d.message);   // "CertificatePolicy \"web\": allowed.dnsNames: ..."
//
// Semantics (docs/policy.md has them with examples):
//   - A policy *selects* a request when every part of its selector matches (an omitted part
//     matches everything).
//   - A policy *grants* only when its spec has an `allowed` section (AllowedRules::present; even
//     `allowed: {}`, which grants with no restriction). A policy without one is a *restriction*:
//     it can deny and shorten, never allow.
//   - Any `denied` rule of any selecting policy, granting or restricting, that matches the request
//     denies it; so does a selecting restriction's minDuration when the request is shorter.
//   - Otherwise the request needs one selecting granting policy whose `allowed` rules and
//     `constraints` it satisfies entirely (one allowing policy suffices).
//   - No selecting granting policy: allowed, unless the issuer says `policy: Required`, or the
//     request is for a CA certificate (a CA needs a policy with `allowed.isCA: true`).
//     Restrictions alone never meet `policy: Required`.
//   - In `allowed`, an omitted field does not restrict; an empty list allows nothing of that kind.
//   - Durations: a request longer than the allowing policy's maxDuration or any selecting
//     restriction's is shortened to the shortest of them (as an issuer's maxDuration shortens);
//     shorter than the allowing policy's or a restriction's minDuration is denied.
#pragma once

#include <chrono>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "certwright/signer/key.h"
#include "certwright/signer/result.h"
#include "certwright/signer/x509.h"

namespace certwright::signer::policy {

// The front door a request came through.
// kKubernetesSigner (the kubernetes.io drop-in) and kIssuerBootstrap (an issuer's key signing its
// own root or CA request) are internal: policies cannot select them by name.
enum class Door { kCertificate, kCertificateSigningRequest, kPodCertificateRequest, kKubernetesSigner, kIssuerBootstrap };
// "Certificate", "CertificateSigningRequest", "PodCertificateRequest", "KubernetesSigner",
// "IssuerBootstrap".
std::string_view DoorName(Door door);

// ---------------------------------------------------------------------------------------------
// The policy as written (the CertificatePolicy resource's spec, already JSON-decoded).

struct LabelSelectorRequirement {
  std::string key;
  std::string op;  // In, NotIn, Exists, DoesNotExist
  std::vector<std::string> values;
};

// metav1.LabelSelector semantics: every matchLabels pair and every requirement holds.
bool LabelsMatch(const std::map<std::string, std::string>& match_labels,
                 const std::vector<LabelSelectorRequirement>& match_expressions,
                 const std::map<std::string, std::string>& labels);
// Each requirement's operator and values, as the API server checks them; errors name
// `field`[i] ("spec.target.namespaceSelector.matchExpressions[0].values: ...").
Status CheckLabelRequirements(const std::vector<LabelSelectorRequirement>& match_expressions, std::string_view field);

struct IssuerRefSelector {
  std::string name;  // glob ("*" any run of characters); "" = any
  std::string kind;  // Issuer, ClusterIssuer; "" = either
};

struct PolicySelector {
  std::vector<IssuerRefSelector> issuer_refs;  // empty: every issuer
  // Namespaces: by name (globs) and/or by labels (metav1.LabelSelector semantics). For a
  // cluster-scoped request (a CSR) the namespace is the requester's ServiceAccount namespace, if
  // any; a request with no namespace matches only a selector without namespace parts.
  std::vector<std::string> namespace_names;
  std::map<std::string, std::string> namespace_match_labels;
  std::vector<LabelSelectorRequirement> namespace_match_expressions;
  // Who asked (CSR and PodCertificateRequest doors). A policy with any of these set never selects
  // a Certificate (whose requester is its namespace). Globs; serviceAccounts as "ns/name".
  std::vector<std::string> users, groups, service_accounts;
  std::vector<Door> doors;  // empty: every door
};

struct KeyAlgorithmRule {
  KeyType type = KeyType::kEcdsa;
  int min_size = 0;  // bits; 0: any size the signer accepts
};

struct SubjectRules {
  std::optional<std::vector<std::string>> organizations, organizational_units, countries, provinces, localities,
      street_addresses, postal_codes, serial_numbers;
};

// What may appear. nullopt: not restricted. Patterns may use {{namespace}}, {{name}} and
// {{serviceAccount}}; DNS and email-domain globs: "*" matches one label part (no '.'), "**" any
// run of labels; URI globs: "*" matches none of / ? # @ :, "**" anything; other globs: "*"
// anything. DNS names and email domains match case-insensitively, the rest exactly. A pattern
// using a variable the request has no value for matches nothing, and so does one whose value
// does not fit where it stands: one DNS label in DNS names and email domains, no URI delimiter,
// '*', '%', backslash or whitespace in URIs, only letters, digits and . _ + - in email local parts.
// docs/policy.md has the details.
struct AllowedRules {
  // The spec has an `allowed` section (even `allowed: {}`): the policy grants. Without it the
  // policy only restricts. The parser sets it; a spec built in code that sets any field below
  // counts as having the section too.
  bool present = false;
  std::optional<std::string> common_name;  // one glob
  std::optional<std::vector<std::string>> dns_names, uris, email_addresses;
  std::optional<std::vector<std::string>> ip_ranges;  // CIDRs ("10.0.0.0/8", "fd00::/8", "192.0.2.1/32")
  SubjectRules subject;
  std::optional<std::vector<std::string>> usages;       // cert-manager usage names
  std::optional<std::vector<KeyAlgorithmRule>> key_algorithms;
  bool is_ca = false;                                    // may issue CA certificates
  std::optional<int> max_path_length;                    // for CA certificates (needs is_ca)
};

// What may not appear (any match denies, whatever other policies allow). Matching fails closed:
// a requested wildcard ("*.example.com") is denied when a name it covers would be; DNS names and
// email domains ignore case and trailing dots; email local parts ignore case and one level of
// double quotes; a value longer than 4095 characters is denied unchecked.
struct DeniedRules {
  std::vector<std::string> dns_names, uris, email_addresses, ip_ranges;
};

struct Constraints {
  std::optional<std::chrono::seconds> min_duration, max_duration;
};

struct PolicySpec {
  PolicySelector selector;
  AllowedRules allowed;
  DeniedRules denied;
  Constraints constraints;
};

// ---------------------------------------------------------------------------------------------
// A request as the engine sees it.

struct PolicyRequest {
  Door door = Door::kCertificate;
  std::string ns;    // the namespace the request belongs to ("" for none)
  std::map<std::string, std::string> namespace_labels;
  std::string name;  // the Certificate's (or CSR's) name, for {{name}}
  std::string issuer_kind;  // Issuer, ClusterIssuer
  std::string issuer_name;
  // Requester (CSR/PCR doors): user name, groups, and the ServiceAccount ("ns", "name") when the
  // user is system:serviceaccount:<ns>:<name>.
  std::string user;
  std::vector<std::string> groups;
  std::optional<std::pair<std::string, std::string>> service_account;
  // What would be signed: the template (subject, SANs, usages, isCA, path length, duration) and
  // the subject public key's type.
  const CertificateTemplate* tmpl = nullptr;
  KeySpec key;
};

struct PolicyDecision {
  bool allowed = true;
  // The deciding policy: the allowing one, the denying one, or the only selecting granting one;
  // "" when no granting policy selected the request or several failed.
  std::string policy;
  std::string rule;     // the deciding rule ("allowed.dnsNames", "denied.ipAddresses", ...); "" if none
  std::string message;  // for users: names the policy, the rule and the offending value; "" if allowed
  std::vector<std::string> selected;  // names of the policies that selected the request (all kinds)
  // The limits for the issuance service to apply. Set only when the request exceeds them, so the
  // caller shortens to them: max_duration (the shortest of the allowing policy's and the selecting
  // restrictions' maxDuration) when tmpl->duration is longer, max_path_length (the allowing
  // policy's) when a CA template's max_path_length is unset (unlimited) or larger.
  std::optional<std::chrono::seconds> max_duration;
  std::optional<int> max_path_length;
};

// A policy compiled for fast evaluation (patterns pre-split, CIDRs parsed).
class CompiledPolicy;

// Compiles a policy. Errors (kInvalidArgument) name the field: "allowed.ipAddresses[2]: ...".
Result<std::shared_ptr<const CompiledPolicy>> Compile(std::string name, const PolicySpec& spec);

// Every policy in force. Build one, then share it read-only (copy-on-write by the owner).
class PolicySet {
 public:
  PolicySet();
  ~PolicySet();
  PolicySet(PolicySet&&) noexcept;
  PolicySet& operator=(PolicySet&&) noexcept;

  void Add(std::shared_ptr<const CompiledPolicy> policy);
  // A policy that failed to compile: it denies every request its selector (if that compiled)
  // selects, with `error` as the message. With no usable selector it selects every request.
  void AddInvalid(std::string name, std::optional<PolicySelector> selector, std::string error);
  size_t size() const;

  // `policy_required`: the issuer's `policy: Required` (no selecting policy = denied).
  PolicyDecision Evaluate(const PolicyRequest& request, bool policy_required) const;

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

}  // namespace certwright::signer::policy
