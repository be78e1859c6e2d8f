// The CertificateSigningRequest door (certificates.k8s.io/v1), as far as it is the same at every
// place that reads a CSR: which issuer a signer name addresses, what the CSR asks for, and the
// IssuanceRequest it becomes. The CSR signer (operator/controllers/csrsigner) signs with it once a
// CSR is approved; the webhook decides with it when the CSR is created. One reading, so the two
// cannot judge the same CSR differently.
//
//   auto target = issuance::csr::ParseSignerName(spec["signerName"], kubernetes_signers);
//   CW_ASSIGN_OR_RETURN(auto request, issuance::csr::RequestOf(spec));
//   signer::CertificateRequest parsed;
//   CW_ASSIGN_OR_RETURN(auto tmpl, issuance::csr::Evaluate(*target, request, {}, &parsed));
//   auto issue = issuance::csr::IssuanceRequestFor(*target, request, name, requester, handle,
//                                                  std::move(tmpl), parsed.subject_key);
//   service.Decide(issue);   // or Issue(issue)
#pragma once

#include <chrono>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "certwright/issuance/service.h"
#include "certwright/kube/client.h"
#include "certwright/signer/x509.h"

namespace certwright::issuance::csr {

// Which issuer a signer name means.
struct SignerTarget {
  enum class Kind { kIssuer, kClusterIssuer, kKubernetesClient, kKubeletServing } kind;
  std::string ns;    // kIssuer
  std::string name;  // kIssuer, kClusterIssuer
};

// nullopt: not one of ours (leave the CSR alone). `kubernetes_signers` enables the drop-in.
// "issuers.certwright.dev/<no dot>" is ours but malformed: a kIssuer target with an empty name.
std::optional<SignerTarget> ParseSignerName(std::string_view signer_name, bool kubernetes_signers);

// The issuer a target addresses: our signer names name it; the kubernetes.io drop-in's is the
// --kubernetes-signers-issuer store key ("ClusterIssuer/<name>", "Issuer/<ns>/<name>").
struct IssuerName {
  std::string kind;  // Issuer, ClusterIssuer
  std::string ns;    // "" for a ClusterIssuer
  std::string name;  // "" for a malformed issuers.certwright.dev signer name

  // "Issuer team-a/web-ca", "ClusterIssuer root": how messages name it.
  std::string Describe() const { return kind + " " + (kind == "Issuer" ? ns + "/" : std::string()) + name; }
};
IssuerName IssuerOf(const SignerTarget& target, const std::string& kubernetes_signers_issuer);
// What a CSR is told when its signer name is ours but names no issuer (IssuerOf's name is "").
std::string InvalidSignerNameMessage(std::string_view signer_name);

// Who may use our signer names: the verb "reference" on resource "signers" of group
// certwright.dev, for the signer name or this wildcard ("issuers.certwright.dev/*",
// "clusterissuers.certwright.dev/*"), in the Issuer's namespace for an Issuer. "" for the
// kubernetes.io drop-in, whose gate is the approval (as with kube-controller-manager).
std::string ReferenceWildcard(const SignerTarget& target);
// Whether `user` (an object with "username", "groups", "uid", "extra": a CSR's spec as the API
// server recorded it, or an AdmissionReview's request.userInfo) has that right for `signer_name`
// or `wildcard`: a SubjectAccessReview for each, in `ns` when it is an Issuer's.
Result<bool> MayReference(kube::Client& client, const kube::Json& user, const std::string& ns,
                          const std::string& signer_name, const std::string& wildcard);
// What a CSR is told when its requester lacks that right.
std::string MissingReferenceMessage(std::string_view user, const IssuerName& issuer, std::string_view signer_name);

// What a CSR asks for, checked against the signer's rules; the template to sign or a
// kInvalidArgument / kPolicyDenied error whose message says what is wrong.
struct Request {
  std::string signer_name;
  std::string request_pem;  // spec.request, decoded
  std::vector<std::string> usages;
  std::optional<long long> expiration_seconds;
};

// A CSR's spec read into a Request: signerName, request (base64 of the PEM), usages,
// expirationSeconds. kInvalidArgument naming the field when one has the wrong type.
Result<Request> RequestOf(const kube::Json& spec);

struct Limits {
  std::chrono::seconds default_duration = std::chrono::hours(24 * 365);  // kube-controller-manager's default
};

// The CSR parsed (signature verified, key accepted) and turned into a template: the CSR's subject
// and SANs, the usages asked for (CA usages refused), the duration from expirationSeconds as
// asked (the issuance service applies the 600 s floor, maxDuration and the CA's end). Kubernetes
// signers apply their own subject/SAN/usage rules on top, and keep only the subject attributes
// kube-controller-manager copies.
Result<signer::CertificateTemplate> Evaluate(const SignerTarget& target, const Request& request,
                                             const Limits& limits, signer::CertificateRequest* parsed = nullptr);

// Who asked, from an object with "username" and "groups": a CSR's spec (as the API server
// recorded it) or an AdmissionReview's request.userInfo (the same user).
Requester RequesterOf(const kube::Json& user);

// The IssuanceRequest the CSR door signs through: its door (the drop-in's for kubernetes.io
// signers), the 600 s floor certificates.k8s.io documents, the drop-in's one-year default
// maximum, and the request's namespace — the requesting ServiceAccount's, else the Issuer's
// (none for a ClusterIssuer).
IssuanceRequest IssuanceRequestFor(const SignerTarget& target, const Request& request, const std::string& csr_name,
                                   Requester requester, std::shared_ptr<const IssuerHandle> issuer,
                                   signer::CertificateTemplate tmpl, const signer::SubjectPublicKey& subject_key);

}  // namespace certwright::issuance::csr
