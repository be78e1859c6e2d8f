#include "certwright/issuance/service.h"

#include <spdlog/spdlog.h>

#include "certwright/api/meta.h"
#include "certwright/signer/duration.h"

namespace certwright::issuance {

namespace pol = signer::policy;

Requester Requester::FromUser(std::string user, std::vector<std::string> groups) {
  Requester r;
  constexpr std::string_view kPrefix = "system:serviceaccount:";
  if (user.rfind(kPrefix, 0) == 0) {
    const std::string rest = user.substr(kPrefix.size());
    const auto colon = rest.find(':');
    if (colon != std::string::npos && colon > 0 && colon + 1 < rest.size()) {
      r.service_account = std::make_pair(rest.substr(0, colon), rest.substr(colon + 1));
    }
  }
  r.user = std::move(user);
  r.groups = std::move(groups);
  return r;
}

namespace {

void DefaultAudit(const kube::Json& record) {
  // replace: a name that is not UTF-8 must not make the audit line throw (or vanish).
  spdlog::info("audit {}", record.dump(-1, ' ', false, kube::Json::error_handler_t::replace));
}

kube::Json Names(const std::vector<std::string>& names) { return kube::Json(names); }

}  // namespace

IssuanceService::IssuanceService(Options options) : options_(std::move(options)) {
  if (!options_.audit) options_.audit = DefaultAudit;
  if (options_.clock == nullptr) options_.clock = &SystemClock::Instance();
  policies_ = std::make_shared<const pol::PolicySet>();
}

void IssuanceService::SetPolicies(std::shared_ptr<const pol::PolicySet> policies) {
  std::unique_lock lock(mutex_);
  policies_ = policies ? std::move(policies) : std::make_shared<const pol::PolicySet>();
}

void IssuanceService::SetNamespaceLabels(NamespaceLabels labels) {
  std::unique_lock lock(mutex_);
  namespace_labels_ = std::move(labels);
}

std::shared_ptr<const pol::PolicySet> IssuanceService::policies() const {
  std::shared_lock lock(mutex_);
  return policies_;
}

Result<signer::CertificateTemplate> IssuanceService::Decide(const IssuanceRequest& request,
                                                            pol::PolicyDecision* decision_out) const {
  if (!request.issuer) return Internal("issuance request without an issuer");
  const IssuerHandle& issuer = *request.issuer;
  const std::string who = issuer.Describe();

  // 1. Custody. The drop-in's CA is one the API server trusts for client certificates: through
  // any other door a namespace user could ask it for O=system:masters.
  if (!options_.custody.kubernetes_signers_issuer.empty() && issuer.Key() == options_.custody.kubernetes_signers_issuer &&
      request.door != Door::kKubernetesSigner) {
    return PolicyDenied(who +
                        " is the controller's --kubernetes-signers-issuer: it signs only kubernetes.io/"
                        "kube-apiserver-client and kubernetes.io/kubelet-serving CertificateSigningRequests, under "
                        "kube-controller-manager's rules, not " +
                        std::string(pol::DoorName(request.door)) + " requests");
  }
  CW_RETURN_IF_ERROR(CheckCustody(issuer.kind, issuer.spec, options_.custody));
  // By the spec's type, not by the CA: the webhook decides with a handle built from the stored
  // issuer alone, without its CA (a Certificate's own key, which signs a selfSigned certificate,
  // does not exist yet at admission either).
  if (issuer.spec.type == api::IssuerSpec::Type::kSelfSigned && request.door != Door::kCertificate) {
    return PolicyDenied(who + " is selfSigned: it has no CA key to sign requests with");
  }

  // 3a. Lifetime as the door and the issuer limit it, before policy sees it.
  signer::CertificateTemplate tmpl = request.tmpl;
  if (request.duration_floor && tmpl.duration < *request.duration_floor) tmpl.duration = *request.duration_floor;
  if (issuer.spec.min_duration && tmpl.duration < *issuer.spec.min_duration) {
    return PolicyDenied("the requested duration " + FormatDuration(tmpl.duration) + " is shorter than the minDuration " +
                        FormatDuration(*issuer.spec.min_duration) + " of " + who);
  }
  const auto issuer_max = issuer.spec.max_duration ? issuer.spec.max_duration : request.default_max_duration;
  if (issuer_max && tmpl.duration > *issuer_max) tmpl.duration = *issuer_max;

  // 2. Policy.
  std::shared_ptr<const pol::PolicySet> policies;
  NamespaceLabels labels;
  {
    std::shared_lock lock(mutex_);
    policies = policies_;
    labels = namespace_labels_;
  }
  pol::PolicyRequest pr;
  pr.door = request.door;
  pr.ns = request.ns;
  if (labels && !request.ns.empty()) {
    auto known = labels(request.ns);
    if (!known) {
      return Unavailable("namespace " + request.ns + " is not in the controller's cache yet (its labels decide which "
                         "CertificatePolicies apply); retrying");
    }
    pr.namespace_labels = std::move(*known);
  }
  pr.name = request.name;
  pr.issuer_kind = issuer.kind;
  pr.issuer_name = issuer.name;
  pr.user = request.requester.user;
  pr.groups = request.requester.groups;
  pr.service_account = request.requester.service_account;
  pr.tmpl = &tmpl;
  pr.key = request.subject_key.spec;
  pol::PolicyDecision decision = policies->Evaluate(pr, issuer.spec.policy_required);
  if (decision_out) *decision_out = decision;
  if (!decision.allowed) return PolicyDenied(decision.message);

  // 3b. The allowing policy's limits, then the CA's own end (cert-manager truncates the same way).
  if (decision.max_duration && tmpl.duration > *decision.max_duration) tmpl.duration = *decision.max_duration;
  if (tmpl.is_ca && decision.max_path_length &&
      (!tmpl.max_path_length || *tmpl.max_path_length > *decision.max_path_length)) {
    tmpl.max_path_length = decision.max_path_length;
  }
  // The CA's end, when the handle has the CA (the controller's always does; the webhook's never).
  if (issuer.ca) {
    const auto left = std::chrono::duration_cast<std::chrono::seconds>(issuer.ca->not_after() - options_.clock->Now());
    if (left <= std::chrono::seconds(0)) return Unavailable("the CA certificate of " + who + " has expired");
    if (tmpl.duration > left) tmpl.duration = left;
  }
  return tmpl;
}

Result<Issuance> IssuanceService::Issue(const IssuanceRequest& request) const {
  pol::PolicyDecision decision;
  decision.allowed = false;
  auto tmpl = Decide(request, &decision);
  if (!tmpl.ok()) {
    Audit(request, request.tmpl, &decision, nullptr, &tmpl.error());
    return std::move(tmpl).error();
  }
  // Decide judged the request; signing needs the key too: the CA's, or the subject's own for a
  // selfSigned issuer. A handle without either (the webhook's) decides but never signs.
  if (!request.issuer->ca && !request.self_key) {
    Error e = Internal(request.issuer->Describe() + " has no CA key loaded to sign with");
    Audit(request, *tmpl, &decision, nullptr, &e);
    return e;
  }
  signer::IssuanceOptions options;
  options.clock = options_.clock;
  Result<signer::IssuedCertificate> issued =
      request.issuer->ca ? request.issuer->ca->Issue(*tmpl, request.subject_key)
                         : signer::SelfSign(*request.self_key, *tmpl, options);
  if (!issued.ok()) {
    Error e = std::move(issued).error().WithContext("signing with " + request.issuer->Describe());
    Audit(request, *tmpl, &decision, nullptr, &e);
    if (request.issuer->kind == "ClusterIssuer") {
      // What the backend says (key ARNs, accounts, endpoints, token and key names) is the cluster
      // admin's business: the log and the audit record have it; the namespace gets its kind.
      spdlog::warn("{} for {}: {}", request.issuer->Describe(), request.object, e.message());
      return Error(e.kind(), "signing with " + request.issuer->Describe() + " failed (" + ErrorKindName(e.kind()) +
                                 "); a cluster admin finds the cause in the controller's log");
    }
    return e;
  }
  Audit(request, *tmpl, &decision, &*issued, nullptr);
  return Issuance{std::move(*issued), std::move(decision)};
}

void IssuanceService::AuditRefused(const IssuanceRequest& request, const Error& error) const {
  Audit(request, request.tmpl, nullptr, nullptr, &error);
}

namespace {

IssuanceRequest BootstrapRequest(const IssuerHandle& issuer, const signer::CertificateTemplate& tmpl,
                                 const std::string& what) {
  IssuanceRequest r;
  r.door = Door::kIssuerBootstrap;
  r.ns = issuer.ns;
  r.name = issuer.name;
  r.object = issuer.Describe();
  r.tmpl = tmpl;
  r.audit_details = {{"bootstrap", what}};
  return r;
}

}  // namespace

Result<signer::IssuedCertificate> IssuanceService::SelfSignRoot(const IssuerHandle& issuer, signer::SigningKey& key,
                                                                const signer::CertificateTemplate& tmpl) const {
  IssuanceRequest r = BootstrapRequest(issuer, tmpl, "SelfSigned");
  r.audit_details["key"] = key.uri();
  if (auto custody = CheckCustody(issuer.kind, issuer.spec, options_.custody); !custody.ok()) {
    Audit(r, tmpl, nullptr, nullptr, &custody.error());
    return std::move(custody).error();
  }
  signer::IssuanceOptions options;
  options.clock = options_.clock;
  auto root = signer::SelfSign(key, tmpl, options);
  if (!root.ok()) {
    Audit(r, tmpl, nullptr, nullptr, &root.error());
    return root;
  }
  Audit(r, tmpl, nullptr, &*root, nullptr);
  return root;
}

Result<std::string> IssuanceService::SignCaRequest(const IssuerHandle& issuer, signer::SigningKey& key,
                                                   const signer::CertificateTemplate& tmpl) const {
  IssuanceRequest r = BootstrapRequest(issuer, tmpl, "CSR");
  r.audit_details["key"] = key.uri();
  if (auto custody = CheckCustody(issuer.kind, issuer.spec, options_.custody); !custody.ok()) {
    Audit(r, tmpl, nullptr, nullptr, &custody.error());
    return std::move(custody).error();
  }
  auto csr = signer::CreateCsrPem(key, tmpl);
  if (!csr.ok()) {
    Audit(r, tmpl, nullptr, nullptr, &csr.error());
    return csr;
  }
  // A request, not a certificate: no serial or validity to record ("decision": "signed").
  Audit(r, tmpl, nullptr, nullptr, nullptr);
  return csr;
}

void IssuanceService::Audit(const IssuanceRequest& request, const signer::CertificateTemplate& tmpl,
                            const pol::PolicyDecision* decision, const signer::IssuedCertificate* issued,
                            const Error* error) const {
  kube::Json record = {
      {"door", std::string(pol::DoorName(request.door))},
      {"object", request.object},
      {"namespace", request.ns},
  };
  kube::Json requester = kube::Json::object();
  if (!request.requester.user.empty()) requester["user"] = request.requester.user;
  if (!request.requester.groups.empty()) requester["groups"] = Names(request.requester.groups);
  if (request.requester.service_account) {
    requester["serviceAccount"] = request.requester.service_account->first + "/" + request.requester.service_account->second;
  }
  if (requester.empty()) requester["namespace"] = request.ns;
  record["requester"] = std::move(requester);
  if (request.issuer) {
    const IssuerHandle& issuer = *request.issuer;
    record["issuer"] = {{"kind", issuer.kind}, {"name", issuer.name}};
    if (!issuer.ns.empty()) record["issuer"]["namespace"] = issuer.ns;
    record["backend"] = issuer.backend;
    // SigningKey::uri() is the redacted form: no PIN, no credentials.
    if (issuer.ca) record["key"] = issuer.ca->key().uri();
  }
  record["subject"] = tmpl.subject.ToString();
  record["dnsNames"] = Names(tmpl.dns_names);
  record["ipAddresses"] = Names(tmpl.ip_addresses);
  record["uris"] = Names(tmpl.uris);
  record["emailAddresses"] = Names(tmpl.email_addresses);
  record["isCA"] = tmpl.is_ca;
  if (!request.audit_details.empty()) record["details"] = request.audit_details;
  kube::Json policy = kube::Json::object();
  if (decision) {
    if (!decision->policy.empty()) policy["policy"] = decision->policy;
    if (!decision->rule.empty()) policy["rule"] = decision->rule;
    policy["selected"] = Names(decision->selected);
  }
  if (issued) {
    record["decision"] = "issued";
    record["serial"] = issued->serial_hex;
    record["notBefore"] = api::FormatTime(issued->not_before);
    record["notAfter"] = api::FormatTime(issued->not_after);
  } else if (error && error->kind() == ErrorKind::kPolicyDenied) {
    record["decision"] = "denied";
    record["message"] = error->message();
  } else if (error) {
    record["decision"] = "failed";
    record["message"] = error->message();
  } else {
    record["decision"] = "signed";  // a PKCS#10 request (an issuer's bootstrap CSR)
  }
  record["policy"] = std::move(policy);
  options_.audit({{"audit", std::move(record)}});
}

}  // namespace certwright::issuance
