// The `awskms:` key backend: CA keys inside AWS KMS (or a KMS-compatible server), used through
// GetPublicKey and Sign with MessageType DIGEST, created with CreateKey + CreateAlias.
//
// The public key is fetched once, at Load, and kept; every signature KMS returns is verified
// against it before it is returned, so a key swapped behind an alias, a faulty server or a
// corrupted answer never yields a certificate that does not verify. Calls are pinned to the
// key's ARN as GetPublicKey reported it, not to the alias.
#pragma once

#include <memory>
#include <string>

#include "awskms/awskms_uri.h"
#include "awskms/credentials.h"
#include "certwright/http/client.h"
#include "awskms/kms_client.h"
#include "certwright/signer/key_backend.h"

namespace certwright::signer::awskms {

class AwsKmsKey final : public SigningKey {
 public:
  AwsKmsKey(std::shared_ptr<KmsClient> client, AwsKmsUri uri, std::string key_arn, ossl::PKey public_key, KeySpec spec,
            std::vector<std::string> signing_algorithms);

  // signer::SigningKey
  std::string uri() const override { return uri_.redacted; }
  KeySpec spec() const override { return spec_; }
  EVP_PKEY* public_key() const override { return public_key_.get(); }
  Result<Bytes> Sign(SignatureScheme scheme, std::span<const uint8_t> message) override;
  std::string_view backend() const override { return "awskms"; }

  const std::string& key_arn() const { return key_arn_; }

 private:
  std::shared_ptr<KmsClient> client_;
  AwsKmsUri uri_;
  std::string key_arn_;
  ossl::PKey public_key_;
  KeySpec spec_;
  std::vector<std::string> signing_algorithms_;
};

class AwsKmsBackend final : public KeyBackend {
 public:
  struct Options {
    http::ClientOptions http;
    KmsClientOptions kms;
    CredentialsContext credentials;  // its `http` is filled in with the backend's transport
  };
  AwsKmsBackend() : AwsKmsBackend(Options{}) {}
  explicit AwsKmsBackend(Options options);

  // signer::KeyBackend
  std::string_view scheme() const override { return "awskms"; }
  Result<std::shared_ptr<SigningKey>> Load(const KeyUri& uri) override;
  Result<std::shared_ptr<SigningKey>> Create(const KeyUri& uri, const KeySpec& spec) override;

  // Tests put a fault-injecting transport in front of the real one.
  void SetTransportForTest(std::shared_ptr<http::Client> http) { http_ = std::move(http); }
  std::shared_ptr<http::Client> transport() const { return http_; }

 private:
  Result<std::shared_ptr<KmsClient>> ClientFor(const AwsKmsUri& uri);
  Result<std::shared_ptr<SigningKey>> LoadParsed(const AwsKmsUri& uri);

  Options options_;
  std::shared_ptr<http::Client> http_;
};

// "ECC_NIST_P256" for KeySpec::EcdsaP256(), ...; kInvalidArgument for what KMS cannot make.
Result<std::string> KmsKeySpecFor(const KeySpec& spec);
// "ECDSA_SHA_256" for kEcdsaSha256, ...; kInvalidArgument for Ed25519.
Result<std::string> KmsSigningAlgorithmFor(SignatureScheme scheme);

}  // namespace certwright::signer::awskms
