// The PKCS#11 calls certwright uses, and nothing more (STYLE.md §3).
//
// Pkcs11Api is the seam between the backend and a vendor module: the real implementation
// forwards to a dlopen'ed module's CK_FUNCTION_LIST; tests wrap it to inject faults (a device
// error on the next C_Sign, sessions closed underneath). CK_RV stays inside signer/backends/
// pkcs11/; callers outside see Result and Error.
#pragma once

#include <p11-kit/pkcs11.h>

#include <cstdint>
#include <map>
#include <memory>
#include <mutex>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "certwright/signer/result.h"
#include "certwright/signer/secret.h"

namespace certwright::signer::pkcs11 {

// The PIN this process logged in to each token of one loaded module with.
//
// PKCS#11 login state belongs to the token, shared by every session the application has on it
// (PKCS#11 v2.40 §5.6, C_Login). So once one caller has logged in, a second caller's C_Login
// answers CKR_USER_ALREADY_LOGGED_IN without the module looking at its PIN at all. This record
// lets the backend accept that answer only for the PIN the token was logged in with. It lives
// as long as the loaded module (finalising the module logs every token out); PINs are wiped
// when replaced and when it goes.
class LoginRecord {
 public:
  enum class Match { kSamePin, kOtherPin, kUnknown };
  using Lock = std::unique_lock<std::mutex>;

  // Held across C_Login and the Remember or Compare that interprets it, so that two logins to
  // one module at the same time see each other's outcome.
  [[nodiscard]] Lock Hold() { return Lock(mutex_); }
  // After C_Login said CKR_OK: `token` (a module-local name of the token) is logged in with `pin`.
  void Remember(const Lock& held, const std::string& token, std::string_view pin);
  // After C_Login said CKR_USER_ALREADY_LOGGED_IN.
  Match Compare(const Lock& held, const std::string& token, std::string_view pin) const;
  // Whether this process ever logged in to `token` with a PIN.
  bool Knows(const Lock& held, const std::string& token) const;

 private:
  std::mutex mutex_;
  std::map<std::string, SecretString, std::less<>> pins_;
};

class Pkcs11Api {
 public:
  virtual ~Pkcs11Api() = default;

  // The module file after realpath(3), and its identity ("<dev>:<ino>", see file_identity.h):
  // a module is the file it loads, not the path string that named it.
  virtual const std::string& module_path() const = 0;
  virtual const std::string& module_identity() const = 0;
  // The PINs this process logged in to the module's tokens with (one record per loaded module).
  virtual LoginRecord& logins() = 0;
  virtual CK_RV GetSlotList(std::vector<CK_SLOT_ID>* slots) = 0;  // slots with a token present
  virtual CK_RV GetTokenInfo(CK_SLOT_ID slot, CK_TOKEN_INFO* info) = 0;
  virtual CK_RV OpenSession(CK_SLOT_ID slot, CK_SESSION_HANDLE* session) = 0;  // read-write
  virtual CK_RV CloseSession(CK_SESSION_HANDLE session) = 0;
  virtual CK_RV CloseAllSessions(CK_SLOT_ID slot) = 0;
  virtual CK_RV Login(CK_SESSION_HANDLE session, std::string_view pin) = 0;  // CKU_USER
  virtual CK_RV FindObjects(CK_SESSION_HANDLE session, std::span<CK_ATTRIBUTE> match, size_t max,
                            std::vector<CK_OBJECT_HANDLE>* found) = 0;
  // Fills `attrs` (two-call convention handled by the caller).
  virtual CK_RV GetAttributeValue(CK_SESSION_HANDLE session, CK_OBJECT_HANDLE object,
                                  std::span<CK_ATTRIBUTE> attrs) = 0;
  virtual CK_RV GenerateKeyPair(CK_SESSION_HANDLE session, CK_MECHANISM* mechanism,
                                std::span<CK_ATTRIBUTE> public_template, std::span<CK_ATTRIBUTE> private_template,
                                CK_OBJECT_HANDLE* public_key, CK_OBJECT_HANDLE* private_key) = 0;
  virtual CK_RV DestroyObject(CK_SESSION_HANDLE session, CK_OBJECT_HANDLE object) = 0;
  // C_SignInit + C_Sign with a buffer sized by the caller (`signature` resized to the output).
  virtual CK_RV Sign(CK_SESSION_HANDLE session, CK_MECHANISM* mechanism, CK_OBJECT_HANDLE key,
                     std::span<const uint8_t> data, std::vector<uint8_t>* signature) = 0;
};

// Loads (dlopen) and initialises a module, or returns the one already loaded from the same
// file: modules are cached by the identity of the file `path` resolves to, so a symlink, "//"
// or "/./" spelling of a loaded module's path gets that module (and its login state), never a
// second handle onto it. The resolved path is what is dlopen'ed. The module is finalised when
// the last reference goes, so a later load sees a fresh configuration (SoftHSM2 reads
// SOFTHSM2_CONF at C_Initialize).
Result<std::shared_ptr<Pkcs11Api>> LoadModule(const std::string& path);

// "CKR_PIN_INCORRECT" for messages; hex for codes it does not know.
std::string ReturnValueName(CK_RV rv);

}  // namespace certwright::signer::pkcs11
