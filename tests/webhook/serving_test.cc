// The webhook's serving certificate against the real control plane: the Secret with its CA, one
// CA for racing replicas, renewal at two thirds of a lifetime (injected clock), CA rotation with
// the old CA kept in the bundle, caBundle repair, restarts, and a damaged Secret.
//
// The webhook configurations made here dial https://127.0.0.1:1 (nothing listens), match only a
// made-up resource in the test's own namespace and use failurePolicy Ignore, so they never block
// anything else on the shared plane.
#include "certwright/webhook/serving.h"

#include <openssl/x509v3.h>

#include <gtest/gtest.h>

#include <atomic>
#include <barrier>
#include <mutex>
#include <thread>

#include "certwright/api/meta.h"
#include "certwright/http/server.h"
#include "certwright/http/tls.h"
#include "certwright/signer/pem.h"
#include "certwright/signer/x509.h"
#include "support/eventually.h"
#include "support/kube_env.h"

namespace certwright::webhook {
namespace {

using std::chrono::hours;
using std::chrono::minutes;
using testing::KubeTest;

// What on_serving_certificate received.
class Deliveries {
 public:
  std::function<Status(const std::string&, const std::string&)> Callback() {
    return [this](const std::string& chain, const std::string& key) {
      std::lock_guard<std::mutex> lock(mutex_);
      chains_.push_back(chain);
      last_key_ = key;
      return Ok();
    };
  }
  int count() const {
    std::lock_guard<std::mutex> lock(mutex_);
    return static_cast<int>(chains_.size());
  }
  std::string last_chain() const {
    std::lock_guard<std::mutex> lock(mutex_);
    return chains_.empty() ? "" : chains_.back();
  }
  std::string last_key() const {
    std::lock_guard<std::mutex> lock(mutex_);
    return last_key_;
  }

 private:
  mutable std::mutex mutex_;
  std::vector<std::string> chains_;
  std::string last_key_;
};

std::vector<ossl::X509Ptr> Certs(const std::string& pem) {
  auto certs = signer::ParseCertificates(pem);
  EXPECT_TRUE(certs.ok()) << (certs.ok() ? "" : certs.error().message());
  return certs.ok() ? std::move(*certs) : std::vector<ossl::X509Ptr>{};
}

bool IssuedBy(X509* leaf, X509* ca) {
  return X509_check_issued(ca, leaf) == X509_V_OK && X509_verify(leaf, X509_get0_pubkey(ca)) == 1;
}

std::string Der(X509* cert) {
  auto der = ossl::CertificateToDer(cert);
  return der.ok() ? std::string(der->begin(), der->end()) : "";
}

class ServingTest : public ::testing::Test {
 protected:
  ServingTest() : kube_("serving") {}

  void SetUp() override {
    validating_ = "serving-test-" + kube_.ns();
    mutating_ = "serving-test-" + kube_.ns();
  }

  void TearDown() override {
    for (const auto& [resource, name] : made_) {
      auto s = kube_.client().Delete(*resource, "", name);
      if (!s.ok() && s.error().kind() != ErrorKind::kNotFound) ADD_FAILURE() << "deleting " << name << ": " << s.error().message();
    }
  }

  // Two webhooks each, dialling nowhere, for a resource that does not exist, in this test's
  // namespace only, failurePolicy Ignore: harmless to everyone else on the plane.
  kube::Json Webhook(const std::string& name) const {
    return {{"name", name + ".serving-test.certwright.dev"},
            {"clientConfig", {{"url", "https://127.0.0.1:1/validate"}}},
            {"rules",
             {{{"apiGroups", {"serving-test.certwright.dev"}},
               {"apiVersions", {"v1"}},
               {"operations", {"CREATE"}},
               {"resources", {"nothings"}},
               {"scope", "*"}}}},
            {"namespaceSelector", {{"matchLabels", {{"kubernetes.io/metadata.name", kube_.ns()}}}}},
            {"failurePolicy", "Ignore"},
            {"sideEffects", "None"},
            {"admissionReviewVersions", {"v1"}},
            {"timeoutSeconds", 1}};
  }

  void CreateConfigurations() {
    kube::Json v = {{"apiVersion", "admissionregistration.k8s.io/v1"},
                    {"kind", "ValidatingWebhookConfiguration"},
                    {"metadata", {{"name", validating_}}},
                    {"webhooks", {Webhook("a"), Webhook("b")}}};
    ASSERT_TRUE(kube_.client().Create(kValidatingWebhookConfigurations, "", v).ok());
    made_.emplace_back(&kValidatingWebhookConfigurations, validating_);
    kube::Json m = {{"apiVersion", "admissionregistration.k8s.io/v1"},
                    {"kind", "MutatingWebhookConfiguration"},
                    {"metadata", {{"name", mutating_}}},
                    {"webhooks", {Webhook("c")}}};
    m["webhooks"][0]["reinvocationPolicy"] = "Never";
    ASSERT_TRUE(kube_.client().Create(kMutatingWebhookConfigurations, "", m).ok());
    made_.emplace_back(&kMutatingWebhookConfigurations, mutating_);
  }

  ServingOptions Options(const std::string& secret = "webhook-tls") {
    ServingOptions o;
    o.ns = kube_.ns();
    o.secret_name = secret;
    o.dns_names = ServiceDnsNames("certwright-webhook", kube_.ns());
    o.ip_addresses = {"127.0.0.1"};
    o.validating_configuration = validating_;
    o.mutating_configuration = mutating_;
    o.resync = hours(1);  // tests drive SyncOnce themselves
    o.on_serving_certificate = deliveries_.Callback();
    return o;
  }

  std::string SecretValue(const std::string& secret, const std::string& key) {
    auto s = kube_.client().Get(kube::resources::kSecrets, kube_.ns(), secret);
    EXPECT_TRUE(s.ok());
    if (!s.ok() || !(*s)["data"].contains(key)) return "";
    return api::Base64Decode((*s)["data"][key].get<std::string>()).value_or("<not base64>");
  }

  // Every webhook's caBundle in both configurations, decoded.
  std::vector<std::string> CaBundles() {
    std::vector<std::string> out;
    for (const auto& [resource, name] : made_) {
      auto c = kube_.client().Get(*resource, "", name);
      EXPECT_TRUE(c.ok());
      if (!c.ok()) continue;
      for (const auto& w : (*c)["webhooks"]) {
        out.push_back(api::Base64Decode(w["clientConfig"].value("caBundle", "")).value_or("<not base64>"));
      }
    }
    return out;
  }

  void ExpectCaBundlesAre(const std::string& bundle) {
    const auto bundles = CaBundles();
    ASSERT_EQ(bundles.size(), 3u);
    for (const auto& b : bundles) EXPECT_EQ(b, bundle);
  }

  void PutSecretValue(const std::string& secret, const std::string& key, const std::string& value) {
    auto s = kube_.client().Get(kube::resources::kSecrets, kube_.ns(), secret);
    ASSERT_TRUE(s.ok());
    (*s)["data"][key] = api::Base64Encode(value);
    ASSERT_TRUE(kube_.client().Update(kube::resources::kSecrets, kube_.ns(), *s).ok());
  }

  KubeTest kube_;
  std::string validating_, mutating_;
  std::vector<std::pair<const kube::Resource*, std::string>> made_;
  Deliveries deliveries_;
};

TEST_F(ServingTest, FirstStartCreatesTheSecretWithACaAndFillsCaBundle) {
  CreateConfigurations();
  auto serving = ServingCertificates::Start(kube_.shared_client(), Options());
  ASSERT_TRUE(serving.ok()) << serving.error().message();

  auto secret = kube_.client().Get(kube::resources::kSecrets, kube_.ns(), "webhook-tls");
  ASSERT_TRUE(secret.ok());
  EXPECT_EQ((*secret)["type"], "kubernetes.io/tls");
  for (const char* key : {"tls.crt", "tls.key", "ca.crt", "ca.key"}) EXPECT_TRUE((*secret)["data"].contains(key)) << key;

  // tls.crt: the serving certificate, then the CA that issued it; ca.crt: that CA.
  const std::string ca_crt = SecretValue("webhook-tls", "ca.crt");
  EXPECT_EQ(ca_crt, (*serving)->ca_pem());
  EXPECT_EQ(ca_crt, (*serving)->ca_bundle_pem());
  auto chain = Certs(SecretValue("webhook-tls", "tls.crt"));
  auto ca = Certs(ca_crt);
  ASSERT_EQ(chain.size(), 2u);
  ASSERT_EQ(ca.size(), 1u);
  EXPECT_EQ(Der(chain[1].get()), Der(ca[0].get()));
  EXPECT_TRUE(IssuedBy(chain[0].get(), ca[0].get()));
  EXPECT_EQ(X509_check_ca(ca[0].get()), 1);
  EXPECT_EQ(X509_check_ca(chain[0].get()), 0);
  for (const auto& name : ServiceDnsNames("certwright-webhook", kube_.ns())) {
    EXPECT_EQ(X509_check_host(chain[0].get(), name.data(), name.size(), X509_CHECK_FLAG_NEVER_CHECK_SUBJECT, nullptr), 1)
        << name;
  }
  EXPECT_EQ(X509_check_ip_asc(chain[0].get(), "127.0.0.1", 0), 1);

  // The serving pair went to the server, and the CA to every webhook.
  EXPECT_EQ(deliveries_.count(), 1);
  EXPECT_EQ(deliveries_.last_chain(), SecretValue("webhook-tls", "tls.crt"));
  EXPECT_EQ(deliveries_.last_key(), SecretValue("webhook-tls", "tls.key"));
  ExpectCaBundlesAre(ca_crt);

  // A second pass with nothing to do writes nothing and delivers nothing.
  const std::string rv = (*secret)["metadata"]["resourceVersion"];
  ASSERT_TRUE((*serving)->SyncOnce().ok());
  EXPECT_EQ(kube_.client().Get(kube::resources::kSecrets, kube_.ns(), "webhook-tls")->at("metadata")["resourceVersion"], rv);
  EXPECT_EQ(deliveries_.count(), 1);
}

TEST_F(ServingTest, ReplicasRacingOnAnEmptyNamespaceEndWithOneCa) {
  CreateConfigurations();
  constexpr int kReplicas = 3;
  for (int round = 0; round < 3; ++round) {
    const std::string secret = "race-" + std::to_string(round);
    std::barrier start(kReplicas);
    std::vector<std::unique_ptr<ServingCertificates>> replicas(kReplicas);
    std::vector<std::string> errors(kReplicas);
    std::vector<std::thread> threads;
    for (int i = 0; i < kReplicas; ++i) {
      threads.emplace_back([&, i] {
        ServingOptions o = Options(secret);
        o.on_serving_certificate = nullptr;
        start.arrive_and_wait();
        auto r = ServingCertificates::Start(kube_.shared_client(), std::move(o));
        if (r.ok()) replicas[i] = std::move(*r);
        else errors[i] = r.error().message();
      });
    }
    for (auto& t : threads) t.join();
    for (int i = 0; i < kReplicas; ++i) ASSERT_TRUE(replicas[i]) << "replica " << i << ": " << errors[i];
    const std::string ca = SecretValue(secret, "ca.crt");
    ASSERT_FALSE(ca.empty());
    for (int i = 0; i < kReplicas; ++i) {
      EXPECT_EQ(replicas[i]->ca_pem(), ca) << "round " << round << ", replica " << i;
      EXPECT_EQ(replicas[i]->serving_chain_pem(), SecretValue(secret, "tls.crt")) << "round " << round << ", replica " << i;
    }
    ExpectCaBundlesAre(ca);
  }
}

TEST_F(ServingTest, RenewsTheServingCertificateAtTwoThirdsOfItsLifeFromTheSameCa) {
  CreateConfigurations();
  ManualClock clock;
  ServingOptions o = Options();
  o.clock = &clock;
  o.ca_duration = hours(24 * 10);
  o.serving_duration = hours(24);
  auto serving = ServingCertificates::CreateForTest(kube_.shared_client(), std::move(o));
  ASSERT_TRUE(serving.ok());
  ASSERT_TRUE((*serving)->SyncOnce().ok());
  const std::string ca = (*serving)->ca_pem();
  const std::string first = deliveries_.last_chain();
  ASSERT_EQ(deliveries_.count(), 1);

  // Renewal is at 16 h (the certificate is backdated a minute): not yet at 15 h.
  clock.Advance(hours(15));
  ASSERT_TRUE((*serving)->SyncOnce().ok());
  EXPECT_EQ(deliveries_.count(), 1);
  EXPECT_EQ(SecretValue("webhook-tls", "tls.crt"), first);

  clock.Advance(hours(1) + minutes(1));
  ASSERT_TRUE((*serving)->SyncOnce().ok());
  ASSERT_EQ(deliveries_.count(), 2);
  const std::string second = deliveries_.last_chain();
  EXPECT_NE(second, first);
  EXPECT_EQ(second, SecretValue("webhook-tls", "tls.crt"));
  EXPECT_NE(deliveries_.last_key(), "");
  EXPECT_EQ((*serving)->ca_pem(), ca);
  EXPECT_EQ(SecretValue("webhook-tls", "ca.crt"), ca);
  auto leaf = Certs(second);
  auto ca_cert = Certs(ca);
  ASSERT_FALSE(leaf.empty());
  ASSERT_FALSE(ca_cert.empty());
  EXPECT_TRUE(IssuedBy(leaf[0].get(), ca_cert[0].get()));
  ExpectCaBundlesAre(ca);
}

TEST_F(ServingTest, ReplacesTheCaAtTwoThirdsAndKeepsTheOldOneInTheBundleUntilItExpires) {
  CreateConfigurations();
  ManualClock clock;
  ServingOptions o = Options();
  o.clock = &clock;
  o.ca_duration = hours(30);     // renewed at 20 h
  o.serving_duration = hours(10);
  auto serving = ServingCertificates::CreateForTest(kube_.shared_client(), std::move(o));
  ASSERT_TRUE(serving.ok());
  ASSERT_TRUE((*serving)->SyncOnce().ok());
  const std::string ca0 = (*serving)->ca_pem();

  // 14 h: the first serving certificate expired; the next one (CA0) lives to 24 h, renewal ~20.7 h.
  clock.Advance(hours(14));
  ASSERT_TRUE((*serving)->SyncOnce().ok());
  ASSERT_EQ(deliveries_.count(), 2);
  const std::string leaf1 = deliveries_.last_chain();

  // 20.3 h: the CA is past two thirds. A new CA heads the bundle, CA0 stays in it, and the
  // serving certificate CA0 signed stays in use: the API server trusts the new CA first.
  clock.Advance(minutes(6 * 60 + 18));
  ASSERT_TRUE((*serving)->SyncOnce().ok());
  const std::string ca1 = (*serving)->ca_pem();
  EXPECT_NE(ca1, ca0);
  EXPECT_EQ((*serving)->ca_bundle_pem(), ca1 + ca0);
  EXPECT_EQ(SecretValue("webhook-tls", "ca.crt"), ca1 + ca0);
  ExpectCaBundlesAre(ca1 + ca0);
  EXPECT_EQ(deliveries_.count(), 2);
  EXPECT_EQ(SecretValue("webhook-tls", "tls.crt"), leaf1);

  // 21 h: the serving certificate's own renewal, now from the new CA.
  clock.Advance(minutes(42));
  ASSERT_TRUE((*serving)->SyncOnce().ok());
  ASSERT_EQ(deliveries_.count(), 3);
  auto leaf2 = Certs(deliveries_.last_chain());
  ASSERT_EQ(leaf2.size(), 2u);
  EXPECT_TRUE(IssuedBy(leaf2[0].get(), Certs(ca1)[0].get()));
  EXPECT_EQ((*serving)->ca_bundle_pem(), ca1 + ca0);

  // 31 h: CA0 has expired and leaves the bundle.
  clock.Advance(hours(10));
  ASSERT_TRUE((*serving)->SyncOnce().ok());
  EXPECT_EQ((*serving)->ca_pem(), ca1);
  EXPECT_EQ((*serving)->ca_bundle_pem(), ca1);
  ExpectCaBundlesAre(ca1);
}

TEST_F(ServingTest, RepairsAnEditedCaBundle) {
  CreateConfigurations();
  auto serving = ServingCertificates::Start(kube_.shared_client(), Options());
  ASSERT_TRUE(serving.ok());
  const std::string ca = (*serving)->ca_bundle_pem();
  ExpectCaBundlesAre(ca);

  // Someone puts another CA into one webhook and removes it from another.
  kube::Json replace = kube::Json::array(
      {{{"op", "replace"}, {"path", "/webhooks/1/clientConfig/caBundle"}, {"value", api::Base64Encode("not a CA")}}});
  ASSERT_TRUE(kube_.client().Patch(kValidatingWebhookConfigurations, "", validating_, kube::PatchType::kJson, replace).ok());
  kube::Json remove = kube::Json::array({{{"op", "remove"}, {"path", "/webhooks/0/clientConfig/caBundle"}}});
  ASSERT_TRUE(kube_.client().Patch(kMutatingWebhookConfigurations, "", mutating_, kube::PatchType::kJson, remove).ok());
  EXPECT_NE(CaBundles(), std::vector<std::string>(3, ca));

  ASSERT_TRUE((*serving)->SyncOnce().ok());
  ExpectCaBundlesAre(ca);
}

TEST_F(ServingTest, AConfigurationMissingAtStartIsNotFatalAndGetsItsCaBundleOnceItExists) {
  auto serving = ServingCertificates::Start(kube_.shared_client(), Options());
  ASSERT_TRUE(serving.ok()) << serving.error().message();
  EXPECT_EQ(deliveries_.count(), 1);

  CreateConfigurations();
  ASSERT_TRUE((*serving)->SyncOnce().ok());
  ExpectCaBundlesAre((*serving)->ca_bundle_pem());
}

TEST_F(ServingTest, TheThreadRepairsCaBundleOnItsOwnAndStopsPromptly) {
  CreateConfigurations();
  ServingOptions o = Options();
  o.resync = std::chrono::milliseconds(100);
  auto serving = ServingCertificates::Start(kube_.shared_client(), std::move(o));
  ASSERT_TRUE(serving.ok());
  const std::string ca = (*serving)->ca_bundle_pem();
  kube::Json remove = kube::Json::array({{{"op", "remove"}, {"path", "/webhooks/0/clientConfig/caBundle"}}});
  ASSERT_TRUE(kube_.client().Patch(kValidatingWebhookConfigurations, "", validating_, kube::PatchType::kJson, remove).ok());
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(10);
  while (CaBundles() != std::vector<std::string>(3, ca) && std::chrono::steady_clock::now() < deadline) {
    std::this_thread::sleep_for(std::chrono::milliseconds(50));
  }
  ExpectCaBundlesAre(ca);

  const auto before = std::chrono::steady_clock::now();
  serving->reset();
  EXPECT_LT(std::chrono::steady_clock::now() - before, std::chrono::seconds(2));
}

TEST_F(ServingTest, ARestartKeepsTheCaAndTheServingCertificate) {
  CreateConfigurations();
  std::string ca, chain;
  {
    auto first = ServingCertificates::Start(kube_.shared_client(), Options());
    ASSERT_TRUE(first.ok());
    ca = (*first)->ca_pem();
    chain = (*first)->serving_chain_pem();
  }
  const std::string rv =
      kube_.client().Get(kube::resources::kSecrets, kube_.ns(), "webhook-tls")->at("metadata")["resourceVersion"];
  auto second = ServingCertificates::Start(kube_.shared_client(), Options());
  ASSERT_TRUE(second.ok());
  EXPECT_EQ((*second)->ca_pem(), ca);
  EXPECT_EQ((*second)->serving_chain_pem(), chain);
  EXPECT_EQ(kube_.client().Get(kube::resources::kSecrets, kube_.ns(), "webhook-tls")->at("metadata")["resourceVersion"], rv);
  // The new process still loads the pair into its server.
  EXPECT_EQ(deliveries_.count(), 2);
  EXPECT_EQ(deliveries_.last_chain(), chain);
}

TEST_F(ServingTest, GarbageInTlsCrtIsRepairedFromTheSameCa) {
  CreateConfigurations();
  auto serving = ServingCertificates::Start(kube_.shared_client(), Options());
  ASSERT_TRUE(serving.ok());
  const std::string ca = (*serving)->ca_pem();

  const std::vector<std::string> garbages = {"garbage", "-----BEGIN CERTIFICATE-----\nAAAA\n-----END CERTIFICATE-----\n", ""};
  for (const auto& garbage : garbages) {
    PutSecretValue("webhook-tls", "tls.crt", garbage);
    ASSERT_TRUE((*serving)->SyncOnce().ok()) << garbage;
    auto chain = Certs(SecretValue("webhook-tls", "tls.crt"));
    ASSERT_EQ(chain.size(), 2u) << garbage;
    EXPECT_TRUE(IssuedBy(chain[0].get(), Certs(ca)[0].get()));
    EXPECT_EQ((*serving)->ca_pem(), ca);
    EXPECT_EQ(deliveries_.last_chain(), SecretValue("webhook-tls", "tls.crt"));
  }
  // A key that is not the certificate's.
  PutSecretValue("webhook-tls", "tls.key", SecretValue("webhook-tls", "ca.key"));
  ASSERT_TRUE((*serving)->SyncOnce().ok());
  EXPECT_EQ(deliveries_.last_key(), SecretValue("webhook-tls", "tls.key"));
  EXPECT_NE(deliveries_.last_key(), SecretValue("webhook-tls", "ca.key"));
  EXPECT_EQ((*serving)->ca_pem(), ca);
}

TEST_F(ServingTest, AServingCertificateWithoutARequiredNameIsReissued) {
  CreateConfigurations();
  auto serving = ServingCertificates::Start(kube_.shared_client(), Options());
  ASSERT_TRUE(serving.ok());
  const std::string ca = (*serving)->ca_pem();
  serving->reset();

  ServingOptions o = Options();
  o.dns_names.push_back("certwright-webhook.example.test");
  auto renamed = ServingCertificates::Start(kube_.shared_client(), std::move(o));
  ASSERT_TRUE(renamed.ok());
  EXPECT_EQ((*renamed)->ca_pem(), ca);
  auto chain = Certs((*renamed)->serving_chain_pem());
  ASSERT_FALSE(chain.empty());
  const std::string name = "certwright-webhook.example.test";
  EXPECT_EQ(X509_check_host(chain[0].get(), name.data(), name.size(), X509_CHECK_FLAG_NEVER_CHECK_SUBJECT, nullptr), 1);
}

TEST_F(ServingTest, AGarbageCaIsReplacedWithANewOne) {
  CreateConfigurations();
  auto serving = ServingCertificates::Start(kube_.shared_client(), Options());
  ASSERT_TRUE(serving.ok());
  const std::string old_ca = (*serving)->ca_pem();

  PutSecretValue("webhook-tls", "ca.crt", "not a certificate");
  PutSecretValue("webhook-tls", "ca.key", "not a key");
  ASSERT_TRUE((*serving)->SyncOnce().ok());
  const std::string ca = (*serving)->ca_pem();
  EXPECT_NE(ca, old_ca);
  EXPECT_EQ(SecretValue("webhook-tls", "ca.crt"), ca);
  auto chain = Certs(SecretValue("webhook-tls", "tls.crt"));
  ASSERT_EQ(chain.size(), 2u);
  EXPECT_TRUE(IssuedBy(chain[0].get(), Certs(ca)[0].get()));
  ExpectCaBundlesAre(ca);
  // No CA key text in what went to the server.
  EXPECT_EQ(deliveries_.last_key(), SecretValue("webhook-tls", "tls.key"));
}

// The whole loop with the real API server: it calls an HTTPS server whose identity comes from
// on_serving_certificate, trusting only the caBundle written here, while the serving certificate is
// replaced twice and the CA once (failurePolicy Fail: a call it cannot make fails the create).
// The server closes idle connections at once, so the API server makes new handshakes throughout.
TEST_F(ServingTest, TheApiServerKeepsCallingTheWebhookWhileCertificatesAndTheCaAreReplaced) {
  auto credentials = std::make_shared<http::TlsCredentials>();
  ServingOptions o = Options();
  o.validating_configuration = validating_;
  o.mutating_configuration = "";
  o.on_serving_certificate = [credentials, this](const std::string& chain, const std::string& key) -> Status {
    CW_RETURN_IF_ERROR(credentials->Update(chain, key));
    return deliveries_.Callback()(chain, key);
  };
  auto serving = ServingCertificates::CreateForTest(kube_.shared_client(), std::move(o));
  ASSERT_TRUE(serving.ok());
  ASSERT_TRUE((*serving)->SyncOnce().ok());

  std::atomic<int> reviews{0};
  http::Router router;
  router.Handle("POST", "/validate", [&reviews](const http::Request& request) {
    const kube::Json review = kube::Json::parse(request.body, nullptr, false);
    const std::string uid = review.is_object() && review.contains("request") ? review["request"].value("uid", "") : "";
    ++reviews;
    kube::Json out = {{"apiVersion", "admission.k8s.io/v1"},
                      {"kind", "AdmissionReview"},
                      {"response", {{"uid", uid}, {"allowed", true}}}};
    return http::Response::Text(200, out.dump(), "application/json");
  });
  http::ServerOptions server_options;
  server_options.address = "127.0.0.1:0";
  server_options.tls = credentials;
  server_options.idle_timeout = std::chrono::milliseconds(20);
  auto server = http::Server::Start(std::move(server_options), std::move(router));
  ASSERT_TRUE(server.ok()) << server.error().message();

  kube::Json hook = Webhook("load");
  hook["clientConfig"]["url"] = "https://127.0.0.1:" + std::to_string((*server)->port()) + "/validate";
  hook["rules"] = {{{"apiGroups", {""}}, {"apiVersions", {"v1"}}, {"operations", {"CREATE"}},
                    {"resources", {"configmaps"}}, {"scope", "Namespaced"}}};
  hook["objectSelector"] = {{"matchLabels", {{"serving-test", "load"}}}};
  hook["failurePolicy"] = "Fail";
  hook["timeoutSeconds"] = 5;
  kube::Json v = {{"apiVersion", "admissionregistration.k8s.io/v1"},
                  {"kind", "ValidatingWebhookConfiguration"},
                  {"metadata", {{"name", validating_}}},
                  {"webhooks", {hook}}};
  ASSERT_TRUE(kube_.client().Create(kValidatingWebhookConfigurations, "", v).ok());
  made_.emplace_back(&kValidatingWebhookConfigurations, validating_);
  ASSERT_TRUE((*serving)->SyncOnce().ok());  // caBundle

  std::atomic<int> created{0};
  std::mutex failures_mutex;
  std::vector<std::string> failures;
  auto create = [&](int n) {
    auto made = kube_.client().Create(kube::resources::kConfigMaps, kube_.ns(),
                                      testing::ConfigMap("load-" + std::to_string(n), {}, {{"serving-test", "load"}}));
    if (made.ok()) {
      ++created;
      return true;
    }
    std::lock_guard<std::mutex> lock(failures_mutex);
    failures.push_back(made.error().message());
    return false;
  };
  // The API server sees the new configuration a moment after it is written.
  int n = 0;
  ASSERT_TRUE(testing::Eventually([&] { return create(n++) && reviews > 0; }, std::chrono::seconds(15)));
  failures.clear();

  std::atomic<bool> stop{false};
  std::thread load([&] {
    while (!stop) {
      create(n++);
      std::this_thread::sleep_for(std::chrono::milliseconds(30));  // past the idle timeout: new handshakes
    }
  });
  auto served_more = [&](int at_least) {
    const int start = reviews;
    return testing::Eventually([&] { return reviews >= start + at_least; }, std::chrono::seconds(10));
  };
  const std::string ca0 = (*serving)->ca_pem();
  EXPECT_TRUE(served_more(5));
  // 1: a new serving certificate from the same CA.
  PutSecretValue("webhook-tls", "tls.crt", "garbage");
  ASSERT_TRUE((*serving)->SyncOnce().ok());
  EXPECT_EQ(deliveries_.count(), 2);
  EXPECT_TRUE(served_more(5));
  // 2: a new CA; the serving certificate of the old one stays, the bundle has both.
  PutSecretValue("webhook-tls", "ca.key", "garbage");
  ASSERT_TRUE((*serving)->SyncOnce().ok());
  EXPECT_NE((*serving)->ca_pem(), ca0);
  EXPECT_EQ((*serving)->ca_bundle_pem(), (*serving)->ca_pem() + ca0);
  EXPECT_EQ(deliveries_.count(), 2);
  EXPECT_TRUE(served_more(5));
  // 3: a serving certificate from the new CA.
  PutSecretValue("webhook-tls", "tls.crt", "garbage");
  ASSERT_TRUE((*serving)->SyncOnce().ok());
  EXPECT_EQ(deliveries_.count(), 3);
  auto leaf = Certs(deliveries_.last_chain());
  ASSERT_FALSE(leaf.empty());
  EXPECT_TRUE(IssuedBy(leaf[0].get(), Certs((*serving)->ca_pem())[0].get()));
  EXPECT_TRUE(served_more(5));
  stop = true;
  load.join();

  {
    std::lock_guard<std::mutex> lock(failures_mutex);
    EXPECT_TRUE(failures.empty()) << failures.size() << " creates failed; the first: " << failures.front();
    failures.clear();
  }
  EXPECT_GE(created.load(), 20);

  // The control: the API server really checks against caBundle. With only the old CA there the
  // creates fail; the next pass repairs caBundle and they succeed again.
  kube::Json edit = kube::Json::array(
      {{{"op", "replace"}, {"path", "/webhooks/0/clientConfig/caBundle"}, {"value", api::Base64Encode(ca0)}}});
  ASSERT_TRUE(kube_.client().Patch(kValidatingWebhookConfigurations, "", validating_, kube::PatchType::kJson, edit).ok());
  EXPECT_TRUE(testing::Eventually([&] { return !create(n++); }, std::chrono::seconds(15)));
  {
    std::lock_guard<std::mutex> lock(failures_mutex);
    ASSERT_FALSE(failures.empty());
    EXPECT_NE(failures.back().find("x509"), std::string::npos) << failures.back();
  }
  ASSERT_TRUE((*serving)->SyncOnce().ok());
  EXPECT_TRUE(testing::Eventually([&] { return create(n++); }, std::chrono::seconds(15)));
}

TEST_F(ServingTest, ASecretOfAnotherTypeIsReportedNotOverwritten) {
  kube::Json opaque = {{"apiVersion", "v1"},
                       {"kind", "Secret"},
                       {"metadata", {{"name", "webhook-tls"}}},
                       {"type", "Opaque"},
                       {"data", {{"other", api::Base64Encode("kept")}}}};
  ASSERT_TRUE(kube_.client().Create(kube::resources::kSecrets, kube_.ns(), opaque).ok());
  auto serving = ServingCertificates::Start(kube_.shared_client(), Options());
  ASSERT_FALSE(serving.ok());
  EXPECT_EQ(serving.error().message(), "Secret " + kube_.ns() +
                                           "/webhook-tls has type Opaque, not kubernetes.io/tls; delete it and the "
                                           "webhook makes a new one");
  EXPECT_EQ(SecretValue("webhook-tls", "other"), "kept");
  EXPECT_EQ(deliveries_.count(), 0);
}

TEST(ServingOptionsTest, RejectsOptionsThatCannotWork) {
  ServingOptions o;
  o.ns = "ns";
  auto none = ServingCertificates::CreateForTest(nullptr, o);
  ASSERT_FALSE(none.ok());
  EXPECT_EQ(none.error().message(), "webhook serving certificate: no DNS name and no IP address to certify");
  o.dns_names = {"a.ns.svc"};
  o.serving_duration = o.ca_duration;
  auto longer = ServingCertificates::CreateForTest(nullptr, o);
  ASSERT_FALSE(longer.ok());
  EXPECT_EQ(longer.error().message(), "webhook serving certificate: the serving certificate must live shorter than its CA");
}

}  // namespace
}  // namespace certwright::webhook
