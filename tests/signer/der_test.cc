#include "certwright/signer/der.h"

#include <gtest/gtest.h>

#include "certwright/signer/ossl.h"
#include "support/test_ca.h"

namespace certwright::signer {
namespace {

using ossl::FromHex;

Status Check(std::string_view hex) {
  const Bytes der = FromHex(hex);
  return CheckStrictDer(der, "input");
}

TEST(StrictDer, AcceptsDerAtEveryLevel) {
  for (const char* hex : {"0500", "020100", "02020080", "0201ff", "0101ff", "010100", "300706035504030500",
                          "3100", "a003020101", "030100", "03020780", "0603550403", "06062a864886f70d",
                          "1f2101ff"}) {
    EXPECT_TRUE(Check(hex).ok()) << hex << ": " << Check(hex).error().message();
  }
  Bytes long_form = {0x04, 0x81, 0x80};  // 128 needs the long form
  long_form.resize(3 + 128);
  EXPECT_TRUE(CheckStrictDer(long_form, "input").ok());
}

TEST(StrictDer, AcceptsACertificateOpenSslWrote) {
  auto ca = testing::MakeSoftwareCa(KeySpec::Rsa(2048));
  auto der = ossl::CertificateToDer(ca.ca->certificate());
  ASSERT_TRUE(der.ok());
  auto checked = CheckStrictDer(*der, "certificate");
  EXPECT_TRUE(checked.ok()) << checked.error().message();
}

TEST(StrictDer, EachBerLiberty) {
  struct Row { const char* hex; std::string message; };
  const std::string p = "input is not DER (X.690 §10): ";
  const std::vector<Row> rows = {
      {"", p + "a value cut short at byte 0"},
      {"30", p + "a length cut short at byte 0"},
      {"308005000000", p + "an indefinite length at byte 1"},
      {"3081020500", p + "a length not in its shortest form at byte 1"},
      {"308200020500", p + "a length not in its shortest form at byte 1"},
      {"3085000000000200", p + "a length of more than 4 bytes at byte 1"},
      {"30050500", p + "a value longer than what contains it at byte 0"},
      {"30020502", p + "a value longer than what contains it at byte 2"},
      {"30020500ff", p + "bytes after the end of the value at byte 4"},
      {"300405000500" "00", p + "bytes after the end of the value at byte 6"},
      {"2403040100", p + "a constructed OCTET STRING (DER requires the primitive form) at byte 0"},
      {"2c00", p + "a constructed string (DER requires the primitive form) at byte 0"},
      {"1000", p + "a primitive SEQUENCE at byte 0"},
      {"010101", p + "a BOOLEAN other than 00 or FF at byte 0"},
      {"0100", p + "a BOOLEAN other than 00 or FF at byte 0"},
      {"02020001", p + "an INTEGER not in its shortest form at byte 0"},
      {"0202ff80", p + "an INTEGER not in its shortest form at byte 0"},
      {"0200", p + "an empty INTEGER at byte 0"},
      {"050100", p + "a NULL with contents at byte 0"},
      {"0300", p + "a BIT STRING with invalid unused bits at byte 0"},
      {"030108", p + "a BIT STRING with invalid unused bits at byte 0"},
      {"03020101", p + "a BIT STRING with invalid unused bits at byte 0"},
      {"0603558003", p + "an OBJECT IDENTIFIER not in its shortest form at byte 0"},
      {"060155" "81", p + "bytes after the end of the value at byte 3"},
      {"060181", p + "an OBJECT IDENTIFIER cut short at byte 0"},
      {"1f0100", p + "a tag number not in its shortest form at byte 0"},
      {"1f800100", p + "a tag number not in its shortest form at byte 0"},
      {"3005" "3081020500", p + "a length not in its shortest form at byte 3"},
  };
  for (const auto& row : rows) {
    std::string hex;
    for (const char* c = row.hex; *c; ++c) {
      if (*c != ' ') hex += *c;
    }
    auto checked = Check(hex);
    ASSERT_FALSE(checked.ok()) << row.hex;
    EXPECT_EQ(checked.error().kind(), ErrorKind::kInvalidArgument);
    EXPECT_EQ(checked.error().message(), row.message) << row.hex;
  }
}

TEST(StrictDer, NestingIsBounded) {
  Bytes der = {0x05, 0x00};
  for (int i = 0; i < 70; ++i) {
    Bytes outer = {0x30, static_cast<uint8_t>(der.size())};
    if (der.size() >= 0x80) outer = {0x30, 0x81, static_cast<uint8_t>(der.size())};
    outer.insert(outer.end(), der.begin(), der.end());
    der = outer;
  }
  auto checked = CheckStrictDer(der, "input");
  ASSERT_FALSE(checked.ok());
  EXPECT_NE(checked.error().message().find("nesting deeper than 64 levels"), std::string::npos)
      << checked.error().message();
}

}  // namespace
}  // namespace certwright::signer
