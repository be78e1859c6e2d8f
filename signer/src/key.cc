#include "certwright/signer/key.h"

#include <openssl/core_names.h>
#include <openssl/rsa.h>

#include <algorithm>
#include <array>

namespace certwright::signer {

Result<KeySpec> ParseKeySpec(std::string_view text) {
  std::string t(text);
  std::transform(t.begin(), t.end(), t.begin(), [](unsigned char c) { return std::tolower(c); });
  struct Alias { std::string_view name; KeySpec spec; };
  static const std::array<Alias, 12> kAliases = {{
      {"ecdsa-p256", KeySpec::EcdsaP256()}, {"ec-p256", KeySpec::EcdsaP256()},
      {"p256", KeySpec::EcdsaP256()},       {"ecdsa-p384", KeySpec::EcdsaP384()},
      {"ec-p384", KeySpec::EcdsaP384()},    {"p384", KeySpec::EcdsaP384()},
      {"ed25519", KeySpec::Ed25519()},      {"rsa-2048", KeySpec::Rsa(2048)},
      {"rsa-3072", KeySpec::Rsa(3072)},     {"rsa-4096", KeySpec::Rsa(4096)},
      {"rsa2048", KeySpec::Rsa(2048)},      {"rsa4096", KeySpec::Rsa(4096)},
  }};
  for (const auto& a : kAliases) {
    if (a.name == t) return a.spec;
  }
  return InvalidArgument("unknown key type \"" + std::string(text) +
                         "\": use one of ecdsa-p256, ecdsa-p384, ed25519, rsa-2048, rsa-3072, rsa-4096");
}

std::string KeySpecName(const KeySpec& spec) {
  switch (spec.type) {
    case KeyType::kEcdsa: return "ecdsa-p" + std::to_string(spec.bits);
    case KeyType::kEd25519: return "ed25519";
    case KeyType::kRsa: return "rsa-" + std::to_string(spec.bits);
  }
  return "unknown";
}

Result<KeySpec> KeySpecOf(EVP_PKEY* key) {
  if (key == nullptr) return InvalidArgument("no public key");
  const std::string what = ossl::DescribeKey(key);
  switch (EVP_PKEY_get_base_id(key)) {
    case EVP_PKEY_RSA: {
      int bits = EVP_PKEY_get_bits(key);
      if (bits < 2048) {
        return InvalidArgument(what + " key is too weak: RSA keys must be at least 2048 bits");
      }
      if (bits > 8192) {
        return InvalidArgument(what + " key is too large: RSA keys must be at most 8192 bits");
      }
      return KeySpec::Rsa(bits);
    }
    case EVP_PKEY_EC: {
      if (what == "ECDSA P-256") return KeySpec::EcdsaP256();
      if (what == "ECDSA P-384") return KeySpec::EcdsaP384();
      return InvalidArgument(what + " key is not supported: ECDSA keys must use P-256 or P-384");
    }
    case EVP_PKEY_ED25519:
      return KeySpec::Ed25519();
    case EVP_PKEY_DSA:
      return InvalidArgument(what + " key is not supported: DSA is deprecated; use ECDSA, Ed25519 or RSA");
    default:
      return InvalidArgument(what + " is not supported: use ECDSA P-256/P-384, Ed25519 or RSA 2048-8192");
  }
}

Result<ossl::PKey> GenerateKey(const KeySpec& spec) {
  EVP_PKEY* key = nullptr;
  switch (spec.type) {
    case KeyType::kEcdsa:
      if (spec.bits != 256 && spec.bits != 384) {
        return InvalidArgument("ECDSA key size " + std::to_string(spec.bits) + " is not supported: use 256 or 384");
      }
      key = EVP_EC_gen(spec.bits == 256 ? "P-256" : "P-384");
      break;
    case KeyType::kEd25519:
      key = EVP_PKEY_Q_keygen(nullptr, nullptr, "ED25519");
      break;
    case KeyType::kRsa:
      if (spec.bits < 2048 || spec.bits > 8192) {
        return InvalidArgument("RSA key size " + std::to_string(spec.bits) + " is not supported: use 2048 to 8192");
      }
      key = EVP_RSA_gen(static_cast<unsigned int>(spec.bits));
      break;
  }
  if (key == nullptr) return Internal("generating " + KeySpecName(spec) + " key: " + ossl::DrainErrors());
  return ossl::PKey(key);
}

SignatureScheme DefaultScheme(const KeySpec& spec, bool rsa_pss) {
  switch (spec.type) {
    case KeyType::kEcdsa:
      return spec.bits == 384 ? SignatureScheme::kEcdsaSha384 : SignatureScheme::kEcdsaSha256;
    case KeyType::kEd25519:
      return SignatureScheme::kEd25519;
    case KeyType::kRsa:
      return rsa_pss ? SignatureScheme::kRsaPssSha256 : SignatureScheme::kRsaPkcs1Sha256;
  }
  return SignatureScheme::kEcdsaSha256;
}

bool SchemeFitsKey(SignatureScheme scheme, const KeySpec& spec) {
  switch (scheme) {
    case SignatureScheme::kEcdsaSha256:
    case SignatureScheme::kEcdsaSha384:
      return spec.type == KeyType::kEcdsa;
    case SignatureScheme::kEd25519:
      return spec.type == KeyType::kEd25519;
    default:
      return spec.type == KeyType::kRsa;
  }
}

std::string_view SchemeName(SignatureScheme scheme) {
  switch (scheme) {
    case SignatureScheme::kEcdsaSha256: return "ecdsa-with-SHA256";
    case SignatureScheme::kEcdsaSha384: return "ecdsa-with-SHA384";
    case SignatureScheme::kEd25519: return "Ed25519";
    case SignatureScheme::kRsaPkcs1Sha256: return "sha256WithRSAEncryption";
    case SignatureScheme::kRsaPkcs1Sha384: return "sha384WithRSAEncryption";
    case SignatureScheme::kRsaPkcs1Sha512: return "sha512WithRSAEncryption";
    case SignatureScheme::kRsaPssSha256: return "RSASSA-PSS-SHA256";
    case SignatureScheme::kRsaPssSha384: return "RSASSA-PSS-SHA384";
  }
  return "unknown";
}

const EVP_MD* SchemeDigest(SignatureScheme scheme) {
  switch (scheme) {
    case SignatureScheme::kEcdsaSha256:
    case SignatureScheme::kRsaPkcs1Sha256:
    case SignatureScheme::kRsaPssSha256:
      return EVP_sha256();
    case SignatureScheme::kEcdsaSha384:
    case SignatureScheme::kRsaPkcs1Sha384:
    case SignatureScheme::kRsaPssSha384:
      return EVP_sha384();
    case SignatureScheme::kRsaPkcs1Sha512:
      return EVP_sha512();
    case SignatureScheme::kEd25519:
      return nullptr;
  }
  return nullptr;
}

bool SchemeIsPss(SignatureScheme scheme) {
  return scheme == SignatureScheme::kRsaPssSha256 || scheme == SignatureScheme::kRsaPssSha384;
}

Status VerifySignature(EVP_PKEY* public_key, SignatureScheme scheme, std::span<const uint8_t> message,
                       std::span<const uint8_t> signature) {
  ossl::MdCtx ctx(EVP_MD_CTX_new());
  EVP_PKEY_CTX* pctx = nullptr;
  if (!ctx || EVP_DigestVerifyInit(ctx.get(), &pctx, SchemeDigest(scheme), nullptr, public_key) != 1) {
    return Internal("preparing signature verification: " + ossl::DrainErrors());
  }
  if (SchemeIsPss(scheme)) {
    // RFC 4055 / CA/B Forum: salt length equals the digest length.
    if (EVP_PKEY_CTX_set_rsa_padding(pctx, RSA_PKCS1_PSS_PADDING) != 1 ||
        EVP_PKEY_CTX_set_rsa_pss_saltlen(pctx, RSA_PSS_SALTLEN_DIGEST) != 1) {
      return Internal("preparing RSA-PSS verification: " + ossl::DrainErrors());
    }
  }
  if (EVP_DigestVerify(ctx.get(), signature.data(), signature.size(), message.data(), message.size()) != 1) {
    ossl::DrainErrors();
    return InvalidArgument("signature does not verify with the " + ossl::DescribeKey(public_key) + " public key");
  }
  return Ok();
}

}  // namespace certwright::signer
