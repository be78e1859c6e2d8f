// The Certificate resource (certwright.dev/v1alpha1), parsed and validated.
//
// ParseCertificateSpec() checks everything the CRD schema and its CEL rules check, with the same
// messages prefixed by the field path ("spec.renewBefore: renewBefore must be shorter than
// duration"), plus what only code can check (names the signer would refuse). The webhook and the
// controller both call it, so a Certificate that got past one door is judged the same at the next.
#pragma once

#include <chrono>
#include <map>
#include <optional>
#include <string>
#include <vector>

#include "certwright/api/meta.h"
#include "certwright/signer/key.h"
#include "certwright/signer/x509.h"

namespace certwright::api {

struct SubjectSpec {
  std::vector<std::string> organizations, organizational_units, countries, provinces, localities, street_addresses,
      postal_codes;
  std::string serial_number;
};

struct PrivateKeySpec {
  std::string algorithm = "ECDSA";       // ECDSA, RSA, Ed25519
  int size = 0;                          // 0: the algorithm's default
  // Neither algorithm nor size was written: the issuer's CA key type applies when its spec names
  // it (api::CaKeySpec; the webhook writes it into the spec, the controller applies it when there
  // is no webhook), else ECDSA P-256.
  bool defaulted = true;
  std::string encoding = "PKCS1";        // PKCS1, PKCS8
  std::string rotation_policy = "Always";  // Always, Never

  signer::KeySpec KeySpec() const;
};

struct IssuerRef {
  std::string name;
  std::string kind = "Issuer";  // Issuer, ClusterIssuer
  std::string group = "certwright.dev";
};

struct CertificateSpec {
  std::string secret_name;
  std::string common_name;
  std::vector<std::string> dns_names, ip_addresses, uris, email_addresses;
  SubjectSpec subject;
  std::chrono::seconds duration = std::chrono::hours(2160);
  std::optional<std::chrono::seconds> renew_before;
  std::optional<int> renew_before_percentage;
  PrivateKeySpec private_key;
  std::vector<std::string> usages;
  bool is_ca = false;
  IssuerRef issuer_ref;
  std::map<std::string, std::string> secret_labels, secret_annotations;
};

// `spec` is the Certificate's .spec. Errors are kInvalidArgument with the field path.
Result<CertificateSpec> ParseCertificateSpec(const Json& spec);

// The subject DN of a spec (CN then O, OU, C, ST, L, street, postalCode, serialNumber).
signer::DistinguishedName SubjectOf(const CertificateSpec& spec);
// The template the signer issues from. Usages: the spec's, or the signer's defaults when empty.
Result<signer::CertificateTemplate> TemplateOf(const CertificateSpec& spec);

// When to renew a certificate valid from not_before to not_after: renewBefore before the end,
// or renewBeforePercentage of the actual lifetime before it, or a third of the lifetime by
// default (cert-manager's rule); never before not_before.
TimePoint RenewalTime(const CertificateSpec& spec, TimePoint not_before, TimePoint not_after);

// A digest of what the issued certificate is made from (names, subject, usages, isCA, key
// algorithm and size, duration, issuer). Stored on the Secret: when it differs, re-issue.
std::string SpecHash(const CertificateSpec& spec);

}  // namespace certwright::api
