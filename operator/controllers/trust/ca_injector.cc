#include <spdlog/spdlog.h>

#include "certwright/api/certificate.h"
#include "certwright/controllers/metrics.h"
#include "certwright/controllers/secrets.h"
#include "certwright/controllers/trust.h"
#include "certwright/kube/ca_bundle.h"
#include "certwright/signer/trust_store.h"

namespace certwright::controllers {

namespace {

const std::vector<std::string> kInjectAnnotations = {api::annotations::kInjectCaFrom,
                                                     api::annotations::kInjectCaFromIssuer};

std::string AnnotationOf(const kube::Json& object, const char* name) {
  const kube::Json& meta = object.value("metadata", kube::Json::object());
  if (!meta.contains("annotations") || !meta["annotations"].is_object()) return "";
  return api::StringAt(meta["annotations"], name);
}

// Index values: "certificate:<ns>/<name>", "certns:<ns>", "issuer:<store key>". A malformed
// annotation indexes nothing (the reconcile reports it).
std::vector<std::string> SourcesOf(const kube::Json& object) {
  std::vector<std::string> out;
  if (auto ref = api::ParseInjectCaFrom(AnnotationOf(object, api::annotations::kInjectCaFrom)); ref.ok()) {
    out.push_back("certificate:" + ref->ns + "/" + ref->name);
    out.push_back("certns:" + ref->ns);
  }
  if (auto key = api::ParseInjectCaFromIssuer(AnnotationOf(object, api::annotations::kInjectCaFromIssuer)); key.ok()) {
    out.push_back("issuer:" + *key);
  }
  return out;
}

}  // namespace

std::string IssuerTrustPem(const IssuerHandle& issuer) {
  if (!issuer.ca || issuer.ca->chain().empty()) return "";
  auto pem = ossl::CertificateToPem(issuer.ca->chain().back().get());
  return pem.ok() ? *pem : "";
}

CaInjector::CaInjector(ControllerContext ctx, std::shared_ptr<IssuerStore> store, kube::Informer& secrets)
    : ctx_(std::move(ctx)), store_(std::move(store)), secrets_(secrets) {
  kube::ControllerOptions options;
  options.workers = 2;
  if (ctx_.metrics) options.queue.metrics = ctx_.metrics->WorkQueue("cainjector");
  worker_ = std::make_unique<kube::Controller>(
      "cainjector", [this](const std::string& key) { return Reconcile(key); }, std::move(options));
  for (const kube::Resource* r :
       {&kube::resources::kValidatingWebhookConfigurations, &kube::resources::kMutatingWebhookConfigurations,
        &kube::resources::kCustomResourceDefinitions, &kube::resources::kApiServices}) {
    kube::InformerOptions informer_options;
    informer_options.transform = [resource = *r](kube::Json& o) {
      kube::KeepOnlyCaBundleFields(resource, o, kInjectAnnotations);
    };
    // Now and then every object again: a source that changed without an event we watch (a
    // Certificate's secretName) is caught up.
    informer_options.resync_period = std::chrono::minutes(10);
    auto informer = std::make_unique<kube::Informer>(ctx_.client, *r, "", informer_options);
    informer->AddIndex("source", SourcesOf);
    informer->OnChange([this, plural = r->plural](const std::string& name) { worker_->Enqueue(plural + "/" + name); });
    targets_.push_back({*r, std::move(informer)});
  }
  // A Certificate's Secret changed (a new CA after re-issuance): the objects injected from it.
  secrets_.OnChange([this](const std::string& key) {
    const size_t slash = key.find('/');
    if (slash == std::string::npos) return;
    const std::string ns = key.substr(0, slash);
    bool wanted = false;
    for (auto& t : targets_) wanted = wanted || !t.informer->ByIndex("source", "certns:" + ns).empty();
    if (!wanted) return;
    auto secret = Unpack(secrets_.Get(key));
    if (secret == nullptr) return;
    const std::string certificate = AnnotationOf(*secret, api::annotations::kCertificateName);
    if (!certificate.empty()) EnqueueSource("certificate:" + ns + "/" + certificate);
  });
  store_->OnChange([this](const std::string& store_key) { EnqueueSource("issuer:" + store_key); });
}

CaInjector::~CaInjector() { Stop(); }

void CaInjector::StartInformers() {
  for (auto& t : targets_) t.informer->Start();
}

bool CaInjector::WaitForSync(std::chrono::milliseconds timeout) {
  for (auto& t : targets_) {
    if (!t.informer->WaitForSync(timeout)) return false;
  }
  return true;
}

void CaInjector::StartWorkers() { worker_->Start(); }

void CaInjector::Stop() {
  worker_->Stop();
  for (auto& t : targets_) t.informer->Stop();
}

CaInjector::Target* CaInjector::TargetFor(const std::string& plural) {
  for (auto& t : targets_) {
    if (t.resource.plural == plural) return &t;
  }
  return nullptr;
}

void CaInjector::EnqueueSource(const std::string& source) {
  for (auto& t : targets_) {
    if (!t.informer->HasSynced()) continue;
    for (const auto& o : t.informer->ByIndex("source", source)) {
      worker_->Enqueue(t.resource.plural + "/" + api::StringAt((*o)["metadata"], "name"));
    }
  }
}

Result<std::string> CaInjector::BundleFor(const kube::Json& object) {
  const std::string from = AnnotationOf(object, api::annotations::kInjectCaFrom);
  const std::string from_issuer = AnnotationOf(object, api::annotations::kInjectCaFromIssuer);
  if (!from.empty() && !from_issuer.empty()) {
    return InvalidArgument(std::string("set one of ") + api::annotations::kInjectCaFrom + " and " +
                           api::annotations::kInjectCaFromIssuer + ", not both");
  }
  std::string pem;
  if (!from.empty()) {
    CW_ASSIGN_OR_RETURN(api::ObjectRef ref, api::ParseInjectCaFrom(from));
    auto certificate = ctx_.client->Get(api::resources::kCertificates, ref.ns, ref.name);
    if (!certificate.ok()) return std::move(certificate).error().WithContext("Certificate " + from);
    const std::string secret_name = api::StringAt((*certificate).value("spec", kube::Json::object()), "secretName");
    if (secret_name.empty()) return InvalidArgument("Certificate " + from + " has no spec.secretName");
    auto secret = ReadSecret(*ctx_.client, ref.ns, secret_name);
    if (!secret.ok()) return std::move(secret).error().WithContext("the Secret of Certificate " + from);
    auto ca = SecretValue(*secret, "ca.crt");
    if (!ca || ca->empty()) {
      return NotFound("Secret " + ref.ns + "/" + secret_name + " of Certificate " + from +
                      " has no ca.crt yet (is the Certificate Ready?)");
    }
    pem = std::move(*ca);
  } else {
    CW_ASSIGN_OR_RETURN(std::string key, api::ParseInjectCaFromIssuer(from_issuer));
    auto issuer = store_->Get(key);
    if (issuer == nullptr) {
      auto why = store_->NotReadyMessage(key);
      return NotFound(why ? *why : key.substr(0, key.find('/')) + " " + from_issuer + " is not Ready or does not exist");
    }
    pem = IssuerTrustPem(*issuer);
    if (pem.empty()) return InvalidArgument(issuer->Describe() + " is selfSigned: it has no CA certificate to inject");
  }
  signer::TrustSetBuilder check;
  CW_RETURN_IF_ERROR(check.AddPem(pem, "the CA to inject"));
  return api::Base64Encode(pem);
}

bool CaInjector::InScope(const kube::Json& object) const {
  if (auto ref = api::ParseInjectCaFrom(AnnotationOf(object, api::annotations::kInjectCaFrom)); ref.ok()) {
    return ctx_.watch_namespace.empty() || ctx_.watch_namespace == ref->ns;
  }
  if (auto key = api::ParseInjectCaFromIssuer(AnnotationOf(object, api::annotations::kInjectCaFromIssuer)); key.ok()) {
    if (key->starts_with("Issuer/")) {
      return ctx_.watch_namespace.empty() || key->starts_with("Issuer/" + ctx_.watch_namespace + "/");
    }
    // A ClusterIssuer this installation serves (or, unscoped, any: its absence is reported).
    return ctx_.cluster_issuer_selector.empty() || store_->Get(*key) != nullptr || store_->NotReadyMessage(*key);
  }
  // A malformed annotation: reported by an unscoped installation only (a scoped one cannot
  // tell whether it was meant for it).
  return ctx_.watch_namespace.empty() && ctx_.cluster_issuer_selector.empty();
}

Result<kube::ReconcileResult> CaInjector::Reconcile(const std::string& key) {
  const size_t slash = key.find('/');
  Target* target = slash == std::string::npos ? nullptr : TargetFor(key.substr(0, slash));
  if (target == nullptr) return kube::ReconcileResult::Done();
  const std::string name = key.substr(slash + 1);
  auto object = target->informer->Get(name);
  if (object == nullptr) return kube::ReconcileResult::Done();
  if (AnnotationOf(*object, api::annotations::kInjectCaFrom).empty() &&
      AnnotationOf(*object, api::annotations::kInjectCaFromIssuer).empty()) {
    return kube::ReconcileResult::Done();  // not ours: never touched
  }
  // Another installation's (--namespace, --cluster-issuer-selector): left to it.
  if (!InScope(*object)) return kube::ReconcileResult::Done();
  if (kube::CaBundleFields(target->resource, *object).empty()) {
    return kube::ReconcileResult::Done();  // nothing to inject into (a local APIService, a CRD without a webhook)
  }
  const std::string where = target->resource.kind + " " + name;
  kube::Json regarding = {{"apiVersion", target->resource.ApiVersion()},
                          {"kind", target->resource.kind},
                          {"metadata", (*object)["metadata"]}};
  auto bundle = BundleFor(*object);
  if (!bundle.ok()) {
    // caBundle stays as it is: a missing source must not break a working webhook.
    spdlog::warn("CA injection into {}: {}", where, bundle.error().message());
    if (ctx_.events) {
      ctx_.events->Record(regarding, kube::EventType::kWarning, "InjectionFailed", "InjectCA",
                          bundle.error().message() + "; caBundle left as it is");
    }
    // A bad annotation waits for an edit; a missing source is retried when it changes (and at
    // the informers' resync).
    if (bundle.error().kind() == ErrorKind::kInvalidArgument) return kube::ReconcileResult::Done();
    return kube::ReconcileResult::RequeueAfter(std::chrono::minutes(1));
  }
  if (auto fields = kube::CaBundleFields(target->resource, *object);
      std::all_of(fields.begin(), fields.end(), [&](const auto& f) { return f.value == *bundle; })) {
    return kube::ReconcileResult::Done();
  }
  auto changed = kube::PatchCaBundles(*ctx_.client, target->resource, name, *bundle);
  if (!changed.ok()) {
    if (changed.error().kind() == ErrorKind::kNotFound) return kube::ReconcileResult::Done();
    return std::move(changed).error();
  }
  if (*changed > 0) {
    spdlog::info("CA injection: {}: caBundle written into {} field(s)", where, *changed);
    if (ctx_.metrics) ctx_.metrics->CaInjected(target->resource.kind);
    if (ctx_.events) {
      ctx_.events->Record(regarding, kube::EventType::kNormal, "Injected", "InjectCA",
                          "caBundle written into " + std::to_string(*changed) + " field(s)");
    }
  }
  return kube::ReconcileResult::Done();
}

}  // namespace certwright::controllers
