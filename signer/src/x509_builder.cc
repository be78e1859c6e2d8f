// X.509 issuance: template validation, extension encoding, TBS signing through SigningKey.
#include <arpa/inet.h>
#include <openssl/bn.h>
#include <openssl/evp.h>
#include <openssl/objects.h>
#include <openssl/pem.h>
#include <openssl/x509v3.h>

#include <algorithm>
#include <array>
#include <cctype>
#include <ctime>

#include "certwright/signer/der.h"
#include "certwright/signer/pem.h"
#include "certwright/signer/x509.h"

namespace certwright::signer {

namespace {

using std::chrono::system_clock;

constexpr size_t kSerialBytes = 16;  // 127 bits of entropy after clearing the sign bit

// ---------------------------------------------------------------------------------------------
// Name validation. Messages name the field as the Certificate spec does.

Status ValidateDnsName(std::string_view name, std::string_view field) {
  auto bad = [&](std::string_view why) {
    return InvalidArgument(std::string(field) + ": \"" + std::string(name) + "\" is not a valid DNS name: " +
                           std::string(why));
  };
  if (name.empty()) return bad("it is empty");
  if (name.size() > 253) return bad("it is longer than 253 characters");
  if (name.back() == '.') return bad("it must not end with '.'");
  std::string_view rest = name;
  if (rest.starts_with("*.")) rest.remove_prefix(2);
  size_t labels = 0;
  while (!rest.empty() || labels == 0) {
    size_t dot = rest.find('.');
    std::string_view label = rest.substr(0, dot);
    if (label.empty()) return bad("it has an empty label");
    if (label.size() > 63) return bad("label \"" + std::string(label) + "\" is longer than 63 characters");
    for (char c : label) {
      unsigned char u = static_cast<unsigned char>(c);
      if (c == '*') return bad("a wildcard '*' is allowed only as the whole leftmost label");
      if (c == '_') return bad("'_' is not allowed in host names (RFC 5280 §4.2.1.6, CA/B Forum BR)");
      if (u >= 0x80) return bad("non-ASCII characters must be written in punycode (xn--...)");
      if (!(std::isalnum(u) || c == '-')) return bad("character '" + std::string(1, c) + "' is not allowed");
    }
    if (label.front() == '-' || label.back() == '-') return bad("a label must not start or end with '-'");
    ++labels;
    if (dot == std::string_view::npos) break;
    rest.remove_prefix(dot + 1);
  }
  return Ok();
}

Result<Bytes> ParseIpAddress(std::string_view text, std::string_view field) {
  std::string s(text);
  Bytes out(16);
  if (inet_pton(AF_INET, s.c_str(), out.data()) == 1) {
    out.resize(4);
    return out;
  }
  if (inet_pton(AF_INET6, s.c_str(), out.data()) == 1) return out;
  return InvalidArgument(std::string(field) + ": \"" + s + "\" is not a valid IPv4 or IPv6 address");
}

std::string IpToText(const unsigned char* data, int len) {
  char buf[INET6_ADDRSTRLEN] = {0};
  if (len == 4) inet_ntop(AF_INET, data, buf, sizeof buf);
  if (len == 16) inet_ntop(AF_INET6, data, buf, sizeof buf);
  return buf;
}

Status ValidateUri(std::string_view uri, std::string_view field) {
  auto bad = [&](std::string_view why) {
    return InvalidArgument(std::string(field) + ": \"" + std::string(uri) + "\" is not a valid URI: " +
                           std::string(why));
  };
  if (uri.empty()) return bad("it is empty");
  if (uri.size() > 2048) return bad("it is longer than 2048 characters");
  size_t colon = uri.find(':');
  if (colon == std::string_view::npos || colon == 0) return bad("it has no scheme (RFC 5280 requires an absolute URI)");
  if (!std::isalpha(static_cast<unsigned char>(uri[0]))) return bad("the scheme must start with a letter");
  for (size_t i = 0; i < colon; ++i) {
    char c = uri[i];
    if (!(std::isalnum(static_cast<unsigned char>(c)) || c == '+' || c == '-' || c == '.')) {
      return bad("the scheme contains '" + std::string(1, c) + "'");
    }
  }
  for (char c : uri) {
    unsigned char u = static_cast<unsigned char>(c);
    if (u <= 0x20 || u >= 0x7f) return bad("it contains a space, control or non-ASCII character");
  }
  return Ok();
}

Status ValidateEmail(std::string_view email, std::string_view field) {
  size_t at = email.rfind('@');
  if (at == std::string_view::npos || at == 0 || at + 1 == email.size()) {
    return InvalidArgument(std::string(field) + ": \"" + std::string(email) + "\" is not a valid email address");
  }
  for (char c : email.substr(0, at)) {
    unsigned char u = static_cast<unsigned char>(c);
    if (u <= 0x20 || u >= 0x7f) {
      return InvalidArgument(std::string(field) + ": \"" + std::string(email) +
                             "\" has a space, control or non-ASCII character in its local part");
    }
  }
  return ValidateDnsName(email.substr(at + 1), std::string(field) + " domain");
}

template <typename F>
Status ForEach(const std::vector<std::string>& items, std::string_view field, F check) {
  for (size_t i = 0; i < items.size(); ++i) {
    CW_RETURN_IF_ERROR(check(items[i], std::string(field) + "[" + std::to_string(i) + "]"));
  }
  return Ok();
}

// ---------------------------------------------------------------------------------------------
// Signature AlgorithmIdentifiers, byte for byte as the CA/Browser Forum Baseline Requirements
// §7.1.3.2 list them (ECDSA and Ed25519 with absent parameters, RSA with NULL, PSS with
// MGF1 over the same hash and a salt as long as the hash).

std::string_view AlgorithmIdentifierHex(SignatureScheme scheme) {
  switch (scheme) {
    case SignatureScheme::kEcdsaSha256: return "300a06082a8648ce3d040302";
    case SignatureScheme::kEcdsaSha384: return "300a06082a8648ce3d040303";
    case SignatureScheme::kEd25519: return "300506032b6570";
    case SignatureScheme::kRsaPkcs1Sha256: return "300d06092a864886f70d01010b0500";
    case SignatureScheme::kRsaPkcs1Sha384: return "300d06092a864886f70d01010c0500";
    case SignatureScheme::kRsaPkcs1Sha512: return "300d06092a864886f70d01010d0500";
    case SignatureScheme::kRsaPssSha256:
      return "304106092a864886f70d01010a3034a00f300d06096086480165030402010500a11c301a06092a864886f70d010108"
             "300d06096086480165030402010500a203020120";
    case SignatureScheme::kRsaPssSha384:
      return "304106092a864886f70d01010a3034a00f300d06096086480165030402020500a11c301a06092a864886f70d010108"
             "300d06096086480165030402020500a203020130";
  }
  return "";
}

using AlgorithmPtr = std::unique_ptr<X509_ALGOR, ossl::Deleter<X509_ALGOR_free>>;

// Each scheme's AlgorithmIdentifier, decoded once: the DER for assembling the outer
// Certificate, the parsed form for the TBS field.
struct Algorithm {
  Bytes der;
  AlgorithmPtr parsed;
};

const Algorithm& AlgorithmFor(SignatureScheme scheme) {
  static const std::array<Algorithm, 8> table = [] {
    std::array<Algorithm, 8> t;
    for (size_t i = 0; i < t.size(); ++i) {
      t[i].der = ossl::FromHex(AlgorithmIdentifierHex(static_cast<SignatureScheme>(i)));
      const unsigned char* p = t[i].der.data();
      t[i].parsed.reset(d2i_X509_ALGOR(nullptr, &p, static_cast<long>(t[i].der.size())));
    }
    return t;
  }();
  return table[static_cast<size_t>(scheme)];
}

// Sets a signature BIT STRING (the CSR's; the certificate's outer structure is assembled below).
void SetBitStringSignature(ASN1_BIT_STRING* bits, const Bytes& signature) {
  ASN1_BIT_STRING_set(bits, const_cast<uint8_t*>(signature.data()), static_cast<int>(signature.size()));
  // A signature is a whole number of bytes: no unused bits, even if it ends in zero bytes.
  bits->flags &= ~(ASN1_STRING_FLAG_BITS_LEFT | 0x07);
  bits->flags |= ASN1_STRING_FLAG_BITS_LEFT;
}

// Nothing signed leaves the signer unverified. A fault inside an HSM during an RSA-CRT
// signature yields a signature that does not verify and that reveals the key's factors to
// whoever sees it (Boneh, DeMillo, Lipton 1997); a device or KMS answering garbage would publish
// a certificate no one can verify. The check runs over the exact bytes that were signed, with the
// public key the SigningKey already holds (no re-parse of the certificate).
Status CheckSignature(SigningKey& key, SignatureScheme scheme, std::span<const uint8_t> signed_bytes,
                      const Bytes& signature) {
  Status verified = VerifySignature(key.public_key(), scheme, signed_bytes, signature);
  if (verified.ok()) return Ok();
  if (verified.error().kind() == ErrorKind::kInternal) {
    return std::move(verified).error().WithContext("verifying the signature made by " + key.uri());
  }
  return Internal("the signature made by " + key.uri() +
                  " does not verify against its public key; the certificate was not issued");
}

// Signs the certificate's TBS through the key and returns the whole certificate's DER:
//   Certificate ::= SEQUENCE { tbsCertificate, signatureAlgorithm, signatureValue BIT STRING }
// (RFC 5280 §4.1). The outer structure is assembled here from the TBS bytes that were signed,
// rather than by re-encoding the X509 object, so the signed bytes are exactly the ones emitted.
Result<Bytes> SignCertificate(X509* x, SigningKey& key, SignatureScheme scheme) {
  // OpenSSL exposes the TBS signature field const only; X509_sign itself writes it the same way.
  if (X509_ALGOR_copy(const_cast<X509_ALGOR*>(X509_get0_tbs_sigalg(x)), AlgorithmFor(scheme).parsed.get()) != 1) {
    return Internal("setting the signature algorithm: " + ossl::DrainErrors());
  }
  unsigned char* tbs = nullptr;
  int tbs_len = i2d_re_X509_tbs(x, &tbs);
  if (tbs_len <= 0) return Internal("encoding TBSCertificate: " + ossl::DrainErrors());
  ossl::Buffer tbs_owner(tbs);
  const std::span<const uint8_t> signed_bytes(tbs, static_cast<size_t>(tbs_len));
  auto signature = key.Sign(scheme, signed_bytes);
  if (!signature) return std::move(signature).error().WithContext("signing with " + key.uri());
  CW_RETURN_IF_ERROR(CheckSignature(key, scheme, signed_bytes, *signature));

  const Bytes& alg = AlgorithmFor(scheme).der;
  const int bits_len = static_cast<int>(signature->size()) + 1;  // leading "unused bits" octet
  const int bits_total = ASN1_object_size(0, bits_len, V_ASN1_BIT_STRING);
  const int content = tbs_len + static_cast<int>(alg.size()) + bits_total;
  Bytes der(static_cast<size_t>(ASN1_object_size(1, content, V_ASN1_SEQUENCE)));
  unsigned char* p = der.data();
  ASN1_put_object(&p, 1, content, V_ASN1_SEQUENCE, V_ASN1_UNIVERSAL);
  p = std::copy(tbs, tbs + tbs_len, p);
  p = std::copy(alg.begin(), alg.end(), p);
  ASN1_put_object(&p, 0, bits_len, V_ASN1_BIT_STRING, V_ASN1_UNIVERSAL);
  *p++ = 0;
  std::copy(signature->begin(), signature->end(), p);
  return der;
}

std::string DerToPem(std::string_view label, const Bytes& der) {
  std::string b64(4 * ((der.size() + 2) / 3) + 1, '\0');
  int n = EVP_EncodeBlock(reinterpret_cast<unsigned char*>(b64.data()), der.data(), static_cast<int>(der.size()));
  b64.resize(static_cast<size_t>(n));
  std::string out;
  out.reserve(b64.size() + b64.size() / 64 + 64);
  out += "-----BEGIN ";
  out += label;
  out += "-----\n";
  for (size_t i = 0; i < b64.size(); i += 64) {
    out.append(b64, i, 64);
    out += '\n';
  }
  out += "-----END ";
  out += label;
  out += "-----\n";
  return out;
}

std::string SerialHex(const BIGNUM* bn) {
  char* hex = BN_bn2hex(bn);
  std::string s(hex);
  OPENSSL_free(hex);
  return s;
}

Result<ossl::BigNum> RandomSerial(RandomSource& random) {
  std::array<uint8_t, kSerialBytes> bytes{};
  for (int attempt = 0; attempt < 4; ++attempt) {
    CW_RETURN_IF_ERROR(random.Fill(bytes));
    bytes[0] &= 0x7f;  // positive (RFC 5280 §4.1.2.2)
    if (std::any_of(bytes.begin(), bytes.end(), [](uint8_t b) { return b != 0; })) {
      ossl::BigNum bn(BN_bin2bn(bytes.data(), static_cast<int>(bytes.size()), nullptr));
      if (!bn) return Internal("serial number: " + ossl::DrainErrors());
      return bn;
    }
  }
  return Internal("random source returned only zero bytes for a serial number");
}

std::string FormatTime(system_clock::time_point t) {
  std::time_t tt = system_clock::to_time_t(t);
  std::tm tm{};
  gmtime_r(&tt, &tm);
  char buf[32];
  std::strftime(buf, sizeof buf, "%Y-%m-%dT%H:%M:%SZ", &tm);
  return buf;
}

}  // namespace

// Effective usages: defaults when unset, keyCertSign forced on CAs, keyEncipherment and
// dataEncipherment dropped for non-RSA keys (RFC 5480 §3, RFC 8410 §5 forbid them), and for
// Ed25519 keys also keyAgreement, encipherOnly and decipherOnly: RFC 8410 §5 allows a signature
// key only digitalSignature, nonRepudiation, keyCertSign and cRLSign (X25519 would be the
// agreement key). ECDSA keys may keep keyAgreement (ECDH, RFC 5480 §3).
Result<Usages> EffectiveUsages(const CertificateTemplate& tmpl, const KeySpec& subject_spec) {
  Usages u;
  if (tmpl.usages) {
    u = *tmpl.usages;
  } else if (tmpl.is_ca) {
    u.key_usage = kKeyCertSign | kCrlSign | kDigitalSignature;
  } else {
    u.key_usage = kDigitalSignature | kKeyEncipherment;
  }
  if (!tmpl.is_ca && (u.key_usage & (kKeyCertSign | kCrlSign))) {
    return InvalidArgument("usages: \"cert sign\" and \"crl sign\" are only allowed for CA certificates (isCA: true)");
  }
  if (tmpl.is_ca) u.key_usage |= kKeyCertSign;
  if (subject_spec.type != KeyType::kRsa) u.key_usage &= ~(kKeyEncipherment | kDataEncipherment);
  if (subject_spec.type == KeyType::kEd25519) u.key_usage &= ~(kKeyAgreement | kEncipherOnly | kDecipherOnly);
  if (u.key_usage == 0) u.key_usage = kDigitalSignature;
  return u;
}

namespace {

template <typename T, auto Free>
using Owned = std::unique_ptr<T, ossl::Deleter<Free>>;

Status AddExtensions(X509* x, const CertificateTemplate& tmpl, const Usages& usages, const Bytes& subject_key_id,
                     const Bytes& authority_key_id, bool subject_empty) {
  auto add = [&](int nid, void* value, bool critical) -> Status {
    if (X509_add1_ext_i2d(x, nid, value, critical ? 1 : 0, X509V3_ADD_DEFAULT) != 1) {
      return Internal(std::string("adding ") + OBJ_nid2sn(nid) + " extension: " + ossl::DrainErrors());
    }
    return Ok();
  };

  // basicConstraints: critical on every certificate (RFC 5280 §4.2.1.9 requires it on CAs).
  Owned<BASIC_CONSTRAINTS, BASIC_CONSTRAINTS_free> bc(BASIC_CONSTRAINTS_new());
  bc->ca = tmpl.is_ca ? 0xff : 0;
  if (tmpl.is_ca && tmpl.max_path_length) {
    bc->pathlen = ASN1_INTEGER_new();
    ASN1_INTEGER_set(bc->pathlen, *tmpl.max_path_length);
  }
  CW_RETURN_IF_ERROR(add(NID_basic_constraints, bc.get(), true));

  // keyUsage: critical (RFC 5280 §4.2.1.3 SHOULD, CA/B BR MUST).
  Owned<ASN1_BIT_STRING, ASN1_BIT_STRING_free> ku(ASN1_BIT_STRING_new());
  for (int bit = 0; bit <= 8; ++bit) {
    if (usages.key_usage & (1u << bit)) ASN1_BIT_STRING_set_bit(ku.get(), bit, 1);
  }
  CW_RETURN_IF_ERROR(add(NID_key_usage, ku.get(), true));

  if (!usages.extended.empty()) {
    Owned<EXTENDED_KEY_USAGE, EXTENDED_KEY_USAGE_free> eku(sk_ASN1_OBJECT_new_null());
    for (int nid : usages.extended) sk_ASN1_OBJECT_push(eku.get(), OBJ_nid2obj(nid));
    CW_RETURN_IF_ERROR(add(NID_ext_key_usage, eku.get(), false));
  }

  ossl::Asn1OctetString ski(ASN1_OCTET_STRING_new());
  ASN1_OCTET_STRING_set(ski.get(), subject_key_id.data(), static_cast<int>(subject_key_id.size()));
  CW_RETURN_IF_ERROR(add(NID_subject_key_identifier, ski.get(), false));

  if (!authority_key_id.empty()) {
    Owned<AUTHORITY_KEYID, AUTHORITY_KEYID_free> aki(AUTHORITY_KEYID_new());
    aki->keyid = ASN1_OCTET_STRING_new();
    ASN1_OCTET_STRING_set(aki->keyid, authority_key_id.data(), static_cast<int>(authority_key_id.size()));
    CW_RETURN_IF_ERROR(add(NID_authority_key_identifier, aki.get(), false));
  }

  // subjectAltName: only when there are names; critical when the subject is empty (§4.2.1.6).
  ossl::GeneralNames sans(GENERAL_NAMES_new());
  auto push_ia5 = [&](int type, const std::string& value) {
    ASN1_IA5STRING* s = ASN1_IA5STRING_new();
    ASN1_STRING_set(s, value.data(), static_cast<int>(value.size()));
    GENERAL_NAME* gn = GENERAL_NAME_new();
    GENERAL_NAME_set0_value(gn, type, s);
    sk_GENERAL_NAME_push(sans.get(), gn);
  };
  for (const auto& d : tmpl.dns_names) push_ia5(GEN_DNS, d);
  for (size_t i = 0; i < tmpl.ip_addresses.size(); ++i) {
    CW_ASSIGN_OR_RETURN(Bytes ip, ParseIpAddress(tmpl.ip_addresses[i], "ipAddresses[" + std::to_string(i) + "]"));
    ASN1_OCTET_STRING* s = ASN1_OCTET_STRING_new();
    ASN1_OCTET_STRING_set(s, ip.data(), static_cast<int>(ip.size()));
    GENERAL_NAME* gn = GENERAL_NAME_new();
    GENERAL_NAME_set0_value(gn, GEN_IPADD, s);
    sk_GENERAL_NAME_push(sans.get(), gn);
  }
  for (const auto& u : tmpl.uris) push_ia5(GEN_URI, u);
  for (const auto& e : tmpl.email_addresses) push_ia5(GEN_EMAIL, e);
  if (sk_GENERAL_NAME_num(sans.get()) > 0) {
    CW_RETURN_IF_ERROR(add(NID_subject_alt_name, sans.get(), subject_empty));
  }
  return Ok();
}

// Everything ValidateTemplate checks but the subject, which issuance converts (and so checks)
// once, where it needs the X509_NAME anyway.
Status ValidateTemplateExceptSubject(const CertificateTemplate& tmpl) {
  if (tmpl.duration.count() <= 0) {
    return InvalidArgument("duration must be positive, got " + std::to_string(tmpl.duration.count()) + "s");
  }
  // Far beyond any sensible certificate, and well inside what time arithmetic can hold.
  constexpr std::chrono::hours kMaxDuration(24 * 365 * 100);
  if (tmpl.duration > kMaxDuration) {
    return InvalidArgument("duration " + std::to_string(tmpl.duration.count() / 3600) +
                           "h is longer than the maximum of 876000h (100 years)");
  }
  if (tmpl.backdate.count() < 0) return InvalidArgument("backdate must not be negative");
  if (tmpl.subject.empty() && tmpl.dns_names.empty() && tmpl.ip_addresses.empty() && tmpl.uris.empty() &&
      tmpl.email_addresses.empty()) {
    return InvalidArgument("the certificate has no subject and no subject alternative names: "
                           "set at least one of commonName, dnsNames, ipAddresses, uris or emailAddresses");
  }
  if (tmpl.max_path_length && !tmpl.is_ca) return InvalidArgument("maxPathLength is only allowed when isCA is true");
  if (tmpl.max_path_length && *tmpl.max_path_length < 0) return InvalidArgument("maxPathLength must not be negative");
  CW_RETURN_IF_ERROR(ForEach(tmpl.dns_names, "dnsNames", ValidateDnsName));
  CW_RETURN_IF_ERROR(ForEach(tmpl.ip_addresses, "ipAddresses", [](const std::string& ip, const std::string& f) -> Status {
    auto r = ParseIpAddress(ip, f);
    if (!r) return std::move(r).error();
    return Ok();
  }));
  CW_RETURN_IF_ERROR(ForEach(tmpl.uris, "uris", ValidateUri));
  CW_RETURN_IF_ERROR(ForEach(tmpl.email_addresses, "emailAddresses", ValidateEmail));
  return Ok();
}

struct BuildParams {
  const CertificateTemplate* tmpl;
  const SubjectPublicKey* subject_key;
  const X509_NAME* issuer_name;  // nullptr: self-signed
  const Bytes* authority_key_id;  // empty: no AKI
  system_clock::time_point not_before_floor;
  std::optional<system_clock::time_point> not_after_limit;
  SigningKey* signer;
  SignatureScheme scheme;
  const IssuanceOptions* options;
};

Result<IssuedCertificate> Build(const BuildParams& p) {
  const CertificateTemplate& tmpl = *p.tmpl;
  CW_RETURN_IF_ERROR(ValidateTemplateExceptSubject(tmpl));
  CW_ASSIGN_OR_RETURN(ossl::X509Name subject, tmpl.subject.ToX509Name());
  CW_ASSIGN_OR_RETURN(Usages usages, EffectiveUsages(tmpl, p.subject_key->spec));

  const Clock& clock = p.options->clock ? *p.options->clock : SystemClock::Instance();
  RandomSource& random = p.options->random ? *p.options->random : SystemRandom::Instance();
  const auto now = std::chrono::time_point_cast<std::chrono::seconds>(clock.Now());
  const system_clock::time_point not_before = std::max<system_clock::time_point>(now - tmpl.backdate, p.not_before_floor);
  const system_clock::time_point not_after = now + tmpl.duration;
  if (p.not_after_limit && not_after > *p.not_after_limit) {
    auto longest = std::chrono::duration_cast<std::chrono::hours>(*p.not_after_limit - now);
    return InvalidArgument("duration " + std::to_string(tmpl.duration.count() / 3600) + "h would end at " +
                           FormatTime(not_after) + ", after the issuing CA certificate expires at " +
                           FormatTime(*p.not_after_limit) + "; request at most " + std::to_string(longest.count()) +
                           "h");
  }

  ossl::X509Ptr x(X509_new());
  CW_ASSIGN_OR_RETURN(ossl::BigNum serial, RandomSerial(random));
  ossl::Asn1Integer serial_asn1(BN_to_ASN1_INTEGER(serial.get(), nullptr));
  if (!x || !serial_asn1 || X509_set_version(x.get(), X509_VERSION_3) != 1 ||
      X509_set_serialNumber(x.get(), serial_asn1.get()) != 1 || X509_set_subject_name(x.get(), subject.get()) != 1 ||
      X509_set_issuer_name(x.get(), p.issuer_name ? p.issuer_name : subject.get()) != 1 ||
      ASN1_TIME_set(X509_getm_notBefore(x.get()), system_clock::to_time_t(not_before)) == nullptr ||
      ASN1_TIME_set(X509_getm_notAfter(x.get()), system_clock::to_time_t(not_after)) == nullptr) {
    return Internal("building certificate: " + ossl::DrainErrors());
  }
  CW_RETURN_IF_ERROR(ossl::SetSubjectPublicKey(x.get(), p.subject_key->parts));
  const Bytes ski = ossl::KeyIdentifier(p.subject_key->parts);
  CW_RETURN_IF_ERROR(AddExtensions(x.get(), tmpl, usages, ski, *p.authority_key_id, tmpl.subject.empty()));
  CW_ASSIGN_OR_RETURN(Bytes der, SignCertificate(x.get(), *p.signer, p.scheme));

  IssuedCertificate out;
  out.pem = DerToPem("CERTIFICATE", der);
  out.serial_hex = SerialHex(serial.get());
  out.not_before = not_before;
  out.not_after = not_after;
  out.der = std::move(der);
  return out;
}

}  // namespace

// ---------------------------------------------------------------------------------------------

Status ValidateTemplate(const CertificateTemplate& tmpl) {
  CW_RETURN_IF_ERROR(ValidateTemplateExceptSubject(tmpl));
  auto subject = tmpl.subject.ToX509Name();
  if (!subject) return std::move(subject).error();
  return Ok();
}

ossl::X509Ptr IssuedCertificate::Certificate() const {
  const unsigned char* p = der.data();
  return ossl::X509Ptr(d2i_X509(nullptr, &p, static_cast<long>(der.size())));
}

system_clock::time_point ToTimePoint(const ASN1_TIME* t) {
  std::tm tm{};
  ASN1_TIME_to_tm(t, &tm);
  return system_clock::from_time_t(timegm(&tm));
}

Result<IssuedCertificate> SelfSign(SigningKey& key, const CertificateTemplate& tmpl, const IssuanceOptions& options) {
  if (tmpl.subject.empty()) {
    return InvalidArgument("a self-signed certificate needs a subject (its issuer name is its subject)");
  }
  const Bytes no_aki;  // RFC 5280 §4.2.1.1: AKI may be omitted on self-signed certificates
  CW_ASSIGN_OR_RETURN(SubjectPublicKey subject, SubjectPublicKey::FromPKey(key.public_key()));
  BuildParams p{&tmpl, &subject, nullptr, &no_aki, system_clock::time_point::min(), std::nullopt, &key,
                DefaultScheme(key.spec(), options.rsa_pss), &options};
  CW_ASSIGN_OR_RETURN(IssuedCertificate out, Build(p));
  out.chain_pem = out.pem;
  out.ca_pem = out.pem;
  return out;
}

Result<std::string> CreateCsrPem(SigningKey& key, const CertificateTemplate& tmpl, const IssuanceOptions& options) {
  CW_RETURN_IF_ERROR(ValidateTemplateExceptSubject(tmpl));
  CW_ASSIGN_OR_RETURN(ossl::X509Name subject, tmpl.subject.ToX509Name());
  CW_ASSIGN_OR_RETURN(Usages usages, EffectiveUsages(tmpl, key.spec()));
  ossl::X509Req req(X509_REQ_new());
  if (!req || X509_REQ_set_version(req.get(), X509_REQ_VERSION_1) != 1 ||
      X509_REQ_set_subject_name(req.get(), subject.get()) != 1 || X509_REQ_set_pubkey(req.get(), key.public_key()) != 1) {
    return Internal("building certificate request: " + ossl::DrainErrors());
  }
  // Carry the wanted extensions in the extension request, built on a scratch certificate.
  ossl::X509Ptr scratch(X509_new());
  CW_ASSIGN_OR_RETURN(Bytes ski, ossl::KeyIdentifier(key.public_key()));
  CW_RETURN_IF_ERROR(AddExtensions(scratch.get(), tmpl, usages, ski, Bytes{}, tmpl.subject.empty()));
  STACK_OF(X509_EXTENSION)* exts = sk_X509_EXTENSION_new_null();
  for (int i = 0; i < X509_get_ext_count(scratch.get()); ++i) {
    sk_X509_EXTENSION_push(exts, X509_EXTENSION_dup(X509_get_ext(scratch.get(), i)));
  }
  int added = X509_REQ_add_extensions(req.get(), exts);
  sk_X509_EXTENSION_pop_free(exts, X509_EXTENSION_free);
  if (added != 1) return Internal("adding extension request: " + ossl::DrainErrors());

  SignatureScheme scheme = DefaultScheme(key.spec(), options.rsa_pss);
  const ASN1_BIT_STRING* sig = nullptr;
  const X509_ALGOR* alg = nullptr;
  X509_REQ_get0_signature(req.get(), &sig, &alg);
  if (X509_ALGOR_copy(const_cast<X509_ALGOR*>(alg), AlgorithmFor(scheme).parsed.get()) != 1) {
    return Internal("setting the request signature algorithm: " + ossl::DrainErrors());
  }
  unsigned char* tbs = nullptr;
  int len = i2d_re_X509_REQ_tbs(req.get(), &tbs);
  if (len <= 0) return Internal("encoding CertificationRequestInfo: " + ossl::DrainErrors());
  auto signature = key.Sign(scheme, std::span<const uint8_t>(tbs, static_cast<size_t>(len)));
  OPENSSL_free(tbs);
  if (!signature) return std::move(signature).error().WithContext("signing the request with " + key.uri());
  SetBitStringSignature(const_cast<ASN1_BIT_STRING*>(sig), *signature);
  if (X509_REQ_verify(req.get(), key.public_key()) != 1) {
    return Internal("the request signature made by " + key.uri() + " does not verify: " + ossl::DrainErrors());
  }
  return ossl::CsrToPem(req.get());
}

// ---------------------------------------------------------------------------------------------

Result<CertificateAuthority> CertificateAuthority::Create(std::shared_ptr<SigningKey> key,
                                                          std::vector<ossl::X509Ptr> chain, IssuanceOptions options) {
  if (!key) return InvalidArgument("no CA key");
  if (chain.empty()) return InvalidArgument("no CA certificate");
  X509* ca = chain.front().get();
  CW_ASSIGN_OR_RETURN(DistinguishedName ca_subject, DistinguishedName::FromX509Name(X509_get_subject_name(ca)));
  const std::string who = "CA certificate \"" + ca_subject.ToString() + "\"";
  if (!ossl::SamePublicKey(X509_get0_pubkey(ca), key->public_key())) {
    return InvalidArgument("the CA key " + key->uri() + " (" + ossl::DescribeKey(key->public_key()) +
                           ") does not match the public key of the " + who + " (" +
                           ossl::DescribeKey(X509_get0_pubkey(ca)) + ")");
  }
  if (X509_check_ca(ca) != 1 || !(X509_get_extension_flags(ca) & EXFLAG_CA)) {
    return InvalidArgument(who + " is not a CA: it lacks basicConstraints cA=TRUE");
  }
  if ((X509_get_extension_flags(ca) & EXFLAG_KUSAGE) && !(X509_get_key_usage(ca) & KU_KEY_CERT_SIGN)) {
    return InvalidArgument(who + " may not sign certificates: its keyUsage lacks keyCertSign");
  }
  for (size_t i = 0; i + 1 < chain.size(); ++i) {
    if (X509_check_issued(chain[i + 1].get(), chain[i].get()) != X509_V_OK ||
        X509_verify(chain[i].get(), X509_get0_pubkey(chain[i + 1].get())) != 1) {
      ossl::DrainErrors();
      return InvalidArgument("CA chain certificate " + std::to_string(i + 2) + " did not issue certificate " +
                             std::to_string(i + 1) + ": order the chain from the CA up to the root");
    }
  }
  CertificateAuthority out;
  const Clock& clock = options.clock ? *options.clock : SystemClock::Instance();
  out.not_before_ = ToTimePoint(X509_get0_notBefore(ca));
  out.not_after_ = ToTimePoint(X509_get0_notAfter(ca));
  if (out.not_after_ <= clock.Now()) {
    return InvalidArgument(who + " expired at " + FormatTime(out.not_after_));
  }
  // RFC 5280 §4.2.1.1: the AKI keyIdentifier is the issuer's SubjectKeyIdentifier, whatever
  // method made it (RFC 7093 allows several; other tools use explicit values). Relying parties
  // match the two byte for byte, so computing our own would break chains of CAs made elsewhere.
  // Only a CA certificate without an SKI gets the SHA-1 method-1 value.
  if (const ASN1_OCTET_STRING* ski = X509_get0_subject_key_id(ca); ski != nullptr && ASN1_STRING_length(ski) > 0) {
    out.key_id_.assign(ASN1_STRING_get0_data(ski), ASN1_STRING_get0_data(ski) + ASN1_STRING_length(ski));
  } else {
    CW_ASSIGN_OR_RETURN(out.key_id_, ossl::KeyIdentifier(key->public_key()));
  }
  long pathlen = X509_get_pathlen(ca);
  if (pathlen >= 0) out.path_length_ = pathlen;
  // Chain for tls.crt: the CA and its intermediates, without a self-signed root.
  X509* top = chain.back().get();
  const bool top_is_root = X509_check_issued(top, top) == X509_V_OK;
  for (size_t i = 0; i < chain.size(); ++i) {
    if (i + 1 == chain.size() && top_is_root) break;
    CW_ASSIGN_OR_RETURN(std::string pem, ossl::CertificateToPem(chain[i].get()));
    out.chain_tail_pem_ += pem;
  }
  CW_ASSIGN_OR_RETURN(out.ca_pem_, ossl::CertificateToPem(top));
  out.key_ = std::move(key);
  out.chain_ = std::move(chain);
  out.options_ = options;
  return out;
}

Result<SubjectPublicKey> SubjectPublicKey::FromPKey(EVP_PKEY* key) {
  SubjectPublicKey out;
  CW_ASSIGN_OR_RETURN(out.spec, KeySpecOf(key));
  CW_ASSIGN_OR_RETURN(out.parts, ossl::PublicKeyPartsOf(key));
  return out;
}

Result<IssuedCertificate> CertificateAuthority::Issue(const CertificateTemplate& tmpl, EVP_PKEY* subject_key) const {
  CW_ASSIGN_OR_RETURN(SubjectPublicKey subject, SubjectPublicKey::FromPKey(subject_key));
  return Issue(tmpl, subject);
}

Result<IssuedCertificate> CertificateAuthority::Issue(const CertificateTemplate& tmpl,
                                                      const SubjectPublicKey& subject_key) const {
  CertificateTemplate effective = tmpl;
  if (tmpl.is_ca && path_length_) {
    if (*path_length_ == 0) {
      return PolicyDenied("the issuing CA's pathLenConstraint is 0: it may not issue CA certificates");
    }
    if (tmpl.max_path_length && *tmpl.max_path_length >= *path_length_) {
      return PolicyDenied("maxPathLength " + std::to_string(*tmpl.max_path_length) +
                          " must be below the issuing CA's pathLenConstraint " + std::to_string(*path_length_));
    }
    if (!tmpl.max_path_length) effective.max_path_length = static_cast<int>(*path_length_ - 1);
  }
  const Clock& clock = options_.clock ? *options_.clock : SystemClock::Instance();
  if (clock.Now() >= not_after_) {
    return Unavailable("the issuing CA certificate expired at " + FormatTime(not_after_));
  }
  BuildParams p{&effective,
                &subject_key,
                X509_get_subject_name(chain_.front().get()),
                &key_id_,
                not_before_,
                not_after_,
                key_.get(),
                DefaultScheme(key_->spec(), options_.rsa_pss),
                &options_};
  CW_ASSIGN_OR_RETURN(IssuedCertificate out, Build(p));
  out.chain_pem = out.pem + chain_tail_pem_;
  out.ca_pem = ca_pem_;
  return out;
}

// ---------------------------------------------------------------------------------------------

namespace {

// ---------------------------------------------------------------------------------------------
// What a CSR may hold so that certwright reads it as Go's crypto/x509 does (the API server,
// admission plugins, kubectl and the approver's tools all use it). Where the two could differ,
// the request is refused with a message saying what to change.

// "1.2.840.113549.1.9.2 (unstructuredName)", or the dotted OID alone when OpenSSL has no name.
std::string OidText(const ASN1_OBJECT* obj) {
  char dotted[128];
  OBJ_obj2txt(dotted, sizeof dotted, obj, 1);
  const int nid = OBJ_obj2nid(obj);
  if (nid == NID_undef) return dotted;
  return std::string(dotted) + " (" + OBJ_nid2sn(nid) + ")";
}

// Attributes (RFC 2986 §4.1, RFC 2985 §5.4): Go reads every extensionRequest and ignores the
// Microsoft one; OpenSSL reads the first extensionRequest, or else the Microsoft one. So at most
// one extensionRequest with one value, nothing Microsoft, and nothing else but challengePassword
// (which neither side turns into certificate contents).
Status CheckRequestAttributes(const X509_REQ* req) {
  int extension_requests = 0;
  for (int i = 0; i < X509_REQ_get_attr_count(req); ++i) {
    X509_ATTRIBUTE* attr = X509_REQ_get_attr(req, i);
    const ASN1_OBJECT* type = X509_ATTRIBUTE_get0_object(attr);
    switch (OBJ_obj2nid(type)) {
      case NID_ext_req:
        ++extension_requests;
        if (X509_ATTRIBUTE_count(attr) != 1) {
          return InvalidArgument("certificate request extensionRequest attribute (1.2.840.113549.1.9.14) has " +
                                 std::to_string(X509_ATTRIBUTE_count(attr)) + " values; exactly one is accepted");
        }
        break;
      case NID_pkcs9_challengePassword:
        break;
      case NID_ms_ext_req:
        return InvalidArgument("certificate request has a Microsoft extensionRequest attribute (1.3.6.1.4.1.311.2.1.14), "
                               "which Kubernetes does not read; put the extensions in the PKCS#9 extensionRequest "
                               "(1.2.840.113549.1.9.14)");
      default:
        return InvalidArgument("certificate request has attribute " + OidText(type) +
                               "; only extensionRequest (1.2.840.113549.1.9.14) and challengePassword "
                               "(1.2.840.113549.1.9.7) are accepted");
    }
  }
  if (extension_requests > 1) {
    return InvalidArgument("certificate request has " + std::to_string(extension_requests) +
                           " extensionRequest attributes (1.2.840.113549.1.9.14); exactly one is accepted, with every "
                           "extension in it");
  }
  return Ok();
}

std::string_view StringTypeName(int type) {
  switch (type) {
    case V_ASN1_UNIVERSALSTRING: return "UniversalString";
    case V_ASN1_BMPSTRING: return "BMPString";
    case V_ASN1_T61STRING: return "T61String";
    case V_ASN1_NUMERICSTRING: return "NumericString";
    case V_ASN1_VISIBLESTRING: return "VisibleString";
    case V_ASN1_GENERALSTRING: return "GeneralString";
    case V_ASN1_GRAPHICSTRING: return "GraphicString";
    case V_ASN1_VIDEOTEXSTRING: return "VideotexString";
    case V_ASN1_OCTET_STRING: return "OCTET STRING";
    case V_ASN1_BIT_STRING: return "BIT STRING";
    default: return "value that is not a string";
  }
}

// Subject strings: Go's crypto/x509 does not read UniversalString and reads BMPString and
// T61String its own way, so "O=system:masters" in a UniversalString is a group OpenSSL sees and
// an approver does not. Only the three string types both read alike are accepted.
Status CheckSubjectStrings(const X509_NAME* name) {
  for (int i = 0; i < X509_NAME_entry_count(name); ++i) {
    const X509_NAME_ENTRY* entry = X509_NAME_get_entry(name, i);
    const int type = ASN1_STRING_type(X509_NAME_ENTRY_get_data(entry));
    if (type == V_ASN1_PRINTABLESTRING || type == V_ASN1_UTF8STRING || type == V_ASN1_IA5STRING) continue;
    const ASN1_OBJECT* obj = X509_NAME_ENTRY_get_object(entry);
    char dotted[128];
    OBJ_obj2txt(dotted, sizeof dotted, obj, 1);
    const int nid = OBJ_obj2nid(obj);
    return InvalidArgument("certificate request subject attribute " +
                           std::string(nid == NID_undef ? dotted : OBJ_nid2sn(nid)) + " is a " +
                           std::string(StringTypeName(type)) +
                           "; only PrintableString, UTF8String and IA5String are accepted");
  }
  return Ok();
}

// Extensions: each OID once (Go keeps the last of a repeated extension, OpenSSL the first, and
// certwright read them all), and those certwright or the policy reads strict DER inside their
// extnValue OCTET STRING, which the walk of the whole request does not enter.
Status CheckRequestExtensions(const STACK_OF(X509_EXTENSION)* exts) {
  for (int i = 0; i < sk_X509_EXTENSION_num(exts); ++i) {
    X509_EXTENSION* ext = sk_X509_EXTENSION_value(exts, i);
    const ASN1_OBJECT* obj = X509_EXTENSION_get_object(ext);
    for (int j = 0; j < i; ++j) {
      if (OBJ_cmp(obj, X509_EXTENSION_get_object(sk_X509_EXTENSION_value(exts, j))) == 0) {
        return InvalidArgument("certificate request has extension " + OidText(obj) + " more than once");
      }
    }
    const int nid = OBJ_obj2nid(obj);
    if (nid == NID_subject_alt_name || nid == NID_basic_constraints || nid == NID_key_usage ||
        nid == NID_ext_key_usage) {
      const ASN1_OCTET_STRING* value = X509_EXTENSION_get_data(ext);
      CW_RETURN_IF_ERROR(CheckStrictDer(
          std::span<const uint8_t>(ASN1_STRING_get0_data(value), static_cast<size_t>(ASN1_STRING_length(value))),
          std::string("certificate request ") + OBJ_nid2sn(nid) + " extension"));
    }
  }
  return Ok();
}

}  // namespace

Result<CertificateRequest> CertificateRequest::Parse(std::string_view input) {
  CW_RETURN_IF_ERROR(CheckInputSize(input, "certificate request"));
  Bytes der;
  if (LooksLikePem(input)) {
    CW_ASSIGN_OR_RETURN(std::vector<PemBlock> blocks, ReadPemBlocks(input, "certificate request"));
    if (blocks[0].name != "CERTIFICATE REQUEST" && blocks[0].name != "NEW CERTIFICATE REQUEST") {
      return InvalidArgument("PEM block 1 is a \"" + blocks[0].name + "\", expected \"CERTIFICATE REQUEST\"");
    }
    der = std::move(blocks[0].der);
  } else {
    der.assign(input.begin(), input.end());
  }
  const unsigned char* p = der.data();
  CertificateRequest out;
  out.request.reset(d2i_X509_REQ(nullptr, &p, static_cast<long>(der.size())));
  if (!out.request) {
    return InvalidArgument("certificate request is not a valid PKCS#10 structure (" + ossl::DrainErrors() + ")");
  }
  if (p != der.data() + der.size()) {
    return InvalidArgument("certificate request has trailing data after the PKCS#10 structure");
  }
  // Strict DER at every level of the request (der.h says why a walk over the bytes, not a
  // re-encoding); the extnValue payloads and an RSA key's are checked where they are read.
  CW_RETURN_IF_ERROR(CheckStrictDer(der, "certificate request"));
  CW_RETURN_IF_ERROR(CheckRequestAttributes(out.request.get()));
  CW_RETURN_IF_ERROR(CheckSubjectStrings(X509_REQ_get_subject_name(out.request.get())));
  EVP_PKEY* pub = X509_REQ_get0_pubkey(out.request.get());
  if (pub == nullptr) {
    return InvalidArgument("certificate request public key cannot be read (" + ossl::DrainErrors() + ")");
  }
  auto spec = KeySpecOf(pub);
  if (!spec) return std::move(spec).error().WithContext("certificate request");
  out.key_spec = *spec;
  if (X509_REQ_verify(out.request.get(), pub) != 1) {
    ossl::DrainErrors();
    return InvalidArgument("certificate request signature does not verify: the request was altered or was not signed "
                           "by the private key of the public key it carries");
  }
  out.public_key = ossl::Share(pub);
  // The SPKI parts straight from the request's encoding (no second decode of the key).
  {
    const ASN1_OBJECT* alg = nullptr;
    const unsigned char* bits = nullptr;
    int bits_len = 0;
    X509_ALGOR* algor = nullptr;
    X509_PUBKEY_get0_param(const_cast<ASN1_OBJECT**>(&alg), &bits, &bits_len, &algor,
                           X509_REQ_get_X509_PUBKEY(out.request.get()));
    out.subject_key.spec = out.key_spec;
    out.subject_key.parts.algorithm_nid = OBJ_obj2nid(alg);
    out.subject_key.parts.bits.assign(bits, bits + bits_len);
    if (out.subject_key.parts.algorithm_nid == NID_rsaEncryption) {
      // RSAPublicKey (RFC 8017 §A.1.1) is DER inside the BIT STRING.
      CW_RETURN_IF_ERROR(CheckStrictDer(out.subject_key.parts.bits, "certificate request RSA public key"));
    }
    if (out.subject_key.parts.algorithm_nid == NID_X9_62_id_ecPublicKey) {
      int ptype = 0;
      const void* pval = nullptr;
      X509_ALGOR_get0(nullptr, &ptype, &pval, algor);
      if (ptype != V_ASN1_OBJECT) {
        return InvalidArgument("certificate request EC key does not name its curve (explicit curve parameters are "
                               "not supported, RFC 5480 §2.1.1)");
      }
      out.subject_key.parts.curve_nid = OBJ_obj2nid(static_cast<const ASN1_OBJECT*>(pval));
    }
  }
  CW_ASSIGN_OR_RETURN(out.subject, DistinguishedName::FromX509Name(X509_REQ_get_subject_name(out.request.get())));

  // OpenSSL answers "no extensions" both when there is no extensionRequest and when the one
  // there does not decode; Go refuses the latter, and so does certwright.
  const bool has_extension_request = X509_REQ_get_attr_by_NID(out.request.get(), NID_ext_req, -1) >= 0;
  STACK_OF(X509_EXTENSION)* exts = X509_REQ_get_extensions(out.request.get());
  if (exts == nullptr && has_extension_request) {
    ossl::DrainErrors();
    return InvalidArgument("certificate request extensionRequest attribute is not a list of extensions");
  }
  if (Status checked = CheckRequestExtensions(exts); !checked.ok()) {
    sk_X509_EXTENSION_pop_free(exts, X509_EXTENSION_free);
    return std::move(checked).error();
  }
  for (int i = 0; i < sk_X509_EXTENSION_num(exts); ++i) {
    X509_EXTENSION* ext = sk_X509_EXTENSION_value(exts, i);
    int nid = OBJ_obj2nid(X509_EXTENSION_get_object(ext));
    if (nid == NID_basic_constraints) {
      Owned<BASIC_CONSTRAINTS, BASIC_CONSTRAINTS_free> bc(static_cast<BASIC_CONSTRAINTS*>(X509V3_EXT_d2i(ext)));
      if (!bc) {
        sk_X509_EXTENSION_pop_free(exts, X509_EXTENSION_free);
        ossl::DrainErrors();
        return InvalidArgument("certificate request basicConstraints extension is malformed");
      }
      out.requests_ca = bc->ca;
    }
    if (nid != NID_subject_alt_name) continue;
    ossl::GeneralNames names(static_cast<GENERAL_NAMES*>(X509V3_EXT_d2i(ext)));
    if (!names) {
      sk_X509_EXTENSION_pop_free(exts, X509_EXTENSION_free);
      return InvalidArgument("certificate request subjectAltName extension is malformed");
    }
    for (int j = 0; j < sk_GENERAL_NAME_num(names.get()); ++j) {
      const GENERAL_NAME* gn = sk_GENERAL_NAME_value(names.get(), j);
      auto text = [](const ASN1_STRING* s) {
        return std::string(reinterpret_cast<const char*>(ASN1_STRING_get0_data(s)), static_cast<size_t>(ASN1_STRING_length(s)));
      };
      switch (gn->type) {
        case GEN_DNS: out.dns_names.push_back(text(gn->d.dNSName)); break;
        case GEN_URI: out.uris.push_back(text(gn->d.uniformResourceIdentifier)); break;
        case GEN_EMAIL: out.email_addresses.push_back(text(gn->d.rfc822Name)); break;
        case GEN_IPADD: {
          std::string ip = IpToText(ASN1_STRING_get0_data(gn->d.iPAddress), ASN1_STRING_length(gn->d.iPAddress));
          if (ip.empty()) {
            sk_X509_EXTENSION_pop_free(exts, X509_EXTENSION_free);
            return InvalidArgument("certificate request has an IP address SAN of invalid length");
          }
          out.ip_addresses.push_back(ip);
          break;
        }
        default:
          sk_X509_EXTENSION_pop_free(exts, X509_EXTENSION_free);
          return InvalidArgument("certificate request has a subjectAltName of a type certwright does not issue "
                                 "(only DNS, IP, URI and email names are supported)");
      }
    }
  }
  sk_X509_EXTENSION_pop_free(exts, X509_EXTENSION_free);
  return out;
}

CertificateTemplate TemplateFromCsr(const CertificateRequest& csr) {
  CertificateTemplate t;
  t.subject = csr.subject;
  t.dns_names = csr.dns_names;
  t.ip_addresses = csr.ip_addresses;
  t.uris = csr.uris;
  t.email_addresses = csr.email_addresses;
  return t;
}

}  // namespace certwright::signer
