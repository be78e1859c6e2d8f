#include <openssl/pem.h>

#include "certwright/signer/pem.h"

#include <gtest/gtest.h>

#include "support/test_ca.h"

namespace certwright::signer {
namespace {

using testing::MakeSoftwareCa;

TEST(Pem, ParsesAChainInOrderAndIgnoresTextBetweenBlocks) {
  auto a = MakeSoftwareCa(KeySpec::EcdsaP256());
  auto b = MakeSoftwareCa(KeySpec::Ed25519());
  auto certs = ParseCertificates("subject=foo\n" + a.pem + "\n# comment\n" + b.pem);
  ASSERT_TRUE(certs.ok()) << certs.error().message();
  ASSERT_EQ(certs->size(), 2u);
  EXPECT_EQ(X509_cmp(certs->at(0).get(), a.ca->certificate()), 0);
  EXPECT_EQ(X509_cmp(certs->at(1).get(), b.ca->certificate()), 0);
}

TEST(Pem, AcceptsDer) {
  auto a = MakeSoftwareCa(KeySpec::EcdsaP256());
  auto der = ossl::CertificateToDer(a.ca->certificate());
  ASSERT_TRUE(der.ok());
  auto certs = ParseCertificates(std::string(der->begin(), der->end()));
  ASSERT_TRUE(certs.ok()) << certs.error().message();
  EXPECT_EQ(certs->size(), 1u);
}

TEST(Pem, NamesTheBlockThatIsWrong) {
  auto a = MakeSoftwareCa(KeySpec::EcdsaP256());
  std::string truncated = a.pem.substr(0, a.pem.size() / 2);
  struct Row { std::string input; std::string prefix; };
  const std::vector<Row> rows = {
      {"", "certificate input is empty"},
      {"hello", "DER certificate is not valid DER ("},
      {"-----BEGIN CERTIFICATE-----\nnot base64!!\n-----END CERTIFICATE-----\n",
       "certificate input: PEM block 1 is malformed ("},
      {a.pem + truncated, "certificate input: PEM block 2 is malformed ("},
      {a.pem + "-----BEGIN PRIVATE KEY-----\nAAAA\n-----END PRIVATE KEY-----\n",
       "PEM block 2 is a \"PRIVATE KEY\", expected \"CERTIFICATE\""},
      {"-----BEGIN CERTIFICATE-----\nAAAA\n-----END CERTIFICATE-----\n",
       "PEM block 1 (CERTIFICATE) is not valid DER ("},
      {std::string(kMaxInputBytes + 1, 'A'), "certificate input is 262145 bytes; the limit is 262144"},
  };
  for (const auto& row : rows) {
    auto certs = ParseCertificates(row.input);
    ASSERT_FALSE(certs.ok()) << row.prefix;
    EXPECT_EQ(certs.error().message().substr(0, row.prefix.size()), row.prefix) << certs.error().message();
    EXPECT_EQ(certs.error().kind(), ErrorKind::kInvalidArgument);
  }
}

TEST(Pem, DerWithTrailingBytesIsRefused) {
  auto a = MakeSoftwareCa(KeySpec::EcdsaP256());
  auto der = ossl::CertificateToDer(a.ca->certificate());
  std::string input(der->begin(), der->end());
  input += "xx";
  auto certs = ParseCertificates(input);
  ASSERT_FALSE(certs.ok());
  EXPECT_EQ(certs.error().message(), "DER certificate has 2 bytes of trailing data after the DER structure");
}

TEST(Pem, PrivateKeysInEveryCommonEncoding) {
  for (auto spec : {KeySpec::EcdsaP256(), KeySpec::Rsa(2048), KeySpec::Ed25519()}) {
    auto key = testing::GenerateTestKey(spec);
    ossl::Bio bio(BIO_new(BIO_s_mem()));
    ASSERT_EQ(PEM_write_bio_PrivateKey(bio.get(), key.get(), nullptr, nullptr, 0, nullptr, nullptr), 1);
    char* data = nullptr;
    long len = BIO_get_mem_data(bio.get(), &data);
    auto parsed = ParsePrivateKey(std::string(data, static_cast<size_t>(len)));
    ASSERT_TRUE(parsed.ok()) << parsed.error().message();
    EXPECT_TRUE(ossl::SamePublicKey(parsed->get(), key.get()));
  }
  // Traditional SEC 1 "EC PRIVATE KEY" with an "EC PARAMETERS" block before it, as
  // `openssl ecparam -genkey` writes it.
  auto ec = testing::GenerateTestKey(KeySpec::EcdsaP256());
  ossl::Bio bio(BIO_new(BIO_s_mem()));
  ASSERT_EQ(PEM_write_bio_PrivateKey_traditional(bio.get(), ec.get(), nullptr, nullptr, 0, nullptr, nullptr), 1);
  char* data = nullptr;
  long len = BIO_get_mem_data(bio.get(), &data);
  std::string pem(data, static_cast<size_t>(len));
  ASSERT_NE(pem.find("EC PRIVATE KEY"), std::string::npos);
  auto parsed = ParsePrivateKey("-----BEGIN EC PARAMETERS-----\nBggqhkjOPQMBBw==\n-----END EC PARAMETERS-----\n" + pem);
  ASSERT_TRUE(parsed.ok()) << parsed.error().message();
}

TEST(Pem, EncryptedKeysAreRefusedWithAMessage) {
  auto key = testing::GenerateTestKey(KeySpec::EcdsaP256());
  ossl::Bio bio(BIO_new(BIO_s_mem()));
  const char* pass = "pw";
  ASSERT_EQ(PEM_write_bio_PKCS8PrivateKey(bio.get(), key.get(), EVP_aes_256_cbc(), nullptr, 0, nullptr,
                                          const_cast<char*>(pass)), 1);
  char* data = nullptr;
  long len = BIO_get_mem_data(bio.get(), &data);
  auto parsed = ParsePrivateKey(std::string(data, static_cast<size_t>(len)));
  ASSERT_FALSE(parsed.ok());
  EXPECT_EQ(parsed.error().message(), "private key is encrypted; provide an unencrypted PKCS#8 key");
}

TEST(Pem, ReadFileBoundedNamesThePath) {
  auto missing = ReadFileBounded("/nonexistent/certwright/ca.pem");
  ASSERT_FALSE(missing.ok());
  EXPECT_EQ(missing.error().message(), "/nonexistent/certwright/ca.pem: no such file");
  EXPECT_EQ(missing.error().kind(), ErrorKind::kNotFound);
  auto dir = ReadFileBounded("/tmp");
  ASSERT_FALSE(dir.ok());
  EXPECT_EQ(dir.error().message(), "/tmp: is a directory, expected a file");
  auto big = ReadFileBounded("/proc/self/exe", 16);
  ASSERT_FALSE(big.ok());
  EXPECT_NE(big.error().message().find("the limit is 16"), std::string::npos);
}

}  // namespace
}  // namespace certwright::signer
