// The admission webhook's logic: AdmissionReview (admission.k8s.io/v1) in, AdmissionReview out.
// No HTTP and no TLS here: the webhook command serves POST /validate and /mutate and hands each
// body to Validate() or Mutate().
//
//   webhook::AdmissionContext context;
//   context.issuance = &service;   // policies and custody, as the controller's (SetPolicies...)
//   context.issuer = [&](const std::string& kind, const std::string& ns, const std::string& name) {
//     return issuers.Get(kind, ns, name);   // the stored Issuer/ClusterIssuer, or nullptr
//   };
//   webhook::AdmissionOutcome out = webhook::Validate(body, context);
//   reply(out.http_status, out.http_status == 200 ? "application/json" : "text/plain", out.body);
//   metrics.Observe(out.resource, out.operation, out.result);
//
// Validate judges create and update of certwright.dev/v1alpha1 Certificate, Issuer, ClusterIssuer
// and CertificatePolicy with the parsers the controllers use (operator/api: the same message for
// the same field at every door), and runs the issuance policy (IssuanceService::Decide) for
// Certificates whose issuer is known and for certificates.k8s.io/v1 CertificateSigningRequests
// addressed to our signers. Mutate fills defaults that need logic, idempotently, and gives pods
// annotated certwright.dev/issuer their podCertificate volume (docs/pod-certificates.md).
//
// Neither throws nor crashes on any input: what is not an AdmissionReview at all gets HTTP 400 with
// a plain-text reason; everything else gets an AdmissionReview whose response echoes the uid and
// says what is wrong and where (status.code 400 for a malformed request or an invalid object,
// 403 for a policy or custody denial).
#pragma once

#include <functional>
#include <optional>
#include <string>
#include <string_view>

#include "certwright/issuance/service.h"
#include "certwright/kube/client.h"

namespace certwright::webhook {

// The AdmissionReview version served (the webhook configurations list only this one).
inline constexpr std::string_view kAdmissionReviewApiVersion = "admission.k8s.io/v1";

struct AdmissionContext {
  // Policies and custody, set as in the controller (SetPolicies, SetNamespaceLabels). nullptr:
  // no policy is evaluated (validation only).
  const issuance::IssuanceService* issuance = nullptr;
  // The stored Issuer ("Issuer", ns, name) or ClusterIssuer ("ClusterIssuer", "", name), as the API
  // server has it (JSON, spec and status: the informer's object, not a copy); nullptr when
  // unknown. Unset: every issuer is unknown.
  std::function<std::shared_ptr<const kube::Json>(const std::string& kind, const std::string& ns,
                                                  const std::string& name)>
      issuer;
  // The controller's --kubernetes-signers-issuer ("ClusterIssuer/<name>", "Issuer/<ns>/<name>"):
  // when set, CSRs for kubernetes.io/kube-apiserver-client and kubernetes.io/kubelet-serving are
  // judged by the drop-in's rules and that issuer's policies, as the CSR signer will.
  std::string kubernetes_signers_issuer;
  // The CSR signer's right check for our signer names: may `user` (request.userInfo: username,
  // groups, uid, extra) use `signer_name` — the verb "reference" on resource "signers" of group
  // certwright.dev for it or for `wildcard`, in `ns` for an Issuer (a SubjectAccessReview). Asked
  // first, as the CSR signer does, so that a user without the right learns nothing of the issuer:
  // not whether it exists, nor which policy would deny. Unset: not asked at admission (the CSR
  // signer asks before signing), and the issuer and policy answers go to whoever creates the CSR.
  std::function<Result<bool>(const kube::Json& user, const std::string& ns, const std::string& signer_name,
                             const std::string& wildcard)>
      may_reference;
  // Whether the cluster serves PodCertificateRequests: pods annotated certwright.dev/issuer are
  // refused without it (kubelet could never ask for their certificate).
  bool pod_certificates = false;
};

struct AdmissionOutcome {
  int http_status = 200;  // 400 only for what is not an AdmissionReview at all
  std::string body;       // the AdmissionReview response JSON, or a plain-text reason with 400
  // For metrics, each from a fixed set (a review may name anything). resource: "certificates",
  // "issuers", "clusterissuers", "certificatepolicies", "certificatesigningrequests" or "unknown";
  // operation: "CREATE", "UPDATE", "DELETE", "CONNECT" or "unknown"; result: "allowed",
  // "denied", "patched" or "invalid" (the review itself is malformed, or names a resource this
  // webhook does not judge).
  std::string resource = "unknown", operation = "unknown", result = "invalid";
};

// POST /validate.
AdmissionOutcome Validate(std::string_view body, const AdmissionContext& context) noexcept;
// POST /mutate. Patches are JSONPatch (RFC 6902); a second pass over a patched object yields none.
AdmissionOutcome Mutate(std::string_view body, const AdmissionContext& context) noexcept;

}  // namespace certwright::webhook
