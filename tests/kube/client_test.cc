// The REST client against a real kube-apiserver (hack/control-plane).
#include "certwright/kube/client.h"

#include <gtest/gtest.h>

#include "support/kube_env.h"

namespace certwright::kube {
namespace {

using testing::ConfigMap;
using testing::KubeTest;
using resources::kConfigMaps;
using resources::kSecrets;

class ClientTest : public ::testing::Test {
 protected:
  KubeTest env_{"client"};
  Client& c() { return env_.client(); }
  const std::string& ns() { return env_.ns(); }
};

TEST_F(ClientTest, CreatesGetsUpdatesPatchesAndDeletesConfigMaps) {
  auto created = c().Create(kConfigMaps, ns(), ConfigMap("a", {{"k", "1"}}, {{"app", "x"}}));
  ASSERT_TRUE(created.ok()) << created.error().message();
  EXPECT_EQ((*created)["data"]["k"], "1");
  EXPECT_FALSE((*created)["metadata"].value("resourceVersion", "").empty());

  auto got = c().Get(kConfigMaps, ns(), "a");
  ASSERT_TRUE(got.ok());
  (*got)["data"]["k"] = "2";
  auto updated = c().Update(kConfigMaps, ns(), *got);
  ASSERT_TRUE(updated.ok()) << updated.error().message();
  EXPECT_EQ((*updated)["data"]["k"], "2");

  auto merged = c().Patch(kConfigMaps, ns(), "a", PatchType::kMerge, {{"data", {{"m", "merge"}}}});
  ASSERT_TRUE(merged.ok()) << merged.error().message();
  EXPECT_EQ((*merged)["data"]["m"], "merge");
  EXPECT_EQ((*merged)["data"]["k"], "2");

  auto json_patched = c().Patch(kConfigMaps, ns(), "a", PatchType::kJson,
                                Json::array({{{"op", "replace"}, {"path", "/data/k"}, {"value", "3"}}}));
  ASSERT_TRUE(json_patched.ok()) << json_patched.error().message();
  EXPECT_EQ((*json_patched)["data"]["k"], "3");

  PatchOptions apply;
  apply.field_manager = "certwright-test";
  apply.force = true;
  auto applied = c().Patch(kConfigMaps, ns(), "a", PatchType::kApply,
                           {{"apiVersion", "v1"}, {"kind", "ConfigMap"}, {"metadata", {{"name", "a"}}},
                            {"data", {{"applied", "yes"}}}},
                           apply);
  ASSERT_TRUE(applied.ok()) << applied.error().message();
  EXPECT_EQ((*applied)["data"]["applied"], "yes");
  bool manager_seen = false;
  for (const auto& f : (*applied)["metadata"]["managedFields"]) {
    if (f.value("manager", "") == "certwright-test" && f.value("operation", "") == "Apply") manager_seen = true;
  }
  EXPECT_TRUE(manager_seen) << "server-side apply records the field manager";

  ASSERT_TRUE(c().Delete(kConfigMaps, ns(), "a").ok());
  auto gone = c().Get(kConfigMaps, ns(), "a");
  ASSERT_FALSE(gone.ok());
  EXPECT_EQ(gone.error().kind(), ErrorKind::kNotFound);
  EXPECT_EQ(gone.error().http_status(), 404);
  EXPECT_EQ(gone.error().detail()->reason, "NotFound");
}

TEST_F(ClientTest, SecretsRoundTripBase64Data) {
  Json secret = {{"apiVersion", "v1"}, {"kind", "Secret"}, {"metadata", {{"name", "s"}}},
                 {"type", "kubernetes.io/tls"}, {"stringData", {{"tls.crt", "cert"}, {"tls.key", "key"}}}};
  auto created = c().Create(kSecrets, ns(), secret);
  ASSERT_TRUE(created.ok()) << created.error().message();
  auto got = c().Get(kSecrets, ns(), "s");
  ASSERT_TRUE(got.ok());
  EXPECT_EQ((*got)["data"]["tls.crt"], "Y2VydA==");
  EXPECT_EQ((*got)["type"], "kubernetes.io/tls");
}

TEST_F(ClientTest, StaleResourceVersionIsAConflict) {
  auto created = c().Create(kConfigMaps, ns(), ConfigMap("c", {{"v", "1"}}));
  ASSERT_TRUE(created.ok());
  Json stale = *created;
  (*created)["data"]["v"] = "2";
  ASSERT_TRUE(c().Update(kConfigMaps, ns(), *created).ok());
  stale["data"]["v"] = "3";
  auto conflict = c().Update(kConfigMaps, ns(), stale);
  ASSERT_FALSE(conflict.ok());
  EXPECT_EQ(conflict.error().kind(), ErrorKind::kConflict);
  EXPECT_TRUE(conflict.error().retryable());
  EXPECT_EQ(conflict.error().http_status(), 409);
  EXPECT_EQ(conflict.error().detail()->reason, "Conflict");

  DeleteOptions precondition;
  precondition.precondition_resource_version = stale["metadata"]["resourceVersion"];
  auto refused = c().Delete(kConfigMaps, ns(), "c", precondition);
  ASSERT_FALSE(refused.ok());
  EXPECT_EQ(refused.error().kind(), ErrorKind::kConflict);
  EXPECT_TRUE(c().Get(kConfigMaps, ns(), "c").ok()) << "a failed precondition deletes nothing";
}

TEST_F(ClientTest, AlreadyExistsIsItsOwnKind) {
  ASSERT_TRUE(c().Create(kConfigMaps, ns(), ConfigMap("dup")).ok());
  auto again = c().Create(kConfigMaps, ns(), ConfigMap("dup"));
  ASSERT_FALSE(again.ok());
  EXPECT_EQ(again.error().kind(), ErrorKind::kAlreadyExists);
  EXPECT_FALSE(again.error().retryable());
}

TEST_F(ClientTest, InvalidObjectsCarryFieldCauses) {
  auto invalid = c().Create(kConfigMaps, ns(), ConfigMap("Not_A_Valid_Name"));
  ASSERT_FALSE(invalid.ok());
  EXPECT_EQ(invalid.error().kind(), ErrorKind::kInvalidArgument);
  EXPECT_EQ(invalid.error().http_status(), 422);
  ASSERT_NE(invalid.error().detail(), nullptr);
  EXPECT_EQ(invalid.error().detail()->reason, "Invalid");
  ASSERT_FALSE(invalid.error().detail()->causes.empty());
  EXPECT_EQ(invalid.error().detail()->causes[0].first, "metadata.name");
  EXPECT_NE(invalid.error().message().find("Not_A_Valid_Name"), std::string::npos) << invalid.error().message();
}

TEST_F(ClientTest, ATokenWithoutRbacRightsIsForbidden) {
  auto nobody = env_.UnprivilegedClient("nobody");
  ASSERT_TRUE(nobody);
  auto denied = nobody->List(kSecrets, ns());
  ASSERT_FALSE(denied.ok());
  EXPECT_EQ(denied.error().kind(), ErrorKind::kPermissionDenied);
  EXPECT_EQ(denied.error().http_status(), 403);
  EXPECT_NE(denied.error().message().find("cannot list resource \"secrets\""), std::string::npos)
      << denied.error().message();
  EXPECT_NE(denied.error().message().find("system:serviceaccount:" + ns() + ":nobody"), std::string::npos);
}

TEST_F(ClientTest, ListFollowsContinueTokensAndSelectsByLabel) {
  for (int i = 0; i < 25; ++i) {
    ASSERT_TRUE(c().Create(kConfigMaps, ns(), ConfigMap("p" + std::to_string(i), {}, {{"page", "yes"}})).ok());
  }
  ASSERT_TRUE(c().Create(kConfigMaps, ns(), ConfigMap("other", {}, {{"page", "no"}})).ok());
  ListOptions options;
  options.label_selector = "page=yes";
  options.limit = 10;
  auto first = c().List(kConfigMaps, ns(), options);
  ASSERT_TRUE(first.ok());
  EXPECT_EQ((*first)["items"].size(), 10u);
  EXPECT_FALSE((*first)["metadata"].value("continue", "").empty());
  auto all = c().ListAll(kConfigMaps, ns(), options);
  ASSERT_TRUE(all.ok()) << all.error().message();
  EXPECT_EQ((*all)["items"].size(), 25u);
  options.label_selector = "page=no";
  EXPECT_EQ((*c().ListAll(kConfigMaps, ns(), options))["items"].size(), 1u);
}

TEST_F(ClientTest, WatchDeliversEveryChangeInOrder) {
  auto list = c().List(kConfigMaps, ns());
  ASSERT_TRUE(list.ok());
  WatchOptions options;
  options.resource_version = (*list)["metadata"]["resourceVersion"];
  options.timeout_seconds = 30;
  auto watch = c().Watch(kConfigMaps, ns(), options);
  ASSERT_TRUE(watch.ok()) << watch.error().message();
  ASSERT_TRUE(c().Create(kConfigMaps, ns(), ConfigMap("w", {{"n", "0"}})).ok());
  for (int i = 1; i <= 5; ++i) {
    ASSERT_TRUE(c().Patch(kConfigMaps, ns(), "w", PatchType::kMerge, {{"data", {{"n", std::to_string(i)}}}}).ok());
  }
  ASSERT_TRUE(c().Delete(kConfigMaps, ns(), "w").ok());
  std::vector<std::string> seen;
  while (seen.size() < 7) {
    auto event = (*watch)->Next();
    ASSERT_TRUE(event.ok()) << event.error().message();
    ASSERT_TRUE(event->has_value()) << "stream ended early";
    const auto& e = **event;
    if (e.type == WatchEvent::Type::kBookmark) continue;
    if (e.object["metadata"].value("name", "") != "w") continue;  // kube-root-ca.crt
    std::string tag = e.type == WatchEvent::Type::kAdded      ? "A"
                      : e.type == WatchEvent::Type::kModified ? "M"
                      : e.type == WatchEvent::Type::kDeleted  ? "D"
                                                              : "?";
    seen.push_back(tag + e.object["data"].value("n", ""));
  }
  EXPECT_EQ(seen, (std::vector<std::string>{"A0", "M1", "M2", "M3", "M4", "M5", "D5"}));
  (*watch)->Cancel();
}

TEST_F(ClientTest, WatchFromACompactedResourceVersionIsGone) {
  auto list = c().List(kConfigMaps, ns());
  ASSERT_TRUE(list.ok());
  const std::string old_rv = (*list)["metadata"]["resourceVersion"];
  // Two writes, so the compaction point lies beyond old_rv + 1 (where the watch would start).
  ASSERT_TRUE(c().Create(kConfigMaps, ns(), ConfigMap("after1")).ok());
  ASSERT_TRUE(c().Create(kConfigMaps, ns(), ConfigMap("after2")).ok());
  ASSERT_EQ(testing::ControlPlane("compact-etcd"), 0);
  WatchOptions options;
  options.resource_version = old_rv;
  options.timeout_seconds = 10;
  auto watch = c().Watch(kConfigMaps, ns(), options);
  ASSERT_TRUE(watch.ok()) << watch.error().message();
  auto event = (*watch)->Next();
  ASSERT_FALSE(event.ok()) << "expected 410, got an event";
  EXPECT_EQ(event.error().http_status(), 410) << event.error().message();
  EXPECT_EQ(event.error().detail()->reason, "Expired");
}

}  // namespace
}  // namespace certwright::kube
