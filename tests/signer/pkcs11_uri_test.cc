#include "pkcs11/pkcs11_uri.h"

#include <gtest/gtest.h>

namespace certwright::signer::pkcs11 {
namespace {

Result<Pkcs11Uri> Parse(const std::string& text) {
  auto uri = KeyUri::Parse(text);
  if (!uri) return std::move(uri).error();
  return Pkcs11Uri::FromKeyUri(*uri);
}

TEST(Pkcs11Uri, ReadsTokenKeyModuleAndPin) {
  auto uri = Parse("pkcs11:token=ca;object=root;id=%0a%0b;type=private;slot-id=3?module-path=/usr/lib/softhsm/"
                   "libsofthsm2.so&pin-source=file:/run/pin");
  ASSERT_TRUE(uri.ok()) << uri.error().message();
  EXPECT_EQ(uri->token, "ca");
  EXPECT_EQ(uri->object, "root");
  EXPECT_EQ(uri->id, (Bytes{0x0a, 0x0b}));
  EXPECT_EQ(uri->slot_id, 3u);
  EXPECT_EQ(uri->module_path, "/usr/lib/softhsm/libsofthsm2.so");
  EXPECT_EQ(uri->pin_source, "/run/pin");
  EXPECT_EQ(uri->KeyDescription(), "object \"root\" id 0a0b");
  EXPECT_EQ(uri->TokenDescription(), "token \"ca\"");
}

TEST(Pkcs11Uri, PinValueIsKeptButNeverInTheRedactedText) {
  auto uri = Parse("pkcs11:token=ca;object=root?module-path=/m.so&pin-value=1234");
  ASSERT_TRUE(uri.ok());
  EXPECT_EQ(uri->pin_value, "1234");
  EXPECT_EQ(uri->redacted.find("1234"), std::string::npos);
}

TEST(Pkcs11Uri, RejectsWhatTheBackendCannotUseWithExactMessages) {
  struct Row { std::string text; std::string message; };
  const std::vector<Row> rows = {
      {"pkcs11:object=k?module-path=/m.so", "pkcs11 URI must select a token with \"token\", \"serial\" or \"slot-id\""},
      {"pkcs11:token=ca?module-path=/m.so", "pkcs11 URI must name the key with \"object\" (label) or \"id\""},
      {"pkcs11:token=ca;object=k", "pkcs11 URI needs \"module-path\" (or \"module-name\") to know which PKCS#11 module to load"},
      {"pkcs11:token=ca;object=k?module-path=lib.so", "pkcs11 URI attribute \"module-path\" must be an absolute path, got \"lib.so\""},
      {"pkcs11:token=ca;object=k?module-path=/m.so&module-name=m", "pkcs11 URI has both \"module-path\" and \"module-name\"; give one"},
      {"pkcs11:token=ca;object=k?module-name=a/b", "pkcs11 URI attribute \"module-name\" must be a bare name such as \"softhsm2\""},
      {"pkcs11:token=ca;object=k;slot-id=x1?module-path=/m.so", "pkcs11 URI attribute \"slot-id\" must be a decimal number, got \"x1\""},
      {"pkcs11:token=ca;object=k;type=public?module-path=/m.so", "pkcs11 URI attribute \"type\" must be \"private\" for a signing key, got \"public\""},
      {"pkcs11:token=ca;object=k;id=?module-path=/m.so", "pkcs11 URI attribute \"id\" is empty"},
      {"pkcs11:token=ca;object=k?module-path=/m.so&pin-value=1&pin-source=/p", "pkcs11 URI has both \"pin-value\" and \"pin-source\"; give one"},
      {"pkcs11:token=ca;object=k?module-path=/m.so&pin-source=pin.txt", "pkcs11 URI attribute \"pin-source\" must be an absolute file path or file: URI"},
      {"pkcs11:token=ca;object=k;pin=1?module-path=/m.so", "pkcs11 URI has unknown path attribute \"pin\"; known: token, manufacturer, serial, model, library-manufacturer, library-description, library-version, object, type, id, slot-manufacturer, slot-description, slot-id"},
      {"pkcs11:token=ca;object=k;pin-value=1?module-path=/m.so", "pkcs11 URI attribute \"pin-value\" belongs in the query (after '?')"},
      {"pkcs11:token=ca;object=k?module-path=/m.so&object=x", "pkcs11 URI attribute \"object\" belongs in the path (before '?')"},
      {"pkcs11:token=ca;object=k?module-name=no-such-module-xyz", "pkcs11 URI attribute \"module-name\": no module \"no-such-module-xyz\" in the PKCS#11 module directories; give \"module-path\" instead"},
  };
  for (const auto& row : rows) {
    auto uri = Parse(row.text);
    ASSERT_FALSE(uri.ok()) << row.text;
    EXPECT_EQ(uri.error().message(), row.message) << row.text;
  }
}

TEST(Pkcs11Uri, ModuleNameIsFoundInTheModuleDirectories) {
  auto uri = Parse("pkcs11:token=ca;object=k?module-name=softhsm2");
  ASSERT_TRUE(uri.ok()) << uri.error().message();
  EXPECT_EQ(uri->module_path, "/usr/lib/softhsm/libsofthsm2.so");
}

}  // namespace
}  // namespace certwright::signer::pkcs11
