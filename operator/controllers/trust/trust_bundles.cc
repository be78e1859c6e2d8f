#include <spdlog/spdlog.h>

#include "certwright/controllers/metrics.h"
#include "certwright/controllers/secrets.h"
#include "certwright/controllers/trust.h"
#include "certwright/signer/pem.h"
#include "certwright/signer/trust_store.h"

namespace certwright::controllers {

namespace {

namespace ann = api::annotations;

// What the target informers keep of a ConfigMap or Secret: metadata that says whose it is and
// what it holds, and a SHA-256 per data key instead of the data (10,000 namespaces x a 200 KB
// bundle must not sit in memory).
void KeepTargetSummary(kube::Json& o) {
  kube::Json& meta = o["metadata"];
  kube::Json keep = {{"metadata",
                      {{"name", meta.value("name", "")},
                       {"namespace", meta.value("namespace", "")},
                       {"resourceVersion", meta.value("resourceVersion", "")},
                       {"uid", meta.value("uid", "")}}}};
  if (meta.contains("labels") && meta["labels"].is_object()) {
    keep["metadata"]["labels"][ann::kTrustBundleLabel] = api::StringAt(meta["labels"], ann::kTrustBundleLabel);
  }
  if (meta.contains("annotations") && meta["annotations"].is_object()) {
    keep["metadata"]["annotations"][ann::kTrustBundleHash] = api::StringAt(meta["annotations"], ann::kTrustBundleHash);
  }
  kube::Json digests = kube::Json::object();
  for (const char* field : {"data", "binaryData"}) {
    if (!o.contains(field) || !o[field].is_object()) continue;
    for (const auto& [k, v] : o[field].items()) {
      if (v.is_string()) digests[std::string(field) + "/" + k] = ossl::Sha256Hex(v.get<std::string>());
    }
  }
  keep["digests"] = std::move(digests);
  o = std::move(keep);
}

void KeepNameOnly(kube::Json& o) {
  kube::Json& meta = o["metadata"];
  o = {{"metadata", {{"name", meta.value("name", "")}, {"resourceVersion", meta.value("resourceVersion", "")}}}};
}

std::string LabelOf(const kube::Json& o) {
  const kube::Json& meta = o["metadata"];
  return meta.contains("labels") && meta["labels"].is_object() ? api::StringAt(meta["labels"], ann::kTrustBundleLabel)
                                                               : "";
}

}  // namespace

TrustBundleController::TrustBundleController(ControllerContext ctx, std::shared_ptr<IssuerStore> store,
                                             kube::Informer& namespaces)
    : ctx_(std::move(ctx)), store_(std::move(store)), namespaces_(namespaces) {
  kube::InformerOptions bundle_options;
  bundle_options.transform = DropApplyNoise;
  // Certificates in a bundle expire without an event: look again now and then.
  bundle_options.resync_period = std::chrono::minutes(10);
  bundle_options.label_selector = ctx_.trust_bundle_selector;
  bundles_ = std::make_unique<kube::Informer>(ctx_.client, api::resources::kTrustBundles, "", bundle_options);
  kube::InformerOptions target_options;
  target_options.label_selector = ann::kTrustBundleLabel;
  target_options.transform = KeepTargetSummary;
  // TrustBundles are cluster-scoped and publish to the namespaces they select, whatever
  // --namespace says (which scopes Certificates and Issuers); --trust-bundle-selector says which
  // bundles an installation serves.
  configmaps_ = std::make_unique<kube::Informer>(ctx_.client, kube::resources::kConfigMaps, "", target_options);
  secrets_ = std::make_unique<kube::Informer>(ctx_.client, kube::resources::kSecrets, "", target_options);
  kube::InformerOptions source_options;
  source_options.transform = KeepNameOnly;
  source_configmaps_ = std::make_unique<kube::Informer>(ctx_.client, kube::resources::kConfigMaps,
                                                        ctx_.cluster_resource_namespace, source_options);
  source_secrets_ = std::make_unique<kube::Informer>(ctx_.client, kube::resources::kSecrets,
                                                     ctx_.cluster_resource_namespace, source_options);

  kube::ControllerOptions bundle_worker;
  bundle_worker.workers = 1;
  if (ctx_.metrics) bundle_worker.queue.metrics = ctx_.metrics->WorkQueue("trustbundles");
  bundle_worker_ = std::make_unique<kube::Controller>(
      "trustbundles", [this](const std::string& key) { return ReconcileBundle(key); }, std::move(bundle_worker));
  kube::ControllerOptions target_worker;
  target_worker.workers = 4;
  if (ctx_.metrics) target_worker.queue.metrics = ctx_.metrics->WorkQueue("trustbundletargets");
  target_worker_ = std::make_unique<kube::Controller>(
      "trustbundletargets", [this](const std::string& key) { return ReconcileTarget(key); }, std::move(target_worker));

  auto all_bundles = [this](const std::string&) {
    for (const auto& name : bundles_->Keys()) bundle_worker_->Enqueue(name);
  };
  bundles_->OnChange([this](const std::string& name) { bundle_worker_->Enqueue(name); });
  source_configmaps_->OnChange(all_bundles);
  source_secrets_->OnChange(all_bundles);
  store_->OnChange(all_bundles);
  namespaces_.OnChange([this](const std::string& ns) {
    for (const auto& name : bundles_->Keys()) {
      target_worker_->Enqueue(name + "/" + ns);
      bundle_worker_->Enqueue(name);  // the count of namespaces in status
    }
  });
  // A target edited or deleted by someone: put it back. Targets are named after their bundle.
  auto target_changed = [this](const std::string& key) {
    const size_t slash = key.find('/');
    if (slash != std::string::npos) target_worker_->Enqueue(key.substr(slash + 1) + "/" + key.substr(0, slash));
  };
  configmaps_->OnChange(target_changed);
  secrets_->OnChange(target_changed);
  for (auto* informer : {configmaps_.get(), secrets_.get()}) {
    informer->AddIndex("bundle", [](const kube::Json& o) { return std::vector<std::string>{LabelOf(o)}; });
  }
}

TrustBundleController::~TrustBundleController() { Stop(); }

void TrustBundleController::StartInformers() {
  for (auto* i : {bundles_.get(), configmaps_.get(), secrets_.get(), source_configmaps_.get(),
                  source_secrets_.get()}) {
    i->Start();
  }
}

bool TrustBundleController::WaitForSync(std::chrono::milliseconds timeout) {
  for (auto* i : {bundles_.get(), configmaps_.get(), secrets_.get(), source_configmaps_.get(),
                  source_secrets_.get()}) {
    if (!i->WaitForSync(timeout)) return false;
  }
  return true;
}

void TrustBundleController::StartWorkers() {
  bundle_worker_->Start();
  target_worker_->Start();
}

void TrustBundleController::Stop() {
  bundle_worker_->Stop();
  target_worker_->Stop();
  for (auto* i : {bundles_.get(), configmaps_.get(), secrets_.get(), source_configmaps_.get(),
                  source_secrets_.get()}) {
    i->Stop();
  }
}

void TrustBundleController::EnqueueTargets(const std::string& bundle) {
  for (const auto& ns : namespaces_.Keys()) target_worker_->Enqueue(bundle + "/" + ns);
  for (auto* informer : {configmaps_.get(), secrets_.get()}) {
    for (const auto& o : informer->ByIndex("bundle", bundle)) {
      target_worker_->Enqueue(bundle + "/" + api::StringAt((*o)["metadata"], "namespace"));
    }
  }
}

std::shared_ptr<const TrustBundleController::Rendered> TrustBundleController::RenderedFor(
    const std::string& bundle) const {
  std::lock_guard lock(mutex_);
  auto it = rendered_.find(bundle);
  return it == rendered_.end() ? nullptr : it->second;
}

std::map<std::string, std::string> TrustBundleController::NamespaceLabels(const std::string& ns, bool& exists) const {
  std::map<std::string, std::string> labels;
  auto object = namespaces_.Get(ns);
  exists = object != nullptr;
  if (!exists) return labels;
  const kube::Json& meta = (*object)["metadata"];
  if (meta.contains("labels") && meta["labels"].is_object()) {
    for (const auto& [k, v] : meta["labels"].items()) {
      if (v.is_string()) labels[k] = v.get<std::string>();
    }
  }
  return labels;
}

void TrustBundleController::RecordOnBundle(const std::string& bundle, kube::EventType type, const std::string& reason,
                                           const std::string& message) {
  auto object = bundles_->Get(bundle);
  if (object == nullptr || !ctx_.events) return;
  kube::Json regarding = *object;
  regarding["apiVersion"] = api::resources::kTrustBundles.ApiVersion();
  regarding["kind"] = api::resources::kTrustBundles.kind;
  ctx_.events->Record(regarding, type, reason, "Distribute", message);
}

Result<std::string> TrustBundleController::SourcePem(const api::TrustSource& source) {
  using Type = api::TrustSource::Type;
  const std::string& trust_ns = ctx_.cluster_resource_namespace;
  switch (source.type) {
    case Type::kInLine: return source.pem;
    case Type::kDefaultCAs: return signer::ReadFileBounded(api::kDefaultCaFile, signer::kMaxTrustSourceBytes);
    case Type::kConfigMap: {
      auto cm = ctx_.client->Get(kube::resources::kConfigMaps, trust_ns, source.name);
      if (!cm.ok()) return std::move(cm).error().WithContext("ConfigMap " + trust_ns + "/" + source.name);
      const kube::Json data = (*cm).value("data", kube::Json::object());
      if (!data.contains(source.key) || !data[source.key].is_string()) {
        return NotFound("ConfigMap " + trust_ns + "/" + source.name + " has no key \"" + source.key + "\"");
      }
      return data[source.key].get<std::string>();
    }
    case Type::kSecret: return ReadSecretValue(*ctx_.client, trust_ns, source.name, source.key);
    case Type::kIssuer: {
      const std::string key = source.issuer_kind + "/" +
                              (source.issuer_namespace.empty() ? "" : source.issuer_namespace + "/") +
                              source.issuer_name;
      auto issuer = store_->Get(key);
      if (issuer == nullptr) {
        auto why = store_->NotReadyMessage(key);
        return NotFound(why ? *why : source.Describe(trust_ns) + " does not exist or was not checked yet");
      }
      std::string pem = IssuerTrustPem(*issuer);
      if (pem.empty()) return InvalidArgument(issuer->Describe() + " is selfSigned: it has no CA certificate to trust");
      return pem;
    }
  }
  return Internal("unknown source type");
}

Result<std::shared_ptr<TrustBundleController::Rendered>> TrustBundleController::Render(
    const kube::Json& bundle, const api::TrustBundleSpec& spec, std::vector<std::string>& dropped) {
  signer::TrustSetBuilder builder;
  for (size_t i = 0; i < spec.sources.size(); ++i) {
    const std::string what =
        "spec.sources[" + std::to_string(i) + "] (" + spec.sources[i].Describe(ctx_.cluster_resource_namespace) + ")";
    auto pem = SourcePem(spec.sources[i]);
    if (!pem.ok()) return std::move(pem).error().WithContext(what);
    CW_RETURN_IF_ERROR(builder.AddPem(*pem, what));
  }
  signer::TrustSet set = builder.Build(ctx_.clock->Now());
  dropped = set.dropped;
  if (set.anchors.empty()) return InvalidArgument("no source holds a certificate that is valid now");
  auto out = std::make_shared<Rendered>();
  out->spec = spec;
  out->pem = set.Pem();
  out->certificates = set.anchors.size();
  out->uid = api::StringAt(bundle["metadata"], "uid");
  std::string hash_input = out->pem;
  auto password = [&](const api::TrustFormat& f) -> Result<std::string> {
    if (!f.password) return std::string(api::kDefaultTrustStorePassword);
    return ReadSecretValue(*ctx_.client, ctx_.cluster_resource_namespace, f.password->name, f.password->key);
  };
  if (spec.jks) {
    CW_ASSIGN_OR_RETURN(std::string pass, password(*spec.jks));
    CW_ASSIGN_OR_RETURN(ossl::Bytes jks, signer::EncodeJks(set, pass));
    out->jks_b64 = api::Base64Encode(std::string_view(reinterpret_cast<const char*>(jks.data()), jks.size()));
    hash_input += "\njks " + spec.jks->key + " " + ossl::Sha256Hex(pass);
  }
  if (spec.pkcs12) {
    CW_ASSIGN_OR_RETURN(std::string pass, password(*spec.pkcs12));
    CW_ASSIGN_OR_RETURN(ossl::Bytes p12, signer::EncodePkcs12(set, pass));
    out->pkcs12_b64 = api::Base64Encode(std::string_view(reinterpret_cast<const char*>(p12.data()), p12.size()));
    hash_input += "\npkcs12 " + spec.pkcs12->key + " " + ossl::Sha256Hex(pass);
  }
  hash_input += "\nkeys " + spec.configmap_key.value_or("") + " " + spec.secret_key.value_or("");
  out->hash = ossl::Sha256Hex(hash_input);
  return out;
}

Result<kube::ReconcileResult> TrustBundleController::ReconcileBundle(const std::string& name) {
  auto object = bundles_->Get(name);
  if (object == nullptr) {
    {
      std::lock_guard lock(mutex_);
      rendered_.erase(name);
      conflicts_.erase(name);
    }
    if (ctx_.metrics) ctx_.metrics->EraseTrustBundle(name);
    EnqueueTargets(name);  // each deletes what it wrote (garbage collection would too, via ownerReferences)
    return kube::ReconcileResult::Done();
  }
  const kube::Json& bundle = *object;
  const long long generation = api::GenerationOf(bundle);
  kube::Json status = bundle.value("status", kube::Json::object());
  const kube::Json old_status = status;
  api::Conditions conditions(status);
  const auto previous = conditions.Get("Ready");
  const auto now = ctx_.clock->Now();
  auto write_status = [&]() -> Status {
    status["observedGeneration"] = generation;
    if (status == old_status) return Ok();
    kube::Json updated = bundle;
    updated["status"] = status;
    auto written = ctx_.client->UpdateStatus(api::resources::kTrustBundles, "", updated);
    if (!written.ok()) return std::move(written).error().WithContext("updating status of TrustBundle " + name);
    return Ok();
  };
  auto not_ready = [&](const std::string& reason, const Error& error) -> Status {
    const std::string message = error.message() + "; the targets keep what they hold";
    if (!previous || previous->reason != reason || previous->message != message) {
      RecordOnBundle(name, kube::EventType::kWarning, reason, message);
      spdlog::warn("TrustBundle {}: {}", name, message);
    }
    conditions.Set({"Ready", "False", reason, message}, generation, now);
    return write_status();
  };

  auto spec = api::ParseTrustBundleSpec(bundle.value("spec", kube::Json::object()));
  if (!spec.ok()) {
    CW_RETURN_IF_ERROR(not_ready("InvalidSpec", spec.error()));
    return kube::ReconcileResult::Done();  // waits for an edit
  }
  // Secret targets off (--trust-secret-targets false): the ConfigMaps still go out, and status
  // says why there is no Secret.
  std::string secrets_off;
  if (spec->secret_key && !ctx_.trust_secret_targets) {
    secrets_off = "spec.target.secret is ignored: this installation does not write Secrets (--trust-secret-targets "
                  "false; chart: trust.secretTargets.enabled)";
    spec->secret_key.reset();
    if (!spec->configmap_key) {
      CW_RETURN_IF_ERROR(not_ready("SecretTargetsDisabled", InvalidArgument(secrets_off)));
      return kube::ReconcileResult::Done();
    }
  }
  std::vector<std::string> dropped;
  auto rendered = Render(bundle, *spec, dropped);
  if (!rendered.ok()) {
    CW_RETURN_IF_ERROR(not_ready("SourceError", rendered.error()));
    // A missing source is retried (and enqueued when it appears); a malformed one too, as the
    // object that holds it may change without an event here (an issuer's CA).
    return kube::ReconcileResult::RequeueAfter(std::chrono::seconds(30));
  }
  std::shared_ptr<const Rendered> before = RenderedFor(name);
  const bool changed = before == nullptr || before->hash != (*rendered)->hash;
  std::string conflict;
  {
    std::lock_guard lock(mutex_);
    rendered_[name] = *rendered;
    auto c = conflicts_.find(name);
    if (c != conflicts_.end()) conflict = c->second;
  }
  if (changed && !dropped.empty()) {
    std::string message = "left out " + std::to_string(dropped.size()) + " certificate(s) not valid now:";
    for (const auto& d : dropped) message += " " + d + ";";
    message.pop_back();
    RecordOnBundle(name, kube::EventType::kWarning, "CertificatesDropped", message);
  }
  // Every target looks again (cheap when nothing differs: the cache has each target's hash).
  EnqueueTargets(name);

  size_t selected = 0;
  for (const auto& ns : namespaces_.Keys()) {
    bool exists = false;
    auto labels = NamespaceLabels(ns, exists);
    if (exists && (*rendered)->spec.Selects(ns, labels)) ++selected;
  }
  const std::string last_hash = status.value("bundleHash", "");
  if (last_hash != (*rendered)->hash) {
    status["lastUpdateTime"] = api::FormatTime(now);
    if (!last_hash.empty()) {
      RecordOnBundle(name, kube::EventType::kNormal, "Updated",
                     "the bundle now holds " + std::to_string((*rendered)->certificates) + " certificate(s)");
    }
  }
  status["bundleHash"] = (*rendered)->hash;
  status["certificates"] = (*rendered)->certificates;
  status["namespaces"] = selected;
  if (dropped.empty()) {
    status.erase("droppedCertificates");
  } else {
    status["droppedCertificates"] = dropped;
  }
  if (!secrets_off.empty()) {
    conditions.Set({"Ready", "False", "SecretTargetsDisabled", secrets_off}, generation, now);
  } else if (!conflict.empty()) {
    conditions.Set({"Ready", "False", "TargetConflict",
                    conflict + " exists and is not this TrustBundle's (no label " + ann::kTrustBundleLabel + "=" + name +
                        "); it was left alone. Delete or rename it, or rename the TrustBundle"},
                   generation, now);
  } else {
    conditions.Set({"Ready", "True", "Synced",
                    std::to_string((*rendered)->certificates) + " certificate(s) published to " +
                        std::to_string(selected) + " namespace(s)"},
                   generation, now);
  }
  if (ctx_.metrics) {
    double updated = 0;
    if (auto t = api::ParseTime(status.value("lastUpdateTime", "")); t.ok()) {
      updated = std::chrono::duration<double>(t->time_since_epoch()).count();
    }
    ctx_.metrics->SetTrustBundle(name, (*rendered)->certificates, (*rendered)->pem.size(), updated);
  }
  CW_RETURN_IF_ERROR(write_status());
  // Expiry of the earliest certificate changes the content without any event.
  return kube::ReconcileResult::RequeueAfter(std::chrono::minutes(10));
}

Result<kube::ReconcileResult> TrustBundleController::ReconcileTarget(const std::string& key) {
  const size_t slash = key.find('/');
  if (slash == std::string::npos) return kube::ReconcileResult::Done();
  const std::string bundle = key.substr(0, slash), ns = key.substr(slash + 1);
  auto object = bundles_->Get(bundle);
  std::shared_ptr<const Rendered> rendered = RenderedFor(bundle);
  if (object != nullptr && rendered == nullptr) return kube::ReconcileResult::Done();  // not rendered (yet): keep
  if (object != nullptr && rendered->uid != api::StringAt((*object)["metadata"], "uid")) {
    return kube::ReconcileResult::Done();  // a bundle re-created under the same name: wait for its render
  }
  if (object == nullptr && !ctx_.trust_bundle_selector.empty()) {
    // Not in the cache: deleted, or another installation's (--trust-bundle-selector). Only a
    // bundle that is gone has its targets removed here; another's are its controller's. (Without
    // a selector the cache has every bundle: absent is deleted.)
    auto live = ctx_.client->Get(api::resources::kTrustBundles, "", bundle);
    if (live.ok()) return kube::ReconcileResult::Done();
    if (live.error().kind() != ErrorKind::kNotFound) {
      return std::move(live).error().WithContext("reading TrustBundle " + bundle);
    }
  }
  bool exists = false;
  auto labels = NamespaceLabels(ns, exists);
  const bool selected = object != nullptr && exists && rendered->spec.Selects(ns, labels);
  // Each kind on its own: a ConfigMap that cannot be written does not hold the Secret back.
  Status configmap = SyncTarget(bundle, ns, rendered.get(), selected && rendered->spec.configmap_key.has_value(), false);
  Status secret = ctx_.trust_secret_targets
                      ? SyncTarget(bundle, ns, rendered.get(), selected && rendered->spec.secret_key.has_value(), true)
                      : Ok();
  CW_RETURN_IF_ERROR(configmap);
  CW_RETURN_IF_ERROR(secret);
  {
    // Someone else's object is in the way: look again now and then (its deletion is not seen
    // by the informers, which watch only labelled targets).
    std::lock_guard lock(mutex_);
    auto c = conflicts_.find(bundle);
    if (c != conflicts_.end() && c->second.find(" " + ns + "/") != std::string::npos) {
      return kube::ReconcileResult::RequeueAfter(std::chrono::seconds(15));
    }
  }
  return kube::ReconcileResult::Done();
}

void TrustBundleController::ClearConflict(const std::string& bundle, const std::string& where) {
  bool cleared = false;
  {
    std::lock_guard lock(mutex_);
    auto it = conflicts_.find(bundle);
    if (it != conflicts_.end() && it->second == where) {
      conflicts_.erase(it);
      cleared = true;
    }
  }
  if (cleared) bundle_worker_->Enqueue(bundle);
}

Status TrustBundleController::SyncTarget(const std::string& bundle, const std::string& ns, const Rendered* rendered,
                                         bool wanted, bool is_secret) {
  const kube::Resource& resource = is_secret ? kube::resources::kSecrets : kube::resources::kConfigMaps;
  kube::Informer& informer = is_secret ? *secrets_ : *configmaps_;
  const std::string where = resource.kind + " " + ns + "/" + bundle;
  auto cached = informer.Get(ns + "/" + bundle);
  const bool ours = cached != nullptr && LabelOf(*cached) == bundle;
  if (!wanted) {
    ClearConflict(bundle, where);
    if (!ours) return Ok();
    auto deleted = ctx_.client->Delete(resource, ns, bundle);
    if (!deleted.ok() && deleted.error().kind() != ErrorKind::kNotFound) {
      return std::move(deleted).error().WithContext("deleting " + where);
    }
    if (ctx_.metrics) ctx_.metrics->TrustBundleTargetWrite(bundle, resource.kind, "delete");
    spdlog::info("TrustBundle {}: deleted {} (no longer selected)", bundle, where);
    return Ok();
  }

  // The data as it should be, and the digest of each deterministic value (PKCS#12 is salted:
  // its presence is checked, and the hash annotation says whether it is current).
  kube::Json data = kube::Json::object(), binary = kube::Json::object();
  const std::string pem_key = is_secret ? *rendered->spec.secret_key : *rendered->spec.configmap_key;
  data[pem_key] = is_secret ? api::Base64Encode(rendered->pem) : rendered->pem;
  kube::Json& formats = is_secret ? data : binary;
  if (rendered->spec.jks) formats[rendered->spec.jks->key] = rendered->jks_b64;
  if (rendered->spec.pkcs12) formats[rendered->spec.pkcs12->key] = rendered->pkcs12_b64;
  if (ours) {
    const kube::Json& digests = cached->value("digests", kube::Json::object());
    bool same = api::StringAt((*cached)["metadata"]["annotations"], ann::kTrustBundleHash) == rendered->hash;
    size_t expected_keys = 0;
    for (const auto& [field, values] : {std::pair{"data", &data}, std::pair{"binaryData", &binary}}) {
      for (const auto& [k, v] : values->items()) {
        ++expected_keys;
        const std::string at = std::string(field) + "/" + k;
        const bool salted = rendered->spec.pkcs12 && k == rendered->spec.pkcs12->key;
        if (!digests.contains(at) || (!salted && digests[at] != ossl::Sha256Hex(v.get<std::string>()))) same = false;
      }
    }
    if (same && digests.size() == expected_keys) return Ok();
  }
  kube::Json target = {{"apiVersion", "v1"},
                       {"kind", resource.kind},
                       {"metadata",
                        {{"name", bundle},
                         {"namespace", ns},
                         {"labels", {{ann::kTrustBundleLabel, bundle}}},
                         {"annotations", {{ann::kTrustBundleHash, rendered->hash}}},
                         {"ownerReferences",
                          kube::Json::array({{{"apiVersion", api::resources::kTrustBundles.ApiVersion()},
                                              {"kind", api::resources::kTrustBundles.kind},
                                              {"name", bundle},
                                              {"uid", rendered->uid},
                                              {"controller", true},
                                              {"blockOwnerDeletion", false}}})}}}};
  target["data"] = data;
  if (is_secret) {
    target["type"] = "Opaque";
  } else if (!binary.empty()) {
    target["binaryData"] = binary;
  }
  if (ours) {
    target["metadata"]["resourceVersion"] = api::StringAt((*cached)["metadata"], "resourceVersion");
    auto updated = ctx_.client->Update(resource, ns, target);
    if (!updated.ok()) return std::move(updated).error().WithContext("updating " + where);
    if (ctx_.metrics) ctx_.metrics->TrustBundleTargetWrite(bundle, resource.kind, "update");
    return Ok();
  }
  auto created = ctx_.client->Create(resource, ns, target);
  if (created.ok()) {
    if (ctx_.metrics) ctx_.metrics->TrustBundleTargetWrite(bundle, resource.kind, "create");
    ClearConflict(bundle, where);
    return Ok();
  }
  if (created.error().kind() == ErrorKind::kNotFound) return Ok();  // the namespace is being deleted
  if (created.error().kind() != ErrorKind::kAlreadyExists && created.error().kind() != ErrorKind::kConflict) {
    return std::move(created).error().WithContext("creating " + where);
  }
  // AlreadyExists. Ours but not cached yet: the informer will bring it and its change enqueues
  // this key again. Someone else's: never overwritten.
  auto existing = ctx_.client->Get(resource, ns, bundle);
  if (!existing.ok()) return std::move(existing).error().WithContext("reading " + where);
  if (LabelOf(*existing) == bundle) return Conflict(where + " is not in the cache yet; retried");
  bool first = false;
  {
    std::lock_guard lock(mutex_);
    first = conflicts_[bundle] != where;
    conflicts_[bundle] = where;
  }
  if (first) {
    RecordOnBundle(bundle, kube::EventType::kWarning, "TargetConflict",
                   where + " exists and is not this TrustBundle's; it was left alone");
    bundle_worker_->Enqueue(bundle);
  }
  return Ok();
}

}  // namespace certwright::controllers
