// RFC 7512 pkcs11: URIs as the PKCS#11 backend uses them.
//
//   pkcs11:token=ca;object=issuing-ca;type=private?module-path=/usr/lib/softhsm/libsofthsm2.so&pin-source=/run/pin
//
// Token selection: token (label), serial, manufacturer, model, slot-id. Key selection: object
// (CKA_LABEL) and/or id (CKA_ID, percent-encoded bytes). Module: module-path, or module-name
// searched in the standard PKCS#11 module directories. PIN: pin-value, or pin-source naming a
// file ("file:/path" or "/path") whose first line is the PIN.
#pragma once

#include <optional>
#include <string>
#include <vector>

#include "certwright/signer/key.h"
#include "certwright/signer/key_uri.h"
#include "certwright/signer/result.h"

namespace certwright::signer::pkcs11 {

struct Pkcs11Uri {
  // Token selection; at least one is set.
  std::optional<std::string> token;
  std::optional<std::string> serial;
  std::optional<std::string> manufacturer;
  std::optional<std::string> model;
  std::optional<unsigned long> slot_id;
  // Key selection; at least one is set.
  std::optional<std::string> object;
  std::optional<Bytes> id;
  // Where the module is: resolved to an absolute path.
  std::string module_path;
  // Exactly one of these, or neither (then login is skipped: only for tokens without login).
  // pin_value is wiped when the Pkcs11Uri goes (and in every copy and moved-from one).
  std::optional<std::string> pin_value;
  std::optional<std::string> pin_source;
  // The URI text without secrets, for messages.
  std::string redacted;

  Pkcs11Uri() = default;
  Pkcs11Uri(const Pkcs11Uri&) = default;
  Pkcs11Uri(Pkcs11Uri&&) = default;
  Pkcs11Uri& operator=(const Pkcs11Uri&) = default;
  Pkcs11Uri& operator=(Pkcs11Uri&&) = default;
  ~Pkcs11Uri();

  static Result<Pkcs11Uri> FromKeyUri(const KeyUri& uri);
  // "token \"ca\"" or "slot 3": how messages name the token.
  std::string TokenDescription() const;
  // "object \"issuing-ca\"" / "id 01:02": how messages name the key.
  std::string KeyDescription() const;
};

// The module directories module-name is searched in.
const std::vector<std::string>& ModuleSearchPath();

}  // namespace certwright::signer::pkcs11
