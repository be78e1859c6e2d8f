#include "certwright/api/certificate.h"

#include <openssl/evp.h>

#include <algorithm>
#include <cctype>

#include "certwright/signer/duration.h"
#include "certwright/signer/ossl.h"
#include "fields.h"

namespace certwright::api {

using internal::Fields;

signer::KeySpec PrivateKeySpec::KeySpec() const {
  if (algorithm == "RSA") return signer::KeySpec::Rsa(size == 0 ? 2048 : size);
  if (algorithm == "Ed25519") return signer::KeySpec::Ed25519();
  return size == 384 ? signer::KeySpec::EcdsaP384() : signer::KeySpec::EcdsaP256();
}

namespace {

bool OneOf(const std::string& v, std::initializer_list<std::string_view> allowed) {
  return std::find(allowed.begin(), allowed.end(), v) != allowed.end();
}

Result<PrivateKeySpec> ParsePrivateKey(const Fields& f) {
  PrivateKeySpec pk;
  pk.defaulted = !f.Has("algorithm") && !f.Has("size");
  CW_ASSIGN_OR_RETURN(pk.algorithm, f.String("algorithm", "ECDSA"));
  if (!OneOf(pk.algorithm, {"ECDSA", "RSA", "Ed25519"})) {
    return f.Invalid("algorithm", "must be one of ECDSA, RSA, Ed25519 (got \"" + pk.algorithm + "\")");
  }
  CW_ASSIGN_OR_RETURN(auto size, f.Integer("size"));
  pk.size = size ? static_cast<int>(*size) : 0;
  if (size) {
    if (pk.algorithm == "RSA" && !(*size == 2048 || *size == 3072 || *size == 4096)) {
      return f.Invalid("size", "RSA keys must have size 2048, 3072 or 4096");
    }
    if (pk.algorithm == "ECDSA" && !(*size == 256 || *size == 384)) {
      return f.Invalid("size", "ECDSA keys must have size 256 or 384");
    }
    if (pk.algorithm == "Ed25519") return f.Invalid("size", "Ed25519 keys have no size; remove privateKey.size");
  }
  CW_ASSIGN_OR_RETURN(pk.encoding, f.String("encoding", "PKCS1"));
  if (!OneOf(pk.encoding, {"PKCS1", "PKCS8"})) {
    return f.Invalid("encoding", "must be PKCS1 or PKCS8 (got \"" + pk.encoding + "\")");
  }
  CW_ASSIGN_OR_RETURN(pk.rotation_policy, f.String("rotationPolicy", "Always"));
  if (!OneOf(pk.rotation_policy, {"Always", "Never"})) {
    return f.Invalid("rotationPolicy", "must be Always or Never (got \"" + pk.rotation_policy + "\")");
  }
  return pk;
}

// The signer names template fields as the spec does ("dnsNames[1]: ..."): they become
// "spec.dnsNames[1]: ...". Other messages read "spec: ...".
std::string UnderSpec(const std::string& message) {
  size_t i = 0;
  while (i < message.size() && (std::isalnum(static_cast<unsigned char>(message[i])) || message[i] == '[' ||
                                message[i] == ']' || message[i] == '.')) {
    ++i;
  }
  const bool field = i > 0 && std::isalpha(static_cast<unsigned char>(message[0])) && message.compare(i, 2, ": ") == 0;
  return (field ? "spec." : "spec: ") + message;
}

Result<SubjectSpec> ParseSubject(const Fields& f) {
  SubjectSpec s;
  CW_ASSIGN_OR_RETURN(s.organizations, f.StringList("organizations"));
  CW_ASSIGN_OR_RETURN(s.organizational_units, f.StringList("organizationalUnits"));
  CW_ASSIGN_OR_RETURN(s.countries, f.StringList("countries"));
  CW_ASSIGN_OR_RETURN(s.provinces, f.StringList("provinces"));
  CW_ASSIGN_OR_RETURN(s.localities, f.StringList("localities"));
  CW_ASSIGN_OR_RETURN(s.street_addresses, f.StringList("streetAddresses"));
  CW_ASSIGN_OR_RETURN(s.postal_codes, f.StringList("postalCodes"));
  CW_ASSIGN_OR_RETURN(s.serial_number, f.String("serialNumber"));
  return s;
}

}  // namespace

Result<CertificateSpec> ParseCertificateSpec(const Json& json) {
  if (!json.is_object()) return InvalidArgument("spec: must be an object");
  const Fields f(json, "spec");
  CertificateSpec spec;
  CW_ASSIGN_OR_RETURN(spec.secret_name, f.RequiredString("secretName"));
  if (!internal::IsDnsSubdomain(spec.secret_name)) {
    return f.Invalid("secretName", "\"" + spec.secret_name +
                                       "\" is not a valid Secret name (lower-case RFC 1123 subdomain, at most 253 characters)");
  }
  CW_ASSIGN_OR_RETURN(spec.common_name, f.String("commonName"));
  CW_ASSIGN_OR_RETURN(spec.dns_names, f.StringList("dnsNames"));
  CW_ASSIGN_OR_RETURN(spec.ip_addresses, f.StringList("ipAddresses"));
  CW_ASSIGN_OR_RETURN(spec.uris, f.StringList("uris"));
  CW_ASSIGN_OR_RETURN(spec.email_addresses, f.StringList("emailAddresses"));
  if (spec.common_name.empty() && spec.dns_names.empty() && spec.ip_addresses.empty() && spec.uris.empty() &&
      spec.email_addresses.empty()) {
    return f.Invalid("", "at least one of commonName, dnsNames, ipAddresses, uris or emailAddresses must be set");
  }
  CW_ASSIGN_OR_RETURN(Fields subject, f.Object("subject"));
  CW_ASSIGN_OR_RETURN(spec.subject, ParseSubject(subject));

  CW_ASSIGN_OR_RETURN(auto duration, internal::DurationField(f, "duration", std::chrono::hours(1), "1h"));
  if (duration) spec.duration = *duration;
  CW_ASSIGN_OR_RETURN(spec.renew_before, internal::DurationField(f, "renewBefore", std::chrono::minutes(5), "5m"));
  CW_ASSIGN_OR_RETURN(auto pct, f.Integer("renewBeforePercentage"));
  if (pct) {
    if (*pct < 1 || *pct > 99) return f.Invalid("renewBeforePercentage", "must be between 1 and 99");
    spec.renew_before_percentage = static_cast<int>(*pct);
  }
  if (spec.renew_before && spec.renew_before_percentage) {
    return f.Invalid("renewBeforePercentage", "renewBefore and renewBeforePercentage are mutually exclusive");
  }
  if (spec.renew_before && *spec.renew_before >= spec.duration) {
    return f.Invalid("renewBefore", "renewBefore must be shorter than duration");
  }

  CW_ASSIGN_OR_RETURN(Fields private_key, f.Object("privateKey"));
  CW_ASSIGN_OR_RETURN(spec.private_key, ParsePrivateKey(private_key));
  CW_ASSIGN_OR_RETURN(spec.usages, f.StringList("usages"));
  if (auto usages = signer::ParseUsages(spec.usages); !usages.ok()) {
    return f.Invalid("usages", usages.error().message());
  }
  CW_ASSIGN_OR_RETURN(spec.is_ca, f.Bool("isCA"));

  if (!f.Has("issuerRef")) return f.Invalid("issuerRef", "is required");
  CW_ASSIGN_OR_RETURN(Fields issuer, f.Object("issuerRef"));
  CW_ASSIGN_OR_RETURN(spec.issuer_ref.name, issuer.RequiredString("name"));
  CW_ASSIGN_OR_RETURN(spec.issuer_ref.kind, issuer.String("kind", "Issuer"));
  if (!OneOf(spec.issuer_ref.kind, {"Issuer", "ClusterIssuer"})) {
    return issuer.Invalid("kind", "must be Issuer or ClusterIssuer (got \"" + spec.issuer_ref.kind + "\")");
  }
  CW_ASSIGN_OR_RETURN(spec.issuer_ref.group, issuer.String("group", "certwright.dev"));
  if (spec.issuer_ref.group != kGroup) {
    return issuer.Invalid("group", "only certwright.dev issuers are served (got \"" + spec.issuer_ref.group + "\")");
  }

  CW_ASSIGN_OR_RETURN(Fields tmpl, f.Object("secretTemplate"));
  CW_ASSIGN_OR_RETURN(spec.secret_labels, tmpl.StringMap("labels"));
  CW_ASSIGN_OR_RETURN(spec.secret_annotations, tmpl.StringMap("annotations"));
  for (const auto& [k, v] : spec.secret_annotations) {
    if (k.rfind("certwright.dev/", 0) == 0) {
      return tmpl.Invalid("annotations." + k, "the certwright.dev/ prefix is reserved for the annotations certwright writes");
    }
  }

  // What only the signer knows: name syntax, lengths, usage combinations.
  CW_ASSIGN_OR_RETURN(auto t, TemplateOf(spec));
  if (auto valid = signer::ValidateTemplate(t); !valid.ok()) return InvalidArgument(UnderSpec(valid.error().message()));
  return spec;
}

signer::DistinguishedName SubjectOf(const CertificateSpec& spec) {
  signer::DistinguishedName dn;
  if (!spec.common_name.empty()) dn.Add("CN", spec.common_name);
  const SubjectSpec& s = spec.subject;
  for (const auto& v : s.organizations) dn.Add("O", v);
  for (const auto& v : s.organizational_units) dn.Add("OU", v);
  for (const auto& v : s.countries) dn.Add("C", v);
  for (const auto& v : s.provinces) dn.Add("ST", v);
  for (const auto& v : s.localities) dn.Add("L", v);
  for (const auto& v : s.street_addresses) dn.Add("street", v);
  for (const auto& v : s.postal_codes) dn.Add("postalCode", v);
  if (!s.serial_number.empty()) dn.Add("serialNumber", s.serial_number);
  return dn;
}

Result<signer::CertificateTemplate> TemplateOf(const CertificateSpec& spec) {
  signer::CertificateTemplate t;
  t.subject = SubjectOf(spec);
  t.dns_names = spec.dns_names;
  t.ip_addresses = spec.ip_addresses;
  t.uris = spec.uris;
  t.email_addresses = spec.email_addresses;
  if (!spec.usages.empty()) {
    CW_ASSIGN_OR_RETURN(auto usages, signer::ParseUsages(spec.usages));
    t.usages = std::move(usages);
  }
  t.is_ca = spec.is_ca;
  t.duration = spec.duration;
  return t;
}

TimePoint RenewalTime(const CertificateSpec& spec, TimePoint not_before, TimePoint not_after) {
  const auto lifetime = std::chrono::duration_cast<std::chrono::seconds>(not_after - not_before);
  std::chrono::seconds before = lifetime / 3;
  if (spec.renew_before) {
    before = *spec.renew_before;
  } else if (spec.renew_before_percentage) {
    before = lifetime * *spec.renew_before_percentage / 100;
  }
  // A renewBefore longer than the lifetime the issuer actually granted (maxDuration shortened
  // it) would renew in a loop: fall back to a third of the lifetime, as cert-manager does.
  if (before >= lifetime) before = lifetime / 3;
  return not_after - before;
}

std::string SpecHash(const CertificateSpec& spec) {
  const SubjectSpec& s = spec.subject;
  const Json canonical = {
      {"cn", spec.common_name},
      {"dns", spec.dns_names},
      {"ip", spec.ip_addresses},
      {"uri", spec.uris},
      {"email", spec.email_addresses},
      {"subject",
       {s.organizations, s.organizational_units, s.countries, s.provinces, s.localities, s.street_addresses,
        s.postal_codes, s.serial_number}},
      {"duration", spec.duration.count()},
      {"key", {spec.private_key.algorithm, spec.private_key.KeySpec().bits, spec.private_key.encoding}},
      {"usages", spec.usages},
      {"isCA", spec.is_ca},
      {"issuer", {spec.issuer_ref.kind, spec.issuer_ref.name}},
  };
  // The first 16 bytes of the SHA-256, in hex.
  return ossl::Sha256Hex(canonical.dump()).substr(0, 32);
}

}  // namespace certwright::api
