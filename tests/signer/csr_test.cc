#include <gtest/gtest.h>
#include <openssl/dsa.h>
#include <openssl/pem.h>

#include "certwright/signer/pem.h"
#include "certwright/signer/x509.h"
#include "support/test_ca.h"

namespace certwright::signer {
namespace {

using testing::GenerateTestKey;
using testing::MakeCsrPem;

TEST(CertificateRequest, ParsesSubjectAndEveryKindOfName) {
  auto key = GenerateTestKey(KeySpec::EcdsaP256());
  auto pem = MakeCsrPem(key.get(), "web.example.com",
                        {"DNS:web.example.com", "DNS:*.web.example.com", "IP:10.0.0.1", "IP:2001:db8::1",
                         "URI:spiffe://cluster.local/ns/a/sa/b", "email:ops@example.com"});
  auto csr = CertificateRequest::Parse(pem);
  ASSERT_TRUE(csr.ok()) << csr.error().message();
  EXPECT_EQ(csr->subject.CommonName(), "web.example.com");
  EXPECT_EQ(csr->dns_names, (std::vector<std::string>{"web.example.com", "*.web.example.com"}));
  EXPECT_EQ(csr->ip_addresses, (std::vector<std::string>{"10.0.0.1", "2001:db8::1"}));
  EXPECT_EQ(csr->uris, std::vector<std::string>{"spiffe://cluster.local/ns/a/sa/b"});
  EXPECT_EQ(csr->email_addresses, std::vector<std::string>{"ops@example.com"});
  EXPECT_EQ(csr->key_spec, KeySpec::EcdsaP256());
  EXPECT_TRUE(ossl::SamePublicKey(csr->public_key.get(), key.get()));
}

TEST(CertificateRequest, AcceptsEveryKeyTypeWeIssueFor) {
  for (auto spec : {KeySpec::EcdsaP256(), KeySpec::EcdsaP384(), KeySpec::Ed25519(), KeySpec::Rsa(2048),
                    KeySpec::Rsa(3072), KeySpec::Rsa(4096)}) {
    auto key = GenerateTestKey(spec);
    auto csr = CertificateRequest::Parse(MakeCsrPem(key.get(), "x"));
    ASSERT_TRUE(csr.ok()) << KeySpecName(spec) << ": " << csr.error().message();
    EXPECT_EQ(csr->key_spec, spec);
  }
}

TEST(CertificateRequest, AlteredRequestFailsSignatureCheck) {
  auto key = GenerateTestKey(KeySpec::EcdsaP256());
  auto csr = CertificateRequest::Parse(MakeCsrPem(key.get(), "original.example.com"));
  ASSERT_TRUE(csr.ok());
  // Change the subject after signing: the signature no longer covers what is there.
  X509_NAME* name = X509_REQ_get_subject_name(csr->request.get());
  X509_NAME_add_entry_by_txt(name, "O", MBSTRING_UTF8, reinterpret_cast<const unsigned char*>("Evil"), -1, -1, 0);
  unsigned char* der = nullptr;
  int len = i2d_re_X509_REQ_tbs(csr->request.get(), nullptr);
  ASSERT_GT(len, 0);
  len = i2d_X509_REQ(csr->request.get(), &der);
  std::string tampered(reinterpret_cast<char*>(der), static_cast<size_t>(len));
  OPENSSL_free(der);
  auto parsed = CertificateRequest::Parse(tampered);
  ASSERT_FALSE(parsed.ok());
  EXPECT_EQ(parsed.error().message(),
            "certificate request signature does not verify: the request was altered or was not signed by the private "
            "key of the public key it carries");
}

TEST(CertificateRequest, SignedWithAnotherKeyFails) {
  auto key = GenerateTestKey(KeySpec::EcdsaP256());
  auto other = GenerateTestKey(KeySpec::EcdsaP256());
  ossl::X509Req req(X509_REQ_new());
  X509_REQ_set_pubkey(req.get(), key.get());
  X509_NAME_add_entry_by_txt(X509_REQ_get_subject_name(req.get()), "CN", MBSTRING_UTF8,
                             reinterpret_cast<const unsigned char*>("x"), -1, -1, 0);
  ASSERT_GT(X509_REQ_sign(req.get(), other.get(), EVP_sha256()), 0);
  auto pem = ossl::CsrToPem(req.get());
  auto parsed = CertificateRequest::Parse(*pem);
  ASSERT_FALSE(parsed.ok());
  EXPECT_NE(parsed.error().message().find("signature does not verify"), std::string::npos);
}

TEST(CertificateRequest, RejectsWeakAndUnsupportedKeys) {
  ossl::PKey rsa1024(EVP_RSA_gen(1024));
  auto weak = CertificateRequest::Parse(MakeCsrPem(rsa1024.get(), "x"));
  ASSERT_FALSE(weak.ok());
  EXPECT_EQ(weak.error().message(),
            "certificate request: RSA 1024 key is too weak: RSA keys must be at least 2048 bits");

  ossl::PKey p521(EVP_EC_gen("P-521"));
  auto curve = CertificateRequest::Parse(MakeCsrPem(p521.get(), "x"));
  ASSERT_FALSE(curve.ok());
  EXPECT_EQ(curve.error().message(),
            "certificate request: ECDSA P-521 key is not supported: ECDSA keys must use P-256 or P-384");

  ossl::PKeyCtx pctx(EVP_PKEY_CTX_new_from_name(nullptr, "DSA", nullptr));
  EVP_PKEY* raw_params = nullptr;
  ASSERT_EQ(EVP_PKEY_paramgen_init(pctx.get()), 1);
  ASSERT_EQ(EVP_PKEY_CTX_set_dsa_paramgen_bits(pctx.get(), 2048), 1);
  ASSERT_EQ(EVP_PKEY_paramgen(pctx.get(), &raw_params), 1);
  ossl::PKey params(raw_params);
  ossl::PKeyCtx kctx(EVP_PKEY_CTX_new_from_pkey(nullptr, params.get(), nullptr));
  EVP_PKEY* raw_dsa = nullptr;
  ASSERT_EQ(EVP_PKEY_keygen_init(kctx.get()), 1);
  ASSERT_EQ(EVP_PKEY_keygen(kctx.get(), &raw_dsa), 1);
  ossl::PKey dsa_key(raw_dsa);
  auto dsa = CertificateRequest::Parse(MakeCsrPem(dsa_key.get(), "x"));
  ASSERT_FALSE(dsa.ok());
  EXPECT_EQ(dsa.error().message(),
            "certificate request: DSA 2048 key is not supported: DSA is deprecated; use ECDSA, Ed25519 or RSA");
}

TEST(CertificateRequest, MalformedInputGetsAClearError) {
  auto key = GenerateTestKey(KeySpec::EcdsaP256());
  std::string pem = MakeCsrPem(key.get(), "x");
  struct Row { std::string input; std::string prefix; };
  const std::vector<Row> rows = {
      {"", "certificate request is empty"},
      {pem.substr(0, pem.size() / 2), "certificate request: PEM block 1 is malformed ("},
      {"-----BEGIN CERTIFICATE-----\nAAAA\n-----END CERTIFICATE-----\n",
       "PEM block 1 is a \"CERTIFICATE\", expected \"CERTIFICATE REQUEST\""},
      {"-----BEGIN CERTIFICATE REQUEST-----\nAAAA\n-----END CERTIFICATE REQUEST-----\n",
       "certificate request is not a valid PKCS#10 structure ("},
      {"garbage that is not DER", "certificate request is not a valid PKCS#10 structure ("},
      {std::string(kMaxInputBytes + 10, '-'), "certificate request is 262154 bytes; the limit is 262144"},
  };
  for (const auto& row : rows) {
    auto csr = CertificateRequest::Parse(row.input);
    ASSERT_FALSE(csr.ok()) << row.prefix;
    EXPECT_EQ(csr.error().message().substr(0, row.prefix.size()), row.prefix) << csr.error().message();
  }
}

TEST(CertificateRequest, TemplateFromCsrCopiesSubjectAndNames) {
  auto key = GenerateTestKey(KeySpec::EcdsaP256());
  auto csr = CertificateRequest::Parse(MakeCsrPem(key.get(), "a", {"DNS:a.example", "IP:10.1.2.3"}));
  ASSERT_TRUE(csr.ok());
  auto t = TemplateFromCsr(*csr);
  EXPECT_EQ(t.subject.ToString(), "CN=a");
  EXPECT_EQ(t.dns_names, std::vector<std::string>{"a.example"});
  EXPECT_EQ(t.ip_addresses, std::vector<std::string>{"10.1.2.3"});
  EXPECT_FALSE(t.is_ca);
}

}  // namespace
}  // namespace certwright::signer
