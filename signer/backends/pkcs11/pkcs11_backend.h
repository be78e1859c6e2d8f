// The `pkcs11:` key backend: CA keys inside an HSM (SoftHSM2 in tests), never extractable.
//
// One Token per token is shared by every key on it: it holds the PIN, logs in, and keeps a pool
// of sessions so signing scales across threads. A token is identified by the file of its module
// (device and inode, see file_identity.h), its serial number and its slot, never by how a URI
// spells them, so every spelling of one token reaches one Token and its PIN check. A session that
// fails with a session or device error is dropped with every idle one, and the call is retried
// on a fresh, logged-in session; a key handle that went stale is looked up again.
//
// PKCS#11 login state is per token for the whole process. A C_Login that answers
// CKR_USER_ALREADY_LOGGED_IN is accepted only when this process logged in to that token with
// the same PIN (LoginRecord in pkcs11_api.h); otherwise the caller would ride on another
// issuer's login.
#pragma once

#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <string>

#include "certwright/signer/key_backend.h"
#include "pkcs11/pkcs11_api.h"
#include "pkcs11/pkcs11_uri.h"

namespace certwright::signer::pkcs11 {

class Token;

// How a key is held, as the token reports it (PKCS#11 §4.9 storage and key attributes).
struct KeyCustody {
  bool token = false;             // CKA_TOKEN: persistent on the device
  bool private_object = false;    // CKA_PRIVATE: needs login to use
  bool sensitive = false;         // CKA_SENSITIVE
  bool always_sensitive = false;  // CKA_ALWAYS_SENSITIVE
  bool extractable = true;        // CKA_EXTRACTABLE
  bool never_extractable = false; // CKA_NEVER_EXTRACTABLE
};

class Pkcs11Key final : public SigningKey {
 public:
  // `description` names the key in messages as the user wrote it ("object \"ca\"").
  Pkcs11Key(std::shared_ptr<Token> token, Pkcs11Uri uri, ossl::PKey public_key, KeySpec spec,
            CK_OBJECT_HANDLE handle, std::string description);

  // signer::SigningKey
  std::string uri() const override { return uri_.redacted; }
  KeySpec spec() const override { return spec_; }
  EVP_PKEY* public_key() const override { return public_key_.get(); }
  Result<Bytes> Sign(SignatureScheme scheme, std::span<const uint8_t> message) override;
  std::string_view backend() const override { return "pkcs11"; }

  Result<KeyCustody> Custody();
  CK_SLOT_ID slot_id() const;
  // Which Token object the key signs through: equal for keys that share one token's login.
  const Token* TokenForTest() const { return token_.get(); }

 private:
  Result<CK_OBJECT_HANDLE> RefindHandle();

  std::shared_ptr<Token> token_;
  Pkcs11Uri uri_;
  std::string description_;
  ossl::PKey public_key_;
  KeySpec spec_;
  std::mutex handle_mutex_;
  CK_OBJECT_HANDLE handle_;
};

class Pkcs11Backend final : public KeyBackend, public TokenIdentifier {
 public:
  using ModuleLoader = std::function<Result<std::shared_ptr<Pkcs11Api>>(const std::string& path)>;

  struct Options {
    size_t max_sessions_per_token = 16;
  };
  Pkcs11Backend() : Pkcs11Backend(Options{}) {}
  explicit Pkcs11Backend(Options options);

  // signer::KeyBackend
  std::string_view scheme() const override { return "pkcs11"; }
  Result<std::shared_ptr<SigningKey>> Load(const KeyUri& uri) override;
  Result<std::shared_ptr<SigningKey>> Create(const KeyUri& uri, const KeySpec& spec) override;

  // signer::TokenIdentifier
  // "pkcs11:<dev>:<ino>/<serial>": the module file and the token's serial number
  // (CK_TOKEN_INFO.serialNumber, percent-encoded; "slot-<id>" for a token without one). Loads
  // the module and reads token information; never reads the PIN or logs in.
  Result<std::string> TokenIdentity(const KeyUri& uri) override;

  // Tests wrap the real module to inject faults.
  void SetModuleLoaderForTest(ModuleLoader loader) { loader_ = std::move(loader); }

 private:
  Result<std::shared_ptr<Token>> OpenToken(const Pkcs11Uri& uri);

  Options options_;
  ModuleLoader loader_;
  std::mutex mutex_;
  std::map<std::string, std::weak_ptr<Token>> tokens_;  // by module identity + serial + slot
};

}  // namespace certwright::signer::pkcs11
