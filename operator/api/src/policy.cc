#include "certwright/api/policy.h"

#include <climits>

#include "fields.h"

namespace certwright::api {

using internal::Fields;
using internal::ForEachObject;
using internal::Indexed;
namespace pol = signer::policy;

std::optional<pol::Door> ParseDoor(std::string_view name) {
  for (pol::Door d : {pol::Door::kCertificate, pol::Door::kCertificateSigningRequest, pol::Door::kPodCertificateRequest}) {
    if (pol::DoorName(d) == name) return d;
  }
  return std::nullopt;
}

namespace {

// A list that, when present, must not be empty: in a selector an empty list would read as
// "nothing" but an omitted one means "everything".
Result<std::vector<std::string>> SelectorList(const Fields& f, std::string_view field) {
  CW_ASSIGN_OR_RETURN(auto list, f.StringList(field));
  if (f.Has(field) && list.empty()) return f.Invalid(field, "must not be empty; omit it to select everything");
  return list;
}

// Present (even empty): the list; absent: nullopt ("not restricted").
Result<std::optional<std::vector<std::string>>> OptionalList(const Fields& f, std::string_view field) {
  if (!f.Has(field)) return std::optional<std::vector<std::string>>();
  CW_ASSIGN_OR_RETURN(auto list, f.StringList(field));
  return std::optional<std::vector<std::string>>(std::move(list));
}

Result<pol::PolicySelector> ParseSelector(const Fields& spec) {
  CW_ASSIGN_OR_RETURN(Fields f, spec.Object("selector"));
  pol::PolicySelector s;
  if (f.Has("issuerRefs") && f.At("issuerRefs").is_array() && f.At("issuerRefs").empty()) {
    return f.Invalid("issuerRefs", "must not be empty; omit it to select everything");
  }
  CW_RETURN_IF_ERROR(ForEachObject(f, "issuerRefs", [&](const Fields& ref) -> Status {
    pol::IssuerRefSelector r;
    CW_ASSIGN_OR_RETURN(r.name, ref.String("name"));
    CW_ASSIGN_OR_RETURN(r.kind, ref.String("kind"));
    s.issuer_refs.push_back(std::move(r));
    return Ok();
  }));

  CW_ASSIGN_OR_RETURN(Fields ns, f.Object("namespaces"));
  CW_ASSIGN_OR_RETURN(s.namespace_names, SelectorList(ns, "names"));
  CW_RETURN_IF_ERROR(internal::ParseLabelSelector(ns, s.namespace_match_labels, s.namespace_match_expressions));

  CW_ASSIGN_OR_RETURN(Fields who, f.Object("requesters"));
  CW_ASSIGN_OR_RETURN(s.users, SelectorList(who, "users"));
  CW_ASSIGN_OR_RETURN(s.groups, SelectorList(who, "groups"));
  CW_ASSIGN_OR_RETURN(s.service_accounts, SelectorList(who, "serviceAccounts"));

  CW_ASSIGN_OR_RETURN(auto doors, SelectorList(f, "doors"));
  for (size_t i = 0; i < doors.size(); ++i) {
    auto d = ParseDoor(doors[i]);
    if (!d) {
      return f.Invalid(Indexed("doors", i), "must be Certificate, CertificateSigningRequest or PodCertificateRequest (got \"" +
                                                doors[i] + "\")");
    }
    s.doors.push_back(*d);
  }
  return s;
}

Result<pol::AllowedRules> ParseAllowed(const Fields& spec) {
  CW_ASSIGN_OR_RETURN(Fields f, spec.Object("allowed"));
  pol::AllowedRules a;
  a.present = spec.Has("allowed");  // even `allowed: {}`: the policy grants (without, it only restricts)
  if (f.Has("commonName")) {
    CW_ASSIGN_OR_RETURN(std::string cn, f.String("commonName"));
    a.common_name = std::move(cn);
  }
  CW_ASSIGN_OR_RETURN(a.dns_names, OptionalList(f, "dnsNames"));
  CW_ASSIGN_OR_RETURN(a.ip_ranges, OptionalList(f, "ipAddresses"));
  CW_ASSIGN_OR_RETURN(a.uris, OptionalList(f, "uris"));
  CW_ASSIGN_OR_RETURN(a.email_addresses, OptionalList(f, "emailAddresses"));

  CW_ASSIGN_OR_RETURN(Fields subject, f.Object("subject"));
  pol::SubjectRules& s = a.subject;
  CW_ASSIGN_OR_RETURN(s.organizations, OptionalList(subject, "organizations"));
  CW_ASSIGN_OR_RETURN(s.organizational_units, OptionalList(subject, "organizationalUnits"));
  CW_ASSIGN_OR_RETURN(s.countries, OptionalList(subject, "countries"));
  CW_ASSIGN_OR_RETURN(s.provinces, OptionalList(subject, "provinces"));
  CW_ASSIGN_OR_RETURN(s.localities, OptionalList(subject, "localities"));
  CW_ASSIGN_OR_RETURN(s.street_addresses, OptionalList(subject, "streetAddresses"));
  CW_ASSIGN_OR_RETURN(s.postal_codes, OptionalList(subject, "postalCodes"));
  CW_ASSIGN_OR_RETURN(s.serial_numbers, OptionalList(subject, "serialNumbers"));

  CW_ASSIGN_OR_RETURN(a.usages, OptionalList(f, "usages"));

  if (f.Has("keyAlgorithms")) {
    a.key_algorithms.emplace();
    CW_RETURN_IF_ERROR(ForEachObject(f, "keyAlgorithms", [&](const Fields& k) -> Status {
      pol::KeyAlgorithmRule rule;
      CW_ASSIGN_OR_RETURN(std::string algorithm, k.RequiredString("algorithm"));
      if (algorithm == "RSA") {
        rule.type = signer::KeyType::kRsa;
      } else if (algorithm == "ECDSA") {
        rule.type = signer::KeyType::kEcdsa;
      } else if (algorithm == "Ed25519") {
        rule.type = signer::KeyType::kEd25519;
      } else {
        return k.Invalid("algorithm", "must be one of ECDSA, RSA, Ed25519 (got \"" + algorithm + "\")");
      }
      CW_ASSIGN_OR_RETURN(auto size, k.Integer("minSize"));
      if (size && (*size < 0 || *size > INT_MAX)) return k.Invalid("minSize", "must be between 0 and 2147483647");
      rule.min_size = size ? static_cast<int>(*size) : 0;
      a.key_algorithms->push_back(rule);
      return Ok();
    }));
  }

  CW_ASSIGN_OR_RETURN(a.is_ca, f.Bool("isCA"));
  CW_ASSIGN_OR_RETURN(auto path, f.Integer("maxPathLength"));
  if (path) {
    if (*path < 0 || *path > INT_MAX) return f.Invalid("maxPathLength", "must be between 0 and 2147483647");
    a.max_path_length = static_cast<int>(*path);
  }
  return a;
}

Result<pol::DeniedRules> ParseDenied(const Fields& spec) {
  CW_ASSIGN_OR_RETURN(Fields f, spec.Object("denied"));
  pol::DeniedRules d;
  CW_ASSIGN_OR_RETURN(d.dns_names, f.StringList("dnsNames"));
  CW_ASSIGN_OR_RETURN(d.ip_ranges, f.StringList("ipAddresses"));
  CW_ASSIGN_OR_RETURN(d.uris, f.StringList("uris"));
  CW_ASSIGN_OR_RETURN(d.email_addresses, f.StringList("emailAddresses"));
  return d;
}

Result<pol::Constraints> ParseConstraints(const Fields& spec) {
  CW_ASSIGN_OR_RETURN(Fields f, spec.Object("constraints"));
  pol::Constraints c;
  CW_ASSIGN_OR_RETURN(c.min_duration, internal::DurationField(f, "minDuration", std::chrono::seconds(0), "0s"));
  CW_ASSIGN_OR_RETURN(c.max_duration, internal::DurationField(f, "maxDuration", std::chrono::seconds(0), "0s"));
  return c;
}

// What only the engine judges (patterns, CIDRs, usages, cross-field rules), with its field
// names under "spec.".
Status CheckCompiles(const pol::PolicySpec& spec) {
  auto compiled = pol::Compile("", spec);
  if (!compiled.ok()) return InvalidArgument("spec." + compiled.error().message());
  return Ok();
}

}  // namespace

Result<pol::PolicySpec> ParsePolicySpec(const Json& json) {
  if (!json.is_object()) return InvalidArgument("spec: must be an object");
  const Fields f(json, "spec");
  pol::PolicySpec spec;
  CW_ASSIGN_OR_RETURN(spec.selector, ParseSelector(f));
  CW_ASSIGN_OR_RETURN(spec.allowed, ParseAllowed(f));
  CW_ASSIGN_OR_RETURN(spec.denied, ParseDenied(f));
  CW_ASSIGN_OR_RETURN(spec.constraints, ParseConstraints(f));
  CW_RETURN_IF_ERROR(CheckCompiles(spec));
  return spec;
}

Result<pol::PolicySelector> ParsePolicySelector(const Json& json) {
  if (!json.is_object()) return InvalidArgument("spec: must be an object");
  const Fields f(json, "spec");
  pol::PolicySpec spec;
  CW_ASSIGN_OR_RETURN(spec.selector, ParseSelector(f));
  CW_RETURN_IF_ERROR(CheckCompiles(spec));
  return std::move(spec.selector);
}

}  // namespace certwright::api
