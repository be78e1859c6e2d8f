#include "support/test_ca.h"

#include <gtest/gtest.h>
#include <openssl/pem.h>
#include <openssl/x509v3.h>

#include "certwright/signer/pem.h"
#include "file/file_backend.h"

namespace certwright::testing {

ossl::PKey GenerateTestKey(const signer::KeySpec& spec) {
  auto key = signer::GenerateKey(spec);
  EXPECT_TRUE(key.ok()) << key.error().message();
  return key.ok() ? std::move(*key) : nullptr;
}

TestCa MakeSoftwareCa(const signer::KeySpec& spec, const signer::IssuanceOptions& options,
                      std::optional<int> path_length, std::chrono::seconds duration) {
  TestCa out;
  auto key = signer::SigningKeyFromPKey(GenerateTestKey(spec), "memory:test-ca");
  EXPECT_TRUE(key.ok());
  out.key = *key;
  signer::CertificateTemplate t;
  t.subject = *signer::DistinguishedName::Parse("CN=Test CA " + signer::KeySpecName(spec) + ",O=certwright tests");
  t.is_ca = true;
  t.max_path_length = path_length;
  t.duration = duration;
  auto cert = signer::SelfSign(*out.key, t, options);
  EXPECT_TRUE(cert.ok()) << cert.error().message();
  if (!cert.ok()) return out;
  out.pem = cert->pem;
  std::vector<ossl::X509Ptr> chain;
  chain.push_back(cert->Certificate());
  auto ca = signer::CertificateAuthority::Create(out.key, std::move(chain), options);
  EXPECT_TRUE(ca.ok()) << ca.error().message();
  if (ca.ok()) out.ca = std::make_unique<signer::CertificateAuthority>(std::move(*ca));
  return out;
}

std::string MakeCsrPem(EVP_PKEY* key, const std::string& subject_cn, const std::vector<std::string>& sans,
                       const EVP_MD* md) {
  ossl::X509Req req(X509_REQ_new());
  X509_REQ_set_version(req.get(), X509_REQ_VERSION_1);
  X509_NAME* name = X509_REQ_get_subject_name(req.get());
  if (!subject_cn.empty()) {
    X509_NAME_add_entry_by_txt(name, "CN", MBSTRING_UTF8, reinterpret_cast<const unsigned char*>(subject_cn.c_str()),
                               -1, -1, 0);
  }
  X509_REQ_set_pubkey(req.get(), key);
  if (!sans.empty()) {
    std::string value;
    for (const auto& s : sans) value += (value.empty() ? "" : ",") + s;
    STACK_OF(X509_EXTENSION)* exts = sk_X509_EXTENSION_new_null();
    X509_EXTENSION* ext = X509V3_EXT_conf_nid(nullptr, nullptr, NID_subject_alt_name, value.c_str());
    EXPECT_NE(ext, nullptr) << "bad SAN spec " << value;
    sk_X509_EXTENSION_push(exts, ext);
    X509_REQ_add_extensions(req.get(), exts);
    sk_X509_EXTENSION_pop_free(exts, X509_EXTENSION_free);
  }
  const EVP_MD* digest = md;
  if (digest == nullptr && EVP_PKEY_get_base_id(key) != EVP_PKEY_ED25519) digest = EVP_sha256();
  EXPECT_GT(X509_REQ_sign(req.get(), key, digest), 0) << ossl::DrainErrors();
  auto pem = ossl::CsrToPem(req.get());
  return pem.ok() ? *pem : "";
}

std::string VerifyChain(X509* leaf, X509* root, const std::vector<X509*>& intermediates) {
  std::unique_ptr<X509_STORE, ossl::Deleter<X509_STORE_free>> store(X509_STORE_new());
  X509_STORE_add_cert(store.get(), root);
  STACK_OF(X509)* untrusted = sk_X509_new_null();
  for (X509* c : intermediates) sk_X509_push(untrusted, c);
  std::unique_ptr<X509_STORE_CTX, ossl::Deleter<X509_STORE_CTX_free>> ctx(X509_STORE_CTX_new());
  X509_STORE_CTX_init(ctx.get(), store.get(), leaf, untrusted);
  X509_VERIFY_PARAM_set_flags(X509_STORE_CTX_get0_param(ctx.get()), X509_V_FLAG_X509_STRICT);
  int ok = X509_verify_cert(ctx.get());
  std::string reason = ok == 1 ? "" : X509_verify_cert_error_string(X509_STORE_CTX_get_error(ctx.get()));
  sk_X509_free(untrusted);
  return reason;
}

ossl::X509Ptr ParseOne(const std::string& pem) {
  auto certs = signer::ParseCertificates(pem);
  EXPECT_TRUE(certs.ok()) << (certs.ok() ? "" : certs.error().message());
  if (!certs.ok() || certs->empty()) return nullptr;
  return std::move(certs->front());
}

std::optional<ExtensionInfo> Extension(X509* cert, int nid) {
  int idx = X509_get_ext_by_NID(cert, nid, -1);
  if (idx < 0) return std::nullopt;
  X509_EXTENSION* ext = X509_get_ext(cert, idx);
  ossl::Bio bio(BIO_new(BIO_s_mem()));
  X509V3_EXT_print(bio.get(), ext, 0, 0);
  char* data = nullptr;
  long len = BIO_get_mem_data(bio.get(), &data);
  return ExtensionInfo{X509_EXTENSION_get_critical(ext) == 1, std::string(data, static_cast<size_t>(len))};
}

}  // namespace certwright::testing
