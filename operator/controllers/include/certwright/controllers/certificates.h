// The certificate controller: keeps the Secret of every Certificate holding a valid certificate
// and private key for its spec, signed by its issuer, and renews it before it expires
// (DESIGN.md "Controllers"). Per issuance it makes two API writes: the Secret, in one request
// (create, or update with a resourceVersion precondition), then the Certificate's status. The
// key and certificate are written together, so a crash leaves the old valid pair or the new one.
// It never writes a Secret that another owner made.
#pragma once

#include <map>
#include <memory>
#include <mutex>
#include <string>

#include "certwright/api/certificate.h"
#include "certwright/controllers/context.h"
#include "certwright/controllers/issuer_store.h"
#include "certwright/controllers/issuers.h"
#include "certwright/kube/controller.h"
#include "certwright/kube/informer.h"
#include "certwright/kube/rate_limit.h"

namespace certwright::controllers {

class CertificateController {
 public:
  // `secrets` is the shared Secret informer; handlers are added here, so construct before it
  // starts.
  // `issuers` tells an issuer that exists but has not been checked yet (after a restart) from one
  // that does not exist: the first waits, the second is reported.
  CertificateController(ControllerContext ctx, std::shared_ptr<IssuerStore> store, kube::Informer& secrets,
                        const IssuerController& issuers);
  ~CertificateController();

  void StartInformers();
  bool WaitForSync(std::chrono::milliseconds timeout);
  void StartWorkers();
  void Stop();

  Result<kube::ReconcileResult> Reconcile(const std::string& key);
  // The re-issue drill's progress in the issuer's status (key: an IssuerStore key).
  Result<kube::ReconcileResult> ReconcileReissue(const std::string& issuer_key);

  struct ReissueProgress {
    size_t total = 0;  // Certificates of the issuer
    size_t done = 0;   // ... whose Secret was issued under the token
  };
  ReissueProgress Progress(const std::string& issuer_key, const std::string& token) const;

  // How long to wait after `failures` consecutive failed issuances: 5 s doubling, at most 10 min.
  static std::chrono::seconds Backoff(long long failures);

 private:
  struct Issued;
  // `reason`: the re-issue trigger, for the audit record.
  Result<Issued> Issue(const kube::Json& certificate, const api::CertificateSpec& spec,
                       std::shared_ptr<const IssuerHandle> issuer, const kube::Json* secret, const std::string& reason);
  // Writes `status` unless `certificate` already has it; remembers what the server returned.
  Status WriteStatus(const kube::Json& certificate, const kube::Json& status);
  // The cached Certificate, or the one our last status write returned while the cache lags.
  std::shared_ptr<const kube::Json> NewestCertificate(std::shared_ptr<const kube::Json> cached);
  void Record(const kube::Json& certificate, bool warning, const std::string& reason, const std::string& action,
              const std::string& note);
  // The Secret as last written by us when the cache has not caught up yet (`*from_write` set),
  // else the cached one.
  std::shared_ptr<const kube::Json> CurrentSecret(const std::string& key, bool* from_write);

  // Re-issues the issuer asked for (a new CA, the drill) go at ctx.reissue_qps: each key reserves
  // a slot and comes back at its time, so 10,000 Certificates do not flood the API server.
  class Pacer {
   public:
    Pacer(double qps, const Clock* clock);
    // nullopt: go now; else come back after this.
    std::optional<std::chrono::nanoseconds> Wait(const std::string& key);

   private:
    kube::TokenBucket bucket_;
    const Clock* clock_;
    std::mutex mutex_;
    std::map<std::string, std::chrono::system_clock::time_point> reserved_;
  };

  ControllerContext ctx_;
  std::shared_ptr<IssuerStore> store_;
  kube::Informer& secrets_;
  Pacer pacer_;
  std::unique_ptr<kube::Controller> reissue_worker_;
  const IssuerController& issuers_;
  std::unique_ptr<kube::Informer> certificates_;
  std::unique_ptr<kube::Controller> worker_;

  std::mutex written_mutex_;
  struct Written {
    std::shared_ptr<const kube::Json> secret;
    std::chrono::steady_clock::time_point at;
  };
  std::map<std::string, Written> written_;  // Secret key -> as we wrote it, until the cache has it
  // Certificate key -> the object our last status write returned, until the cache has it: a
  // reconcile triggered before the echo arrives compares with it instead of writing again.
  std::map<std::string, Written> written_status_;
};

}  // namespace certwright::controllers
