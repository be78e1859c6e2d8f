#include "awskms/awskms_backend.h"

#include <openssl/crypto.h>
#include <openssl/x509.h>

#include <algorithm>

namespace certwright::signer::awskms {

namespace {

using nlohmann::json;

std::string Join(const std::vector<std::string>& items) {
  std::string out;
  for (const auto& s : items) out += (out.empty() ? "" : ", ") + s;
  return out;
}

std::string StringField(const json& j, const char* name) {
  auto it = j.find(name);
  return it != j.end() && it->is_string() ? it->get<std::string>() : std::string();
}

}  // namespace

Result<std::string> KmsKeySpecFor(const KeySpec& spec) {
  switch (spec.type) {
    case KeyType::kEcdsa:
      if (spec.bits == 256) return std::string("ECC_NIST_P256");
      if (spec.bits == 384) return std::string("ECC_NIST_P384");
      break;
    case KeyType::kRsa:
      if (spec.bits == 2048 || spec.bits == 3072 || spec.bits == 4096) return "RSA_" + std::to_string(spec.bits);
      break;
    case KeyType::kEd25519:
      return InvalidArgument(
          "the awskms backend cannot create ed25519 keys (the KMS-compatible servers it is tested against have "
          "none); use ecdsa-p256, ecdsa-p384, rsa-2048, rsa-3072 or rsa-4096");
  }
  return InvalidArgument("AWS KMS has no " + KeySpecName(spec) +
                         " keys; use ecdsa-p256, ecdsa-p384, rsa-2048, rsa-3072 or rsa-4096");
}

Result<std::string> KmsSigningAlgorithmFor(SignatureScheme scheme) {
  switch (scheme) {
    case SignatureScheme::kEcdsaSha256: return std::string("ECDSA_SHA_256");
    case SignatureScheme::kEcdsaSha384: return std::string("ECDSA_SHA_384");
    case SignatureScheme::kRsaPkcs1Sha256: return std::string("RSASSA_PKCS1_V1_5_SHA_256");
    case SignatureScheme::kRsaPkcs1Sha384: return std::string("RSASSA_PKCS1_V1_5_SHA_384");
    case SignatureScheme::kRsaPkcs1Sha512: return std::string("RSASSA_PKCS1_V1_5_SHA_512");
    case SignatureScheme::kRsaPssSha256: return std::string("RSASSA_PSS_SHA_256");
    case SignatureScheme::kRsaPssSha384: return std::string("RSASSA_PSS_SHA_384");
    case SignatureScheme::kEd25519: break;
  }
  return InvalidArgument("AWS KMS cannot sign with " + std::string(SchemeName(scheme)));
}

// ---------------------------------------------------------------------------------------------

AwsKmsKey::AwsKmsKey(std::shared_ptr<KmsClient> client, AwsKmsUri uri, std::string key_arn, ossl::PKey public_key,
                     KeySpec spec, std::vector<std::string> signing_algorithms)
    : client_(std::move(client)),
      uri_(std::move(uri)),
      key_arn_(std::move(key_arn)),
      public_key_(std::move(public_key)),
      spec_(spec),
      signing_algorithms_(std::move(signing_algorithms)) {
  // The credentials provider inside the client holds the secret from here on; the URI kept for
  // messages must not (as pkcs11 forgets the PIN).
  if (uri_.credentials) {
    OPENSSL_cleanse(uri_.credentials->secret_access_key.data(), uri_.credentials->secret_access_key.size());
    OPENSSL_cleanse(uri_.credentials->session_token.data(), uri_.credentials->session_token.size());
    uri_.credentials.reset();
  }
}

Result<Bytes> AwsKmsKey::Sign(SignatureScheme scheme, std::span<const uint8_t> message) {
  if (!SchemeFitsKey(scheme, spec_)) {
    return InvalidArgument(std::string(SchemeName(scheme)) + " cannot be used with the " + KeySpecName(spec_) + " " +
                           uri_.Description());
  }
  CW_ASSIGN_OR_RETURN(std::string algorithm, KmsSigningAlgorithmFor(scheme));
  // KMS says per key which algorithms it offers (a P-256 key signs only with ECDSA_SHA_256).
  if (!signing_algorithms_.empty() &&
      std::find(signing_algorithms_.begin(), signing_algorithms_.end(), algorithm) == signing_algorithms_.end()) {
    return InvalidArgument(uri_.Description() + " cannot sign with " + algorithm + "; it offers " +
                           Join(signing_algorithms_));
  }
  // DIGEST: KMS gets the hash, never the TBSCertificate, and the 4 KiB RAW limit does not apply.
  const EVP_MD* md = SchemeDigest(scheme);
  unsigned char digest[EVP_MAX_MD_SIZE];
  unsigned int digest_len = 0;
  if (md == nullptr || EVP_Digest(message.data(), message.size(), digest, &digest_len, md, nullptr) != 1) {
    return Internal("hashing for signature: " + ossl::DrainErrors());
  }
  json request = {{"KeyId", key_arn_},
                  {"Message", Base64Encode(std::string_view(reinterpret_cast<char*>(digest), digest_len))},
                  {"MessageType", "DIGEST"},
                  {"SigningAlgorithm", algorithm}};
  CW_ASSIGN_OR_RETURN(json response, client_->Call("Sign", request, uri_.Description()));
  auto signature = Base64Decode(StringField(response, "Signature"));
  if (!signature || signature->empty()) {
    return Unavailable(uri_.Description() + ": KMS Sign answered without a base64 Signature");
  }
  Bytes out(signature->begin(), signature->end());
  // Never hand out a signature that does not verify with the key we certify. Certificate
  // issuance verifies again (x509_builder.cc); this check stays because Sign is public (CLI,
  // benchmarks, later OCSP and CRL signing call it directly) and because only here can the message
  // say what most likely happened: the key behind the alias changed.
  if (auto verified = VerifySignature(public_key_.get(), scheme, message, out); !verified.ok()) {
    return Internal(uri_.Description() + ": the signature KMS returned does not verify against the key's public key "
                    "(fetched at load; has the key behind the alias changed?); it was not used");
  }
  return out;
}

// ---------------------------------------------------------------------------------------------

AwsKmsBackend::AwsKmsBackend(Options options)
    : options_(std::move(options)), http_(*http::MakeClient(options_.http)) {}  // no default endpoint: cannot fail

Result<std::shared_ptr<KmsClient>> AwsKmsBackend::ClientFor(const AwsKmsUri& uri) {
  CredentialsContext context = options_.credentials;
  if (!context.http) context.http = http_;
  CW_ASSIGN_OR_RETURN(auto credentials, MakeCredentialsProvider(uri, context));
  return std::make_shared<KmsClient>(uri.endpoint, uri.region, std::move(credentials), http_, options_.kms,
                                     context.clock);
}

Result<std::shared_ptr<SigningKey>> AwsKmsBackend::Load(const KeyUri& key_uri) {
  CW_ASSIGN_OR_RETURN(AwsKmsUri uri, AwsKmsUri::FromKeyUri(key_uri));
  return LoadParsed(uri);
}

Result<std::shared_ptr<SigningKey>> AwsKmsBackend::LoadParsed(const AwsKmsUri& uri) {
  CW_ASSIGN_OR_RETURN(std::shared_ptr<KmsClient> client, ClientFor(uri));
  CW_ASSIGN_OR_RETURN(json response, client->Call("GetPublicKey", json{{"KeyId", uri.key_id}}, uri.Description()));
  const std::string usage = StringField(response, "KeyUsage");
  const std::string kms_spec = StringField(response, "KeySpec").empty() ? StringField(response, "CustomerMasterKeySpec")
                                                                        : StringField(response, "KeySpec");
  if (usage != "SIGN_VERIFY") {
    return InvalidArgument(uri.Description() + " has key usage " + (usage.empty() ? "(none)" : usage) +
                           "; a CA key must be an asymmetric KMS key with key usage SIGN_VERIFY");
  }
  static const std::vector<std::string> kUsable = {"ECC_NIST_P256", "ECC_NIST_P384", "RSA_2048", "RSA_3072",
                                                   "RSA_4096"};
  if (std::find(kUsable.begin(), kUsable.end(), kms_spec) == kUsable.end()) {
    return InvalidArgument(uri.Description() + " is a " + (kms_spec.empty() ? "(unnamed)" : kms_spec) +
                           " key; certwright signs with " + Join(kUsable));
  }
  auto der = Base64Decode(StringField(response, "PublicKey"));
  if (!der || der->empty()) return Unavailable(uri.Description() + ": KMS GetPublicKey answered without a PublicKey");
  const unsigned char* p = reinterpret_cast<const unsigned char*>(der->data());
  ossl::PKey public_key(d2i_PUBKEY(nullptr, &p, static_cast<long>(der->size())));
  if (!public_key) {
    return Unavailable(uri.Description() + ": KMS GetPublicKey answered with a PublicKey that is not a DER "
                       "SubjectPublicKeyInfo: " + ossl::DrainErrors());
  }
  auto spec = KeySpecOf(public_key.get());
  if (!spec) return std::move(spec).error().WithContext(uri.Description());
  std::vector<std::string> algorithms;
  if (auto it = response.find("SigningAlgorithms"); it != response.end() && it->is_array()) {
    for (const auto& a : *it) {
      if (a.is_string()) algorithms.push_back(a.get<std::string>());
    }
  }
  std::string arn = StringField(response, "KeyId");
  if (arn.empty()) arn = uri.key_id;
  return std::shared_ptr<SigningKey>(std::make_shared<AwsKmsKey>(std::move(client), uri, std::move(arn),
                                                                 std::move(public_key), *spec, std::move(algorithms)));
}

Result<std::shared_ptr<SigningKey>> AwsKmsBackend::Create(const KeyUri& key_uri, const KeySpec& spec) {
  CW_ASSIGN_OR_RETURN(AwsKmsUri uri, AwsKmsUri::FromKeyUri(key_uri));
  if (!uri.IsAlias()) {
    return InvalidArgument("cannot create " + uri.Description() +
                           ": KMS chooses key ids itself, so a key is created under an alias; use "
                           "key-id=alias/<name>");
  }
  CW_ASSIGN_OR_RETURN(std::string kms_spec, KmsKeySpecFor(spec));
  CW_ASSIGN_OR_RETURN(std::shared_ptr<KmsClient> client, ClientFor(uri));
  const std::string alias = uri.AliasName();

  // The alias must not exist: a key is never overwritten, and an alias is never moved.
  auto existing = client->Call("GetPublicKey", json{{"KeyId", alias}}, uri.Description());
  // kInvalidArgument: the alias names a key we cannot use (symmetric, disabled), but it exists.
  if (existing.ok() || existing.error().kind() == ErrorKind::kInvalidArgument) {
    return AlreadyExists("the alias " + alias + " in " + uri.region + " already names a KMS key; keys are never "
                         "overwritten and aliases never moved");
  }
  if (existing.error().kind() != ErrorKind::kNotFound) return existing.error();

  json create = {{"KeyUsage", "SIGN_VERIFY"},
                 {"KeySpec", kms_spec},
                 {"Description", "certwright CA key " + alias},
                 {"Tags", json::array({json{{"TagKey", "certwright.dev/alias"}, {"TagValue", alias}}})}};
  CW_ASSIGN_OR_RETURN(json created, client->Call("CreateKey", create, "new " + kms_spec + " key for " + alias));
  std::string key_id, key_arn;
  if (auto meta = created.find("KeyMetadata"); meta != created.end() && meta->is_object()) {
    key_id = StringField(*meta, "KeyId");
    key_arn = StringField(*meta, "Arn");
  }
  if (key_id.empty()) return Unavailable("KMS CreateKey for " + alias + " answered without KeyMetadata.KeyId");

  auto aliased = client->Call("CreateAlias", json{{"AliasName", alias}, {"TargetKeyId", key_id}}, uri.Description());
  if (!aliased && aliased.error().kind() == ErrorKind::kAlreadyExists) {
    // A retried CreateAlias whose first answer was lost finds its own alias: that is success.
    auto target = client->Call("GetPublicKey", json{{"KeyId", alias}}, uri.Description());
    if (target.ok()) {
      const std::string now = StringField(*target, "KeyId");
      if (now == key_id || (!key_arn.empty() && now == key_arn)) aliased = json::object();
    }
  }
  if (!aliased) {
    // Someone else took the alias in between, or we may not create aliases: the new key is of
    // no use, so schedule its deletion (best effort, KMS's shortest window) and say so.
    auto deleted = client->Call("ScheduleKeyDeletion", json{{"KeyId", key_id}, {"PendingWindowInDays", 7}},
                                "unused key " + key_id);
    std::string fate = deleted.ok() ? "; the new key " + key_id + " is scheduled for deletion"
                                    : "; the new key " + key_id + " could not be scheduled for deletion (" +
                                          deleted.error().message() + "): delete it by hand";
    if (aliased.error().kind() == ErrorKind::kAlreadyExists) {
      return AlreadyExists("the alias " + alias + " in " + uri.region +
                           " was created by someone else meanwhile; keys are never overwritten" + fate);
    }
    return Error(aliased.error().kind(), aliased.error().message() + fate);
  }
  return LoadParsed(uri);
}

}  // namespace certwright::signer::awskms
