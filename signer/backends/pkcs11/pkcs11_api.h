// The PKCS#11 calls certwright uses, and nothing more (STYLE.md §3).
//
// Pkcs11Api is the seam between the backend and a vendor module: the real implementation
// forwards to a dlopen'ed module's CK_FUNCTION_LIST; tests wrap it to inject faults (a device
// error on the next C_Sign, sessions closed underneath). CK_RV stays inside signer/backends/
// pkcs11/; callers outside see Result and Error.
#pragma once

#include <p11-kit/pkcs11.h>

#include <cstdint>
#include <memory>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "certwright/signer/result.h"

namespace certwright::signer::pkcs11 {

class Pkcs11Api {
 public:
  virtual ~Pkcs11Api() = default;

  virtual const std::string& module_path() const = 0;
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

// Loads (dlopen) and initialises a module, or returns the one already loaded from that path.
// The module is finalised and unloaded when the last reference goes, so a later load sees a
// fresh configuration (SoftHSM2 reads SOFTHSM2_CONF at C_Initialize).
Result<std::shared_ptr<Pkcs11Api>> LoadModule(const std::string& path);

// "CKR_PIN_INCORRECT" for messages; hex for codes it does not know.
std::string ReturnValueName(CK_RV rv);

}  // namespace certwright::signer::pkcs11
