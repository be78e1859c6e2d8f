// A Ready issuer as the issuance service signs with it: its spec (limits, custody-relevant
// configuration), the key backend's name, and the CA (key + chain) or, for selfSigned, none.
#pragma once

#include <optional>
#include <string>

#include "certwright/api/issuer.h"
#include "certwright/signer/x509.h"

namespace certwright::issuance {

struct IssuerHandle {
  std::string kind;  // Issuer, ClusterIssuer
  std::string ns;    // "" for a ClusterIssuer
  std::string name;
  api::IssuerSpec spec;
  std::string backend;  // key backend for metrics and audit: "file", "pkcs11", "awskms", "self"
  // The CA that signs; nullopt for selfSigned (each certificate signs itself).
  std::optional<signer::CertificateAuthority> ca;
  // Hex SHA-256 of the CA certificate (DER); "" for selfSigned. A change re-issues certificates.
  std::string ca_sha256;
  // The issuer's certwright.dev/reissue annotation ("" none): Certificates issued under another
  // token are re-issued.
  std::string reissue_token;

  // "ClusterIssuer corp-ca", "Issuer team-a/web-ca": how messages name it.
  std::string Describe() const { return kind + " " + (ns.empty() ? "" : ns + "/") + name; }
  // "ClusterIssuer/corp-ca", "Issuer/team-a/web-ca": the IssuerStore key.
  std::string Key() const { return kind + "/" + (ns.empty() ? "" : ns + "/") + name; }
};

}  // namespace certwright::issuance
