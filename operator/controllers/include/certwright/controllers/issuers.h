// The issuer controller: checks each Issuer and ClusterIssuer — its configuration, its key (in a
// Secret, a PKCS#11 token or AWS KMS) and its CA certificate (public key matches the key, a CA,
// not expired) — publishes the Ready ones in the IssuerStore, and reports Ready with a reason and
// message in status. Bootstrap modes make the CA certificate: SelfSigned signs a root with the
// key and keeps it in the Secret "<issuer>-bootstrap-ca"; CSR puts a PKCS#10 request in
// status.csr for an offline CA. It watches the Secrets it reads (PINs, CA certificates, keys).
#pragma once

#include <map>
#include <memory>
#include <mutex>
#include <set>
#include <string>
#include <vector>

#include "certwright/controllers/cluster_issuer_modules.h"
#include "certwright/controllers/context.h"
#include "certwright/controllers/issuer_store.h"
#include "certwright/kube/controller.h"
#include "certwright/kube/informer.h"

namespace certwright::controllers {

// The Secret that holds a bootstrapped root for an issuer.
std::string BootstrapSecretName(const std::string& issuer_name);

class IssuerController {
 public:
  // `secrets` is the shared Secret informer; handlers are added to it here, so construct before
  // it starts.
  IssuerController(ControllerContext ctx, std::shared_ptr<IssuerStore> store, kube::Informer& secrets);
  ~IssuerController();

  // Informers: start at once (every replica keeps its cache warm).
  void StartInformers();
  bool WaitForSync(std::chrono::milliseconds timeout);
  // Workers: start when leading.
  void StartWorkers();
  void Stop();

  // The modulePath of every ClusterIssuer of type pkcs11 (for the default list of modules
  // namespaced Issuers may name).
  std::vector<std::string> ClusterIssuerModules() const;

  // Whether the issuer exists (in the cache), and whether it has been checked since this
  // process started: a CSR for an issuer not checked yet waits rather than fails.
  bool Exists(const std::string& kind, const std::string& ns, const std::string& name) const;
  // The IssuerStore key of every issuer in the cache ("ClusterIssuer/<name>", "Issuer/<ns>/<name>").
  std::vector<std::string> StoreKeys() const;

  // One reconcile; `kind` is Issuer or ClusterIssuer, key "ns/name" or "name".
  Result<kube::ReconcileResult> Reconcile(const std::string& kind, const std::string& key);

 private:
  struct Outcome;
  Outcome Check(const std::string& kind, const kube::Json& issuer, const api::IssuerSpec& spec,
                const std::string& module, const std::string& secret_ns, kube::Json& status);
  Outcome CheckCa(const kube::Json& issuer, const api::IssuerSpec& spec, const std::string& secret_ns,
                  IssuerHandle& handle);
  Outcome CheckKeyAndChain(const kube::Json& issuer, const std::optional<api::SecretKeyRef>& ca_secret,
                           const std::optional<api::BootstrapSpec>& bootstrap, const std::string& uri,
                           bool may_create_key, const std::string& secret_ns, kube::Json& status,
                           IssuerHandle& handle);
  void SetReferences(const std::string& store_key, std::set<std::string> secret_keys);
  void EnqueueIssuer(const std::string& store_key);

  ControllerContext ctx_;
  std::shared_ptr<IssuerStore> store_;
  std::unique_ptr<kube::Informer> issuers_;
  std::unique_ptr<kube::Informer> cluster_issuers_;
  std::unique_ptr<kube::Controller> issuer_worker_;
  std::unique_ptr<kube::Controller> cluster_issuer_worker_;

  // The key the PIN-guessing back-off uses for a token: the backend's identity of the token (the
  // module file and the token's serial), so no spelling of the URI or path gets a fresh budget.
  std::string TokenKey(const api::Pkcs11IssuerSpec& spec, const std::string& module) const;
  // The TokenKey an issuer was last found Ready with ("" if none).
  std::string ReadyToken(const std::string& store_key) const;
  void SetReadyToken(const std::string& store_key, const std::string& token);

  // Back-off against PIN guessing, per PKCS#11 token (TokenKey): once the process is logged
  // in to a token, another Issuer's PIN is compared in memory and the HSM's own lockout never
  // counts it, so each wrong PIN delays the next check of any not-Ready Issuer of that token.
  FailureBackoff pin_guard_;

  std::unique_ptr<controllers::ClusterIssuerModules> cluster_modules_;  // over cluster_issuers_
  mutable std::mutex refs_mutex_;
  std::map<std::string, std::string> ready_tokens_;  // issuer store key -> TokenKey it is Ready on
  std::map<std::string, std::set<std::string>> refs_by_secret_;  // "ns/secret" -> issuer store keys
  std::map<std::string, std::set<std::string>> refs_by_issuer_;  // issuer store key -> "ns/secret"
};

}  // namespace certwright::controllers
