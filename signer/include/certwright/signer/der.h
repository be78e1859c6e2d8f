// Strict DER checks (ITU-T X.690 §10) for input that other parsers read too.
//
// A CSR is read by OpenSSL here and by Go's crypto/x509 in the Kubernetes API server, admission
// plugins, kubectl and the human who approves it. OpenSSL accepts BER (indefinite and
// non-minimal lengths, constructed strings); Go accepts only DER. Where the two disagree about
// what bytes mean, an approver sees one request and certwright signs another. Input that is DER
// at every level has one reading, so certwright accepts only that.
//
// Re-encoding a parsed OpenSSL object proves nothing: OpenSSL keeps the original bytes of what it
// parsed (X509_REQ_INFO, X509_NAME, attribute values as raw ASN1_TYPE), and i2d returns them
// unchanged. So this is a walker over the bytes themselves.
//
//   CW_RETURN_IF_ERROR(CheckStrictDer(der, "certificate request"));
//   // then, for an OCTET STRING known to carry DER (an extension's extnValue):
//   CW_RETURN_IF_ERROR(CheckStrictDer(extn_value, "certificate request subjectAltName extension"));
#pragma once

#include <cstdint>
#include <span>
#include <string_view>

#include "certwright/signer/result.h"

namespace certwright::signer {

// Checks that `der` is exactly one TLV in DER, recursively through every constructed value:
// definite lengths in their shortest form, tag numbers in their shortest form, nothing after
// the value, SEQUENCE and SET constructed, strings, BIT STRING and OCTET STRING primitive,
// BOOLEAN 00 or FF, INTEGER and OBJECT IDENTIFIER minimally encoded, NULL empty, BIT STRING
// unused bits valid and zero. The contents of primitive OCTET and BIT STRINGs are not looked
// into; call again for those known to carry DER. Nesting is limited to 64 levels.
//
// The error is kInvalidArgument: "<what> is not DER (X.690 §10): <what is wrong> at byte <N>",
// N counted from the start of `der`.
Status CheckStrictDer(std::span<const uint8_t> der, std::string_view what);

}  // namespace certwright::signer
