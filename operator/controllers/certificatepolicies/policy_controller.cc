#include <spdlog/spdlog.h>

#include "certwright/api/policy.h"
#include "certwright/controllers/certificatepolicies.h"
#include "certwright/controllers/metrics.h"
#include "certwright/controllers/secrets.h"

namespace certwright::controllers {

namespace pol = signer::policy;

CertificatePolicyController::CertificatePolicyController(ControllerContext ctx,
                                                         std::shared_ptr<issuance::IssuanceService> service,
                                                         bool write_status)
    : ctx_(std::move(ctx)), service_(std::move(service)) {
  kube::InformerOptions options;
  options.transform = DropApplyNoise;
  policies_ = std::make_unique<kube::Informer>(ctx_.client, api::resources::kCertificatePolicies, "", options);
  // Namespaces: only their labels matter (namespace selectors).
  kube::InformerOptions ns_options;
  ns_options.transform = KeepOnlyNamespaceLabels;
  namespaces_ = std::make_unique<kube::Informer>(ctx_.client, kube::resources::kNamespaces, "", ns_options);
  service_->SetNamespaceLabels([informer = namespaces_.get()](const std::string& ns)
                                   -> std::optional<std::map<std::string, std::string>> {
    std::map<std::string, std::string> labels;
    auto object = informer->Get(ns);
    if (object == nullptr) return std::nullopt;
    const kube::Json& meta = (*object)["metadata"];
    if (!meta.contains("labels") || !meta["labels"].is_object()) return labels;
    for (const auto& [k, v] : meta["labels"].items()) {
      if (v.is_string()) labels[k] = v.get<std::string>();
    }
    return labels;
  });

  kube::ControllerOptions worker_options;
  worker_options.workers = 1;  // one at a time: each reconcile republishes the whole set
  if (ctx_.metrics) worker_options.queue.metrics = ctx_.metrics->WorkQueue("certificatepolicies");
  worker_ = std::make_unique<kube::Controller>(
      "certificatepolicies", [this](const std::string& key) { return Reconcile(key); }, std::move(worker_options));
  if (write_status) {
    policies_->OnChange([this](const std::string& key) { worker_->Enqueue(key); });
  } else {
    policies_->OnChange([this](const std::string&) { Publish(); });
  }
}

CertificatePolicyController::~CertificatePolicyController() { Stop(); }

void CertificatePolicyController::StartInformers() {
  policies_->Start();
  namespaces_->Start();
}

bool CertificatePolicyController::WaitForSync(std::chrono::milliseconds timeout) {
  return policies_->WaitForSync(timeout) && namespaces_->WaitForSync(timeout);
}

void CertificatePolicyController::StartWorkers() { worker_->Start(); }

void CertificatePolicyController::Stop() {
  worker_->Stop();
  policies_->Stop();
  namespaces_->Stop();
}

CertificatePolicyController::Compiled CertificatePolicyController::CompileLocked(const kube::Json& object) {
  const std::string name = api::StringAt(object["metadata"], "name");
  const std::string rv = api::StringAt(object["metadata"], "resourceVersion");
  auto it = compiled_.find(name);
  if (it != compiled_.end() && it->second.resource_version == rv && !rv.empty()) return it->second;
  Compiled c;
  c.resource_version = rv;
  auto spec = api::ParsePolicySpec(object.value("spec", kube::Json::object()));
  if (!spec.ok()) {
    c.error = spec.error().message();
    // The selector alone, so an invalid policy denies only what it was meant to select.
    kube::Json selector_only = {{"selector", object.value("spec", kube::Json::object()).value("selector", kube::Json::object())}};
    if (auto s = api::ParsePolicySpec(selector_only); s.ok()) c.selector = s->selector;
  } else if (auto compiled = pol::Compile(name, *spec); !compiled.ok()) {
    c.error = compiled.error().message();
    c.selector = spec->selector;
  } else {
    c.policy = *compiled;
  }
  compiled_[name] = c;
  return c;
}

void CertificatePolicyController::Publish() {
  auto set = std::make_shared<pol::PolicySet>();
  std::lock_guard lock(mutex_);
  std::map<std::string, Compiled> live;
  for (const auto& key : policies_->Keys()) {
    auto object = policies_->Get(key);
    if (object == nullptr) continue;
    Compiled c = CompileLocked(*object);
    if (c.policy) {
      set->Add(c.policy);
    } else {
      set->AddInvalid(key, c.selector, c.error);
    }
    live[key] = std::move(c);
  }
  compiled_ = std::move(live);
  const size_t count = set->size();
  service_->SetPolicies(std::move(set));
  spdlog::debug("CertificatePolicies in force: {}", count);
}

Result<kube::ReconcileResult> CertificatePolicyController::Reconcile(const std::string& name) {
  Publish();
  auto object = policies_->Get(name);
  if (object == nullptr) return kube::ReconcileResult::Done();
  Compiled c;
  {
    std::lock_guard lock(mutex_);
    c = CompileLocked(*object);
  }
  kube::Json status = object->value("status", kube::Json::object());
  const kube::Json old_status = status;
  api::Conditions conditions(status);
  const long long generation = api::GenerationOf(*object);
  const auto previous = conditions.Get("Ready");
  if (c.policy) {
    conditions.Set({"Ready", "True", "Valid", "The policy is in force"}, generation, ctx_.clock->Now());
  } else {
    conditions.Set({"Ready", "False", "Invalid", "The policy is invalid and denies every request it selects: " + c.error},
                   generation, ctx_.clock->Now());
  }
  status["observedGeneration"] = generation;
  const bool became = !previous || previous->reason != (c.policy ? "Valid" : "Invalid");
  if (became && ctx_.events) {
    ctx_.events->Record(*object, c.policy ? kube::EventType::kNormal : kube::EventType::kWarning,
                        c.policy ? "Valid" : "Invalid", "Compile", c.policy ? "The policy is in force" : c.error);
  }
  if (status != old_status) {
    kube::Json updated = *object;
    updated["status"] = status;
    auto written = ctx_.client->UpdateStatus(api::resources::kCertificatePolicies, "", updated);
    if (!written.ok()) return std::move(written).error().WithContext("updating status of CertificatePolicy " + name);
  }
  return kube::ReconcileResult::Done();
}

}  // namespace certwright::controllers
