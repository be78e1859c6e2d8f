#include "pkcs11/pkcs11_api.h"

#include <dlfcn.h>

#include <condition_variable>
#include <cstdio>
#include <map>
#include <mutex>
#include <set>

#include "certwright/signer/file_identity.h"

namespace certwright::signer::pkcs11 {

void LoginRecord::Remember(const Lock& held, const std::string& token, std::string_view pin) {
  (void)held;
  pins_[token].Assign(pin);
}

LoginRecord::Match LoginRecord::Compare(const Lock& held, const std::string& token, std::string_view pin) const {
  (void)held;
  auto it = pins_.find(token);
  if (it == pins_.end()) return Match::kUnknown;
  return it->second.Equals(pin) ? Match::kSamePin : Match::kOtherPin;
}

bool LoginRecord::Knows(const Lock& held, const std::string& token) const {
  (void)held;
  return pins_.find(token) != pins_.end();
}

namespace {

// Guards the table of loaded modules, and every C_Initialize and C_Finalize: a module whose last
// user lets go is finalised while another thread may be loading it again, and a module must never
// see C_Initialize while its C_Finalize runs (SoftHSM2 crashes).
std::mutex& ModulesMutex() {
  static std::mutex mutex;
  return mutex;
}

// Modules this process initialised and has not finalised yet (by identity), and a signal when one
// is finalised. A module whose last reference just went looks gone to LoadModule before its
// destructor has finalised it: loading it again then must wait, or C_Initialize would answer
// CKR_CRYPTOKI_ALREADY_INITIALIZED and the new instance be finalised underneath.
std::set<std::string>& Initialized() {
  static std::set<std::string> initialized;
  return initialized;
}
std::condition_variable& Finalized() {
  static std::condition_variable cv;
  return cv;
}

class LoadedModule final : public Pkcs11Api {
 public:
  LoadedModule(ResolvedFile file, void* handle, CK_FUNCTION_LIST* fns, bool finalize)
      : file_(std::move(file)), handle_(handle), fns_(fns), finalize_(finalize) {}

  ~LoadedModule() override {
    // Never run with ModulesMutex held: LoadModule only hands out references, it drops none.
    std::lock_guard<std::mutex> lock(ModulesMutex());
    if (finalize_) {
      fns_->C_Finalize(nullptr);
      Initialized().erase(file_.identity);
      Finalized().notify_all();
    }
    dlclose(handle_);
  }

  // Pkcs11Api
  const std::string& module_path() const override { return file_.real_path; }
  const std::string& module_identity() const override { return file_.identity; }
  LoginRecord& logins() override { return logins_; }

  CK_RV GetSlotList(std::vector<CK_SLOT_ID>* slots) override {
    CK_ULONG count = 0;
    CK_RV rv = fns_->C_GetSlotList(CK_TRUE, nullptr, &count);
    if (rv != CKR_OK) return rv;
    slots->resize(count);
    rv = fns_->C_GetSlotList(CK_TRUE, slots->data(), &count);
    slots->resize(count);
    return rv;
  }
  CK_RV GetTokenInfo(CK_SLOT_ID slot, CK_TOKEN_INFO* info) override { return fns_->C_GetTokenInfo(slot, info); }
  CK_RV OpenSession(CK_SLOT_ID slot, CK_SESSION_HANDLE* session) override {
    return fns_->C_OpenSession(slot, CKF_SERIAL_SESSION | CKF_RW_SESSION, nullptr, nullptr, session);
  }
  CK_RV CloseSession(CK_SESSION_HANDLE session) override { return fns_->C_CloseSession(session); }
  CK_RV CloseAllSessions(CK_SLOT_ID slot) override { return fns_->C_CloseAllSessions(slot); }
  CK_RV Login(CK_SESSION_HANDLE session, std::string_view pin) override {
    return fns_->C_Login(session, CKU_USER, reinterpret_cast<CK_UTF8CHAR*>(const_cast<char*>(pin.data())),
                         static_cast<CK_ULONG>(pin.size()));
  }
  CK_RV FindObjects(CK_SESSION_HANDLE session, std::span<CK_ATTRIBUTE> match, size_t max,
                    std::vector<CK_OBJECT_HANDLE>* found) override {
    CK_RV rv = fns_->C_FindObjectsInit(session, match.data(), static_cast<CK_ULONG>(match.size()));
    if (rv != CKR_OK) return rv;
    found->resize(max);
    CK_ULONG count = 0;
    rv = fns_->C_FindObjects(session, found->data(), static_cast<CK_ULONG>(max), &count);
    found->resize(rv == CKR_OK ? count : 0);
    CK_RV final_rv = fns_->C_FindObjectsFinal(session);
    return rv != CKR_OK ? rv : final_rv;
  }
  CK_RV GetAttributeValue(CK_SESSION_HANDLE session, CK_OBJECT_HANDLE object, std::span<CK_ATTRIBUTE> attrs) override {
    return fns_->C_GetAttributeValue(session, object, attrs.data(), static_cast<CK_ULONG>(attrs.size()));
  }
  CK_RV GenerateKeyPair(CK_SESSION_HANDLE session, CK_MECHANISM* mechanism, std::span<CK_ATTRIBUTE> pub,
                        std::span<CK_ATTRIBUTE> priv, CK_OBJECT_HANDLE* pub_key, CK_OBJECT_HANDLE* priv_key) override {
    return fns_->C_GenerateKeyPair(session, mechanism, pub.data(), static_cast<CK_ULONG>(pub.size()), priv.data(),
                                   static_cast<CK_ULONG>(priv.size()), pub_key, priv_key);
  }
  CK_RV DestroyObject(CK_SESSION_HANDLE session, CK_OBJECT_HANDLE object) override {
    return fns_->C_DestroyObject(session, object);
  }
  CK_RV Sign(CK_SESSION_HANDLE session, CK_MECHANISM* mechanism, CK_OBJECT_HANDLE key, std::span<const uint8_t> data,
             std::vector<uint8_t>* signature) override {
    CK_RV rv = fns_->C_SignInit(session, mechanism, key);
    if (rv != CKR_OK) return rv;
    CK_ULONG len = static_cast<CK_ULONG>(signature->size());
    rv = fns_->C_Sign(session, const_cast<CK_BYTE*>(data.data()), static_cast<CK_ULONG>(data.size()),
                      signature->data(), &len);
    if (rv == CKR_OK) signature->resize(len);
    return rv;
  }

 private:
  ResolvedFile file_;
  LoginRecord logins_;
  void* handle_;
  CK_FUNCTION_LIST* fns_;
  bool finalize_;
};


std::map<std::string, std::weak_ptr<Pkcs11Api>>& Modules() {
  static std::map<std::string, std::weak_ptr<Pkcs11Api>> modules;
  return modules;
}

}  // namespace

Result<std::shared_ptr<Pkcs11Api>> LoadModule(const std::string& path) {
  auto resolved = ResolveFile(path);
  if (!resolved) {
    if (resolved.error().kind() == ErrorKind::kNotFound) return NotFound("PKCS#11 module " + path + " does not exist");
    return std::move(resolved).error().WithContext("PKCS#11 module");
  }
  ResolvedFile file = std::move(*resolved);
  std::unique_lock<std::mutex> lock(ModulesMutex());
  if (auto existing = Modules()[file.identity].lock()) return existing;
  Finalized().wait(lock, [&] { return Initialized().count(file.identity) == 0; });

  // RTLD_NODELETE: a module stays mapped after dlclose. Vendor modules register atexit handlers
  // and OpenSSL callbacks that must not point into unmapped code, and leak reports name it.
  void* handle = dlopen(file.real_path.c_str(), RTLD_NOW | RTLD_LOCAL | RTLD_NODELETE);
  if (handle == nullptr) {
    const char* why = dlerror();
    return InvalidArgument("PKCS#11 module " + path + " cannot be loaded: " + (why ? why : "unknown dlopen error"));
  }
  auto get_list = reinterpret_cast<CK_C_GetFunctionList>(dlsym(handle, "C_GetFunctionList"));
  if (get_list == nullptr) {
    dlclose(handle);
    return InvalidArgument(path + " is not a PKCS#11 module: it has no C_GetFunctionList");
  }
  CK_FUNCTION_LIST* fns = nullptr;
  CK_RV rv = get_list(&fns);
  if (rv != CKR_OK || fns == nullptr) {
    dlclose(handle);
    return InvalidArgument("PKCS#11 module " + path + ": C_GetFunctionList failed: " + ReturnValueName(rv));
  }
  CK_C_INITIALIZE_ARGS args{};
  args.flags = CKF_OS_LOCKING_OK;
  rv = fns->C_Initialize(&args);
  bool finalize = true;
  if (rv == CKR_OK) {
    Initialized().insert(file.identity);
  } else if (rv == CKR_CRYPTOKI_ALREADY_INITIALIZED) {
    finalize = false;  // someone else in this process owns the module's lifetime
  } else if (rv != CKR_OK) {
    dlclose(handle);
    return Unavailable("PKCS#11 module " + path + ": C_Initialize failed: " + ReturnValueName(rv) +
                       " (for SoftHSM2, check SOFTHSM2_CONF and its tokendir)");
  }
  const std::string identity = file.identity;
  auto module = std::shared_ptr<Pkcs11Api>(std::make_shared<LoadedModule>(std::move(file), handle, fns, finalize));
  Modules()[identity] = module;
  return module;
}

std::string ReturnValueName(CK_RV rv) {
  switch (rv) {
#define CW_RV(name) case name: return #name;
    CW_RV(CKR_OK) CW_RV(CKR_CANCEL) CW_RV(CKR_HOST_MEMORY) CW_RV(CKR_SLOT_ID_INVALID) CW_RV(CKR_GENERAL_ERROR)
    CW_RV(CKR_FUNCTION_FAILED) CW_RV(CKR_ARGUMENTS_BAD) CW_RV(CKR_ATTRIBUTE_READ_ONLY)
    CW_RV(CKR_ATTRIBUTE_SENSITIVE) CW_RV(CKR_ATTRIBUTE_TYPE_INVALID) CW_RV(CKR_ATTRIBUTE_VALUE_INVALID)
    CW_RV(CKR_DATA_INVALID) CW_RV(CKR_DATA_LEN_RANGE) CW_RV(CKR_DEVICE_ERROR) CW_RV(CKR_DEVICE_MEMORY)
    CW_RV(CKR_DEVICE_REMOVED) CW_RV(CKR_FUNCTION_CANCELED) CW_RV(CKR_FUNCTION_NOT_SUPPORTED)
    CW_RV(CKR_KEY_HANDLE_INVALID) CW_RV(CKR_KEY_SIZE_RANGE) CW_RV(CKR_KEY_TYPE_INCONSISTENT)
    CW_RV(CKR_KEY_FUNCTION_NOT_PERMITTED) CW_RV(CKR_MECHANISM_INVALID) CW_RV(CKR_MECHANISM_PARAM_INVALID)
    CW_RV(CKR_OBJECT_HANDLE_INVALID) CW_RV(CKR_OPERATION_ACTIVE) CW_RV(CKR_OPERATION_NOT_INITIALIZED)
    CW_RV(CKR_PIN_INCORRECT) CW_RV(CKR_PIN_INVALID) CW_RV(CKR_PIN_LEN_RANGE) CW_RV(CKR_PIN_EXPIRED)
    CW_RV(CKR_PIN_LOCKED) CW_RV(CKR_SESSION_CLOSED) CW_RV(CKR_SESSION_COUNT) CW_RV(CKR_SESSION_HANDLE_INVALID)
    CW_RV(CKR_SESSION_READ_ONLY) CW_RV(CKR_TEMPLATE_INCOMPLETE) CW_RV(CKR_TEMPLATE_INCONSISTENT)
    CW_RV(CKR_TOKEN_NOT_PRESENT) CW_RV(CKR_TOKEN_NOT_RECOGNIZED) CW_RV(CKR_TOKEN_WRITE_PROTECTED)
    CW_RV(CKR_USER_ALREADY_LOGGED_IN) CW_RV(CKR_USER_NOT_LOGGED_IN) CW_RV(CKR_USER_PIN_NOT_INITIALIZED)
    CW_RV(CKR_USER_TYPE_INVALID) CW_RV(CKR_BUFFER_TOO_SMALL) CW_RV(CKR_CRYPTOKI_NOT_INITIALIZED)
    CW_RV(CKR_CRYPTOKI_ALREADY_INITIALIZED) CW_RV(CKR_SIGNATURE_INVALID)
#undef CW_RV
    default: {
      char buf[32];
      std::snprintf(buf, sizeof buf, "CKR_0x%08lX", static_cast<unsigned long>(rv));
      return buf;
    }
  }
}

}  // namespace certwright::signer::pkcs11
