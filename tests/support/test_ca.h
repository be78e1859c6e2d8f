// Test helpers: software CAs, CSRs made the way a client makes them (plain OpenSSL, not our
// builder), and chain verification the way a relying party does it.
#pragma once

#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "certwright/signer/key.h"
#include "certwright/signer/x509.h"

namespace certwright::testing {

struct TestCa {
  std::shared_ptr<signer::SigningKey> key;
  std::unique_ptr<signer::CertificateAuthority> ca;
  std::string pem;
};

// A self-signed CA with a software key. Fails the test on error.
TestCa MakeSoftwareCa(const signer::KeySpec& spec, const signer::IssuanceOptions& options = {},
                      std::optional<int> path_length = std::nullopt,
                      std::chrono::seconds duration = std::chrono::hours(24 * 365));

ossl::PKey GenerateTestKey(const signer::KeySpec& spec);

// A PKCS#10 CSR signed by `key` with OpenSSL directly; `sans` like "DNS:a.example", "IP:10.0.0.1".
std::string MakeCsrPem(EVP_PKEY* key, const std::string& subject_cn, const std::vector<std::string>& sans = {},
                       const EVP_MD* md = nullptr);

// Verifies `leaf` up to `root` with OpenSSL's X509_verify_cert (intermediates optional), at
// the current time; returns "" on success or OpenSSL's reason.
std::string VerifyChain(X509* leaf, X509* root, const std::vector<X509*>& intermediates = {});

ossl::X509Ptr ParseOne(const std::string& pem);

// The DER of extension `nid` of `cert`, and whether it is critical; nullopt when absent.
struct ExtensionInfo {
  bool critical;
  std::string text;  // X509V3_EXT_print output
};
std::optional<ExtensionInfo> Extension(X509* cert, int nid);

}  // namespace certwright::testing
