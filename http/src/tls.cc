#include "certwright/http/tls.h"

#include <openssl/bio.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/x509.h>

#include <cstdio>
#include <vector>

#include "tls_identity.h"

namespace certwright::http {

namespace {

std::string OpenSslError() {
  const unsigned long e = ERR_get_error();
  ERR_clear_error();
  if (e == 0) return "no PEM data";
  char buf[256];
  ERR_error_string_n(e, buf, sizeof(buf));
  return buf;
}

}  // namespace

TlsCredentials::TlsCredentials() = default;
TlsCredentials::~TlsCredentials() = default;

Status TlsCredentials::Update(std::string_view chain_pem, std::string_view key_pem) {
  auto identity = std::make_shared<Identity>();
  {
    BioPtr bio(BIO_new_mem_buf(chain_pem.data(), static_cast<int>(chain_pem.size())));
    if (!bio) return Internal("out of memory reading the serving certificate");
    while (true) {
      X509* cert = PEM_read_bio_X509(bio.get(), nullptr, nullptr, nullptr);
      if (!cert) break;
      identity->chain.emplace_back(cert);
    }
    ERR_clear_error();  // the end of the PEM data is reported as an error
  }
  if (identity->chain.empty()) return InvalidArgument("the serving certificate chain holds no PEM certificate");
  {
    BioPtr bio(BIO_new_mem_buf(key_pem.data(), static_cast<int>(key_pem.size())));
    if (!bio) return Internal("out of memory reading the serving key");
    identity->key.reset(PEM_read_bio_PrivateKey(bio.get(), nullptr, nullptr, nullptr));
    if (!identity->key) return InvalidArgument("the serving key is not a PEM private key: " + OpenSslError());
  }
  if (X509_check_private_key(identity->chain.front().get(), identity->key.get()) != 1) {
    ERR_clear_error();
    return InvalidArgument("the serving key does not match the serving certificate");
  }
  unsigned char md[EVP_MAX_MD_SIZE];
  unsigned int len = 0;
  if (X509_digest(identity->chain.front().get(), EVP_sha256(), md, &len) != 1) {
    return Internal("cannot hash the serving certificate: " + OpenSslError());
  }
  identity->leaf_sha256.reserve(len * 2);
  for (unsigned i = 0; i < len; ++i) {
    char hex[3];
    std::snprintf(hex, sizeof(hex), "%02x", md[i]);
    identity->leaf_sha256 += hex;
  }
  std::lock_guard<std::mutex> lock(mutex_);
  current_ = std::move(identity);
  return Ok();
}

bool TlsCredentials::loaded() const { return Current() != nullptr; }

std::string TlsCredentials::LeafSha256() const {
  auto current = Current();
  return current ? current->leaf_sha256 : "";
}

std::shared_ptr<const TlsCredentials::Identity> TlsCredentials::Current() const {
  std::lock_guard<std::mutex> lock(mutex_);
  return current_;
}

int SelectIdentity(SSL* ssl, void* arg) {
  // SSL_CTX_set_cert_cb: runs in each handshake, before the certificate is sent.
  const auto* credentials = static_cast<const TlsCredentials*>(arg);
  auto identity = credentials->Current();
  if (!identity) return 0;  // no certificate yet: the handshake fails
  if (SSL_use_certificate(ssl, identity->chain.front().get()) != 1) return 0;
  if (SSL_use_PrivateKey(ssl, identity->key.get()) != 1) return 0;
  SSL_clear_chain_certs(ssl);
  for (size_t i = 1; i < identity->chain.size(); ++i) {
    if (SSL_add1_chain_cert(ssl, identity->chain[i].get()) != 1) return 0;
  }
  return 1;
}

}  // namespace certwright::http
