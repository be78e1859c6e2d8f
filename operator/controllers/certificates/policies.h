// "Does this Certificate need a new certificate?" as an ordered chain of small checks
// (STYLE.md §5, after cert-manager's policies.go). The first that fires gives the reason.
#pragma once

#include <optional>
#include <string>

#include "certwright/api/certificate.h"
#include "certwright/controllers/issuer_store.h"
#include "certwright/signer/ossl.h"

namespace certwright::controllers::certificates {

// The Secret at spec.secretName, parsed once for all checks.
struct SecretState {
  bool exists = false;
  std::string crt_pem;  // tls.crt
  std::string key_pem;  // tls.key
  ossl::X509Ptr leaf;   // first certificate of tls.crt, if it parses
  ossl::PKey key;       // tls.key, if it parses
  std::string spec_hash;
  std::string issuer_ca_sha256;
  std::string reissue_token;

  static SecretState From(const kube::Json* secret);
};

struct Trigger {
  std::string reason;   // CamelCase, for the Issuing condition and the Event
  std::string message;  // for people
};

struct PolicyInput {
  const api::CertificateSpec& spec;
  const SecretState& secret;
  const IssuerHandle& issuer;
  api::TimePoint now;
};

// nullopt: the Secret is up to date.
std::optional<Trigger> NeedsIssuance(const PolicyInput& in);

}  // namespace certwright::controllers::certificates
