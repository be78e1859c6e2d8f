#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/x509.h>
#include <spdlog/spdlog.h>

#include <charconv>

#include "certwright/controllers/certificates.h"
#include "certwright/controllers/metrics.h"
#include "certwright/controllers/secrets.h"
#include "certwright/signer/duration.h"
#include "certwright/signer/pem.h"
#include "file/file_backend.h"
#include "policies.h"

namespace certwright::controllers {

using certificates::NeedsIssuance;
using certificates::SecretState;

namespace {

std::string IssuerKeyOf(const std::string& ns, const kube::Json& certificate) {
  const kube::Json ref = certificate.value("spec", kube::Json::object()).value("issuerRef", kube::Json::object());
  return IssuerStore::KeyFor(ref.value("kind", "Issuer"), ns, ref.value("name", ""));
}

bool OwnedBy(const kube::Json& secret, const std::string& certificate_name) {
  if (!IsManagedSecret(secret)) return false;
  const kube::Json annotations = secret["metadata"].value("annotations", kube::Json::object());
  return annotations.value(api::annotations::kCertificateName, "") == certificate_name;
}

Result<std::string> EncodePrivateKey(EVP_PKEY* key, const std::string& encoding) {
  ossl::Bio bio(BIO_new(BIO_s_mem()));
  // PKCS1 is OpenSSL's "traditional" form: RSA PRIVATE KEY, EC PRIVATE KEY. Ed25519 has none,
  // so it is always PKCS#8, as cert-manager writes it.
  const bool pkcs1 = encoding == "PKCS1" && EVP_PKEY_get_base_id(key) != EVP_PKEY_ED25519;
  const int ok = pkcs1 ? PEM_write_bio_PrivateKey_traditional(bio.get(), key, nullptr, nullptr, 0, nullptr, nullptr)
                       : PEM_write_bio_PrivateKey(bio.get(), key, nullptr, nullptr, 0, nullptr, nullptr);
  if (ok != 1) return Internal("encoding the private key: " + ossl::DrainErrors());
  char* data = nullptr;
  const long len = BIO_get_mem_data(bio.get(), &data);
  std::string pem(data, static_cast<size_t>(len));
  return pem;
}

std::optional<unsigned long long> ResourceVersionNumber(const kube::Json& object) {
  const std::string rv = api::StringAt(object["metadata"], "resourceVersion");
  // from_chars: a resourceVersion of more than 20 digits is out of range, not an exception.
  unsigned long long n = 0;
  const auto [end, ec] = std::from_chars(rv.data(), rv.data() + rv.size(), n);
  if (rv.empty() || ec != std::errc() || end != rv.data() + rv.size()) return std::nullopt;
  return n;
}

std::string JoinNames(const std::vector<std::string>& names) {
  std::string out;
  for (const auto& n : names) out += (out.empty() ? "" : ",") + n;
  return out;
}

}  // namespace

struct CertificateController::Issued {
  signer::IssuedCertificate certificate;
  kube::Json secret;
};

std::chrono::seconds CertificateController::Backoff(long long failures) {
  if (failures <= 0) return std::chrono::seconds(0);
  const long long shift = std::min<long long>(failures - 1, 10);
  return std::min<std::chrono::seconds>(std::chrono::seconds(5LL << shift), std::chrono::minutes(10));
}

CertificateController::CertificateController(ControllerContext ctx, std::shared_ptr<IssuerStore> store,
                                             kube::Informer& secrets, const IssuerController& issuers)
    : ctx_(std::move(ctx)),
      store_(std::move(store)),
      secrets_(secrets),
      pacer_(ctx_.reissue_qps, ctx_.clock),
      issuers_(issuers) {
  kube::InformerOptions options;
  // Status is written through the status subresource, which ignores metadata: the cache keeps
  // only the metadata the controller reads (and Events name), which at 10,000 Certificates saves
  // tens of MiB (kubectl's last-applied annotation alone repeats the spec).
  options.transform = [](kube::Json& o) {
    DropApplyNoise(o);
    kube::Json& meta = o["metadata"];
    const kube::Json spec = o.value("spec", kube::Json::object());
    kube::Json keep = {
        {"metadata",
         {{"name", meta.value("name", "")},
          {"namespace", meta.value("namespace", "")},
          {"resourceVersion", meta.value("resourceVersion", "")},
          {"uid", meta.value("uid", "")}}},
        {"spec", {{"secretName", spec.value("secretName", "")}, {"issuerRef", spec.value("issuerRef", kube::Json::object())}}},
    };
    PackForCache(o, std::move(keep));
  };
  certificates_ =
      std::make_unique<kube::Informer>(ctx_.client, api::resources::kCertificates, ctx_.watch_namespace, options);
  certificates_->AddIndex("secret", [](const kube::Json& c) {
    const std::string ns = api::StringAt(c["metadata"], "namespace");
    return std::vector<std::string>{ns + "/" + c.value("spec", kube::Json::object()).value("secretName", "")};
  });
  certificates_->AddIndex("issuer", [](const kube::Json& c) {
    return std::vector<std::string>{IssuerKeyOf(api::StringAt(c["metadata"], "namespace"), c)};
  });

  kube::ControllerOptions worker_options;
  worker_options.workers = ctx_.workers;
  if (ctx_.metrics) worker_options.queue.metrics = ctx_.metrics->WorkQueue("certificates");
  worker_ = std::make_unique<kube::Controller>(
      "certificates", [this](const std::string& key) { return Reconcile(key); }, std::move(worker_options));

  certificates_->OnChange([this](const std::string& key) { worker_->Enqueue(key); });
  // A deleted Secret is gone whatever we wrote before (registered before the handler below, so
  // the reconcile it triggers does not see our copy).
  secrets.AddHandler({.on_delete = [this](const kube::Json& secret) {
    std::lock_guard lock(written_mutex_);
    written_.erase(api::KeyOf(secret));
  }});
  // A Secret changed (written, edited, deleted): look at the Certificates that name it.
  secrets.OnChange([this](const std::string& secret_key) {
    for (const auto& c : certificates_->ByIndex("secret", secret_key)) worker_->Enqueue(api::KeyOf(*c));
  });
  // An issuer became Ready, stopped being Ready, or has a new CA.
  store_->OnChange([this](const std::string& issuer_key) {
    for (const auto& c : certificates_->ByIndex("issuer", issuer_key)) worker_->Enqueue(api::KeyOf(*c));
    reissue_worker_->Enqueue(issuer_key);
  });
  kube::ControllerOptions reissue_options;
  reissue_options.workers = 1;
  if (ctx_.metrics) reissue_options.queue.metrics = ctx_.metrics->WorkQueue("reissue");
  reissue_worker_ = std::make_unique<kube::Controller>(
      "reissue", [this](const std::string& key) { return ReconcileReissue(key); }, std::move(reissue_options));
}

CertificateController::Pacer::Pacer(double qps, const Clock* clock)
    : bucket_(qps, std::max(1, static_cast<int>(qps)), clock), clock_(clock) {}

std::optional<std::chrono::nanoseconds> CertificateController::Pacer::Wait(const std::string& key) {
  const auto now = clock_->Now();
  std::lock_guard lock(mutex_);
  if (auto it = reserved_.find(key); it != reserved_.end()) {
    if (now >= it->second) {
      reserved_.erase(it);
      return std::nullopt;
    }
    return it->second - now;
  }
  const auto wait = bucket_.Reserve();
  if (wait <= std::chrono::nanoseconds::zero()) return std::nullopt;
  reserved_[key] = now + wait;
  return wait;
}

CertificateController::ReissueProgress CertificateController::Progress(const std::string& issuer_key,
                                                                       const std::string& token) const {
  ReissueProgress p;
  for (const auto& c : certificates_->ByIndex("issuer", issuer_key)) {
    ++p.total;
    const std::string ns = api::StringAt((*c)["metadata"], "namespace");
    const std::string secret_name = (*c).value("spec", kube::Json::object()).value("secretName", "");
    auto secret = Unpack(secrets_.Get(ns + "/" + secret_name));
    if (secret == nullptr) continue;
    const kube::Json& meta = (*secret)["metadata"];
    if (meta.contains("annotations") && meta["annotations"].is_object() &&
        api::StringAt(meta["annotations"], api::annotations::kReissueToken) == token) {
      ++p.done;
    }
  }
  return p;
}

Result<kube::ReconcileResult> CertificateController::ReconcileReissue(const std::string& issuer_key) {
  auto issuer = store_->Get(issuer_key);
  if (issuer == nullptr || issuer->reissue_token.empty()) return kube::ReconcileResult::Done();
  const kube::Resource& resource =
      issuer->kind == "ClusterIssuer" ? api::resources::kClusterIssuers : api::resources::kIssuers;
  auto object = ctx_.client->Get(resource, issuer->ns, issuer->name);
  if (!object.ok()) {
    if (object.error().kind() == ErrorKind::kNotFound) return kube::ReconcileResult::Done();
    return std::move(object).error().WithContext("reading " + issuer->Describe());
  }
  const ReissueProgress p = Progress(issuer_key, issuer->reissue_token);
  const kube::Json before = (*object).value("status", kube::Json::object()).value("reissue", kube::Json::object());
  const auto now = api::FormatTime(ctx_.clock->Now());
  const bool started = api::StringAt(before, "token") != issuer->reissue_token;
  kube::Json reissue = {{"token", issuer->reissue_token},
                        {"total", p.total},
                        {"done", p.done},
                        {"progress", std::to_string(p.done) + "/" + std::to_string(p.total)},
                        {"startedAt", started ? now : api::StringAt(before, "startedAt")}};
  const bool complete = p.done >= p.total;
  const std::string completed_at = started ? "" : api::StringAt(before, "completedAt");
  if (complete) reissue["completedAt"] = completed_at.empty() ? now : completed_at;
  if (reissue != before) {
    auto patched = ctx_.client->Patch(resource, issuer->ns, issuer->name, kube::PatchType::kMerge,
                                      {{"status", {{"reissue", reissue}}}}, {.subresource = "status"});
    if (!patched.ok()) return std::move(patched).error().WithContext("writing the re-issue progress of " + issuer->Describe());
    if (ctx_.events && (started || (complete && completed_at.empty()))) {
      kube::Json regarding = *object;
      regarding["apiVersion"] = resource.ApiVersion();
      regarding["kind"] = resource.kind;
      if (started) {
        ctx_.events->Record(regarding, kube::EventType::kNormal, "ReissueStarted", "Reissue",
                            "re-issuing " + std::to_string(p.total) + " Certificate(s) at " +
                                std::to_string(static_cast<int>(ctx_.reissue_qps)) + "/s (" +
                                api::annotations::kReissue + "=" + issuer->reissue_token + ")");
      }
      if (complete && completed_at.empty()) {
        ctx_.events->Record(regarding, kube::EventType::kNormal, "ReissueCompleted", "Reissue",
                            "all " + std::to_string(p.total) + " Certificate(s) re-issued");
      }
    }
  }
  if (complete) return kube::ReconcileResult::Done();
  return kube::ReconcileResult::RequeueAfter(std::chrono::seconds(2));
}

CertificateController::~CertificateController() { Stop(); }

void CertificateController::StartInformers() { certificates_->Start(); }
bool CertificateController::WaitForSync(std::chrono::milliseconds timeout) {
  return certificates_->WaitForSync(timeout);
}
void CertificateController::StartWorkers() {
  worker_->Start();
  reissue_worker_->Start();
}
void CertificateController::Stop() {
  reissue_worker_->Stop();
  worker_->Stop();
  certificates_->Stop();
}

std::shared_ptr<const kube::Json> CertificateController::CurrentSecret(const std::string& key, bool* from_write) {
  *from_write = false;
  auto cached = Unpack(secrets_.Get(key));
  std::lock_guard lock(written_mutex_);
  auto it = written_.find(key);
  if (it == written_.end()) return cached;
  const auto written_rv = ResourceVersionNumber(*it->second.secret);
  const auto cached_rv = cached ? ResourceVersionNumber(*cached) : std::nullopt;
  // The cache caught up (or moved past what we wrote), or it is so late that something else is
  // wrong: trust the cache.
  const bool caught_up = cached && (!written_rv || !cached_rv || *cached_rv >= *written_rv);
  if (caught_up || std::chrono::steady_clock::now() - it->second.at > std::chrono::seconds(30)) {
    written_.erase(it);
    return cached;
  }
  *from_write = true;
  return it->second.secret;
}

void CertificateController::Record(const kube::Json& certificate, bool warning, const std::string& reason,
                                   const std::string& action, const std::string& note) {
  if (ctx_.events) {
    ctx_.events->Record(certificate, warning ? kube::EventType::kWarning : kube::EventType::kNormal, reason, action,
                        note);
  }
}

std::shared_ptr<const kube::Json> CertificateController::NewestCertificate(std::shared_ptr<const kube::Json> cached) {
  cached = Unpack(std::move(cached));
  const std::string key = api::KeyOf(*cached);
  std::lock_guard lock(written_mutex_);
  auto it = written_status_.find(key);
  if (it == written_status_.end()) return cached;
  const auto written_rv = ResourceVersionNumber(*it->second.secret);
  const auto cached_rv = ResourceVersionNumber(*cached);
  const bool cache_behind = written_rv && cached_rv && *cached_rv < *written_rv &&
                            std::chrono::steady_clock::now() - it->second.at < std::chrono::seconds(30);
  // Only when the spec is the same: a newer generation in the cache wins whatever its status.
  if (cache_behind && api::GenerationOf(*cached) == api::GenerationOf(*it->second.secret)) return it->second.secret;
  written_status_.erase(it);
  return cached;
}

Status CertificateController::WriteStatus(const kube::Json& certificate, const kube::Json& status) {
  if (certificate.value("status", kube::Json::object()) == status) return Ok();
  const std::string key = api::KeyOf(certificate);
  kube::Json updated = certificate;
  updated["status"] = status;
  auto result = ctx_.client->UpdateStatus(api::resources::kCertificates,
                                          api::StringAt(certificate["metadata"], "namespace"), updated);
  if (!result.ok()) return std::move(result).error().WithContext("updating status of Certificate " + key);
  std::lock_guard lock(written_mutex_);
  written_status_[key] = {std::make_shared<const kube::Json>(std::move(*result)), std::chrono::steady_clock::now()};
  return Ok();
}

Result<kube::ReconcileResult> CertificateController::Reconcile(const std::string& key) {
  auto object = certificates_->Get(key);
  const auto slash = key.find('/');
  const std::string ns = key.substr(0, slash);
  const std::string name = key.substr(slash + 1);
  if (object == nullptr) {
    if (ctx_.metrics) ctx_.metrics->EraseCertificate(ns, name);
    std::lock_guard lock(written_mutex_);
    written_status_.erase(key);
    return kube::ReconcileResult::Done();
  }
  // Our own last status write, if the cache has not caught up with it yet.
  object = NewestCertificate(std::move(object));
  const kube::Json& certificate = *object;
  const long long generation = api::GenerationOf(certificate);
  const auto now = ctx_.clock->Now();
  kube::Json status = certificate.value("status", kube::Json::object());
  api::Conditions conditions(status);
  const auto previous_ready = conditions.Get("Ready");
  const std::string issuer_kind =
      certificate.value("spec", kube::Json::object()).value("issuerRef", kube::Json::object()).value("kind", "Issuer");
  const std::string issuer_name =
      certificate.value("spec", kube::Json::object()).value("issuerRef", kube::Json::object()).value("name", "");

  // The expiry the metric shows: the certificate in the Secret (if any), whatever the status says,
  // so an alert on expiry still fires while renewal is failing.
  double secret_not_after = 0;
  // Ready=False with `reason`: written, recorded as an Event when it is news, and in metrics.
  auto not_ready = [&](const std::string& reason, const std::string& message) -> Status {
    conditions.Set({"Ready", "False", reason, message}, generation, now);
    if (!previous_ready || previous_ready->reason != reason || previous_ready->message != message) {
      Record(certificate, true, reason, "Check", message);
    }
    if (ctx_.metrics) ctx_.metrics->SetCertificate(ns, name, issuer_kind, issuer_name, secret_not_after, "False");
    return WriteStatus(certificate, status);
  };

  auto spec = api::ParseCertificateSpec(certificate.value("spec", kube::Json::object()));
  if (!spec.ok()) {
    CW_RETURN_IF_ERROR(not_ready("InvalidSpec", spec.error().message()));
    return kube::ReconcileResult::Done();
  }

  const std::string secret_key = ns + "/" + spec->secret_name;
  bool from_write = false;
  const auto secret = CurrentSecret(secret_key, &from_write);
  const SecretState state = SecretState::From(secret && OwnedBy(*secret, name) ? secret.get() : nullptr);
  if (state.leaf) {
    secret_not_after = std::chrono::duration<double>(
                           signer::ToTimePoint(X509_get0_notAfter(state.leaf.get())).time_since_epoch())
                           .count();
  }
  if (secret && !OwnedBy(*secret, name)) {
    CW_RETURN_IF_ERROR(not_ready("SecretConflict", "Secret " + secret_key +
                                                       " exists and is not managed by this Certificate; certwright "
                                                       "never overwrites a Secret it does not own"));
    return kube::ReconcileResult::Done();  // the Secret informer enqueues us when it changes
  }

  const std::string issuer_key = IssuerStore::KeyFor(spec->issuer_ref.kind, ns, spec->issuer_ref.name);
  if (spec->issuer_ref.kind == "ClusterIssuer" && !ctx_.cluster_issuer_selector.empty() &&
      !issuers_.Exists("ClusterIssuer", ns, spec->issuer_ref.name)) {
    // A ClusterIssuer outside our selector is another installation's: so is this Certificate.
    return kube::ReconcileResult::Done();
  }
  const auto issuer = store_->Get(issuer_key);
  if (issuer == nullptr) {
    const auto why = store_->NotReadyMessage(issuer_key);
    if (!why && issuers_.Exists(spec->issuer_ref.kind, ns, spec->issuer_ref.name)) {
      // Not checked yet (the process just started): the IssuerStore enqueues us once it is.
      // Saying "not found" meanwhile would flip a Ready Certificate for nothing.
      return kube::ReconcileResult::Done();
    }
    const std::string what = spec->issuer_ref.kind + " " +
                             (spec->issuer_ref.kind == "Issuer" ? ns + "/" : std::string()) + spec->issuer_ref.name;
    CW_RETURN_IF_ERROR(not_ready(why ? "IssuerNotReady" : "IssuerNotFound",
                                 why ? issuance::NotReadyForNamespace(spec->issuer_ref.kind, spec->issuer_ref.name, *why)
                                     : what + " does not exist (or has not been checked yet)"));
    return kube::ReconcileResult::Done();  // the IssuerStore enqueues us when the issuer changes
  }

  const auto trigger = NeedsIssuance({*spec, state, *issuer, now});
  if (!trigger) {
    // Up to date: make status say so, and come back at the renewal time.
    const auto not_before = signer::ToTimePoint(X509_get0_notBefore(state.leaf.get()));
    const auto not_after = signer::ToTimePoint(X509_get0_notAfter(state.leaf.get()));
    const auto renew_at = api::RenewalTime(*spec, not_before, not_after);
    conditions.Set({"Ready", "True", "Ready", "Certificate is up to date and has not expired"}, generation, now);
    conditions.Remove("Issuing");
    status["notBefore"] = api::FormatTime(not_before);
    status["notAfter"] = api::FormatTime(not_after);
    status["renewalTime"] = api::FormatTime(renew_at);
    status.erase("failedIssuanceAttempts");
    status.erase("lastFailureTime");
    // A Secret found up to date that status does not know of (written before a crash or a lost
    // status write, or by a previous leader) counts as one more revision: the serial on the Secret
    // differs from the one status last recorded. A first sighting is revision 1.
    const std::string serial = secret ? (*secret)["metadata"].value("annotations", kube::Json::object())
                                            .value(api::annotations::kSerial, "")
                                      : "";
    if (status.value("revision", 0LL) < 1) {
      status["revision"] = 1;
    } else if (!serial.empty() && !status.value("serial", "").empty() && status.value("serial", "") != serial) {
      status["revision"] = status.value("revision", 0LL) + 1;
    }
    if (!serial.empty()) status["serial"] = serial;
    CW_RETURN_IF_ERROR(WriteStatus(certificate, status));
    if (ctx_.metrics) {
      ctx_.metrics->SetCertificate(ns, name, issuer_kind, issuer_name,
                                   std::chrono::duration<double>(not_after.time_since_epoch()).count(), "True");
    }
    // Judged from our own write while the cache lags: look again once it has caught up.
    if (from_write) return kube::ReconcileResult::RequeueAfter(std::chrono::seconds(1));
    return kube::ReconcileResult::RequeueAfter(renew_at - now);
  }

  // What the issuer asked for (a new CA, the drill) goes at the re-issue rate.
  if (trigger->reason == "ReissueRequested" || trigger->reason == "IssuerChanged") {
    if (auto wait = pacer_.Wait(key)) return kube::ReconcileResult::RequeueAfter(*wait);
  }
  // Back off after failures, unless the spec changed since the last one.
  const long long failures = status.value("failedIssuanceAttempts", 0LL);
  const auto issuing = conditions.Get("Issuing");
  if (failures > 0 && issuing && issuing->status == "False") {
    long long failed_generation = 0;
    for (const auto& c : status["conditions"]) {
      if (api::StringAt(c, "type") == "Issuing") failed_generation = c.value("observedGeneration", 0LL);
    }
    auto last = api::ParseTime(api::StringAt(status, "lastFailureTime"));
    if (failed_generation == generation && last.ok()) {
      const auto retry_at = *last + Backoff(failures);
      if (now < retry_at) return kube::ReconcileResult::RequeueAfter(retry_at - now);
    }
  }

  const auto started = std::chrono::steady_clock::now();
  auto issued = Issue(certificate, *spec, issuer, secret.get(), trigger->reason);
  const std::chrono::duration<double> latency = std::chrono::steady_clock::now() - started;
  if (ctx_.metrics) ctx_.metrics->ObserveIssuance(issuer_kind, issuer_name, issuer->backend, issued.ok(), latency);

  if (!issued.ok()) {
    const Error& e = issued.error();
    if (e.kind() == ErrorKind::kConflict || (e.http_status() == 409)) {
      // The Secret changed under us (resourceVersion precondition): look again with a fresh cache.
      return std::move(issued).error();
    }
    if (ctx_.metrics && e.detail() == nullptr) ctx_.metrics->SignerError(issuer->backend);
    const long long attempts = failures + 1;
    status["failedIssuanceAttempts"] = attempts;
    status["lastFailureTime"] = api::FormatTime(now);
    const std::string message = "Issuance failed (attempt " + std::to_string(attempts) + ", next in " +
                                FormatDuration(Backoff(attempts)) + "): " + e.message();
    conditions.Set({"Issuing", "False", "Failed", message}, generation, now);
    const bool valid_now = state.leaf && state.key &&
                           EVP_PKEY_eq(X509_get0_pubkey(state.leaf.get()), state.key.get()) == 1 &&
                           now < signer::ToTimePoint(X509_get0_notAfter(state.leaf.get()));
    if (!valid_now || trigger->reason == "SpecChanged") {
      conditions.Set({"Ready", "False", "IssuanceFailed", message}, generation, now);
    }
    Record(certificate, true, "IssuanceFailed", "Issue", message);
    spdlog::warn("Certificate {}: issuance failed (attempt {}): {}", key, attempts, e.message());
    CW_RETURN_IF_ERROR(WriteStatus(certificate, status));
    if (ctx_.metrics) {
      ctx_.metrics->SetCertificate(ns, name, issuer_kind, issuer_name, secret_not_after, valid_now ? "True" : "False");
    }
    return kube::ReconcileResult::RequeueAfter(Backoff(attempts));
  }

  {
    std::lock_guard lock(written_mutex_);
    written_[secret_key] = {std::make_shared<const kube::Json>(issued->secret), std::chrono::steady_clock::now()};
  }
  const auto& cert = issued->certificate;
  const auto renew_at = api::RenewalTime(*spec, cert.not_before, cert.not_after);
  const long long revision = status.value("revision", 0LL) + 1;
  status["revision"] = revision;
  status["serial"] = cert.serial_hex;
  status["notBefore"] = api::FormatTime(cert.not_before);
  status["notAfter"] = api::FormatTime(cert.not_after);
  status["renewalTime"] = api::FormatTime(renew_at);
  status.erase("failedIssuanceAttempts");
  status.erase("lastFailureTime");
  conditions.Remove("Issuing");
  conditions.Set({"Ready", "True", "Ready", "Certificate is up to date and has not expired"}, generation, now);
  const std::string note = trigger->message + ": serial " + cert.serial_hex + ", valid until " +
                           api::FormatTime(cert.not_after) + ", revision " + std::to_string(revision);
  const bool renewal = trigger->reason == "Renewing" || trigger->reason == "Expired";
  Record(certificate, false, revision == 1 ? "Issued" : renewal ? "Renewed" : "Reissued", "Issue", note);
  if (ctx_.metrics) {
    ctx_.metrics->SetCertificate(ns, name, issuer_kind, issuer_name,
                                 std::chrono::duration<double>(cert.not_after.time_since_epoch()).count(), "True");
  }
  CW_RETURN_IF_ERROR(WriteStatus(certificate, status));
  return kube::ReconcileResult::RequeueAfter(renew_at - now);
}

Result<CertificateController::Issued> CertificateController::Issue(const kube::Json& certificate,
                                                                   const api::CertificateSpec& spec,
                                                                   std::shared_ptr<const IssuerHandle> issuer,
                                                                   const kube::Json* secret,
                                                                   const std::string& reason) {
  const std::string ns = api::StringAt(certificate["metadata"], "namespace");
  const std::string name = api::StringAt(certificate["metadata"], "name");
  CW_ASSIGN_OR_RETURN(signer::CertificateTemplate tmpl, api::TemplateOf(spec));

  // The private key: kept under rotationPolicy Never when it is still of the kind asked for.
  ossl::PKey key;
  signer::KeySpec wanted = spec.private_key.KeySpec();
  // Neither algorithm nor size written (no webhook defaulted them): the issuer's CA key type when
  // its spec names it, as the webhook would have written it.
  if (spec.private_key.defaulted && issuer) {
    if (auto ca_key = api::CaKeySpec(issuer->spec)) wanted = *ca_key;
  }
  if (spec.private_key.rotation_policy == "Never" && secret != nullptr) {
    if (auto pem = SecretValue(*secret, "tls.key"); pem && !pem->empty()) {
      if (auto existing = signer::ParsePrivateKey(*pem); existing.ok()) {
        if (auto kind = signer::KeySpecOf(existing->get()); kind.ok() && *kind == wanted) key = std::move(*existing);
      }
      OPENSSL_cleanse(pem->data(), pem->size());
    }
  }
  if (!key) {
    CW_ASSIGN_OR_RETURN(key, signer::GenerateKey(wanted));
  }

  // Signed through the one door: custody, CertificatePolicy, the issuer's and policy's limits on
  // lifetime, the CA's end, then the signature and the audit record.
  issuance::IssuanceRequest request;
  request.door = issuance::Door::kCertificate;
  request.ns = ns;
  request.name = name;
  request.object = "Certificate " + ns + "/" + name;
  request.issuer = issuer;
  request.tmpl = std::move(tmpl);
  request.audit_details = {{"reason", reason}};
  CW_ASSIGN_OR_RETURN(request.subject_key, signer::SubjectPublicKey::FromPKey(key.get()));
  if (!issuer->ca) {
    CW_ASSIGN_OR_RETURN(request.self_key, signer::SigningKeyFromPKey(ossl::Share(key.get()), "self"));
  }
  auto issuance = ctx_.issuance->Issue(request);
  if (!issuance.ok()) return std::move(issuance).error();
  signer::IssuedCertificate* issued = &issuance->certificate;
  CW_ASSIGN_OR_RETURN(std::string key_pem, EncodePrivateKey(key.get(), spec.private_key.encoding));

  // The Secret: what is there (labels, annotations, other data keys) plus ours, in one request.
  kube::Json object = secret != nullptr ? *secret : kube::Json::object();
  object["apiVersion"] = "v1";
  object["kind"] = "Secret";
  kube::Json& meta = object["metadata"];
  meta["name"] = spec.secret_name;
  meta["namespace"] = ns;
  kube::Json& labels = meta["labels"];
  if (!labels.is_object()) labels = kube::Json::object();
  for (const auto& [k, v] : spec.secret_labels) labels[k] = v;
  labels[api::annotations::kManagedLabel] = "true";
  kube::Json& annotations = meta["annotations"];
  if (!annotations.is_object()) annotations = kube::Json::object();
  for (const auto& [k, v] : spec.secret_annotations) annotations[k] = v;
  annotations[api::annotations::kCertificateName] = name;
  annotations[api::annotations::kIssuerName] = spec.issuer_ref.name;
  annotations[api::annotations::kIssuerKind] = spec.issuer_ref.kind;
  annotations[api::annotations::kIssuerGroup] = spec.issuer_ref.group;
  annotations[api::annotations::kCommonName] = spec.common_name;
  annotations[api::annotations::kAltNames] = JoinNames(spec.dns_names);
  annotations[api::annotations::kIpSans] = JoinNames(spec.ip_addresses);
  annotations[api::annotations::kUriSans] = JoinNames(spec.uris);
  annotations[api::annotations::kEmailSans] = JoinNames(spec.email_addresses);
  annotations[api::annotations::kSerial] = issued->serial_hex;
  annotations[api::annotations::kSpecHash] = api::SpecHash(spec);
  annotations[api::annotations::kIssuerCaHash] = issuer->ca_sha256;
  if (issuer->reissue_token.empty()) {
    annotations.erase(api::annotations::kReissueToken);
  } else {
    annotations[api::annotations::kReissueToken] = issuer->reissue_token;
  }
  object["type"] = secret != nullptr ? secret->value("type", "kubernetes.io/tls") : "kubernetes.io/tls";
  kube::Json& data = object["data"];
  if (!data.is_object()) data = kube::Json::object();
  data["tls.crt"] = Base64Encode(issued->chain_pem);
  data["tls.key"] = Base64Encode(key_pem);
  data["ca.crt"] = Base64Encode(issued->ca_pem);
  OPENSSL_cleanse(key_pem.data(), key_pem.size());

  Result<kube::Json> written = Internal("unset");
  if (secret != nullptr) {
    // metadata.resourceVersion is the cached one: if the Secret changed since, 409 and look again.
    written = ctx_.client->Update(kube::resources::kSecrets, ns, object);
  } else {
    meta.erase("resourceVersion");
    written = ctx_.client->Create(kube::resources::kSecrets, ns, object);
  }
  if (!written.ok()) {
    Error e = std::move(written).error();
    if (e.http_status() == 409) return Conflict("Secret " + ns + "/" + spec.secret_name + " changed meanwhile: " + e.message());
    return std::move(e).WithContext("writing Secret " + ns + "/" + spec.secret_name);
  }
  return Issued{std::move(*issued), std::move(*written)};
}

}  // namespace certwright::controllers
