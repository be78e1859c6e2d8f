// tests/kube/ca_bundle_test.cc: operator/kube/src/ca_bundle.cc — which caBundle fields an object
// has, and what an informer keeps of it (the patch itself runs against the real API server in
// e2e/trust_test.sh and the webhook's serving tests).
#include "certwright/kube/ca_bundle.h"

#include <gtest/gtest.h>

namespace certwright::kube {
namespace {

TEST(CaBundle, FindsTheFieldsOfEachKind) {
  const Json vwc = Json::parse(R"({"metadata": {"name": "w"}, "webhooks": [
      {"name": "a", "clientConfig": {"service": {"name": "s", "namespace": "n"}, "caBundle": "QQ=="}},
      {"name": "b"},
      {"name": "c", "clientConfig": {"url": "https://x"}}]})");
  auto f = CaBundleFields(resources::kValidatingWebhookConfigurations, vwc);
  ASSERT_EQ(f.size(), 2u);
  EXPECT_EQ(f[0].pointer, "/webhooks/0/clientConfig/caBundle");
  EXPECT_EQ(f[0].value, "QQ==");
  EXPECT_EQ(f[1].pointer, "/webhooks/2/clientConfig/caBundle");
  EXPECT_EQ(f[1].value, "");

  const Json crd = Json::parse(R"({"spec": {"conversion": {"strategy": "Webhook", "webhook": {"clientConfig":
      {"service": {"name": "s", "namespace": "n"}}, "conversionReviewVersions": ["v1"]}}, "versions": []}})");
  f = CaBundleFields(resources::kCustomResourceDefinitions, crd);
  ASSERT_EQ(f.size(), 1u);
  EXPECT_EQ(f[0].pointer, "/spec/conversion/webhook/clientConfig/caBundle");
  const Json no_webhook = Json::parse(R"({"spec": {"conversion": {"strategy": "None"}}})");
  EXPECT_TRUE(CaBundleFields(resources::kCustomResourceDefinitions, no_webhook).empty());

  const Json api = Json::parse(R"({"spec": {"service": {"name": "m", "namespace": "n"}, "group": "x"}})");
  f = CaBundleFields(resources::kApiServices, api);
  ASSERT_EQ(f.size(), 1u);
  EXPECT_EQ(f[0].pointer, "/spec/caBundle");
  const Json local = Json::parse(R"({"spec": {"group": "apps", "version": "v1"}})");
  EXPECT_TRUE(CaBundleFields(resources::kApiServices, local).empty()) << "served by the API server itself";
}

TEST(CaBundle, InformersKeepOnlyMetadataTheAnnotationsAndTheFields) {
  for (const auto* r : {&resources::kMutatingWebhookConfigurations, &resources::kCustomResourceDefinitions,
                        &resources::kApiServices}) {
    Json object = Json::parse(R"({"apiVersion": "x", "metadata": {"name": "o", "uid": "u", "resourceVersion": "7",
        "labels": {"l": "v"}, "managedFields": [{"big": true}],
        "annotations": {"certwright.dev/inject-ca-from": "ns/c", "other": "dropped"}},
      "webhooks": [{"name": "a", "rules": [1, 2, 3], "clientConfig": {"caBundle": "QQ==", "service": {}}}, {"name": "b"}],
      "spec": {"service": {"name": "m"}, "caBundle": "Qg==", "group": "g", "versions": [{"schema": "huge"}],
               "conversion": {"strategy": "Webhook", "webhook": {"clientConfig": {"caBundle": "Qw=="}}}}})");
    const auto before = CaBundleFields(*r, object);
    KeepOnlyCaBundleFields(*r, object, {"certwright.dev/inject-ca-from"});
    const auto after = CaBundleFields(*r, object);
    ASSERT_EQ(before.size(), after.size()) << r->kind;
    for (size_t i = 0; i < before.size(); ++i) {
      EXPECT_EQ(before[i].pointer, after[i].pointer) << r->kind;
      EXPECT_EQ(before[i].value, after[i].value) << r->kind;
    }
    EXPECT_EQ(object["metadata"]["resourceVersion"], "7");
    EXPECT_EQ(object["metadata"]["annotations"], Json({{"certwright.dev/inject-ca-from", "ns/c"}}));
    EXPECT_FALSE(object["metadata"].contains("managedFields"));
    EXPECT_EQ(object.dump().find("huge"), std::string::npos) << r->kind << ": " << object.dump();
    EXPECT_EQ(object.dump().find("rules"), std::string::npos) << r->kind;
  }
}

}  // namespace
}  // namespace certwright::kube
