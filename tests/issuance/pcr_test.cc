// tests/issuance/pcr_test.cc: operator/issuance/pcr — the PodCertificateRequest door: what a
// request kubelet made may get, and what a hostile or malformed one is told. The node-side
// scenarios are in e2e/pod_certificates_test.sh.
#include <gtest/gtest.h>
#include <openssl/ec.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/x509.h>

#include "certwright/api/meta.h"
#include "certwright/issuance/pcr.h"
#include "certwright/signer/pem.h"
#include "support/test_ca.h"

namespace certwright::issuance::pcr {
namespace {

using namespace std::chrono_literals;
using Json = kube::Json;
using signer::KeySpec;

std::string DerOfCsrPem(const std::string& pem) {
  BIO* bio = BIO_new_mem_buf(pem.data(), static_cast<int>(pem.size()));
  X509_REQ* req = PEM_read_bio_X509_REQ(bio, nullptr, nullptr, nullptr);
  BIO_free(bio);
  unsigned char* der = nullptr;
  const int len = i2d_X509_REQ(req, &der);
  std::string out(reinterpret_cast<char*>(der), len);
  OPENSSL_free(der);
  X509_REQ_free(req);
  return out;
}

// A PCR as kube-apiserver stores it, for a key: kubelet's empty stub CSR.
Json Pcr(EVP_PKEY* key) {
  return {{"apiVersion", "certificates.k8s.io/v1"},
          {"kind", "PodCertificateRequest"},
          {"metadata", {{"name", "req-1"}, {"namespace", "team-a"}, {"uid", "u1"}, {"generation", 1}}},
          {"spec",
           {{"signerName", "clusterissuers.certwright.dev/root"},
            {"podName", "web-0"},
            {"podUID", "1b4e28ba-2fa1-11d2-883f-0016d3cca427"},
            {"serviceAccountName", "web"},
            {"serviceAccountUID", "sa-uid"},
            {"nodeName", "node-1"},
            {"nodeUID", "node-uid"},
            {"maxExpirationSeconds", 86400},
            {"stubPKCS10Request", api::Base64Encode(DerOfCsrPem(testing::MakeCsrPem(key, "")))}}}};
}

Refusal RefusalOf(const Json& pcr) {
  auto read = Read(pcr);
  EXPECT_TRUE(std::holds_alternative<Refusal>(read)) << "the request was accepted";
  return std::holds_alternative<Refusal>(read) ? std::get<Refusal>(read) : Refusal{};
}

TEST(PodCertificateRequest, ReadsWhatKubeletSends) {
  for (const KeySpec spec : {KeySpec::EcdsaP256(), KeySpec::EcdsaP384(), KeySpec::Ed25519(), KeySpec::Rsa(3072)}) {
    auto key = testing::GenerateTestKey(spec);
    auto read = Read(Pcr(key.get()));
    ASSERT_TRUE(std::holds_alternative<Request>(read)) << std::get<Refusal>(read).message;
    const Request& r = std::get<Request>(read);
    EXPECT_EQ(r.ns, "team-a");
    EXPECT_EQ(r.pod_name, "web-0");
    EXPECT_EQ(r.service_account, "web");
    EXPECT_EQ(r.node_name, "node-1");
    EXPECT_EQ(r.max_expiration, 86400s);
    EXPECT_EQ(r.subject_key.spec, spec);
    EXPECT_TRUE(r.dns_names.empty());
  }
}

TEST(PodCertificateRequest, DeniesP521AndRsa2048AsUnsupportedKeyTypes) {
  ossl::PKey p521(EVP_EC_gen("P-521"));
  ASSERT_TRUE(p521);
  Refusal r = RefusalOf(Pcr(p521.get()));
  EXPECT_EQ(r.condition, "Denied");
  EXPECT_EQ(r.reason, "UnsupportedKeyType");
  EXPECT_NE(r.message.find("ECDSAP521 is not supported"), std::string::npos) << r.message;
  EXPECT_NE(r.message.find("ECDSAP256"), std::string::npos) << r.message;
  auto rsa2048 = testing::GenerateTestKey(KeySpec::Rsa(2048));
  EXPECT_EQ(RefusalOf(Pcr(rsa2048.get())).reason, "UnsupportedKeyType");
}

TEST(PodCertificateRequest, DeniesMalformedRequestsNamingTheField) {
  auto key = testing::GenerateTestKey(KeySpec::EcdsaP256());
  Json pcr = Pcr(key.get());
  pcr["spec"]["stubPKCS10Request"] = "%%%";
  EXPECT_EQ(RefusalOf(pcr).message, "spec.stubPKCS10Request: is not base64");
  pcr["spec"]["stubPKCS10Request"] = api::Base64Encode("not DER");
  EXPECT_EQ(RefusalOf(pcr).message, "spec.stubPKCS10Request: is not a DER PKCS#10 request");
  pcr["spec"].erase("stubPKCS10Request");
  EXPECT_NE(RefusalOf(pcr).message.find("spec.stubPKCS10Request is required"), std::string::npos);

  pcr = Pcr(key.get());
  pcr["spec"]["podName"] = 7;
  EXPECT_EQ(RefusalOf(pcr).message, "spec.podName: must be a string");
  pcr = Pcr(key.get());
  pcr["spec"]["maxExpirationSeconds"] = 600;
  EXPECT_EQ(RefusalOf(pcr).message, "spec.maxExpirationSeconds: 600 is outside 3600..7862400");
  pcr = Pcr(key.get());
  pcr["spec"]["pkixPublicKey"] = api::Base64Encode("x");
  EXPECT_NE(RefusalOf(pcr).message.find("must be empty when spec.stubPKCS10Request is set"), std::string::npos);
  EXPECT_EQ(RefusalOf(Json::array()).reason, "InvalidRequest");
}

TEST(PodCertificateRequest, DeniesAStubSignedByAnotherKey) {
  auto key = testing::GenerateTestKey(KeySpec::EcdsaP256());
  auto other = testing::GenerateTestKey(KeySpec::EcdsaP256());
  // The request of `key`, with `other`'s signature: the signature no longer proves possession.
  std::string der = DerOfCsrPem(testing::MakeCsrPem(key.get(), ""));
  const unsigned char* p = reinterpret_cast<const unsigned char*>(der.data());
  ossl::X509Req req(d2i_X509_REQ(nullptr, &p, static_cast<long>(der.size())));
  ASSERT_TRUE(req);
  ossl::PKey pub(X509_REQ_get_pubkey(req.get()));
  ASSERT_GT(X509_REQ_sign(req.get(), other.get(), EVP_sha256()), 0);
  ASSERT_EQ(X509_REQ_set_pubkey(req.get(), key.get()), 1);
  unsigned char* out = nullptr;
  const int len = i2d_X509_REQ(req.get(), &out);
  std::string forged(reinterpret_cast<char*>(out), len);
  OPENSSL_free(out);
  Json pcr = Pcr(key.get());
  pcr["spec"]["stubPKCS10Request"] = api::Base64Encode(forged);
  Refusal r = RefusalOf(pcr);
  EXPECT_EQ(r.reason, "InvalidRequest");
  EXPECT_EQ(r.message.rfind("spec.stubPKCS10Request: ", 0), 0u) << r.message;
}

// v1beta1 before 1.36: pkixPublicKey and the pod UID signed by the key.
TEST(PodCertificateRequest, ChecksV1beta1ProofOfPossession) {
  auto key = testing::GenerateTestKey(KeySpec::Ed25519());
  Json pcr = Pcr(key.get());
  pcr["spec"].erase("stubPKCS10Request");
  unsigned char* spki = nullptr;
  const int spki_len = i2d_PUBKEY(key.get(), &spki);
  pcr["spec"]["pkixPublicKey"] = api::Base64Encode(std::string(reinterpret_cast<char*>(spki), spki_len));
  OPENSSL_free(spki);
  const std::string uid = pcr["spec"]["podUID"];
  ossl::MdCtx ctx(EVP_MD_CTX_new());
  ASSERT_EQ(EVP_DigestSignInit(ctx.get(), nullptr, nullptr, nullptr, key.get()), 1);
  unsigned char sig[64];
  size_t sig_len = sizeof sig;
  ASSERT_EQ(EVP_DigestSign(ctx.get(), sig, &sig_len, reinterpret_cast<const unsigned char*>(uid.data()), uid.size()), 1);
  pcr["spec"]["proofOfPossession"] = api::Base64Encode(std::string(reinterpret_cast<char*>(sig), sig_len));
  auto read = Read(pcr);
  ASSERT_TRUE(std::holds_alternative<Request>(read)) << std::get<Refusal>(read).message;
  EXPECT_EQ(std::get<Request>(read).subject_key.spec, KeySpec::Ed25519());

  // Signed over another pod's UID: refused.
  pcr["spec"]["podUID"] = "another-pod";
  EXPECT_EQ(RefusalOf(pcr).message,
            "spec.proofOfPossession: is not a signature of the pod's UID by spec.pkixPublicKey");
}

TEST(PodCertificateRequest, ReadsOnlyTheDnsNamesAnnotation) {
  auto key = testing::GenerateTestKey(KeySpec::EcdsaP256());
  Json pcr = Pcr(key.get());
  pcr["spec"]["unverifiedUserAnnotations"] = {{kDnsNamesAnnotation, " web.team-a.svc, ,api.team-a.svc "}};
  auto read = Read(pcr);
  ASSERT_TRUE(std::holds_alternative<Request>(read));
  EXPECT_EQ(std::get<Request>(read).dns_names, (std::vector<std::string>{"web.team-a.svc", "api.team-a.svc"}));
  pcr["spec"]["unverifiedUserAnnotations"] = {{"example.com/color", "blue"}};
  EXPECT_EQ(RefusalOf(pcr).message,
            "spec.unverifiedUserAnnotations: \"example.com/color\" is not a key this signer reads (only "
            "certwright.dev/dns-names)");
}

TEST(PodCertificateRequest, TemplateIsThePodsIdentity) {
  auto key = testing::GenerateTestKey(KeySpec::EcdsaP256());
  Request r = std::get<Request>(Read(Pcr(key.get())));
  r.dns_names = {"web.team-a.svc"};
  api::PodCertificatesSpec spec;
  spec.trust_domain = "example.org";
  auto tmpl = TemplateFor(r, spec);
  EXPECT_EQ(tmpl.uris, (std::vector<std::string>{"spiffe://example.org/ns/team-a/sa/web"}));
  EXPECT_EQ(tmpl.dns_names, r.dns_names);
  EXPECT_TRUE(tmpl.subject.attributes().empty());
  EXPECT_FALSE(tmpl.is_ca);
  // The lifetime from notBefore (backdated) is the maximum asked.
  EXPECT_EQ(tmpl.backdate, 60s) << "step-ca's default";
  EXPECT_EQ(tmpl.duration + tmpl.backdate, 86400s);
  auto issue = IssuanceRequestFor(r, nullptr, tmpl);
  EXPECT_EQ(issue.door, Door::kPodCertificateRequest);
  EXPECT_EQ(issue.ns, "team-a");
  EXPECT_EQ(issue.requester.user, "system:serviceaccount:team-a:web");
  ASSERT_TRUE(issue.requester.service_account);
  EXPECT_EQ(issue.requester.service_account->second, "web");
  EXPECT_EQ(*issue.duration_floor + tmpl.backdate, kMinLifetime);
  // The issuer's backdate: still the maximum lifetime, from an earlier notBefore.
  spec.backdate = 4min;
  tmpl = TemplateFor(r, spec);
  EXPECT_EQ(tmpl.backdate, 4min);
  EXPECT_EQ(tmpl.duration + tmpl.backdate, 86400s);
  EXPECT_EQ(*IssuanceRequestFor(r, nullptr, tmpl).duration_floor + 4min, kMinLifetime);
  // A CA made 90 s ago: the certificate cannot start before it, so it is backdated 90 s only, and
  // still lives the whole maximum from its notBefore.
  const auto now = std::chrono::system_clock::now();
  tmpl = TemplateFor(r, spec, now - 90s, now);
  EXPECT_EQ(tmpl.backdate, 90s);
  EXPECT_EQ(tmpl.duration + tmpl.backdate, 86400s);
  EXPECT_EQ(TemplateFor(r, spec, now - 1h, now).backdate, 4min) << "an older CA leaves room";
  EXPECT_EQ(TemplateFor(r, spec, now + 5s, now).backdate, 0s) << "a CA from a clock ahead";
}

TEST(PodCertificateRequest, StatusSaysWhenToRefreshWithinTheApisBounds) {
  signer::IssuedCertificate issued;
  issued.chain_pem = "-----BEGIN CERTIFICATE-----\n...\n";
  issued.serial_hex = "01";
  const auto t0 = std::chrono::time_point_cast<std::chrono::seconds>(std::chrono::system_clock::now());
  issued.not_before = t0;
  issued.not_after = t0 + 24h;
  const api::PodCertificatesSpec defaults;
  Json status = IssuedStatus(issued, defaults, t0, 3);
  EXPECT_EQ(status["beginRefreshAt"], api::FormatTime(t0 + 16h));
  EXPECT_EQ(status["notAfter"], api::FormatTime(t0 + 24h));
  EXPECT_EQ(status["conditions"][0]["type"], "Issued");
  EXPECT_EQ(status["conditions"][0]["observedGeneration"], 3);
  // One hour: two thirds is 40 minutes, within [10m, 50m].
  issued.not_after = t0 + 1h;
  EXPECT_EQ(IssuedStatus(issued, defaults, t0, 1)["beginRefreshAt"], api::FormatTime(t0 + 40min));
  // refreshBefore counts back from notAfter, and stays within the API's bounds.
  api::PodCertificatesSpec early;
  early.refresh_before = 50min;
  EXPECT_EQ(IssuedStatus(issued, early, t0, 1)["beginRefreshAt"], api::FormatTime(t0 + 10min));
  early.refresh_before = 2h;
  EXPECT_EQ(IssuedStatus(issued, early, t0, 1)["beginRefreshAt"], api::FormatTime(t0 + 10min))
      << "never before notBefore + 10m";
  early.refresh_before = 15min;
  issued.not_after = t0 + 24h;
  EXPECT_EQ(IssuedStatus(issued, early, t0, 1)["beginRefreshAt"], api::FormatTime(t0 + 23h + 45min));
  issued.not_after = t0 + 1h;

  Request r;
  r.max_expiration = 86400s;
  issued.not_after = t0 + 30min;
  auto too_short = CheckIssued(r, issued);
  ASSERT_TRUE(too_short);
  EXPECT_EQ(too_short->condition, "Failed");
  EXPECT_EQ(too_short->reason, "LifetimeTooShort");
  issued.not_after = t0 + 25h;
  EXPECT_EQ(CheckIssued(r, issued)->reason, "LifetimeTooLong");
  issued.not_after = t0 + 24h;
  EXPECT_FALSE(CheckIssued(r, issued));

  Json refused = RefusedStatus({"Denied", "PolicyDenied", "no"}, t0, 1);
  EXPECT_FALSE(refused.contains("certificateChain"));
  EXPECT_EQ(refused["conditions"][0]["reason"], "PolicyDenied");
  Json pcr = {{"status", refused}};
  EXPECT_EQ(Answer(pcr), "Denied");
  EXPECT_EQ(Answer(Json::object()), "");
}

// Refused before the HSM signs anything: an issuer that cannot give the hour the API requires.
TEST(PodCertificateRequest, AnIssuerThatCannotGiveAnHourIsRefusedBeforeSigning) {
  auto ca = testing::MakeSoftwareCa(KeySpec::EcdsaP256(), {}, std::nullopt, 24h);
  IssuerHandle issuer;
  issuer.kind = "ClusterIssuer";
  issuer.name = "root";
  issuer.ca.emplace(signer::CertificateAuthority::Create(ca.key, signer::ParseCertificates(ca.pem).value()).value());
  const auto now = std::chrono::system_clock::now();
  EXPECT_FALSE(CheckIssuerLifetime(issuer, now));
  issuer.spec.max_duration = 30min;
  auto refusal = CheckIssuerLifetime(issuer, now);
  ASSERT_TRUE(refusal);
  EXPECT_EQ(refusal->condition, "Failed");
  EXPECT_EQ(refusal->reason, "LifetimeTooShort");
  EXPECT_EQ(refusal->message,
            "ClusterIssuer root signs for at most 1800 s (maxDuration), and pod certificates must live at least 3600 s");
  issuer.spec.max_duration = 1h;
  EXPECT_FALSE(CheckIssuerLifetime(issuer, now)) << "an hour is enough";
  // The CA ends in 30 minutes.
  refusal = CheckIssuerLifetime(issuer, now + 23h + 30min);
  ASSERT_TRUE(refusal);
  EXPECT_NE(refusal->message.find("CA certificate expires in"), std::string::npos) << refusal->message;
}

}  // namespace
}  // namespace certwright::issuance::pcr
