// The `file:` key backend: a PEM private key on disk or handed in from a Kubernetes Secret.
// For development and the `ca` issuer; production CAs belong in pkcs11: or awskms:.
//
//   file:/etc/certwright/ca.key        Load reads it; Create writes a new key with mode 0600
//                                      and never overwrites an existing file.
#pragma once

#include <memory>
#include <string>
#include <string_view>

#include "certwright/signer/key_backend.h"

namespace certwright::signer {

class FileBackend final : public KeyBackend {
 public:
  // signer::KeyBackend
  std::string_view scheme() const override { return "file"; }
  Result<std::shared_ptr<SigningKey>> Load(const KeyUri& uri) override;
  Result<std::shared_ptr<SigningKey>> Create(const KeyUri& uri, const KeySpec& spec) override;
};

// A signing key from PEM bytes already in memory (a Secret's tls.key). `name` identifies it in
// messages and audit records ("secret:ns/name").
Result<std::shared_ptr<SigningKey>> SigningKeyFromPem(std::string_view pem, std::string name);
// A signing key wrapping an OpenSSL key (software keys made in-process, tests, benchmarks).
Result<std::shared_ptr<SigningKey>> SigningKeyFromPKey(ossl::PKey key, std::string name);

}  // namespace certwright::signer
