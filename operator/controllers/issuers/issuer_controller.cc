#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/x509.h>
#include <spdlog/spdlog.h>

#include "certwright/controllers/issuers.h"
#include "certwright/controllers/metrics.h"
#include "certwright/controllers/secrets.h"
#include "certwright/signer/key_uri.h"
#include "certwright/signer/pem.h"
#include "file/file_backend.h"
#ifdef CERTWRIGHT_WITH_AWSKMS
#include "awskms/awskms_uri.h"
#endif

namespace certwright::controllers {

namespace {

constexpr auto kRecheckReady = std::chrono::minutes(10);    // the key is still reachable, the CA not expired
constexpr auto kRecheckNotReady = std::chrono::minutes(1);  // what the watches cannot see (an HSM token)

std::string StoreKeyOf(const std::string& kind, const std::string& key) {
  if (kind == "ClusterIssuer") return IssuerStore::KeyFor(kind, "", key);
  const auto slash = key.find('/');
  return IssuerStore::KeyFor(kind, key.substr(0, slash), key.substr(slash + 1));
}

// The reason a Ready=False condition carries, from the kind of error.
std::string ReasonFor(const Error& e) {
  switch (e.kind()) {
    case ErrorKind::kNotFound: return "NotFound";
    case ErrorKind::kPermissionDenied: return "PermissionDenied";
    case ErrorKind::kUnavailable: return "BackendUnavailable";
    case ErrorKind::kAlreadyExists: return "SecretConflict";
    case ErrorKind::kInvalidArgument: return "InvalidConfiguration";
    case ErrorKind::kPolicyDenied: return "PolicyDenied";
    default: return "Error";
  }
}

Result<std::string> CaSha256(X509* cert) {
  CW_ASSIGN_OR_RETURN(auto der, ossl::CertificateToDer(cert));
  return Sha256Hex(std::string_view(reinterpret_cast<const char*>(der.data()), der.size()));
}

std::string Describe(const signer::CertificateAuthority& ca) {
  auto subject = signer::DistinguishedName::FromX509Name(X509_get_subject_name(ca.certificate()));
  return "CA \"" + (subject.ok() ? subject->ToString() : std::string("?")) + "\" valid until " +
         api::FormatTime(ca.not_after());
}

}  // namespace

std::string IssuerController::TokenKey(const api::Pkcs11IssuerSpec& p, const std::string& module) const {
  // The token as the device identifies it; the object is left out, which a guesser could vary.
  const std::string uri = p.key_uri + "?module-path=" + signer::PercentEncode(module, "");
  if (auto identity = ctx_.keys->TokenIdentity(uri); identity.ok()) return *identity;
  // The token cannot be opened (no module, no such token): loading the key fails the same way,
  // before any PIN is compared, so a key per spelling lends no guessing budget.
  return "unresolved:" + uri;
}

std::string IssuerController::ReadyToken(const std::string& store_key) const {
  std::lock_guard lock(refs_mutex_);
  auto it = ready_tokens_.find(store_key);
  return it == ready_tokens_.end() ? "" : it->second;
}

void IssuerController::SetReadyToken(const std::string& store_key, const std::string& token) {
  std::lock_guard lock(refs_mutex_);
  if (token.empty()) {
    ready_tokens_.erase(store_key);
  } else {
    ready_tokens_[store_key] = token;
  }
}

std::vector<std::string> IssuerController::ClusterIssuerModules() const { return cluster_modules_->Get(); }

std::string BootstrapSecretName(const std::string& issuer_name) { return issuer_name + "-bootstrap-ca"; }

struct IssuerController::Outcome {
  std::shared_ptr<IssuerHandle> handle;  // set when Ready
  std::string reason;
  std::string message;
  bool retry_soon = false;  // a transient failure: back off and try again
  std::set<std::string> secrets;  // "ns/name" of the Secrets read

  static Outcome Failed(const Error& e, std::set<std::string> secrets = {}) {
    Outcome o;
    o.reason = ReasonFor(e);
    o.message = e.message();
    o.retry_soon = e.retryable() || e.kind() == ErrorKind::kInternal;
    o.secrets = std::move(secrets);
    return o;
  }
};

IssuerController::IssuerController(ControllerContext ctx, std::shared_ptr<IssuerStore> store, kube::Informer& secrets)
    : ctx_(std::move(ctx)), store_(std::move(store)) {
  kube::InformerOptions options;
  options.transform = [](kube::Json& o) { o["metadata"].erase("managedFields"); };
  issuers_ = std::make_unique<kube::Informer>(ctx_.client, api::resources::kIssuers, ctx_.watch_namespace, options);
  kube::InformerOptions cluster_options = options;
  cluster_options.label_selector = ctx_.cluster_issuer_selector;
  cluster_issuers_ =
      std::make_unique<kube::Informer>(ctx_.client, api::resources::kClusterIssuers, "", cluster_options);
  cluster_modules_ = std::make_unique<controllers::ClusterIssuerModules>(*cluster_issuers_);

  auto worker_options = [&](const std::string& name) {
    kube::ControllerOptions o;
    o.workers = 1;
    if (ctx_.metrics) o.queue.metrics = ctx_.metrics->WorkQueue(name);
    return o;
  };
  issuer_worker_ = std::make_unique<kube::Controller>(
      "issuers", [this](const std::string& key) { return Reconcile("Issuer", key); }, worker_options("issuers"));
  cluster_issuer_worker_ = std::make_unique<kube::Controller>(
      "clusterissuers", [this](const std::string& key) { return Reconcile("ClusterIssuer", key); },
      worker_options("clusterissuers"));
  issuers_->OnChange([this](const std::string& key) { issuer_worker_->Enqueue(key); });
  cluster_issuers_->OnChange([this](const std::string& key) { cluster_issuer_worker_->Enqueue(key); });
  secrets.OnChange([this](const std::string& secret_key) {
    std::set<std::string> issuers;
    {
      std::lock_guard lock(refs_mutex_);
      auto it = refs_by_secret_.find(secret_key);
      if (it != refs_by_secret_.end()) issuers = it->second;
    }
    for (const auto& k : issuers) EnqueueIssuer(k);
  });
}

IssuerController::~IssuerController() { Stop(); }

void IssuerController::StartInformers() {
  issuers_->Start();
  cluster_issuers_->Start();
}

bool IssuerController::WaitForSync(std::chrono::milliseconds timeout) {
  return issuers_->WaitForSync(timeout) && cluster_issuers_->WaitForSync(timeout);
}

void IssuerController::StartWorkers() {
  issuer_worker_->Start();
  cluster_issuer_worker_->Start();
}

void IssuerController::Stop() {
  issuer_worker_->Stop();
  cluster_issuer_worker_->Stop();
  issuers_->Stop();
  cluster_issuers_->Stop();
}

bool IssuerController::Exists(const std::string& kind, const std::string& ns, const std::string& name) const {
  if (kind == "ClusterIssuer") return cluster_issuers_->Get(name) != nullptr;
  return issuers_->Get(ns + "/" + name) != nullptr;
}

std::vector<std::string> IssuerController::StoreKeys() const {
  std::vector<std::string> keys;
  for (const auto& k : cluster_issuers_->Keys()) keys.push_back("ClusterIssuer/" + k);
  for (const auto& k : issuers_->Keys()) keys.push_back("Issuer/" + k);
  return keys;
}

void IssuerController::EnqueueIssuer(const std::string& store_key) {
  if (store_key.rfind("ClusterIssuer/", 0) == 0) {
    cluster_issuer_worker_->Enqueue(store_key.substr(std::string("ClusterIssuer/").size()));
  } else {
    issuer_worker_->Enqueue(store_key.substr(std::string("Issuer/").size()));
  }
}

void IssuerController::SetReferences(const std::string& store_key, std::set<std::string> secret_keys) {
  std::lock_guard lock(refs_mutex_);
  for (const auto& s : refs_by_issuer_[store_key]) {
    auto it = refs_by_secret_.find(s);
    if (it == refs_by_secret_.end()) continue;
    it->second.erase(store_key);
    if (it->second.empty()) refs_by_secret_.erase(it);
  }
  for (const auto& s : secret_keys) refs_by_secret_[s].insert(store_key);
  if (secret_keys.empty()) {
    refs_by_issuer_.erase(store_key);
  } else {
    refs_by_issuer_[store_key] = std::move(secret_keys);
  }
}

Result<kube::ReconcileResult> IssuerController::Reconcile(const std::string& kind, const std::string& key) {
  kube::Informer& informer = kind == "ClusterIssuer" ? *cluster_issuers_ : *issuers_;
  const std::string store_key = StoreKeyOf(kind, key);
  auto object = informer.Get(key);
  if (object == nullptr) {
    if (ctx_.metrics) {
      const size_t slash = key.find('/');
      ctx_.metrics->SetIssuerCaExpiry(kind, slash == std::string::npos ? "" : key.substr(0, slash),
                                      slash == std::string::npos ? key : key.substr(slash + 1), 0);
    }
    store_->Erase(store_key);
    SetReferences(store_key, {});
    SetReadyToken(store_key, "");
    return kube::ReconcileResult::Done();
  }
  const kube::Json& issuer = *object;
  const std::string ns = api::StringAt(issuer["metadata"], "namespace");
  const std::string secret_ns = kind == "ClusterIssuer" ? ctx_.cluster_resource_namespace : ns;
  const long long generation = api::GenerationOf(issuer);

  kube::Json status = issuer.value("status", kube::Json::object());
  const kube::Json old_status = status;
  const auto previous = api::Conditions(status).Get("Ready");

  Outcome outcome;
  std::optional<std::chrono::nanoseconds> guard_wait;
  auto spec = api::ParseIssuerSpec(issuer.value("spec", kube::Json::object()));
  if (!spec.ok()) {
    outcome.reason = "InvalidSpec";
    outcome.message = spec.error().message();
  } else if (std::string module; !issuance::CheckCustody(kind, *spec, ctx_.issuance->custody(), &module).ok()) {
    // Custody first: a namespaced Issuer naming a module, credentials or an endpoint the admin did
    // not allow is refused before anything is loaded, read or dialled.
    auto custody = issuance::CheckCustody(kind, *spec, ctx_.issuance->custody(), &module);
    outcome.reason = "CustodyDenied";
    outcome.message = custody.error().message();
  } else {
    const std::string token = spec->type == api::IssuerSpec::Type::kPkcs11 ? TokenKey(spec->pkcs11, module) : "";
    // Exempt from the PIN back-off only a re-check of an issuer that is Ready on this very token
    // (its PIN was right): an Issuer that was Ready as something else (a `ca` Issuer switched to
    // pkcs11, or another token) would otherwise get a free guess per switch.
    const bool was_ready = !token.empty() && store_->Get(store_key) != nullptr && ReadyToken(store_key) == token;
    const auto now = ctx_.clock->Now();
    if (!token.empty() && !was_ready) guard_wait = pin_guard_.Wait(token, now);
    if (guard_wait) {
      // Keep what status says; look again when the back-off ends.
      // Keep the message of the last real check, so nothing changes (no write, no Event) while
      // waiting.
      outcome.reason = "PermissionDenied";
      outcome.message = previous && previous->reason == "PermissionDenied"
                            ? previous->message
                            : "a wrong PIN was given for this token recently; checks of not-Ready issuers of this "
                              "token back off (5 s doubling to 1 h) against PIN guessing";
      outcome.secrets = [&] {
        std::lock_guard lock(refs_mutex_);
        auto r = refs_by_issuer_.find(store_key);
        return r == refs_by_issuer_.end() ? std::set<std::string>{} : r->second;
      }();
    } else {
      outcome = Check(kind, issuer, *spec, module, secret_ns, status);
      if (!token.empty() && outcome.handle && !was_ready) pin_guard_.Succeeded(token);
      if (!token.empty() && !outcome.handle && outcome.reason == "PermissionDenied") pin_guard_.Failed(token, now);
      SetReadyToken(store_key, outcome.handle ? token : "");
    }
  }
  SetReferences(store_key, outcome.secrets);

  const auto now = ctx_.clock->Now();
  api::Conditions conditions(status);
  if (outcome.handle) {
    conditions.Set({"Ready", "True", outcome.reason, outcome.message}, generation, now);
  } else {
    conditions.Set({"Ready", "False", outcome.reason, outcome.message}, generation, now);
  }
  const bool became = !previous || previous->status != (outcome.handle ? "True" : "False") ||
                      previous->reason != outcome.reason;
  if (became && ctx_.events) {
    ctx_.events->Record(issuer, outcome.handle ? kube::EventType::kNormal : kube::EventType::kWarning,
                        outcome.reason, "Check", outcome.message);
  }
  if (became) spdlog::info("{} {}: Ready={} {}: {}", kind, key, outcome.handle ? "True" : "False", outcome.reason,
                           outcome.message);

  // The store first: Certificates should not wait for a status write that may conflict.
  const bool ready = outcome.handle != nullptr;
  const auto ca_end = ready && outcome.handle->ca ? outcome.handle->ca->not_after() : now + kRecheckReady;
  const std::string name = api::StringAt(issuer["metadata"], "name");
  if (ctx_.metrics) {
    const bool has_ca = ready && outcome.handle->ca;
    ctx_.metrics->SetIssuerCaExpiry(
        kind, ns, name,
        has_ca ? std::chrono::duration<double>(outcome.handle->ca->not_after().time_since_epoch()).count() : 0);
  }
  if (ready) {
    store_->SetReady(store_key, std::move(outcome.handle));
  } else {
    store_->SetNotReady(store_key, kind + " " + key + " is not ready: " + outcome.message);
  }
  status["observedGeneration"] = generation;
  if (status != old_status) {
    kube::Json updated = issuer;
    updated["status"] = status;
    auto written = ctx_.client->UpdateStatus(kind == "ClusterIssuer" ? api::resources::kClusterIssuers
                                                                      : api::resources::kIssuers,
                                             ns, updated);
    if (!written.ok()) return std::move(written).error().WithContext("updating status of " + kind + " " + key);
  }
  if (ready) {
    const auto until_expiry = ca_end - now;
    return kube::ReconcileResult::RequeueAfter(std::min<std::chrono::nanoseconds>(
        kRecheckReady, std::max<std::chrono::nanoseconds>(until_expiry, std::chrono::seconds(1))));
  }
  if (guard_wait) return kube::ReconcileResult::RequeueAfter(*guard_wait + std::chrono::seconds(1));
  if (outcome.retry_soon) return Unavailable(outcome.message);
  return kube::ReconcileResult::RequeueAfter(kRecheckNotReady);
}

IssuerController::Outcome IssuerController::Check(const std::string& kind, const kube::Json& issuer,
                                                  const api::IssuerSpec& spec, const std::string& module,
                                                  const std::string& secret_ns, kube::Json& status) {
  auto handle = std::make_shared<IssuerHandle>();
  handle->kind = kind;
  handle->ns = api::StringAt(issuer["metadata"], "namespace");
  handle->name = api::StringAt(issuer["metadata"], "name");
  handle->spec = spec;
  if (const kube::Json& meta = issuer["metadata"]; meta.contains("annotations") && meta["annotations"].is_object()) {
    handle->reissue_token = api::StringAt(meta["annotations"], api::annotations::kReissue);
  }
  if (spec.type != api::IssuerSpec::Type::kPkcs11 && spec.type != api::IssuerSpec::Type::kAwsKms) {
    status.erase("csr");
  }
  switch (spec.type) {
    case api::IssuerSpec::Type::kSelfSigned: {
      handle->backend = "self";
      Outcome o;
      o.handle = std::move(handle);
      o.reason = "IsReady";
      o.message = "Signs each certificate with the certificate's own key";
      return o;
    }
    case api::IssuerSpec::Type::kCa:
      return CheckCa(issuer, spec, secret_ns, *handle);
    case api::IssuerSpec::Type::kPkcs11: {
      const auto& p = spec.pkcs11;
      std::set<std::string> secrets{secret_ns + "/" + p.pin_secret.name};
      if (p.ca_secret) secrets.insert(secret_ns + "/" + p.ca_secret->name);
      if (p.bootstrap && p.bootstrap->mode == "SelfSigned") {
        secrets.insert(secret_ns + "/" + BootstrapSecretName(handle->name));
      }
      auto pin = ReadSecretValue(*ctx_.client, secret_ns, p.pin_secret.name, p.pin_secret.key);
      if (!pin.ok()) return Outcome::Failed(pin.error(), secrets);
      std::string& pin_text = *pin;
      while (!pin_text.empty() && (pin_text.back() == '\n' || pin_text.back() == '\r')) pin_text.pop_back();
      // The module as the custody check resolved it (for a namespaced Issuer, the admin-listed
      // path, not the spelling the Issuer used).
      std::string uri = p.key_uri + "?module-path=" + signer::PercentEncode(module, "") +
                        "&pin-value=" + signer::PercentEncode(pin_text, "");
      OPENSSL_cleanse(pin_text.data(), pin_text.size());
      handle->backend = "pkcs11";
      Outcome o = CheckKeyAndChain(issuer, p.ca_secret, p.bootstrap, uri, /*may_create_key=*/true, secret_ns, status,
                                   *handle);
      OPENSSL_cleanse(uri.data(), uri.size());
      o.secrets = std::move(secrets);
      return o;
    }
    case api::IssuerSpec::Type::kAwsKms: {
#ifndef CERTWRIGHT_WITH_AWSKMS
      return Outcome::Failed(InvalidArgument("this build of certwright has no AWS KMS backend (CERTWRIGHT_WITH_AWSKMS=OFF)"));
#else
      const auto& k = spec.aws_kms;
      std::set<std::string> secrets;
      std::optional<signer::awskms::StaticCredentials> credentials;
      if (k.credentials_secret) {
        secrets.insert(secret_ns + "/" + *k.credentials_secret);
        auto creds = ReadSecret(*ctx_.client, secret_ns, *k.credentials_secret);
        if (!creds.ok()) return Outcome::Failed(creds.error(), secrets);
        // The AWS CLI's variable names, or the URI attribute names.
        auto value = [&](const char* env_name, const char* attr) {
          return SecretValue(*creds, env_name).value_or(SecretValue(*creds, attr).value_or(""));
        };
        credentials = signer::awskms::StaticCredentials{value("AWS_ACCESS_KEY_ID", "access-key-id"),
                                                         value("AWS_SECRET_ACCESS_KEY", "secret-access-key"),
                                                         value("AWS_SESSION_TOKEN", "session-token")};
        if (credentials->access_key_id.empty() || credentials->secret_access_key.empty()) {
          return Outcome::Failed(NotFound("Secret " + secret_ns + "/" + *k.credentials_secret +
                                          " needs the keys AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY"),
                                 secrets);
        }
      }
      const std::string uri = signer::awskms::BuildAwsKmsKeyUri(k.key_id, k.region, k.endpoint, credentials);
      if (k.ca_secret) secrets.insert(secret_ns + "/" + k.ca_secret->name);
      if (k.bootstrap && k.bootstrap->mode == "SelfSigned") {
        secrets.insert(secret_ns + "/" + BootstrapSecretName(handle->name));
      }
      handle->backend = "awskms";
      Outcome o = CheckKeyAndChain(issuer, k.ca_secret, k.bootstrap, uri, /*may_create_key=*/false, secret_ns, status,
                                   *handle);
      o.secrets = std::move(secrets);
      return o;
#endif
    }
  }
  return Outcome::Failed(Internal("unknown issuer type"));
}

IssuerController::Outcome IssuerController::CheckCa(const kube::Json&, const api::IssuerSpec& spec,
                                                    const std::string& secret_ns, IssuerHandle& handle) {
  const std::string& name = spec.ca_secret_name;
  std::set<std::string> secrets{secret_ns + "/" + name};
  const std::string where = "Secret " + secret_ns + "/" + name;
  auto secret = ReadSecret(*ctx_.client, secret_ns, name);
  if (!secret.ok()) return Outcome::Failed(secret.error(), secrets);
  auto crt = SecretValue(*secret, "tls.crt");
  auto key_pem = SecretValue(*secret, "tls.key");
  if (!crt || crt->empty()) return Outcome::Failed(NotFound(where + " has no tls.crt"), secrets);
  if (!key_pem || key_pem->empty()) return Outcome::Failed(NotFound(where + " has no tls.key"), secrets);
  auto chain = signer::ParseCertificates(*crt);
  if (!chain.ok()) return Outcome::Failed(std::move(chain).error().WithContext(where + " tls.crt"), secrets);
  auto key = signer::SigningKeyFromPem(*key_pem, "secret:" + secret_ns + "/" + name);
  if (!key.ok()) return Outcome::Failed(std::move(key).error().WithContext(where + " tls.key"), secrets);
  auto ca = signer::CertificateAuthority::Create(*key, std::move(*chain));
  if (!ca.ok()) return Outcome::Failed(std::move(ca).error().WithContext(where), secrets);
  handle.backend = "file";
  auto sha = CaSha256(ca->certificate());
  if (!sha.ok()) return Outcome::Failed(sha.error(), secrets);
  handle.ca_sha256 = *sha;
  Outcome o;
  o.reason = "KeyPairVerified";
  o.message = "Signing with the key in " + where + "; " + Describe(*ca);
  handle.ca.emplace(std::move(*ca));
  o.handle = std::make_shared<IssuerHandle>(std::move(handle));
  o.secrets = std::move(secrets);
  return o;
}

IssuerController::Outcome IssuerController::CheckKeyAndChain(const kube::Json& issuer,
                                                             const std::optional<api::SecretKeyRef>& ca_secret,
                                                             const std::optional<api::BootstrapSpec>& bootstrap,
                                                             const std::string& uri, bool may_create_key,
                                                             const std::string& secret_ns, kube::Json& status,
                                                             IssuerHandle& handle) {
  // The key: created in the HSM only in bootstrap mode, never replaced.
  Result<std::shared_ptr<signer::SigningKey>> key = Internal("unset");
  bool created = false;
  if (bootstrap && may_create_key && bootstrap->key_spec) {
    key = ctx_.keys->LoadOrCreate(uri, *bootstrap->key_spec, &created);
  } else if (bootstrap && may_create_key) {
    // No keyAlgorithm: an existing key is used as it is; a new one is P-256.
    key = ctx_.keys->Load(uri);
    if (!key.ok() && key.error().kind() == ErrorKind::kNotFound) {
      key = ctx_.keys->Create(uri, signer::KeySpec::EcdsaP256());
      created = key.ok();
    }
  } else {
    key = ctx_.keys->Load(uri);
  }
  if (!key.ok()) return Outcome::Failed(key.error());
  if (bootstrap && bootstrap->key_spec && (*key)->spec() != *bootstrap->key_spec) {
    return Outcome::Failed(InvalidArgument("the key " + (*key)->uri() + " is " + signer::KeySpecName((*key)->spec()) +
                                           ", not the " + signer::KeySpecName(*bootstrap->key_spec) +
                                           " bootstrap.keyAlgorithm/keySize ask for; an existing key is never replaced"));
  }
  if (created && ctx_.events) {
    ctx_.events->Record(issuer, kube::EventType::kNormal, "KeyCreated", "CreateKey",
                        "Created the non-extractable CA key " + (*key)->uri());
  }

  std::vector<ossl::X509Ptr> chain;
  std::string where;
  if (ca_secret) {
    where = "Secret " + secret_ns + "/" + ca_secret->name;
    auto pem = ReadSecretValue(*ctx_.client, secret_ns, ca_secret->name, ca_secret->key);
    if (!pem.ok()) return Outcome::Failed(pem.error());
    auto parsed = signer::ParseCertificates(*pem);
    if (!parsed.ok()) return Outcome::Failed(std::move(parsed).error().WithContext(where + " " + ca_secret->key));
    chain = std::move(*parsed);
  } else if (bootstrap->mode == "CSR") {
    signer::CertificateTemplate tmpl;
    tmpl.subject = bootstrap->subject;
    tmpl.is_ca = true;
    tmpl.duration = bootstrap->duration;
    // Keep the request already published when it is for this key and subject: a new one on every
    // check would change status (ECDSA signatures are randomised) for nothing.
    bool keep = false;
    if (const std::string current = api::StringAt(status, "csr"); !current.empty()) {
      auto req = signer::CertificateRequest::Parse(current);
      keep = req.ok() && EVP_PKEY_eq(req->public_key.get(), (*key)->public_key()) == 1 &&
             req->subject.ToString() == bootstrap->subject.ToString();
    }
    if (!keep) {
      auto csr = ctx_.issuance->SignCaRequest(handle, **key, tmpl);
      if (!csr.ok()) return Outcome::Failed(csr.error());
      status["csr"] = *csr;
    }
    Outcome o;
    o.reason = "WaitingForCACertificate";
    o.message = "status.csr holds a certificate request for " + (*key)->uri() +
                "; have it signed by the parent CA, put the certificate chain in a Secret and replace bootstrap "
                "with caSecretRef";
    return o;
  } else {
    // SelfSigned: the root is made once and kept, so certificates are not re-issued on restart.
    const std::string name = BootstrapSecretName(handle.name);
    where = "Secret " + secret_ns + "/" + name;
    const std::string owner = IssuerStore::KeyFor(handle.kind, handle.ns, handle.name);
    auto secret = ctx_.client->Get(kube::resources::kSecrets, secret_ns, name);
    if (secret.ok()) {
      const std::string for_issuer =
          secret->at("metadata").value("annotations", kube::Json::object()).value(api::annotations::kBootstrapFor, "");
      if (for_issuer != owner) {
        return Outcome::Failed(AlreadyExists(where + " exists and was not made for " + owner +
                                             "; certwright never overwrites a Secret it does not own"));
      }
      auto pem = SecretValue(*secret, "tls.crt");
      if (!pem) return Outcome::Failed(NotFound(where + " has no tls.crt"));
      auto parsed = signer::ParseCertificates(*pem);
      if (!parsed.ok()) return Outcome::Failed(std::move(parsed).error().WithContext(where + " tls.crt"));
      chain = std::move(*parsed);
      if (!chain.empty() && EVP_PKEY_eq(X509_get0_pubkey(chain.front().get()), (*key)->public_key()) != 1) {
        return Outcome::Failed(InvalidArgument(where + " holds a root for another key than " + (*key)->uri() +
                                               "; delete the Secret to make a new root for this key"));
      }
    } else if (secret.error().kind() == ErrorKind::kNotFound) {
      signer::CertificateTemplate tmpl;
      tmpl.subject = bootstrap->subject;
      tmpl.is_ca = true;
      tmpl.duration = bootstrap->duration;
      auto root = ctx_.issuance->SelfSignRoot(handle, **key, tmpl);
      if (!root.ok()) return Outcome::Failed(std::move(root).error().WithContext("self-signing the bootstrap root"));
      kube::Json object = {
          {"apiVersion", "v1"},
          {"kind", "Secret"},
          {"metadata",
           {{"name", name},
            {"namespace", secret_ns},
            {"labels", {{api::annotations::kManagedLabel, "true"}}},
            {"annotations", {{api::annotations::kBootstrapFor, owner}}}}},
          {"type", "Opaque"},
          {"data", {{"tls.crt", Base64Encode(root->pem)}, {"ca.crt", Base64Encode(root->pem)}}},
      };
      auto written = ctx_.client->Create(kube::resources::kSecrets, secret_ns, object);
      if (!written.ok()) return Outcome::Failed(std::move(written).error().WithContext("writing " + where));
      if (ctx_.events) {
        ctx_.events->Record(issuer, kube::EventType::kNormal, "BootstrapCAIssued", "SelfSign",
                            "Self-signed a root CA certificate (serial " + root->serial_hex + ") for " +
                                (*key)->uri() + " and stored it in " + where);
      }
      chain.push_back(root->Certificate());
    } else {
      return Outcome::Failed(std::move(secret).error().WithContext("reading " + where));
    }
  }

  auto ca = signer::CertificateAuthority::Create(*key, std::move(chain));
  if (!ca.ok()) return Outcome::Failed(std::move(ca).error().WithContext(where));
  auto sha = CaSha256(ca->certificate());
  if (!sha.ok()) return Outcome::Failed(sha.error());
  handle.ca_sha256 = *sha;
  status.erase("csr");
  Outcome o;
  o.reason = "KeyVerified";
  o.message = "Signing with " + (*key)->uri() + " (" + signer::KeySpecName((*key)->spec()) + "); " + Describe(*ca);
  handle.ca.emplace(std::move(*ca));
  o.handle = std::make_shared<IssuerHandle>(std::move(handle));
  return o;
}

}  // namespace certwright::controllers
