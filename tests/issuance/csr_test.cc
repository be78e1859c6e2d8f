// tests/issuance/csr_test.cc: operator/issuance/csr — the CSR door as the CSR signer and the
// webhook both read it: which signer names are ours, and what a CSR may get, one row per rule. The
// kubectl scenarios are in e2e/csr_test.sh and e2e/webhook_test.sh.
#include <gtest/gtest.h>

#include "certwright/issuance/csr.h"
#include "support/test_ca.h"

namespace certwright::issuance::csr {
namespace {

using namespace std::chrono_literals;
using Json = kube::Json;

TEST(SignerName, OursAndOnlyOurs) {
  auto issuer = ParseSignerName("issuers.certwright.dev/team-a.web-ca", false);
  ASSERT_TRUE(issuer);
  EXPECT_EQ(issuer->kind, SignerTarget::Kind::kIssuer);
  EXPECT_EQ(issuer->ns, "team-a");
  EXPECT_EQ(issuer->name, "web-ca");
  // Issuer names may hold dots; namespaces may not.
  issuer = ParseSignerName("issuers.certwright.dev/team-a.ca.v2", false);
  ASSERT_TRUE(issuer);
  EXPECT_EQ(issuer->ns, "team-a");
  EXPECT_EQ(issuer->name, "ca.v2");
  auto cluster = ParseSignerName("clusterissuers.certwright.dev/root", false);
  ASSERT_TRUE(cluster);
  EXPECT_EQ(cluster->kind, SignerTarget::Kind::kClusterIssuer);
  EXPECT_EQ(cluster->name, "root");
  // Ours but malformed: handled (and Failed), not ignored.
  auto malformed = ParseSignerName("issuers.certwright.dev/no-dot", false);
  ASSERT_TRUE(malformed);
  EXPECT_TRUE(malformed->name.empty());

  EXPECT_FALSE(ParseSignerName("kubernetes.io/kube-apiserver-client", false));
  EXPECT_FALSE(ParseSignerName("kubernetes.io/kubelet-serving", false));
  EXPECT_FALSE(ParseSignerName("issuers.cert-manager.io/ns.name", true));
  EXPECT_FALSE(ParseSignerName("example.com/foo", true));
  EXPECT_FALSE(ParseSignerName("kubernetes.io/kube-apiserver-client-kubelet", true));
  EXPECT_EQ(ParseSignerName("kubernetes.io/kube-apiserver-client", true)->kind, SignerTarget::Kind::kKubernetesClient);
  EXPECT_EQ(ParseSignerName("kubernetes.io/kubelet-serving", true)->kind, SignerTarget::Kind::kKubeletServing);
}

TEST(SignerName, AddressesTheIssuerItNamesOrTheDropInsIssuer) {
  struct Row {
    std::string signer, kubernetes_signers_issuer, describe;
  };
  for (const Row& row : {
           Row{"issuers.certwright.dev/team-a.web-ca", "", "Issuer team-a/web-ca"},
           Row{"clusterissuers.certwright.dev/root", "", "ClusterIssuer root"},
           Row{"kubernetes.io/kube-apiserver-client", "ClusterIssuer/kube-ca", "ClusterIssuer kube-ca"},
           Row{"kubernetes.io/kubelet-serving", "Issuer/kube-system/kubelet-ca", "Issuer kube-system/kubelet-ca"},
       }) {
    auto target = ParseSignerName(row.signer, true);
    ASSERT_TRUE(target) << row.signer;
    EXPECT_EQ(IssuerOf(*target, row.kubernetes_signers_issuer).Describe(), row.describe);
  }
  auto malformed = ParseSignerName("issuers.certwright.dev/no-dot", false);
  EXPECT_EQ(IssuerOf(*malformed, "").name, "");
  EXPECT_EQ(InvalidSignerNameMessage("issuers.certwright.dev/no-dot"),
            "signerName \"issuers.certwright.dev/no-dot\" is not of the form issuers.certwright.dev/<namespace>.<name>");
}

TEST(CsrSpec, IsReadWithTheFieldNamedWhenATypeIsWrong) {
  auto r = RequestOf(Json::parse(R"({"signerName": "x/y", "request": "aGk=", "usages": ["server auth"],
                                     "expirationSeconds": 600})"));
  ASSERT_TRUE(r.ok()) << r.error().message();
  EXPECT_EQ(r->request_pem, "hi");
  EXPECT_EQ(r->usages, std::vector<std::string>{"server auth"});
  EXPECT_EQ(r->expiration_seconds, 600);
  EXPECT_EQ(RequestOf(Json::parse(R"({"request": 5})")).error().message(),
            "spec.request: must be a string (base64 of a PEM CERTIFICATE REQUEST)");
  EXPECT_EQ(RequestOf(Json::parse(R"({"usages": "server auth"})")).error().message(),
            "spec.usages: must be a list of strings");
  EXPECT_EQ(RequestOf(Json::parse(R"({"expirationSeconds": "600"})")).error().message(),
            "spec.expirationSeconds: must be an integer");
}

class EvaluateTest : public ::testing::Test {
 protected:
  Request Make(const std::string& cn, const std::vector<std::string>& sans, std::vector<std::string> usages) {
    auto key = testing::GenerateTestKey(signer::KeySpec::EcdsaP256());
    Request r;
    r.request_pem = testing::MakeCsrPem(key.get(), cn, sans);
    r.usages = std::move(usages);
    return r;
  }
  SignerTarget issuer_{SignerTarget::Kind::kIssuer, "ns", "ca"};
  Limits limits_;
};

TEST_F(EvaluateTest, TakesNamesFromTheRequestAndUsagesFromTheSpec) {
  Request r = Make("web", {"DNS:web.example.com", "IP:10.0.0.1"}, {"digital signature", "server auth"});
  r.expiration_seconds = 3600;
  auto tmpl = Evaluate(issuer_, r, limits_);
  ASSERT_TRUE(tmpl.ok()) << tmpl.error().message();
  EXPECT_EQ(tmpl->dns_names, std::vector<std::string>{"web.example.com"});
  EXPECT_EQ(tmpl->ip_addresses, std::vector<std::string>{"10.0.0.1"});
  EXPECT_EQ(tmpl->duration, 3600s);
  ASSERT_TRUE(tmpl->usages);
  EXPECT_EQ(tmpl->usages->extended, std::vector<int>{NID_server_auth});
  EXPECT_FALSE(tmpl->is_ca);
}

TEST_F(EvaluateTest, TakesExpirationSecondsAsAskedAndDefaultsToOneYear) {
  // The 600 s floor, maxDuration and the CA's end are the issuance service's (tests/issuance).
  Request r = Make("web", {"DNS:web.example.com"}, {"digital signature", "client auth"});
  r.expiration_seconds = 60;
  EXPECT_EQ(Evaluate(issuer_, r, limits_)->duration, 60s);
  r.expiration_seconds = 90 * 24 * 3600;
  EXPECT_EQ(Evaluate(issuer_, r, limits_)->duration, 90 * 24h);
  r.expiration_seconds.reset();
  EXPECT_EQ(Evaluate(issuer_, r, limits_)->duration, 8760h) << "kube-controller-manager's default: one year";
}

TEST_F(EvaluateTest, KubernetesSignersKeepOnlyTheSubjectAttributesKubeControllerManagerCopies) {
  // Go's pkix.Name keeps C, ST, L, street, postalCode, O, OU, CN and serialNumber; emailAddress,
  // UID and DC are in the request but not in kube-controller-manager's certificate.
  auto key = testing::GenerateTestKey(signer::KeySpec::EcdsaP256());
  ossl::X509Req req(X509_REQ_new());
  X509_NAME* name = X509_REQ_get_subject_name(req.get());
  auto add = [&](const char* field, const char* value) {
    ASSERT_EQ(X509_NAME_add_entry_by_txt(name, field, MBSTRING_UTF8, reinterpret_cast<const unsigned char*>(value), -1,
                                         -1, 0),
              1);
  };
  add("O", "dev");
  add("DC", "example");
  add("UID", "alice");
  add("emailAddress", "alice@example.com");
  add("CN", "alice");
  ASSERT_EQ(X509_REQ_set_pubkey(req.get(), key.get()), 1);
  ASSERT_GT(X509_REQ_sign(req.get(), key.get(), EVP_sha256()), 0);
  Request r;
  r.request_pem = ossl::CsrToPem(req.get()).value();
  r.usages = {"digital signature", "client auth"};
  SignerTarget client{SignerTarget::Kind::kKubernetesClient, "", ""};
  auto tmpl = Evaluate(client, r, limits_);
  ASSERT_TRUE(tmpl.ok()) << tmpl.error().message();
  EXPECT_EQ(tmpl->subject.ToString(), "CN=alice,O=dev");
  // Our own signer names keep the subject as asked.
  auto ours = Evaluate(issuer_, r, limits_);
  ASSERT_TRUE(ours.ok()) << ours.error().message();
  EXPECT_NE(ours->subject.ToString(), "CN=alice,O=dev");
}

struct Row {
  const char* name;
  SignerTarget::Kind kind;
  const char* cn;
  std::vector<std::string> sans;
  std::vector<std::string> usages;
  ErrorKind error;
  const char* message;
};

class EvaluateRejects : public EvaluateTest, public ::testing::WithParamInterface<Row> {};

TEST_P(EvaluateRejects, WithAMessageThatSaysWhat) {
  const Row& row = GetParam();
  Request r = Make(row.cn, row.sans, row.usages);
  auto tmpl = Evaluate({row.kind, "ns", "ca"}, r, limits_);
  ASSERT_FALSE(tmpl.ok());
  EXPECT_EQ(tmpl.error().kind(), row.error);
  if (*row.message != '\0') {
    EXPECT_EQ(tmpl.error().message(), row.message);
  } else {
    EXPECT_EQ(tmpl.error().message().rfind("spec.usages: ", 0), 0u) << tmpl.error().message();
  }
}

INSTANTIATE_TEST_SUITE_P(
    Rules, EvaluateRejects,
    ::testing::Values(
        Row{"NoUsages", SignerTarget::Kind::kIssuer, "web", {"DNS:a.example"}, {}, ErrorKind::kInvalidArgument,
            "spec.usages is empty: name the key usages the certificate needs"},
        Row{"CaUsage", SignerTarget::Kind::kIssuer, "web", {"DNS:a.example"}, {"cert sign"}, ErrorKind::kPolicyDenied,
            "spec.usages: \"cert sign\" is not allowed: this signer issues end-entity certificates only"},
        Row{"UnknownUsage", SignerTarget::Kind::kIssuer, "web", {"DNS:a.example"}, {"teleport"},
            ErrorKind::kInvalidArgument, ""},
        Row{"ClientWithoutClientAuth", SignerTarget::Kind::kKubernetesClient, "alice", {}, {"digital signature"},
            ErrorKind::kPolicyDenied, "kubernetes.io/kube-apiserver-client requires the usage \"client auth\""},
        Row{"ClientWithServerAuth", SignerTarget::Kind::kKubernetesClient, "alice", {}, {"client auth", "server auth"},
            ErrorKind::kPolicyDenied,
            "kubernetes.io/kube-apiserver-client allows only the usages \"digital signature\", \"key encipherment\" "
            "and \"client auth\", not \"server auth\""},
        Row{"KubeletWithoutNodesOrg", SignerTarget::Kind::kKubeletServing, "system:node:n1", {"DNS:n1"},
            {"digital signature", "server auth"}, ErrorKind::kPolicyDenied,
            "kubernetes.io/kubelet-serving requires the subject organization to be exactly \"system:nodes\""}),
    [](const auto& info) { return std::string(info.param.name); });

TEST_F(EvaluateTest, RefusesGarbageAndTamperedRequests) {
  Request r = Make("web", {"DNS:a.example"}, {"server auth"});
  r.request_pem = "-----BEGIN CERTIFICATE REQUEST-----\nAAAA\n-----END CERTIFICATE REQUEST-----\n";
  auto tmpl = Evaluate(issuer_, r, limits_);
  ASSERT_FALSE(tmpl.ok());
  EXPECT_EQ(tmpl.error().kind(), ErrorKind::kInvalidArgument);
  EXPECT_EQ(tmpl.error().message().rfind("spec.request: ", 0), 0u) << tmpl.error().message();
}

}  // namespace
}  // namespace certwright::issuance::csr
