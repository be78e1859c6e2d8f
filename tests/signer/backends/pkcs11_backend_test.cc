// PKCS#11 backend against real SoftHSM2 tokens: custody attributes, login errors, concurrency,
// recovery after sessions vanish, and injected device faults.
#include "pkcs11/pkcs11_backend.h"

#include <gtest/gtest.h>

#include <atomic>
#include <thread>

#include "certwright/signer/x509.h"
#include "support/softhsm_token.h"
#include "support/test_ca.h"

namespace certwright::signer::pkcs11 {
namespace {

using testing::kSoftHsmModule;
using testing::SoftHsmToken;

const std::string kMessage = "to be signed";
const std::span<const uint8_t> kBytes(reinterpret_cast<const uint8_t*>(kMessage.data()), kMessage.size());

// Forwards to the real module; fails the next N C_Sign calls with `fault`.
class FaultyApi final : public Pkcs11Api {
 public:
  explicit FaultyApi(std::shared_ptr<Pkcs11Api> real) : real_(std::move(real)) {}
  std::atomic<int> fail_next_signs{0};
  std::atomic<int> sign_calls{0};
  CK_RV fault = CKR_DEVICE_ERROR;

  const std::string& module_path() const override { return real_->module_path(); }
  CK_RV GetSlotList(std::vector<CK_SLOT_ID>* s) override { return real_->GetSlotList(s); }
  CK_RV GetTokenInfo(CK_SLOT_ID s, CK_TOKEN_INFO* i) override { return real_->GetTokenInfo(s, i); }
  CK_RV OpenSession(CK_SLOT_ID s, CK_SESSION_HANDLE* h) override { return real_->OpenSession(s, h); }
  CK_RV CloseSession(CK_SESSION_HANDLE h) override { return real_->CloseSession(h); }
  CK_RV CloseAllSessions(CK_SLOT_ID s) override { return real_->CloseAllSessions(s); }
  CK_RV Login(CK_SESSION_HANDLE h, std::string_view pin) override { return real_->Login(h, pin); }
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
  ASSERT_TRUE(Create(token_.KeyUri("ca")).ok());
  Pkcs11Backend fresh;  // a second process would see the token logged out
  auto key = fresh.Load(*KeyUri::Parse(token_.KeyUriWithPin("ca", "99999")));
  // Same process: the token is logged in with the right PIN; a different PIN is refused.
  ASSERT_FALSE(key.ok());
  EXPECT_EQ(key.error().kind(), ErrorKind::kPermissionDenied);
  EXPECT_EQ(key.error().message().find("99999"), std::string::npos);
  EXPECT_NE(key.error().message().find("the PIN is wrong"), std::string::npos) << key.error().message();
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
      {token_.KeyUri("ca", "nope"), ErrorKind::kNotFound,
       "no token \"nope\" in PKCS#11 module " + m + " (tokens found: \"p11\", \"second\")"},
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

}  // namespace
}  // namespace certwright::signer::pkcs11
