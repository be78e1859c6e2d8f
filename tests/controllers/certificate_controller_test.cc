// tests/controllers/certificate_controller_test.cc: the issuer and certificate controllers
// in-process against the real control plane (label kube): the write budget of an issuance, and a
// Secret of another owner left alone. The kubectl scenarios are in e2e/certificates_test.sh.
#include "certwright/controllers/certificates.h"

#include <gtest/gtest.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/x509.h>
#include <prometheus/registry.h>

#include "certwright/api/meta.h"
#include "certwright/controllers/issuers.h"
#include "certwright/controllers/metrics.h"
#include "certwright/controllers/secrets.h"
#include "certwright/signer/pem.h"
#include "file/file_backend.h"
#include "support/eventually.h"
#include "support/kube_env.h"
#include "support/test_ca.h"

namespace certwright::controllers {
namespace {

using namespace std::chrono_literals;

// Writes (POST/PUT/PATCH/DELETE) the client made to `resource`, from its metrics.
double Writes(prometheus::Registry& registry, const std::string& resource) {
  double total = 0;
  for (const auto& family : registry.Collect()) {
    if (family.name != "certwright_kube_client_requests_total") continue;
    for (const auto& m : family.metric) {
      std::string verb, res;
      for (const auto& l : m.label) {
        if (l.name == "verb") verb = l.value;
        if (l.name == "resource") res = l.value;
      }
      const bool write = verb == "POST" || verb == "PUT" || verb == "PATCH" || verb == "DELETE";
      if (res == resource && write) total += m.counter.value;
    }
  }
  return total;
}

class ControllersTest : public ::testing::Test {
 protected:
  ControllersTest() : env_("controllers") {}

  void SetUp() override {
    ApplyCrdsOnce();
    auto client = kube::Client::Create(env_.client().config(), {.transport = nullptr, .metrics = registry_});
    ASSERT_TRUE(client.ok());
    ctx_.client = *client;
    ctx_.keys = std::make_shared<signer::KeyBackendRegistry>();
    signer::RegisterBuiltinBackends(*ctx_.keys);
    ctx_.metrics = std::make_shared<Metrics>(registry_);
    ctx_.watch_namespace = env_.ns();
    ctx_.cluster_resource_namespace = env_.ns();
    ctx_.workers = 2;
    ctx_.issuance = std::make_shared<issuance::IssuanceService>(issuance::IssuanceService::Options{});
  }

  void ApplyCrdsOnce() {
    static bool applied = false;
    if (!applied) testing::ApplyCrds(env_.client());
    applied = !HasFatalFailure();
  }

  void StartControllers() {
    store_ = std::make_shared<IssuerStore>();
    secrets_ = MakeSecretInformer(ctx_.client, env_.ns());
    issuers_ = std::make_unique<IssuerController>(ctx_, store_, *secrets_);
    certificates_ = std::make_unique<CertificateController>(ctx_, store_, *secrets_, *issuers_);
    secrets_->Start();
    issuers_->StartInformers();
    certificates_->StartInformers();
    ASSERT_TRUE(secrets_->WaitForSync(30s) && issuers_->WaitForSync(30s) && certificates_->WaitForSync(30s));
    issuers_->StartWorkers();
    certificates_->StartWorkers();
  }

  void TearDown() override {
    if (certificates_) certificates_->Stop();
    if (issuers_) issuers_->Stop();
    if (secrets_) secrets_->Stop();
  }

  void CreateCaIssuer() {
    auto key = signer::GenerateKey(signer::KeySpec::EcdsaP256());
    ASSERT_TRUE(key.ok());
    auto self = signer::SigningKeyFromPKey(ossl::Share(key->get()), "test");
    ASSERT_TRUE(self.ok());
    signer::CertificateTemplate tmpl;
    tmpl.subject.Add("CN", "controller test CA");
    tmpl.is_ca = true;
    tmpl.duration = 24h;
    auto root = signer::SelfSign(**self, tmpl);
    ASSERT_TRUE(root.ok()) << root.error().message();
    ca_pem_ = root->pem;
    ossl::Bio bio(BIO_new(BIO_s_mem()));
    ASSERT_EQ(PEM_write_bio_PrivateKey(bio.get(), key->get(), nullptr, nullptr, 0, nullptr, nullptr), 1);
    char* data = nullptr;
    const long len = BIO_get_mem_data(bio.get(), &data);
    const kube::Json secret = {{"apiVersion", "v1"},
                               {"kind", "Secret"},
                               {"metadata", {{"name", "ca"}}},
                               {"type", "kubernetes.io/tls"},
                               {"data",
                                {{"tls.crt", Base64Encode(root->pem)},
                                 {"tls.key", Base64Encode(std::string(data, static_cast<size_t>(len)))}}}};
    ASSERT_TRUE(env_.client().Create(kube::resources::kSecrets, env_.ns(), secret).ok());
    const kube::Json issuer = {{"apiVersion", "certwright.dev/v1alpha1"},
                               {"kind", "Issuer"},
                               {"metadata", {{"name", "ca"}}},
                               {"spec", {{"ca", {{"secretName", "ca"}}}}}};
    auto created = env_.client().Create(api::resources::kIssuers, env_.ns(), issuer);
    ASSERT_TRUE(created.ok()) << created.error().message();
  }

  kube::Json Certificate(const std::string& name) {
    return {{"apiVersion", "certwright.dev/v1alpha1"},
            {"kind", "Certificate"},
            {"metadata", {{"name", name}}},
            {"spec",
             {{"secretName", name + "-tls"},
              {"dnsNames", {name + ".example.com"}},
              {"issuerRef", {{"name", "ca"}}}}}};
  }

  std::optional<api::Condition> ReadyOf(const std::string& name) {
    auto c = env_.client().Get(api::resources::kCertificates, env_.ns(), name);
    if (!c.ok()) return std::nullopt;
    kube::Json status = c->value("status", kube::Json::object());
    return api::Conditions(status).Get("Ready");
  }

  testing::KubeTest env_;
  std::shared_ptr<prometheus::Registry> registry_ = std::make_shared<prometheus::Registry>();
  ControllerContext ctx_;
  std::string ca_pem_;
  std::shared_ptr<IssuerStore> store_;
  std::unique_ptr<kube::Informer> secrets_;
  std::unique_ptr<IssuerController> issuers_;
  std::unique_ptr<CertificateController> certificates_;
};

TEST_F(ControllersTest, IssuesWithOneSecretWriteAndOneStatusWrite) {
  CreateCaIssuer();
  StartControllers();
  ASSERT_TRUE(testing::Eventually([&] { return store_->Get(IssuerStore::KeyFor("Issuer", env_.ns(), "ca")) != nullptr; }, 30s));
  const double secrets_before = Writes(*registry_, "secrets");
  const double certificates_before = Writes(*registry_, "certificates");

  ASSERT_TRUE(env_.client().Create(api::resources::kCertificates, env_.ns(), Certificate("web")).ok());
  ASSERT_TRUE(testing::Eventually([&] {
    auto ready = ReadyOf("web");
    return ready && ready->status == "True";
  }, 30s));
  // Let the echoes of our own writes come back and be reconciled: they must write nothing.
  std::this_thread::sleep_for(2s);
  EXPECT_EQ(Writes(*registry_, "secrets") - secrets_before, 1);
  EXPECT_EQ(Writes(*registry_, "certificates") - certificates_before, 1);

  auto secret = env_.client().Get(kube::resources::kSecrets, env_.ns(), "web-tls");
  ASSERT_TRUE(secret.ok());
  EXPECT_EQ(secret->value("type", ""), "kubernetes.io/tls");
  auto crt = SecretValue(*secret, "tls.crt");
  auto key = SecretValue(*secret, "tls.key");
  auto ca = SecretValue(*secret, "ca.crt");
  ASSERT_TRUE(crt && key && ca);
  EXPECT_EQ(*ca, ca_pem_);
  auto leaf = signer::ParseCertificates(*crt);
  auto pkey = signer::ParsePrivateKey(*key);
  ASSERT_TRUE(leaf.ok() && pkey.ok());
  EXPECT_EQ(EVP_PKEY_eq(X509_get0_pubkey(leaf->front().get()), pkey->get()), 1);
  EXPECT_EQ(testing::VerifyChain(leaf->front().get(), testing::ParseOne(ca_pem_).get()), "");
  EXPECT_NE(key->find("BEGIN EC PRIVATE KEY"), std::string::npos) << "PKCS1 is the default encoding";
  EXPECT_EQ(secret->at("metadata").at("annotations").value(api::annotations::kCertificateName, ""), "web");
}

TEST_F(ControllersTest, NeverWritesASecretOfAnotherOwner) {
  CreateCaIssuer();
  const kube::Json foreign = {{"apiVersion", "v1"},
                              {"kind", "Secret"},
                              {"metadata", {{"name", "web-tls"}}},
                              {"data", {{"password", Base64Encode("hunter2")}}}};
  auto created = env_.client().Create(kube::resources::kSecrets, env_.ns(), foreign);
  ASSERT_TRUE(created.ok());
  const std::string rv = created->at("metadata").value("resourceVersion", "");
  StartControllers();
  ASSERT_TRUE(env_.client().Create(api::resources::kCertificates, env_.ns(), Certificate("web")).ok());
  ASSERT_TRUE(testing::Eventually([&] {
    auto ready = ReadyOf("web");
    return ready && ready->reason == "SecretConflict";
  }, 30s));
  auto ready = ReadyOf("web");
  EXPECT_EQ(ready->status, "False");
  EXPECT_NE(ready->message.find("never overwrites a Secret it does not own"), std::string::npos) << ready->message;
  auto secret = env_.client().Get(kube::resources::kSecrets, env_.ns(), "web-tls");
  ASSERT_TRUE(secret.ok());
  EXPECT_EQ(secret->at("metadata").value("resourceVersion", ""), rv);

  // Deleting it lets the controller go on: the Secret watch brings the Certificate back.
  ASSERT_TRUE(env_.client().Delete(kube::resources::kSecrets, env_.ns(), "web-tls").ok());
  EXPECT_TRUE(testing::Eventually([&] {
    auto r = ReadyOf("web");
    return r && r->status == "True";
  }, 30s));
}

}  // namespace
}  // namespace certwright::controllers
