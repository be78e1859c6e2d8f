#include "certwright/signer/key_uri.h"

#include <gtest/gtest.h>

namespace certwright::signer {
namespace {

TEST(KeyUri, ParsesPkcs11PathAndQueryAttributesInOrder) {
  auto uri = KeyUri::Parse("pkcs11:token=ca;object=issuing%20ca;id=%01%02?module-path=/usr/lib/x.so&pin-source=/run/pin");
  ASSERT_TRUE(uri.ok()) << uri.error().message();
  EXPECT_EQ(uri->scheme(), "pkcs11");
  ASSERT_EQ(uri->path_attributes().size(), 3u);
  EXPECT_EQ(uri->path_attributes()[0], (std::pair<std::string, std::string>{"token", "ca"}));
  EXPECT_EQ(uri->path_attribute("object"), "issuing ca");
  EXPECT_EQ(uri->path_attribute("id"), std::string("\x01\x02", 2));
  EXPECT_EQ(uri->query_attribute("module-path"), "/usr/lib/x.so");
  EXPECT_EQ(uri->query_attribute("pin-source"), "/run/pin");
  EXPECT_EQ(uri->query_attribute("pin-value"), std::nullopt);
}

TEST(KeyUri, SchemeIsCaseInsensitive) {
  auto uri = KeyUri::Parse("PKCS11:token=a;object=b");
  ASSERT_TRUE(uri.ok());
  EXPECT_EQ(uri->scheme(), "pkcs11");
}

TEST(KeyUri, FileUrisCarryAPath) {
  struct Row { const char* text; const char* path; };
  for (const Row& row : {Row{"file:/etc/ca.key", "/etc/ca.key"}, Row{"file:///etc/ca.key", "/etc/ca.key"},
                         Row{"file://localhost/etc/ca.key", "/etc/ca.key"}, Row{"file:ca.key", "ca.key"},
                         Row{"file:/a%20b/key.pem", "/a b/key.pem"}}) {
    auto uri = KeyUri::Parse(row.text);
    ASSERT_TRUE(uri.ok()) << row.text << ": " << uri.error().message();
    EXPECT_EQ(uri->file_path(), row.path) << row.text;
  }
}

TEST(KeyUri, RedactedHidesPinValueButKeepsTheRest) {
  auto uri = KeyUri::Parse("pkcs11:token=ca;object=k?module-path=/m.so&pin-value=secret123");
  ASSERT_TRUE(uri.ok());
  EXPECT_EQ(uri->Redacted(), "pkcs11:token=ca;object=k?module-path=/m.so&pin-value=***");
  EXPECT_EQ(uri->Redacted().find("secret123"), std::string::npos);
}

TEST(KeyUri, RejectsMalformedUrisWithMessagesNamingTheProblem) {
  struct Row { std::string text; std::string message; };
  const std::vector<Row> rows = {
      {"", "key URI is empty"},
      {"token=ca", "key URI \"token=ca\" has no scheme: expected pkcs11:, file: or awskms:"},
      {":x", "key URI \":x\" has no scheme: expected pkcs11:, file: or awskms:"},
      {"pkcs11:token", "pkcs11 URI path attribute \"token\" is not of the form name=value"},
      {"pkcs11:token=a;;object=b", "pkcs11 URI has an empty path attribute"},
      {"pkcs11:token=a;token=b", "pkcs11 URI attribute \"token\" appears more than once"},
      {"pkcs11:token=a%2", "pkcs11 URI attribute \"token\": truncated percent-escape at the end of \"a%2\""},
      {"pkcs11:object=a%zz", "pkcs11 URI attribute \"object\": invalid percent-escape \"%zz\""},
      {"pkcs11:Token=a", "pkcs11 URI attribute name \"Token\" may contain only lowercase letters, digits and '-'"},
      {"pkcs11:token=a?=x", "pkcs11 URI query attribute \"=x\" is not of the form name=value"},
      {"file:", "file URI has no path"},
      {"file://example.com/key", "file URI names host \"example.com\": only local files are supported"},
      {std::string("pkcs11:object=") + std::string(5000, 'a'), "key URI is 5014 characters long; the limit is 4096"},
  };
  for (const auto& row : rows) {
    auto uri = KeyUri::Parse(row.text);
    ASSERT_FALSE(uri.ok()) << row.text;
    EXPECT_EQ(uri.error().message(), row.message) << row.text.substr(0, 60);
    EXPECT_EQ(uri.error().kind(), ErrorKind::kInvalidArgument);
  }
}

TEST(KeyUri, AMalformedSecretIsNotQuotedInTheError) {
  for (const char* text : {"pkcs11:token=a?pin-value=12%3", "pkcs11:token=a?pin-value=1234%zz56",
                           "awskms:key-id=k;region=eu-west-1?access-key-id=AKID&secret-access-key=s3cr3t%"}) {
    auto uri = KeyUri::Parse(text);
    ASSERT_FALSE(uri.ok()) << text;
    EXPECT_EQ(uri.error().message().find("12"), std::string::npos) << uri.error().message();
    EXPECT_EQ(uri.error().message().find("s3cr3t"), std::string::npos) << uri.error().message();
  }
  EXPECT_EQ(KeyUri::Parse("pkcs11:token=a?pin-value=12%3").error().message(),
            "pkcs11 URI attribute \"pin-value\" has a malformed percent-escape (the value is secret and not shown)");
}

TEST(KeyUri, CheckAttributesNamesUnknownAndMisplacedOnes) {
  auto uri = KeyUri::Parse("pkcs11:token=a;colour=red");
  ASSERT_TRUE(uri.ok());
  auto s = CheckAttributes(*uri, {"token", "object"}, {"module-path"});
  ASSERT_FALSE(s.ok());
  EXPECT_EQ(s.error().message(), "pkcs11 URI has unknown path attribute \"colour\"; known: token, object");

  auto misplaced = KeyUri::Parse("pkcs11:token=a;module-path=/m.so");
  ASSERT_TRUE(misplaced.ok());
  auto m = CheckAttributes(*misplaced, {"token", "object"}, {"module-path"});
  ASSERT_FALSE(m.ok());
  EXPECT_EQ(m.error().message(), "pkcs11 URI attribute \"module-path\" belongs in the query (after '?')");

  auto vendor = KeyUri::Parse("pkcs11:token=a;x-vendor=1");
  ASSERT_TRUE(vendor.ok());
  EXPECT_TRUE(CheckAttributes(*vendor, {"token"}, {}).ok());
}

TEST(KeyUri, PercentEncodeRoundTrips) {
  const std::string raw = std::string("a b;c?d&e=%\x01\xff", 14);
  auto back = PercentDecode(PercentEncode(raw));
  ASSERT_TRUE(back.ok());
  EXPECT_EQ(*back, raw);
}

}  // namespace
}  // namespace certwright::signer
