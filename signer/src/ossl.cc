#include "certwright/signer/ossl.h"

#include <openssl/err.h>
#include <openssl/core_names.h>
#include <openssl/ec.h>
#include <openssl/pem.h>

#include <cstdio>

namespace certwright::ossl {

PKey Share(EVP_PKEY* key) {
  if (key != nullptr) EVP_PKEY_up_ref(key);
  return PKey(key);
}

X509Ptr Share(X509* cert) {
  if (cert != nullptr) X509_up_ref(cert);
  return X509Ptr(cert);
}

std::string DrainErrors(std::string_view fallback) {
  std::string out;
  unsigned long code;
  while ((code = ERR_get_error()) != 0) {
    char buf[256];
    ERR_error_string_n(code, buf, sizeof buf);
    if (!out.empty()) out += "; ";
    // Keep the reason, drop the "error:0480006C:" prefix that means nothing to a user.
    std::string_view s(buf);
    const char* reason = ERR_reason_error_string(code);
    out += reason != nullptr ? std::string(reason) : std::string(s);
  }
  return out.empty() ? std::string(fallback) : out;
}

namespace {

template <typename Writer>
Result<std::string> ToPem(Writer write, std::string_view what) {
  Bio bio(BIO_new(BIO_s_mem()));
  if (!bio || write(bio.get()) != 1) {
    return Internal("encoding " + std::string(what) + " as PEM: " + DrainErrors());
  }
  char* data = nullptr;
  long len = BIO_get_mem_data(bio.get(), &data);
  return std::string(data, static_cast<size_t>(len));
}

template <typename Encoder>
Result<Bytes> ToDer(Encoder encode, std::string_view what) {
  unsigned char* out = nullptr;
  int len = encode(&out);
  if (len <= 0) return Internal("encoding " + std::string(what) + " as DER: " + DrainErrors());
  Bytes bytes(out, out + len);
  OPENSSL_free(out);
  return bytes;
}

}  // namespace

Result<std::string> PublicKeyToPem(EVP_PKEY* key) {
  return ToPem([&](BIO* b) { return PEM_write_bio_PUBKEY(b, key); }, "public key");
}

Result<Bytes> PublicKeyToDer(EVP_PKEY* key) {
  return ToDer([&](unsigned char** out) { return i2d_PUBKEY(key, out); }, "public key");
}

Result<std::string> CertificateToPem(X509* cert) {
  return ToPem([&](BIO* b) { return PEM_write_bio_X509(b, cert); }, "certificate");
}

Result<Bytes> CertificateToDer(X509* cert) {
  return ToDer([&](unsigned char** out) { return i2d_X509(cert, out); }, "certificate");
}

Result<std::string> CsrToPem(X509_REQ* req) {
  return ToPem([&](BIO* b) { return PEM_write_bio_X509_REQ(b, req); }, "certificate request");
}

std::string DescribeKey(EVP_PKEY* key) {
  switch (EVP_PKEY_get_base_id(key)) {
    case EVP_PKEY_RSA:
      return "RSA " + std::to_string(EVP_PKEY_get_bits(key));
    case EVP_PKEY_RSA_PSS:
      return "RSA-PSS " + std::to_string(EVP_PKEY_get_bits(key));
    case EVP_PKEY_EC: {
      char group[64] = {0};
      size_t len = 0;
      if (EVP_PKEY_get_utf8_string_param(key, "group", group, sizeof group, &len) == 1) {
        std::string g(group, len);
        if (g == "prime256v1") return "ECDSA P-256";
        if (g == "secp384r1") return "ECDSA P-384";
        if (g == "secp521r1") return "ECDSA P-521";
        return "ECDSA " + g;
      }
      return "ECDSA";
    }
    case EVP_PKEY_ED25519:
      return "Ed25519";
    case EVP_PKEY_ED448:
      return "Ed448";
    case EVP_PKEY_DSA:
      return "DSA " + std::to_string(EVP_PKEY_get_bits(key));
    default:
      return std::string("key type ") + OBJ_nid2sn(EVP_PKEY_get_base_id(key));
  }
}

Result<PublicKeyParts> PublicKeyPartsOf(EVP_PKEY* key) {
  PublicKeyParts parts;
  switch (EVP_PKEY_get_base_id(key)) {
    case EVP_PKEY_EC: {
      char group[64] = {0};
      size_t glen = 0, plen = 0;
      if (EVP_PKEY_get_utf8_string_param(key, OSSL_PKEY_PARAM_GROUP_NAME, group, sizeof group, &glen) != 1 ||
          EVP_PKEY_get_octet_string_param(key, OSSL_PKEY_PARAM_ENCODED_PUBLIC_KEY, nullptr, 0, &plen) != 1) {
        return Internal("reading the EC public key: " + DrainErrors());
      }
      parts.bits.resize(plen);
      if (EVP_PKEY_get_octet_string_param(key, OSSL_PKEY_PARAM_ENCODED_PUBLIC_KEY, parts.bits.data(), plen, &plen) != 1) {
        return Internal("reading the EC public key: " + DrainErrors());
      }
      parts.algorithm_nid = NID_X9_62_id_ecPublicKey;
      parts.curve_nid = OBJ_sn2nid(group);
      if (parts.curve_nid == NID_undef) parts.curve_nid = EC_curve_nist2nid(group);
      if (parts.curve_nid == NID_undef) return InvalidArgument(std::string("unknown EC curve ") + group);
      return parts;
    }
    case EVP_PKEY_ED25519: {
      size_t len = 0;
      EVP_PKEY_get_raw_public_key(key, nullptr, &len);
      parts.bits.resize(len);
      if (EVP_PKEY_get_raw_public_key(key, parts.bits.data(), &len) != 1) {
        return Internal("reading the Ed25519 public key: " + DrainErrors());
      }
      parts.algorithm_nid = NID_ED25519;
      return parts;
    }
    case EVP_PKEY_RSA: {
      // RSAPublicKey ::= SEQUENCE { modulus INTEGER, publicExponent INTEGER } (RFC 8017 A.1.1)
      BIGNUM* n = nullptr;
      BIGNUM* e = nullptr;
      if (EVP_PKEY_get_bn_param(key, OSSL_PKEY_PARAM_RSA_N, &n) != 1 ||
          EVP_PKEY_get_bn_param(key, OSSL_PKEY_PARAM_RSA_E, &e) != 1) {
        BN_free(n);
        return Internal("reading the RSA public key: " + DrainErrors());
      }
      Asn1Integer an(BN_to_ASN1_INTEGER(n, nullptr));
      Asn1Integer ae(BN_to_ASN1_INTEGER(e, nullptr));
      BN_free(n);
      BN_free(e);
      int content = i2d_ASN1_INTEGER(an.get(), nullptr) + i2d_ASN1_INTEGER(ae.get(), nullptr);
      int total = ASN1_object_size(1, content, V_ASN1_SEQUENCE);
      parts.bits.resize(static_cast<size_t>(total));
      unsigned char* p = parts.bits.data();
      ASN1_put_object(&p, 1, content, V_ASN1_SEQUENCE, V_ASN1_UNIVERSAL);
      i2d_ASN1_INTEGER(an.get(), &p);
      i2d_ASN1_INTEGER(ae.get(), &p);
      parts.algorithm_nid = NID_rsaEncryption;
      return parts;
    }
    default:
      return InvalidArgument("cannot encode a " + DescribeKey(key) + " public key");
  }
}

Status SetSubjectPublicKey(X509* cert, const PublicKeyParts& parts) {
  unsigned char* bits = static_cast<unsigned char*>(OPENSSL_memdup(parts.bits.data(), parts.bits.size()));
  int ptype = V_ASN1_UNDEF;  // Ed25519: parameters absent (RFC 8410 §3)
  void* pval = nullptr;
  if (parts.algorithm_nid == NID_X9_62_id_ecPublicKey) {
    ptype = V_ASN1_OBJECT;  // namedCurve (RFC 5480 §2.1.1)
    pval = OBJ_nid2obj(parts.curve_nid);
  } else if (parts.algorithm_nid == NID_rsaEncryption) {
    ptype = V_ASN1_NULL;  // RFC 3279 §2.3.1
  }
  if (bits == nullptr || X509_PUBKEY_set0_param(X509_get_X509_PUBKEY(cert), OBJ_nid2obj(parts.algorithm_nid), ptype,
                                                pval, bits, static_cast<int>(parts.bits.size())) != 1) {
    OPENSSL_free(bits);
    return Internal("setting the subject public key: " + DrainErrors());
  }
  return Ok();
}

Bytes KeyIdentifier(const PublicKeyParts& parts) {
  Bytes digest(20);
  EVP_Digest(parts.bits.data(), parts.bits.size(), digest.data(), nullptr, EVP_sha1(), nullptr);
  return digest;
}

Result<Bytes> KeyIdentifier(EVP_PKEY* key) {
  CW_ASSIGN_OR_RETURN(PublicKeyParts parts, PublicKeyPartsOf(key));
  return KeyIdentifier(parts);
}

bool SamePublicKey(EVP_PKEY* a, EVP_PKEY* b) {
  if (a == nullptr || b == nullptr) return false;
  return EVP_PKEY_eq(a, b) == 1;
}

std::string HexColon(const Bytes& bytes) {
  std::string out;
  out.reserve(bytes.size() * 3);
  for (size_t i = 0; i < bytes.size(); ++i) {
    char buf[4];
    std::snprintf(buf, sizeof buf, i == 0 ? "%02X" : ":%02X", bytes[i]);
    out += buf;
  }
  return out;
}

std::string Hex(const Bytes& bytes) {
  static constexpr char kDigits[] = "0123456789abcdef";
  std::string out;
  out.reserve(bytes.size() * 2);
  for (uint8_t b : bytes) {
    out += kDigits[b >> 4];
    out += kDigits[b & 15];
  }
  return out;
}

std::string Sha256Hex(std::string_view data) {
  unsigned char digest[EVP_MAX_MD_SIZE];
  unsigned int len = 0;
  EVP_Digest(data.data(), data.size(), digest, &len, EVP_sha256(), nullptr);
  return Hex(Bytes(digest, digest + len));
}

Bytes FromHex(std::string_view hex) {
  auto nibble = [](char c) { return c <= '9' ? c - '0' : (c | 0x20) - 'a' + 10; };
  Bytes out;
  out.reserve(hex.size() / 2);
  for (size_t i = 0; i + 1 < hex.size(); i += 2) {
    out.push_back(static_cast<uint8_t>(nibble(hex[i]) << 4 | nibble(hex[i + 1])));
  }
  return out;
}

}  // namespace certwright::ossl
