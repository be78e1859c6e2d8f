// One interface for every place a CA key can live, chosen by the key URI's scheme.
//
// A backend is a folder under signer/backends/ that implements KeyBackend and is registered
// by one line in RegisterBuiltinBackends() at start-up (explicitly, not by static
// initialisation). A backend compiled out registers a stub that fails with a clear message.
//
//   KeyBackendRegistry registry;
//   RegisterBuiltinBackends(registry);
//   auto key = registry.LoadOrCreate(uri_text, KeySpec::EcdsaP256());
//
// Backends are thread-safe and cache what is costly to open (modules, sessions, clients).
#pragma once

#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <string_view>

#include "certwright/signer/key.h"
#include "certwright/signer/key_uri.h"
#include "certwright/signer/result.h"

namespace certwright::signer {

class KeyBackend {
 public:
  virtual ~KeyBackend() = default;

  // The URI scheme this backend serves ("file", "pkcs11", "awskms").
  virtual std::string_view scheme() const = 0;
  // Opens an existing key. kNotFound when the URI names no key.
  virtual Result<std::shared_ptr<SigningKey>> Load(const KeyUri& uri) = 0;
  // Creates a new key where the URI says: inside the HSM/KMS, non-extractable. kAlreadyExists
  // when a key is already there (a key is never overwritten).
  virtual Result<std::shared_ptr<SigningKey>> Create(const KeyUri& uri, const KeySpec& spec) = 0;
};

class KeyBackendRegistry {
 public:
  void Register(std::unique_ptr<KeyBackend> backend);
  // Registers a backend that is not compiled in: every use fails with `why`.
  void RegisterUnavailable(std::string scheme, std::string why);

  Result<KeyBackend*> BackendFor(const KeyUri& uri) const;

  Result<std::shared_ptr<SigningKey>> Load(std::string_view uri) const;
  Result<std::shared_ptr<SigningKey>> Create(std::string_view uri, const KeySpec& spec) const;
  // Loads the key the URI names, creating it with `spec` if there is none. `created` tells
  // which happened. An existing key of another type is an error, not replaced.
  Result<std::shared_ptr<SigningKey>> LoadOrCreate(std::string_view uri, const KeySpec& spec,
                                                   bool* created = nullptr) const;

 private:
  std::map<std::string, std::unique_ptr<KeyBackend>, std::less<>> backends_;
};

// Registers file:, pkcs11: and any other backend this build includes.
void RegisterBuiltinBackends(KeyBackendRegistry& registry);

}  // namespace certwright::signer
