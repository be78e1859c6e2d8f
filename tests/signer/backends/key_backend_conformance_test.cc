// One conformance suite for every key backend (STYLE.md §12): the same tests run against
// file keys and SoftHSM2 tokens. A new backend adds one fixture row.
#include <gtest/gtest.h>

#include <memory>

#include "certwright/signer/key_backend.h"
#include "certwright/signer/x509.h"
#include "support/kms_server.h"
#include "support/softhsm_token.h"
#include "support/test_ca.h"

namespace certwright::signer {
namespace {

using testing::KmsServer;
using testing::SoftHsmToken;
using testing::TempDir;

// Makes key URIs for one backend in an environment the fixture owns.
class BackendEnv {
 public:
  virtual ~BackendEnv() = default;
  virtual std::string KeyUri(const std::string& name) = 0;
  // What the backend can hold and sign with; rows it cannot are skipped with `why`.
  virtual bool Supports(const KeySpec&, std::string* /*why*/) { return true; }
  virtual bool SupportsScheme(const KeySpec&, SignatureScheme) { return true; }
  // Empty when the environment is ready; otherwise why not (a test failure).
  virtual std::string Problem() { return ""; }
};

class FileEnv final : public BackendEnv {
 public:
  std::string KeyUri(const std::string& name) override { return "file:" + dir_.File(name + ".pem"); }

 private:
  TempDir dir_;
};

class SoftHsmEnv final : public BackendEnv {
 public:
  std::string KeyUri(const std::string& name) override { return token_.KeyUri(name); }

 private:
  SoftHsmToken token_{"conformance"};
};

// AWS KMS through a KMS-compatible server of the test's own (hack/kms-server). Keys are named by
// alias, the only name a KMS key can be created under.
class KmsEnv final : public BackendEnv {
 public:
  std::string KeyUri(const std::string& name) override { return server_.KeyUri("alias/" + name); }
  bool Supports(const KeySpec& spec, std::string* why) override {
    if (spec.type != KeyType::kEd25519) return true;
    *why = "AWS KMS keys in the test server have no Ed25519 (KeySpec ECC_NIST_EDWARDS25519 is not offered)";
    return false;
  }
  // KMS offers one ECDSA hash per curve: ECDSA_SHA_256 for P-256, ECDSA_SHA_384 for P-384.
  bool SupportsScheme(const KeySpec& spec, SignatureScheme scheme) override {
    return !(spec == KeySpec::EcdsaP256() && scheme == SignatureScheme::kEcdsaSha384);
  }
  std::string Problem() override { return server_.ok() ? "" : server_.error(); }

 private:
  KmsServer server_;
};

struct Param {
  std::string name;
  std::function<std::unique_ptr<BackendEnv>()> make;
  friend void PrintTo(const Param& p, std::ostream* os) { *os << p.name; }
};

class KeyBackendConformance : public ::testing::TestWithParam<Param> {
 protected:
  void SetUp() override {
    if (GetParam().name == "awskms" && testing::SkipKmsTests()) GTEST_SKIP() << "CERTWRIGHT_SKIP_KMS=1";
    env_ = GetParam().make();
    ASSERT_EQ(env_->Problem(), "");
    RegisterBuiltinBackends(registry_);
  }
  // Ed25519 where the backend has it, P-384 otherwise.
  KeySpec NonDefaultSpec() {
    std::string why;
    return env_->Supports(KeySpec::Ed25519(), &why) ? KeySpec::Ed25519() : KeySpec::EcdsaP384();
  }
  void TearDown() override { env_.reset(); }

  std::unique_ptr<BackendEnv> env_;
  KeyBackendRegistry registry_;
};

TEST_P(KeyBackendConformance, CreatesEveryKeyTypeAndSignsWithEveryScheme) {
  struct Row { KeySpec spec; std::vector<SignatureScheme> schemes; };
  const std::vector<Row> rows = {
      {KeySpec::EcdsaP256(), {SignatureScheme::kEcdsaSha256, SignatureScheme::kEcdsaSha384}},
      {KeySpec::EcdsaP384(), {SignatureScheme::kEcdsaSha384}},
      {KeySpec::Ed25519(), {SignatureScheme::kEd25519}},
      {KeySpec::Rsa(2048),
       {SignatureScheme::kRsaPkcs1Sha256, SignatureScheme::kRsaPkcs1Sha384, SignatureScheme::kRsaPkcs1Sha512,
        SignatureScheme::kRsaPssSha256, SignatureScheme::kRsaPssSha384}},
      {KeySpec::Rsa(3072), {SignatureScheme::kRsaPkcs1Sha256}},
  };
  const std::string message = "the TBSCertificate stands in here";
  const std::span<const uint8_t> bytes(reinterpret_cast<const uint8_t*>(message.data()), message.size());
  for (const auto& row : rows) {
    std::string why;
    if (!env_->Supports(row.spec, &why)) {
      // Say so in the output: the row is skipped for a reason, not forgotten.
      std::cout << "[ SKIPPED  ] " << KeySpecName(row.spec) << " row: " << why << "\n";
      continue;
    }
    auto key = registry_.Create(env_->KeyUri("k-" + KeySpecName(row.spec)), row.spec);
    ASSERT_TRUE(key.ok()) << KeySpecName(row.spec) << ": " << key.error().message();
    EXPECT_EQ((*key)->spec(), row.spec);
    for (auto scheme : row.schemes) {
      if (!env_->SupportsScheme(row.spec, scheme)) continue;
      auto sig = (*key)->Sign(scheme, bytes);
      ASSERT_TRUE(sig.ok()) << SchemeName(scheme) << ": " << sig.error().message();
      EXPECT_TRUE(VerifySignature((*key)->public_key(), scheme, bytes, *sig).ok()) << SchemeName(scheme);
      std::string altered = message + "!";
      EXPECT_FALSE(VerifySignature((*key)->public_key(), scheme,
                                   std::span(reinterpret_cast<const uint8_t*>(altered.data()), altered.size()), *sig)
                       .ok());
    }
    auto wrong = (*key)->Sign(row.spec.type == KeyType::kEd25519 ? SignatureScheme::kEcdsaSha256
                                                                 : SignatureScheme::kEd25519,
                              bytes);
    EXPECT_FALSE(wrong.ok());
    EXPECT_EQ(wrong.error().kind(), ErrorKind::kInvalidArgument);
  }
}

TEST_P(KeyBackendConformance, LoadFindsTheCreatedKey) {
  auto created = registry_.Create(env_->KeyUri("ca"), KeySpec::EcdsaP256());
  ASSERT_TRUE(created.ok()) << created.error().message();
  auto loaded = registry_.Load(env_->KeyUri("ca"));
  ASSERT_TRUE(loaded.ok()) << loaded.error().message();
  EXPECT_TRUE(ossl::SamePublicKey((*created)->public_key(), (*loaded)->public_key()));
  EXPECT_EQ((*loaded)->spec(), KeySpec::EcdsaP256());
}

TEST_P(KeyBackendConformance, CreateNeverOverwritesAKey) {
  auto first = registry_.Create(env_->KeyUri("ca"), KeySpec::EcdsaP256());
  ASSERT_TRUE(first.ok());
  auto second = registry_.Create(env_->KeyUri("ca"), KeySpec::EcdsaP384());
  ASSERT_FALSE(second.ok());
  EXPECT_EQ(second.error().kind(), ErrorKind::kAlreadyExists);
  EXPECT_NE(second.error().message().find("never overwritten"), std::string::npos) << second.error().message();
  auto still = registry_.Load(env_->KeyUri("ca"));
  ASSERT_TRUE(still.ok());
  EXPECT_TRUE(ossl::SamePublicKey((*first)->public_key(), (*still)->public_key()));
}

TEST_P(KeyBackendConformance, LoadOfAMissingKeyIsNotFound) {
  auto missing = registry_.Load(env_->KeyUri("absent"));
  ASSERT_FALSE(missing.ok());
  EXPECT_EQ(missing.error().kind(), ErrorKind::kNotFound) << missing.error().message();
}

TEST_P(KeyBackendConformance, LoadOrCreateCreatesOnceThenLoads) {
  bool created = false;
  auto a = registry_.LoadOrCreate(env_->KeyUri("ca"), NonDefaultSpec(), &created);
  ASSERT_TRUE(a.ok()) << a.error().message();
  EXPECT_TRUE(created);
  auto b = registry_.LoadOrCreate(env_->KeyUri("ca"), NonDefaultSpec(), &created);
  ASSERT_TRUE(b.ok());
  EXPECT_FALSE(created);
  EXPECT_TRUE(ossl::SamePublicKey((*a)->public_key(), (*b)->public_key()));
}

TEST_P(KeyBackendConformance, ACaInTheBackendIssuesAChainOpenSslVerifies) {
  for (auto spec : {KeySpec::EcdsaP256(), KeySpec::EcdsaP384(), KeySpec::Ed25519(), KeySpec::Rsa(2048)}) {
    std::string why;
    if (!env_->Supports(spec, &why)) {
      std::cout << "[ SKIPPED  ] " << KeySpecName(spec) << " row: " << why << "\n";
      continue;
    }
    auto key = registry_.Create(env_->KeyUri("chain-" + KeySpecName(spec)), spec);
    ASSERT_TRUE(key.ok()) << key.error().message();
    CertificateTemplate ca_tmpl;
    ca_tmpl.subject = *DistinguishedName::Parse("CN=Backend CA");
    ca_tmpl.is_ca = true;
    ca_tmpl.duration = std::chrono::hours(24 * 365);  // outlives the leaf's default 90 days
    auto root = SelfSign(**key, ca_tmpl);
    ASSERT_TRUE(root.ok()) << root.error().message();
    std::vector<ossl::X509Ptr> chain;
    chain.push_back(root->Certificate());
    auto ca = CertificateAuthority::Create(*key, std::move(chain));
    ASSERT_TRUE(ca.ok()) << ca.error().message();
    auto leaf_key = testing::GenerateTestKey(KeySpec::EcdsaP256());
    auto csr = CertificateRequest::Parse(testing::MakeCsrPem(leaf_key.get(), "svc", {"DNS:svc.ns.svc"}));
    ASSERT_TRUE(csr.ok());
    auto leaf = ca->Issue(TemplateFromCsr(*csr), csr->public_key.get());
    ASSERT_TRUE(leaf.ok()) << leaf.error().message();
    EXPECT_EQ(testing::VerifyChain(leaf->Certificate().get(), root->Certificate().get()), "") << KeySpecName(spec);
  }
}

// The backends this build has (CERTWRIGHT_WITH_PKCS11, CERTWRIGHT_WITH_AWSKMS).
std::vector<Param> BackendsInThisBuild() {
  std::vector<Param> params = {Param{"file", [] { return std::make_unique<FileEnv>(); }}};
#ifdef CERTWRIGHT_WITH_PKCS11
  params.push_back(Param{"softhsm2", [] { return std::make_unique<SoftHsmEnv>(); }});
#endif
#ifdef CERTWRIGHT_WITH_AWSKMS
  params.push_back(Param{"awskms", [] { return std::make_unique<KmsEnv>(); }});
#endif
  return params;
}

INSTANTIATE_TEST_SUITE_P(Backends, KeyBackendConformance, ::testing::ValuesIn(BackendsInThisBuild()),
                         [](const auto& info) {
                           return info.param.name == "file" ? "File" : info.param.name == "softhsm2" ? "SoftHsm2" : "AwsKms";
                         });

}  // namespace
}  // namespace certwright::signer
