#include <spdlog/spdlog.h>

#include <algorithm>

#include "certwright/api/meta.h"
#include "certwright/controllers/metrics.h"
#include "certwright/controllers/podcertsigner.h"
#include "certwright/issuance/csr.h"
#include "certwright/signer/ossl.h"

namespace certwright::controllers {

namespace pcr = issuance::pcr;

namespace {

// Whether the cluster serves `resource` (its group version lists the plural).
bool Served(kube::Client& client, const kube::Resource& resource) {
  auto list = client.Request("GET", resource.Prefix(), "discovery");
  if (!list.ok() || !list->contains("resources") || !(*list)["resources"].is_array()) return false;
  for (const auto& r : (*list)["resources"]) {
    if (api::StringAt(r, "name") == resource.plural) return true;
  }
  return false;
}

bool Ours(const std::string& signer_name) {
  auto target = issuance::csr::ParseSignerName(signer_name, /*kubernetes_signers=*/false);
  return target.has_value();
}

}  // namespace

std::optional<kube::Resource> ServedPodCertificateRequests(kube::Client& client) {
  for (const auto* r : {&kube::resources::kPodCertificateRequests, &kube::resources::kPodCertificateRequestsV1beta1}) {
    if (Served(client, *r)) return *r;
  }
  return std::nullopt;
}

Result<std::unique_ptr<PodCertificateSigner>> PodCertificateSigner::Create(ControllerContext ctx,
                                                                          std::shared_ptr<IssuerStore> store,
                                                                          IssuerController& issuers,
                                                                          PodCertificateSignerOptions options) {
  kube::Resource resource;
  if (options.version == "v1") {
    resource = kube::resources::kPodCertificateRequests;
  } else if (options.version == "v1beta1") {
    resource = kube::resources::kPodCertificateRequestsV1beta1;
  } else if (!options.version.empty()) {
    return InvalidArgument("PodCertificateRequest version \"" + options.version + "\": want v1 or v1beta1");
  } else if (auto served = ServedPodCertificateRequests(*ctx.client)) {
    resource = *served;
  } else {
    return Unavailable(
        "the cluster serves no PodCertificateRequest API (certificates.k8s.io/v1 from Kubernetes 1.37, v1beta1 "
        "behind the PodCertificateRequest feature gate in 1.35-1.36)");
  }
  return std::unique_ptr<PodCertificateSigner>(
      new PodCertificateSigner(std::move(ctx), std::move(store), issuers, std::move(resource)));
}

PodCertificateSigner::PodCertificateSigner(ControllerContext ctx, std::shared_ptr<IssuerStore> store,
                                           IssuerController& issuers, kube::Resource resource)
    : ctx_(std::move(ctx)), store_(std::move(store)), issuers_(issuers), resource_(std::move(resource)) {
  kube::InformerOptions informer_options;
  // Other signers' requests and answered ones keep their metadata only (so a change is seen), not
  // their request bytes or certificate chain: a Deployment of 1,000 pods costs little once
  // answered. kube-controller-manager deletes every request 15 minutes after it was made.
  informer_options.transform = [](kube::Json& o) {
    o["metadata"].erase("managedFields");
    const std::string signer = o.value("spec", kube::Json::object()).value("signerName", "");
    const std::string answer = pcr::Answer(o);
    if (!Ours(signer) || !answer.empty()) {
      o.erase("spec");
      o.erase("status");
      o["spec"] = {{"signerName", signer}};
      if (!answer.empty()) o["status"] = {{"conditions", {{{"type", answer}, {"status", "True"}}}}};
    }
  };
  pcrs_ = std::make_unique<kube::Informer>(ctx_.client, resource_, ctx_.watch_namespace, informer_options);
  kube::ControllerOptions worker_options;
  worker_options.workers = std::max(4, ctx_.workers);
  if (ctx_.metrics) worker_options.queue.metrics = ctx_.metrics->WorkQueue("podcertsigner");
  worker_ = std::make_unique<kube::Controller>(
      "podcertsigner", [this](const std::string& key) { return Reconcile(key); }, std::move(worker_options));
  // The API writes on a pool of their own, so a slow HSM or KMS does not hold up the writes of
  // what is signed, and a slow API server does not hold up the signing.
  kube::ControllerOptions writer_options;
  writer_options.workers = 4;
  if (ctx_.metrics) writer_options.queue.metrics = ctx_.metrics->WorkQueue("podcertwriter");
  writers_ = std::make_unique<kube::Controller>(
      "podcertwriter", [this](const std::string& key) { return WriteAnswer(key); }, std::move(writer_options));
  pcrs_->OnChange([this](const std::string& key) { worker_->Enqueue(key); });
  kube::ControllerOptions bundle_options;
  bundle_options.workers = 1;
  if (ctx_.metrics) bundle_options.queue.metrics = ctx_.metrics->WorkQueue("clustertrustbundles");
  bundles_ = std::make_unique<kube::Controller>(
      "clustertrustbundles", [this](const std::string& key) { return PublishTrustBundle(key); }, std::move(bundle_options));
  // An issuer that becomes Ready: requests waiting for it go on, and its bundle is published.
  store_->OnChange([this](const std::string& store_key) {
    for (const auto& key : pcrs_->Keys()) worker_->Enqueue(key);
    bundles_->Enqueue(store_key);
  });
}

std::string PodCertificateSigner::TrustBundleName(const std::string& signer_name) {
  std::string name = signer_name;
  std::replace(name.begin(), name.end(), '/', ':');
  return name + ":ca";
}

Result<kube::ReconcileResult> PodCertificateSigner::PublishTrustBundle(const std::string& store_key) {
  // The store key names the issuer: ClusterIssuer/<name> or Issuer/<ns>/<name>.
  const auto slash = store_key.find('/');
  if (slash == std::string::npos) return kube::ReconcileResult::Done();
  const std::string kind = store_key.substr(0, slash);
  std::string ns, name = store_key.substr(slash + 1);
  if (kind == "Issuer") {
    const auto second = name.find('/');
    if (second == std::string::npos) return kube::ReconcileResult::Done();
    ns = name.substr(0, second);
    name = name.substr(second + 1);
  }
  const std::string signer_name =
      kind == "Issuer" ? "issuers.certwright.dev/" + ns + "." + name : "clusterissuers.certwright.dev/" + name;
  const std::string bundle_name = TrustBundleName(signer_name);
  auto current = ctx_.client->Get(kube::resources::kClusterTrustBundles, "", bundle_name);
  if (!current.ok() && current.error().kind() != ErrorKind::kNotFound) return std::move(current).error();
  const bool exists = current.ok();

  if (!issuers_.Exists(kind, ns, name)) {
    // The issuer is gone: so is its bundle (only ours, by its label).
    if (exists && api::StringAt((*current)["metadata"].value("labels", kube::Json::object()), "app.kubernetes.io/managed-by") ==
                      "certwright") {
      CW_RETURN_IF_ERROR(ctx_.client->Delete(kube::resources::kClusterTrustBundles, "", bundle_name));
      spdlog::info("deleted ClusterTrustBundle {}: its issuer is gone", bundle_name);
    }
    return kube::ReconcileResult::Done();
  }
  auto issuer = store_->Get(store_key);
  if (issuer == nullptr || !issuer->ca) return kube::ReconcileResult::Done();  // not Ready, or selfSigned
  // The trust anchor: the top of the issuer's chain (its root, or its own certificate).
  auto pem = ossl::CertificateToPem(issuer->ca->chain().back().get());
  if (!pem.ok()) return std::move(pem).error();
  kube::Json bundle = exists ? *current : kube::Json::object();
  bundle["apiVersion"] = kube::resources::kClusterTrustBundles.ApiVersion();
  bundle["kind"] = "ClusterTrustBundle";
  bundle["metadata"]["name"] = bundle_name;
  bundle["metadata"]["labels"]["app.kubernetes.io/managed-by"] = "certwright";
  bundle["metadata"]["labels"]["certwright.dev/issuer-kind"] = kind;
  bundle["metadata"]["labels"]["certwright.dev/issuer-name"] = name;
  if (exists && current->value("spec", kube::Json::object()).value("trustBundle", "") == *pem &&
      current->value("spec", kube::Json::object()).value("signerName", "") == signer_name) {
    return kube::ReconcileResult::Done();  // written only when the content changes
  }
  bundle["spec"] = {{"signerName", signer_name}, {"trustBundle", *pem}};
  auto written = exists ? ctx_.client->Update(kube::resources::kClusterTrustBundles, "", bundle)
                        : ctx_.client->Create(kube::resources::kClusterTrustBundles, "", bundle);
  if (!written.ok()) return std::move(written).error().WithContext("publishing ClusterTrustBundle " + bundle_name);
  spdlog::info("published ClusterTrustBundle {} for {}", bundle_name, issuer->Describe());
  return kube::ReconcileResult::Done();
}

PodCertificateSigner::~PodCertificateSigner() { Stop(); }
void PodCertificateSigner::StartInformers() { pcrs_->Start(); }
bool PodCertificateSigner::WaitForSync(std::chrono::milliseconds timeout) { return pcrs_->WaitForSync(timeout); }
void PodCertificateSigner::StartWorkers() {
  writers_->Start();
  worker_->Start();
  bundles_->Start();
  // Issuers already Ready before this leader started: their bundles too.
  for (const auto& key : issuers_.StoreKeys()) bundles_->Enqueue(key);
}
void PodCertificateSigner::Stop() {
  worker_->Stop();
  writers_->Stop();
  bundles_->Stop();
  pcrs_->Stop();
}

void PodCertificateSigner::Answer(const kube::Json& object, kube::Json status, const pcr::Request* request,
                                  const pcr::Refusal* refusal, const std::string& event_message) {
  auto answer = std::make_shared<PendingAnswer>();
  answer->uid = api::StringAt(object["metadata"], "uid");
  answer->status = std::move(status);
  if (refusal != nullptr) answer->refusal = *refusal;
  answer->event_message = event_message;
  if (request != nullptr) {
    answer->pod_name = request->pod_name;
    answer->pod_uid = request->pod_uid;
    answer->service_account = request->service_account;
  } else if (auto spec = object.find("spec"); spec != object.end()) {
    answer->pod_name = api::StringAt(*spec, "podName");
    answer->pod_uid = api::StringAt(*spec, "podUID");
  }
  const std::string key = api::KeyOf(object);
  {
    std::lock_guard lock(answered_mutex_);
    pending_[key] = std::move(answer);
  }
  writers_->Enqueue(key);
}

Result<kube::ReconcileResult> PodCertificateSigner::WriteAnswer(const std::string& key) {
  std::shared_ptr<const PendingAnswer> pending;
  {
    std::lock_guard lock(answered_mutex_);
    auto it = pending_.find(key);
    if (it == pending_.end()) return kube::ReconcileResult::Done();
    pending = it->second;
  }
  const PendingAnswer& answer = *pending;
  auto forget = [&] {
    std::lock_guard lock(answered_mutex_);
    auto it = pending_.find(key);
    if (it != pending_.end() && it->second == pending) pending_.erase(it);
  };
  // The request as the cache has it now (its resourceVersion for the write): gone, made again or
  // answered meanwhile, the answer is not written.
  auto current = pcrs_->Get(key);
  if (current == nullptr || api::StringAt((*current)["metadata"], "uid") != answer.uid ||
      !pcr::Answer(*current).empty()) {
    forget();
    return kube::ReconcileResult::Done();
  }
  const kube::Json& object = *current;
  kube::Json updated = object;
  updated["status"] = answer.status;
  const std::string ns = api::StringAt(object["metadata"], "namespace");
  auto written = ctx_.client->UpdateStatus(resource_, ns, updated);
  if (!written.ok() && written.error().kind() == ErrorKind::kInvalidArgument && !answer.refusal) {
    // The API refuses the issued status (its validation of the chain and times): the request
    // fails with the API's words rather than being retried for ever.
    pcr::Refusal refusal{"Failed", "SigningFailed", "the API server refused the issued status: " +
                                                        written.error().message()};
    const long long generation = object["metadata"].value("generation", 1LL);
    Answer(object, pcr::RefusedStatus(refusal, ctx_.clock->Now(), generation), nullptr, &refusal, "");
    return kube::ReconcileResult::Done();
  }
  // Retried by the writers' queue with back-off (a 409 with the next cached version); the
  // signature is never made again.
  if (!written.ok()) return std::move(written).error().WithContext("answering PodCertificateRequest " + key);
  {
    std::lock_guard lock(answered_mutex_);
    answered_[key] = answer.uid;
  }
  forget();
  const pcr::Refusal* refusal = answer.refusal ? &*answer.refusal : nullptr;
  if (refusal != nullptr) {
    spdlog::warn("PodCertificateRequest {}: {} {}: {}", key, refusal->condition, refusal->reason, refusal->message);
  }
  // The Event goes to the pod, where its owner looks (kubectl describe pod).
  const std::string& pod_name = answer.pod_name;
  const std::string& pod_uid = answer.pod_uid;
  if (ctx_.events && !pod_name.empty()) {
    const kube::Json pod = {{"apiVersion", "v1"},
                            {"kind", "Pod"},
                            {"metadata",
                             {{"name", pod_name},
                              {"namespace", ns},
                              {"uid", pod_uid}}}};
    if (refusal == nullptr) {
      ctx_.events->Record(pod, kube::EventType::kNormal, "PodCertificateIssued", "Sign", answer.event_message);
    } else {
      ctx_.events->Record(pod, kube::EventType::kWarning, "PodCertificate" + refusal->condition, "Sign",
                          refusal->reason + ": " + refusal->message);
    }
  }
  if (refusal != nullptr && ctx_.issuance) {
    // Refusals before the issuance service are audited too; the service audits its own.
    if (refusal->reason != "PolicyDenied" && refusal->reason != "SigningFailed") {
      issuance::IssuanceRequest refused;
      refused.door = issuance::Door::kPodCertificateRequest;
      refused.ns = ns;
      refused.name = pod_name;
      refused.object = "PodCertificateRequest " + key;
      if (!answer.service_account.empty()) {
        refused.requester =
            issuance::Requester::FromUser("system:serviceaccount:" + ns + ":" + answer.service_account, {});
      }
      refused.audit_details = {{"signerName", api::StringAt(object.value("spec", kube::Json::object()), "signerName")},
                               {"reason", refusal->reason}};
      ctx_.issuance->AuditRefused(refused, refusal->condition == "Denied" ? PolicyDenied(refusal->message)
                                                                          : InvalidArgument(refusal->message));
    }
  }
  return kube::ReconcileResult::Done();
}

Result<kube::ReconcileResult> PodCertificateSigner::Reconcile(const std::string& key) {
  auto object = pcrs_->Get(key);
  if (object == nullptr) {
    std::lock_guard lock(answered_mutex_);
    answered_.erase(key);
    pending_.erase(key);
    return kube::ReconcileResult::Done();
  }
  const kube::Json& pcr_object = *object;
  const std::string signer_name = pcr_object.value("spec", kube::Json::object()).value("signerName", "");
  const auto target = issuance::csr::ParseSignerName(signer_name, /*kubernetes_signers=*/false);
  if (!target) return kube::ReconcileResult::Done();  // another signer's: never touched
  if (!pcr::Answer(pcr_object).empty()) return kube::ReconcileResult::Done();
  {
    // Answered by us already, and the cache has not caught up: writing again would only lose the
    // write to a 409.
    std::lock_guard lock(answered_mutex_);
    const std::string uid = api::StringAt(pcr_object["metadata"], "uid");
    auto it = answered_.find(key);
    if (it != answered_.end() && it->second == uid) {
      return kube::ReconcileResult::RequeueAfter(std::chrono::seconds(1));
    }
    // Decided (and signed) already, its write still with the writers: never sign twice.
    auto pending = pending_.find(key);
    if (pending != pending_.end() && pending->second->uid == uid) return kube::ReconcileResult::Done();
  }
  const auto now = ctx_.clock->Now();
  const long long generation = pcr_object["metadata"].value("generation", 1LL);
  auto refuse = [&](pcr::Refusal refusal, const pcr::Request* request) -> Result<kube::ReconcileResult> {
    Answer(pcr_object, pcr::RefusedStatus(refusal, now, generation), request, &refusal, "");
    return kube::ReconcileResult::Done();
  };

  // The issuer.
  const std::string ns = api::StringAt(pcr_object["metadata"], "namespace");
  const issuance::csr::IssuerName addressed = issuance::csr::IssuerOf(*target, "");
  if (addressed.name.empty()) {
    return refuse({"Denied", "InvalidSignerName", issuance::csr::InvalidSignerNameMessage(signer_name)}, nullptr);
  }
  // A controller scoped to some ClusterIssuers leaves the others' requests to their controller.
  if (addressed.kind == "ClusterIssuer" && !ctx_.cluster_issuer_selector.empty() &&
      !issuers_.Exists(addressed.kind, "", addressed.name)) {
    return kube::ReconcileResult::Done();
  }
  // An Issuer signs for pods in its own namespace only: first, so another namespace learns nothing
  // of it.
  if (addressed.kind == "Issuer" && addressed.ns != ns) {
    return refuse({"Denied", "IssuerInAnotherNamespace",
                   "signer " + signer_name + " is Issuer " + addressed.ns + "/" + addressed.name +
                       ", which signs only for pods in namespace " + addressed.ns + ", not " + ns +
                       ": use an Issuer of this namespace or a ClusterIssuer"},
                  nullptr);
  }
  auto read = pcr::Read(pcr_object);
  if (auto* refusal = std::get_if<pcr::Refusal>(&read)) return refuse(*refusal, nullptr);
  const pcr::Request& request = std::get<pcr::Request>(read);

  const std::string what = addressed.Describe();
  if (!issuers_.Exists(addressed.kind, addressed.ns, addressed.name)) {
    return refuse({"Failed", "IssuerNotFound", what + " does not exist"}, &request);
  }
  const std::string issuer_key = IssuerStore::KeyFor(addressed.kind, addressed.ns, addressed.name);
  auto issuer = store_->Get(issuer_key);
  if (issuer == nullptr) {
    auto why = store_->NotReadyMessage(issuer_key);
    if (!why) return kube::ReconcileResult::RequeueAfter(std::chrono::seconds(1));  // not checked yet
    // As for CSRs: the request fails with the reason, and kubelet asks again later.
    return refuse({"Failed", "IssuerNotReady", issuance::NotReadyForNamespace(addressed.kind, addressed.name, *why)},
                  &request);
  }
  if (!issuer->ca) {
    return refuse({"Failed", "SelfSignedIssuer",
                   what + " is selfSigned: each of its certificates is signed by its own key, and a pod's key is on "
                          "its node; use a CA issuer (ca, pkcs11 or awsKMS)"},
                  &request);
  }

  // Before any signature: an issuer that cannot give the hour the API requires.
  if (auto refusal = pcr::CheckIssuerLifetime(*issuer, now)) return refuse(std::move(*refusal), &request);

  // Signed through the one door: custody, CertificatePolicy, lifetime limits, signature, audit.
  const issuance::IssuanceRequest issue =
      pcr::IssuanceRequestFor(request, issuer, pcr::TemplateFor(request, issuer->spec.pod_certificates, issuer->ca->not_before(), now));
  // DNS names are never the pod's to claim: only a CertificatePolicy selecting the request and
  // allowing them grants them.
  if (!request.dns_names.empty()) {
    signer::policy::PolicyDecision decision;
    if (ctx_.issuance->Decide(issue, &decision).ok()) {
      if (auto refusal = pcr::CheckDnsNamesGranted(request, decision)) {
        ctx_.issuance->AuditRefused(issue, PolicyDenied(refusal->message));
        return refuse(std::move(*refusal), &request);
      }
    }
  }
  auto issuance = ctx_.issuance->Issue(issue);
  if (!issuance.ok()) {
    const Error& e = issuance.error();
    if (ctx_.metrics && e.kind() != ErrorKind::kPolicyDenied) ctx_.metrics->SignerError(issuer->backend);
    if (e.retryable()) return std::move(issuance).error();
    if (e.kind() == ErrorKind::kPolicyDenied) return refuse({"Denied", "PolicyDenied", e.message()}, &request);
    return refuse({"Failed", e.kind() == ErrorKind::kInvalidArgument ? "InvalidRequest" : "SigningFailed", e.message()},
                  &request);
  }
  const signer::IssuedCertificate& issued = issuance->certificate;
  // Only a CertificatePolicy's maxDuration under an hour gets here (the issuer's own limits were
  // checked before signing).
  if (auto refusal = pcr::CheckIssued(request, issued)) return refuse(std::move(*refusal), &request);
  Answer(pcr_object, pcr::IssuedStatus(issued, issuer->spec.pod_certificates, now, generation), &request, nullptr,
         "Signed by " + what + " for " + pcr::SpiffeId(issuer->spec.pod_certificates.trust_domain, request) +
             ": serial " + issued.serial_hex + ", valid until " + api::FormatTime(issued.not_after));
  return kube::ReconcileResult::Done();
}

}  // namespace certwright::controllers
