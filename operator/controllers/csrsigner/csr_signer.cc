#include <spdlog/spdlog.h>

#include <algorithm>
#include <set>

#include "certwright/api/meta.h"
#include "certwright/controllers/csrsigner.h"
#include "certwright/controllers/metrics.h"
#include "certwright/controllers/secrets.h"
#include "certwright/signer/duration.h"

namespace certwright::controllers {

namespace csr {

namespace {

constexpr std::string_view kIssuerPrefix = "issuers.certwright.dev/";
constexpr std::string_view kClusterIssuerPrefix = "clusterissuers.certwright.dev/";

bool Contains(const std::vector<std::string>& v, std::string_view x) { return std::find(v.begin(), v.end(), x) != v.end(); }

std::string List(const std::vector<std::string>& v) {
  std::string out;
  for (const auto& x : v) out += (out.empty() ? "\"" : ", \"") + x + "\"";
  return out;
}

// The rules kube-controller-manager applies to its built-in signer names
// (https://kubernetes.io/docs/reference/access-authn-authz/certificate-signing-requests/#kubernetes-signers).
Status KubernetesSignerRules(const SignerTarget& target, const signer::CertificateRequest& csr,
                             const std::vector<std::string>& usages) {
  if (target.kind == SignerTarget::Kind::kKubernetesClient) {
    if (!Contains(usages, "client auth")) return PolicyDenied("kubernetes.io/kube-apiserver-client requires the usage \"client auth\"");
    for (const auto& u : usages) {
      if (u != "digital signature" && u != "key encipherment" && u != "client auth") {
        return PolicyDenied("kubernetes.io/kube-apiserver-client allows only the usages \"digital signature\", \"key "
                            "encipherment\" and \"client auth\", not \"" + u + "\"");
      }
    }
    return Ok();
  }
  // kubelet-serving: O=system:nodes exactly, CN=system:node:<name>, DNS/IP SANs only, at least one.
  std::vector<std::string> organizations;
  std::string common_name;
  for (const auto& [type, value] : csr.subject.attributes()) {
    if (type == "O") organizations.push_back(value);
    if (type == "CN") common_name = value;
  }
  if (organizations != std::vector<std::string>{"system:nodes"}) {
    return PolicyDenied("kubernetes.io/kubelet-serving requires the subject organization to be exactly \"system:nodes\"");
  }
  if (common_name.rfind("system:node:", 0) != 0 || common_name.size() == std::string("system:node:").size()) {
    return PolicyDenied("kubernetes.io/kubelet-serving requires the common name \"system:node:<node name>\", not \"" +
                        common_name + "\"");
  }
  if (!csr.uris.empty() || !csr.email_addresses.empty()) {
    return PolicyDenied("kubernetes.io/kubelet-serving forbids URI and email subjectAltNames");
  }
  if (csr.dns_names.empty() && csr.ip_addresses.empty()) {
    return PolicyDenied("kubernetes.io/kubelet-serving requires at least one DNS or IP subjectAltName");
  }
  std::vector<std::string> sorted = usages;
  std::sort(sorted.begin(), sorted.end());
  const std::vector<std::string> with_ke{"digital signature", "key encipherment", "server auth"};
  const std::vector<std::string> without_ke{"digital signature", "server auth"};
  if (sorted != with_ke && sorted != without_ke) {
    return PolicyDenied("kubernetes.io/kubelet-serving allows exactly the usages [\"key encipherment\", \"digital "
                        "signature\", \"server auth\"] or [\"digital signature\", \"server auth\"], not [" +
                        List(usages) + "]");
  }
  return Ok();
}

}  // namespace

std::optional<SignerTarget> ParseSignerName(std::string_view name, bool kubernetes_signers) {
  if (name.rfind(kClusterIssuerPrefix, 0) == 0) {
    const std::string rest(name.substr(kClusterIssuerPrefix.size()));
    if (rest.empty()) return std::nullopt;
    return SignerTarget{SignerTarget::Kind::kClusterIssuer, "", rest};
  }
  if (name.rfind(kIssuerPrefix, 0) == 0) {
    // Namespace names cannot hold a dot, so the first one ends the namespace.
    const std::string rest(name.substr(kIssuerPrefix.size()));
    const auto dot = rest.find('.');
    if (dot == std::string::npos || dot == 0 || dot + 1 == rest.size()) {
      return SignerTarget{SignerTarget::Kind::kIssuer, "", ""};  // ours, but malformed: Failed
    }
    return SignerTarget{SignerTarget::Kind::kIssuer, rest.substr(0, dot), rest.substr(dot + 1)};
  }
  if (kubernetes_signers && name == "kubernetes.io/kube-apiserver-client") {
    return SignerTarget{SignerTarget::Kind::kKubernetesClient, "", ""};
  }
  if (kubernetes_signers && name == "kubernetes.io/kubelet-serving") {
    return SignerTarget{SignerTarget::Kind::kKubeletServing, "", ""};
  }
  return std::nullopt;
}

Result<signer::CertificateTemplate> Evaluate(const SignerTarget& target, const Request& request, const Limits& limits,
                                             signer::CertificateRequest* parsed) {
  auto csr = signer::CertificateRequest::Parse(request.request_pem);
  if (!csr.ok()) return std::move(csr).error().WithContext("spec.request");
  if (csr->requests_ca) return PolicyDenied("spec.request asks for a CA certificate (basicConstraints cA=TRUE); this signer issues end-entity certificates only");
  if (request.usages.empty()) return InvalidArgument("spec.usages is empty: name the key usages the certificate needs");
  for (const auto& u : request.usages) {
    if (u == "cert sign" || u == "crl sign" || u == "any") {
      return PolicyDenied("spec.usages: \"" + u + "\" is not allowed: this signer issues end-entity certificates only");
    }
  }
  auto usages = signer::ParseUsages(request.usages);
  if (!usages.ok()) return std::move(usages).error().WithContext("spec.usages");
  if (target.kind == SignerTarget::Kind::kKubernetesClient || target.kind == SignerTarget::Kind::kKubeletServing) {
    CW_RETURN_IF_ERROR(KubernetesSignerRules(target, *csr, request.usages));
  }

  signer::CertificateTemplate tmpl = signer::TemplateFromCsr(*csr);
  if (target.kind == SignerTarget::Kind::kKubeletServing) tmpl.uris.clear();
  tmpl.usages = std::move(*usages);
  // As asked; the issuance service raises it to the 600 s floor and then applies the issuer's
  // maxDuration (which always wins) and the CA's end.
  auto duration = limits.default_duration;
  if (request.expiration_seconds) {
    if (*request.expiration_seconds <= 0) return InvalidArgument("spec.expirationSeconds must be positive");
    // Far beyond any lifetime (and ValidateTemplate's 100 years), without overflowing seconds.
    duration = std::chrono::seconds(std::min<long long>(*request.expiration_seconds, 1LL << 40));
  }
  tmpl.duration = duration;
  if (target.kind == SignerTarget::Kind::kKubernetesClient || target.kind == SignerTarget::Kind::kKubeletServing) {
    // kube-controller-manager's signer copies the subject through Go's pkix.Name, which keeps only
    // these attributes: anything else a CSR carries is not in its certificates, nor in ours.
    signer::DistinguishedName subject;
    for (const auto& [type, value] : tmpl.subject.attributes()) {
      static const std::set<std::string> kCopied = {"C", "ST", "L", "street", "postalCode", "O", "OU", "CN",
                                                    "serialNumber"};
      if (kCopied.count(type)) subject.Add(type, value);
    }
    tmpl.subject = std::move(subject);
  }
  if (auto valid = signer::ValidateTemplate(tmpl); !valid.ok()) return std::move(valid).error().WithContext("spec.request");
  if (parsed != nullptr) *parsed = std::move(*csr);
  return tmpl;
}

}  // namespace csr

namespace {

// Who asked, as the API server recorded it in the CSR's spec (username, groups).
issuance::Requester RequesterOf(const kube::Json& spec) {
  std::vector<std::string> groups;
  for (const auto& g : spec.value("groups", kube::Json::array())) {
    if (g.is_string()) groups.push_back(g.get<std::string>());
  }
  return issuance::Requester::FromUser(api::StringAt(spec, "username"), std::move(groups));
}

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
    refused.requester = RequesterOf(spec);
    refused.name = api::KeyOf(csr);
    refused.object = "CertificateSigningRequest " + api::KeyOf(csr);
    refused.audit_details = {{"signerName", api::StringAt(spec, "signerName")}, {"reason", reason}};
    const bool denial = reason == "PolicyDenied" || reason == "PermissionDenied";
    ctx_.issuance->AuditRefused(refused, denial ? PolicyDenied(message) : InvalidArgument(message));
  }
  return Ok();
}

Result<bool> CsrSigner::MayReference(const kube::Json& csr, const std::string& ns, const std::string& signer_name,
                                     const std::string& wildcard) {
  const kube::Json spec = csr.value("spec", kube::Json::object());
  for (const std::string& name : {signer_name, wildcard}) {
    kube::Json review = {
        {"apiVersion", "authorization.k8s.io/v1"},
        {"kind", "SubjectAccessReview"},
        {"spec",
         {{"user", spec.value("username", "")},
          {"groups", spec.value("groups", kube::Json::array())},
          {"resourceAttributes",
           {{"group", "certwright.dev"}, {"resource", "signers"}, {"verb", "reference"}, {"name", name}}}}},
    };
    // An Issuer's signer is checked in its namespace, so a Role there can grant it (as with
    // cert-manager); a ClusterIssuer's needs a ClusterRole.
    if (!ns.empty()) review["spec"]["resourceAttributes"]["namespace"] = ns;
    if (spec.contains("uid")) review["spec"]["uid"] = spec["uid"];
    if (spec.contains("extra")) review["spec"]["extra"] = spec["extra"];
    auto answer = ctx_.client->Create(kube::resources::kSubjectAccessReviews, "", review);
    if (!answer.ok()) return std::move(answer).error().WithContext("SubjectAccessReview");
    if (answer->value("status", kube::Json::object()).value("allowed", false)) return true;
  }
  return false;
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
  std::string kind, ns = target->ns, issuer_name = target->name, wildcard;
  switch (target->kind) {
    case csr::SignerTarget::Kind::kIssuer: kind = "Issuer"; wildcard = "issuers.certwright.dev/*"; break;
    case csr::SignerTarget::Kind::kClusterIssuer: kind = "ClusterIssuer"; wildcard = "clusterissuers.certwright.dev/*"; break;
    default: {
      const std::string& key = options_.kubernetes_signers_issuer;
      kind = key.rfind("ClusterIssuer/", 0) == 0 ? "ClusterIssuer" : "Issuer";
      const std::string rest = key.substr(key.find('/') + 1);
      if (kind == "Issuer") {
        ns = rest.substr(0, rest.find('/'));
        issuer_name = rest.substr(rest.find('/') + 1);
      } else {
        issuer_name = rest;
      }
    }
  }
  if (issuer_name.empty()) {
    CW_RETURN_IF_ERROR(Fail(csr, "InvalidSignerName",
                            "signerName \"" + signer_name + "\" is not of the form issuers.certwright.dev/<namespace>.<name>"));
    return kube::ReconcileResult::Done();
  }
  const std::string issuer_key = IssuerStore::KeyFor(kind, ns, issuer_name);
  const std::string what = kind + " " + (kind == "Issuer" ? ns + "/" : std::string()) + issuer_name;
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
    CW_ASSIGN_OR_RETURN(bool allowed, MayReference(csr, ns, signer_name, wildcard));
    if (!allowed) {
      CW_RETURN_IF_ERROR(Fail(csr, "PermissionDenied",
                              "user \"" + spec.value("username", "") + "\" may not use " + what +
                                  ": it needs the verb \"reference\" on resource \"signers\" of group certwright.dev "
                                  "for \"" + signer_name + "\""));
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

  csr::Request request;
  request.signer_name = signer_name;
  request.request_pem = Base64Decode(spec.value("request", "")).value_or("");
  for (const auto& u : spec.value("usages", kube::Json::array())) {
    if (u.is_string()) request.usages.push_back(u.get<std::string>());
  }
  if (spec.contains("expirationSeconds") && spec["expirationSeconds"].is_number_integer()) {
    request.expiration_seconds = spec["expirationSeconds"].get<long long>();
  }
  signer::CertificateRequest parsed;
  auto tmpl = csr::Evaluate(*target, request, csr::Limits{}, &parsed);
  if (!tmpl.ok()) {
    const bool policy = tmpl.error().kind() == ErrorKind::kPolicyDenied;
    CW_RETURN_IF_ERROR(Fail(csr, policy ? "PolicyDenied" : "InvalidRequest", tmpl.error().message()));
    return kube::ReconcileResult::Done();
  }

  // Signed through the one door: custody, CertificatePolicy, lifetime limits, signature, audit.
  const bool drop_in = target->kind == csr::SignerTarget::Kind::kKubernetesClient ||
                       target->kind == csr::SignerTarget::Kind::kKubeletServing;
  issuance::IssuanceRequest issue;
  issue.door = drop_in ? issuance::Door::kKubernetesSigner : issuance::Door::kCertificateSigningRequest;
  issue.requester = RequesterOf(spec);
  // The request's namespace ({{namespace}}, namespace selectors) is the requesting ServiceAccount's:
  // a team-b ServiceAccount that team-a let use its Issuer still asks as team-b. Other users' CSRs
  // belong to the Issuer's namespace (none for a ClusterIssuer).
  issue.ns = issue.requester.service_account ? issue.requester.service_account->first : kind == "Issuer" ? ns : "";
  issue.name = name;
  issue.object = "CertificateSigningRequest " + name;
  issue.issuer = issuer;
  issue.tmpl = std::move(*tmpl);
  issue.subject_key = parsed.subject_key;
  issue.audit_details = {{"signerName", signer_name}};
  issue.duration_floor = std::chrono::seconds(600);  // certificates.k8s.io documents 10 minutes
  if (drop_in) issue.default_max_duration = std::chrono::hours(24 * 365);  // kube-controller-manager's default
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
