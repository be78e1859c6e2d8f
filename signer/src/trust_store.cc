#include "certwright/signer/trust_store.h"

#include <openssl/objects.h>
#include <openssl/pkcs12.h>

#include <algorithm>
#include <map>

#include "certwright/signer/pem.h"
#include "certwright/signer/x509.h"

namespace certwright::signer {

namespace {

std::string SubjectOf(X509* cert) {
  ossl::Bio bio(BIO_new(BIO_s_mem()));
  X509_NAME_print_ex(bio.get(), X509_get_subject_name(cert), 0, XN_FLAG_RFC2253);
  char* data = nullptr;
  const long len = BIO_get_mem_data(bio.get(), &data);
  return std::string(data, static_cast<size_t>(len));
}

std::string DescribeAnchor(const TrustAnchor& a) {
  return (a.subject.empty() ? std::string("(empty subject)") : a.subject) + " (sha256 " + a.sha256.substr(0, 16) +
         "…, from " + a.source + ")";
}

void PutU16(ossl::Bytes& out, uint16_t v) {
  out.push_back(static_cast<uint8_t>(v >> 8));
  out.push_back(static_cast<uint8_t>(v));
}
void PutU32(ossl::Bytes& out, uint32_t v) {
  for (int shift = 24; shift >= 0; shift -= 8) out.push_back(static_cast<uint8_t>(v >> shift));
}
void PutU64(ossl::Bytes& out, uint64_t v) {
  for (int shift = 56; shift >= 0; shift -= 8) out.push_back(static_cast<uint8_t>(v >> shift));
}
// Java's DataOutput.writeUTF for ASCII text (aliases and "X.509" are ASCII).
void PutUtf(ossl::Bytes& out, std::string_view s) {
  PutU16(out, static_cast<uint16_t>(s.size()));
  out.insert(out.end(), s.begin(), s.end());
}

// The password as Java's char[]: UTF-16 code units, from UTF-8.
Result<std::vector<uint16_t>> Utf16(std::string_view utf8) {
  std::vector<uint16_t> out;
  for (size_t i = 0; i < utf8.size();) {
    const auto c = static_cast<unsigned char>(utf8[i]);
    uint32_t cp = 0;
    size_t n = 0;
    if (c < 0x80) {
      cp = c, n = 1;
    } else if ((c & 0xE0) == 0xC0) {
      cp = c & 0x1F, n = 2;
    } else if ((c & 0xF0) == 0xE0) {
      cp = c & 0x0F, n = 3;
    } else if ((c & 0xF8) == 0xF0) {
      cp = c & 0x07, n = 4;
    } else {
      return InvalidArgument("the password is not valid UTF-8");
    }
    if (i + n > utf8.size()) return InvalidArgument("the password is not valid UTF-8");
    for (size_t k = 1; k < n; ++k) {
      const auto cc = static_cast<unsigned char>(utf8[i + k]);
      if ((cc & 0xC0) != 0x80) return InvalidArgument("the password is not valid UTF-8");
      cp = cp << 6 | (cc & 0x3F);
    }
    if (cp >= 0x10000) {
      cp -= 0x10000;
      out.push_back(static_cast<uint16_t>(0xD800 + (cp >> 10)));
      out.push_back(static_cast<uint16_t>(0xDC00 + (cp & 0x3FF)));
    } else {
      out.push_back(static_cast<uint16_t>(cp));
    }
    i += n;
  }
  return out;
}

}  // namespace

std::string TrustSet::Pem() const {
  std::string out;
  for (const auto& a : anchors) out += a.pem;
  return out;
}

std::string TrustSet::Sha256() const { return ossl::Sha256Hex(Pem()); }

Status TrustSetBuilder::AddPem(std::string_view pem, std::string_view what) {
  if (pem.size() > kMaxTrustSourceBytes) {
    return InvalidArgument(std::string(what) + " is " + std::to_string(pem.size()) + " bytes; the limit is " +
                           std::to_string(kMaxTrustSourceBytes));
  }
  CW_ASSIGN_OR_RETURN(auto blocks, ReadPemBlocks(pem, what));
  std::vector<Pending> added;
  for (size_t i = 0; i < blocks.size(); ++i) {
    const std::string where = std::string(what) + ": PEM block " + std::to_string(i + 1);
    if (blocks[i].name != "CERTIFICATE") {
      // Never echo the block: it may be a private key.
      for (auto& b : blocks) OPENSSL_cleanse(b.der.data(), b.der.size());
      return InvalidArgument(where + " is a \"" + blocks[i].name + "\"; a trust source holds CERTIFICATE blocks only");
    }
    const unsigned char* p = blocks[i].der.data();
    ossl::X509Ptr cert(d2i_X509(nullptr, &p, static_cast<long>(blocks[i].der.size())));
    if (!cert || p != blocks[i].der.data() + blocks[i].der.size()) {
      return InvalidArgument(where + " is not a valid DER certificate (" + ossl::DrainErrors("trailing data") + ")");
    }
    added.push_back({std::move(cert), std::string(what)});
  }
  for (auto& a : added) certs_.push_back(std::move(a));
  return Ok();
}

void TrustSetBuilder::Add(X509* cert, std::string_view what) {
  certs_.push_back({ossl::Share(cert), std::string(what)});
}

TrustSet TrustSetBuilder::Build(std::chrono::system_clock::time_point now) const {
  std::map<std::string, TrustAnchor> unique;
  TrustSet set;
  std::map<std::string, bool> dropped;
  for (const auto& pending : certs_) {
    auto der = ossl::CertificateToDer(pending.cert.get());
    auto pem = ossl::CertificateToPem(pending.cert.get());
    if (!der.ok() || !pem.ok()) continue;  // a certificate OpenSSL parsed always encodes
    TrustAnchor a;
    a.sha256 = ossl::Sha256Hex(std::string_view(reinterpret_cast<const char*>(der->data()), der->size()));
    if (unique.contains(a.sha256) || dropped.contains(a.sha256)) continue;
    a.cert = ossl::Share(pending.cert.get());
    a.subject = SubjectOf(pending.cert.get());
    a.not_before = ToTimePoint(X509_get0_notBefore(pending.cert.get()));
    a.not_after = ToTimePoint(X509_get0_notAfter(pending.cert.get()));
    a.der = std::move(*der);
    a.pem = std::move(*pem);
    a.source = pending.source;
    if (now >= a.not_after || now < a.not_before) {
      dropped[a.sha256] = true;
      set.dropped.push_back(DescribeAnchor(a) + (now >= a.not_after ? " has expired" : " is not valid yet"));
      continue;
    }
    unique.emplace(a.sha256, std::move(a));
  }
  for (auto& [_, a] : unique) set.anchors.push_back(std::move(a));
  return set;
}

Result<ossl::Bytes> EncodeJks(const TrustSet& set, std::string_view password) {
  CW_ASSIGN_OR_RETURN(auto chars, Utf16(password));
  ossl::Bytes out;
  PutU32(out, 0xFEEDFEED);
  PutU32(out, 2);
  PutU32(out, static_cast<uint32_t>(set.anchors.size()));
  for (const auto& a : set.anchors) {
    PutU32(out, 2);  // trustedCertEntry
    PutUtf(out, a.sha256);
    const auto ms = std::chrono::duration_cast<std::chrono::milliseconds>(a.not_before.time_since_epoch()).count();
    PutU64(out, static_cast<uint64_t>(std::max<long long>(ms, 0)));
    PutUtf(out, "X.509");
    PutU32(out, static_cast<uint32_t>(a.der.size()));
    out.insert(out.end(), a.der.begin(), a.der.end());
  }
  // sun.security.provider.JavaKeyStore: SHA-1 over the password (UTF-16BE), the words
  // "Mighty Aphrodite" and the store.
  ossl::MdCtx md(EVP_MD_CTX_new());
  if (!md || EVP_DigestInit_ex(md.get(), EVP_sha1(), nullptr) != 1) {
    return Internal("JKS: cannot start SHA-1: " + ossl::DrainErrors());
  }
  ossl::Bytes pass;
  for (uint16_t c : chars) PutU16(pass, c);
  static constexpr std::string_view kWhitener = "Mighty Aphrodite";
  unsigned char digest[EVP_MAX_MD_SIZE];
  unsigned int len = 0;
  if (EVP_DigestUpdate(md.get(), pass.data(), pass.size()) != 1 ||
      EVP_DigestUpdate(md.get(), kWhitener.data(), kWhitener.size()) != 1 ||
      EVP_DigestUpdate(md.get(), out.data(), out.size()) != 1 || EVP_DigestFinal_ex(md.get(), digest, &len) != 1) {
    return Internal("JKS: SHA-1 failed: " + ossl::DrainErrors());
  }
  OPENSSL_cleanse(pass.data(), pass.size());
  out.insert(out.end(), digest, digest + len);
  return out;
}

Result<ossl::Bytes> EncodePkcs12(const TrustSet& set, std::string_view password) {
  const std::string pass(password);
  STACK_OF(PKCS12_SAFEBAG)* bags = sk_PKCS12_SAFEBAG_new_null();
  auto free_bags = [&] { sk_PKCS12_SAFEBAG_pop_free(bags, PKCS12_SAFEBAG_free); };
  ASN1_OBJECT* any_eku = OBJ_txt2obj("2.5.29.37.0", 1);
  if (bags == nullptr || any_eku == nullptr) {
    free_bags();
    ASN1_OBJECT_free(any_eku);
    return Internal("PKCS#12: out of memory");
  }
  for (const auto& a : set.anchors) {
    PKCS12_SAFEBAG* bag = PKCS12_add_cert(&bags, a.cert.get());
    // Java's "trusted key usage" (2.16.840.1.113894.746875.1.1): what makes keytool list a
    // certificate bag as a trustedCertEntry (OpenSSL 3.2's pkcs12 -jdktrust writes the same).
    if (bag == nullptr || PKCS12_add_friendlyname_asc(bag, a.sha256.c_str(), -1) != 1 ||
        PKCS12_add1_attr_by_txt(bag, "2.16.840.1.113894.746875.1.1", V_ASN1_OBJECT,
                                reinterpret_cast<const unsigned char*>(any_eku), -1) != 1) {
      free_bags();
      ASN1_OBJECT_free(any_eku);
      return Internal("PKCS#12: cannot add " + DescribeAnchor(a) + ": " + ossl::DrainErrors());
    }
  }
  ASN1_OBJECT_free(any_eku);
  STACK_OF(PKCS7)* safes = nullptr;
  const int ok = PKCS12_add_safe(&safes, bags, NID_aes_256_cbc, PKCS12_DEFAULT_ITER, pass.c_str());
  free_bags();
  if (ok != 1) {
    sk_PKCS7_pop_free(safes, PKCS7_free);
    return Internal("PKCS#12: cannot encrypt the certificates: " + ossl::DrainErrors());
  }
  PKCS12* p12 = PKCS12_add_safes(safes, 0);
  sk_PKCS7_pop_free(safes, PKCS7_free);
  if (p12 == nullptr ||
      PKCS12_set_mac(p12, pass.c_str(), -1, nullptr, 0, PKCS12_DEFAULT_ITER, EVP_sha256()) != 1) {
    PKCS12_free(p12);
    return Internal("PKCS#12: cannot compute the MAC: " + ossl::DrainErrors());
  }
  unsigned char* der = nullptr;
  const int len = i2d_PKCS12(p12, &der);
  PKCS12_free(p12);
  if (len <= 0) return Internal("PKCS#12: cannot encode: " + ossl::DrainErrors());
  ossl::Bytes out(der, der + len);
  OPENSSL_free(der);
  return out;
}

}  // namespace certwright::signer
