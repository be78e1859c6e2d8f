#include "certwright/webhook/serving.h"

#include <openssl/pem.h>
#include <openssl/x509v3.h>
#include <spdlog/spdlog.h>

#include <algorithm>
#include <optional>
#include <string_view>
#include <utility>

#include "certwright/api/meta.h"
#include "certwright/kube/ca_bundle.h"
#include "certwright/signer/key.h"
#include "certwright/signer/pem.h"
#include "certwright/signer/secret.h"
#include "certwright/signer/x509.h"
#include "file/file_backend.h"

namespace certwright::webhook {

using std::chrono::system_clock;

std::vector<std::string> ServiceDnsNames(const std::string& service, const std::string& ns) {
  return {service + "." + ns + ".svc", service + "." + ns + ".svc.cluster.local"};
}

// The serving pair and the CA of one pass.
struct ServingCertificates::Pair {
  std::string chain_pem;  // tls.crt
  signer::SecretString key_pem;
  std::string ca_pem;
  std::string bundle_pem;  // ca.crt
};

namespace {

constexpr const char* kTlsCertKey = "tls.crt";
constexpr const char* kTlsKeyKey = "tls.key";
constexpr int kMaxSecretAttempts = 5;

// The Secret's data, decoded; "" for a key that is absent or not base64.
struct SecretData {
  std::string tls_crt, ca_crt;
  signer::SecretString tls_key, ca_key;
};

std::string DataValue(const kube::Json& secret, const char* key) {
  if (!secret.contains("data") || !secret["data"].is_object()) return "";
  auto it = secret["data"].find(key);
  if (it == secret["data"].end() || !it->is_string()) return "";
  return api::Base64Decode(it->get<std::string>()).value_or("");
}

SecretData ReadData(const kube::Json& secret) {
  SecretData d;
  d.tls_crt = DataValue(secret, kTlsCertKey);
  d.ca_crt = DataValue(secret, kCaCertKey);
  std::string key = DataValue(secret, kTlsKeyKey);
  d.tls_key.Assign(key);
  signer::Wipe(key);
  key = DataValue(secret, kCaKeyKey);
  d.ca_key.Assign(key);
  signer::Wipe(key);
  return d;
}

// PKCS#8 PEM, the memory BIO wiped before it is freed. (The certificate controller's encoder
// is private to it and also writes PKCS#1.)
Result<signer::SecretString> PrivateKeyPem(EVP_PKEY* key) {
  ossl::Bio bio(BIO_new(BIO_s_mem()));
  if (!bio || PEM_write_bio_PrivateKey(bio.get(), key, nullptr, nullptr, 0, nullptr, nullptr) != 1) {
    return Internal("encoding a private key: " + ossl::DrainErrors());
  }
  char* data = nullptr;
  const long len = BIO_get_mem_data(bio.get(), &data);
  signer::SecretString pem(std::string_view(data, static_cast<size_t>(len)));
  OPENSSL_cleanse(data, static_cast<size_t>(len));
  return pem;
}

system_clock::time_point NotBefore(X509* cert) { return signer::ToTimePoint(X509_get0_notBefore(cert)); }
system_clock::time_point NotAfter(X509* cert) { return signer::ToTimePoint(X509_get0_notAfter(cert)); }

// Renewal at two thirds of the lifetime, as for Certificates without renewBefore.
system_clock::time_point RenewalTime(X509* cert) {
  const auto nb = NotBefore(cert);
  return nb + (NotAfter(cert) - nb) * 2 / 3;
}

std::string PemOf(X509* cert) {
  auto pem = ossl::CertificateToPem(cert);
  return pem ? *pem : std::string();
}

std::string BundlePem(const std::vector<ossl::X509Ptr>& bundle) {
  std::string out;
  for (const auto& c : bundle) out += PemOf(c.get());
  return out;
}

// The CAs of ca.crt a relying party may still use: CA certificates that have not expired, in
// their order. Garbage yields none.
std::vector<ossl::X509Ptr> UsableCas(const std::string& ca_crt, system_clock::time_point now) {
  std::vector<ossl::X509Ptr> out;
  if (ca_crt.empty()) return out;
  auto certs = signer::ParseCertificates(ca_crt);
  if (!certs) return out;
  for (auto& c : *certs) {
    if (X509_check_ca(c.get()) == 1 && now < NotAfter(c.get())) out.push_back(std::move(c));
  }
  ossl::DrainErrors();
  return out;
}

// The current CA: the first of the bundle with ca.key as its key, valid and before its renewal
// time. nullopt with the reason otherwise.
std::optional<signer::CertificateAuthority> CurrentCa(const std::vector<ossl::X509Ptr>& bundle,
                                                      const signer::SecretString& ca_key, const Clock& clock,
                                                      std::string& why) {
  if (bundle.empty()) {
    why = "no usable CA certificate in " + std::string(kCaCertKey);
    return std::nullopt;
  }
  if (ca_key.empty()) {
    why = std::string("no ") + kCaKeyKey;
    return std::nullopt;
  }
  auto key = signer::SigningKeyFromPem(ca_key.value(), "webhook CA key");
  if (!key) {
    why = std::string(kCaKeyKey) + " is not a usable private key";  // the parser's message never has key bytes
    return std::nullopt;
  }
  std::vector<ossl::X509Ptr> chain;
  chain.push_back(ossl::Share(bundle.front().get()));
  auto ca = signer::CertificateAuthority::Create(*key, std::move(chain), {.clock = &clock});
  if (!ca) {
    why = ca.error().message();
    return std::nullopt;
  }
  if (clock.Now() >= RenewalTime(bundle.front().get())) {
    why = "the CA is past two thirds of its life (renewal at " + api::FormatTime(RenewalTime(bundle.front().get())) +
          ")";
    return std::nullopt;
  }
  return std::move(*ca);
}

struct NewCa {
  signer::CertificateAuthority ca;
  ossl::X509Ptr cert;
  signer::SecretString key_pem;
};

Result<NewCa> MakeCa(const ServingOptions& o) {
  CW_ASSIGN_OR_RETURN(ossl::PKey pkey, signer::GenerateKey(signer::KeySpec::EcdsaP256()));
  CW_ASSIGN_OR_RETURN(signer::SecretString key_pem, PrivateKeyPem(pkey.get()));
  CW_ASSIGN_OR_RETURN(std::shared_ptr<signer::SigningKey> key,
                      signer::SigningKeyFromPKey(std::move(pkey), "webhook CA key"));
  signer::CertificateTemplate tmpl;
  tmpl.subject.Add("O", "certwright");
  tmpl.subject.Add("CN", "certwright-webhook-ca." + o.ns);
  tmpl.is_ca = true;
  tmpl.max_path_length = 0;
  tmpl.duration = o.ca_duration;
  const signer::IssuanceOptions issuance{.clock = o.clock};
  CW_ASSIGN_OR_RETURN(signer::IssuedCertificate root, signer::SelfSign(*key, tmpl, issuance));
  ossl::X509Ptr cert = root.Certificate();
  if (!cert) return Internal("parsing the new webhook CA certificate: " + ossl::DrainErrors());
  std::vector<ossl::X509Ptr> chain;
  chain.push_back(ossl::Share(cert.get()));
  CW_ASSIGN_OR_RETURN(signer::CertificateAuthority ca, signer::CertificateAuthority::Create(key, std::move(chain), issuance));
  return NewCa{std::move(ca), std::move(cert), std::move(key_pem)};
}

// Why the Secret's serving certificate must be replaced, or nullopt when it may stay. Ordered
// checks, as the Certificate controller's renewal triggers.
std::optional<std::string> ServingNeedsIssuance(const SecretData& d, const std::vector<ossl::X509Ptr>& bundle,
                                                const ServingOptions& o) {
  if (d.tls_crt.empty() || d.tls_key.empty()) return "the Secret has no serving certificate and key";
  auto certs = signer::ParseCertificates(d.tls_crt);
  if (!certs || certs->empty()) return std::string(kTlsCertKey) + " is not a valid certificate";
  X509* leaf = certs->front().get();
  auto key = signer::ParsePrivateKey(d.tls_key.value());
  if (!key) return std::string(kTlsKeyKey) + " is not a valid private key";
  if (EVP_PKEY_eq(X509_get0_pubkey(leaf), key->get()) != 1) {
    ossl::DrainErrors();
    return std::string(kTlsKeyKey) + " does not match " + kTlsCertKey;
  }
  // Signed by a CA the API server is told to trust (the current one, or an earlier one still
  // in the bundle during a CA rotation).
  const bool trusted = std::any_of(bundle.begin(), bundle.end(), [&](const ossl::X509Ptr& ca) {
    return X509_check_issued(ca.get(), leaf) == X509_V_OK && X509_verify(leaf, X509_get0_pubkey(ca.get())) == 1;
  });
  ossl::DrainErrors();
  if (!trusted) return "the serving certificate was not issued by a CA of " + std::string(kCaCertKey);
  for (const auto& name : o.dns_names) {
    if (X509_check_host(leaf, name.data(), name.size(),
                        X509_CHECK_FLAG_NEVER_CHECK_SUBJECT | X509_CHECK_FLAG_NO_WILDCARDS, nullptr) != 1) {
      return "the serving certificate lacks the DNS name " + name;
    }
  }
  for (const auto& ip : o.ip_addresses) {
    if (X509_check_ip_asc(leaf, ip.c_str(), 0) != 1) return "the serving certificate lacks the IP address " + ip;
  }
  const auto now = o.clock->Now();
  if (now >= NotAfter(leaf)) return "the serving certificate expired at " + api::FormatTime(NotAfter(leaf));
  if (now >= RenewalTime(leaf)) {
    return "the serving certificate is past two thirds of its life (renewal at " + api::FormatTime(RenewalTime(leaf)) +
           ")";
  }
  return std::nullopt;
}

struct NewServing {
  std::string chain_pem;  // leaf, then the CA
  signer::SecretString key_pem;
};

Result<NewServing> IssueServing(const signer::CertificateAuthority& ca, const ServingOptions& o) {
  CW_ASSIGN_OR_RETURN(ossl::PKey key, signer::GenerateKey(signer::KeySpec::EcdsaP256()));
  signer::CertificateTemplate tmpl;
  tmpl.subject.Add("CN", o.dns_names.empty() ? o.ip_addresses.front() : o.dns_names.front());
  tmpl.dns_names = o.dns_names;
  tmpl.ip_addresses = o.ip_addresses;
  CW_ASSIGN_OR_RETURN(tmpl.usages, signer::ParseUsages({"digital signature", "server auth"}));
  // Never past the CA's end (Issue refuses that). The CA is renewed at 2/3 of its life, so the
  // clamp only bites when ca_duration is short.
  const auto left = std::chrono::duration_cast<std::chrono::seconds>(ca.not_after() - o.clock->Now());
  tmpl.duration = std::min(o.serving_duration, left);
  CW_ASSIGN_OR_RETURN(signer::IssuedCertificate leaf, ca.Issue(tmpl, key.get()));
  CW_ASSIGN_OR_RETURN(signer::SecretString key_pem, PrivateKeyPem(key.get()));
  return NewServing{leaf.pem + PemOf(ca.certificate()), std::move(key_pem)};
}

kube::Json DataJson(const std::string& tls_crt, const std::string& tls_key, const std::string& ca_crt,
                    const std::string& ca_key) {
  return {{kTlsCertKey, api::Base64Encode(tls_crt)},
          {kTlsKeyKey, api::Base64Encode(tls_key)},
          {kCaCertKey, api::Base64Encode(ca_crt)},
          {kCaKeyKey, api::Base64Encode(ca_key)}};
}

Status CheckOptions(const ServingOptions& o) {
  if (o.ns.empty()) return InvalidArgument("webhook serving certificate: the namespace is empty");
  if (o.secret_name.empty()) return InvalidArgument("webhook serving certificate: the Secret name is empty");
  if (o.dns_names.empty() && o.ip_addresses.empty()) {
    return InvalidArgument("webhook serving certificate: no DNS name and no IP address to certify");
  }
  // A serving certificate of a minute is for tests of rotation (e2e/webhook_test.sh); renewal at
  // two thirds of it still leaves every pass (resync) time to act.
  if (o.ca_duration <= std::chrono::hours(1) || o.serving_duration < std::chrono::minutes(1)) {
    return InvalidArgument("webhook serving certificate: the CA must live more than 1h and the serving certificate "
                           "at least 1m");
  }
  if (o.serving_duration >= o.ca_duration) {
    return InvalidArgument("webhook serving certificate: the serving certificate must live shorter than its CA");
  }
  if (o.clock == nullptr) return InvalidArgument("webhook serving certificate: no clock");
  if (o.resync <= std::chrono::milliseconds(0)) return InvalidArgument("webhook serving certificate: resync must be positive");
  return Ok();
}

}  // namespace

ServingCertificates::ServingCertificates(std::shared_ptr<kube::Client> client, ServingOptions options)
    : client_(std::move(client)), options_(std::move(options)) {}

Result<std::unique_ptr<ServingCertificates>> ServingCertificates::CreateForTest(std::shared_ptr<kube::Client> client,
                                                                                ServingOptions options) {
  CW_RETURN_IF_ERROR(CheckOptions(options));
  if (!client) return InvalidArgument("webhook serving certificate: no Kubernetes client");
  return std::unique_ptr<ServingCertificates>(new ServingCertificates(std::move(client), std::move(options)));
}

Result<std::unique_ptr<ServingCertificates>> ServingCertificates::Start(std::shared_ptr<kube::Client> client,
                                                                        ServingOptions options) {
  CW_ASSIGN_OR_RETURN(std::unique_ptr<ServingCertificates> self, CreateForTest(std::move(client), std::move(options)));
  CW_RETURN_IF_ERROR(self->SyncOnce());
  self->thread_ = std::thread([s = self.get()] { s->Run(); });
  return self;
}

ServingCertificates::~ServingCertificates() {
  {
    std::lock_guard<std::mutex> lock(stop_mutex_);
    stopping_ = true;
  }
  stop_cv_.notify_all();
  if (thread_.joinable()) thread_.join();
}

void ServingCertificates::Run() {
  // After a failed pass: 1 s, doubling, never longer than resync.
  std::chrono::milliseconds wait = options_.resync;
  std::chrono::milliseconds backoff{1000};
  while (true) {
    {
      std::unique_lock<std::mutex> lock(stop_mutex_);
      if (stop_cv_.wait_for(lock, wait, [this] { return stopping_; })) return;
    }
    if (Status s = SyncOnce(); s.ok()) {
      wait = options_.resync;
      backoff = std::chrono::milliseconds(1000);
    } else {
      spdlog::warn("webhook serving certificate: {} (next try in {} ms)", s.error().message(),
                   std::min(backoff, options_.resync).count());
      wait = std::min(backoff, options_.resync);
      backoff = std::min(backoff * 2, options_.resync);
    }
  }
}

Status ServingCertificates::SyncOnce() {
  std::lock_guard<std::mutex> sync(sync_mutex_);
  Pair pair;
  Status secret = SyncSecret(pair);
  if (!secret.ok()) {
    std::lock_guard<std::mutex> lock(state_mutex_);
    ++consecutive_failures_;
    return secret;
  }
  {
    std::lock_guard<std::mutex> lock(state_mutex_);
    ca_pem_ = pair.ca_pem;
    ca_bundle_pem_ = pair.bundle_pem;
    serving_chain_pem_ = pair.chain_pem;
  }

  // caBundle before the serving pair: the API server trusts a new CA before we present it.
  Status result = Ok();
  const std::string bundle_b64 = api::Base64Encode(pair.bundle_pem);
  const std::pair<const kube::Resource*, const std::string*> configurations[] = {
      {&kValidatingWebhookConfigurations, &options_.validating_configuration},
      {&kMutatingWebhookConfigurations, &options_.mutating_configuration}};
  for (const auto& [resource, name] : configurations) {
    if (name->empty()) continue;
    if (Status s = SyncConfiguration(*resource, *name, bundle_b64); !s.ok() && result.ok()) result = std::move(s);
  }

  if (pair.chain_pem != delivered_chain_ || !pair.key_pem.Equals(delivered_key_.value())) {
    Status delivered = options_.on_serving_certificate
                           ? options_.on_serving_certificate(pair.chain_pem, pair.key_pem.value())
                           : Ok();
    if (delivered.ok()) {
      delivered_chain_ = pair.chain_pem;
      delivered_key_ = std::move(pair.key_pem);
      spdlog::info("webhook serving certificate: Secret {}/{}: serving certificate loaded", options_.ns,
                   options_.secret_name);
    } else if (result.ok()) {
      result = std::move(delivered).error().WithContext("loading the serving certificate");
    }
  }

  std::lock_guard<std::mutex> lock(state_mutex_);
  consecutive_failures_ = result.ok() ? 0 : consecutive_failures_ + 1;
  return result;
}

Status ServingCertificates::SyncSecret(Pair& out) {
  const std::string where = "Secret " + options_.ns + "/" + options_.secret_name;
  for (int attempt = 0; attempt < kMaxSecretAttempts; ++attempt) {
    auto got = client_->Get(kube::resources::kSecrets, options_.ns, options_.secret_name);
    if (!got.ok() && got.error().kind() != ErrorKind::kNotFound) {
      return std::move(got).error().WithContext("reading " + where);
    }
    const bool exists = got.ok();
    const kube::Json existing = exists ? *got : kube::Json::object();
    // The type is immutable: an update could never make it kubernetes.io/tls.
    if (const std::string type = exists ? api::StringAt(existing, "type") : ""; exists && type != "kubernetes.io/tls") {
      return InvalidArgument(where + " has type " + (type.empty() ? "Opaque" : type) +
                             ", not kubernetes.io/tls; delete it and the webhook makes a new one");
    }
    const SecretData data = ReadData(existing);
    const auto now = options_.clock->Now();

    // (1) The CA.
    std::vector<ossl::X509Ptr> bundle = UsableCas(data.ca_crt, now);
    signer::SecretString ca_key_pem(data.ca_key.value());
    std::string why_ca;
    std::optional<signer::CertificateAuthority> ca = CurrentCa(bundle, data.ca_key, *options_.clock, why_ca);
    if (!ca) {
      CW_ASSIGN_OR_RETURN(NewCa made, MakeCa(options_));
      spdlog::info("webhook serving certificate: {}: new CA ({})", where, exists ? why_ca : "the Secret does not exist");
      bundle.insert(bundle.begin(), std::move(made.cert));
      if (bundle.size() > kMaxBundledCas) bundle.resize(kMaxBundledCas);
      ca = std::move(made.ca);
      ca_key_pem = std::move(made.key_pem);
    }
    const std::string bundle_pem = BundlePem(bundle);

    // (2) The serving certificate.
    std::string tls_crt = data.tls_crt;
    signer::SecretString tls_key(data.tls_key.value());
    if (auto why = ServingNeedsIssuance(data, bundle, options_)) {
      CW_ASSIGN_OR_RETURN(NewServing issued, IssueServing(*ca, options_));
      spdlog::info("webhook serving certificate: {}: new serving certificate ({})", where, *why);
      tls_crt = std::move(issued.chain_pem);
      tls_key = std::move(issued.key_pem);
    }

    out.chain_pem = tls_crt;
    out.key_pem.Assign(tls_key.value());
    out.ca_pem = PemOf(ca->certificate());
    out.bundle_pem = bundle_pem;

    // (3) Write only what differs, guarded by the resourceVersion read.
    if (exists && data.tls_crt == tls_crt && data.tls_key.Equals(tls_key.value()) && data.ca_crt == bundle_pem &&
        data.ca_key.Equals(ca_key_pem.value())) {
      return Ok();
    }
    kube::Json new_data = DataJson(tls_crt, tls_key.value(), bundle_pem, ca_key_pem.value());

    Result<kube::Json> written = Error(ErrorKind::kInternal, "");
    if (!exists) {
      kube::Json secret = {
          {"apiVersion", "v1"},
          {"kind", "Secret"},
          {"metadata",
           {{"name", options_.secret_name},
            {"namespace", options_.ns},
            {"labels", {{"app.kubernetes.io/managed-by", "certwright"}, {"app.kubernetes.io/component", "webhook"}}}}},
          {"type", "kubernetes.io/tls"},
          {"data", std::move(new_data)}};
      written = client_->Create(kube::resources::kSecrets, options_.ns, secret);
    } else {
      kube::Json secret = existing;
      if (!secret.contains("data") || !secret["data"].is_object()) secret["data"] = kube::Json::object();
      for (auto& [k, v] : new_data.items()) secret["data"][k] = v;
      written = client_->Update(kube::resources::kSecrets, options_.ns, secret);
    }
    if (written.ok()) return Ok();
    const ErrorKind kind = written.error().kind();
    if (kind == ErrorKind::kAlreadyExists || kind == ErrorKind::kConflict) {
      // Another replica wrote first: read again and take its CA and certificate.
      spdlog::debug("webhook serving certificate: {}: {}; reading it again", where, written.error().message());
      continue;
    }
    return std::move(written).error().WithContext(exists ? "updating " + where : "creating " + where);
  }
  return Conflict(where + ": still changed by someone else after " + std::to_string(kMaxSecretAttempts) +
                  " attempts");
}

Status ServingCertificates::SyncConfiguration(const kube::Resource& resource, const std::string& name,
                                              const std::string& bundle_b64) {
  const std::string where = resource.kind + " " + name;
  auto changed = kube::PatchCaBundles(*client_, resource, name, bundle_b64);
  if (!changed.ok()) {
    if (changed.error().kind() != ErrorKind::kNotFound) return std::move(changed).error();
    // Not installed yet (or deleted): not fatal, the next pass looks again.
    if (std::find(missing_configurations_.begin(), missing_configurations_.end(), where) ==
        missing_configurations_.end()) {
      spdlog::warn("webhook serving certificate: {} does not exist; caBundle is written when it does", where);
      missing_configurations_.push_back(where);
    }
    return Ok();
  }
  std::erase(missing_configurations_, where);
  if (*changed > 0) spdlog::info("webhook serving certificate: {}: caBundle written into {} webhook(s)", where, *changed);
  return Ok();
}

std::string ServingCertificates::ca_pem() const {
  std::lock_guard<std::mutex> lock(state_mutex_);
  return ca_pem_;
}

std::string ServingCertificates::ca_bundle_pem() const {
  std::lock_guard<std::mutex> lock(state_mutex_);
  return ca_bundle_pem_;
}

std::string ServingCertificates::serving_chain_pem() const {
  std::lock_guard<std::mutex> lock(state_mutex_);
  return serving_chain_pem_;
}

int ServingCertificates::consecutive_failures() const {
  std::lock_guard<std::mutex> lock(state_mutex_);
  return consecutive_failures_;
}

}  // namespace certwright::webhook
