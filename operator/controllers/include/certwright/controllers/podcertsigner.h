// The pod certificate signer: answers PodCertificateRequests (certificates.k8s.io/v1; v1beta1 on
// clusters that serve only that) addressed to certwright's issuers, with their keys (HSM, KMS) and
// rules (docs/pod-certificates.md).
//
// Signer names, as for CSRs: "clusterissuers.certwright.dev/<name>" and
// "issuers.certwright.dev/<namespace>.<name>" (only for pods in <namespace>). kubelet makes the key
// on the node and asks once per pod volume, and again before the certificate's beginRefreshAt.
// The certificate names the pod's identity, spiffe://<trust domain>/ns/<ns>/sa/<service account>,
// plus the DNS names the pod asks for in its certwright.dev/dns-names user annotation only when a
// CertificatePolicy selecting that ServiceAccount allows them. Every request is answered once,
// with Issued, or Denied/Failed with a reason and a message; an Event goes to the pod and an audit
// record to the log. No SubjectAccessReview: the API server has checked that the node runs the pod
// and the ServiceAccount is the pod's; who may have an identity from an issuer is
// CertificatePolicy's business (policy: Required on the issuer).
//
// It also publishes each Ready CA issuer's root as a signer-linked ClusterTrustBundle
// (certificates.k8s.io/v1), named "<signer name, / as :>:ca", so pods mount the trust anchor with
// a clusterTrustBundle projected volume (signerName + labelSelector {}); rewritten only when the
// root changes, deleted with the issuer.
#pragma once

#include <chrono>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <string>

#include "certwright/controllers/context.h"
#include "certwright/controllers/issuer_store.h"
#include "certwright/controllers/issuers.h"
#include "certwright/issuance/pcr.h"
#include "certwright/kube/controller.h"
#include "certwright/kube/informer.h"

namespace certwright::controllers {

struct PodCertificateSignerOptions {
  // Which API to read: v1 (Kubernetes 1.37+) or v1beta1 (1.35-1.36). Empty: whichever the cluster
  // serves, v1 first.
  std::string version;
};

// The PodCertificateRequest API the cluster serves (v1 first, then v1beta1); nullopt: none.
std::optional<kube::Resource> ServedPodCertificateRequests(kube::Client& client);

class PodCertificateSigner {
 public:
  // Fails (kUnavailable) when the cluster serves no PodCertificateRequest API.
  static Result<std::unique_ptr<PodCertificateSigner>> Create(ControllerContext ctx, std::shared_ptr<IssuerStore> store,
                                                              IssuerController& issuers,
                                                              PodCertificateSignerOptions options = {});
  ~PodCertificateSigner();

  void StartInformers();
  bool WaitForSync(std::chrono::milliseconds timeout);
  void StartWorkers();
  void Stop();

  // The signing pool's work: checks the request and signs it (or decides the refusal), then hands
  // the answer to the writers. Never writes to the API itself.
  Result<kube::ReconcileResult> Reconcile(const std::string& key);
  // The writers' work: the status write (retried until it lands, never re-signed), the Event on
  // the pod, the audit record of a refusal made before the issuance service.
  Result<kube::ReconcileResult> WriteAnswer(const std::string& key);
  // `store_key`: "ClusterIssuer/<name>" or "Issuer/<ns>/<name>".
  Result<kube::ReconcileResult> PublishTrustBundle(const std::string& store_key);
  // "clusterissuers.certwright.dev:root:ca" for "clusterissuers.certwright.dev/root".
  static std::string TrustBundleName(const std::string& signer_name);
  const kube::Resource& resource() const { return resource_; }

 private:
  PodCertificateSigner(ControllerContext ctx, std::shared_ptr<IssuerStore> store, IssuerController& issuers,
                       kube::Resource resource);
  // What a request is answered with, decided (and signed) by the signing pool, written by the
  // writers.
  struct PendingAnswer {
    std::string uid;  // of the request it answers: a request made again under its name is another
    kube::Json status;
    std::optional<issuance::pcr::Refusal> refusal;
    std::string event_message;
    std::string pod_name, pod_uid, service_account;  // from the request, or its spec when unreadable
  };
  // Queues the answer for the writers.
  void Answer(const kube::Json& pcr, kube::Json status, const issuance::pcr::Request* request,
              const issuance::pcr::Refusal* refusal, const std::string& event_message);

  ControllerContext ctx_;
  std::shared_ptr<IssuerStore> store_;
  IssuerController& issuers_;
  kube::Resource resource_;
  std::unique_ptr<kube::Informer> pcrs_;
  std::unique_ptr<kube::Controller> worker_;   // the signing pool
  std::unique_ptr<kube::Controller> writers_;  // the API writes
  std::unique_ptr<kube::Controller> bundles_;

  std::mutex answered_mutex_;
  std::map<std::string, std::string> answered_;  // key -> uid, once its status is written
  // key -> decided, not written yet. Shared, not copied: the writer holds it across the write and
  // forgets it only if it is still the one in the map.
  std::map<std::string, std::shared_ptr<const PendingAnswer>> pending_;
};

}  // namespace certwright::controllers
