// tests/controllers/policies_test.cc: operator/controllers/certificates/policies.cc — when a
// Certificate's Secret needs a new certificate, one row per check of the chain.
#include "certificates/policies.h"

#include <gtest/gtest.h>
#include <openssl/pem.h>

#include "certwright/controllers/secrets.h"
#include "certwright/signer/clock.h"
#include "support/test_ca.h"

namespace certwright::controllers::certificates {
namespace {

using namespace std::chrono_literals;

std::string KeyPem(EVP_PKEY* key) {
  ossl::Bio bio(BIO_new(BIO_s_mem()));
  PEM_write_bio_PrivateKey(bio.get(), key, nullptr, nullptr, 0, nullptr, nullptr);
  char* data = nullptr;
  const long len = BIO_get_mem_data(bio.get(), &data);
  return std::string(data, static_cast<size_t>(len));
}

class NeedsIssuanceTest : public ::testing::Test {
 protected:
  void SetUp() override {
    ca_ = testing::MakeSoftwareCa(signer::KeySpec::EcdsaP256(), {.clock = &clock_});
    auto parsed = api::ParseCertificateSpec(
        api::Json::parse(R"({"secretName": "s", "dnsNames": ["a.example"], "duration": "90h", "issuerRef": {"name": "ca"}})"));
    ASSERT_TRUE(parsed.ok());
    spec_ = *parsed;
    issuer_.kind = "Issuer";
    issuer_.name = "ca";
    issuer_.ca.emplace(std::move(*ca_.ca));
    issuer_.ca_sha256 = "ca-hash";
    leaf_key_ = testing::GenerateTestKey(signer::KeySpec::EcdsaP256());
    secret_ = MakeSecret(*issuer_.ca, leaf_key_.get());
  }

  kube::Json MakeSecret(const signer::CertificateAuthority& ca, EVP_PKEY* key) {
    auto tmpl = api::TemplateOf(spec_);
    EXPECT_TRUE(tmpl.ok());
    auto issued = ca.Issue(*tmpl, key);
    EXPECT_TRUE(issued.ok()) << issued.error().message();
    return kube::Json{
        {"metadata",
         {{"name", "s"},
          {"annotations",
           {{api::annotations::kSpecHash, api::SpecHash(spec_)}, {api::annotations::kIssuerCaHash, "ca-hash"}}}}},
        {"data", {{"tls.crt", Base64Encode(issued->chain_pem)}, {"tls.key", Base64Encode(KeyPem(key))}}}};
  }

  std::string Reason(const kube::Json* secret, api::TimePoint now) {
    const SecretState state = SecretState::From(secret);
    auto t = NeedsIssuance({spec_, state, issuer_, now});
    return t ? t->reason : "";
  }
  std::string Reason(const kube::Json& secret) { return Reason(&secret, clock_.Now()); }

  ManualClock clock_{std::chrono::system_clock::from_time_t(1'800'000'000)};
  testing::TestCa ca_;
  api::CertificateSpec spec_;
  IssuerHandle issuer_;
  ossl::PKey leaf_key_;
  kube::Json secret_;
};

TEST_F(NeedsIssuanceTest, UpToDateSecretNeedsNothing) { EXPECT_EQ(Reason(secret_), ""); }

TEST_F(NeedsIssuanceTest, MissingSecret) { EXPECT_EQ(Reason(nullptr, clock_.Now()), "DoesNotExist"); }

TEST_F(NeedsIssuanceTest, MissingData) {
  kube::Json s = secret_;
  s["data"].erase("tls.key");
  EXPECT_EQ(Reason(s), "MissingData");
}

TEST_F(NeedsIssuanceTest, GarbageKeyOrCertificate) {
  kube::Json s = secret_;
  s["data"]["tls.key"] = Base64Encode("not a key");
  EXPECT_EQ(Reason(s), "InvalidKey");
  s = secret_;
  s["data"]["tls.crt"] = Base64Encode("-----BEGIN CERTIFICATE-----\nAAAA\n-----END CERTIFICATE-----\n");
  EXPECT_EQ(Reason(s), "InvalidCertificate");
}

TEST_F(NeedsIssuanceTest, KeyThatDoesNotMatchTheCertificate) {
  kube::Json s = secret_;
  auto other = testing::GenerateTestKey(signer::KeySpec::EcdsaP256());
  s["data"]["tls.key"] = Base64Encode(KeyPem(other.get()));
  EXPECT_EQ(Reason(s), "SecretMismatch");
}

TEST_F(NeedsIssuanceTest, SpecChange) {
  spec_.dns_names.push_back("b.example");
  EXPECT_EQ(Reason(secret_), "SpecChanged");
}

TEST_F(NeedsIssuanceTest, NewIssuerCa) {
  issuer_.ca_sha256 = "another-ca";
  EXPECT_EQ(Reason(secret_), "IssuerChanged");
}

TEST_F(NeedsIssuanceTest, CertificateNotSignedByTheIssuer) {
  // Same annotations, but the pair was replaced by one from another CA.
  auto other = testing::MakeSoftwareCa(signer::KeySpec::EcdsaP256(), {.clock = &clock_});
  EXPECT_EQ(Reason(MakeSecret(*other.ca, leaf_key_.get())), "IncorrectIssuer");
}

TEST_F(NeedsIssuanceTest, RenewsAtTwoThirdsOfLifetimeWhenRenewBeforeUnset) {
  // 90h from now (minus the 1 minute backdate): renewal 30h before the end.
  EXPECT_EQ(Reason(&secret_, clock_.Now() + 59h), "");
  EXPECT_EQ(Reason(&secret_, clock_.Now() + 60h), "Renewing");
}

TEST_F(NeedsIssuanceTest, ExpiredBeforeRenewing) { EXPECT_EQ(Reason(&secret_, clock_.Now() + 91h), "Expired"); }

TEST_F(NeedsIssuanceTest, SelfSignedIssuerWantsASelfSignedCertificate) {
  issuer_.ca.reset();
  issuer_.ca_sha256.clear();
  EXPECT_EQ(Reason(secret_), "IncorrectIssuer");
}

TEST_F(NeedsIssuanceTest, ReissueDrillAsksForEveryCertificateIssuedUnderAnotherToken) {
  EXPECT_EQ(Reason(secret_), "") << "no token on the issuer: nothing asked";
  issuer_.reissue_token = "2026-12-02";
  EXPECT_EQ(Reason(secret_), "ReissueRequested");
  secret_["metadata"]["annotations"][api::annotations::kReissueToken] = "2026-12-01";
  EXPECT_EQ(Reason(secret_), "ReissueRequested") << "an earlier drill's token";
  secret_["metadata"]["annotations"][api::annotations::kReissueToken] = "2026-12-02";
  EXPECT_EQ(Reason(secret_), "") << "issued under this token: done";
  // A real reason to issue comes first (the Event and the audit say why).
  EXPECT_EQ(Reason(&secret_, clock_.Now() + 91h), "Expired");
}

}  // namespace
}  // namespace certwright::controllers::certificates
