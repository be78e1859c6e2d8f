// The PodCertificateRequest door (certificates.k8s.io/v1 in Kubernetes 1.37, v1beta1 before): what
// kubelet asks for a pod, checked, and the IssuanceRequest it becomes. The pod certificate signer
// (operator/controllers/podcertsigner) answers with it; docs/pod-certificates.md says what a pod
// gets.
//
//   auto request = issuance::pcr::Read(pcr);           // or a Refusal (Denied/Failed, reason, message)
//   auto tmpl = issuance::pcr::TemplateFor(request, handle->spec.pod_certificates);
//   auto issue = issuance::pcr::IssuanceRequestFor(request, handle, std::move(tmpl));
//   auto refusal = issuance::pcr::CheckIssuerLifetime(*handle, now);   // before signing
//   service.Issue(issue);
//   refusal = issuance::pcr::CheckIssued(request, issued);   // a policy's maxDuration, after
//   status = issuance::pcr::IssuedStatus(issued, handle->spec.pod_certificates, now, generation);
#pragma once

#include <chrono>
#include <memory>
#include <optional>
#include <string>
#include <variant>
#include <vector>

#include "certwright/issuance/service.h"
#include "certwright/kube/client.h"
#include "certwright/signer/x509.h"

namespace certwright::issuance::pcr {

// The one unverifiedUserAnnotations key the signer reads (a pod sets it in its podCertificate
// volume's userAnnotations): DNS names to add, comma-separated. Only a CertificatePolicy that
// selects the pod's ServiceAccount and allows them makes them appear; any other key is Denied, as
// the API asks of signers.
inline constexpr const char* kDnsNamesAnnotation = "certwright.dev/dns-names";

// Lifetimes certificates.k8s.io accepts: at least an hour, at most spec.maxExpirationSeconds
// (default 86400, 3600..7862400).
inline constexpr std::chrono::seconds kMinLifetime{3600};
inline constexpr std::chrono::seconds kDefaultMaxExpiration{86400};

// What kubelet asked for, read from the object (the key from stubPKCS10Request, or v1beta1's
// pkixPublicKey with its proofOfPossession over the pod's UID).
struct Request {
  std::string ns;
  std::string name;
  std::string signer_name;
  std::string pod_name, pod_uid;
  std::string service_account, service_account_uid;
  std::string node_name;
  std::chrono::seconds max_expiration = kDefaultMaxExpiration;
  signer::SubjectPublicKey subject_key;
  std::vector<std::string> dns_names;  // asked for with kDnsNamesAnnotation
};

// Why a request gets no certificate, as the PodCertificateRequest's condition says it.
struct Refusal {
  std::string condition;  // "Denied" (the request itself) or "Failed" (the signer could not)
  std::string reason;     // "UnsupportedKeyType", "InvalidRequest", "PolicyDenied", ...
  std::string message;
};

// The key types kubelet may ask for that certwright signs for: all but ECDSA P-521, which
// certwright's signer does not accept anywhere; such requests are Denied with UnsupportedKeyType
// and a message naming the supported ones.
inline constexpr const char* kSupportedKeyTypes = "RSA3072, RSA4096, ECDSAP256, ECDSAP384 or ED25519";

std::variant<Request, Refusal> Read(const kube::Json& pcr);


// The pod's identity: "spiffe://<trust domain>/ns/<namespace>/sa/<service account>".
std::string SpiffeId(const std::string& trust_domain, const Request& request);

// An end-entity template: no subject, the SPIFFE ID as the one URI SAN, the DNS names asked for,
// digital signature (+ key encipherment for RSA), server and client auth, starting the issuer's
// backdate before it is signed, the longest lifetime the request allows counted from there (the
// issuance service shortens it to the issuer's and policies' limits). A certificate never starts
// before its CA (`ca_not_before`, the signer's floor), so a CA younger than the backdate gets a
// shorter backdate: otherwise the lifetime from notBefore would fall short of what was asked.
signer::CertificateTemplate TemplateFor(
    const Request& request, const api::PodCertificatesSpec& spec,
    std::optional<std::chrono::system_clock::time_point> ca_not_before = std::nullopt,
    std::chrono::system_clock::time_point now = std::chrono::system_clock::now());

// Door PodCertificateRequest; requester: the pod's ServiceAccount (so CertificatePolicies select
// by serviceAccounts), namespace: the pod's; the one-hour floor.
IssuanceRequest IssuanceRequestFor(const Request& request, std::shared_ptr<const IssuerHandle> issuer,
                                   signer::CertificateTemplate tmpl);

// DNS names are never the pod's to claim: a Denied refusal when the request asks for some and no
// CertificatePolicy selecting it granted them (the decision of IssuanceService::Decide for it).
std::optional<Refusal> CheckDnsNamesGranted(const Request& request, const signer::policy::PolicyDecision& decision);

// kubelet's key type names (the podCertificate volume's keyType) as certwright's: nullopt for
// ECDSAP521 (unsupported, see kSupportedKeyTypes) and for names the API does not know.
std::optional<signer::KeySpec> KeySpecOfType(std::string_view key_type);

// A Failed refusal, before anything is signed, when the issuer cannot give the hour the API
// requires: its maxDuration, or the time its CA has left at `now`, is shorter.
std::optional<Refusal> CheckIssuerLifetime(const IssuerHandle& issuer, std::chrono::system_clock::time_point now);

// A Failed refusal when the certificate's lifetime is outside what the API accepts (an issuer's
// maxDuration or the CA's end below an hour); nullopt when it can be written.
std::optional<Refusal> CheckIssued(const Request& request, const signer::IssuedCertificate& issued);

// The status of an issued request: the chain, notBefore/notAfter of the leaf, beginRefreshAt
// refreshBefore before notAfter, or at two thirds of the lifetime (always within the API's
// [notBefore + 10m, notAfter - 10m]), Issued=True.
kube::Json IssuedStatus(const signer::IssuedCertificate& issued, const api::PodCertificatesSpec& spec,
                        std::chrono::system_clock::time_point now, long long generation);
// The status of a refused request: only the condition.
kube::Json RefusedStatus(const Refusal& refusal, std::chrono::system_clock::time_point now, long long generation);

// The condition type ("Issued", "Denied", "Failed") a request already has, or "" while unanswered.
std::string Answer(const kube::Json& pcr);

}  // namespace certwright::issuance::pcr
