// `certwright controller`: the Certificate, Issuer and ClusterIssuer controllers in one process,
// with leader election, /healthz, /readyz and /metrics.
#include <malloc.h>
#include <prometheus/registry.h>
#include <pthread.h>
#include <signal.h>
#include <spdlog/spdlog.h>
#include <unistd.h>

#include <condition_variable>
#include <cstdlib>
#include <iostream>
#include <mutex>
#include <thread>

#include "certwright/controllers/certificatepolicies.h"
#include "certwright/controllers/certificates.h"
#include "certwright/controllers/csrsigner.h"
#include "certwright/controllers/podcertsigner.h"
#include "certwright/controllers/issuers.h"
#include "certwright/controllers/metrics.h"
#include "certwright/controllers/secrets.h"
#include "certwright/controllers/trust.h"
#include "certwright/kube/config.h"
#include "certwright/kube/leader_election.h"
#include "certwright/server/health_server.h"
#include "certwright/signer/random.h"
#include "cli/commands.h"
#include "cli/flags.h"
#include "cli/logging.h"
#include "cli/process.h"

namespace certwright::cli {

namespace {

const std::string kControllerUsage =
    std::string(
    "usage: certwright controller [flags]\n"
    "\n"
    "Runs the Certificate, Issuer and ClusterIssuer controllers, and signs CertificateSigningRequests\n"
    "for the signer names clusterissuers.certwright.dev/<name> and issuers.certwright.dev/<ns>.<name>.\n"
    "Distributes trust: TrustBundles, and CA injection into webhook configurations, CRDs and APIServices\n"
    "annotated certwright.dev/inject-ca-from[-issuer] (--trust false turns both off).\n"
    "\n"
    "flags:\n"
    "  --kubeconfig PATH                  kubeconfig (default: $KUBECONFIG, else in-cluster config)\n"
    "  --namespace NS                     serve Certificates and Issuers of one namespace only (default: all)\n"
    "  --cluster-resource-namespace NS    where ClusterIssuers' Secrets are (default: $POD_NAMESPACE, else\n"
    "                                     certwright)\n"
    "  --cluster-issuer-selector SEL      serve only the ClusterIssuers with these labels (default: all)\n"
    "  --leader-elect true|false          elect a leader with a Lease (default true)\n"
    "  --leader-election-namespace NS     the Lease's namespace (default: the cluster-resource namespace)\n"
    "  --leader-election-id NAME          the Lease's name (default certwright-controller)\n"
    "  --metrics-address HOST:PORT        /metrics, /healthz, /readyz (default 0.0.0.0:9402)\n"
    "  --workers N                        Certificate reconcile workers (default 4)\n"
    "  --event-qps N                      Kubernetes Events written per second, 0: unlimited (default 50)\n"
    "  --event-burst N                    Events written at once after a quiet spell (default 100)\n"
    "  --trust-bundle-selector SEL        serve only the TrustBundles with these labels (default: all)\n"
    "  --reissue-qps N                    re-issues per second an issuer asks for: a new CA, the\n"
    "                                     certwright.dev/reissue drill (default 10)\n"
    "  --trust-secret-targets true|false  let TrustBundles write Secrets (target.secret) (default true)\n"
    "  --trust true|false                 run the TrustBundle controller and the CA injector (default true)\n"
    ) + kIssuanceFlagsUsage + std::string(
    "  --log-level LEVEL                  debug, info, warn, error (default info)\n"
    "  --log-format text|json             one JSON object per line with json (default text)\n");

// The ClusterIssuers' PKCS#11 modules, read through a function set once the IssuerController
// exists (the custody rules are made before it).
class IssuerModules {
 public:
  void Set(std::function<std::vector<std::string>()> f) {
    std::lock_guard lock(mutex_);
    f_ = std::move(f);
  }
  std::vector<std::string> Get() const {
    std::lock_guard lock(mutex_);
    return f_ ? f_() : std::vector<std::string>{};
  }

 private:
  mutable std::mutex mutex_;
  std::function<std::vector<std::string>()> f_;
};

}  // namespace

int RunController(const std::vector<std::string>& args) {
  int exit_code = kExitOk;
  auto flags = ParseCommandFlags(args,
                                 {"kubeconfig", "namespace", "cluster-resource-namespace", "leader-elect",
                                  "leader-election-namespace", "leader-election-id", "metrics-address", "workers",
                                  "cluster-issuer-selector", "event-qps", "event-burst", "trust", "trust-bundle-selector", "trust-secret-targets", "reissue-qps", kIssuanceFlags[0], kIssuanceFlags[1], kIssuanceFlags[2],
                                  kIssuanceFlags[3]},
                                 kControllerUsage, exit_code);
  if (!flags) return exit_code;
  auto workers = flags->GetNumber("workers", 4, 1, 64);
  // Events at kubelet's default rate (eventRecordQPS 50, eventBurst 100): a burst of issuances
  // leaves the API server to the status writes (docs/performance.md).
  auto event_qps = flags->GetNumber("event-qps", 50, 0, 10000);
  auto event_burst = flags->GetNumber("event-burst", 100, 1, 10000);
  auto reissue_qps = flags->GetNumber("reissue-qps", 10, 1, 10000);
  for (const auto* number : {&workers, &event_qps, &event_burst, &reissue_qps}) {
    if (!number->ok()) {
      std::cerr << "certwright: error: " << number->error().message() << "\n";
      return kExitUsage;
    }
  }
  kube::EventRecorderOptions event_options;
  event_options.max_series = 512;
  event_options.qps = static_cast<double>(*event_qps);
  event_options.burst = static_cast<int>(*event_burst);
  const std::string leader_elect = flags->Get("leader-elect").value_or("true");
  const std::string trust = flags->Get("trust").value_or("true");
  const std::string secret_targets = flags->Get("trust-secret-targets").value_or("true");
  for (const auto& [name, value] : {std::pair{"leader-elect", leader_elect}, std::pair{"trust", trust},
                                    std::pair{"trust-secret-targets", secret_targets}}) {
    if (value != "true" && value != "false") {
      std::cerr << "certwright: error: --" << name << " must be true or false\n";
      return kExitUsage;
    }
  }
  issuance::CustodyRules custody;
  if (auto error = ParseIssuanceFlags(*flags, custody)) {
    std::cerr << "certwright: error: " << *error << "\n";
    return kExitUsage;
  }
  controllers::CsrSignerOptions csr_options;
  csr_options.kubernetes_signers_issuer = custody.kubernetes_signers_issuer;
  const char* pod_ns = std::getenv("POD_NAMESPACE");
  const std::string cluster_ns =
      flags->Get("cluster-resource-namespace").value_or(pod_ns != nullptr && *pod_ns ? pod_ns : "certwright");

  // Many threads (watches, workers, cpprestsdk) each get a glibc arena by default; with caches of
  // many small objects that fragments memory. Two arenas, and freed pages handed back now and then,
  // keep RSS close to what is live (measured in docs/performance.md).
  mallopt(M_ARENA_MAX, 2);
  RaiseOpenFileLimit();
  StopSignal stop;

  auto registry = std::make_shared<prometheus::Registry>();
  auto client = ConnectToCluster(*flags, registry);
  if (!client.ok()) {
    std::cerr << "certwright: error: " << client.error().message() << "\n";
    return kExitFailure;
  }
  const std::string identity = Identity();

  controllers::ControllerContext ctx;
  ctx.client = *client;
  ctx.metrics = std::make_shared<controllers::Metrics>(registry);
  // Issuance Events are one per Certificate and rarely repeat: remember fewer series than the
  // default (each holds its Event, max_series above) so 10,000 issuances do not keep 4,096 Events
  // in memory. A dropped one is counted (certwright_events_dropped_total).
  event_options.on_drop = [metrics = ctx.metrics] { metrics->EventDropped(); };
  ctx.events = std::make_shared<kube::EventRecorder>(*client, "certwright.dev/controller", identity, event_options);
  ctx.keys = std::make_shared<signer::KeyBackendRegistry>();
  signer::RegisterBuiltinBackends(*ctx.keys);
  ctx.cluster_resource_namespace = cluster_ns;
  ctx.watch_namespace = flags->Get("namespace").value_or("");
  ctx.cluster_issuer_selector = flags->Get("cluster-issuer-selector").value_or("");
  ctx.trust_bundle_selector = flags->Get("trust-bundle-selector").value_or("");
  ctx.trust_secret_targets = secret_targets == "true";
  ctx.workers = static_cast<int>(*workers);
  ctx.reissue_qps = static_cast<double>(*reissue_qps);
  // Filled in below, once the IssuerController can list the ClusterIssuers' modules.
  IssuerModules cluster_modules;
  custody.cluster_issuer_modules = [&cluster_modules] { return cluster_modules.Get(); };
  ctx.issuance = std::make_shared<issuance::IssuanceService>(issuance::IssuanceService::Options{.custody = custody});

  auto store = std::make_shared<controllers::IssuerStore>();
  auto secrets = controllers::MakeSecretInformer(*client, ctx.watch_namespace);
  controllers::CertificatePolicyController policies(ctx, ctx.issuance);
  controllers::IssuerController issuers(ctx, store, *secrets);
  cluster_modules.Set([&issuers] { return issuers.ClusterIssuerModules(); });
  controllers::CertificateController certificates(ctx, store, *secrets, issuers);
  controllers::CsrSigner csr_signer(ctx, store, issuers, csr_options);
  // Pod certificates need the PodCertificateRequest API (Kubernetes 1.37, or 1.35-1.36 with its
  // feature gate): without it the other doors still run.
  std::unique_ptr<controllers::PodCertificateSigner> pod_signer;
  if (auto created = controllers::PodCertificateSigner::Create(ctx, store, issuers); created.ok()) {
    pod_signer = std::move(*created);
    spdlog::info("signing PodCertificateRequests ({})", pod_signer->resource().ApiVersion());
  } else {
    spdlog::warn("pod certificates are off: {}", created.error().message());
  }

  std::unique_ptr<controllers::TrustBundleController> bundles;
  std::unique_ptr<controllers::CaInjector> injector;
  if (trust == "true") {
    bundles = std::make_unique<controllers::TrustBundleController>(ctx, store, policies.namespaces());
    injector = std::make_unique<controllers::CaInjector>(ctx, store, *secrets);
  }

  std::atomic<bool> synced{false};
  std::atomic<bool> leading{leader_elect == "false"};
  auto health = server::HealthServer::Start({
      .address = flags->Get("metrics-address").value_or("0.0.0.0:9402"),
      .registry = registry,
      .not_ready_reason = [&]() -> std::string { return synced ? "" : "caches not synced yet"; },
  });
  if (!health.ok()) {
    std::cerr << "certwright: error: " << health.error().message() << "\n";
    return kExitFailure;
  }

  secrets->Start();
  policies.StartInformers();
  issuers.StartInformers();
  certificates.StartInformers();
  csr_signer.StartInformers();
  if (pod_signer) pod_signer->StartInformers();
  if (bundles) bundles->StartInformers();
  if (injector) injector->StartInformers();
  const auto sync_timeout = std::chrono::minutes(5);
  if (!secrets->WaitForSync(sync_timeout) || !policies.WaitForSync(sync_timeout) || !issuers.WaitForSync(sync_timeout) ||
      !certificates.WaitForSync(sync_timeout) || !csr_signer.WaitForSync(sync_timeout) ||
      (pod_signer && !pod_signer->WaitForSync(sync_timeout)) || (bundles && !bundles->WaitForSync(sync_timeout)) ||
      (injector && !injector->WaitForSync(sync_timeout))) {
    std::cerr << "certwright: error: caches did not sync within 5 minutes; is the API server reachable and are "
                 "the CRDs installed (kubectl apply -f crds/)?\n";
    return kExitFailure;
  }
  // No door signs before the policies in force are known.
  policies.Publish();
  synced = true;
  spdlog::info("caches synced: {} Secrets, watching {}", secrets->Keys().size(),
               ctx.watch_namespace.empty() ? std::string("all namespaces") : "namespace " + ctx.watch_namespace);

  std::atomic<bool> stopping{false};
  auto start_workers = [&] {
    // A standby that wins the Lease while this process is stopping must not start anything.
    if (stopping) return;
    spdlog::info("{} is leading: starting controllers", identity);
    // Issuers first. Certificates whose issuer has not been checked yet wait for it (the
    // IssuerStore enqueues them), rather than reporting it missing.
    // The policies as the cache has them now: a standby that wins the Lease hours after it started
    // must not sign with the set it published at start-up.
    policies.Publish();
    policies.StartWorkers();
    issuers.StartWorkers();
    certificates.StartWorkers();
    csr_signer.StartWorkers();
    if (pod_signer) pod_signer->StartWorkers();
    if (bundles) bundles->StartWorkers();
    if (injector) injector->StartWorkers();
  };
  std::unique_ptr<kube::LeaderElector> elector;
  if (leader_elect == "true") {
    kube::LeaderElectionConfig le;
    le.lease_namespace = flags->Get("leader-election-namespace").value_or(cluster_ns);
    le.lease_name = flags->Get("leader-election-id").value_or("certwright-controller");
    le.identity = identity;
    le.events = ctx.events;
    kube::LeaderElectionCallbacks callbacks;
    callbacks.on_started_leading = start_workers;
    // A process that lost its Lease may be behind another leader: stop at once and let the
    // Deployment restart it as a candidate (as controller-runtime does).
    callbacks.on_stopped_leading = [&] { stop.Stop(1, "leader election lost"); };
    auto created = kube::LeaderElector::Create(*client, le, callbacks);
    if (!created.ok()) {
      std::cerr << "certwright: error: " << created.error().message() << "\n";
      return kExitFailure;
    }
    elector = std::move(*created);
    elector->Start();
  } else {
    start_workers();
  }

  std::atomic<bool> trimming{true};
  std::thread trimmer([&] {
    while (trimming) {
      for (int i = 0; i < 300 && trimming; ++i) std::this_thread::sleep_for(std::chrono::milliseconds(100));
      malloc_trim(0);
    }
  });
  const int code = stop.Wait();
  stopping = true;
  trimming = false;
  trimmer.join();
  if (injector) injector->Stop();
  if (bundles) bundles->Stop();
  if (pod_signer) pod_signer->Stop();
  csr_signer.Stop();
  certificates.Stop();
  issuers.Stop();
  policies.Stop();
  if (elector) elector->Stop();
  secrets->Stop();
  ctx.events->Flush();
  return code;
}

}  // namespace certwright::cli
