// RAII owners for the OpenSSL objects certwright passes around (STYLE.md §8), plus the few
// conversions every component needs (PEM <-> object, OpenSSL error queue -> message).
#pragma once

#include <openssl/evp.h>
#include <openssl/x509.h>
#include <openssl/x509v3.h>

#include <cstdint>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "certwright/signer/result.h"

namespace certwright::ossl {

template <auto Fn>
struct Deleter {
  template <typename T>
  void operator()(T* p) const { Fn(p); }
};

// Memory OpenSSL allocated for us (i2d output, BN_bn2hex strings).
struct OpenSslFree {
  void operator()(void* p) const { OPENSSL_free(p); }
};
using Buffer = std::unique_ptr<unsigned char, OpenSslFree>;

using PKey = std::unique_ptr<EVP_PKEY, Deleter<EVP_PKEY_free>>;
using PKeyCtx = std::unique_ptr<EVP_PKEY_CTX, Deleter<EVP_PKEY_CTX_free>>;
using MdCtx = std::unique_ptr<EVP_MD_CTX, Deleter<EVP_MD_CTX_free>>;
using X509Ptr = std::unique_ptr<X509, Deleter<X509_free>>;
using X509Req = std::unique_ptr<X509_REQ, Deleter<X509_REQ_free>>;
using X509Name = std::unique_ptr<X509_NAME, Deleter<X509_NAME_free>>;
using X509Ext = std::unique_ptr<X509_EXTENSION, Deleter<X509_EXTENSION_free>>;
using GeneralNames = std::unique_ptr<GENERAL_NAMES, Deleter<GENERAL_NAMES_free>>;
using Bio = std::unique_ptr<BIO, Deleter<BIO_free_all>>;
using BigNum = std::unique_ptr<BIGNUM, Deleter<BN_free>>;
using Asn1Integer = std::unique_ptr<ASN1_INTEGER, Deleter<ASN1_INTEGER_free>>;
using Asn1Time = std::unique_ptr<ASN1_TIME, Deleter<ASN1_TIME_free>>;
using Asn1OctetString = std::unique_ptr<ASN1_OCTET_STRING, Deleter<ASN1_OCTET_STRING_free>>;

using Bytes = std::vector<uint8_t>;

// Shares ownership of an EVP_PKEY (OpenSSL reference counting) without copying it.
PKey Share(EVP_PKEY* key);
X509Ptr Share(X509* cert);

// Drains OpenSSL's thread-local error queue into one readable line; `fallback` if empty.
std::string DrainErrors(std::string_view fallback = "unknown OpenSSL error");

// Serialization.
Result<std::string> PublicKeyToPem(EVP_PKEY* key);
Result<Bytes> PublicKeyToDer(EVP_PKEY* key);
Result<std::string> CertificateToPem(X509* cert);
Result<Bytes> CertificateToDer(X509* cert);
Result<std::string> CsrToPem(X509_REQ* req);

// A short description of a key for messages: "ECDSA P-256", "RSA 2048", "Ed25519".
std::string DescribeKey(EVP_PKEY* key);

// The parts of a SubjectPublicKeyInfo (RFC 5280 §4.1.2.7), read from the key's parameters.
// OpenSSL 3's X509_PUBKEY_set/i2d_PUBKEY go through the provider encoder and decoder machinery,
// which costs more than an ECDSA signature; issuance builds the SPKI from these parts instead.
struct PublicKeyParts {
  int algorithm_nid = 0;   // NID_X9_62_id_ecPublicKey, NID_rsaEncryption, NID_ED25519
  int curve_nid = 0;       // EC only: the namedCurve parameter
  Bytes bits;              // the subjectPublicKey BIT STRING contents
};
Result<PublicKeyParts> PublicKeyPartsOf(EVP_PKEY* key);
// Writes the parts into a certificate's SubjectPublicKeyInfo.
Status SetSubjectPublicKey(X509* cert, const PublicKeyParts& parts);

// SHA-1 of the subjectPublicKey BIT STRING (RFC 5280 §4.2.1.2 method 1).
Result<Bytes> KeyIdentifier(EVP_PKEY* key);
Bytes KeyIdentifier(const PublicKeyParts& parts);

// True when both keys are the same public key.
bool SamePublicKey(EVP_PKEY* a, EVP_PKEY* b);

std::string HexColon(const Bytes& bytes);
// Lower-case hex, no separators.
std::string Hex(const Bytes& bytes);
// Lower-case hex SHA-256 of `data`.
std::string Sha256Hex(std::string_view data);
// Decodes a hex constant written in the source ("300a0608..."): DER fragments of the specs.
Bytes FromHex(std::string_view hex);

}  // namespace certwright::ossl
