// POST /validate: what the CRD schema cannot check, with the controllers' parsers (operator/api),
// and the issuance policy at admission (IssuanceService::Decide) for Certificates and for CSRs
// addressed to our signers.
//
// The webhook never loads CA keys: it decides with an IssuerHandle built from the stored issuer
// object alone (`ca` nullopt). The controller decides again before every signature, so what the
// webhook cannot judge (an issuer not known yet, a namespace not in the cache yet) is allowed with a
// warning rather than refused.
#include "certwright/api/certificate.h"
#include "certwright/api/issuer.h"
#include "certwright/api/policy.h"
#include "certwright/api/trust.h"
#include "certwright/issuance/csr.h"
#include "certwright/signer/duration.h"
#include "review.h"

namespace certwright::webhook::internal {

const Json& SpecOf(const Json& object) {
  auto it = object.find("spec");
  return it == object.end() ? EmptyObject() : *it;
}

std::string NamespaceOf(const Review& r) {
  if (!r.ns.empty()) return r.ns;
  const Json* metadata = Member(*r.object, "metadata");
  return metadata ? api::StringAt(*metadata, "namespace") : "";
}

KnownIssuer LookUpIssuer(const AdmissionContext& context, const std::string& kind, const std::string& ns,
                         const std::string& name) {
  const std::string what = kind + " " + (kind == "Issuer" ? ns + "/" : std::string()) + name;
  std::shared_ptr<const Json> stored;
  if (context.issuer) stored = context.issuer(kind, kind == "Issuer" ? ns : "", name);
  if (!stored || !stored->is_object()) return {nullptr, what + " does not exist yet"};
  auto spec = api::ParseIssuerSpec(SpecOf(*stored));
  if (!spec.ok()) {
    // A ClusterIssuer's own message is the cluster admin's business (NotReadyForNamespace).
    return {nullptr, issuance::NotReadyForNamespace(kind, name, what + " is not ready: " + spec.error().message())};
  }
  auto handle = std::make_shared<issuance::IssuerHandle>();
  handle->kind = kind;
  handle->ns = kind == "Issuer" ? ns : "";
  handle->name = name;
  handle->spec = std::move(*spec);
  handle->backend = std::string(api::TypeName(handle->spec.type));
  return {std::move(handle), ""};
}

namespace {

constexpr std::string_view kOurGroup = "certwright.dev";
constexpr std::string_view kOurVersion = "v1alpha1";

// Structural equality with a depth bound: nlohmann's operator== recurses, and a review is user
// input (a 1 MiB body nests half a million levels deep). Too deep counts as different.
bool BoundedEqual(const Json& a, const Json& b, int depth = 32) {
  if (depth <= 0 || a.type() != b.type()) return false;
  if (a.is_object()) {
    if (a.size() != b.size()) return false;
    for (auto it = a.begin(); it != a.end(); ++it) {
      auto other = b.find(it.key());
      if (other == b.end() || !BoundedEqual(*it, *other, depth - 1)) return false;
    }
    return true;
  }
  if (a.is_array()) {
    if (a.size() != b.size()) return false;
    for (size_t i = 0; i < a.size(); ++i) {
      if (!BoundedEqual(a[i], b[i], depth - 1)) return false;
    }
    return true;
  }
  return a == b;  // a scalar: no recursion
}

// An UPDATE that leaves the spec as it is has nothing new to judge (labels, annotations,
// finalizers, so also the removal of a finalizer from an object being deleted): allowed, so that a
// policy tightened later does not lock existing objects. An object being deleted whose spec
// changes is judged like any other: a finalizer of the user's own must not open a way around
// admission.
bool NothingToJudge(const Review& r) {
  if (r.operation != "UPDATE") return false;
  return r.old_object != nullptr && BoundedEqual(SpecOf(*r.object), SpecOf(*r.old_object));
}

// Decide's answer as a verdict: a denial (custody, policy, minDuration) is 403 with the service's
// message; what it cannot judge now (kUnavailable: a namespace not in the cache yet) is allowed
// with a warning, since the controller judges again before it signs.
std::optional<Verdict> Refusal(const Error& e, Verdict& allowed) {
  if (e.kind() == ErrorKind::kPolicyDenied) return Verdict::Forbidden(e.message());
  if (e.kind() == ErrorKind::kInvalidArgument) return Verdict::Invalid(e.message());
  allowed.warnings.push_back("CertificatePolicies were not checked at admission (" + e.message() +
                             "); the controller checks them before it signs");
  return std::nullopt;
}

Verdict ValidateCertificate(const Review& r, const AdmissionContext& context) {
  auto spec = api::ParseCertificateSpec(SpecOf(*r.object));
  if (!spec.ok()) return Verdict::Invalid(spec.error().message());
  Verdict verdict = Verdict::Allow();
  const std::string ns = NamespaceOf(r);
  const KnownIssuer issuer = LookUpIssuer(context, spec->issuer_ref.kind, ns, spec->issuer_ref.name);
  if (!issuer.handle) {
    // As with cert-manager, a Certificate may be applied before its issuer.
    verdict.warnings.push_back("spec.issuerRef: " + issuer.why_not +
                               "; the Certificate is issued once it is ready, and its policies are checked then");
    return verdict;
  }
  if (context.issuance == nullptr) return verdict;

  issuance::IssuanceRequest request;
  request.door = issuance::Door::kCertificate;
  request.ns = ns;
  request.name = r.ObjectName();
  request.object = "Certificate " + ns + "/" + request.name;
  request.issuer = issuer.handle;
  auto tmpl = api::TemplateOf(*spec);
  if (!tmpl.ok()) return Verdict::Invalid(tmpl.error().message());
  request.tmpl = std::move(*tmpl);
  // The controller makes the key from privateKey: the policy judges that key's kind.
  request.subject_key.spec = spec->private_key.KeySpec();
  auto decided = context.issuance->Decide(request);
  if (!decided.ok()) {
    if (auto refusal = Refusal(decided.error(), verdict)) return *refusal;
    return verdict;
  }
  // The issuer's and the policies' maximum shorten the lifetime silently at signing: say so now.
  if (decided->duration < spec->duration) {
    verdict.warnings.push_back("spec.duration: certificates are issued for " + FormatDuration(decided->duration) +
                               ", not " + FormatDuration(spec->duration) + " (the maxDuration of " +
                               issuer.handle->Describe() + " or of a CertificatePolicy)");
    if (spec->renew_before && *spec->renew_before >= decided->duration) {
      verdict.warnings.push_back("spec.renewBefore: " + FormatDuration(*spec->renew_before) +
                                 " is not shorter than that lifetime; renewal happens at two thirds of it instead");
    }
  }
  return verdict;
}

Verdict ValidateIssuer(const Review& r, const AdmissionContext& context) {
  auto spec = api::ParseIssuerSpec(SpecOf(*r.object));
  if (!spec.ok()) return Verdict::Invalid(spec.error().message());
  // Custody as the issuer controller checks it before it is Ready (modules, credentials, endpoints
  // a namespaced Issuer may name).
  if (context.issuance != nullptr) {
    if (auto custody = issuance::CheckCustody(r.kind, *spec, context.issuance->custody()); !custody.ok()) {
      return Verdict::Forbidden(custody.error().message());
    }
  }
  return Verdict::Allow();
}

Verdict ValidatePolicy(const Review& r) {
  auto spec = api::ParsePolicySpec(SpecOf(*r.object));
  if (!spec.ok()) return Verdict::Invalid(spec.error().message());
  return Verdict::Allow();
}

// The sources' inline PEM and every field the CRD's rules check, with the controller's messages.
Verdict ValidateTrustBundle(const Review& r) {
  auto spec = api::ParseTrustBundleSpec(SpecOf(*r.object));
  if (!spec.ok()) return Verdict::Invalid(spec.error().message());
  return Verdict::Allow();
}

// A CSR is judged once, when created: later updates are its approval and its certificate.
Verdict ValidateCsr(const Review& r, const AdmissionContext& context) {
  if (r.operation != "CREATE") return Verdict::Allow();
  namespace csr = issuance::csr;
  const Json& spec = SpecOf(*r.object);
  const std::string signer_name = api::StringAt(spec, "signerName");
  const auto target = csr::ParseSignerName(signer_name, !context.kubernetes_signers_issuer.empty());
  if (!target) return Verdict::Allow();  // another signer's CSR: not ours to judge
  const csr::IssuerName addressed = csr::IssuerOf(*target, context.kubernetes_signers_issuer);
  if (addressed.name.empty()) return Verdict::Invalid("spec.signerName: " + csr::InvalidSignerNameMessage(signer_name));
  Verdict verdict = Verdict::Allow();
  const Json& user = r.user_info ? *r.user_info : EmptyObject();
  if (const std::string wildcard = csr::ReferenceWildcard(*target); context.may_reference && !wildcard.empty()) {
    auto may = context.may_reference(user, addressed.ns, signer_name, wildcard);
    if (!may.ok()) {
      // Nothing of the issuer is told before the right is known; the CSR signer asks again.
      verdict.warnings.push_back("spec.signerName: whether " + Quote(api::StringAt(user, "username")) + " may use " +
                                 addressed.Describe() + " could not be checked at admission (" + may.error().message() +
                                 "); the CSR signer checks it before signing");
      return verdict;
    }
    if (!*may) {
      return Verdict::Forbidden(csr::MissingReferenceMessage(api::StringAt(user, "username"), addressed, signer_name));
    }
  }
  auto request = csr::RequestOf(spec);
  if (!request.ok()) return Verdict::Invalid(request.error().message());
  signer::CertificateRequest parsed;
  auto tmpl = csr::Evaluate(*target, *request, csr::Limits{}, &parsed);
  if (!tmpl.ok()) {
    if (tmpl.error().kind() == ErrorKind::kPolicyDenied) return Verdict::Forbidden(tmpl.error().message());
    return Verdict::Invalid(tmpl.error().message());
  }

  const KnownIssuer issuer = LookUpIssuer(context, addressed.kind, addressed.ns, addressed.name);
  if (!issuer.handle) {
    verdict.warnings.push_back("spec.signerName: " + issuer.why_not +
                               "; the CSR is signed only if it is ready when the CSR is approved");
    return verdict;
  }
  if (context.issuance == nullptr) return verdict;
  const issuance::IssuanceRequest issue = csr::IssuanceRequestFor(
      *target, *request, r.ObjectName(), csr::RequesterOf(user), issuer.handle, std::move(*tmpl), parsed.subject_key);
  auto decided = context.issuance->Decide(issue);
  if (!decided.ok()) {
    if (auto refusal = Refusal(decided.error(), verdict)) return *refusal;
  }
  return verdict;
}

std::string KindText(const Review& r) {
  return (r.group.empty() ? r.version : r.group + "/" + r.version) + " " + r.kind;
}

}  // namespace

Verdict ValidateReview(const Review& r, const AdmissionContext& context) {
  if (r.operation != "CREATE" && r.operation != "UPDATE") return Verdict::Allow();  // DELETE, CONNECT
  if (!r.sub_resource.empty()) return Verdict::Allow();  // status: written by the controllers
  if (r.group == kOurGroup) {
    if (r.version != kOurVersion) {
      return Verdict::Malformed("request.kind: " + Quote(KindText(r)) + " is not served; this webhook judges " +
                                std::string(kOurGroup) + "/" + std::string(kOurVersion));
    }
    if (r.kind == "Certificate" || r.kind == "Issuer" || r.kind == "ClusterIssuer" || r.kind == "CertificatePolicy" ||
        r.kind == "TrustBundle") {
      if (NothingToJudge(r)) return Verdict::Allow();
    }
    if (r.kind == "Certificate") return ValidateCertificate(r, context);
    if (r.kind == "Issuer" || r.kind == "ClusterIssuer") return ValidateIssuer(r, context);
    if (r.kind == "CertificatePolicy") return ValidatePolicy(r);
    if (r.kind == "TrustBundle") return ValidateTrustBundle(r);
  }
  if (r.group == "certificates.k8s.io" && r.version == "v1" && r.kind == "CertificateSigningRequest") {
    return ValidateCsr(r, context);
  }
  return Verdict::Malformed("request.kind: " + Quote(KindText(r)) +
                            " is not a resource this webhook judges (certwright.dev/v1alpha1 Certificate, Issuer, "
                            "ClusterIssuer, CertificatePolicy, TrustBundle; certificates.k8s.io/v1 CertificateSigningRequest)");
}

}  // namespace certwright::webhook::internal
