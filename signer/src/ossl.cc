#include "certwright/signer/ossl.h"

#include <openssl/err.h>
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

Result<Bytes> KeyIdentifier(EVP_PKEY* key) {
  X509_PUBKEY* pub = nullptr;
  if (X509_PUBKEY_set(&pub, key) != 1) {
    return Internal("reading public key: " + DrainErrors());
  }
  const unsigned char* bits = nullptr;
  int len = 0;
  X509_PUBKEY_get0_param(nullptr, &bits, &len, nullptr, pub);
  Bytes digest(EVP_MAX_MD_SIZE);
  unsigned int dlen = 0;
  int ok = EVP_Digest(bits, static_cast<size_t>(len), digest.data(), &dlen, EVP_sha1(), nullptr);
  X509_PUBKEY_free(pub);
  if (ok != 1) return Internal("hashing public key: " + DrainErrors());
  digest.resize(dlen);
  return digest;
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

}  // namespace certwright::ossl
