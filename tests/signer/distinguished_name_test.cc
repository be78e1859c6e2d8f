#include <gtest/gtest.h>

#include "certwright/signer/x509.h"

namespace certwright::signer {
namespace {

TEST(DistinguishedName, Rfc4514IsReversedIntoAsn1Order) {
  auto dn = DistinguishedName::Parse("CN=web,O=Example\\, Inc.,C=DE");
  ASSERT_TRUE(dn.ok()) << dn.error().message();
  ASSERT_EQ(dn->attributes().size(), 3u);
  EXPECT_EQ(dn->attributes()[0], (DistinguishedName::Attribute{"C", "DE"}));
  EXPECT_EQ(dn->attributes()[1], (DistinguishedName::Attribute{"O", "Example, Inc."}));
  EXPECT_EQ(dn->attributes()[2], (DistinguishedName::Attribute{"CN", "web"}));
  EXPECT_EQ(dn->ToString(), "CN=web,O=Example\\, Inc.,C=DE");
  EXPECT_EQ(dn->CommonName(), "web");
}

TEST(DistinguishedName, SlashFormKeepsItsOrder) {
  auto dn = DistinguishedName::Parse("/C=DE/O=Example/CN=web");
  ASSERT_TRUE(dn.ok());
  EXPECT_EQ(dn->ToString(), "CN=web,O=Example,C=DE");
}

TEST(DistinguishedName, AcceptsLowercaseTypesHexEscapesAndOids) {
  auto dn = DistinguishedName::Parse("cn=caf\\C3\\A9, ou = Platform ,2.5.4.10=Org");
  ASSERT_TRUE(dn.ok()) << dn.error().message();
  EXPECT_EQ(dn->ToString(), "CN=caf\xC3\xA9,OU=Platform,O=Org");
}

TEST(DistinguishedName, RoundTripsThroughX509Name) {
  auto dn = DistinguishedName::Parse("CN=web,OU=a+b,O=Ex,L=Berlin,ST=BE,C=DE");
  EXPECT_FALSE(dn.ok());  // '+' unescaped: a multi-valued RDN
  dn = DistinguishedName::Parse("CN=web,OU=a\\+b,O=Ex,L=Berlin,ST=BE,C=DE");
  ASSERT_TRUE(dn.ok()) << dn.error().message();
  auto name = dn->ToX509Name();
  ASSERT_TRUE(name.ok());
  auto back = DistinguishedName::FromX509Name(name->get());
  ASSERT_TRUE(back.ok());
  EXPECT_EQ(back->ToString(), dn->ToString());
}

TEST(DistinguishedName, RejectsBadSubjectsWithMessages) {
  struct Row { std::string text; std::string message; };
  const std::vector<Row> rows = {
      {"CN=a,,O=b", "subject \"CN=a,,O=b\" has an empty RDN"},
      {"CN", "subject \"CN\": \"CN\" is not of the form TYPE=value"},
      {"XX=a", "unknown attribute type \"XX\"; use CN, O, OU, C, L, ST, STREET, DC, UID, serialNumber, postalCode"},
      {"CN=", "subject attribute CN has an empty value"},
      {"CN=a+OU=b", "subject \"CN=a+OU=b\": multi-valued RDNs ('+') are not supported"},
      {"CN=a\\", "value \"a\\\" ends with a lone backslash"},
  };
  for (const auto& row : rows) {
    auto dn = DistinguishedName::Parse(row.text);
    ASSERT_FALSE(dn.ok()) << row.text;
    EXPECT_EQ(dn.error().message(), row.message) << row.text;
  }
}

TEST(DistinguishedName, EnforcesRfc5280UpperBounds) {
  auto dn = DistinguishedName::Parse("CN=" + std::string(65, 'a'));
  ASSERT_TRUE(dn.ok());
  auto name = dn->ToX509Name();
  ASSERT_FALSE(name.ok());
  EXPECT_EQ(name.error().message(), "subject CN \"" + std::string(65, 'a') +
                                        "\" is 65 characters; RFC 5280 allows at most 64");
  auto country = DistinguishedName::Parse("C=DEU");
  ASSERT_TRUE(country.ok());
  EXPECT_FALSE(country->ToX509Name().ok());
}

}  // namespace
}  // namespace certwright::signer
