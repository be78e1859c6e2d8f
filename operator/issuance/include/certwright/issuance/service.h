// The issuance service: the one door into the signer (DESIGN.md, "The issuance service").
//
// Every front door — the Certificate controller, the CSR signer, later PodCertificateRequests and
// ACME — turns what it received into an IssuanceRequest and calls IssuanceService::Issue. Nothing
// else in the operator signs. Issue():
//   1. checks custody: may this request use this issuer's key at all (CheckCustody below);
//   2. evaluates the CertificatePolicy set in force (signer/policy.h);
//   3. clamps the lifetime: the door's floor, the issuer's and the allowing policy's maxDuration,
//      the CA's own end; refuses what is shorter than a minDuration;
//   4. signs through the issuer's key backend (the signer verifies every signature against the
//      CA public key before the certificate leaves it);
//   5. writes one audit record (JSON, one line) of the decision and the certificate — for denials
//      too.
// Doors differ only in how they read a request and where they write the result.
//
//   issuance::IssuanceService service({.clock = &clock, .custody = rules});
//   service.SetPolicies(policy_set);
//   issuance::IssuanceRequest r;
//   r.door = signer::policy::Door::kCertificate;
//   r.ns = "team-a"; r.name = "web"; r.issuer = handle; r.tmpl = tmpl; r.subject_key = key;
//   auto issued = service.Issue(r);   // kPolicyDenied: the message names the policy and rule
#pragma once

#include <chrono>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <shared_mutex>
#include <string>
#include <vector>

#include "certwright/issuance/issuer.h"
#include "certwright/kube/client.h"
#include "certwright/signer/clock.h"
#include "certwright/signer/policy.h"
#include "certwright/signer/x509.h"

namespace certwright::issuance {

using signer::policy::Door;

// Who asked. The Certificate door leaves it empty: a Certificate's requester is its namespace.
struct Requester {
  std::string user;
  std::vector<std::string> groups;
  // From a user name "system:serviceaccount:<ns>:<name>".
  std::optional<std::pair<std::string, std::string>> service_account;

  static Requester FromUser(std::string user, std::vector<std::string> groups);
};

struct IssuanceRequest {
  Door door = Door::kCertificate;
  // The namespace the request belongs to: the Certificate's; for a CSR the Issuer's namespace, or
  // the requesting ServiceAccount's for a ClusterIssuer ("" for other users).
  std::string ns;
  std::string name;    // the object's name ({{name}} in policies)
  std::string object;  // how the audit names the object: "Certificate team-a/web", "CertificateSigningRequest csr-1"
  Requester requester;
  std::shared_ptr<const IssuerHandle> issuer;
  signer::CertificateTemplate tmpl;
  signer::SubjectPublicKey subject_key;
  // selfSigned issuers: the subject's own key signs (the Certificate door makes it).
  std::shared_ptr<signer::SigningKey> self_key;
  // The shortest lifetime the door may issue (certificates.k8s.io: 600 s); applied before the
  // issuer's maxDuration, which always wins.
  std::optional<std::chrono::seconds> duration_floor;
  // The longest lifetime when the issuer sets no maxDuration (the kubernetes.io drop-in: one
  // year, as kube-controller-manager's --cluster-signing-duration).
  std::optional<std::chrono::seconds> default_max_duration;
  // What the door adds to the audit record ("reason": why a Certificate is (re)issued,
  // "signerName": the CSR's signer).
  std::map<std::string, std::string> audit_details;
};

struct Issuance {
  signer::IssuedCertificate certificate;
  signer::policy::PolicyDecision decision;
};

// Custody: which keys a request may reach at all, before any policy. Set from operator flags.
struct CustodyRules {
  // The issuer (IssuerStore key) behind --kubernetes-signers-issuer: its CA is meant to be trusted
  // by the API server, so it signs only through the kubernetes.io CSR rules (Door::kKubernetesSigner).
  std::string kubernetes_signers_issuer;
  // PKCS#11 modules namespaced Issuers may name (--issuer-pkcs11-modules). nullopt: the modules
  // ClusterIssuers name (cluster_issuer_modules) plus SoftHSM2's. Compared by the file they load.
  std::optional<std::vector<std::string>> pkcs11_modules;
  std::function<std::vector<std::string>()> cluster_issuer_modules;
  // Namespaced awsKMS Issuers may use the controller's own AWS credentials (environment, web
  // identity) only with --issuer-ambient-credentials.
  bool ambient_credentials = false;
  // KMS endpoints namespaced Issuers may name (--issuer-kms-endpoints); none by default (the
  // region's AWS endpoint only).
  std::vector<std::string> kms_endpoints;
};

// The SoftHSM2 module as Debian installs it: allowed for namespaced Issuers by default.
inline constexpr const char* kSoftHsm2Module = "/usr/lib/softhsm/libsofthsm2.so";

// Whether an issuer of `kind` with `spec` may be used at all. kPolicyDenied with a message that
// names the field and the operator flag; never says whether a file exists. For a namespaced
// pkcs11 Issuer, `module_to_load` receives the admin-listed path to load (not the spelling the
// Issuer used).
Status CheckCustody(const std::string& kind, const api::IssuerSpec& spec, const CustodyRules& rules,
                    std::string* module_to_load = nullptr);

// What a namespace is told when its request names an issuer that is not Ready. A ClusterIssuer's
// not-Ready message names its Secrets, KMS ARNs and account ids, the cluster admin's business: the
// namespace is told where the admin finds why. An Issuer's own message is its namespace's.
std::string NotReadyForNamespace(const std::string& kind, const std::string& name, const std::string& message);

// Where audit records go: one JSON object per signature decision. Default: the log, as one line
// "audit {...}" (JSON-escaped, so a subject with a newline cannot forge lines).
using AuditSink = std::function<void(const kube::Json& record)>;

class IssuanceService {
 public:
  struct Options {
    const Clock* clock = &SystemClock::Instance();
    CustodyRules custody{};
    AuditSink audit{};
  };
  explicit IssuanceService(Options options);

  // The policies in force (replaced whole when a CertificatePolicy changes) and the labels of a
  // namespace (for namespace selectors). Thread-safe.
  void SetPolicies(std::shared_ptr<const signer::policy::PolicySet> policies);
  // `labels` returns nullopt for a namespace it does not know (yet): issuance then waits
  // (kUnavailable) rather than judge the request as if the namespace had no labels.
  using NamespaceLabels = std::function<std::optional<std::map<std::string, std::string>>(const std::string& ns)>;
  void SetNamespaceLabels(NamespaceLabels labels);
  std::shared_ptr<const signer::policy::PolicySet> policies() const;

  // Custody, policy, lifetime, signature, audit. Errors: kPolicyDenied (custody or policy: the
  // message names the rule), kInvalidArgument (the template), the backend's (kUnavailable...).
  // A ClusterIssuer's signing errors keep their kind but not their text (which names the admin's
  // setup): the text is logged and audited instead.
  Result<Issuance> Issue(const IssuanceRequest& request) const;

  // Audits a refusal a door made before calling Issue (a malformed request, a missing right, an
  // unknown issuer): kPolicyDenied is recorded as "denied", anything else as "failed".
  void AuditRefused(const IssuanceRequest& request, const Error& error) const;

  // An issuer's bootstrap (spec.*.bootstrap): its own key signs its own root certificate, or a
  // PKCS#10 request for its CA certificate. No CertificatePolicy applies — the key is the issuer's
  // own and its admin asked for this — but custody does, and the signature is audited (door
  // IssuerBootstrap) like every other.
  Result<signer::IssuedCertificate> SelfSignRoot(const IssuerHandle& issuer, signer::SigningKey& key,
                                                 const signer::CertificateTemplate& tmpl) const;
  Result<std::string> SignCaRequest(const IssuerHandle& issuer, signer::SigningKey& key,
                                    const signer::CertificateTemplate& tmpl) const;

  // Steps 1–3 only, without signing or audit: what Issue would decide (the webhook's question).
  // On success the template as it would be signed. Works for a handle without its CA (`ca`
  // nullopt, as the webhook builds it from the stored issuer alone): the selfSigned rule reads the
  // spec's type, and the CA's end shortens the lifetime only when the CA is there.
  Result<signer::CertificateTemplate> Decide(const IssuanceRequest& request,
                                             signer::policy::PolicyDecision* decision = nullptr) const;

  const CustodyRules& custody() const { return options_.custody; }

 private:
  void Audit(const IssuanceRequest& request, const signer::CertificateTemplate& tmpl,
             const signer::policy::PolicyDecision* decision, const signer::IssuedCertificate* issued,
             const Error* error) const;

  Options options_;
  mutable std::shared_mutex mutex_;
  std::shared_ptr<const signer::policy::PolicySet> policies_;
  NamespaceLabels namespace_labels_;
};

}  // namespace certwright::issuance
