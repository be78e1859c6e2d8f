// X.509 issuance: certificates from a template and a public key, or from a PKCS#10 CSR,
// signed by a key held in any backend.
//
// Every certificate produced here is RFC 5280 valid: v3, a random positive serial with 127
// bits of entropy, notBefore backdated, SKI on every certificate and AKI on every one but a
// self-signed root's, critical basicConstraints and keyUsage, a SAN extension only when there
// are names (critical when the subject is empty, §4.2.1.6), keyCertSign only on CA
// certificates. The TBSCertificate is built with OpenSSL and signed through SigningKey, so an
// HSM or KMS key never has to be an OpenSSL key.
//
//   auto ca = CertificateAuthority::Create(key, ParseCertificates(pem).value(), {});
//   auto csr = CertificateRequest::Parse(csr_pem);          // signature verified here
//   CertificateTemplate t = TemplateFromCsr(*csr);
//   t.duration = std::chrono::hours(24 * 90);
//   auto issued = ca->Issue(t, csr->public_key.get());
//   std::cout << issued->chain_pem;
#pragma once

#include <chrono>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "certwright/signer/clock.h"
#include "certwright/signer/key.h"
#include "certwright/signer/ossl.h"
#include "certwright/signer/random.h"
#include "certwright/signer/result.h"

namespace certwright::signer {

// A distinguished name as an ordered list of (attribute, value), outermost RDN first (ASN.1
// order: C before O before CN).
class DistinguishedName {
 public:
  using Attribute = std::pair<std::string, std::string>;

  // Accepts RFC 4514 ("CN=web,O=Example\, Inc.,C=DE", most specific first, so it is reversed
  // into ASN.1 order) and OpenSSL's slash form ("/C=DE/O=Example/CN=web", ASN.1 order).
  static Result<DistinguishedName> Parse(std::string_view text);
  static Result<DistinguishedName> FromX509Name(const X509_NAME* name);

  void Add(std::string type, std::string value) { attributes_.emplace_back(std::move(type), std::move(value)); }
  const std::vector<Attribute>& attributes() const { return attributes_; }
  bool empty() const { return attributes_.empty(); }
  std::optional<std::string> CommonName() const;

  Result<ossl::X509Name> ToX509Name() const;
  // RFC 4514 text, most specific first.
  std::string ToString() const;

 private:
  std::vector<Attribute> attributes_;
};

enum KeyUsageBit : uint32_t {
  kDigitalSignature = 1u << 0,
  kContentCommitment = 1u << 1,
  kKeyEncipherment = 1u << 2,
  kDataEncipherment = 1u << 3,
  kKeyAgreement = 1u << 4,
  kKeyCertSign = 1u << 5,
  kCrlSign = 1u << 6,
  kEncipherOnly = 1u << 7,
  kDecipherOnly = 1u << 8,
};

// Usages as cert-manager names them ("digital signature", "server auth", ...), split into the
// keyUsage bits and extendedKeyUsage OIDs (as NIDs).
struct Usages {
  uint32_t key_usage = 0;
  std::vector<int> extended;  // NIDs, e.g. NID_server_auth

  friend bool operator==(const Usages&, const Usages&) = default;
};

// Errors name the unknown usage and list the known ones.
Result<Usages> ParseUsages(const std::vector<std::string>& names);
std::vector<std::string> UsageNames(const Usages& usages);
const std::vector<std::string_view>& KnownUsageNames();

struct CertificateTemplate {
  DistinguishedName subject;
  std::vector<std::string> dns_names;
  std::vector<std::string> ip_addresses;
  std::vector<std::string> uris;
  std::vector<std::string> email_addresses;
  // nullopt: digital signature (+ key encipherment for RSA keys) for leaves; cert sign, CRL
  // sign and digital signature for CAs.
  std::optional<Usages> usages;
  bool is_ca = false;
  std::optional<int> max_path_length;  // CA only
  std::chrono::seconds duration = std::chrono::hours(24 * 90);
  // notBefore = now - backdate, so clocks a little behind the signer still accept it.
  std::chrono::seconds backdate = std::chrono::minutes(1);
};

// The usages a certificate from `tmpl` for a key of `subject_spec` carries: the template's, or the
// defaults when unset (digital signature + key encipherment for leaves, cert sign + CRL sign +
// digital signature for CAs); cert sign forced on CAs; key and data encipherment dropped for
// non-RSA keys (RFC 5480 §3), key agreement and encipher/decipher only for Ed25519 (RFC 8410 §5);
// digital signature when nothing is left. The policy engine judges exactly these.
Result<Usages> EffectiveUsages(const CertificateTemplate& tmpl, const KeySpec& subject_spec);

// Checks names, usages and lengths of a template the way issuance will; the message says
// which field is wrong ("dnsNames[1]: ..."). Issue() calls it too.
Status ValidateTemplate(const CertificateTemplate& tmpl);

// A public key as certificates carry it: the SubjectPublicKeyInfo parts and the key type.
// From a CSR it is taken from the request's own encoding, without decoding the key again.
struct SubjectPublicKey {
  ossl::PublicKeyParts parts;
  KeySpec spec;

  static Result<SubjectPublicKey> FromPKey(EVP_PKEY* key);
};

// A parsed PKCS#10 request whose own signature has been verified and whose key is one
// certwright accepts (RSA 2048-8192, ECDSA P-256/P-384, Ed25519).
struct CertificateRequest {
  ossl::X509Req request;
  ossl::PKey public_key;
  KeySpec key_spec;
  SubjectPublicKey subject_key;
  DistinguishedName subject;
  std::vector<std::string> dns_names;
  std::vector<std::string> ip_addresses;
  std::vector<std::string> uris;
  std::vector<std::string> email_addresses;
  bool requests_ca = false;  // basicConstraints cA=TRUE in the extension request

  // Accepts PEM ("CERTIFICATE REQUEST" or "NEW CERTIFICATE REQUEST") or DER, at most
  // kMaxInputBytes.
  static Result<CertificateRequest> Parse(std::string_view pem_or_der);
};

// The subject and names of a CSR as a template (duration and usages left at defaults).
CertificateTemplate TemplateFromCsr(const CertificateRequest& csr);

struct IssuedCertificate {
  Bytes der;
  std::string pem;        // the certificate alone
  std::string chain_pem;  // the certificate, then the issuing chain without a self-signed root
  std::string ca_pem;     // the root (or the top of the chain given) for ca.crt
  std::string serial_hex;
  std::chrono::system_clock::time_point not_before;
  std::chrono::system_clock::time_point not_after;

  // The certificate as an OpenSSL object, parsed from `der` on each call. Issuance itself never
  // parses: OpenSSL 3 decodes the public key through its provider decoders, which costs more
  // than the signature.
  ossl::X509Ptr Certificate() const;
};

struct IssuanceOptions {
  const Clock* clock = nullptr;          // nullptr: the system clock
  RandomSource* random = nullptr;        // nullptr: OpenSSL's CSPRNG
  bool rsa_pss = false;                  // sign with RSASSA-PSS when the CA key is RSA
};

// Signs `tmpl` for `subject_key` with `key`, issuer = subject (a root CA).
Result<IssuedCertificate> SelfSign(SigningKey& key, const CertificateTemplate& tmpl, const IssuanceOptions& options = {});

// A PKCS#10 request for `key` (for `ca init --csr-out`: an offline root signs it).
Result<std::string> CreateCsrPem(SigningKey& key, const CertificateTemplate& tmpl, const IssuanceOptions& options = {});

class CertificateAuthority {
 public:
  // `chain` starts with the CA's own certificate, then its issuers. Fails when the key does not
  // match the certificate, the certificate is not a CA (basicConstraints cA, keyCertSign), or
  // it has expired.
  static Result<CertificateAuthority> Create(std::shared_ptr<SigningKey> key, std::vector<ossl::X509Ptr> chain,
                                             IssuanceOptions options = {});

  Result<IssuedCertificate> Issue(const CertificateTemplate& tmpl, EVP_PKEY* subject_key) const;
  Result<IssuedCertificate> Issue(const CertificateTemplate& tmpl, const SubjectPublicKey& subject_key) const;

  X509* certificate() const { return chain_.front().get(); }
  const std::vector<ossl::X509Ptr>& chain() const { return chain_; }
  SigningKey& key() const { return *key_; }
  std::chrono::system_clock::time_point not_before() const { return not_before_; }
  std::chrono::system_clock::time_point not_after() const { return not_after_; }

 private:
  CertificateAuthority() = default;

  std::shared_ptr<SigningKey> key_;
  std::vector<ossl::X509Ptr> chain_;
  IssuanceOptions options_;
  ossl::Bytes key_id_;            // the CA's SKI, for AKI
  std::string chain_tail_pem_;    // intermediates appended after the leaf
  std::string ca_pem_;
  std::chrono::system_clock::time_point not_before_, not_after_;
  std::optional<long> path_length_;  // the CA's own pathLenConstraint
};

// Certificate time <-> time_point.
std::chrono::system_clock::time_point ToTimePoint(const ASN1_TIME* t);

}  // namespace certwright::signer
