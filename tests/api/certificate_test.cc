// tests/api/certificate_test.cc: operator/api/src/certificate.cc — the Certificate spec as the
// controller (and later the webhook) reads it, with the CRD's messages.
#include "certwright/api/certificate.h"

#include <gtest/gtest.h>

namespace certwright::api {
namespace {

using namespace std::chrono_literals;

Json Minimal() {
  return Json::parse(R"({"secretName": "web-tls", "dnsNames": ["web.example.com"], "issuerRef": {"name": "ca"}})");
}

TEST(CertificateSpec, DefaultsMatchTheCrd) {
  auto spec = ParseCertificateSpec(Minimal());
  ASSERT_TRUE(spec.ok()) << spec.error().message();
  EXPECT_EQ(spec->secret_name, "web-tls");
  EXPECT_EQ(spec->duration, 2160h);
  EXPECT_EQ(spec->private_key.algorithm, "ECDSA");
  EXPECT_EQ(spec->private_key.KeySpec(), signer::KeySpec::EcdsaP256());
  EXPECT_EQ(spec->private_key.encoding, "PKCS1");
  EXPECT_EQ(spec->private_key.rotation_policy, "Always");
  EXPECT_EQ(spec->issuer_ref.kind, "Issuer");
  EXPECT_EQ(spec->issuer_ref.group, "certwright.dev");
  EXPECT_FALSE(spec->is_ca);
  EXPECT_TRUE(spec->private_key.defaulted) << "neither algorithm nor size written";
}

TEST(CertificateSpec, AKeyTypeWrittenInPartIsNotADefault) {
  for (const char* key : {R"({"algorithm": "ECDSA"})", R"({"size": 384})", R"({"algorithm": "RSA", "size": 3072})"}) {
    Json cert = Minimal();
    cert["privateKey"] = Json::parse(key);
    auto spec = ParseCertificateSpec(cert);
    ASSERT_TRUE(spec.ok()) << spec.error().message();
    EXPECT_FALSE(spec->private_key.defaulted) << key;
  }
  Json cert = Minimal();
  cert["privateKey"] = {{"encoding", "PKCS8"}};
  EXPECT_TRUE(ParseCertificateSpec(cert)->private_key.defaulted) << "an encoding alone leaves the key type open";
}

TEST(CertificateSpec, ReadsEveryField) {
  auto json = Json::parse(R"({
    "secretName": "s", "commonName": "cn", "dnsNames": ["a.example"], "ipAddresses": ["10.0.0.1"],
    "uris": ["spiffe://example/x"], "emailAddresses": ["a@example.com"],
    "subject": {"organizations": ["O1"], "countries": ["FR"], "serialNumber": "42"},
    "duration": "720h", "renewBeforePercentage": 25,
    "privateKey": {"algorithm": "RSA", "size": 3072, "encoding": "PKCS8", "rotationPolicy": "Never"},
    "usages": ["digital signature", "server auth"], "isCA": false,
    "issuerRef": {"name": "root", "kind": "ClusterIssuer"},
    "secretTemplate": {"labels": {"app": "web"}, "annotations": {"team": "a"}}})");
  auto spec = ParseCertificateSpec(json);
  ASSERT_TRUE(spec.ok()) << spec.error().message();
  EXPECT_EQ(spec->duration, 720h);
  EXPECT_EQ(spec->renew_before_percentage, 25);
  EXPECT_EQ(spec->private_key.KeySpec(), signer::KeySpec::Rsa(3072));
  EXPECT_EQ(spec->private_key.rotation_policy, "Never");
  EXPECT_EQ(spec->issuer_ref.kind, "ClusterIssuer");
  EXPECT_EQ(spec->secret_labels.at("app"), "web");
  EXPECT_EQ(spec->secret_annotations.at("team"), "a");
  EXPECT_EQ(SubjectOf(*spec).ToString(), "serialNumber=42,C=FR,O=O1,CN=cn");
}

struct Row {
  const char* name;
  const char* patch;  // merged into Minimal()
  const char* message;
};

class CertificateSpecRejects : public ::testing::TestWithParam<Row> {};

TEST_P(CertificateSpecRejects, WithTheCrdMessage) {
  Json json = Minimal();
  json.merge_patch(Json::parse(GetParam().patch));
  auto spec = ParseCertificateSpec(json);
  ASSERT_FALSE(spec.ok());
  EXPECT_EQ(spec.error().kind(), ErrorKind::kInvalidArgument);
  EXPECT_EQ(spec.error().message(), GetParam().message);
}

INSTANTIATE_TEST_SUITE_P(
    Rules, CertificateSpecRejects,
    ::testing::Values(
        Row{"NoNames", R"({"dnsNames": null})",
            "spec: at least one of commonName, dnsNames, ipAddresses, uris or emailAddresses must be set"},
        Row{"NoSecretName", R"({"secretName": null})", "spec.secretName: is required"},
        Row{"BadSecretName", R"({"secretName": "Web_TLS"})",
            "spec.secretName: \"Web_TLS\" is not a valid Secret name (lower-case RFC 1123 subdomain, at most 253 "
            "characters)"},
        Row{"DnsNamesNotAList", R"({"dnsNames": "a.example"})", "spec.dnsNames: must be a list of strings"},
        Row{"DurationTooShort", R"({"duration": "30m"})", "spec.duration: duration must be at least 1h"},
        Row{"DurationMalformed", R"({"duration": "ten days"})",
            "spec.duration: duration \"ten days\" is invalid: expected a number before \"ten days\""},
        Row{"RenewBeforeTooShort", R"({"renewBefore": "1m"})", "spec.renewBefore: renewBefore must be at least 5m"},
        Row{"RenewBeforeNotShorter", R"({"duration": "1h", "renewBefore": "1h"})",
            "spec.renewBefore: renewBefore must be shorter than duration"},
        Row{"BothRenewals", R"({"renewBefore": "1h", "renewBeforePercentage": 10})",
            "spec.renewBeforePercentage: renewBefore and renewBeforePercentage are mutually exclusive"},
        Row{"PercentageOutOfRange", R"({"renewBeforePercentage": 100})",
            "spec.renewBeforePercentage: must be between 1 and 99"},
        Row{"RsaSize", R"({"privateKey": {"algorithm": "RSA", "size": 1024}})",
            "spec.privateKey.size: RSA keys must have size 2048, 3072 or 4096"},
        Row{"EcdsaSize", R"({"privateKey": {"size": 521}})",
            "spec.privateKey.size: ECDSA keys must have size 256 or 384"},
        Row{"Ed25519Size", R"({"privateKey": {"algorithm": "Ed25519", "size": 256}})",
            "spec.privateKey.size: Ed25519 keys have no size; remove privateKey.size"},
        Row{"UnknownAlgorithm", R"({"privateKey": {"algorithm": "DSA"}})",
            "spec.privateKey.algorithm: must be one of ECDSA, RSA, Ed25519 (got \"DSA\")"},
        Row{"UnknownEncoding", R"({"privateKey": {"encoding": "DER"}})",
            "spec.privateKey.encoding: must be PKCS1 or PKCS8 (got \"DER\")"},
        Row{"UnknownRotation", R"({"privateKey": {"rotationPolicy": "Sometimes"}})",
            "spec.privateKey.rotationPolicy: must be Always or Never (got \"Sometimes\")"},
        Row{"NoIssuer", R"({"issuerRef": null})", "spec.issuerRef: is required"},
        Row{"IssuerKind", R"({"issuerRef": {"kind": "Vault"}})",
            "spec.issuerRef.kind: must be Issuer or ClusterIssuer (got \"Vault\")"},
        Row{"IssuerGroup", R"({"issuerRef": {"group": "cert-manager.io"}})",
            "spec.issuerRef.group: only certwright.dev issuers are served (got \"cert-manager.io\")"},
        Row{"ReservedAnnotation", R"({"secretTemplate": {"annotations": {"certwright.dev/serial": "1"}}})",
            "spec.secretTemplate.annotations.certwright.dev/serial: the certwright.dev/ prefix is reserved for the "
            "annotations certwright writes"},
        Row{"IsCaNotBool", R"({"isCA": "yes"})", "spec.isCA: must be true or false"}),
    [](const auto& info) { return std::string(info.param.name); });

TEST(CertificateSpec, NamesTheSignerRefusesAreRejectedWithTheField) {
  Json json = Minimal();
  json["dnsNames"] = {"ok.example", "bad name.example"};
  auto spec = ParseCertificateSpec(json);
  ASSERT_FALSE(spec.ok());
  EXPECT_NE(spec.error().message().find("spec.dnsNames[1]: \"bad name.example\" is not a valid DNS name"), std::string::npos) << spec.error().message();
  json = Minimal();
  json["usages"] = {"server auth", "teleport"};
  spec = ParseCertificateSpec(json);
  ASSERT_FALSE(spec.ok());
  EXPECT_NE(spec.error().message().find("spec.usages: "), std::string::npos) << spec.error().message();
  EXPECT_NE(spec.error().message().find("teleport"), std::string::npos) << spec.error().message();
}

TEST(RenewalTime, RenewsAtTwoThirdsOfLifetimeWhenRenewBeforeUnset) {
  CertificateSpec spec;
  const TimePoint start = std::chrono::system_clock::from_time_t(1'800'000'000);
  EXPECT_EQ(RenewalTime(spec, start, start + 90h), start + 60h);
}

TEST(RenewalTime, HonoursRenewBeforeAndPercentage) {
  CertificateSpec spec;
  const TimePoint start = std::chrono::system_clock::from_time_t(1'800'000'000);
  spec.renew_before = 10h;
  EXPECT_EQ(RenewalTime(spec, start, start + 90h), start + 80h);
  spec.renew_before.reset();
  spec.renew_before_percentage = 25;
  EXPECT_EQ(RenewalTime(spec, start, start + 100h), start + 75h);
}

TEST(RenewalTime, FallsBackToAThirdWhenRenewBeforeExceedsTheGrantedLifetime) {
  // The issuer's maxDuration shortened the certificate below renewBefore: without the fallback it
  // would renew in a loop.
  CertificateSpec spec;
  spec.renew_before = 100h;
  const TimePoint start = std::chrono::system_clock::from_time_t(1'800'000'000);
  EXPECT_EQ(RenewalTime(spec, start, start + 30h), start + 20h);
}

TEST(SpecHash, ChangesWithWhatTheCertificateIsMadeFromOnly) {
  auto base = ParseCertificateSpec(Minimal());
  ASSERT_TRUE(base.ok());
  const std::string h = SpecHash(*base);
  auto changed = [&](const char* patch) {
    Json json = Minimal();
    json.merge_patch(Json::parse(patch));
    auto spec = ParseCertificateSpec(json);
    EXPECT_TRUE(spec.ok()) << patch;
    return spec.ok() && SpecHash(*spec) != h;
  };
  EXPECT_TRUE(changed(R"({"dnsNames": ["web.example.com", "www.example.com"]})"));
  EXPECT_TRUE(changed(R"({"privateKey": {"algorithm": "RSA"}})"));
  EXPECT_TRUE(changed(R"({"privateKey": {"encoding": "PKCS8"}})"));
  EXPECT_TRUE(changed(R"({"usages": ["server auth"]})"));
  EXPECT_TRUE(changed(R"({"issuerRef": {"name": "other"}})"));
  EXPECT_TRUE(changed(R"({"duration": "24h"})"));
  EXPECT_TRUE(changed(R"({"subject": {"organizations": ["O"]}})"));
  // Renewal settings, rotation policy and Secret metadata need no new certificate.
  EXPECT_FALSE(changed(R"({"renewBefore": "1h"})"));
  EXPECT_FALSE(changed(R"({"privateKey": {"rotationPolicy": "Never"}})"));
  EXPECT_FALSE(changed(R"({"secretTemplate": {"labels": {"a": "b"}}})"));
}

}  // namespace
}  // namespace certwright::api
