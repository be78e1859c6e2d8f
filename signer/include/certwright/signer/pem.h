// Reading certificates, keys and files that users hand in, with size bounds and messages
// that say which block is wrong and why.
#pragma once

#include <string>
#include <string_view>
#include <vector>

#include "certwright/signer/ossl.h"
#include "certwright/signer/result.h"

namespace certwright::signer {

// The largest PEM/DER input certwright reads: far above any real CSR or chain.
inline constexpr size_t kMaxInputBytes = 256 * 1024;

// The size check every reader applies: "<what> is empty", "<what> is N bytes; the limit is M".
Status CheckInputSize(std::string_view input, std::string_view what);

struct PemBlock {
  std::string name;  // "CERTIFICATE", "CERTIFICATE REQUEST", ...
  ossl::Bytes der;
};
// Every PEM block in `input`, decoded by OpenSSL. Text outside blocks is allowed (as OpenSSL and
// Go's pem.Decode allow); a block that does not decode is an error naming it ("<what>: PEM block
// 2 is malformed (...)"), so is an encrypted one, and so is input without any block.
Result<std::vector<PemBlock>> ReadPemBlocks(std::string_view input, std::string_view what);

// One or more "CERTIFICATE" PEM blocks (or one DER certificate). Errors name the block:
// "PEM block 2: ...". Other block types are an error.
Result<std::vector<ossl::X509Ptr>> ParseCertificates(std::string_view pem_or_der);
// A private key in PKCS#8, PKCS#1 ("RSA PRIVATE KEY") or SEC 1 ("EC PRIVATE KEY") PEM.
// Encrypted keys are refused with a message. The error never includes key material.
Result<ossl::PKey> ParsePrivateKey(std::string_view pem);
Result<ossl::PKey> ParsePublicKey(std::string_view pem);

// Reads a file of at most `max_bytes`; errors name the path and the cause.
Result<std::string> ReadFileBounded(const std::string& path, size_t max_bytes = kMaxInputBytes);

// True when `text` looks like PEM (has a "-----BEGIN " line).
bool LooksLikePem(std::string_view text);

}  // namespace certwright::signer
