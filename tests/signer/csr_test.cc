#include <gtest/gtest.h>
#include <openssl/dsa.h>
#include <openssl/pem.h>

#include <functional>

#include "certwright/signer/der.h"
#include "certwright/signer/pem.h"
#include "certwright/signer/x509.h"
#include "file/file_backend.h"
#include "support/softhsm_token.h"
#include "support/test_ca.h"

namespace certwright::signer {
namespace {

using testing::GenerateTestKey;
using testing::MakeCsrPem;

// ---------------------------------------------------------------------------------------------
// DER written out by hand, so that a test can also write it wrongly and still sign it: OpenSSL's
// encoder would only ever produce DER.

Bytes Cat(std::initializer_list<Bytes> parts) {
  Bytes out;
  for (const auto& p : parts) out.insert(out.end(), p.begin(), p.end());
  return out;
}

// A TLV with the shortest length, or with the length in `length_octets` long-form octets.
Bytes Tlv(uint8_t tag, const Bytes& content, int length_octets = 0) {
  Bytes out = {tag};
  size_t n = content.size();
  if (length_octets == 0 && n < 0x80) {
    out.push_back(static_cast<uint8_t>(n));
  } else {
    int octets = length_octets;
    if (octets == 0) for (size_t v = n; v > 0; v >>= 8) ++octets;
    out.push_back(static_cast<uint8_t>(0x80 | octets));
    for (int i = octets - 1; i >= 0; --i) out.push_back(static_cast<uint8_t>(n >> (8 * i)));
  }
  out.insert(out.end(), content.begin(), content.end());
  return out;
}
Bytes Seq(const Bytes& content, int length_octets = 0) { return Tlv(0x30, content, length_octets); }
Bytes Set(const Bytes& content) { return Tlv(0x31, content); }
Bytes Text(std::string_view s) { return Bytes(s.begin(), s.end()); }

Bytes Oid(const char* dotted) {
  std::unique_ptr<ASN1_OBJECT, ossl::Deleter<ASN1_OBJECT_free>> obj(OBJ_txt2obj(dotted, 1));
  unsigned char* der = nullptr;
  int len = i2d_ASN1_OBJECT(obj.get(), &der);
  Bytes out(der, der + len);
  OPENSSL_free(der);
  return out;
}

constexpr const char* kCommonName = "2.5.4.3";
constexpr const char* kOrganization = "2.5.4.10";
constexpr const char* kExtensionRequest = "1.2.840.113549.1.9.14";
constexpr const char* kMsExtensionRequest = "1.3.6.1.4.1.311.2.1.14";
constexpr const char* kChallengePassword = "1.2.840.113549.1.9.7";
constexpr const char* kSubjectAltName = "2.5.29.17";
constexpr const char* kBasicConstraints = "2.5.29.19";

// One RDN with one attribute of the given string tag (0x0c UTF8String, 0x13 PrintableString,
// 0x1c UniversalString, 0x1e BMPString).
Bytes Rdn(const char* oid, uint8_t string_tag, const Bytes& value) {
  return Set(Seq(Cat({Oid(oid), Tlv(string_tag, value)})));
}
Bytes Attribute(const char* oid, const Bytes& values) { return Seq(Cat({Oid(oid), Set(values)})); }
Bytes Extension(const char* oid, const Bytes& value) { return Seq(Cat({Oid(oid), Tlv(0x04, value)})); }
Bytes DnsSan(std::string_view name) { return Seq(Tlv(0x82, Text(name))); }

// UCS-4 big-endian, as UniversalString carries it.
Bytes Ucs4(std::string_view ascii) {
  Bytes out;
  for (char c : ascii) out.insert(out.end(), {0, 0, 0, static_cast<uint8_t>(c)});
  return out;
}

// A CertificationRequestInfo (RFC 2986 §4.1) from its parts; `name` and `attributes` are the
// contents of the subject SEQUENCE and of the [0] attributes.
struct RequestInfo {
  Bytes name;
  Bytes attributes;
  int name_length_octets = 0;  // > 0: the subject's length written in that many long-form octets

  Bytes Der(EVP_PKEY* key) const {
    unsigned char* spki = nullptr;
    int spki_len = i2d_PUBKEY(key, &spki);
    Bytes pub(spki, spki + spki_len);
    OPENSSL_free(spki);
    return Seq(Cat({Tlv(0x02, {0x00}), Seq(name, name_length_octets), pub, Tlv(0xa0, attributes)}));
  }
};

// The whole request, its signature made over exactly `info` by `key` (ECDSA with SHA-256).
std::string SignedRequest(EVP_PKEY* key, const Bytes& info) {
  ossl::MdCtx ctx(EVP_MD_CTX_new());
  EXPECT_EQ(EVP_DigestSignInit(ctx.get(), nullptr, EVP_sha256(), nullptr, key), 1);
  size_t len = 0;
  EXPECT_EQ(EVP_DigestSign(ctx.get(), nullptr, &len, info.data(), info.size()), 1);
  Bytes signature(len);
  EXPECT_EQ(EVP_DigestSign(ctx.get(), signature.data(), &len, info.data(), info.size()), 1);
  signature.resize(len);
  signature.insert(signature.begin(), 0x00);  // no unused bits
  Bytes der = Seq(Cat({info, Seq(Oid("1.2.840.10045.4.3.2")), Tlv(0x03, signature)}));
  return std::string(der.begin(), der.end());
}

size_t Find(const std::string& haystack, const Bytes& needle) {
  size_t at = haystack.find(std::string(needle.begin(), needle.end()));
  EXPECT_NE(at, std::string::npos);
  EXPECT_EQ(haystack.find(std::string(needle.begin(), needle.end()), at + 1), std::string::npos) << "not unique";
  return at;
}

class RawCertificateRequest : public ::testing::Test {
 protected:
  RequestInfo Plain() const {
    RequestInfo info;
    info.name = Rdn(kCommonName, 0x0c, Text("web.example.com"));
    info.attributes = Attribute(kExtensionRequest, Seq(Extension(kSubjectAltName, DnsSan("web.example.com"))));
    return info;
  }
  std::string Signed(const RequestInfo& info) const { return SignedRequest(key_.get(), info.Der(key_.get())); }
  std::string Signed(const Bytes& info) const { return SignedRequest(key_.get(), info); }

  ossl::PKey key_ = GenerateTestKey(KeySpec::EcdsaP256());
};

TEST_F(RawCertificateRequest, AWellFormedHandWrittenRequestParses) {
  auto csr = CertificateRequest::Parse(Signed(Plain()));
  ASSERT_TRUE(csr.ok()) << csr.error().message();
  EXPECT_EQ(csr->subject.ToString(), "CN=web.example.com");
  EXPECT_EQ(csr->dns_names, std::vector<std::string>{"web.example.com"});
}

// Each row is a request OpenSSL reads and whose signature verifies, but which Go's crypto/x509
// (the API server, kubectl, admission plugins) reads differently or not at all.
TEST_F(RawCertificateRequest, RequestsThatGoAndOpenSslReadDifferentlyAreRefused) {
  struct Row {
    std::string name;
    std::function<std::string()> make;  // the request
    std::function<std::string(const std::string&)> message;  // the error, given the request
  };
  const std::string kAttributesAllowed =
      "; only extensionRequest (1.2.840.113549.1.9.14) and challengePassword (1.2.840.113549.1.9.7) are accepted";
  const std::vector<Row> rows = {
      {"a length not in its shortest form in the subject",
       [&] {
         RequestInfo info = Plain();
         info.name_length_octets = 1;
         return Signed(info);
       },
       [&](const std::string& csr) {
         return "certificate request is not DER (X.690 §10): a length not in its shortest form at byte " +
                std::to_string(Find(csr, Cat({{0x30, 0x81}, {static_cast<uint8_t>(Plain().name.size())}})) + 1);
       }},
      {"an indefinite length in the subject",
       [&] {
         Bytes name = Cat({{0x30, 0x80}, Plain().name, {0x00, 0x00}});
         unsigned char* spki = nullptr;
         int spki_len = i2d_PUBKEY(key_.get(), &spki);
         Bytes pub(spki, spki + spki_len);
         OPENSSL_free(spki);
         return Signed(Seq(Cat({Tlv(0x02, {0x00}), name, pub, Tlv(0xa0, Plain().attributes)})));
       },
       [&](const std::string& csr) {
         return "certificate request is not DER (X.690 §10): an indefinite length at byte " +
                std::to_string(Find(csr, {0x30, 0x80, 0x31}) + 1);
       }},
      {"a length not in its shortest form inside the extensionRequest value",
       [&] {
         RequestInfo info = Plain();
         info.attributes = Attribute(kExtensionRequest, Seq(Extension(kSubjectAltName, DnsSan("web.example.com")), 2));
         return Signed(info);
       },
       [&](const std::string& csr) {
         return "certificate request is not DER (X.690 §10): a length not in its shortest form at byte " +
                std::to_string(Find(csr, {0x30, 0x82, 0x00}) + 1);
       }},
      {"a length not in its shortest form inside the subjectAltName extnValue",
       [&] {
         RequestInfo info = Plain();
         Bytes san = Seq(Tlv(0x82, Text("web.example.com")), 1);
         info.attributes = Attribute(kExtensionRequest, Seq(Extension(kSubjectAltName, san)));
         return Signed(info);
       },
       [](const std::string&) {
         return std::string(
             "certificate request subjectAltName extension is not DER (X.690 §10): a length not in its shortest form "
             "at byte 1");
       }},
      {"bytes after the GeneralNames inside the subjectAltName extnValue",
       [&] {
         RequestInfo info = Plain();
         Bytes san = Cat({DnsSan("web.example.com"), DnsSan("admin.example.com")});
         info.attributes = Attribute(kExtensionRequest, Seq(Extension(kSubjectAltName, san)));
         return Signed(info);
       },
       [](const std::string&) {
         return "certificate request subjectAltName extension is not DER (X.690 §10): bytes after the end of the "
                "value at byte " + std::to_string(DnsSan("web.example.com").size());
       }},
      {"a BOOLEAN other than 00 or FF inside basicConstraints",
       [&] {
         RequestInfo info = Plain();
         info.attributes = Attribute(kExtensionRequest, Seq(Extension(kBasicConstraints, Seq(Tlv(0x01, {0x01})))));
         return Signed(info);
       },
       [](const std::string&) {
         return std::string(
             "certificate request basicConstraints extension is not DER (X.690 §10): a BOOLEAN other than 00 or FF "
             "at byte 2");
       }},
      {"a second extensionRequest attribute",
       [&] {
         RequestInfo info = Plain();
         info.attributes = Cat({info.attributes, Attribute(kExtensionRequest, Seq(Extension(
                                                     kSubjectAltName, DnsSan("kubernetes.default.svc"))))});
         return Signed(info);
       },
       [](const std::string&) {
         return std::string(
             "certificate request has 2 extensionRequest attributes (1.2.840.113549.1.9.14); exactly one is "
             "accepted, with every extension in it");
       }},
      {"an extensionRequest attribute with two values",
       [&] {
         RequestInfo info = Plain();
         info.attributes = Attribute(kExtensionRequest,
                                     Cat({Seq(Extension(kSubjectAltName, DnsSan("web.example.com"))),
                                          Seq(Extension(kSubjectAltName, DnsSan("kubernetes.default.svc")))}));
         return Signed(info);
       },
       [](const std::string&) {
         return std::string(
             "certificate request extensionRequest attribute (1.2.840.113549.1.9.14) has 2 values; exactly one is "
             "accepted");
       }},
      {"a Microsoft extensionRequest attribute",
       [&] {
         RequestInfo info = Plain();
         info.attributes = Attribute(kMsExtensionRequest, Seq(Extension(kSubjectAltName, DnsSan("web.example.com"))));
         return Signed(info);
       },
       [](const std::string&) {
         return std::string(
             "certificate request has a Microsoft extensionRequest attribute (1.3.6.1.4.1.311.2.1.14), which "
             "Kubernetes does not read; put the extensions in the PKCS#9 extensionRequest (1.2.840.113549.1.9.14)");
       }},
      {"an unstructuredName attribute",
       [&] {
         RequestInfo info = Plain();
         info.attributes = Cat({info.attributes, Attribute("1.2.840.113549.1.9.2", Tlv(0x16, Text("x")))});
         return Signed(info);
       },
       [&](const std::string&) {
         return "certificate request has attribute 1.2.840.113549.1.9.2 (unstructuredName)" + kAttributesAllowed;
       }},
      {"an attribute OpenSSL has no name for",
       [&] {
         RequestInfo info = Plain();
         info.attributes = Cat({info.attributes, Attribute("1.3.6.1.4.1.99999.1", Tlv(0x05, {}))});
         return Signed(info);
       },
       [&](const std::string&) { return "certificate request has attribute 1.3.6.1.4.1.99999.1" + kAttributesAllowed; }},
      {"an O=system:masters Go does not read (UniversalString)",
       [&] {
         RequestInfo info = Plain();
         info.name = Cat({Rdn(kOrganization, 0x1c, Ucs4("system:masters")), info.name});
         return Signed(info);
       },
       [](const std::string&) {
         return std::string(
             "certificate request subject attribute O is a UniversalString; only PrintableString, UTF8String and "
             "IA5String are accepted");
       }},
      {"a CN in a BMPString",
       [&] {
         RequestInfo info = Plain();
         Bytes ucs2;
         for (char c : std::string("web.example.com")) ucs2.insert(ucs2.end(), {0, static_cast<uint8_t>(c)});
         info.name = Rdn(kCommonName, 0x1e, ucs2);
         return Signed(info);
       },
       [](const std::string&) {
         return std::string(
             "certificate request subject attribute CN is a BMPString; only PrintableString, UTF8String and "
             "IA5String are accepted");
       }},
      {"the subjectAltName extension twice",
       [&] {
         RequestInfo info = Plain();
         info.attributes = Attribute(kExtensionRequest,
                                     Seq(Cat({Extension(kSubjectAltName, DnsSan("web.example.com")),
                                              Extension(kSubjectAltName, DnsSan("kubernetes.default.svc"))})));
         return Signed(info);
       },
       [](const std::string&) {
         return std::string("certificate request has extension 2.5.29.17 (subjectAltName) more than once");
       }},
  };
  for (const auto& row : rows) {
    SCOPED_TRACE(row.name);
    const std::string csr = row.make();
    auto parsed = CertificateRequest::Parse(csr);
    if (parsed.ok()) {
      ADD_FAILURE() << "accepted";
      continue;
    }
    EXPECT_EQ(parsed.error().kind(), ErrorKind::kInvalidArgument);
    EXPECT_EQ(parsed.error().message(), row.message(csr));
  }
}

TEST_F(RawCertificateRequest, AChallengePasswordIsAccepted) {
  RequestInfo info = Plain();
  info.attributes = Cat({Attribute(kChallengePassword, Tlv(0x0c, Text("open sesame"))), info.attributes});
  auto csr = CertificateRequest::Parse(Signed(info));
  ASSERT_TRUE(csr.ok()) << csr.error().message();
  EXPECT_EQ(csr->dns_names, std::vector<std::string>{"web.example.com"});
}

TEST(CertificateRequest, ARequestWithAChallengePasswordMadeByOpenSslParses) {
  auto key = GenerateTestKey(KeySpec::EcdsaP256());
  ossl::X509Req req(X509_REQ_new());
  X509_REQ_set_version(req.get(), X509_REQ_VERSION_1);
  X509_NAME_add_entry_by_txt(X509_REQ_get_subject_name(req.get()), "CN", MBSTRING_UTF8,
                             reinterpret_cast<const unsigned char*>("x"), -1, -1, 0);
  X509_REQ_set_pubkey(req.get(), key.get());
  ASSERT_EQ(X509_REQ_add1_attr_by_NID(req.get(), NID_pkcs9_challengePassword, MBSTRING_ASC,
                                      reinterpret_cast<const unsigned char*>("open sesame"), -1),
            1);
  ASSERT_GT(X509_REQ_sign(req.get(), key.get(), EVP_sha256()), 0);
  auto csr = CertificateRequest::Parse(*ossl::CsrToPem(req.get()));
  ASSERT_TRUE(csr.ok()) << csr.error().message();
  EXPECT_EQ(csr->subject.ToString(), "CN=x");
}

TEST(CertificateRequest, ARequestMadeByTheOpenSslCommandParses) {
  testing::TempDir dir;
  std::string out;
  ASSERT_EQ(testing::RunCommand("openssl req -new -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -keyout " +
                                    dir.File("key.pem") + " -out " + dir.File("req.pem") +
                                    " -subj '/C=DE/O=Example/CN=web.example.com' -addext "
                                    "'subjectAltName=DNS:web.example.com,IP:10.0.0.1' -addext "
                                    "'keyUsage=critical,digitalSignature' -addext 'extendedKeyUsage=serverAuth'",
                                &out),
            0)
      << out;
  auto pem = ReadFileBounded(dir.File("req.pem"));
  ASSERT_TRUE(pem.ok());
  auto csr = CertificateRequest::Parse(*pem);
  ASSERT_TRUE(csr.ok()) << csr.error().message();
  EXPECT_EQ(csr->subject.ToString(), "CN=web.example.com,O=Example,C=DE");
  EXPECT_EQ(csr->dns_names, std::vector<std::string>{"web.example.com"});
  EXPECT_EQ(csr->ip_addresses, std::vector<std::string>{"10.0.0.1"});
}

TEST(CertificateRequest, ARequestMadeByCreateCsrPemParses) {
  auto key = SigningKeyFromPKey(GenerateTestKey(KeySpec::Ed25519()), "memory:csr");
  ASSERT_TRUE(key.ok());
  CertificateTemplate t;
  t.subject = *DistinguishedName::Parse("CN=web.example.com,O=Example");
  t.dns_names = {"web.example.com"};
  t.ip_addresses = {"10.0.0.1"};
  t.usages = *ParseUsages({"digital signature", "server auth"});
  auto pem = CreateCsrPem(**key, t);
  ASSERT_TRUE(pem.ok()) << pem.error().message();
  auto csr = CertificateRequest::Parse(*pem);
  ASSERT_TRUE(csr.ok()) << csr.error().message();
  EXPECT_EQ(csr->dns_names, std::vector<std::string>{"web.example.com"});
  EXPECT_EQ(csr->ip_addresses, std::vector<std::string>{"10.0.0.1"});
}

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
