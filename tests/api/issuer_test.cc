// tests/api/issuer_test.cc: operator/api/src/issuer.cc — Issuer and ClusterIssuer specs.
#include "certwright/api/issuer.h"

#include <gtest/gtest.h>

namespace certwright::api {
namespace {

using namespace std::chrono_literals;

TEST(IssuerSpec, ReadsEachType) {
  auto self = ParseIssuerSpec(Json::parse(R"({"selfSigned": {}})"));
  ASSERT_TRUE(self.ok()) << self.error().message();
  EXPECT_EQ(self->type, IssuerSpec::Type::kSelfSigned);

  auto ca = ParseIssuerSpec(Json::parse(R"({"ca": {"secretName": "team-ca"}, "maxDuration": "720h"})"));
  ASSERT_TRUE(ca.ok()) << ca.error().message();
  EXPECT_EQ(ca->type, IssuerSpec::Type::kCa);
  EXPECT_EQ(ca->ca_secret_name, "team-ca");
  EXPECT_EQ(ca->max_duration, 720h);

  auto p11 = ParseIssuerSpec(Json::parse(R"({"pkcs11": {
      "modulePath": "/usr/lib/softhsm/libsofthsm2.so", "keyURI": "pkcs11:token=ca;object=root",
      "pinSecretRef": {"name": "hsm-pin"},
      "bootstrap": {"mode": "SelfSigned", "subject": {"commonName": "Root", "organizations": ["Ex"]},
                    "keyAlgorithm": "ECDSA", "keySize": 384}}})"));
  ASSERT_TRUE(p11.ok()) << p11.error().message();
  EXPECT_EQ(p11->type, IssuerSpec::Type::kPkcs11);
  EXPECT_EQ(p11->pkcs11.pin_secret.key, "pin");
  ASSERT_TRUE(p11->pkcs11.bootstrap);
  EXPECT_EQ(p11->pkcs11.bootstrap->subject.ToString(), "O=Ex,CN=Root");
  EXPECT_EQ(p11->pkcs11.bootstrap->duration, 87600h);
  EXPECT_EQ(p11->pkcs11.bootstrap->key_spec, signer::KeySpec::EcdsaP384());
  EXPECT_EQ(CaKeySpec(*p11), signer::KeySpec::EcdsaP384()) << "a bootstrap's key type is the CA key's";
  EXPECT_EQ(CaKeySpec(*ca), std::nullopt) << "a ca issuer's key is in a Secret the spec does not describe";
  EXPECT_EQ(CaKeySpec(*self), std::nullopt);

  auto kms = ParseIssuerSpec(Json::parse(R"({"awsKMS": {"keyID": "alias/ca", "region": "eu-west-1",
      "endpoint": "http://127.0.0.1:4599", "credentialsSecretRef": {"name": "kms"},
      "caSecretRef": {"name": "chain"}}})"));
  ASSERT_TRUE(kms.ok()) << kms.error().message();
  EXPECT_EQ(kms->aws_kms.credentials_secret, "kms");
  ASSERT_TRUE(kms->aws_kms.ca_secret);
  EXPECT_EQ(kms->aws_kms.ca_secret->key, "tls.crt");
}

struct Row {
  const char* name;
  const char* spec;
  const char* message;
};

TEST(IssuerSpec, ReadsPodCertificates) {
  auto defaults = ParseIssuerSpec(Json::parse(R"({"ca": {"secretName": "c"}})"));
  ASSERT_TRUE(defaults.ok()) << defaults.error().message();
  EXPECT_EQ(defaults->pod_certificates.trust_domain, "cluster.local");
  EXPECT_EQ(defaults->pod_certificates.backdate, std::chrono::minutes(1));
  EXPECT_FALSE(defaults->pod_certificates.refresh_before);
  auto set = ParseIssuerSpec(Json::parse(R"({"ca": {"secretName": "c"}, "podCertificates":
      {"trustDomain": "prod.example.org", "backdate": "4m", "refreshBefore": "50m"}})"));
  ASSERT_TRUE(set.ok()) << set.error().message();
  EXPECT_EQ(set->pod_certificates.trust_domain, "prod.example.org");
  EXPECT_EQ(set->pod_certificates.backdate, std::chrono::minutes(4));
  EXPECT_EQ(set->pod_certificates.refresh_before, std::chrono::minutes(50));
  auto none = ParseIssuerSpec(Json::parse(R"({"ca": {"secretName": "c"}, "podCertificates": {"backdate": "0s"}})"));
  ASSERT_TRUE(none.ok()) << none.error().message();
  EXPECT_EQ(none->pod_certificates.backdate, std::chrono::seconds(0));
}

class IssuerSpecRejects : public ::testing::TestWithParam<Row> {};

TEST_P(IssuerSpecRejects, WithTheCrdMessage) {
  auto spec = ParseIssuerSpec(Json::parse(GetParam().spec));
  ASSERT_FALSE(spec.ok());
  EXPECT_EQ(spec.error().kind(), ErrorKind::kInvalidArgument);
  EXPECT_EQ(spec.error().message(), GetParam().message);
}

#define P11(extra) \
  R"({"pkcs11": {"modulePath": "/m.so", "keyURI": "pkcs11:token=t;object=o", "pinSecretRef": {"name": "p"})" extra "}}"

INSTANTIATE_TEST_SUITE_P(
    Rules, IssuerSpecRejects,
    ::testing::Values(
        Row{"NoType", R"({})", "spec: exactly one of selfSigned, ca, pkcs11 or awsKMS must be set"},
        Row{"TwoTypes", R"({"selfSigned": {}, "ca": {"secretName": "x"}})",
            "spec: exactly one of selfSigned, ca, pkcs11 or awsKMS must be set"},
        Row{"CaWithoutSecret", R"({"ca": {}})", "spec.ca.secretName: is required"},
        Row{"RelativeModule",
            R"({"pkcs11": {"modulePath": "softhsm.so", "keyURI": "pkcs11:token=t", "pinSecretRef": {"name": "p"}}})",
            "spec.pkcs11.modulePath: modulePath must be an absolute path"},
        Row{"NotAPkcs11Uri",
            R"({"pkcs11": {"modulePath": "/m.so", "keyURI": "file:/k", "pinSecretRef": {"name": "p"}}})",
            "spec.pkcs11.keyURI: keyURI must start with \"pkcs11:\""},
        Row{"QueryInUri",
            R"({"pkcs11": {"modulePath": "/m.so", "keyURI": "pkcs11:token=t?pin-value=1", "pinSecretRef": {"name": "p"}}})",
            "spec.pkcs11.keyURI: keyURI must not have query attributes (module-path, pin-source, pin-value): use "
            "modulePath and pinSecretRef"},
        Row{"NeitherCaNorBootstrap", P11(""), "spec.pkcs11: exactly one of caSecretRef or bootstrap must be set"},
        Row{"BothCaAndBootstrap",
            P11(R"(, "caSecretRef": {"name": "c"}, "bootstrap": {"mode": "CSR", "subject": {"commonName": "x"}})"),
            "spec.pkcs11: exactly one of caSecretRef or bootstrap must be set"},
        Row{"BootstrapMode", P11(R"(, "bootstrap": {"mode": "Magic", "subject": {"commonName": "x"}})"),
            "spec.pkcs11.bootstrap.mode: must be SelfSigned or CSR (got \"Magic\")"},
        Row{"BootstrapNoCommonName", P11(R"(, "bootstrap": {"mode": "CSR", "subject": {}})"),
            "spec.pkcs11.bootstrap.subject.commonName: is required"},
        Row{"KeySizeWithoutAlgorithm",
            P11(R"(, "bootstrap": {"mode": "CSR", "subject": {"commonName": "x"}, "keySize": 384})"),
            "spec.pkcs11.bootstrap.keySize: keySize needs keyAlgorithm"},
        Row{"BootstrapRsaSize",
            P11(R"(, "bootstrap": {"mode": "CSR", "subject": {"commonName": "x"}, "keyAlgorithm": "RSA", "keySize": 1024})"),
            "spec.pkcs11.bootstrap.keySize: RSA keys must have size 2048, 3072 or 4096"},
        Row{"BootstrapShort",
            P11(R"(, "bootstrap": {"mode": "CSR", "subject": {"commonName": "x"}, "duration": "10m"})"),
            "spec.pkcs11.bootstrap.duration: duration must be at least 1h"},
        Row{"KmsEndpoint",
            R"({"awsKMS": {"keyID": "k", "region": "r", "endpoint": "ftp://x", "caSecretRef": {"name": "c"}}})",
            "spec.awsKMS.endpoint: endpoint must be an http or https URL"},
        Row{"MinAboveMax", R"({"selfSigned": {}, "minDuration": "48h", "maxDuration": "24h"})",
            "spec.minDuration: minDuration must not be longer than maxDuration"},
        Row{"TrustDomain", R"({"selfSigned": {}, "podCertificates": {"trustDomain": "Example.org"}})",
            "spec.podCertificates.trustDomain: \"Example.org\" is not a SPIFFE trust domain: 1-255 lower-case "
            "letters, digits, '.', '-' or '_'"},
        Row{"Backdate", R"({"selfSigned": {}, "podCertificates": {"backdate": "5m"}})",
            "spec.podCertificates.backdate: backdate must be at most 4m (the API accepts a notBefore at most 5 "
            "minutes from its clock)"},
        Row{"BackdateSyntax", R"({"selfSigned": {}, "podCertificates": {"backdate": "a minute"}})",
            "spec.podCertificates.backdate: duration \"a minute\" is invalid: expected a number before \"a minute\""},
        Row{"RefreshBefore", R"({"selfSigned": {}, "podCertificates": {"refreshBefore": "5m"}})",
            "spec.podCertificates.refreshBefore: refreshBefore must be at least 10m"}),
    [](const auto& info) { return std::string(info.param.name); });

}  // namespace
}  // namespace certwright::api
