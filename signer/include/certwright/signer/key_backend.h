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
//
// Optional abilities are separate small interfaces a backend may also implement (STYLE.md §2);
// the registry finds them with dynamic_cast. Today: TokenIdentifier.
#pragma once

#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <string_view>

#include "certwright/signer/file_identity.h"
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

// An optional ability: backends whose keys live on tokens that keep state per token (a PIN
// retry counter, one login shared by the process) say which token a URI names. The identity is
// the same for every spelling of the URI (percent-encoding, module path aliases such as symlinks
// or "//", selecting the token by label, serial or slot) and differs between tokens, so callers
// can key per-token state by it, such as back-off against PIN guessing.
class TokenIdentifier {
 public:
  virtual ~TokenIdentifier() = default;
  // Reads no PIN and does not log in. Errors as Load's for a token that is not there.
  virtual Result<std::string> TokenIdentity(const KeyUri& uri) = 0;
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
  // The identity of the token the URI's key is on ("pkcs11:<dev>:<ino>/<serial>"), from a
  // backend that is a TokenIdentifier; kInvalidArgument for backends that are not ("file:",
  // "awskms:"), and the backend's error when the token is not there.
  Result<std::string> TokenIdentity(std::string_view uri) const;

 private:
  std::map<std::string, std::unique_ptr<KeyBackend>, std::less<>> backends_;
};

// Registers file:, pkcs11: and any other backend this build includes.
void RegisterBuiltinBackends(KeyBackendRegistry& registry);

}  // namespace certwright::signer
