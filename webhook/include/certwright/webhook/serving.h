// The webhook's own serving certificate: a CA and a serving certificate that certwright makes
// and keeps in one Secret, and the CA written into `caBundle` of the webhook's own
// Validating/MutatingWebhookConfiguration, so the chart ships no certificate and no script.
//
//   webhook::ServingOptions options;
//   options.ns = "certwright";
//   options.dns_names = webhook::ServiceDnsNames("certwright-webhook", "certwright");
//   options.validating_configuration = "certwright-webhook";
//   options.mutating_configuration = "certwright-webhook";
//   options.on_serving_certificate = [tls](const std::string& chain, const std::string& key) {
//     return tls->Update(chain, key);                       // http::TlsCredentials
//   };
//   auto serving = webhook::ServingCertificates::Start(client, std::move(options));
//   if (!serving) return serving.error();                   // the first pass failed
//
// Every pass (SyncOnce; the background thread runs one every `resync`):
//   1. reads the Secret; creates it (new CA + serving certificate) when absent; a Secret of
//      another type is an error (kInvalidArgument, the type cannot be changed), never overwritten;
//   2. makes a new CA when the Secret's is missing, invalid, expired or past 2/3 of its life,
//      and a new serving certificate when the Secret's is missing, invalid, not from a CA of the
//      bundle, lacks a required name, or is past 2/3 of its life; writes with a resourceVersion
//      precondition. On 409 (AlreadyExists, Conflict) it reads again and takes what the other
//      replica wrote, so any number of replicas end with one CA;
//   3. writes the bundle into `caBundle` of every webhook of the named configurations that
//      differs (a hand edit is repaired at the next pass; a missing configuration is logged and
//      tried again, not fatal);
//   4. hands the serving pair to `on_serving_certificate` when it changed (the first time too),
//      after step 3, so the API server trusts a new CA before any replica presents a
//      certificate from it.
//
// The Secret (type kubernetes.io/tls, the layout cert-manager writes plus the CA key):
//   tls.crt  serving certificate, then the CA that issued it
//   tls.key  serving key (PKCS#8 PEM)
//   ca.crt   the trust bundle: the current CA first, then earlier CAs of this Secret that have not
//            expired (at most kMaxBundledCas in all), so replicas still serving a certificate of
//            the old CA stay trusted after a CA rotation
//   ca.key   the current CA's key (PKCS#8 PEM). One Secret, so one guarded write changes CA and
//            serving certificate together; only the webhook's ServiceAccount may read it (chart
//            RBAC). It is never logged.
// A CA rotation keeps the serving certificate while a CA of the bundle still vouches for it: the
// new CA signs the next one, at the serving certificate's own renewal, by which time every
// replica has put the new CA into caBundle.
#pragma once

#include <chrono>
#include <condition_variable>
#include <functional>
#include <memory>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include "certwright/kube/client.h"
#include "certwright/kube/resource.h"
#include "certwright/signer/clock.h"
#include "certwright/signer/result.h"
#include "certwright/signer/secret.h"

namespace certwright::webhook {

using kube::resources::kMutatingWebhookConfigurations;
using kube::resources::kValidatingWebhookConfigurations;

// The Secret's data keys beyond kubernetes.io/tls's own.
inline constexpr const char* kCaCertKey = "ca.crt";
inline constexpr const char* kCaKeyKey = "ca.key";
// The current CA plus at most two earlier ones in ca.crt.
inline constexpr size_t kMaxBundledCas = 3;

struct ServingOptions {
  std::string ns;  // the webhook's namespace (the Secret's)
  std::string secret_name = "certwright-webhook-tls";
  // Names the serving certificate must carry; at least one DNS name or IP address.
  std::vector<std::string> dns_names;     // <service>.<ns>.svc, <service>.<ns>.svc.cluster.local
  std::vector<std::string> ip_addresses;  // 127.0.0.1 when the API server dials a url on loopback
  // Configuration names whose webhooks get the CA in caBundle; "" = not managed.
  std::string validating_configuration;
  std::string mutating_configuration;
  // Each is renewed at 2/3 of its life. The serving certificate never outlives its CA.
  std::chrono::seconds ca_duration = std::chrono::hours(24 * 365 * 3);
  std::chrono::seconds serving_duration = std::chrono::hours(24 * 30);
  const Clock* clock = &SystemClock::Instance();
  // How often the background thread checks the Secret and the configurations.
  std::chrono::milliseconds resync = std::chrono::minutes(1);
  // Called with the serving chain (leaf, then CA) and key whenever they change, the first time
  // included; http::TlsCredentials::Update is what the webhook passes. An error is retried at
  // the next pass. May be empty (tests, or a caller that reads the Secret itself).
  std::function<Status(const std::string& chain_pem, const std::string& key_pem)> on_serving_certificate;
};

// <service>.<ns>.svc and <service>.<ns>.svc.cluster.local: the names the API server dials for a
// webhook `service` reference.
std::vector<std::string> ServiceDnsNames(const std::string& service, const std::string& ns);

class ServingCertificates {
 public:
  // Checks the options, runs the first pass (so the caller has a certificate before it listens)
  // and starts the thread. The first pass's error is returned as is.
  static Result<std::unique_ptr<ServingCertificates>> Start(std::shared_ptr<kube::Client> client,
                                                            ServingOptions options);
  // Without the thread and without a first pass: for tests that drive SyncOnce themselves.
  static Result<std::unique_ptr<ServingCertificates>> CreateForTest(std::shared_ptr<kube::Client> client,
                                                                    ServingOptions options);
  // Stops the thread promptly (a pass in flight finishes its current request).
  ~ServingCertificates();
  ServingCertificates(const ServingCertificates&) = delete;
  ServingCertificates& operator=(const ServingCertificates&) = delete;

  // One pass (see the top of this file). Serialised with the thread's passes.
  Status SyncOnce();

  // The current CA (PEM) and the whole trust bundle (ca.crt, what caBundle gets); "" before the
  // first successful pass.
  std::string ca_pem() const;
  std::string ca_bundle_pem() const;
  // The serving chain last read or written (leaf, then CA).
  std::string serving_chain_pem() const;
  // Passes that ended in an error since the last successful one (for /readyz and tests).
  int consecutive_failures() const;

 private:
  struct Pair;
  ServingCertificates(std::shared_ptr<kube::Client> client, ServingOptions options);
  void Run();
  Status SyncSecret(Pair& out);
  Status SyncConfiguration(const kube::Resource& resource, const std::string& name, const std::string& bundle_b64);

  std::shared_ptr<kube::Client> client_;
  const ServingOptions options_;

  std::mutex sync_mutex_;  // one pass at a time
  std::string delivered_chain_;  // what on_serving_certificate last accepted
  signer::SecretString delivered_key_;
  std::vector<std::string> missing_configurations_;  // logged once until they appear

  mutable std::mutex state_mutex_;
  std::string ca_pem_;
  std::string ca_bundle_pem_;
  std::string serving_chain_pem_;
  int consecutive_failures_ = 0;

  std::mutex stop_mutex_;
  std::condition_variable stop_cv_;
  bool stopping_ = false;
  std::thread thread_;
};

}  // namespace certwright::webhook
