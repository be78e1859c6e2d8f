// The CertificatePolicy controller: compiles every CertificatePolicy into the PolicySet the
// issuance service evaluates before each signature, and reports on each policy whether it is
// valid (condition Ready, reason Valid or Invalid with the message). An invalid policy stays in
// the set and denies what it selects (fail closed). It also caches namespace labels, for
// policies that select namespaces by label.
//
// Start order matters for custody: the doors must not sign before the policies are known, so
// the controller command waits for WaitForSync() and calls Publish() before any door's workers
// start.
#pragma once

#include <map>
#include <memory>
#include <mutex>
#include <string>

#include "certwright/controllers/context.h"
#include "certwright/issuance/service.h"
#include "certwright/kube/controller.h"
#include "certwright/kube/informer.h"

namespace certwright::controllers {

class CertificatePolicyController {
 public:
  // `write_status` false (the webhook): no workers and no status writes; every change of a
  // CertificatePolicy republishes the set at once.
  CertificatePolicyController(ControllerContext ctx, std::shared_ptr<issuance::IssuanceService> service,
                              bool write_status = true);
  ~CertificatePolicyController();

  void StartInformers();
  bool WaitForSync(std::chrono::milliseconds timeout);
  // Compiles what the cache holds and hands it to the issuance service (no status writes).
  void Publish();
  void StartWorkers();
  void Stop();

  Result<kube::ReconcileResult> Reconcile(const std::string& name);

  // The namespace cache (name, uid, labels), shared with the TrustBundle controller: one copy of
  // 10,000 namespaces, not two. Handlers may be added before StartInformers().
  kube::Informer& namespaces() { return *namespaces_; }

 private:
  struct Compiled {
    std::string resource_version;
    std::shared_ptr<const signer::policy::CompiledPolicy> policy;  // nullptr: invalid
    std::optional<signer::policy::PolicySelector> selector;        // of an invalid one, if it parsed
    std::string error;
  };
  // The compiled form of `object`, reusing the last one at the same resourceVersion.
  Compiled CompileLocked(const kube::Json& object);

  ControllerContext ctx_;
  std::shared_ptr<issuance::IssuanceService> service_;
  std::unique_ptr<kube::Informer> policies_;
  std::unique_ptr<kube::Informer> namespaces_;
  std::unique_ptr<kube::Controller> worker_;
  std::mutex mutex_;
  std::map<std::string, Compiled> compiled_;
};

}  // namespace certwright::controllers
