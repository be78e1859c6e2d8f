// tests/api/trust_test.cc: operator/api/src/trust.cc — the TrustBundle spec and the CA-injection
// annotations.
#include "certwright/api/trust.h"

#include <gtest/gtest.h>

#include "support/test_ca.h"

namespace certwright::api {
namespace {

TEST(TrustBundleSpec, ReadsEveryField) {
  auto ca = testing::MakeSoftwareCa(signer::KeySpec::EcdsaP256());
  Json json = Json::parse(R"({
    "sources": [
      {"issuer": {"name": "corp-ca"}},
      {"issuer": {"name": "web-ca", "kind": "Issuer", "namespace": "team-a"}},
      {"configMap": {"name": "extra-roots", "key": "ca.crt"}},
      {"secret": {"name": "partner-roots", "key": "roots.pem"}},
      {"useDefaultCAs": true}
    ],
    "target": {
      "configMap": {"key": "ca.crt"},
      "secret": {"key": "bundle.pem"},
      "additionalFormats": {"jks": {"key": "truststore.jks", "passwordSecretRef": {"name": "store-pass", "key": "p"}},
                            "pkcs12": {"key": "truststore.p12"}},
      "namespaceSelector": {"names": ["team-a", "team-b"], "matchLabels": {"trust": "corp"},
                            "matchExpressions": [{"key": "env", "operator": "NotIn", "values": ["dev"]}]}
    }
  })");
  json["sources"].push_back({{"inLine", ca.pem}});
  auto spec = ParseTrustBundleSpec(json);
  ASSERT_TRUE(spec.ok()) << spec.error().message();
  ASSERT_EQ(spec->sources.size(), 6u);
  using Type = TrustSource::Type;
  EXPECT_EQ(spec->sources[0].type, Type::kIssuer);
  EXPECT_EQ(spec->sources[0].issuer_kind, "ClusterIssuer");
  EXPECT_EQ(spec->sources[1].issuer_namespace, "team-a");
  EXPECT_EQ(spec->sources[2].type, Type::kConfigMap);
  EXPECT_EQ(spec->sources[2].Describe("certwright"), "ConfigMap certwright/extra-roots key ca.crt");
  EXPECT_EQ(spec->sources[3].type, Type::kSecret);
  EXPECT_EQ(spec->sources[4].type, Type::kDefaultCAs);
  EXPECT_EQ(spec->sources[5].pem, ca.pem);
  EXPECT_EQ(spec->IssuerKeys(), (std::vector<std::string>{"ClusterIssuer/corp-ca", "Issuer/team-a/web-ca"}));
  EXPECT_EQ(spec->configmap_key, "ca.crt");
  EXPECT_EQ(spec->secret_key, "bundle.pem");
  ASSERT_TRUE(spec->jks && spec->jks->password);
  EXPECT_EQ(spec->jks->password->name, "store-pass");
  ASSERT_TRUE(spec->pkcs12);
  EXPECT_FALSE(spec->pkcs12->password);

  EXPECT_TRUE(spec->Selects("team-a", {{"trust", "corp"}, {"env", "prod"}}));
  EXPECT_TRUE(spec->Selects("team-b", {{"trust", "corp"}}));
  EXPECT_FALSE(spec->Selects("team-c", {{"trust", "corp"}})) << "not in names";
  EXPECT_FALSE(spec->Selects("team-a", {{"trust", "other"}})) << "matchLabels";
  EXPECT_FALSE(spec->Selects("team-a", {{"trust", "corp"}, {"env", "dev"}})) << "matchExpressions";
}

TEST(TrustBundleSpec, NoNamespaceSelectorSelectsEveryNamespace) {
  auto spec = ParseTrustBundleSpec(
      Json::parse(R"({"sources": [{"issuer": {"name": "a"}}], "target": {"configMap": {"key": "ca.crt"}}})"));
  ASSERT_TRUE(spec.ok()) << spec.error().message();
  EXPECT_TRUE(spec->Selects("anything", {}));
  EXPECT_FALSE(spec->secret_key);
}

TEST(TrustBundleSpec, RefusesWithTheFieldAndTheCrdsMessage) {
  const std::string ok_target = R"("target": {"configMap": {"key": "ca.crt"}})";
  const std::string ok_sources = R"("sources": [{"issuer": {"name": "a"}}])";
  struct Row {
    std::string json, message;
  };
  const std::vector<Row> rows = {
      {"{" + ok_target + "}", "spec.sources: must list at least one source"},
      {R"({"sources": [], )" + ok_target + "}", "spec.sources: must list at least one source"},
      {R"({"sources": [{}], )" + ok_target + "}",
       "spec.sources[0]: set exactly one of issuer, configMap, secret, inLine, useDefaultCAs"},
      {R"({"sources": [{"issuer": {"name": "a"}, "inLine": "x"}], )" + ok_target + "}",
       "spec.sources[0]: set exactly one of issuer, configMap, secret, inLine, useDefaultCAs"},
      {R"({"sources": [{"issuer": {"name": "a", "kind": "Issuer"}}], )" + ok_target + "}",
       "spec.sources[0].issuer.namespace: is required for an Issuer"},
      {R"({"sources": [{"issuer": {"name": "a", "namespace": "x"}}], )" + ok_target + "}",
       "spec.sources[0].issuer.namespace: must not be set for a ClusterIssuer"},
      {R"({"sources": [{"issuer": {"name": "a", "kind": "Vault"}}], )" + ok_target + "}",
       "spec.sources[0].issuer.kind: must be ClusterIssuer or Issuer (got \"Vault\")"},
      {R"({"sources": [{"configMap": {"name": "a"}}], )" + ok_target + "}", "spec.sources[0].configMap.key: is required"},
      {R"({"sources": [{"secret": {"name": "a", "key": "a/b"}}], )" + ok_target + "}",
       "spec.sources[0].secret.key: must be a ConfigMap/Secret data key"},
      {R"({"sources": [{"useDefaultCAs": false}], )" + ok_target + "}",
       "spec.sources[0].useDefaultCAs: must be true when set (omit the source instead)"},
      {R"({"sources": [{"inLine": "not pem"}], )" + ok_target + "}",
       "spec.sources[0].inLine contains no PEM block"},
      {"{" + ok_sources + "}", "spec.target: is required"},
      {"{" + ok_sources + R"(, "target": {}})", "spec.target: set configMap, secret or both"},
      {"{" + ok_sources + R"(, "target": {"configMap": {"key": "ca.crt"}, "additionalFormats": {"jks": {"key": "ca.crt"}}}})",
       "spec.target.additionalFormats.jks.key: must differ from the other target keys (\"ca.crt\" is used twice)"},
      {"{" + ok_sources +
           R"(, "target": {"configMap": {"key": "ca.crt"}, "namespaceSelector": {"names": []}}})",
       "spec.target.namespaceSelector.names: must not be empty; omit it to select every namespace"},
      {"{" + ok_sources +
           R"(, "target": {"configMap": {"key": "ca.crt"}, "namespaceSelector": {"matchExpressions": [{"key": "a", "operator": "In"}]}}})",
       "spec.target.namespaceSelector.matchExpressions[0].values: values must be set when operator is In or NotIn"},
  };
  for (const auto& row : rows) {
    auto spec = ParseTrustBundleSpec(Json::parse(row.json));
    ASSERT_FALSE(spec.ok()) << row.json;
    EXPECT_EQ(spec.error().kind(), ErrorKind::kInvalidArgument);
    EXPECT_EQ(spec.error().message().rfind(row.message, 0), 0u) << spec.error().message() << "\n  wanted: " << row.message;
  }
}

TEST(InjectCaAnnotations, ParseOrSayWhatIsExpected) {
  auto ref = ParseInjectCaFrom("team-a/webhook-serving");
  ASSERT_TRUE(ref.ok());
  EXPECT_EQ(ref->ns, "team-a");
  EXPECT_EQ(ref->name, "webhook-serving");
  for (const char* bad : {"", "nons", "/x", "x/", "a/b/c", "A/b"}) {
    auto r = ParseInjectCaFrom(bad);
    ASSERT_FALSE(r.ok()) << bad;
    EXPECT_NE(r.error().message().find("certwright.dev/inject-ca-from"), std::string::npos) << r.error().message();
  }
  EXPECT_EQ(*ParseInjectCaFromIssuer("corp-ca"), "ClusterIssuer/corp-ca");
  EXPECT_EQ(*ParseInjectCaFromIssuer("team-a/web-ca"), "Issuer/team-a/web-ca");
  for (const char* bad : {"", "a/b/c", "UPPER", "/x"}) {
    auto r = ParseInjectCaFromIssuer(bad);
    ASSERT_FALSE(r.ok()) << bad;
    EXPECT_NE(r.error().message().find("must be <clusterissuer> or <namespace>/<issuer>"), std::string::npos);
  }
}

}  // namespace
}  // namespace certwright::api
