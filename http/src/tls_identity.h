// Implementation details of TlsCredentials shared with the server (not a public header).
#pragma once

#include <openssl/bio.h>
#include <openssl/evp.h>
#include <openssl/ssl.h>
#include <openssl/x509.h>

#include <memory>
#include <string>
#include <vector>

#include "certwright/http/tls.h"

namespace certwright::http {

struct BioFree {
  void operator()(BIO* b) const { BIO_free(b); }
};
struct X509Free {
  void operator()(X509* x) const { X509_free(x); }
};
struct PKeyFree {
  void operator()(EVP_PKEY* k) const { EVP_PKEY_free(k); }
};
using BioPtr = std::unique_ptr<BIO, BioFree>;
using X509Ptr = std::unique_ptr<X509, X509Free>;
using PKeyPtr = std::unique_ptr<EVP_PKEY, PKeyFree>;

struct TlsCredentials::Identity {
  std::vector<X509Ptr> chain;  // leaf first
  PKeyPtr key;
  std::string leaf_sha256;
};

// The SSL_CTX_set_cert_cb callback; `arg` is the TlsCredentials.
int SelectIdentity(SSL* ssl, void* arg);

}  // namespace certwright::http
