// Trust distribution (docs/trust.md): the CA injector and the TrustBundle controller.
//
// CaInjector: ValidatingWebhookConfigurations, MutatingWebhookConfigurations,
// CustomResourceDefinitions and APIServices annotated certwright.dev/inject-ca-from
// ("<namespace>/<certificate>": the ca.crt of the Certificate's Secret) or
// certwright.dev/inject-ca-from-issuer ("<clusterissuer>" or "<namespace>/<issuer>": the issuer's
// CA) get that CA in every caBundle field, and keep it: an edit of caBundle is repaired at once
// (the informer sees it), a new CA is written when the Secret or issuer changes. The informers
// keep only metadata and the caBundle fields of these objects (kube::KeepOnlyCaBundleFields). A
// source that is missing or not Ready leaves caBundle as it is, with a Warning Event on the
// object (CA injection never clears a working bundle).
//
// TrustBundleController: each TrustBundle's sources (issuers' CAs, ConfigMap and Secret keys in
// the trust namespace, inline PEM, Debian's ca-certificates) gathered into one de-duplicated,
// sorted set without expired certificates (a Warning Event names each one dropped), written as a
// ConfigMap and/or Secret named after the bundle in every selected namespace, in PEM and
// optionally JKS and PKCS#12. Work is split in two queues: "trustbundles" (per bundle: read the
// sources, render, report status) and "trustbundletargets" (per bundle and namespace: create,
// update or delete one target), so 10,000 namespaces are written by several workers, each
// retried on its own. A target is written only when its content hash differs (or its PEM was
// edited); a ConfigMap or Secret of that name not labelled as this bundle's is never touched
// (Warning Event, condition). A source that fails leaves every target as it was.
#pragma once

#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <vector>

#include "certwright/api/trust.h"
#include "certwright/controllers/context.h"
#include "certwright/controllers/issuer_store.h"
#include "certwright/kube/controller.h"
#include "certwright/kube/informer.h"

namespace certwright::controllers {

// The PEM an issuer's clients should trust: the top of its CA chain (the root, or the top of the
// chain the admin gave), as ca.crt of the Secrets it signs. "" for selfSigned issuers.
std::string IssuerTrustPem(const IssuerHandle& issuer);

class CaInjector {
 public:
  // `secrets`: the shared Secret informer (changes of Certificates' Secrets re-inject).
  CaInjector(ControllerContext ctx, std::shared_ptr<IssuerStore> store, kube::Informer& secrets);
  ~CaInjector();

  void StartInformers();
  bool WaitForSync(std::chrono::milliseconds timeout);
  void StartWorkers();
  void Stop();

  // key: "<plural>/<name>" ("validatingwebhookconfigurations/my-webhook").
  Result<kube::ReconcileResult> Reconcile(const std::string& key);

 private:
  struct Target {
    kube::Resource resource;
    std::unique_ptr<kube::Informer> informer;
  };
  Target* TargetFor(const std::string& plural);
  void EnqueueSource(const std::string& source);
  // Whether the annotation's source is one this installation serves (--namespace,
  // --cluster-issuer-selector): several installations can share a cluster.
  bool InScope(const kube::Json& object) const;
  // The base64 caBundle for the annotation's source; an error names what is missing.
  Result<std::string> BundleFor(const kube::Json& object);

  ControllerContext ctx_;
  std::shared_ptr<IssuerStore> store_;
  kube::Informer& secrets_;
  std::vector<Target> targets_;
  std::unique_ptr<kube::Controller> worker_;
};

class TrustBundleController {
 public:
  // `namespaces`: a namespace informer (labels kept) that someone else starts and stops (the
  // CertificatePolicy controller's); handlers are added here, so construct before it starts.
  TrustBundleController(ControllerContext ctx, std::shared_ptr<IssuerStore> store, kube::Informer& namespaces);
  ~TrustBundleController();

  void StartInformers();
  bool WaitForSync(std::chrono::milliseconds timeout);
  void StartWorkers();
  void Stop();

  // A TrustBundle's name.
  Result<kube::ReconcileResult> ReconcileBundle(const std::string& name);
  // "<bundle>/<namespace>".
  Result<kube::ReconcileResult> ReconcileTarget(const std::string& key);

 private:
  // What a bundle's targets should hold, once its sources were read.
  struct Rendered {
    api::TrustBundleSpec spec;
    std::string hash;  // of everything below: the targets' hash annotation
    std::string pem;
    std::string jks_b64, pkcs12_b64;  // "" when not configured
    size_t certificates = 0;
    std::string uid;  // the TrustBundle's, for ownerReferences
  };
  struct TargetKind {
    const kube::Resource* resource;
    kube::Informer* informer;
  };
  void EnqueueTargets(const std::string& bundle);
  std::shared_ptr<const Rendered> RenderedFor(const std::string& bundle) const;
  Result<std::shared_ptr<Rendered>> Render(const kube::Json& bundle, const api::TrustBundleSpec& spec,
                                           std::vector<std::string>& dropped);
  Result<std::string> SourcePem(const api::TrustSource& source);
  std::map<std::string, std::string> NamespaceLabels(const std::string& ns, bool& exists) const;
  // One ConfigMap or Secret: created, updated, deleted or left alone.
  Status SyncTarget(const std::string& bundle, const std::string& ns, const Rendered* rendered, bool selected,
                    bool is_secret);
  // A conflict on `where` that no longer holds: the bundle's condition is recomputed.
  void ClearConflict(const std::string& bundle, const std::string& where);
  void RecordOnBundle(const std::string& bundle, kube::EventType type, const std::string& reason,
                      const std::string& message);

  ControllerContext ctx_;
  std::shared_ptr<IssuerStore> store_;
  std::unique_ptr<kube::Informer> bundles_;
  kube::Informer& namespaces_;
  std::unique_ptr<kube::Informer> configmaps_;      // targets (labelled), all namespaces
  std::unique_ptr<kube::Informer> secrets_;         // targets (labelled), all namespaces
  std::unique_ptr<kube::Informer> source_configmaps_;  // the trust namespace, metadata only
  std::unique_ptr<kube::Informer> source_secrets_;     // the trust namespace, metadata only
  std::unique_ptr<kube::Controller> bundle_worker_;
  std::unique_ptr<kube::Controller> target_worker_;

  mutable std::mutex mutex_;
  std::map<std::string, std::shared_ptr<const Rendered>> rendered_;
  std::map<std::string, std::string> conflicts_;  // bundle -> the last target it could not own
};

}  // namespace certwright::controllers
