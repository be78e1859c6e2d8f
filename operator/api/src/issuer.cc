#include "certwright/api/issuer.h"

#include <algorithm>

#include "fields.h"

namespace certwright::api {

using internal::Fields;

std::optional<signer::KeySpec> CaKeySpec(const IssuerSpec& spec) {
  const std::optional<BootstrapSpec>* bootstrap = nullptr;
  if (spec.type == IssuerSpec::Type::kPkcs11) bootstrap = &spec.pkcs11.bootstrap;
  if (spec.type == IssuerSpec::Type::kAwsKms) bootstrap = &spec.aws_kms.bootstrap;
  if (bootstrap == nullptr || !*bootstrap) return std::nullopt;
  return (*bootstrap)->key_spec;
}

std::string_view TypeName(IssuerSpec::Type type) {
  switch (type) {
    case IssuerSpec::Type::kSelfSigned: return "selfSigned";
    case IssuerSpec::Type::kCa: return "ca";
    case IssuerSpec::Type::kPkcs11: return "pkcs11";
    case IssuerSpec::Type::kAwsKms: return "awsKMS";
  }
  return "unknown";
}

namespace {

Result<SecretKeyRef> ParseSecretRef(const Fields& parent, std::string_view field, std::string default_key) {
  CW_ASSIGN_OR_RETURN(Fields f, parent.Object(field));
  SecretKeyRef ref;
  CW_ASSIGN_OR_RETURN(ref.name, f.RequiredString("name"));
  if (!internal::IsDnsSubdomain(ref.name)) return f.Invalid("name", "\"" + ref.name + "\" is not a valid Secret name");
  CW_ASSIGN_OR_RETURN(ref.key, f.String("key", std::move(default_key)));
  return ref;
}

Result<BootstrapSpec> ParseBootstrap(const Fields& parent) {
  CW_ASSIGN_OR_RETURN(Fields f, parent.Object("bootstrap"));
  BootstrapSpec b;
  CW_ASSIGN_OR_RETURN(b.mode, f.RequiredString("mode"));
  if (b.mode != "SelfSigned" && b.mode != "CSR") {
    return f.Invalid("mode", "must be SelfSigned or CSR (got \"" + b.mode + "\")");
  }
  if (!f.Has("subject")) return f.Invalid("subject", "is required");
  CW_ASSIGN_OR_RETURN(Fields subject, f.Object("subject"));
  CertificateSpec as_cert;  // the subject fields are the Certificate's, plus a required commonName
  CW_ASSIGN_OR_RETURN(as_cert.common_name, subject.RequiredString("commonName"));
  CW_ASSIGN_OR_RETURN(as_cert.subject.organizations, subject.StringList("organizations"));
  CW_ASSIGN_OR_RETURN(as_cert.subject.organizational_units, subject.StringList("organizationalUnits"));
  CW_ASSIGN_OR_RETURN(as_cert.subject.countries, subject.StringList("countries"));
  CW_ASSIGN_OR_RETURN(as_cert.subject.provinces, subject.StringList("provinces"));
  CW_ASSIGN_OR_RETURN(as_cert.subject.localities, subject.StringList("localities"));
  CW_ASSIGN_OR_RETURN(as_cert.subject.street_addresses, subject.StringList("streetAddresses"));
  CW_ASSIGN_OR_RETURN(as_cert.subject.postal_codes, subject.StringList("postalCodes"));
  CW_ASSIGN_OR_RETURN(as_cert.subject.serial_number, subject.String("serialNumber"));
  b.subject = SubjectOf(as_cert);
  if (auto name = b.subject.ToX509Name(); !name.ok()) return subject.Invalid("", name.error().message());
  CW_ASSIGN_OR_RETURN(auto duration, internal::DurationField(f, "duration", std::chrono::hours(1), "1h"));
  if (duration) b.duration = *duration;
  CW_ASSIGN_OR_RETURN(std::string algorithm, f.String("keyAlgorithm"));
  CW_ASSIGN_OR_RETURN(auto size, f.Integer("keySize"));
  if (size && algorithm.empty()) return f.Invalid("keySize", "keySize needs keyAlgorithm");
  if (!algorithm.empty()) {
    if (algorithm != "ECDSA" && algorithm != "RSA" && algorithm != "Ed25519") {
      return f.Invalid("keyAlgorithm", "must be one of ECDSA, RSA, Ed25519 (got \"" + algorithm + "\")");
    }
    if (size && algorithm == "RSA" && !(*size == 2048 || *size == 3072 || *size == 4096)) {
      return f.Invalid("keySize", "RSA keys must have size 2048, 3072 or 4096");
    }
    if (size && algorithm == "ECDSA" && !(*size == 256 || *size == 384)) {
      return f.Invalid("keySize", "ECDSA keys must have size 256 or 384");
    }
    if (size && algorithm == "Ed25519") return f.Invalid("keySize", "Ed25519 keys have no size; remove bootstrap.keySize");
    PrivateKeySpec pk{algorithm, size ? static_cast<int>(*size) : 0};
    b.key_spec = pk.KeySpec();
  }
  return b;
}

// caSecretRef xor bootstrap, shared by pkcs11 and awsKMS.
Status ParseCaSource(const Fields& f, std::optional<SecretKeyRef>& ca, std::optional<BootstrapSpec>& bootstrap) {
  if (f.Has("caSecretRef") == f.Has("bootstrap")) {
    return f.Invalid("", "exactly one of caSecretRef or bootstrap must be set");
  }
  if (f.Has("caSecretRef")) {
    CW_ASSIGN_OR_RETURN(auto ref, ParseSecretRef(f, "caSecretRef", "tls.crt"));
    ca = std::move(ref);
  } else {
    CW_ASSIGN_OR_RETURN(auto b, ParseBootstrap(f));
    bootstrap = std::move(b);
  }
  return Ok();
}

}  // namespace

Result<IssuerSpec> ParseIssuerSpec(const Json& json) {
  if (!json.is_object()) return InvalidArgument("spec: must be an object");
  const Fields f(json, "spec");
  const int set = f.Has("selfSigned") + f.Has("ca") + f.Has("pkcs11") + f.Has("awsKMS");
  if (set != 1) return f.Invalid("", "exactly one of selfSigned, ca, pkcs11 or awsKMS must be set");
  IssuerSpec spec;
  if (f.Has("selfSigned")) {
    spec.type = IssuerSpec::Type::kSelfSigned;
  } else if (f.Has("ca")) {
    spec.type = IssuerSpec::Type::kCa;
    CW_ASSIGN_OR_RETURN(Fields ca, f.Object("ca"));
    CW_ASSIGN_OR_RETURN(spec.ca_secret_name, ca.RequiredString("secretName"));
    if (!internal::IsDnsSubdomain(spec.ca_secret_name)) {
      return ca.Invalid("secretName", "\"" + spec.ca_secret_name + "\" is not a valid Secret name");
    }
  } else if (f.Has("pkcs11")) {
    spec.type = IssuerSpec::Type::kPkcs11;
    CW_ASSIGN_OR_RETURN(Fields p, f.Object("pkcs11"));
    Pkcs11IssuerSpec& s = spec.pkcs11;
    CW_ASSIGN_OR_RETURN(s.module_path, p.RequiredString("modulePath"));
    if (s.module_path.front() != '/') return p.Invalid("modulePath", "modulePath must be an absolute path");
    CW_ASSIGN_OR_RETURN(s.key_uri, p.RequiredString("keyURI"));
    if (s.key_uri.rfind("pkcs11:", 0) != 0) return p.Invalid("keyURI", "keyURI must start with \"pkcs11:\"");
    if (s.key_uri.find('?') != std::string::npos) {
      return p.Invalid("keyURI",
                       "keyURI must not have query attributes (module-path, pin-source, pin-value): use modulePath and "
                       "pinSecretRef");
    }
    if (!p.Has("pinSecretRef")) return p.Invalid("pinSecretRef", "is required");
    CW_ASSIGN_OR_RETURN(s.pin_secret, ParseSecretRef(p, "pinSecretRef", "pin"));
    CW_RETURN_IF_ERROR(ParseCaSource(p, s.ca_secret, s.bootstrap));
  } else {
    spec.type = IssuerSpec::Type::kAwsKms;
    CW_ASSIGN_OR_RETURN(Fields k, f.Object("awsKMS"));
    AwsKmsIssuerSpec& s = spec.aws_kms;
    CW_ASSIGN_OR_RETURN(s.key_id, k.RequiredString("keyID"));
    CW_ASSIGN_OR_RETURN(s.region, k.RequiredString("region"));
    CW_ASSIGN_OR_RETURN(s.endpoint, k.String("endpoint"));
    if (!s.endpoint.empty() && s.endpoint.rfind("http://", 0) != 0 && s.endpoint.rfind("https://", 0) != 0) {
      return k.Invalid("endpoint", "endpoint must be an http or https URL");
    }
    if (k.Has("credentialsSecretRef")) {
      CW_ASSIGN_OR_RETURN(auto ref, ParseSecretRef(k, "credentialsSecretRef", ""));
      s.credentials_secret = ref.name;
    }
    CW_RETURN_IF_ERROR(ParseCaSource(k, s.ca_secret, s.bootstrap));
  }
  CW_ASSIGN_OR_RETURN(spec.max_duration, internal::DurationField(f, "maxDuration", std::chrono::seconds(0), "0s"));
  CW_ASSIGN_OR_RETURN(spec.min_duration, internal::DurationField(f, "minDuration", std::chrono::seconds(0), "0s"));
  if (spec.max_duration && spec.min_duration && *spec.min_duration > *spec.max_duration) {
    return f.Invalid("minDuration", "minDuration must not be longer than maxDuration");
  }
  auto policy = f.String("policy", "Optional");
  if (!policy.ok()) return std::move(policy).error();
  if (*policy != "Optional" && *policy != "Required") {
    return f.Invalid("policy", "Unsupported value: \"" + *policy + "\": supported values: \"Optional\", \"Required\"");
  }
  spec.policy_required = *policy == "Required";
  if (f.Has("podCertificates")) {
    CW_ASSIGN_OR_RETURN(Fields pc, f.Object("podCertificates"));
    CW_ASSIGN_OR_RETURN(spec.pod_certificates.trust_domain, pc.String("trustDomain", "cluster.local"));
    if (!IsTrustDomain(spec.pod_certificates.trust_domain)) {
      return pc.Invalid("trustDomain", "\"" + spec.pod_certificates.trust_domain +
                                           "\" is not a SPIFFE trust domain: 1-255 lower-case letters, digits, "
                                           "'.', '-' or '_'");
    }
    CW_ASSIGN_OR_RETURN(auto backdate, internal::DurationField(pc, "backdate", std::chrono::seconds(0), "0s"));
    if (backdate) {
      if (*backdate > kMaxPodCertificateBackdate) {
        return pc.Invalid("backdate", "backdate must be at most 4m (the API accepts a notBefore at most 5 minutes "
                                      "from its clock)");
      }
      spec.pod_certificates.backdate = *backdate;
    }
    CW_ASSIGN_OR_RETURN(spec.pod_certificates.refresh_before,
                        internal::DurationField(pc, "refreshBefore", std::chrono::minutes(10), "10m"));
  }
  return spec;
}

bool IsTrustDomain(std::string_view name) {
  if (name.empty() || name.size() > 255) return false;
  return std::all_of(name.begin(), name.end(), [](char c) {
    return (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '.' || c == '-' || c == '_';
  });
}

}  // namespace certwright::api
