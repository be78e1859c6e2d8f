// The CertificatePolicy resource (certwright.dev/v1alpha1, cluster-scoped), parsed into the
// policy engine's PolicySpec (signer/policy.h).
//
//   auto spec = api::ParsePolicySpec(object["spec"]);
//   if (!spec.ok()) ...;                  // "spec.allowed.ipAddresses[1]: must be a CIDR such as ..."
//   auto policy = signer::policy::Compile(name, *spec);
//
// ParsePolicySpec() checks what the CRD schema and its CEL rules check, with the same messages
// prefixed by the field path, and compiles the policy once so that what only the engine can
// judge (pattern syntax, CIDRs, usages) is reported here too: a spec it accepts always compiles.
// docs/policy.md describes the fields.
#pragma once

#include "certwright/api/meta.h"
#include "certwright/signer/policy.h"

namespace certwright::api {

namespace resources {
inline const kube::Resource kCertificatePolicies{"certwright.dev", "v1alpha1", "certificatepolicies",
                                                 "CertificatePolicy", false};
}  // namespace resources

// `spec` is the CertificatePolicy's .spec. Errors are kInvalidArgument with the field path.
Result<signer::policy::PolicySpec> ParsePolicySpec(const Json& spec);

// Only spec.selector, for a policy whose other parts are invalid: it still denies what this
// selects (PolicySet::AddInvalid).
Result<signer::policy::PolicySelector> ParsePolicySelector(const Json& spec);

// Door names as the CRD's spec.selector.doors spells them ("Certificate", ...); nullopt for
// anything else (KubernetesSigner is internal and not selectable).
std::optional<signer::policy::Door> ParseDoor(std::string_view name);

}  // namespace certwright::api
