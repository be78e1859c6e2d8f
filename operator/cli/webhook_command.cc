// `certwright webhook`: the admission webhook. AdmissionReview v1 over HTTPS at /validate and
// /mutate (webhook/: the same parsers and the same issuance policy as the controller), with
// /healthz, /readyz and /metrics; the serving certificate is certwright's own (a CA and a serving
// certificate in a Secret, the CA written into caBundle of its webhook configurations, renewed
// and swapped in without a restart).
#include <prometheus/registry.h>
#include <spdlog/spdlog.h>

#include <cstdlib>
#include <iostream>

#include "certwright/api/meta.h"
#include "certwright/controllers/certificatepolicies.h"
#include "certwright/controllers/cluster_issuer_modules.h"
#include "certwright/controllers/metrics.h"
#include "certwright/controllers/podcertsigner.h"
#include "certwright/http/server.h"
#include "certwright/issuance/csr.h"
#include "certwright/kube/config.h"
#include "certwright/kube/informer.h"
#include "certwright/server/health_server.h"
#include "certwright/signer/duration.h"
#include "certwright/webhook/admission.h"
#include "certwright/webhook/routes.h"
#include "certwright/webhook/serving.h"
#include "cli/commands.h"
#include "cli/flags.h"
#include "cli/process.h"

namespace certwright::cli {

namespace {

const std::string kWebhookUsage =
    std::string(
        "usage: certwright webhook [flags]\n"
        "\n"
        "Serves the admission webhook: POST /validate and /mutate (AdmissionReview admission.k8s.io/v1) over\n"
        "HTTPS, and /healthz, /readyz, /metrics. Its serving certificate comes from a CA it keeps in a Secret;\n"
        "the CA is written into caBundle of the webhook configurations named below.\n"
        "\n"
        "flags:\n"
        "  --kubeconfig PATH                  kubeconfig (default: $KUBECONFIG, else in-cluster config)\n"
        "  --namespace NS                     the webhook's namespace, where its Secret is (default:\n"
        "                                     $POD_NAMESPACE, else certwright)\n"
        "  --listen HOST:PORT                 HTTPS address (default 0.0.0.0:10250; port 0 picks one and logs it)\n"
        "  --health-address HOST:PORT         plain-HTTP /healthz, /readyz, /metrics (default 0.0.0.0:9403; \"\" off)\n"
        "  --tls-secret NAME                  the Secret holding the CA and serving certificate\n"
        "                                     (default certwright-webhook-tls)\n"
        "  --service-name NAME                the Service the API server dials; its DNS names go into the\n"
        "                                     serving certificate (default certwright-webhook)\n"
        "  --serving-ip-addresses IPS         comma-separated IP addresses for the serving certificate too (a\n"
        "                                     webhook configuration with url: https://127.0.0.1:PORT/...)\n"
        "  --validating-webhook-configuration NAME\n"
        "  --mutating-webhook-configuration NAME\n"
        "                                     the configurations whose caBundle this webhook keeps (default: none)\n"
        "  --serving-certificate-duration D   lifetime of the serving certificate, renewed at 2/3 (default 720h)\n"
        "  --resync-interval D                how often the Secret and caBundle are checked (default 1m)\n"
        "  --threads N                        HTTPS server threads (default 2)\n") +
    kIssuanceFlagsUsage +
    std::string(
        "  --log-level LEVEL                  debug, info, warn, error (default info)\n"
        "  --log-format text|json             one JSON object per line with json (default text)\n");

std::optional<std::chrono::seconds> PositiveDuration(const Flags& flags, const std::string& name,
                                                     std::chrono::seconds fallback, std::string& error) {
  auto text = flags.Get(name);
  if (!text) return fallback;
  auto d = ParseDuration(*text);
  if (!d.ok() || *d <= std::chrono::seconds(0)) {
    error = "--" + name + " \"" + *text + "\" is not a positive duration (e.g. 720h, 90s)";
    return std::nullopt;
  }
  return *d;
}

}  // namespace

int RunWebhook(const std::vector<std::string>& args) {
  int exit_code = kExitOk;
  auto flags = ParseCommandFlags(
      args,
      {"kubeconfig", "namespace", "listen", "health-address", "tls-secret", "service-name", "serving-ip-addresses",
       "validating-webhook-configuration", "mutating-webhook-configuration", "serving-certificate-duration",
       "resync-interval", "threads", kIssuanceFlags[0], kIssuanceFlags[1], kIssuanceFlags[2], kIssuanceFlags[3]},
      kWebhookUsage, exit_code);
  if (!flags) return exit_code;
  issuance::CustodyRules custody;
  if (auto error = ParseIssuanceFlags(*flags, custody)) {
    std::cerr << "certwright: error: " << *error << "\n";
    return kExitUsage;
  }
  std::string usage_error;
  const auto serving_duration =
      PositiveDuration(*flags, "serving-certificate-duration", std::chrono::hours(720), usage_error);
  const auto resync = PositiveDuration(*flags, "resync-interval", std::chrono::minutes(1), usage_error);
  auto threads_flag = flags->GetNumber("threads", 2, 1, 64);
  if (!threads_flag.ok()) usage_error = threads_flag.error().message();
  const int threads = threads_flag.ok() ? static_cast<int>(*threads_flag) : 0;
  if (!serving_duration || !resync || !usage_error.empty()) {
    std::cerr << "certwright: error: " << usage_error << "\n";
    return kExitUsage;
  }
  const char* pod_ns = std::getenv("POD_NAMESPACE");
  const std::string ns = flags->Get("namespace").value_or(pod_ns != nullptr && *pod_ns ? pod_ns : "certwright");

  RaiseOpenFileLimit();
  StopSignal stop;
  auto registry = std::make_shared<prometheus::Registry>();
  auto client = ConnectToCluster(*flags, registry);
  if (!client.ok()) {
    std::cerr << "certwright: error: " << client.error().message() << "\n";
    return kExitFailure;
  }

  // What admission judges with: the stored issuers, the policies in force, the custody rules.
  kube::Informer issuers(*client, api::resources::kIssuers);
  kube::Informer cluster_issuers(*client, api::resources::kClusterIssuers);
  controllers::ClusterIssuerModules cluster_modules(cluster_issuers);
  custody.cluster_issuer_modules = [&cluster_modules] { return cluster_modules.Get(); };
  auto service = std::make_shared<issuance::IssuanceService>(issuance::IssuanceService::Options{.custody = custody});
  controllers::ControllerContext ctx;
  ctx.client = *client;
  ctx.metrics = std::make_shared<controllers::Metrics>(registry);
  ctx.issuance = service;
  controllers::CertificatePolicyController policies(ctx, service, /*write_status=*/false);

  webhook::AdmissionContext admission;
  admission.issuance = service.get();
  admission.kubernetes_signers_issuer = custody.kubernetes_signers_issuer;
  admission.pod_certificates = controllers::ServedPodCertificateRequests(**client).has_value();
  if (!admission.pod_certificates) {
    spdlog::warn("the cluster serves no PodCertificateRequest API: pods annotated certwright.dev/issuer are refused");
  }
  // As the CSR signer does, before any issuer or policy answer: a requester without the right
  // learns nothing of the issuer (a SubjectAccessReview, so the webhook may create those).
  admission.may_reference = [client = *client](const kube::Json& user, const std::string& review_ns,
                                               const std::string& signer_name, const std::string& wildcard) {
    return issuance::csr::MayReference(*client, user, review_ns, signer_name, wildcard);
  };
  admission.issuer = [&](const std::string& kind, const std::string& issuer_ns, const std::string& name) {
    return kind == "ClusterIssuer" ? cluster_issuers.Get(name) : issuers.Get(issuer_ns + "/" + name);
  };

  std::atomic<bool> synced{false};
  auto tls = std::make_shared<http::TlsCredentials>();
  auto not_ready = [&]() -> std::string {
    if (!synced) return "caches not synced yet";
    if (!tls->loaded()) return "no serving certificate yet";
    return "";
  };
  server::HealthServerOptions health_options{.address = flags->Get("health-address").value_or("0.0.0.0:9403"),
                                             .registry = registry,
                                             .not_ready_reason = not_ready};
  std::unique_ptr<server::HealthServer> health;
  if (!health_options.address.empty()) {
    auto started = server::HealthServer::Start(health_options);
    if (!started.ok()) {
      std::cerr << "certwright: error: " << started.error().message() << "\n";
      return kExitFailure;
    }
    health = std::move(*started);
  }

  issuers.Start();
  cluster_issuers.Start();
  policies.StartInformers();
  const auto sync_timeout = std::chrono::minutes(5);
  if (!issuers.WaitForSync(sync_timeout) || !cluster_issuers.WaitForSync(sync_timeout) ||
      !policies.WaitForSync(sync_timeout)) {
    std::cerr << "certwright: error: caches did not sync within 5 minutes; is the API server reachable and are "
                 "the CRDs installed (kubectl apply -f crds/)?\n";
    return kExitFailure;
  }
  // No review is judged before the policies in force are known.
  policies.Publish();
  synced = true;

  webhook::ServingOptions serving_options;
  serving_options.ns = ns;
  serving_options.secret_name = flags->Get("tls-secret").value_or("certwright-webhook-tls");
  serving_options.dns_names = webhook::ServiceDnsNames(flags->Get("service-name").value_or("certwright-webhook"), ns);
  serving_options.ip_addresses = api::SplitList(flags->Get("serving-ip-addresses").value_or(""));
  serving_options.validating_configuration = flags->Get("validating-webhook-configuration").value_or("");
  serving_options.mutating_configuration = flags->Get("mutating-webhook-configuration").value_or("");
  serving_options.serving_duration = *serving_duration;
  serving_options.resync = std::chrono::duration_cast<std::chrono::milliseconds>(*resync);
  serving_options.on_serving_certificate = [tls](const std::string& chain, const std::string& key) {
    auto updated = tls->Update(chain, key);
    if (updated.ok()) spdlog::info("webhook: serving certificate {} loaded", tls->LeafSha256().substr(0, 16));
    return updated;
  };
  auto serving = webhook::ServingCertificates::Start(*client, std::move(serving_options));
  if (!serving.ok()) {
    std::cerr << "certwright: error: serving certificate: " << serving.error().message() << "\n";
    return kExitFailure;
  }

  http::Router router;
  webhook::AddAdmissionRoutes(router, admission, registry);
  // Probes may use the HTTPS port too; /metrics only the health port (who may scrape is the
  // cluster's network policy's business, and the HTTPS port is open to every client of the API).
  server::AddHealthRoutes(router, health_options, /*with_metrics=*/false);
  http::ServerOptions server_options;
  server_options.address = flags->Get("listen").value_or("0.0.0.0:10250");
  server_options.tls = tls;
  server_options.threads = threads;
  server_options.max_connections = ConnectionBudget(1024);
  // etcd stores objects up to 1.5 MiB (its default request limit) and an UPDATE's review carries
  // the object twice: 4 MiB holds every real review and bounds what a client can make us buffer.
  server_options.max_body_bytes = 4 * 1024 * 1024;
  auto https = http::Server::Start(std::move(server_options), std::move(router));
  if (!https.ok()) {
    std::cerr << "certwright: error: " << https.error().message() << "\n";
    return kExitFailure;
  }
  spdlog::info("webhook: serving HTTPS on port {} (namespace {})", (*https)->port(), ns);

  const int code = stop.Wait();
  https->reset();
  serving->reset();
  policies.Stop();
  cluster_issuers.Stop();
  issuers.Stop();
  return code;
}

}  // namespace certwright::cli
