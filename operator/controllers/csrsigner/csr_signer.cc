#include <spdlog/spdlog.h>

#include <algorithm>
#include <set>

#include "certwright/api/meta.h"
#include "certwright/controllers/csrsigner.h"
#include "certwright/controllers/metrics.h"
#include "certwright/controllers/secrets.h"
#include "certwright/signer/duration.h"

namespace certwright::controllers {


namespace {

// The status of condition `type` ("True"), or "".
std::string ConditionStatus(const kube::Json& csr, std::string_view type) {
  const kube::Json status = csr.value("status", kube::Json::object());
  if (!status.contains("conditions") || !status["conditions"].is_array()) return "";
  for (const auto& c : status["conditions"]) {
    if (api::StringAt(c, "type") == type) return api::StringAt(c, "status");
  }
  return "";
}

}  // namespace

CsrSigner::CsrSigner(ControllerContext ctx, std::shared_ptr<IssuerStore> store, IssuerController& issuers,
                     CsrSignerOptions options)
    : ctx_(std::move(ctx)), store_(std::move(store)), issuers_(issuers), options_(std::move(options)) {
  const bool kubernetes_signers = !options_.kubernetes_signers_issuer.empty();
  kube::InformerOptions informer_options;
  // Only CSRs still waiting for a signature matter in memory: signed and failed ones keep their
  // metadata (so a change is seen) but not their request and certificate.
  informer_options.transform = [kubernetes_signers](kube::Json& o) {
    o["metadata"].erase("managedFields");
    const std::string signer = o.value("spec", kube::Json::object()).value("signerName", "");
    if (!csr::ParseSignerName(signer, kubernetes_signers)) {
      o.erase("spec");
      o.erase("status");
      o["spec"] = {{"signerName", signer}};
    }
  };
  csrs_ = std::make_unique<kube::Informer>(ctx_.client, kube::resources::kCertificateSigningRequests, "",
                                           informer_options);
  kube::ControllerOptions worker_options;
  worker_options.workers = 2;
  if (ctx_.metrics) worker_options.queue.metrics = ctx_.metrics->WorkQueue("csrsigner");
  worker_ = std::make_unique<kube::Controller>(
      "csrsigner", [this](const std::string& key) { return Reconcile(key); }, std::move(worker_options));
  csrs_->OnChange([this](const std::string& key) { worker_->Enqueue(key); });
  // An issuer that becomes Ready: CSRs waiting for it go on.
  store_->OnChange([this](const std::string&) {
    for (const auto& key : csrs_->Keys()) worker_->Enqueue(key);
  });
}

CsrSigner::~CsrSigner() { Stop(); }
void CsrSigner::StartInformers() { csrs_->Start(); }
bool CsrSigner::WaitForSync(std::chrono::milliseconds timeout) { return csrs_->WaitForSync(timeout); }
void CsrSigner::StartWorkers() { worker_->Start(); }
void CsrSigner::Stop() {
  worker_->Stop();
  csrs_->Stop();
}

Status CsrSigner::Fail(const kube::Json& csr, const std::string& reason, const std::string& message) {
  kube::Json updated = csr;
  kube::Json& status = updated["status"];
  if (!status.is_object()) status = kube::Json::object();
  if (!status.contains("conditions") || !status["conditions"].is_array()) status["conditions"] = kube::Json::array();
  const std::string now = api::FormatTime(ctx_.clock->Now());
  status["conditions"].push_back({{"type", "Failed"},
                                  {"status", "True"},
                                  {"reason", reason},
                                  {"message", message},
                                  {"lastUpdateTime", now},
                                  {"lastTransitionTime", now}});
  auto written = ctx_.client->UpdateStatus(kube::resources::kCertificateSigningRequests, "", updated);
  if (!written.ok()) return std::move(written).error().WithContext("marking CSR " + api::KeyOf(csr) + " Failed");
  if (ctx_.events) ctx_.events->Record(csr, kube::EventType::kWarning, reason, "Sign", message);
  spdlog::warn("CSR {}: Failed {}: {}", api::KeyOf(csr), reason, message);
  if (ctx_.issuance) {
    // Every decision is audited, refusals before the issuance service too (a CA request, the
    // kubernetes.io rules, a missing `reference` right, an unknown issuer, a malformed request).
    const kube::Json spec = csr.value("spec", kube::Json::object());
    issuance::IssuanceRequest refused;
    refused.door = api::StringAt(spec, "signerName").rfind("kubernetes.io/", 0) == 0
                       ? issuance::Door::kKubernetesSigner
                       : issuance::Door::kCertificateSigningRequest;
    refused.requester = csr::RequesterOf(spec);
    refused.name = api::KeyOf(csr);
    refused.object = "CertificateSigningRequest " + api::KeyOf(csr);
    refused.audit_details = {{"signerName", api::StringAt(spec, "signerName")}, {"reason", reason}};
    const bool denial = reason == "PolicyDenied" || reason == "PermissionDenied";
    ctx_.issuance->AuditRefused(refused, denial ? PolicyDenied(message) : InvalidArgument(message));
  }
  return Ok();
}

Result<kube::ReconcileResult> CsrSigner::Reconcile(const std::string& name) {
  auto object = csrs_->Get(name);
  if (object == nullptr) {
    std::lock_guard lock(signed_mutex_);
    signed_.erase(name);
    return kube::ReconcileResult::Done();
  }
  const kube::Json& csr = *object;
  const kube::Json spec = csr.value("spec", kube::Json::object());
  const std::string signer_name = spec.value("signerName", "");
  const bool kubernetes_signers = !options_.kubernetes_signers_issuer.empty();
  const auto target = csr::ParseSignerName(signer_name, kubernetes_signers);
  if (!target) return kube::ReconcileResult::Done();  // another signer's CSR: never touched

  // Signed once: approved, not denied or failed, no certificate yet.
  if (ConditionStatus(csr, "Approved") != "True" || ConditionStatus(csr, "Denied") == "True" ||
      ConditionStatus(csr, "Failed") == "True") {
    return kube::ReconcileResult::Done();
  }
  if (!csr.value("status", kube::Json::object()).value("certificate", "").empty()) return kube::ReconcileResult::Done();
  {
    // Signed by us already, and the cache has not caught up: signing again would only lose the
    // write to a 409.
    std::lock_guard lock(signed_mutex_);
    auto it = signed_.find(name);
    const std::string uid = api::StringAt(csr["metadata"], "uid");
    if (it != signed_.end() && it->second == uid) return kube::ReconcileResult::RequeueAfter(std::chrono::seconds(1));
  }

  // The issuer.
  const csr::IssuerName addressed = csr::IssuerOf(*target, options_.kubernetes_signers_issuer);
  const std::string& kind = addressed.kind;
  const std::string& ns = addressed.ns;
  const std::string& issuer_name = addressed.name;
  const std::string wildcard = csr::ReferenceWildcard(*target);
  if (issuer_name.empty()) {
    CW_RETURN_IF_ERROR(Fail(csr, "InvalidSignerName", csr::InvalidSignerNameMessage(signer_name)));
    return kube::ReconcileResult::Done();
  }
  const std::string issuer_key = IssuerStore::KeyFor(kind, ns, issuer_name);
  const std::string what = addressed.Describe();
  // A controller scoped to a namespace (or to some ClusterIssuers) leaves the other CSRs to the
  // controller that serves them: failing them here would be wrong.
  const bool other_scope =
      (kind == "Issuer" && !ctx_.watch_namespace.empty() && ns != ctx_.watch_namespace) ||
      (kind == "ClusterIssuer" && !ctx_.cluster_issuer_selector.empty() && !issuers_.Exists(kind, ns, issuer_name));
  if (other_scope) return kube::ReconcileResult::Done();
  // Who asked may use this issuer (our signer names only: for the kubernetes.io ones the approval
  // is the gate, as with kube-controller-manager). First, so a user without the right learns
  // nothing of the issuer: not whether it exists, nor why it is not ready.
  if (target->kind == csr::SignerTarget::Kind::kIssuer || target->kind == csr::SignerTarget::Kind::kClusterIssuer) {
    CW_ASSIGN_OR_RETURN(bool allowed, issuance::csr::MayReference(*ctx_.client, spec, ns, signer_name, wildcard));
    if (!allowed) {
      CW_RETURN_IF_ERROR(Fail(csr, "PermissionDenied",
                              csr::MissingReferenceMessage(api::StringAt(spec, "username"), addressed, signer_name)));
      return kube::ReconcileResult::Done();
    }
  }

  if (!issuers_.Exists(kind, ns, issuer_name)) {
    CW_RETURN_IF_ERROR(Fail(csr, "IssuerNotFound", what + " does not exist"));
    return kube::ReconcileResult::Done();
  }
  auto issuer = store_->Get(issuer_key);
  if (issuer == nullptr) {
    auto why = store_->NotReadyMessage(issuer_key);
    if (!why) return kube::ReconcileResult::RequeueAfter(std::chrono::seconds(1));  // not checked yet
    CW_RETURN_IF_ERROR(Fail(csr, "IssuerNotReady", issuance::NotReadyForNamespace(kind, issuer_name, *why)));
    return kube::ReconcileResult::Done();
  }

  auto request = csr::RequestOf(spec);
  if (!request.ok()) {
    CW_RETURN_IF_ERROR(Fail(csr, "InvalidRequest", request.error().message()));
    return kube::ReconcileResult::Done();
  }
  signer::CertificateRequest parsed;
  auto tmpl = csr::Evaluate(*target, *request, csr::Limits{}, &parsed);
  if (!tmpl.ok()) {
    const bool policy = tmpl.error().kind() == ErrorKind::kPolicyDenied;
    CW_RETURN_IF_ERROR(Fail(csr, policy ? "PolicyDenied" : "InvalidRequest", tmpl.error().message()));
    return kube::ReconcileResult::Done();
  }

  // Signed through the one door: custody, CertificatePolicy, lifetime limits, signature, audit.
  const issuance::IssuanceRequest issue = csr::IssuanceRequestFor(*target, *request, name, csr::RequesterOf(spec), issuer,
                                                                   std::move(*tmpl), parsed.subject_key);
  auto issuance = ctx_.issuance->Issue(issue);
  if (!issuance.ok()) {
    const Error& e = issuance.error();
    if (ctx_.metrics && e.kind() != ErrorKind::kPolicyDenied) ctx_.metrics->SignerError(issuer->backend);
    if (e.retryable()) return std::move(issuance).error();
    const std::string reason = e.kind() == ErrorKind::kPolicyDenied    ? "PolicyDenied"
                               : e.kind() == ErrorKind::kInvalidArgument ? "InvalidRequest"
                                                                         : "SigningFailed";
    // (A ClusterIssuer's backend errors arrive without its setup's details: the service logs them.)
    CW_RETURN_IF_ERROR(Fail(csr, reason, e.message()));
    return kube::ReconcileResult::Done();
  }
  const signer::IssuedCertificate* issued = &issuance->certificate;
  kube::Json updated = csr;
  updated["status"]["certificate"] = Base64Encode(issued->chain_pem);
  auto written = ctx_.client->UpdateStatus(kube::resources::kCertificateSigningRequests, "", updated);
  if (!written.ok()) return std::move(written).error().WithContext("writing the certificate of CSR " + name);
  {
    std::lock_guard lock(signed_mutex_);
    signed_[name] = api::StringAt(csr["metadata"], "uid");
  }
  if (ctx_.events) {
    ctx_.events->Record(csr, kube::EventType::kNormal, "Signed", "Sign",
                        "Signed by " + what + ": serial " + issued->serial_hex + ", valid until " +
                            api::FormatTime(issued->not_after));
  }
  return kube::ReconcileResult::Done();
}

}  // namespace certwright::controllers
