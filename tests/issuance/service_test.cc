// tests/issuance/service_test.cc: operator/issuance — the one door into the signer. Custody rules,
// lifetime clamping, policy in the path, the audit record. Software CAs; the kubectl scenarios
// that attack each rule from a namespace are in e2e/custody_test.sh.
#include <gtest/gtest.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>

#include "certwright/issuance/service.h"
#include "certwright/signer/pem.h"
#include "file/file_backend.h"
#include "support/test_ca.h"

namespace certwright::issuance {
namespace {

using namespace std::chrono_literals;
namespace pol = signer::policy;

class IssuanceServiceTest : public ::testing::Test {
 protected:
  void SetUp() override {
    ca_ = testing::MakeSoftwareCa(signer::KeySpec::EcdsaP256());
    leaf_key_ = testing::GenerateTestKey(signer::KeySpec::EcdsaP256());
  }

  std::shared_ptr<IssuerHandle> Issuer(const std::string& kind, const std::string& name) {
    auto h = std::make_shared<IssuerHandle>();
    h->kind = kind;
    h->ns = kind == "Issuer" ? "team-a" : "";
    h->name = name;
    h->spec.type = api::IssuerSpec::Type::kCa;
    h->backend = "file";
    h->ca.emplace(signer::CertificateAuthority::Create(ca_.key, signer::ParseCertificates(ca_.pem).value()).value());
    return h;
  }

  IssuanceRequest Request(Door door, std::shared_ptr<const IssuerHandle> issuer) {
    IssuanceRequest r;
    r.door = door;
    r.ns = "team-a";
    r.name = "web";
    r.object = "Certificate team-a/web";
    r.issuer = std::move(issuer);
    r.tmpl.subject.Add("CN", "web");
    r.tmpl.dns_names = {"web.team-a.svc"};
    r.tmpl.duration = 24h;
    r.subject_key = signer::SubjectPublicKey::FromPKey(leaf_key_.get()).value();
    return r;
  }

  IssuanceService Service(CustodyRules custody = {}) {
    return IssuanceService({.clock = &SystemClock::Instance(), .custody = std::move(custody),
                            .audit = [this](const kube::Json& record) { audit_.push_back(record); }});
  }

  static std::shared_ptr<const pol::PolicySet> Policies(const std::vector<std::pair<std::string, pol::PolicySpec>>& specs) {
    auto set = std::make_shared<pol::PolicySet>();
    for (const auto& [name, spec] : specs) set->Add(pol::Compile(name, spec).value());
    return set;
  }

  testing::TestCa ca_;
  ossl::PKey leaf_key_;
  std::vector<kube::Json> audit_;
};

TEST_F(IssuanceServiceTest, IssuesAndWritesOneAuditRecordWithEveryName) {
  auto service = Service();
  auto r = Request(Door::kCertificate, Issuer("ClusterIssuer", "corp-ca"));
  r.tmpl.ip_addresses = {"10.0.0.7"};
  auto issued = service.Issue(r);
  ASSERT_TRUE(issued.ok()) << issued.error().message();
  ASSERT_EQ(audit_.size(), 1u);
  const kube::Json& a = audit_[0]["audit"];
  EXPECT_EQ(a["decision"], "issued");
  EXPECT_EQ(a["door"], "Certificate");
  EXPECT_EQ(a["object"], "Certificate team-a/web");
  EXPECT_EQ(a["issuer"]["kind"], "ClusterIssuer");
  EXPECT_EQ(a["issuer"]["name"], "corp-ca");
  EXPECT_EQ(a["backend"], "file");
  EXPECT_EQ(a["serial"], issued->certificate.serial_hex);
  EXPECT_EQ(a["dnsNames"], kube::Json({"web.team-a.svc"}));
  EXPECT_EQ(a["ipAddresses"], kube::Json({"10.0.0.7"}));
  EXPECT_EQ(a["requester"]["namespace"], "team-a");
  EXPECT_EQ(a["subject"], "CN=web");
}

TEST_F(IssuanceServiceTest, AuditRecordOfASubjectWithANewlineIsOneLine) {
  std::string line;
  IssuanceService service({.audit = [&](const kube::Json& record) {
    line = record.dump(-1, ' ', false, kube::Json::error_handler_t::replace);
  }});
  auto r = Request(Door::kCertificate, Issuer("Issuer", "ca"));
  r.tmpl.subject = {};
  r.tmpl.subject.Add("CN", "web\naudit {\"decision\":\"issued\",\"serial\":\"forged\"}");
  (void)service.Issue(r);
  ASSERT_FALSE(line.empty());
  EXPECT_EQ(line.find('\n'), std::string::npos) << line;
}

TEST_F(IssuanceServiceTest, TheKubernetesSignersIssuerSignsOnlyThroughTheKubernetesDoor) {
  CustodyRules rules;
  rules.kubernetes_signers_issuer = "ClusterIssuer/apiserver-clients";
  auto service = Service(rules);
  auto issuer = Issuer("ClusterIssuer", "apiserver-clients");
  for (Door door : {Door::kCertificate, Door::kCertificateSigningRequest, Door::kPodCertificateRequest}) {
    auto r = Request(door, issuer);
    r.tmpl.subject.Add("O", "system:masters");
    auto issued = service.Issue(r);
    ASSERT_FALSE(issued.ok()) << pol::DoorName(door);
    EXPECT_EQ(issued.error().kind(), ErrorKind::kPolicyDenied);
    EXPECT_EQ(issued.error().message(),
              "ClusterIssuer apiserver-clients is the controller's --kubernetes-signers-issuer: it signs only "
              "kubernetes.io/kube-apiserver-client and kubernetes.io/kubelet-serving CertificateSigningRequests, "
              "under kube-controller-manager's rules, not " +
                  std::string(pol::DoorName(door)) + " requests");
  }
  EXPECT_TRUE(service.Issue(Request(Door::kKubernetesSigner, issuer)).ok());
  EXPECT_EQ(audit_.back()["audit"]["decision"], "issued");
  EXPECT_EQ(audit_.front()["audit"]["decision"], "denied") << "denials are audited too";
}

TEST_F(IssuanceServiceTest, DurationFloorComesBeforeTheIssuersMaximumWhichAlwaysWins) {
  auto service = Service();
  auto issuer = Issuer("Issuer", "ca");
  issuer->spec.max_duration = 300s;
  auto r = Request(Door::kCertificateSigningRequest, issuer);
  r.tmpl.duration = 60s;
  r.duration_floor = 600s;
  auto issued = service.Issue(r);
  ASSERT_TRUE(issued.ok()) << issued.error().message();
  EXPECT_EQ(issued->certificate.not_after - issued->certificate.not_before, 300s + r.tmpl.backdate)
      << "maxDuration 5m is not raised to the 10-minute floor";

  issuer->spec.max_duration.reset();
  r.issuer = issuer;
  issued = service.Issue(r);
  ASSERT_TRUE(issued.ok());
  EXPECT_EQ(issued->certificate.not_after - issued->certificate.not_before, 600s + r.tmpl.backdate);
}

TEST_F(IssuanceServiceTest, DefaultMaximumAppliesOnlyWithoutTheIssuersOwn) {
  auto service = Service();
  auto issuer = Issuer("ClusterIssuer", "kubelets");
  auto r = Request(Door::kKubernetesSigner, issuer);
  r.tmpl.duration = 24h * 365 * 5;
  r.default_max_duration = 24h * 365;
  auto issued = service.Issue(r);
  ASSERT_TRUE(issued.ok()) << issued.error().message();
  EXPECT_EQ(std::chrono::duration_cast<std::chrono::hours>(issued->certificate.not_after - issued->certificate.not_before),
            24h * 365);
}

TEST_F(IssuanceServiceTest, ShorterThanTheIssuersMinimumIsDenied) {
  auto service = Service();
  auto issuer = Issuer("Issuer", "ca");
  issuer->spec.min_duration = 48h;
  auto issued = service.Issue(Request(Door::kCertificate, issuer));
  ASSERT_FALSE(issued.ok());
  EXPECT_EQ(issued.error().kind(), ErrorKind::kPolicyDenied);
  EXPECT_EQ(issued.error().message(), "the requested duration 24h0m0s is shorter than the minDuration 48h0m0s of Issuer team-a/ca");
}

TEST_F(IssuanceServiceTest, LifetimeEndsWithTheCa) {
  auto service = Service();
  auto r = Request(Door::kCertificate, Issuer("Issuer", "ca"));
  r.tmpl.duration = 24h * 365 * 3;  // the test CA lives one year
  auto issued = service.Issue(r);
  ASSERT_TRUE(issued.ok()) << issued.error().message();
  EXPECT_LE(issued->certificate.not_after, ca_.ca->not_after());
}

TEST_F(IssuanceServiceTest, CaCertificatesNeedAPolicyThatAllowsThem) {
  auto service = Service();
  auto r = Request(Door::kCertificate, Issuer("Issuer", "ca"));
  r.tmpl.is_ca = true;
  auto denied = service.Issue(r);
  ASSERT_FALSE(denied.ok());
  EXPECT_EQ(denied.error().kind(), ErrorKind::kPolicyDenied);
  EXPECT_NE(denied.error().message().find("allowed.isCA"), std::string::npos) << denied.error().message();

  pol::PolicySpec spec;
  spec.allowed.is_ca = true;
  spec.allowed.max_path_length = 0;
  service.SetPolicies(Policies({{"sub-cas", spec}}));
  auto issued = service.Issue(r);
  ASSERT_TRUE(issued.ok()) << issued.error().message();
  auto cert = issued->certificate.Certificate();
  EXPECT_EQ(X509_get_pathlen(cert.get()), 0) << "clamped to the policy's maxPathLength";
  EXPECT_EQ(audit_.back()["audit"]["policy"]["policy"], "sub-cas");
}

TEST_F(IssuanceServiceTest, APolicyDenialNamesThePolicyAndRuleAndIsAudited) {
  auto service = Service();
  pol::PolicySpec spec;
  spec.allowed.dns_names = std::vector<std::string>{"*.{{namespace}}.svc"};
  service.SetPolicies(Policies({{"team-dns", spec}}));
  auto r = Request(Door::kCertificate, Issuer("ClusterIssuer", "corp-ca"));
  ASSERT_TRUE(service.Issue(r).ok());
  r.tmpl.dns_names = {"api.evil.com"};
  auto denied = service.Issue(r);
  ASSERT_FALSE(denied.ok());
  EXPECT_EQ(denied.error().kind(), ErrorKind::kPolicyDenied);
  EXPECT_NE(denied.error().message().find("CertificatePolicy \"team-dns\""), std::string::npos) << denied.error().message();
  EXPECT_NE(denied.error().message().find("allowed.dnsNames"), std::string::npos) << denied.error().message();
  EXPECT_EQ(audit_.back()["audit"]["decision"], "denied");
  EXPECT_EQ(audit_.back()["audit"]["policy"]["rule"], "allowed.dnsNames");
}

TEST_F(IssuanceServiceTest, AnUnknownNamespaceWaitsRatherThanLosingItsLabels) {
  auto service = Service();
  service.SetNamespaceLabels([](const std::string& ns) -> std::optional<std::map<std::string, std::string>> {
    if (ns == "team-a") return std::map<std::string, std::string>{{"tier", "prod"}};
    return std::nullopt;
  });
  auto r = Request(Door::kCertificate, Issuer("Issuer", "ca"));
  EXPECT_TRUE(service.Issue(r).ok());
  r.ns = "brand-new";
  auto waiting = service.Issue(r);
  ASSERT_FALSE(waiting.ok());
  EXPECT_EQ(waiting.error().kind(), ErrorKind::kUnavailable) << "retried, not judged without labels";
}

TEST_F(IssuanceServiceTest, ClusterIssuerSigningErrorsKeepTheirKindButNotTheirText) {
  // A key that fails as an HSM or KMS would, naming things a namespace must not see.
  class FailingKey final : public signer::SigningKey {
   public:
    explicit FailingKey(std::shared_ptr<signer::SigningKey> real) : real_(std::move(real)) {}
    std::string uri() const override { return real_->uri(); }
    signer::KeySpec spec() const override { return real_->spec(); }
    EVP_PKEY* public_key() const override { return real_->public_key(); }
    Result<ossl::Bytes> Sign(signer::SignatureScheme, std::span<const uint8_t>) override {
      return Unavailable("arn:aws:kms:us-east-1:123456789012:key/secret-key-id is throttled");
    }
    std::string_view backend() const override { return "awskms"; }

   private:
    std::shared_ptr<signer::SigningKey> real_;
  };
  auto service = Service();
  for (const std::string kind : {"ClusterIssuer", "Issuer"}) {
    auto issuer = Issuer(kind, "kms");
    issuer->ca.emplace(signer::CertificateAuthority::Create(std::make_shared<FailingKey>(ca_.key),
                                                            signer::ParseCertificates(ca_.pem).value())
                           .value());
    auto failed = service.Issue(Request(Door::kCertificate, issuer));
    ASSERT_FALSE(failed.ok());
    EXPECT_EQ(failed.error().kind(), ErrorKind::kUnavailable) << kind << ": still retried";
    const bool hidden = failed.error().message().find("123456789012") == std::string::npos;
    EXPECT_EQ(hidden, kind == "ClusterIssuer") << failed.error().message();
    EXPECT_NE(audit_.back()["audit"]["message"].get<std::string>().find("123456789012"), std::string::npos)
        << "the audit record keeps the detail";
  }
}

TEST_F(IssuanceServiceTest, BootstrapSignaturesAreAudited) {
  auto service = Service();
  auto issuer = Issuer("ClusterIssuer", "root");
  issuer->ca.reset();
  signer::CertificateTemplate root;
  root.subject.Add("CN", "bootstrap root");
  root.is_ca = true;
  root.duration = 24h * 365;
  ASSERT_TRUE(service.SelfSignRoot(*issuer, *ca_.key, root).ok());
  EXPECT_EQ(audit_.back()["audit"]["door"], "IssuerBootstrap");
  EXPECT_EQ(audit_.back()["audit"]["decision"], "issued");
  EXPECT_EQ(audit_.back()["audit"]["details"]["bootstrap"], "SelfSigned");
  ASSERT_TRUE(service.SignCaRequest(*issuer, *ca_.key, root).ok());
  EXPECT_EQ(audit_.back()["audit"]["decision"], "signed");
  EXPECT_EQ(audit_.back()["audit"]["details"]["bootstrap"], "CSR");
}

TEST_F(IssuanceServiceTest, PolicyMaximumShortensTheLifetime) {
  auto service = Service();
  pol::PolicySpec spec;
  spec.constraints.max_duration = 2h;
  service.SetPolicies(Policies({{"short", spec}}));
  auto issued = service.Issue(Request(Door::kCertificate, Issuer("Issuer", "ca")));
  ASSERT_TRUE(issued.ok()) << issued.error().message();
  EXPECT_EQ(issued->certificate.not_after - issued->certificate.not_before, 2h + 1min);
}

TEST_F(IssuanceServiceTest, SelfSignedSignsOnlyCertificatesWithTheirOwnKey) {
  auto service = Service();
  auto issuer = std::make_shared<IssuerHandle>();
  issuer->kind = "Issuer";
  issuer->ns = "team-a";
  issuer->name = "self";
  issuer->backend = "self";
  auto csr = service.Issue(Request(Door::kCertificateSigningRequest, issuer));
  ASSERT_FALSE(csr.ok());
  EXPECT_EQ(csr.error().message(), "Issuer team-a/self is selfSigned: it has no CA key to sign requests with");
  auto r = Request(Door::kCertificate, issuer);
  r.self_key = signer::SigningKeyFromPKey(ossl::Share(leaf_key_.get()), "self").value();
  auto issued = service.Issue(r);
  ASSERT_TRUE(issued.ok()) << issued.error().message();
  auto cert = issued->certificate.Certificate();
  EXPECT_EQ(X509_NAME_cmp(X509_get_subject_name(cert.get()), X509_get_issuer_name(cert.get())), 0);
  EXPECT_EQ(X509_verify(cert.get(), leaf_key_.get()), 1) << "signed by its own key";
}

// The webhook decides with a handle built from the stored issuer alone: no CA, no subject key.
TEST_F(IssuanceServiceTest, DecidesForAHandleWithoutItsCaAsTheWebhookBuildsIt) {
  auto service = Service();
  auto stored = Issuer("Issuer", "ca");
  stored->ca.reset();
  auto r = Request(Door::kCertificateSigningRequest, stored);
  r.tmpl.duration = 24h * 3650;
  auto decided = service.Decide(r);
  ASSERT_TRUE(decided.ok()) << decided.error().message();
  EXPECT_EQ(decided->duration, 24h * 3650) << "no CA, no CA end to shorten it by";
  auto issued = service.Issue(r);
  ASSERT_FALSE(issued.ok());
  EXPECT_EQ(issued.error().message(), "Issuer team-a/ca has no CA key loaded to sign with");
  EXPECT_EQ(audit_.back()["audit"]["decision"], "failed");

  auto self = std::make_shared<IssuerHandle>();
  self->kind = "Issuer";
  self->ns = "team-a";
  self->name = "self";
  self->spec.type = api::IssuerSpec::Type::kSelfSigned;
  EXPECT_TRUE(service.Decide(Request(Door::kCertificate, self)).ok()) << "the Certificate's own key signs, later";
  auto csr = service.Decide(Request(Door::kCertificateSigningRequest, self));
  ASSERT_FALSE(csr.ok());
  EXPECT_EQ(csr.error().message(), "Issuer team-a/self is selfSigned: it has no CA key to sign requests with");
}

// ---------------------------------------------------------------------------------------------
// Custody rules, one row each.

class CustodyTest : public ::testing::Test {
 protected:
  void SetUp() override {
    dir_ = std::filesystem::temp_directory_path() / ("custody-" + std::to_string(getpid()));
    std::filesystem::create_directories(dir_);
    module_ = (dir_ / "module.so").string();
    other_ = (dir_ / "other.so").string();
    std::ofstream(module_) << "a";
    std::ofstream(other_) << "b";
    alias_ = (dir_ / "alias.so").string();
    std::filesystem::create_symlink(module_, alias_);
  }
  void TearDown() override { std::filesystem::remove_all(dir_); }

  static api::IssuerSpec Pkcs11(const std::string& module) {
    api::IssuerSpec s;
    s.type = api::IssuerSpec::Type::kPkcs11;
    s.pkcs11.module_path = module;
    return s;
  }
  static api::IssuerSpec Kms(bool credentials, const std::string& endpoint) {
    api::IssuerSpec s;
    s.type = api::IssuerSpec::Type::kAwsKms;
    if (credentials) s.aws_kms.credentials_secret = "kms-credentials";
    s.aws_kms.endpoint = endpoint;
    return s;
  }

  std::filesystem::path dir_;
  std::string module_, other_, alias_;
};

TEST_F(CustodyTest, NamespacedIssuersNameOnlyListedModulesComparedByFile) {
  CustodyRules rules;
  rules.pkcs11_modules = std::vector<std::string>{module_};
  std::string load;
  EXPECT_TRUE(CheckCustody("Issuer", Pkcs11(module_), rules, &load).ok());
  EXPECT_EQ(load, module_);
  // Another spelling of the same file is the same module, and loads by the listed path.
  for (const std::string& spelling : {alias_, dir_.string() + "//module.so", dir_.string() + "/./module.so"}) {
    load.clear();
    EXPECT_TRUE(CheckCustody("Issuer", Pkcs11(spelling), rules, &load).ok()) << spelling;
    EXPECT_EQ(load, module_) << spelling;
  }
  // Another file, or no file: the same message, so it tells nothing of the file system.
  const std::string expected_tail =
      "\" is not one of the PKCS#11 modules a namespaced Issuer may use (the cluster admin lists them with the "
      "controller's --issuer-pkcs11-modules)";
  for (const std::string& path : {other_, dir_.string() + "/absent.so", std::string("/etc/passwd")}) {
    auto denied = CheckCustody("Issuer", Pkcs11(path), rules);
    ASSERT_FALSE(denied.ok()) << path;
    EXPECT_EQ(denied.error().kind(), ErrorKind::kPolicyDenied);
    EXPECT_EQ(denied.error().message(), "spec.pkcs11.modulePath: \"" + path + expected_tail);
  }
  EXPECT_TRUE(CheckCustody("ClusterIssuer", Pkcs11(other_), rules).ok()) << "ClusterIssuers are the admins'";
}

TEST_F(CustodyTest, DefaultModulesAreTheClusterIssuersAndSoftHsm2s) {
  CustodyRules rules;
  rules.cluster_issuer_modules = [this] { return std::vector<std::string>{other_}; };
  EXPECT_TRUE(CheckCustody("Issuer", Pkcs11(other_), rules).ok());
  EXPECT_FALSE(CheckCustody("Issuer", Pkcs11(module_), rules).ok());
  if (std::filesystem::exists(kSoftHsm2Module)) {
    EXPECT_TRUE(CheckCustody("Issuer", Pkcs11(kSoftHsm2Module), rules).ok());
  }
}

TEST_F(CustodyTest, NamespacedKmsIssuersBringTheirOwnCredentials) {
  CustodyRules rules;
  auto denied = CheckCustody("Issuer", Kms(false, ""), rules);
  ASSERT_FALSE(denied.ok());
  EXPECT_EQ(denied.error().message(),
            "spec.awsKMS.credentialsSecretRef is required for a namespaced Issuer: certwright does not lend its own AWS "
            "credentials to namespaces (the controller's --issuer-ambient-credentials allows it)");
  EXPECT_TRUE(CheckCustody("Issuer", Kms(true, ""), rules).ok());
  EXPECT_TRUE(CheckCustody("ClusterIssuer", Kms(false, ""), rules).ok());
  rules.ambient_credentials = true;
  EXPECT_TRUE(CheckCustody("Issuer", Kms(false, ""), rules).ok());
}

TEST_F(CustodyTest, NamespacedKmsIssuersNameOnlyAllowedEndpoints) {
  CustodyRules rules;
  auto denied = CheckCustody("Issuer", Kms(true, "http://10.0.0.1:8080"), rules);
  ASSERT_FALSE(denied.ok());
  EXPECT_EQ(denied.error().message(),
            "spec.awsKMS.endpoint: \"http://10.0.0.1:8080\" is not one of the KMS endpoints a namespaced Issuer may use "
            "(the cluster admin lists them with the controller's --issuer-kms-endpoints)");
  rules.kms_endpoints = {"https://kms.internal.example/"};
  EXPECT_TRUE(CheckCustody("Issuer", Kms(true, "https://kms.internal.example"), rules).ok());
  EXPECT_FALSE(CheckCustody("Issuer", Kms(true, "https://kms.internal.example.evil.com"), rules).ok());
  EXPECT_TRUE(CheckCustody("ClusterIssuer", Kms(false, "http://127.0.0.1:1"), CustodyRules{}).ok());
}

TEST(Requester, ServiceAccountFromTheUserName) {
  auto r = Requester::FromUser("system:serviceaccount:team-a:builder", {"system:serviceaccounts"});
  ASSERT_TRUE(r.service_account);
  EXPECT_EQ(r.service_account->first, "team-a");
  EXPECT_EQ(r.service_account->second, "builder");
  EXPECT_FALSE(Requester::FromUser("alice", {}).service_account);
  EXPECT_FALSE(Requester::FromUser("system:serviceaccount:team-a", {}).service_account);
}

}  // namespace
}  // namespace certwright::issuance

namespace certwright::issuance {
namespace {

TEST(NotReadyForNamespace, HidesAClusterIssuersReasonAndKeepsAnIssuersOwn) {
  const std::string why = "Secret certwright/hsm-pin-9f2 not found";
  EXPECT_EQ(NotReadyForNamespace("Issuer", "ca", why), why);
  EXPECT_EQ(NotReadyForNamespace("ClusterIssuer", "corp", why),
            "ClusterIssuer corp is not ready; a cluster admin finds why in its status (kubectl describe clusterissuer "
            "corp)");
}

}  // namespace
}  // namespace certwright::issuance
