// Trust bundles: a set of CA certificates gathered from several sources, de-duplicated, sorted
// and without expired certificates, written as PEM, as a Java KeyStore (JKS) and as a PKCS#12
// trust store. Used by the TrustBundle controller (docs/trust.md); no Kubernetes here.
//
//   signer::TrustSetBuilder builder;
//   CW_RETURN_IF_ERROR(builder.AddPem(configmap_value, "ConfigMap certwright/roots key ca.crt"));
//   builder.Add(issuer_root, "ClusterIssuer corp-ca");
//   signer::TrustSet set = builder.Build(clock.Now());
//   for (const auto& e : set.expired) Warn(e);          // "CN=Old Root (sha256 3f2a…) expired …"
//   std::string pem = set.Pem();
//   CW_ASSIGN_OR_RETURN(ossl::Bytes jks, signer::EncodeJks(set, "changeit"));
//   CW_ASSIGN_OR_RETURN(ossl::Bytes p12, signer::EncodePkcs12(set, "changeit"));
//
// Determinism: the same certificates give the same PEM and the same JKS bytes, whatever the order
// and repetition of the sources (sorted by SHA-256 fingerprint; JKS entry dates are the
// certificates' notBefore), so a controller can compare what it would write with what is there.
// PKCS#12 encryption is salted: its bytes differ each time; compare the PEM instead.
#pragma once

#include <chrono>
#include <string>
#include <string_view>
#include <vector>

#include "certwright/signer/ossl.h"
#include "certwright/signer/result.h"

namespace certwright::signer {

// A trust source may be larger than a CSR or chain (Debian's ca-certificates set is ~220 KB).
inline constexpr size_t kMaxTrustSourceBytes = 1024 * 1024;

struct TrustAnchor {
  ossl::X509Ptr cert;
  std::string sha256;   // lower-case hex of the DER: the identity used to de-duplicate and sort
  std::string subject;  // RFC 2253 ("CN=Example Root,O=Example"), for messages
  std::chrono::system_clock::time_point not_before, not_after;
  std::string pem;
  ossl::Bytes der;
  std::string source;  // the first source that had it, for messages
};

struct TrustSet {
  std::vector<TrustAnchor> anchors;  // unique, sorted by sha256
  // One line per expired (or not yet valid) certificate left out: subject, fingerprint, source.
  std::vector<std::string> dropped;
  // The anchors' PEM, concatenated in order ("" when empty).
  std::string Pem() const;
  // SHA-256 of Pem(): names the content (annotations, status).
  std::string Sha256() const;
};

class TrustSetBuilder {
 public:
  // Every certificate in `pem` (PEM blocks, text between them allowed). Errors name `what` and
  // the block: a block that is not a CERTIFICATE (a private key pasted by mistake is refused, and
  // never echoed), one that does not decode, input over kMaxTrustSourceBytes, no block at all.
  // A source that fails adds nothing.
  Status AddPem(std::string_view pem, std::string_view what);
  void Add(X509* cert, std::string_view what);
  // De-duplicates, sorts and drops certificates not valid at `now`.
  TrustSet Build(std::chrono::system_clock::time_point now) const;
  size_t size() const { return certs_.size(); }

 private:
  struct Pending {
    ossl::X509Ptr cert;
    std::string source;
  };
  std::vector<Pending> certs_;
};

// A Java KeyStore (the JKS format keytool reads and writes, version 2) holding one
// trustedCertEntry per anchor, alias = the anchor's sha256, integrity-checked with `password`
// (keytool's default is "changeit").
Result<ossl::Bytes> EncodeJks(const TrustSet& set, std::string_view password);

// A PKCS#12 file of certificate bags (AES-256-CBC, PBKDF2, HMAC-SHA-256 MAC: OpenSSL 3's
// defaults), each with a friendlyName (the sha256) and Java's trusted-key-usage attribute
// (anyExtendedKeyUsage), so `keytool` and Java's PKCS12 KeyStore see trusted entries and
// `openssl pkcs12` reads it too.
Result<ossl::Bytes> EncodePkcs12(const TrustSet& set, std::string_view password);

}  // namespace certwright::signer
