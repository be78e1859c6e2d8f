#include "certwright/signer/trust_store.h"

#include <openssl/pem.h>
#include <openssl/pkcs12.h>
#include <openssl/sha.h>

#include <gtest/gtest.h>

#include "support/test_ca.h"

namespace certwright::signer {
namespace {

using testing::MakeSoftwareCa;
using Clock = std::chrono::system_clock;

uint32_t U32(const ossl::Bytes& b, size_t at) {
  return uint32_t{b[at]} << 24 | uint32_t{b[at + 1]} << 16 | uint32_t{b[at + 2]} << 8 | b[at + 3];
}

TEST(TrustStore, DeduplicatesAndSortsWhateverTheOrderOfTheSources) {
  auto a = MakeSoftwareCa(KeySpec::EcdsaP256());
  auto b = MakeSoftwareCa(KeySpec::Ed25519());
  auto c = MakeSoftwareCa(KeySpec::EcdsaP384());
  TrustSetBuilder one;
  ASSERT_TRUE(one.AddPem(a.pem + "comment\n" + b.pem, "source one").ok());
  one.Add(c.ca->certificate(), "issuer c");
  ASSERT_TRUE(one.AddPem(a.pem, "source two").ok());
  TrustSetBuilder two;
  ASSERT_TRUE(two.AddPem(c.pem + b.pem + a.pem + c.pem, "all").ok());
  const auto now = Clock::now();
  TrustSet x = one.Build(now), y = two.Build(now);
  ASSERT_EQ(x.anchors.size(), 3u);
  EXPECT_TRUE(x.dropped.empty());
  EXPECT_LT(x.anchors[0].sha256, x.anchors[1].sha256);
  EXPECT_LT(x.anchors[1].sha256, x.anchors[2].sha256);
  EXPECT_EQ(x.Pem(), y.Pem());
  EXPECT_EQ(x.Sha256(), y.Sha256());
  EXPECT_EQ(x.Sha256().size(), 64u);
  // The first source that had it is remembered, for messages.
  for (const auto& anchor : x.anchors) {
    if (X509_cmp(anchor.cert.get(), a.ca->certificate()) == 0) {
      EXPECT_EQ(anchor.source, "source one");
    }
    if (X509_cmp(anchor.cert.get(), c.ca->certificate()) == 0) {
      EXPECT_EQ(anchor.source, "issuer c");
    }
  }
  auto jx = EncodeJks(x, "changeit"), jy = EncodeJks(y, "changeit");
  ASSERT_TRUE(jx.ok() && jy.ok());
  EXPECT_EQ(*jx, *jy);  // deterministic: a controller can compare it with what is written
}

TEST(TrustStore, DropsExpiredAndNotYetValidCertificatesAndSaysWhich) {
  auto short_lived = MakeSoftwareCa(KeySpec::EcdsaP256(), {}, std::nullopt, std::chrono::hours(1));
  auto long_lived = MakeSoftwareCa(KeySpec::EcdsaP256(), {}, std::nullopt, std::chrono::hours(24 * 30));
  TrustSetBuilder builder;
  ASSERT_TRUE(builder.AddPem(short_lived.pem + long_lived.pem, "ConfigMap certwright/roots key ca.crt").ok());
  TrustSet later = builder.Build(Clock::now() + std::chrono::hours(2));
  ASSERT_EQ(later.anchors.size(), 1u);
  EXPECT_EQ(X509_cmp(later.anchors[0].cert.get(), long_lived.ca->certificate()), 0);
  ASSERT_EQ(later.dropped.size(), 1u);
  EXPECT_NE(later.dropped[0].find("has expired"), std::string::npos) << later.dropped[0];
  EXPECT_NE(later.dropped[0].find("from ConfigMap certwright/roots key ca.crt"), std::string::npos) << later.dropped[0];
  TrustSet earlier = builder.Build(Clock::now() - std::chrono::hours(1));
  EXPECT_TRUE(earlier.anchors.empty());
  ASSERT_EQ(earlier.dropped.size(), 2u);
  EXPECT_NE(earlier.dropped[0].find("is not valid yet"), std::string::npos) << earlier.dropped[0];
  EXPECT_EQ(earlier.Pem(), "");
}

TEST(TrustStore, RefusesWhatIsNotACertificateAndNamesTheSourceAndBlock) {
  auto a = MakeSoftwareCa(KeySpec::EcdsaP256());
  auto key = testing::GenerateTestKey(KeySpec::EcdsaP256());
  ossl::Bio bio(BIO_new(BIO_s_mem()));
  ASSERT_EQ(PEM_write_bio_PrivateKey(bio.get(), key.get(), nullptr, nullptr, 0, nullptr, nullptr), 1);
  char* data = nullptr;
  const std::string key_pem(data, static_cast<size_t>(BIO_get_mem_data(bio.get(), &data)));
  const std::string key_body = key_pem.substr(key_pem.find('\n') + 1, 40);

  struct Row {
    std::string input, message;
  };
  const std::vector<Row> rows = {
      {a.pem + key_pem, "Secret certwright/roots key ca.crt: PEM block 2 is a \"PRIVATE KEY\"; a trust source holds "
                        "CERTIFICATE blocks only"},
      {"", "Secret certwright/roots key ca.crt contains no PEM block"},
      {"just text", "Secret certwright/roots key ca.crt contains no PEM block"},
      {"-----BEGIN CERTIFICATE-----\nAAAA\n-----END CERTIFICATE-----\n",
       "Secret certwright/roots key ca.crt: PEM block 1 is not a valid DER certificate"},
      {std::string(kMaxTrustSourceBytes + 1, 'x'), "Secret certwright/roots key ca.crt is 1048577 bytes; the limit is"},
  };
  for (const auto& row : rows) {
    TrustSetBuilder builder;
    auto status = builder.AddPem(row.input, "Secret certwright/roots key ca.crt");
    ASSERT_FALSE(status.ok()) << row.message;
    EXPECT_EQ(status.error().kind(), ErrorKind::kInvalidArgument);
    EXPECT_EQ(status.error().message().rfind(row.message, 0), 0u) << status.error().message();
    EXPECT_EQ(status.error().message().find(key_body), std::string::npos);
    EXPECT_EQ(builder.size(), 0u) << "a failed source adds nothing";
  }
}

TEST(TrustStore, JksHasOneTrustedEntryPerAnchorAndKeytoolsIntegrityDigest) {
  auto a = MakeSoftwareCa(KeySpec::EcdsaP256());
  auto b = MakeSoftwareCa(KeySpec::Rsa(2048));
  TrustSetBuilder builder;
  ASSERT_TRUE(builder.AddPem(a.pem + b.pem, "inline").ok());
  TrustSet set = builder.Build(Clock::now());
  auto jks = EncodeJks(set, "s3cret-ü");
  ASSERT_TRUE(jks.ok()) << jks.error().message();
  const ossl::Bytes& j = *jks;
  EXPECT_EQ(U32(j, 0), 0xFEEDFEEDu);
  EXPECT_EQ(U32(j, 4), 2u);
  EXPECT_EQ(U32(j, 8), 2u);
  size_t at = 12;
  for (const auto& anchor : set.anchors) {
    EXPECT_EQ(U32(j, at), 2u) << "trustedCertEntry";
    const size_t alias_len = size_t{j[at + 4]} << 8 | j[at + 5];
    EXPECT_EQ(std::string(j.begin() + static_cast<long>(at + 6), j.begin() + static_cast<long>(at + 6 + alias_len)),
              anchor.sha256);
    at += 6 + alias_len + 8;
    EXPECT_EQ(std::string(j.begin() + static_cast<long>(at + 2), j.begin() + static_cast<long>(at + 7)), "X.509");
    at += 7;
    const size_t der_len = U32(j, at);
    EXPECT_EQ(ossl::Bytes(j.begin() + static_cast<long>(at + 4), j.begin() + static_cast<long>(at + 4 + der_len)),
              anchor.der);
    at += 4 + der_len;
  }
  ASSERT_EQ(j.size(), at + 20);
  // SHA-1(UTF-16BE password, "Mighty Aphrodite", store): computed here independently.
  const std::u16string password = u"s3cret-ü";
  std::string input;
  for (char16_t c : password) {
    input += static_cast<char>(c >> 8);
    input += static_cast<char>(c & 0xFF);
  }
  input += "Mighty Aphrodite";
  input.append(j.begin(), j.begin() + static_cast<long>(at));
  unsigned char digest[20];
  SHA1(reinterpret_cast<const unsigned char*>(input.data()), input.size(), digest);
  EXPECT_EQ(ossl::Bytes(j.begin() + static_cast<long>(at), j.end()), ossl::Bytes(digest, digest + 20));
  auto other = EncodeJks(set, "other");
  ASSERT_TRUE(other.ok());
  EXPECT_NE(ossl::Bytes(other->end() - 20, other->end()), ossl::Bytes(j.end() - 20, j.end()));
  EXPECT_FALSE(EncodeJks(set, std::string("\xff\xfe", 2)).ok()) << "not UTF-8";
}

TEST(TrustStore, Pkcs12OpensWithItsPasswordOnlyAndCarriesJavasTrustAttribute) {
  auto a = MakeSoftwareCa(KeySpec::EcdsaP256());
  auto b = MakeSoftwareCa(KeySpec::Ed25519());
  TrustSetBuilder builder;
  ASSERT_TRUE(builder.AddPem(a.pem + b.pem, "inline").ok());
  TrustSet set = builder.Build(Clock::now());
  auto p12 = EncodePkcs12(set, "changeit");
  ASSERT_TRUE(p12.ok()) << p12.error().message();
  const unsigned char* p = p12->data();
  PKCS12* parsed = d2i_PKCS12(nullptr, &p, static_cast<long>(p12->size()));
  ASSERT_NE(parsed, nullptr);
  EXPECT_EQ(PKCS12_verify_mac(parsed, "changeit", -1), 1);
  EXPECT_EQ(PKCS12_verify_mac(parsed, "wrong", -1), 0);
  STACK_OF(PKCS7)* safes = PKCS12_unpack_authsafes(parsed);
  ASSERT_NE(safes, nullptr);
  ASSERT_EQ(sk_PKCS7_num(safes), 1);
  STACK_OF(PKCS12_SAFEBAG)* bags = PKCS12_unpack_p7encdata(sk_PKCS7_value(safes, 0), "changeit", -1);
  ASSERT_NE(bags, nullptr);
  ASSERT_EQ(sk_PKCS12_SAFEBAG_num(bags), 2);
  ASN1_OBJECT* trust = OBJ_txt2obj("2.16.840.1.113894.746875.1.1", 1);
  for (int i = 0; i < 2; ++i) {
    const PKCS12_SAFEBAG* bag = sk_PKCS12_SAFEBAG_value(bags, i);
    EXPECT_EQ(PKCS12_SAFEBAG_get_nid(bag), NID_certBag);
    char* name = PKCS12_get_friendlyname(const_cast<PKCS12_SAFEBAG*>(bag));
    ASSERT_NE(name, nullptr);
    EXPECT_EQ(std::string(name), set.anchors[static_cast<size_t>(i)].sha256);
    OPENSSL_free(name);
    bool found = false;
    const STACK_OF(X509_ATTRIBUTE)* attrs = PKCS12_SAFEBAG_get0_attrs(bag);
    for (int k = 0; k < sk_X509_ATTRIBUTE_num(attrs); ++k) {
      if (OBJ_cmp(X509_ATTRIBUTE_get0_object(sk_X509_ATTRIBUTE_value(attrs, k)), trust) == 0) found = true;
    }
    EXPECT_TRUE(found) << "bag " << i << " lacks the Java trusted-key-usage attribute";
    X509* cert = PKCS12_SAFEBAG_get1_cert(bag);
    ASSERT_NE(cert, nullptr);
    EXPECT_EQ(X509_cmp(cert, set.anchors[static_cast<size_t>(i)].cert.get()), 0);
    X509_free(cert);
  }
  ASN1_OBJECT_free(trust);
  sk_PKCS12_SAFEBAG_pop_free(bags, PKCS12_SAFEBAG_free);
  sk_PKCS7_pop_free(safes, PKCS7_free);
  PKCS12_free(parsed);
}

}  // namespace
}  // namespace certwright::signer
