// Issuer and ClusterIssuer (certwright.dev/v1alpha1), parsed and validated: exactly one of
// selfSigned, ca, pkcs11, awsKMS, and the limits on what they sign. Messages match the CRD's
// CEL rules, prefixed by the field path.
#pragma once

#include <chrono>
#include <optional>
#include <string>

#include "certwright/api/certificate.h"
#include "certwright/api/meta.h"
#include "certwright/signer/x509.h"

namespace certwright::api {

struct SecretKeyRef {
  std::string name;
  std::string key;
};

struct BootstrapSpec {
  std::string mode;  // SelfSigned, CSR
  signer::DistinguishedName subject;
  std::chrono::seconds duration = std::chrono::hours(87600);
  std::optional<signer::KeySpec> key_spec;  // nullopt: use an existing key as it is (P-256 if made)
};

struct Pkcs11IssuerSpec {
  std::string module_path;
  std::string key_uri;  // "pkcs11:token=...;object=..." without a query
  SecretKeyRef pin_secret;
  std::optional<SecretKeyRef> ca_secret;
  std::optional<BootstrapSpec> bootstrap;
};

struct AwsKmsIssuerSpec {
  std::string key_id;
  std::string region;
  std::string endpoint;
  std::optional<std::string> credentials_secret;  // keys access-key-id, secret-access-key, session-token
  std::optional<SecretKeyRef> ca_secret;
  std::optional<BootstrapSpec> bootstrap;
};

// spec.podCertificates: how the issuer answers PodCertificateRequests (docs/pod-certificates.md).
struct PodCertificatesSpec {
  // The SPIFFE trust domain of the pods' identities: spiffe://<trust domain>/ns/<ns>/sa/<sa>.
  std::string trust_domain = "cluster.local";
  // How long before signing the certificates start (notBefore), for clocks a little behind. The
  // API wants notBefore within 5 minutes of its clock: 0..4m, default 1m (step-ca's backdate).
  std::chrono::seconds backdate{60};
  // How long before notAfter kubelet is told to fetch the next one (beginRefreshAt). Unset: at two
  // thirds of the lifetime. Always within the API's [notBefore + 10m, notAfter - 10m].
  std::optional<std::chrono::seconds> refresh_before;
};

// The longest spec.podCertificates.backdate: the API refuses a notBefore more than 5 minutes from
// its own clock, and a minute is left for the clocks to differ.
inline constexpr std::chrono::seconds kMaxPodCertificateBackdate{240};

// Whether `name` is a SPIFFE trust domain name: 1-255 of [a-z0-9._-] (the SPIFFE ID spec, §2.1).
bool IsTrustDomain(std::string_view name);

struct IssuerSpec {
  enum class Type { kSelfSigned, kCa, kPkcs11, kAwsKms } type = Type::kSelfSigned;
  std::string ca_secret_name;  // kCa
  Pkcs11IssuerSpec pkcs11;
  AwsKmsIssuerSpec aws_kms;
  std::optional<std::chrono::seconds> max_duration, min_duration;
  // spec.policy: Required signs only what a CertificatePolicy selects and allows.
  bool policy_required = false;
  PodCertificatesSpec pod_certificates;
};

// `spec` is the Issuer's .spec.
Result<IssuerSpec> ParseIssuerSpec(const Json& spec);
// "selfSigned", "ca", "pkcs11", "awsKMS": for metrics and messages.
std::string_view TypeName(IssuerSpec::Type type);

// The CA key's type when the issuer's spec says it: a pkcs11 or awsKMS bootstrap's keyAlgorithm
// and keySize. nullopt for a `ca` issuer (the key is in a Secret), selfSigned (no CA key) and an
// existing HSM/KMS key (of whatever type it is). A Certificate that writes neither
// privateKey.algorithm nor size gets this type (webhook and controller alike).
std::optional<signer::KeySpec> CaKeySpec(const IssuerSpec& spec);

}  // namespace certwright::api
