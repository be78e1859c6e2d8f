// PKCS#11 backend against real SoftHSM2 tokens: custody attributes, login errors, concurrency,
// recovery after sessions vanish, and injected device faults.
#include "pkcs11/pkcs11_backend.h"

#include <gtest/gtest.h>

#include <unistd.h>

#include <atomic>
#include <mutex>
#include <thread>

#include "certwright/signer/file_identity.h"

#include "certwright/signer/x509.h"
#include "support/softhsm_token.h"
#include "support/test_ca.h"

namespace certwright::signer::pkcs11 {
namespace {

using testing::kSoftHsmModule;
using testing::SoftHsmToken;

const std::string kMessage = "to be signed";
const std::span<const uint8_t> kBytes(reinterpret_cast<const uint8_t*>(kMessage.data()), kMessage.size());

// Forwards to the real module; fails the next N C_Sign calls with `fault`. With
// `trust_existing_login`, C_Login answers CKR_USER_ALREADY_LOGGED_IN without looking at the PIN
// once the token is logged in, as PKCS#11 allows and many HSMs do (SoftHSM2 checks the PIN
// anyway). With `hide_login_required`, the token does not say it needs a login.
class FaultyApi final : public Pkcs11Api {
 public:
  explicit FaultyApi(std::shared_ptr<Pkcs11Api> real) : real_(std::move(real)) {}
  std::atomic<int> fail_next_signs{0};
  std::atomic<int> sign_calls{0};
  CK_RV fault = CKR_DEVICE_ERROR;
  bool trust_existing_login = false;
  bool hide_login_required = false;

  const std::string& module_path() const override { return real_->module_path(); }
  const std::string& module_identity() const override { return real_->module_identity(); }
  LoginRecord& logins() override { return real_->logins(); }
  CK_RV GetSlotList(std::vector<CK_SLOT_ID>* s) override { return real_->GetSlotList(s); }
  CK_RV GetTokenInfo(CK_SLOT_ID s, CK_TOKEN_INFO* i) override {
    CK_RV rv = real_->GetTokenInfo(s, i);
    if (hide_login_required) i->flags &= ~static_cast<CK_FLAGS>(CKF_LOGIN_REQUIRED);
    return rv;
  }
  CK_RV OpenSession(CK_SLOT_ID s, CK_SESSION_HANDLE* h) override { return real_->OpenSession(s, h); }
  CK_RV CloseSession(CK_SESSION_HANDLE h) override { return real_->CloseSession(h); }
  CK_RV CloseAllSessions(CK_SLOT_ID s) override { return real_->CloseAllSessions(s); }
  CK_RV Login(CK_SESSION_HANDLE h, std::string_view pin) override {
    ++login_calls;
    if (trust_existing_login && logged_in) return CKR_USER_ALREADY_LOGGED_IN;
    CK_RV rv = real_->Login(h, pin);
    if (rv == CKR_OK || rv == CKR_USER_ALREADY_LOGGED_IN) logged_in = true;
    return rv;
  }
  std::atomic<int> login_calls{0};
  std::atomic<bool> logged_in{false};
  CK_RV FindObjects(CK_SESSION_HANDLE h, std::span<CK_ATTRIBUTE> m, size_t max,
                    std::vector<CK_OBJECT_HANDLE>* f) override {
    return real_->FindObjects(h, m, max, f);
  }
  CK_RV GetAttributeValue(CK_SESSION_HANDLE h, CK_OBJECT_HANDLE o, std::span<CK_ATTRIBUTE> a) override {
    return real_->GetAttributeValue(h, o, a);
  }
  CK_RV GenerateKeyPair(CK_SESSION_HANDLE h, CK_MECHANISM* m, std::span<CK_ATTRIBUTE> pub,
                        std::span<CK_ATTRIBUTE> priv, CK_OBJECT_HANDLE* pk, CK_OBJECT_HANDLE* sk) override {
    return real_->GenerateKeyPair(h, m, pub, priv, pk, sk);
  }
  CK_RV DestroyObject(CK_SESSION_HANDLE h, CK_OBJECT_HANDLE o) override { return real_->DestroyObject(h, o); }
  CK_RV Sign(CK_SESSION_HANDLE h, CK_MECHANISM* m, CK_OBJECT_HANDLE k, std::span<const uint8_t> d,
             std::vector<uint8_t>* sig) override {
    ++sign_calls;
    if (fail_next_signs.load() > 0) {
      --fail_next_signs;
      return fault;
    }
    return real_->Sign(h, m, k, d, sig);
  }

 private:
  std::shared_ptr<Pkcs11Api> real_;
};

class Pkcs11BackendTest : public ::testing::Test {
 protected:
  Result<std::shared_ptr<SigningKey>> Create(const std::string& uri, KeySpec spec = KeySpec::EcdsaP256()) {
    return backend_.Create(*KeyUri::Parse(uri), spec);
  }
  Result<std::shared_ptr<SigningKey>> Load(const std::string& uri) { return backend_.Load(*KeyUri::Parse(uri)); }

  SoftHsmToken token_{"p11"};
  Pkcs11Backend backend_;
};

TEST_F(Pkcs11BackendTest, CreatedKeysAreSensitiveAndNeverExtractable) {
  for (auto spec : {KeySpec::EcdsaP256(), KeySpec::EcdsaP384(), KeySpec::Ed25519(), KeySpec::Rsa(2048)}) {
    auto key = Create(token_.KeyUri("ca-" + KeySpecName(spec)), spec);
    ASSERT_TRUE(key.ok()) << key.error().message();
    auto custody = static_cast<Pkcs11Key&>(**key).Custody();
    ASSERT_TRUE(custody.ok()) << custody.error().message();
    EXPECT_TRUE(custody->token) << KeySpecName(spec);
    EXPECT_TRUE(custody->private_object);
    EXPECT_TRUE(custody->sensitive);
    EXPECT_TRUE(custody->always_sensitive);
    EXPECT_FALSE(custody->extractable);
    EXPECT_TRUE(custody->never_extractable);
  }
  // And as pkcs11-tool, an independent client, sees them.
  std::string out;
  ASSERT_EQ(testing::RunCommand("SOFTHSM2_CONF=" + token_.conf() + " pkcs11-tool --module " + kSoftHsmModule +
                                    " --token-label p11 --login --pin 5678 --list-objects --type privkey",
                                &out),
            0)
      << out;
  EXPECT_NE(out.find("never extractable"), std::string::npos) << out;
  EXPECT_EQ(out.find("Access:     local\n"), std::string::npos) << "a key without sensitive/never extractable: " << out;
}

TEST_F(Pkcs11BackendTest, WrongPinIsPermissionDeniedAndNeverEchoed) {
  auto owner = Create(token_.KeyUri("ca"));  // kept, so the token stays logged in
  ASSERT_TRUE(owner.ok());
  Pkcs11Backend fresh;  // a second process would see the token logged out
  auto key = fresh.Load(*KeyUri::Parse(token_.KeyUriWithPin("ca", "99999")));
  // Same process: the token is logged in with the right PIN; a different PIN is refused.
  ASSERT_FALSE(key.ok());
  EXPECT_EQ(key.error().kind(), ErrorKind::kPermissionDenied);
  EXPECT_EQ(key.error().message().find("99999"), std::string::npos);
  EXPECT_EQ(key.error().message(),
            "PKCS#11 login to token \"p11\" refused: the PIN differs from the one this process is logged in with "
            "(the PIN is wrong)");
}

TEST_F(Pkcs11BackendTest, WrongPinOnAFreshTokenReportsTheTokenError) {
  auto key = Load(token_.KeyUriWithPin("ca", "00000"));
  ASSERT_FALSE(key.ok());
  EXPECT_EQ(key.error().kind(), ErrorKind::kPermissionDenied);
  EXPECT_EQ(key.error().message(),
            "PKCS#11 logging in on token \"p11\" failed: CKR_PIN_INCORRECT (the PIN is wrong)");
}

TEST_F(Pkcs11BackendTest, LoginIsRequiredWithoutAPin) {
  auto key = Load("pkcs11:token=p11;object=ca?module-path=" + std::string(kSoftHsmModule));
  ASSERT_FALSE(key.ok());
  EXPECT_EQ(key.error().message(),
            "token \"p11\" requires login: add \"pin-source\" or \"pin-value\" to the URI");
}

TEST_F(Pkcs11BackendTest, MissingTokenObjectModuleAndPinFileAreNamed) {
  token_.AddToken("second");
  struct Row { std::string uri; ErrorKind kind; std::string message; };
  const std::string m = kSoftHsmModule;
  const std::vector<Row> rows = {
      {token_.KeyUri("ca", "nope"), ErrorKind::kNotFound, "no token \"nope\" in PKCS#11 module " + m},
      {token_.KeyUri("absent"), ErrorKind::kNotFound, "no private key with object \"absent\" on token \"p11\""},
      {"pkcs11:token=p11;object=ca?module-path=/nonexistent/libnothing.so&pin-value=1", ErrorKind::kNotFound,
       "PKCS#11 module /nonexistent/libnothing.so does not exist"},
      {"pkcs11:token=p11;object=ca?module-path=" + m + "&pin-source=/nonexistent/pin", ErrorKind::kNotFound,
       "pkcs11 URI pin-source: /nonexistent/pin: no such file"},
  };
  for (const auto& row : rows) {
    auto key = Load(row.uri);
    ASSERT_FALSE(key.ok()) << row.uri;
    EXPECT_EQ(key.error().kind(), row.kind) << key.error().message();
    EXPECT_EQ(key.error().message(), row.message);
  }
  auto not_a_module = Load("pkcs11:token=p11;object=ca?module-path=/etc/hostname&pin-value=1");
  ASSERT_FALSE(not_a_module.ok());
  EXPECT_EQ(not_a_module.error().message().rfind("PKCS#11 module /etc/hostname cannot be loaded: ", 0), 0u)
      << not_a_module.error().message();
}

TEST_F(Pkcs11BackendTest, EightThreadsSignConcurrently) {
  auto key = Create(token_.KeyUri("ca"));
  ASSERT_TRUE(key.ok());
  std::atomic<int> good{0}, bad{0};
  std::vector<std::thread> threads;
  for (int t = 0; t < 8; ++t) {
    threads.emplace_back([&] {
      for (int i = 0; i < 200; ++i) {
        auto sig = (*key)->Sign(SignatureScheme::kEcdsaSha256, kBytes);
        if (sig.ok() && VerifySignature((*key)->public_key(), SignatureScheme::kEcdsaSha256, kBytes, *sig).ok()) {
          ++good;
        } else {
          ++bad;
        }
      }
    });
  }
  for (auto& t : threads) t.join();
  EXPECT_EQ(good.load(), 1600);
  EXPECT_EQ(bad.load(), 0);
}

TEST_F(Pkcs11BackendTest, RecoversWhenSessionsAreClosedUnderneath) {
  auto key = Create(token_.KeyUri("ca"));
  ASSERT_TRUE(key.ok());
  // Warm the pool with several sessions.
  std::vector<std::thread> threads;
  for (int t = 0; t < 4; ++t) {
    threads.emplace_back([&] {
      for (int i = 0; i < 20; ++i) ASSERT_TRUE((*key)->Sign(SignatureScheme::kEcdsaSha256, kBytes).ok());
    });
  }
  for (auto& t : threads) t.join();
  // Close every session of the slot behind the backend's back; this also logs the token out.
  auto module = LoadModule(kSoftHsmModule);
  ASSERT_TRUE(module.ok());
  ASSERT_EQ((*module)->CloseAllSessions(static_cast<Pkcs11Key&>(**key).slot_id()), static_cast<CK_RV>(CKR_OK));
  auto sig = (*key)->Sign(SignatureScheme::kEcdsaSha256, kBytes);
  ASSERT_TRUE(sig.ok()) << sig.error().message();
  EXPECT_TRUE(VerifySignature((*key)->public_key(), SignatureScheme::kEcdsaSha256, kBytes, *sig).ok());
  for (int i = 0; i < 10; ++i) EXPECT_TRUE((*key)->Sign(SignatureScheme::kEcdsaSha256, kBytes).ok());
}

TEST_F(Pkcs11BackendTest, TransientDeviceErrorsAreRetriedAndPersistentOnesReported) {
  std::shared_ptr<FaultyApi> faulty;
  backend_.SetModuleLoaderForTest([&](const std::string& path) -> Result<std::shared_ptr<Pkcs11Api>> {
    auto real = LoadModule(path);
    if (!real) return std::move(real).error();
    faulty = std::make_shared<FaultyApi>(*real);
    return std::shared_ptr<Pkcs11Api>(faulty);
  });
  auto key = Create(token_.KeyUri("ca"));
  ASSERT_TRUE(key.ok()) << key.error().message();
  ASSERT_TRUE(faulty);

  faulty->fail_next_signs = 1;
  auto recovered = (*key)->Sign(SignatureScheme::kEcdsaSha256, kBytes);
  ASSERT_TRUE(recovered.ok()) << recovered.error().message();
  EXPECT_TRUE(VerifySignature((*key)->public_key(), SignatureScheme::kEcdsaSha256, kBytes, *recovered).ok());

  faulty->fail_next_signs = 1000;
  auto failed = (*key)->Sign(SignatureScheme::kEcdsaSha256, kBytes);
  ASSERT_FALSE(failed.ok());
  EXPECT_EQ(failed.error().kind(), ErrorKind::kUnavailable);
  EXPECT_TRUE(failed.error().retryable());
  EXPECT_EQ(failed.error().message(),
            "PKCS#11 signing with object \"ca\" on token \"p11\" failed: CKR_DEVICE_ERROR");

  faulty->fail_next_signs = 0;
  EXPECT_TRUE((*key)->Sign(SignatureScheme::kEcdsaSha256, kBytes).ok()) << "works again once the device does";
}

TEST_F(Pkcs11BackendTest, AnUnsupportedMechanismIsATerminalError) {
  std::shared_ptr<FaultyApi> faulty;
  backend_.SetModuleLoaderForTest([&](const std::string& path) -> Result<std::shared_ptr<Pkcs11Api>> {
    faulty = std::make_shared<FaultyApi>(*LoadModule(path));
    return std::shared_ptr<Pkcs11Api>(faulty);
  });
  auto key = Create(token_.KeyUri("ca"));
  ASSERT_TRUE(key.ok());
  faulty->fault = CKR_MECHANISM_INVALID;
  faulty->fail_next_signs = 1;
  auto failed = (*key)->Sign(SignatureScheme::kEcdsaSha256, kBytes);
  ASSERT_FALSE(failed.ok());
  EXPECT_EQ(failed.error().kind(), ErrorKind::kInvalidArgument);
  EXPECT_EQ(faulty->sign_calls.load(), 1) << "terminal errors are not retried";
}

// ---------------------------------------------------------------------------------------------
// Custody: a module is the file it loads and a token is its module file, serial and slot, so no
// spelling of a URI reaches a token's login without that token's PIN.

const std::string kPinDiffers =
    "PKCS#11 login to token \"p11\" refused: the PIN differs from the one this process is logged in with (the PIN "
    "is wrong)";

class Pkcs11CustodyTest : public Pkcs11BackendTest {
 protected:
  void SetUp() override {
    link_ = dir_.File("libsofthsm2-link.so");
    ASSERT_EQ(::symlink(kSoftHsmModule, link_.c_str()), 0);
  }
  // Other spellings of kSoftHsmModule.
  std::vector<std::string> Aliases() const {
    return {link_, "//usr/lib/softhsm//libsofthsm2.so", "/usr/lib/./softhsm/libsofthsm2.so",
            "/usr/lib/softhsm/../softhsm/libsofthsm2.so"};
  }
  static std::string UriFor(const std::string& module, const std::string& pin_query,
                            const std::string& token = "token=p11") {
    return "pkcs11:" + token + ";object=ca?module-path=" + module + "&" + pin_query;
  }

  testing::TempDir dir_;
  std::string link_;
};

TEST_F(Pkcs11CustodyTest, AModulePathAliasWithAWrongPinIsRefusedWhileTheRightPinIsLoggedIn) {
  auto owner = Create(token_.KeyUri("ca"));  // kept: the token stays logged in with the right PIN
  ASSERT_TRUE(owner.ok()) << owner.error().message();
  Pkcs11Backend other;  // another issuer's backend in the same process
  for (const auto& alias : Aliases()) {
    for (Pkcs11Backend* backend : {&backend_, &other}) {
      auto key = backend->Load(*KeyUri::Parse(UriFor(alias, "pin-value=99999")));
      ASSERT_FALSE(key.ok()) << alias << ": signed with the logged-in issuer's key";
      EXPECT_EQ(key.error().kind(), ErrorKind::kPermissionDenied) << alias;
      EXPECT_EQ(key.error().message(), kPinDiffers) << alias;
    }
  }
  // The spelling the owner used, from the other backend, is refused the same way.
  auto same_path = other.Load(*KeyUri::Parse(token_.KeyUriWithPin("ca", "99999")));
  ASSERT_FALSE(same_path.ok());
  EXPECT_EQ(same_path.error().message(), kPinDiffers);
  EXPECT_TRUE((*owner)->Sign(SignatureScheme::kEcdsaSha256, kBytes).ok()) << "the owner is not disturbed";
}

TEST_F(Pkcs11CustodyTest, TheRightPinByAnAliasWorksAndSharesTheToken) {
  auto owner = Create(token_.KeyUri("ca"));
  ASSERT_TRUE(owner.ok()) << owner.error().message();
  Pkcs11Backend other;
  for (const auto& alias : Aliases()) {
    auto module = LoadModule(alias);
    ASSERT_TRUE(module.ok()) << module.error().message();
    auto original = LoadModule(kSoftHsmModule);
    EXPECT_EQ(module->get(), original->get()) << alias << ": one module, however its path is spelled";
    EXPECT_EQ((*module)->module_path(), ResolveFile(kSoftHsmModule)->real_path) << "the file dlopen'ed";

    auto same_backend = Load(UriFor(alias, "pin-source=" + token_.pin_file()));
    ASSERT_TRUE(same_backend.ok()) << alias << ": " << same_backend.error().message();
    EXPECT_EQ(static_cast<Pkcs11Key&>(**same_backend).TokenForTest(), static_cast<Pkcs11Key&>(**owner).TokenForTest())
        << alias << ": one Token, one pool, one PIN check";
    auto sig = (*same_backend)->Sign(SignatureScheme::kEcdsaSha256, kBytes);
    ASSERT_TRUE(sig.ok()) << sig.error().message();
    EXPECT_TRUE(VerifySignature((*owner)->public_key(), SignatureScheme::kEcdsaSha256, kBytes, *sig).ok());

    auto other_backend = other.Load(*KeyUri::Parse(UriFor(alias, "pin-value=5678")));
    ASSERT_TRUE(other_backend.ok()) << alias << ": " << other_backend.error().message();
    EXPECT_TRUE((*other_backend)->Sign(SignatureScheme::kEcdsaSha256, kBytes).ok());
  }
}

// A Microsoft-style module (and what PKCS#11 allows) answers "already logged in" without
// looking at the PIN; the record of this process's own login is what refuses the wrong one.
TEST_F(Pkcs11CustodyTest, AWrongPinIsRefusedWhenTheModuleDoesNotCheckItOnceLoggedIn) {
  std::vector<std::shared_ptr<FaultyApi>> wrappers;
  auto trusting = [&](const std::string& path) -> Result<std::shared_ptr<Pkcs11Api>> {
    auto real = LoadModule(path);
    if (!real) return std::move(real).error();
    auto api = std::make_shared<FaultyApi>(*real);
    api->trust_existing_login = true;
    api->logged_in = true;  // someone has logged in already
    wrappers.push_back(api);
    return std::shared_ptr<Pkcs11Api>(api);
  };
  auto owner = Create(token_.KeyUri("ca"));
  ASSERT_TRUE(owner.ok()) << owner.error().message();
  Pkcs11Backend other;
  other.SetModuleLoaderForTest(trusting);
  auto wrong = other.Load(*KeyUri::Parse(UriFor(link_, "pin-value=99999")));
  ASSERT_FALSE(wrong.ok());
  EXPECT_EQ(wrong.error().message(), kPinDiffers);
  auto right = other.Load(*KeyUri::Parse(UriFor(link_, "pin-value=5678")));
  ASSERT_TRUE(right.ok()) << right.error().message();
  ASSERT_FALSE(wrappers.empty());
  EXPECT_GT(wrappers.back()->login_calls.load(), 0);
}

TEST_F(Pkcs11CustodyTest, ALoginThisProcessDidNotMakeCannotBeVerifiedAndIsRefused) {
  // Something else in the process (another library using the module) logged the token in.
  auto module = LoadModule(kSoftHsmModule);
  ASSERT_TRUE(module.ok());
  std::vector<CK_SLOT_ID> slots;
  ASSERT_EQ((*module)->GetSlotList(&slots), static_cast<CK_RV>(CKR_OK));
  CK_SESSION_HANDLE session = 0;
  ASSERT_EQ((*module)->OpenSession(slots.at(0), &session), static_cast<CK_RV>(CKR_OK));
  ASSERT_EQ((*module)->Login(session, "5678"), static_cast<CK_RV>(CKR_OK));
  auto key = Load(token_.KeyUri("absent"));
  ASSERT_FALSE(key.ok());
  EXPECT_EQ(key.error().kind(), ErrorKind::kPermissionDenied);
  EXPECT_EQ(key.error().message(),
            "PKCS#11 login to token \"p11\" refused: the token is already logged in, not by certwright's own login, "
            "so the PIN cannot be verified");
  (*module)->CloseSession(session);
}

TEST_F(Pkcs11CustodyTest, AUriWithoutAPinMayNotUseALoginMadeWithOne) {
  auto owner = Create(token_.KeyUri("ca"));
  ASSERT_TRUE(owner.ok()) << owner.error().message();
  // A token that does not say it needs a login, so a URI without a PIN is not refused up front.
  Pkcs11Backend other;
  other.SetModuleLoaderForTest([](const std::string& path) -> Result<std::shared_ptr<Pkcs11Api>> {
    auto real = LoadModule(path);
    if (!real) return std::move(real).error();
    auto api = std::make_shared<FaultyApi>(*real);
    api->hide_login_required = true;
    return std::shared_ptr<Pkcs11Api>(api);
  });
  auto key = other.Load(*KeyUri::Parse("pkcs11:token=p11;object=ca?module-path=" + link_));
  ASSERT_FALSE(key.ok());
  EXPECT_EQ(key.error().kind(), ErrorKind::kPermissionDenied);
  EXPECT_EQ(key.error().message(),
            "PKCS#11 token \"p11\" is logged in by this process with a PIN; a key URI without a PIN may not use that "
            "login: add \"pin-source\" or \"pin-value\"");
}

TEST_F(Pkcs11CustodyTest, TokenIdentityIsOneForEverySpellingAndDiffersBetweenTokens) {
  token_.AddToken("second");
  KeyBackendRegistry registry;
  RegisterBuiltinBackends(registry);
  auto identity = registry.TokenIdentity(token_.KeyUri("ca"));
  ASSERT_TRUE(identity.ok()) << identity.error().message();
  auto module = FileIdentity(kSoftHsmModule);
  ASSERT_TRUE(module.ok());
  const std::string prefix = "pkcs11:" + *module + "/";
  ASSERT_EQ(identity->rfind(prefix, 0), 0u) << *identity;
  const std::string serial = identity->substr(prefix.size());
  EXPECT_FALSE(serial.empty());

  std::vector<std::string> spellings = {
      UriFor(kSoftHsmModule, "pin-value=99999"),              // a wrong PIN: nothing is logged in
      "pkcs11:token=p11;object=other?module-path=" + std::string(kSoftHsmModule),  // no PIN at all
      UriFor(kSoftHsmModule, "pin-value=1", "token=%70%311"),  // percent-encoded label
      UriFor(kSoftHsmModule, "pin-value=1", "serial=" + serial),
      UriFor(kSoftHsmModule, "pin-value=1", "token=p11;slot-description=anything;manufacturer=SoftHSM%20project"),
  };
  for (const auto& alias : Aliases()) spellings.push_back(UriFor(alias, "pin-source=" + token_.pin_file()));
  for (const auto& uri : spellings) {
    auto same = registry.TokenIdentity(uri);
    ASSERT_TRUE(same.ok()) << uri << ": " << same.error().message();
    EXPECT_EQ(*same, *identity) << uri;
  }
  auto second = registry.TokenIdentity(token_.KeyUri("ca", "second"));
  ASSERT_TRUE(second.ok()) << second.error().message();
  EXPECT_NE(*second, *identity);
  EXPECT_EQ(second->rfind(prefix, 0), 0u) << "the same module";

  auto missing = registry.TokenIdentity(token_.KeyUri("ca", "nope"));
  ASSERT_FALSE(missing.ok());
  EXPECT_EQ(missing.error().message(), "no token \"nope\" in PKCS#11 module " + std::string(kSoftHsmModule));
  auto file = registry.TokenIdentity("file:/etc/certwright/ca.key");
  ASSERT_FALSE(file.ok());
  EXPECT_EQ(file.error().kind(), ErrorKind::kInvalidArgument);
  EXPECT_EQ(file.error().message(), "the file: key backend keeps no keys on tokens, so a file: URI names no token");
}

// The issuer controller asks for a token's identity (a short-lived load of the module) while other
// workers load keys: each last reference finalises the module, and a load of the same module may
// come while that C_Finalize runs. A controller started with Issuers in place crashed in SoftHSM2
// this way before C_Finalize and C_Initialize were serialised.
TEST_F(Pkcs11BackendTest, ModuleLoadsAndFinalisesFromManyThreadsDoNotRace) {
  {
    auto created = Create(token_.KeyUri("ca"));
    ASSERT_TRUE(created.ok()) << created.error().message();
  }  // the module is finalised here: every thread below starts from an unloaded module
  KeyBackendRegistry registry;
  RegisterBuiltinBackends(registry);
  const std::string uri = token_.KeyUri("ca");
  std::atomic<int> failures{0};
  std::string first_failure;
  std::mutex failure_mutex;
  auto fail = [&](const std::string& what) {
    std::lock_guard lock(failure_mutex);
    if (failures++ == 0) first_failure = what;
  };
  std::vector<std::thread> threads;
  for (int t = 0; t < 4; ++t) {
    threads.emplace_back([&, t] {
      for (int i = 0; i < 25; ++i) {
        if ((t + i) % 2 == 0) {
          auto identity = registry.TokenIdentity(uri);
          if (!identity.ok()) fail(identity.error().message());
        } else {
          auto key = registry.Load(uri);
          if (!key.ok()) {
            fail(key.error().message());
          } else if (auto sig = (*key)->Sign(SignatureScheme::kEcdsaSha256, kBytes); !sig.ok()) {
            fail(sig.error().message());
          }
        }
      }
    });
  }
  for (auto& t : threads) t.join();
  EXPECT_EQ(failures.load(), 0) << first_failure;
}

}  // namespace
}  // namespace certwright::signer::pkcs11
