// The CSR signer: signs Kubernetes CertificateSigningRequests (certificates.k8s.io/v1) addressed
// to certwright's issuers, with the issuers' keys (HSM, KMS) and rules.
//
// Signer names: "clusterissuers.certwright.dev/<name>" and
// "issuers.certwright.dev/<namespace>.<name>"; optionally (--kubernetes-signers-issuer) the
// built-in "kubernetes.io/kube-apiserver-client" and "kubernetes.io/kubelet-serving", with the
// subject, SAN and usage rules kube-controller-manager applies to them.
//
// A CSR is signed once: when Approved=True, neither Denied nor Failed, and status.certificate is
// empty. For our signer names the requesting user (spec.username/groups) must have the verb
// "reference" on resource "signers" of group certwright.dev for the signer name (or
// "<kind>.certwright.dev/*"), checked with a SubjectAccessReview (in the Issuer's namespace for
// an Issuer, so a Role there can grant it). What is wrong gets a Failed
// condition with a reason and a message, and an Event; CSRs for other signers are not touched.
#pragma once

#include <chrono>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <vector>

#include "certwright/controllers/context.h"
#include "certwright/controllers/issuer_store.h"
#include "certwright/controllers/issuers.h"
#include "certwright/issuance/csr.h"
#include "certwright/kube/controller.h"
#include "certwright/kube/informer.h"
#include "certwright/signer/x509.h"

namespace certwright::controllers {

// The CSR door's reading of a CSR, shared with the webhook (certwright/issuance/csr.h).
namespace csr = issuance::csr;

struct CsrSignerOptions {
  // "ClusterIssuer/<name>" or "Issuer/<ns>/<name>" (store key) that signs the built-in
  // kubernetes.io signers; empty: those CSRs are left to kube-controller-manager.
  std::string kubernetes_signers_issuer;
};

class CsrSigner {
 public:
  CsrSigner(ControllerContext ctx, std::shared_ptr<IssuerStore> store, IssuerController& issuers,
            CsrSignerOptions options = {});
  ~CsrSigner();

  void StartInformers();
  bool WaitForSync(std::chrono::milliseconds timeout);
  void StartWorkers();
  void Stop();

  Result<kube::ReconcileResult> Reconcile(const std::string& name);

 private:
  Status Fail(const kube::Json& csr, const std::string& reason, const std::string& message);

  ControllerContext ctx_;
  std::shared_ptr<IssuerStore> store_;
  IssuerController& issuers_;
  CsrSignerOptions options_;
  std::unique_ptr<kube::Informer> csrs_;
  std::unique_ptr<kube::Controller> worker_;

  std::mutex signed_mutex_;
  std::map<std::string, std::string> signed_;  // CSR name -> uid, once its certificate is written
};

}  // namespace certwright::controllers
