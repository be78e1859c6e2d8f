#include <gtest/gtest.h>
#include <openssl/objects.h>

#include "certwright/signer/x509.h"

namespace certwright::signer {
namespace {

TEST(Usages, ParsesCertManagerNamesIntoBitsAndOids) {
  auto u = ParseUsages({"digital signature", "Key Encipherment", "server auth", "client auth", "signing"});
  ASSERT_TRUE(u.ok()) << u.error().message();
  EXPECT_EQ(u->key_usage, kDigitalSignature | kKeyEncipherment);
  EXPECT_EQ(u->extended, (std::vector<int>{NID_server_auth, NID_client_auth}));
  EXPECT_EQ(UsageNames(*u), (std::vector<std::string>{"digital signature", "key encipherment", "server auth",
                                                      "client auth"}));
}

TEST(Usages, UnknownUsageNamesItsIndexAndTheKnownOnes) {
  auto u = ParseUsages({"server auth", "world domination"});
  ASSERT_FALSE(u.ok());
  EXPECT_EQ(u.error().message().rfind("usages[1]: unknown usage \"world domination\"; known: \"signing\", "
                                     "\"digital signature\", ", 0),
            0u)
      << u.error().message();
}

TEST(Usages, DuplicateExtendedUsagesAreMerged) {
  auto u = ParseUsages({"email protection", "s/mime"});
  ASSERT_TRUE(u.ok());
  EXPECT_EQ(u->extended, std::vector<int>{NID_email_protect});
}

}  // namespace
}  // namespace certwright::signer
