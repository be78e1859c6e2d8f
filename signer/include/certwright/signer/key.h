// Keys held by a backend: what kind they are, and how they sign.
//
// A SigningKey is a handle to a private key that may live in an HSM or a KMS and never leave
// it. It exposes the public key and one operation, Sign(scheme, message): the backend hashes
// the message itself when its device signs digests (PKCS#11 CKM_ECDSA, KMS MessageType DIGEST),
// so Ed25519, which signs whole messages, fits the same call.
//
//   auto key = registry.Load(uri);                       // see key_backend.h
//   auto sig = (*key)->Sign(SignatureScheme::kEcdsaSha256, tbs);
#pragma once

#include <openssl/evp.h>

#include <cstdint>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "certwright/signer/ossl.h"
#include "certwright/signer/result.h"

namespace certwright::signer {

using Bytes = std::vector<uint8_t>;

enum class KeyType { kEcdsa, kEd25519, kRsa };

// What key to create, or what a key is. `bits` is the curve size for ECDSA (256, 384), the
// modulus size for RSA (2048, 3072, 4096) and 255 for Ed25519.
struct KeySpec {
  KeyType type = KeyType::kEcdsa;
  int bits = 256;

  static KeySpec EcdsaP256() { return {KeyType::kEcdsa, 256}; }
  static KeySpec EcdsaP384() { return {KeyType::kEcdsa, 384}; }
  static KeySpec Ed25519() { return {KeyType::kEd25519, 255}; }
  static KeySpec Rsa(int bits) { return {KeyType::kRsa, bits}; }

  friend bool operator==(const KeySpec&, const KeySpec&) = default;
};

// "ecdsa-p256", "ecdsa-p384", "ed25519", "rsa-2048", "rsa-3072", "rsa-4096" (also accepted:
// "ec-p256", "p256", "rsa2048"). Errors name the accepted values.
Result<KeySpec> ParseKeySpec(std::string_view text);
std::string KeySpecName(const KeySpec& spec);

// Describes an existing public key; fails for key types certwright does not sign with or
// accept (DSA, RSA below 2048 or above 8192, curves other than P-256/P-384, Ed448).
Result<KeySpec> KeySpecOf(EVP_PKEY* public_key);

// Generates a software key (for leaf certificates and file-backed CAs).
Result<ossl::PKey> GenerateKey(const KeySpec& spec);

enum class SignatureScheme {
  kEcdsaSha256,
  kEcdsaSha384,
  kEd25519,
  kRsaPkcs1Sha256,
  kRsaPkcs1Sha384,
  kRsaPkcs1Sha512,
  kRsaPssSha256,
  kRsaPssSha384,
};

// The scheme certwright uses by default for a key: ECDSA with the hash that matches the curve,
// RSA PKCS#1 v1.5 with SHA-256, or Ed25519. `rsa_pss` picks RSASSA-PSS for RSA keys.
SignatureScheme DefaultScheme(const KeySpec& spec, bool rsa_pss = false);
bool SchemeFitsKey(SignatureScheme scheme, const KeySpec& spec);
std::string_view SchemeName(SignatureScheme scheme);
// The digest the scheme hashes with; nullptr for Ed25519 (pure EdDSA hashes internally).
const EVP_MD* SchemeDigest(SignatureScheme scheme);
bool SchemeIsPss(SignatureScheme scheme);

// Verifies `signature` over `message` with a public key, the way a relying party would.
Status VerifySignature(EVP_PKEY* public_key, SignatureScheme scheme, std::span<const uint8_t> message,
                       std::span<const uint8_t> signature);

class SigningKey {
 public:
  virtual ~SigningKey() = default;

  // The key URI this handle was loaded from, without secrets (no pin-value).
  virtual std::string uri() const = 0;
  virtual KeySpec spec() const = 0;
  // Borrowed; valid while the SigningKey lives.
  virtual EVP_PKEY* public_key() const = 0;
  // Signs `message` (for X.509: the DER TBSCertificate). Returns the signature in the encoding
  // X.509 carries: DER ECDSA-Sig-Value for ECDSA, raw for RSA and Ed25519. Thread-safe.
  virtual Result<Bytes> Sign(SignatureScheme scheme, std::span<const uint8_t> message) = 0;
  // A short name of the backend for metrics and audit ("file", "pkcs11", "awskms").
  virtual std::string_view backend() const = 0;
};

}  // namespace certwright::signer
