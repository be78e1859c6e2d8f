// A server's TLS identity (certificate chain and private key) that can be replaced while the
// server runs: each new handshake presents the identity current at that moment (the listener's
// SSL_CTX asks through SSL_CTX_set_cert_cb); connections already open keep theirs.
//
//   auto credentials = std::make_shared<http::TlsCredentials>();
//   CW_RETURN_IF_ERROR(credentials->Update(chain_pem, key_pem));   // again at every renewal
#pragma once

#include <memory>
#include <mutex>
#include <string>
#include <string_view>

#include "certwright/signer/result.h"

namespace certwright::http {

class TlsCredentials {
 public:
  TlsCredentials();
  ~TlsCredentials();

  // Parses a PEM chain (leaf first) and its PEM private key and makes them the identity of new
  // handshakes. kInvalidArgument (nothing replaced) when either does not parse or the key does
  // not match the leaf.
  Status Update(std::string_view chain_pem, std::string_view key_pem);
  bool loaded() const;
  // Hex SHA-256 of the current leaf certificate (DER); "" before the first Update.
  std::string LeafSha256() const;

  // Implementation details below: the server's handshake callback takes the current identity.
  struct Identity;
  std::shared_ptr<const Identity> Current() const;

 private:
  mutable std::mutex mutex_;
  std::shared_ptr<const Identity> current_;
};

}  // namespace certwright::http
