#include <gtest/gtest.h>
#include <openssl/sha.h>
#include <openssl/x509v3.h>

#include <set>

#include "certwright/signer/x509.h"
#include "certwright/signer/pem.h"
#include "file/file_backend.h"
#include "support/test_ca.h"

namespace certwright::signer {
namespace {

using std::chrono::hours;
using std::chrono::minutes;
using std::chrono::seconds;
using std::chrono::system_clock;
using testing::Extension;
using testing::GenerateTestKey;
using testing::MakeSoftwareCa;
using testing::VerifyChain;

class ConstantRandom final : public RandomSource {
 public:
  explicit ConstantRandom(uint8_t byte) : byte_(byte) {}
  Status Fill(std::span<uint8_t> out) override {
    std::fill(out.begin(), out.end(), byte_);
    return Ok();
  }

 private:
  uint8_t byte_;
};

CertificateTemplate Leaf(const std::string& cn = "web.example.com") {
  CertificateTemplate t;
  t.subject = *DistinguishedName::Parse("CN=" + cn);
  t.dns_names = {cn};
  t.duration = hours(24);
  return t;
}

TEST(X509Builder, SelfSignedCaIsAValidRoot) {
  auto ca = MakeSoftwareCa(KeySpec::EcdsaP256(), {}, 1);
  X509* cert = ca.ca->certificate();
  EXPECT_EQ(X509_get_version(cert), X509_VERSION_3);
  auto bc = Extension(cert, NID_basic_constraints);
  ASSERT_TRUE(bc);
  EXPECT_TRUE(bc->critical);
  EXPECT_EQ(bc->text, "CA:TRUE, pathlen:1");
  auto ku = Extension(cert, NID_key_usage);
  ASSERT_TRUE(ku);
  EXPECT_TRUE(ku->critical);
  EXPECT_EQ(ku->text, "Digital Signature, Certificate Sign, CRL Sign");
  EXPECT_TRUE(Extension(cert, NID_subject_key_identifier));
  EXPECT_FALSE(Extension(cert, NID_authority_key_identifier)) << "AKI is omitted on a self-signed root";
  EXPECT_FALSE(Extension(cert, NID_subject_alt_name)) << "no names, no SAN extension";
  EXPECT_EQ(VerifyChain(cert, cert), "");
}

TEST(X509Builder, LeafHasCriticalConstraintsSkiAkiAndNoKeyCertSign) {
  auto ca = MakeSoftwareCa(KeySpec::EcdsaP256());
  auto key = GenerateTestKey(KeySpec::EcdsaP256());
  auto t = Leaf();
  t.usages = *ParseUsages({"digital signature", "server auth", "client auth"});
  auto issued = ca.ca->Issue(t, key.get());
  ASSERT_TRUE(issued.ok()) << issued.error().message();
  auto owned = issued->Certificate();
  X509* cert = owned.get();
  EXPECT_EQ(Extension(cert, NID_basic_constraints)->text, "CA:FALSE");
  EXPECT_TRUE(Extension(cert, NID_basic_constraints)->critical);
  EXPECT_EQ(Extension(cert, NID_key_usage)->text, "Digital Signature");
  EXPECT_EQ(Extension(cert, NID_ext_key_usage)->text, "TLS Web Server Authentication, TLS Web Client Authentication");
  EXPECT_FALSE(Extension(cert, NID_ext_key_usage)->critical);
  EXPECT_EQ(Extension(cert, NID_subject_alt_name)->text, "DNS:web.example.com");
  EXPECT_FALSE(Extension(cert, NID_subject_alt_name)->critical) << "the subject is not empty";
  // AKI of the leaf is the SKI of the CA.
  const ASN1_OCTET_STRING* ca_ski = X509_get0_subject_key_id(ca.ca->certificate());
  const ASN1_OCTET_STRING* leaf_aki = X509_get0_authority_key_id(cert);
  ASSERT_NE(ca_ski, nullptr);
  ASSERT_NE(leaf_aki, nullptr);
  EXPECT_EQ(ASN1_OCTET_STRING_cmp(ca_ski, leaf_aki), 0);
  EXPECT_EQ(VerifyChain(cert, ca.ca->certificate()), "");
  EXPECT_EQ(X509_check_purpose(cert, X509_PURPOSE_SSL_SERVER, 0), 1);
}

TEST(X509Builder, SanIsCriticalWhenTheSubjectIsEmpty) {
  auto ca = MakeSoftwareCa(KeySpec::EcdsaP256());
  auto key = GenerateTestKey(KeySpec::EcdsaP256());
  CertificateTemplate t;
  t.uris = {"spiffe://cluster.local/ns/default/sa/web"};
  t.ip_addresses = {"10.0.0.7", "fd00::7"};
  t.email_addresses = {"ops@example.com"};
  auto issued = ca.ca->Issue(t, key.get());
  ASSERT_TRUE(issued.ok()) << issued.error().message();
  auto san = Extension(issued->Certificate().get(), NID_subject_alt_name);
  ASSERT_TRUE(san);
  EXPECT_TRUE(san->critical);
  EXPECT_EQ(san->text, "IP Address:10.0.0.7, IP Address:FD00:0:0:0:0:0:0:7, URI:spiffe://cluster.local/ns/default/sa/web, "
                       "email:ops@example.com");
  EXPECT_EQ(X509_NAME_entry_count(X509_get_subject_name(issued->Certificate().get())), 0);
  EXPECT_EQ(VerifyChain(issued->Certificate().get(), ca.ca->certificate()), "");
}

TEST(X509Builder, DefaultUsagesFollowTheKeyType) {
  auto ca = MakeSoftwareCa(KeySpec::EcdsaP256());
  // RFC 5480 §3: no keyEncipherment for EC keys; RSA keeps cert-manager's default.
  auto ec = ca.ca->Issue(Leaf(), GenerateTestKey(KeySpec::EcdsaP256()).get());
  ASSERT_TRUE(ec.ok());
  EXPECT_EQ(Extension(ec->Certificate().get(), NID_key_usage)->text, "Digital Signature");
  auto rsa = ca.ca->Issue(Leaf(), GenerateTestKey(KeySpec::Rsa(2048)).get());
  ASSERT_TRUE(rsa.ok());
  EXPECT_EQ(Extension(rsa->Certificate().get(), NID_key_usage)->text, "Digital Signature, Key Encipherment");
  EXPECT_FALSE(Extension(rsa->Certificate().get(), NID_ext_key_usage));
}

TEST(X509Builder, Ed25519KeysNeverGetAgreementOrEnciphermentUsages) {
  auto ca = MakeSoftwareCa(KeySpec::EcdsaP256());
  auto t = Leaf();
  t.usages = *ParseUsages({"digital signature", "content commitment", "key agreement", "key encipherment",
                           "data encipherment", "encipher only", "decipher only", "client auth"});
  // RFC 8410 §5: an Ed25519 key is for signatures only.
  auto ed = ca.ca->Issue(t, GenerateTestKey(KeySpec::Ed25519()).get());
  ASSERT_TRUE(ed.ok()) << ed.error().message();
  EXPECT_EQ(Extension(ed->Certificate().get(), NID_key_usage)->text, "Digital Signature, Non Repudiation");
  EXPECT_EQ(VerifyChain(ed->Certificate().get(), ca.ca->certificate()), "");
  // RFC 5480 §3: an ECDSA key may agree keys (ECDH), but it does not encipher.
  auto ec = ca.ca->Issue(t, GenerateTestKey(KeySpec::EcdsaP256()).get());
  ASSERT_TRUE(ec.ok()) << ec.error().message();
  EXPECT_EQ(Extension(ec->Certificate().get(), NID_key_usage)->text,
            "Digital Signature, Non Repudiation, Key Agreement, Encipher Only, Decipher Only");
  // An Ed25519 CA key keeps only what a CA signs with.
  CertificateTemplate sub;
  sub.subject = *DistinguishedName::Parse("CN=Ed25519 Sub CA");
  sub.is_ca = true;
  sub.usages = *ParseUsages({"cert sign", "crl sign", "key agreement", "decipher only"});
  auto ca_cert = ca.ca->Issue(sub, GenerateTestKey(KeySpec::Ed25519()).get());
  ASSERT_TRUE(ca_cert.ok()) << ca_cert.error().message();
  EXPECT_EQ(Extension(ca_cert->Certificate().get(), NID_key_usage)->text, "Certificate Sign, CRL Sign");
}

TEST(X509Builder, CertSignOnALeafIsRefused) {
  auto ca = MakeSoftwareCa(KeySpec::EcdsaP256());
  auto t = Leaf();
  t.usages = *ParseUsages({"cert sign"});
  auto issued = ca.ca->Issue(t, GenerateTestKey(KeySpec::EcdsaP256()).get());
  ASSERT_FALSE(issued.ok());
  EXPECT_EQ(issued.error().message(),
            "usages: \"cert sign\" and \"crl sign\" are only allowed for CA certificates (isCA: true)");
}

TEST(X509Builder, EveryCaAlgorithmIssuesAVerifiableChain) {
  struct Row { KeySpec ca; bool pss; std::string alg; };
  const std::vector<Row> rows = {
      {KeySpec::EcdsaP256(), false, "ecdsa-with-SHA256"}, {KeySpec::EcdsaP384(), false, "ecdsa-with-SHA384"},
      {KeySpec::Ed25519(), false, "ED25519"},             {KeySpec::Rsa(2048), false, "sha256WithRSAEncryption"},
      {KeySpec::Rsa(3072), true, "rsassaPss"},            {KeySpec::Rsa(4096), false, "sha256WithRSAEncryption"},
  };
  for (const auto& row : rows) {
    IssuanceOptions options;
    options.rsa_pss = row.pss;
    auto ca = MakeSoftwareCa(row.ca, options);
    for (auto leaf_spec : {KeySpec::EcdsaP256(), KeySpec::Ed25519(), KeySpec::Rsa(2048)}) {
      auto issued = ca.ca->Issue(Leaf(), GenerateTestKey(leaf_spec).get());
      ASSERT_TRUE(issued.ok()) << KeySpecName(row.ca) << ": " << issued.error().message();
      const X509_ALGOR* alg = nullptr;
      auto cert = issued->Certificate();
      X509_get0_signature(nullptr, &alg, cert.get());
      const ASN1_OBJECT* oid = nullptr;
      X509_ALGOR_get0(&oid, nullptr, nullptr, alg);
      EXPECT_EQ(OBJ_nid2ln(OBJ_obj2nid(oid)), row.alg) << KeySpecName(row.ca);
      EXPECT_EQ(VerifyChain(issued->Certificate().get(), ca.ca->certificate()), "")
          << KeySpecName(row.ca) << " -> " << KeySpecName(leaf_spec);
    }
  }
}

TEST(X509Builder, PssAlgorithmIdentifierMatchesTheBaselineRequirementsEncoding) {
  IssuanceOptions options;
  options.rsa_pss = true;
  auto ca = MakeSoftwareCa(KeySpec::Rsa(2048), options);
  const X509_ALGOR* alg = nullptr;
  X509_get0_signature(nullptr, &alg, ca.ca->certificate());
  unsigned char* der = nullptr;
  int len = i2d_X509_ALGOR(alg, &der);
  std::string hex;
  for (int i = 0; i < len; ++i) {
    char b[3];
    std::snprintf(b, sizeof b, "%02x", der[i]);
    hex += b;
  }
  OPENSSL_free(der);
  EXPECT_EQ(hex, "304106092a864886f70d01010a3034a00f300d06096086480165030402010500a11c301a06092a864886f70d010108"
                 "300d06096086480165030402010500a203020120");
}

TEST(X509Builder, SerialsArePositiveUniqueAndCarryMoreThan64BitsOfEntropy) {
  auto ca = MakeSoftwareCa(KeySpec::Ed25519());
  auto key = GenerateTestKey(KeySpec::EcdsaP256());
  std::set<std::string> serials;
  for (int i = 0; i < 2000; ++i) {
    auto issued = ca.ca->Issue(Leaf(), key.get());
    ASSERT_TRUE(issued.ok());
    auto cert = issued->Certificate();
    const ASN1_INTEGER* serial = X509_get0_serialNumber(cert.get());
    ASSERT_EQ(ASN1_STRING_type(serial), V_ASN1_INTEGER) << "never negative";
    ASSERT_LE(ASN1_STRING_length(serial), 20) << "RFC 5280 §4.1.2.2: at most 20 octets";
    serials.insert(issued->serial_hex);
  }
  EXPECT_EQ(serials.size(), 2000u);
}

TEST(X509Builder, SerialTopBitIsClearedAndAllZeroRandomnessFails) {
  ConstantRandom ones(0xff);
  IssuanceOptions options;
  options.random = &ones;
  auto ca = MakeSoftwareCa(KeySpec::EcdsaP256(), options);
  EXPECT_EQ(ca.ca->Issue(Leaf(), GenerateTestKey(KeySpec::EcdsaP256()).get())->serial_hex,
            "7FFFFFFFFFFFFFFFFFFFFFFFFFFFFFFF");

  ConstantRandom zeros(0);
  options.random = &zeros;
  auto key = SigningKeyFromPKey(GenerateTestKey(KeySpec::EcdsaP256()), "memory:x");
  CertificateTemplate t;
  t.subject = *DistinguishedName::Parse("CN=x");
  t.is_ca = true;
  auto cert = SelfSign(**key, t, options);
  ASSERT_FALSE(cert.ok());
  EXPECT_EQ(cert.error().message(), "random source returned only zero bytes for a serial number");
}

TEST(X509Builder, ValidityIsBackdatedAndBoundedByTheCa) {
  ManualClock clock(system_clock::from_time_t(1'800'000'000));  // 2027-01-15
  IssuanceOptions options;
  options.clock = &clock;
  auto ca = MakeSoftwareCa(KeySpec::EcdsaP256(), options, std::nullopt, hours(24 * 30));
  clock.Advance(hours(1));
  auto t = Leaf();
  t.duration = hours(48);
  auto issued = ca.ca->Issue(t, GenerateTestKey(KeySpec::EcdsaP256()).get());
  ASSERT_TRUE(issued.ok()) << issued.error().message();
  EXPECT_EQ(issued->not_before, clock.Now() - minutes(1));
  EXPECT_EQ(issued->not_after, clock.Now() + hours(48));
  EXPECT_EQ(ToTimePoint(X509_get0_notBefore(issued->Certificate().get())), issued->not_before);
  EXPECT_EQ(ToTimePoint(X509_get0_notAfter(issued->Certificate().get())), issued->not_after);

  // Right after the CA was made, notBefore is not backdated before the CA's own notBefore.
  clock.Set(system_clock::from_time_t(1'800'000'000));
  auto early = ca.ca->Issue(t, GenerateTestKey(KeySpec::EcdsaP256()).get());
  ASSERT_TRUE(early.ok());
  EXPECT_EQ(early->not_before, ToTimePoint(X509_get0_notBefore(ca.ca->certificate())));

  t.duration = hours(24 * 31);
  auto too_long = ca.ca->Issue(t, GenerateTestKey(KeySpec::EcdsaP256()).get());
  ASSERT_FALSE(too_long.ok());
  EXPECT_EQ(too_long.error().message(),
            "duration 744h would end at 2027-02-15T08:00:00Z, after the issuing CA certificate expires at "
            "2027-02-14T08:00:00Z; request at most 720h");

  clock.Advance(hours(24 * 31));
  t.duration = hours(1);
  auto expired = ca.ca->Issue(t, GenerateTestKey(KeySpec::EcdsaP256()).get());
  ASSERT_FALSE(expired.ok());
  EXPECT_EQ(expired.error().message(), "the issuing CA certificate expired at 2027-02-14T08:00:00Z");
}

TEST(X509Builder, DatesFrom2050UseGeneralizedTime) {
  ManualClock clock(system_clock::from_time_t(2'524'608'000 - 3600));  // 2049-12-31T23:00Z
  IssuanceOptions options;
  options.clock = &clock;
  auto ca = MakeSoftwareCa(KeySpec::EcdsaP256(), options, std::nullopt, hours(24 * 365));
  EXPECT_EQ(ASN1_STRING_type(X509_get0_notBefore(ca.ca->certificate())), V_ASN1_UTCTIME);
  EXPECT_EQ(ASN1_STRING_type(X509_get0_notAfter(ca.ca->certificate())), V_ASN1_GENERALIZEDTIME);
}

TEST(X509Builder, ZeroAndNegativeDurationsAreRefused) {
  auto ca = MakeSoftwareCa(KeySpec::EcdsaP256());
  for (auto d : {seconds(0), seconds(-3600)}) {
    auto t = Leaf();
    t.duration = d;
    auto issued = ca.ca->Issue(t, GenerateTestKey(KeySpec::EcdsaP256()).get());
    ASSERT_FALSE(issued.ok());
    EXPECT_EQ(issued.error().message(), "duration must be positive, got " + std::to_string(d.count()) + "s");
  }
}

TEST(X509Builder, TemplateValidationNamesTheField) {
  struct Row { std::function<void(CertificateTemplate&)> edit; std::string message; };
  const std::vector<Row> rows = {
      {[](auto& t) { t.subject = {}; t.dns_names = {}; },
       "the certificate has no subject and no subject alternative names: set at least one of commonName, dnsNames, "
       "ipAddresses, uris or emailAddresses"},
      {[](auto& t) { t.dns_names = {"ok.example", "bad_name.example"}; },
       "dnsNames[1]: \"bad_name.example\" is not a valid DNS name: '_' is not allowed in host names (RFC 5280 "
       "§4.2.1.6, CA/B Forum BR)"},
      {[](auto& t) { t.dns_names = {"a.*.example"}; },
       "dnsNames[0]: \"a.*.example\" is not a valid DNS name: a wildcard '*' is allowed only as the whole leftmost label"},
      {[](auto& t) { t.dns_names = {"-a.example"}; },
       "dnsNames[0]: \"-a.example\" is not a valid DNS name: a label must not start or end with '-'"},
      {[](auto& t) { t.dns_names = {"a..example"}; },
       "dnsNames[0]: \"a..example\" is not a valid DNS name: it has an empty label"},
      {[](auto& t) { t.dns_names = {"example.com."}; },
       "dnsNames[0]: \"example.com.\" is not a valid DNS name: it must not end with '.'"},
      {[](auto& t) { t.dns_names = {std::string(64, 'a') + ".example"}; },
       "dnsNames[0]: \"" + std::string(64, 'a') + ".example\" is not a valid DNS name: label \"" + std::string(64, 'a') +
           "\" is longer than 63 characters"},
      {[](auto& t) { t.dns_names = {"b\xC3\xBC" "cher.example"}; },
       "dnsNames[0]: \"b\xC3\xBC" "cher.example\" is not a valid DNS name: non-ASCII characters must be written in "
       "punycode (xn--...)"},
      {[](auto& t) { t.ip_addresses = {"10.0.0.300"}; },
       "ipAddresses[0]: \"10.0.0.300\" is not a valid IPv4 or IPv6 address"},
      {[](auto& t) { t.uris = {"no-scheme"}; },
       "uris[0]: \"no-scheme\" is not a valid URI: it has no scheme (RFC 5280 requires an absolute URI)"},
      {[](auto& t) { t.uris = {"spiffe://a b"}; },
       "uris[0]: \"spiffe://a b\" is not a valid URI: it contains a space, control or non-ASCII character"},
      {[](auto& t) { t.email_addresses = {"nobody"}; }, "emailAddresses[0]: \"nobody\" is not a valid email address"},
      {[](auto& t) { t.email_addresses = {"a@b_c"}; },
       "emailAddresses[0] domain: \"b_c\" is not a valid DNS name: '_' is not allowed in host names (RFC 5280 "
       "§4.2.1.6, CA/B Forum BR)"},
      {[](auto& t) { t.max_path_length = 1; }, "maxPathLength is only allowed when isCA is true"},
      {[](auto& t) { t.duration = hours(24 * 90000); },
       "duration 2160000h is longer than the maximum of 876000h (100 years)"},
  };
  for (const auto& row : rows) {
    auto t = Leaf();
    row.edit(t);
    auto s = ValidateTemplate(t);
    ASSERT_FALSE(s.ok()) << row.message;
    EXPECT_EQ(s.error().message(), row.message);
  }
  auto wildcard = Leaf();
  wildcard.dns_names = {"*.apps.example.com", "xn--bcher-kva.example"};
  EXPECT_TRUE(ValidateTemplate(wildcard).ok());
}

TEST(X509Builder, PathLengthConstraintsAreHonoured) {
  auto root = MakeSoftwareCa(KeySpec::EcdsaP256(), {}, 0);
  CertificateTemplate sub;
  sub.subject = *DistinguishedName::Parse("CN=Sub CA");
  sub.is_ca = true;
  auto refused = root.ca->Issue(sub, GenerateTestKey(KeySpec::EcdsaP256()).get());
  ASSERT_FALSE(refused.ok());
  EXPECT_EQ(refused.error().message(), "the issuing CA's pathLenConstraint is 0: it may not issue CA certificates");
  EXPECT_EQ(refused.error().kind(), ErrorKind::kPolicyDenied);

  auto root2 = MakeSoftwareCa(KeySpec::EcdsaP256(), {}, 2);
  auto sub_key = SigningKeyFromPKey(GenerateTestKey(KeySpec::EcdsaP384()), "memory:sub");
  auto sub_cert = root2.ca->Issue(sub, (*sub_key)->public_key());
  ASSERT_TRUE(sub_cert.ok()) << sub_cert.error().message();
  EXPECT_EQ(Extension(sub_cert->Certificate().get(), NID_basic_constraints)->text, "CA:TRUE, pathlen:1");

  // Two-level chain: the intermediate issues a leaf; tls.crt carries leaf + intermediate.
  std::vector<ossl::X509Ptr> chain;
  chain.push_back(sub_cert->Certificate());
  chain.push_back(ossl::Share(root2.ca->certificate()));
  auto intermediate = CertificateAuthority::Create(*sub_key, std::move(chain));
  ASSERT_TRUE(intermediate.ok()) << intermediate.error().message();
  auto leaf = intermediate->Issue(Leaf(), GenerateTestKey(KeySpec::EcdsaP256()).get());
  ASSERT_TRUE(leaf.ok());
  auto certs = ParseCertificates(leaf->chain_pem);
  ASSERT_TRUE(certs.ok());
  ASSERT_EQ(certs->size(), 2u) << "leaf then intermediate, no self-signed root";
  EXPECT_EQ(VerifyChain(certs->at(0).get(), root2.ca->certificate(), {certs->at(1).get()}), "");
  EXPECT_EQ(leaf->ca_pem, root2.pem);
}

TEST(X509Builder, CertificateAuthorityRefusesAMismatchedKeyOrANonCa) {
  auto ca = MakeSoftwareCa(KeySpec::EcdsaP256());
  auto other = SigningKeyFromPKey(GenerateTestKey(KeySpec::EcdsaP256()), "memory:other");
  std::vector<ossl::X509Ptr> chain;
  chain.push_back(ossl::Share(ca.ca->certificate()));
  auto mismatched = CertificateAuthority::Create(*other, std::move(chain));
  ASSERT_FALSE(mismatched.ok());
  EXPECT_EQ(mismatched.error().message(),
            "the CA key memory:other (ECDSA P-256) does not match the public key of the CA certificate "
            "\"CN=Test CA ecdsa-p256,O=certwright tests\" (ECDSA P-256)");

  auto leaf_key = SigningKeyFromPKey(GenerateTestKey(KeySpec::EcdsaP256()), "memory:leaf");
  auto leaf = ca.ca->Issue(Leaf(), (*leaf_key)->public_key());
  ASSERT_TRUE(leaf.ok());
  std::vector<ossl::X509Ptr> not_ca;
  not_ca.push_back(leaf->Certificate());
  auto refused = CertificateAuthority::Create(*leaf_key, std::move(not_ca));
  ASSERT_FALSE(refused.ok());
  EXPECT_EQ(refused.error().message(),
            "CA certificate \"CN=web.example.com\" is not a CA: it lacks basicConstraints cA=TRUE");

  auto unrelated = MakeSoftwareCa(KeySpec::EcdsaP256());
  std::vector<ossl::X509Ptr> wrong_order;
  wrong_order.push_back(ossl::Share(ca.ca->certificate()));
  wrong_order.push_back(ossl::Share(unrelated.ca->certificate()));
  auto bad_chain = CertificateAuthority::Create(ca.key, std::move(wrong_order));
  ASSERT_FALSE(bad_chain.ok());
  EXPECT_EQ(bad_chain.error().message(),
            "CA chain certificate 2 did not issue certificate 1: order the chain from the CA up to the root");
}

// A CA certificate made by another tool, whose SubjectKeyIdentifier is not the SHA-1 of its key
// (here RFC 7093 method 1: the leftmost 160 bits of the SHA-256), signed with OpenSSL directly.
ossl::X509Ptr OtherToolCaCertificate(EVP_PKEY* key, const Bytes& ski) {
  ossl::X509Ptr x(X509_new());
  X509_set_version(x.get(), X509_VERSION_3);
  ASN1_INTEGER_set(X509_get_serialNumber(x.get()), 4242);
  ossl::X509Name name(X509_NAME_new());
  X509_NAME_add_entry_by_txt(name.get(), "CN", MBSTRING_UTF8, reinterpret_cast<const unsigned char*>("Other Tool CA"),
                             -1, -1, 0);
  X509_set_subject_name(x.get(), name.get());
  X509_set_issuer_name(x.get(), name.get());
  X509_gmtime_adj(X509_getm_notBefore(x.get()), -3600);
  X509_gmtime_adj(X509_getm_notAfter(x.get()), 3600L * 24 * 30);
  X509_set_pubkey(x.get(), key);
  X509V3_CTX ctx;
  X509V3_set_ctx_nodb(&ctx);
  X509V3_set_ctx(&ctx, x.get(), x.get(), nullptr, nullptr, 0);
  for (auto [nid, value] : {std::pair{NID_basic_constraints, "critical,CA:TRUE"},
                            std::pair{NID_key_usage, "critical,keyCertSign,cRLSign"}}) {
    ossl::X509Ext ext(X509V3_EXT_conf_nid(nullptr, &ctx, nid, value));
    EXPECT_TRUE(ext) << ossl::DrainErrors();
    X509_add_ext(x.get(), ext.get(), -1);
  }
  ossl::Asn1OctetString id(ASN1_OCTET_STRING_new());
  ASN1_OCTET_STRING_set(id.get(), ski.data(), static_cast<int>(ski.size()));
  X509_add1_ext_i2d(x.get(), NID_subject_key_identifier, id.get(), 0, X509V3_ADD_DEFAULT);
  EXPECT_GT(X509_sign(x.get(), key, EVP_sha256()), 0) << ossl::DrainErrors();
  return x;
}

TEST(X509Builder, AuthorityKeyIdentifierCopiesTheSubjectKeyIdentifierOfACaMadeByAnotherTool) {
  auto key = GenerateTestKey(KeySpec::EcdsaP256());
  auto parts = ossl::PublicKeyPartsOf(key.get());
  ASSERT_TRUE(parts.ok());
  Bytes sha256(32);
  SHA256(parts->bits.data(), parts->bits.size(), sha256.data());
  const Bytes ski(sha256.begin(), sha256.begin() + 20);
  ASSERT_NE(ski, ossl::KeyIdentifier(*parts)) << "the point is an SKI other than the SHA-1 one";

  auto ca_key = SigningKeyFromPKey(ossl::Share(key.get()), "memory:other-tool-ca");
  ASSERT_TRUE(ca_key.ok());
  std::vector<ossl::X509Ptr> chain;
  chain.push_back(OtherToolCaCertificate(key.get(), ski));
  X509* ca_cert = chain.front().get();
  auto ca = CertificateAuthority::Create(*ca_key, std::move(chain));
  ASSERT_TRUE(ca.ok()) << ca.error().message();
  auto issued = ca->Issue(Leaf(), GenerateTestKey(KeySpec::EcdsaP256()).get());
  ASSERT_TRUE(issued.ok()) << issued.error().message();
  auto leaf = issued->Certificate();
  const ASN1_OCTET_STRING* aki = X509_get0_authority_key_id(leaf.get());
  ASSERT_NE(aki, nullptr);
  EXPECT_EQ(Bytes(ASN1_STRING_get0_data(aki), ASN1_STRING_get0_data(aki) + ASN1_STRING_length(aki)), ski);
  EXPECT_EQ(VerifyChain(leaf.get(), ca_cert), "");
}

// A CA key whose device hands back a corrupted signature, as an RSA-CRT fault in an HSM would.
class CorruptingKey final : public SigningKey {
 public:
  explicit CorruptingKey(std::shared_ptr<SigningKey> real) : real_(std::move(real)) {}

  // signer::SigningKey
  std::string uri() const override { return "pkcs11:token=faulty;object=ca"; }
  KeySpec spec() const override { return real_->spec(); }
  EVP_PKEY* public_key() const override { return real_->public_key(); }
  Result<Bytes> Sign(SignatureScheme scheme, std::span<const uint8_t> message) override {
    auto signature = real_->Sign(scheme, message);
    if (signature.ok()) signature->back() ^= 0x01;
    return signature;
  }
  std::string_view backend() const override { return "test"; }

 private:
  std::shared_ptr<SigningKey> real_;
};

TEST(X509Builder, ASignatureThatDoesNotVerifyAgainstTheCaKeyIsNeverIssued) {
  const std::string message =
      "the signature made by pkcs11:token=faulty;object=ca does not verify against its public key; the certificate "
      "was not issued";
  struct Row { KeySpec spec; bool pss; };
  for (const auto& row : {Row{KeySpec::EcdsaP256(), false}, Row{KeySpec::EcdsaP384(), false},
                          Row{KeySpec::Ed25519(), false}, Row{KeySpec::Rsa(2048), false},
                          Row{KeySpec::Rsa(2048), true}}) {
    IssuanceOptions options;
    options.rsa_pss = row.pss;
    auto good = MakeSoftwareCa(row.spec, options);
    auto faulty = std::make_shared<CorruptingKey>(good.key);
    std::vector<ossl::X509Ptr> chain;
    chain.push_back(ossl::Share(good.ca->certificate()));
    auto ca = CertificateAuthority::Create(faulty, std::move(chain), options);
    ASSERT_TRUE(ca.ok()) << ca.error().message();
    auto issued = ca->Issue(Leaf(), GenerateTestKey(KeySpec::EcdsaP256()).get());
    ASSERT_FALSE(issued.ok()) << KeySpecName(row.spec);
    EXPECT_EQ(issued.error().kind(), ErrorKind::kInternal);
    EXPECT_EQ(issued.error().message(), message);

    CertificateTemplate root;
    root.subject = *DistinguishedName::Parse("CN=Faulty Root");
    root.is_ca = true;
    auto self_signed = SelfSign(*faulty, root, options);
    ASSERT_FALSE(self_signed.ok()) << KeySpecName(row.spec);
    EXPECT_EQ(self_signed.error().kind(), ErrorKind::kInternal);
    EXPECT_EQ(self_signed.error().message(), message);
  }
}

TEST(X509Builder, CaCsrCarriesTheCaExtensionsAndVerifies) {
  auto key = SigningKeyFromPKey(GenerateTestKey(KeySpec::EcdsaP384()), "memory:sub");
  CertificateTemplate t;
  t.subject = *DistinguishedName::Parse("CN=Issuing CA,O=Example");
  t.is_ca = true;
  auto pem = CreateCsrPem(**key, t);
  ASSERT_TRUE(pem.ok()) << pem.error().message();
  auto csr = CertificateRequest::Parse(*pem);
  ASSERT_TRUE(csr.ok()) << csr.error().message();
  EXPECT_TRUE(csr->requests_ca);
  EXPECT_EQ(csr->subject.ToString(), "CN=Issuing CA,O=Example");
  EXPECT_TRUE(ossl::SamePublicKey(csr->public_key.get(), (*key)->public_key()));
}

TEST(X509Builder, PemOutputRoundTripsToTheSameDer) {
  auto ca = MakeSoftwareCa(KeySpec::EcdsaP256());
  auto issued = ca.ca->Issue(Leaf(), GenerateTestKey(KeySpec::EcdsaP256()).get());
  ASSERT_TRUE(issued.ok());
  auto back = testing::ParseOne(issued->pem);
  ASSERT_TRUE(back);
  auto der = ossl::CertificateToDer(back.get());
  EXPECT_EQ(*der, issued->der);
}

}  // namespace
}  // namespace certwright::signer
