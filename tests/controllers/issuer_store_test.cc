// tests/controllers/issuer_store_test.cc: operator/controllers/common/issuer_store.cc and the
// certificate controller's back-off rule.
#include "certwright/controllers/issuer_store.h"

#include <gtest/gtest.h>

#include "certwright/controllers/certificates.h"
#include "certwright/controllers/issuers.h"
#include "certwright/controllers/secrets.h"

namespace certwright::controllers {
namespace {

using namespace std::chrono_literals;

TEST(IssuerStore, KeysNameKindNamespaceAndName) {
  EXPECT_EQ(IssuerStore::KeyFor("Issuer", "team", "ca"), "Issuer/team/ca");
  EXPECT_EQ(IssuerStore::KeyFor("ClusterIssuer", "team", "root"), "ClusterIssuer/root");
}

TEST(IssuerStore, TellsListenersOnlyWhenReadinessOrTheCaChanges) {
  IssuerStore store;
  std::vector<std::string> heard;
  store.OnChange([&](const std::string& key) { heard.push_back(key); });
  auto handle = std::make_shared<IssuerHandle>();
  handle->ca_sha256 = "a";
  store.SetReady("Issuer/ns/ca", handle);
  store.SetReady("Issuer/ns/ca", handle);  // re-checked, nothing new
  EXPECT_EQ(heard.size(), 1u);
  auto renewed = std::make_shared<IssuerHandle>();
  renewed->ca_sha256 = "b";
  store.SetReady("Issuer/ns/ca", renewed);
  EXPECT_EQ(heard.size(), 2u);
  store.SetNotReady("Issuer/ns/ca", "wrong PIN");
  store.SetNotReady("Issuer/ns/ca", "wrong PIN");
  EXPECT_EQ(heard.size(), 3u);
  EXPECT_EQ(store.Get("Issuer/ns/ca"), nullptr);
  EXPECT_EQ(store.NotReadyMessage("Issuer/ns/ca"), "wrong PIN");
  store.SetReady("Issuer/ns/ca", renewed);
  EXPECT_EQ(heard.size(), 4u);
  EXPECT_EQ(store.NotReadyMessage("Issuer/ns/ca"), std::nullopt);
  store.Erase("Issuer/ns/ca");
  EXPECT_EQ(heard.size(), 5u);
  EXPECT_EQ(store.Get("Issuer/ns/ca"), nullptr);
}

TEST(FailureBackoff, WaitsFiveSecondsDoublingToAnHourAndClearsOnSuccess) {
  FailureBackoff backoff;
  const auto t0 = std::chrono::system_clock::from_time_t(1'800'000'000);
  EXPECT_EQ(backoff.Wait("token", t0), std::nullopt);
  backoff.Failed("token", t0);
  EXPECT_EQ(backoff.Wait("token", t0), std::chrono::nanoseconds(5s));
  EXPECT_EQ(backoff.Wait("other token", t0), std::nullopt) << "per key";
  backoff.Failed("token", t0);
  EXPECT_EQ(backoff.Wait("token", t0), std::chrono::nanoseconds(10s));
  for (int i = 0; i < 40; ++i) backoff.Failed("token", t0);
  EXPECT_EQ(backoff.Wait("token", t0), std::chrono::nanoseconds(1h));
  EXPECT_EQ(backoff.Wait("token", t0 + 1h), std::nullopt);
  backoff.Succeeded("token");
  EXPECT_EQ(backoff.Wait("token", t0), std::nullopt);
}

TEST(FailureBackoff, StaysBoundedWhateverManyKeysFail) {
  FailureBackoff backoff;
  const auto t0 = std::chrono::system_clock::from_time_t(1'800'000'000);
  for (size_t i = 0; i < FailureBackoff::kMaxEntries * 3; ++i) backoff.Failed("token " + std::to_string(i), t0);
  EXPECT_EQ(backoff.size(), FailureBackoff::kMaxEntries);
  EXPECT_NE(backoff.Wait("token " + std::to_string(FailureBackoff::kMaxEntries * 3 - 1), t0), std::nullopt)
      << "the newest failure is remembered";
}

TEST(CertificateBackoff, DoublesFromFiveSecondsUpToTenMinutes) {
  EXPECT_EQ(CertificateController::Backoff(0), 0s);
  EXPECT_EQ(CertificateController::Backoff(1), 5s);
  EXPECT_EQ(CertificateController::Backoff(2), 10s);
  EXPECT_EQ(CertificateController::Backoff(5), 80s);
  EXPECT_EQ(CertificateController::Backoff(8), 600s);
  EXPECT_EQ(CertificateController::Backoff(1000), 600s);
}

TEST(SecretData, Base64RoundTripsAndRejectsGarbage) {
  for (const std::string& s : std::vector<std::string>{"", "a", "ab", "abc", "abcd", std::string("\0\xff\x10", 3)}) {
    EXPECT_EQ(Base64Decode(Base64Encode(s)), s);
  }
  EXPECT_EQ(Base64Decode("abc"), std::nullopt);
  EXPECT_EQ(Base64Decode("a!c="), std::nullopt);
}

TEST(Lists, CommaSeparatedItemsAreTrimmedAndEmptyOnesDropped) {
  EXPECT_EQ(api::SplitList(" a, b,,c \t"), (std::vector<std::string>{"a", "b", "c"}));
  EXPECT_EQ(api::SplitList("/usr/lib/softhsm/libsofthsm2.so"), (std::vector<std::string>{"/usr/lib/softhsm/libsofthsm2.so"}));
  EXPECT_TRUE(api::SplitList("").empty());
  EXPECT_TRUE(api::SplitList(" , ,").empty());
}


TEST(SecretCache, KeepsTheSerialSoStatusSurvivesALostStatusWrite) {
  kube::Json secret = {
      {"metadata",
       {{"name", "web-tls"},
        {"namespace", "team-a"},
        {"resourceVersion", "7"},
        {"labels", {{api::annotations::kManagedLabel, "true"}}},
        {"annotations", {{api::annotations::kSerial, "1A2B"}, {api::annotations::kAltNames, "web.example.com"}}}}},
      {"data", {{"tls.crt", "Y3J0"}, {"tls.key", "a2V5"}, {"ca.crt", "Y2E="}}},
  };
  PrepareSecretForCache(secret);
  auto cached = Unpack(std::make_shared<const kube::Json>(secret));
  const kube::Json& annotations = (*cached)["metadata"]["annotations"];
  EXPECT_EQ(annotations.value(api::annotations::kSerial, ""), "1A2B");
  EXPECT_FALSE(annotations.contains(api::annotations::kAltNames)) << "rewritten on every update: not cached";
  EXPECT_FALSE((*cached)["data"].contains("ca.crt"));
  EXPECT_EQ((*cached)["data"].value("tls.key", ""), "a2V5");
}

TEST(SecretCache, KeepsNoDataOfSecretsItDoesNotManage) {
  kube::Json secret = {{"metadata", {{"name", "db-password"}, {"namespace", "team-a"}, {"annotations", {{"a", "b"}}}}},
                       {"data", {{"password", "aHVudGVyMg=="}}}};
  PrepareSecretForCache(secret);
  EXPECT_FALSE(secret.contains("data"));
  EXPECT_FALSE(secret["metadata"].contains("annotations"));
}

}  // namespace
}  // namespace certwright::controllers
