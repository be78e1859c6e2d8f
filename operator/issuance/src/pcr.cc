#include "certwright/issuance/pcr.h"

#include <openssl/evp.h>
#include <openssl/x509.h>

#include <algorithm>

#include "certwright/api/meta.h"
#include "certwright/signer/ossl.h"

namespace certwright::issuance::pcr {

namespace {

Refusal Denied(std::string reason, std::string message) { return {"Denied", std::move(reason), std::move(message)}; }
Refusal Invalid(std::string message) { return Denied("InvalidRequest", std::move(message)); }

// A string field of `spec`, "" when absent; false when present with another type.
bool StringField(const kube::Json& spec, const char* field, std::string* out) {
  auto it = spec.find(field);
  if (it == spec.end() || it->is_null()) return true;
  if (!it->is_string()) return false;
  *out = it->get<std::string>();
  return true;
}

// The key type kubelet asked for, as the API names it, or a refusal for the ones certwright does
// not sign for (or that the API does not allow).
std::optional<Refusal> CheckKeyType(EVP_PKEY* key) {
  const int id = EVP_PKEY_get_base_id(key);
  const int bits = EVP_PKEY_get_bits(key);
  std::string what;
  if (id == EVP_PKEY_RSA) {
    if (bits == 3072 || bits == 4096) return std::nullopt;
    what = "RSA " + std::to_string(bits);
  } else if (id == EVP_PKEY_EC) {
    char group[64] = {};
    size_t len = 0;
    if (EVP_PKEY_get_group_name(key, group, sizeof group, &len) != 1) group[0] = '\0';
    const std::string curve(group);
    if (curve == "prime256v1" || curve == "secp384r1") return std::nullopt;
    what = curve == "secp521r1" ? std::string("ECDSAP521") : "ECDSA on curve " + curve;
  } else if (id == EVP_PKEY_ED25519) {
    return std::nullopt;
  } else {
    what = std::string("a ") + (OBJ_nid2sn(id) ? OBJ_nid2sn(id) : "unknown") + " key";
  }
  return Denied("UnsupportedKeyType", what + " is not supported by this signer: use " + kSupportedKeyTypes);
}

// v1beta1's proof of possession: the pod's UID signed with the key (RSASSA-PSS over SHA-256, ECDSA
// over SHA-256 in ASN.1, or Ed25519 over the bytes), as kubelet signs it.
bool VerifyProofOfPossession(EVP_PKEY* key, const std::string& pod_uid, const std::string& proof) {
  ossl::MdCtx ctx(EVP_MD_CTX_new());
  if (!ctx) return false;
  const int id = EVP_PKEY_get_base_id(key);
  EVP_PKEY_CTX* pctx = nullptr;
  const EVP_MD* md = id == EVP_PKEY_ED25519 ? nullptr : EVP_sha256();
  if (EVP_DigestVerifyInit(ctx.get(), &pctx, md, nullptr, key) != 1) return false;
  if (id == EVP_PKEY_RSA) {
    // Go's rsa.SignPSS with nil options: salt as long as fits; VerifyPSS reads its length.
    if (EVP_PKEY_CTX_set_rsa_padding(pctx, RSA_PKCS1_PSS_PADDING) != 1 ||
        EVP_PKEY_CTX_set_rsa_pss_saltlen(pctx, RSA_PSS_SALTLEN_AUTO) != 1) {
      return false;
    }
  }
  return EVP_DigestVerify(ctx.get(), reinterpret_cast<const unsigned char*>(proof.data()), proof.size(),
                          reinterpret_cast<const unsigned char*>(pod_uid.data()), pod_uid.size()) == 1;
}

// The subject key from spec.stubPKCS10Request (v1, and v1beta1 from 1.36), whose signature proves
// possession.
std::variant<signer::SubjectPublicKey, Refusal> KeyFromStub(const std::string& der) {
  const unsigned char* p = reinterpret_cast<const unsigned char*>(der.data());
  ossl::X509Req req(d2i_X509_REQ(nullptr, &p, static_cast<long>(der.size())));
  if (!req || p != reinterpret_cast<const unsigned char*>(der.data()) + der.size()) {
    return Invalid("spec.stubPKCS10Request: is not a DER PKCS#10 request");
  }
  EVP_PKEY* key = X509_REQ_get0_pubkey(req.get());
  if (key == nullptr) return Invalid("spec.stubPKCS10Request: has no readable public key");
  if (auto refusal = CheckKeyType(key)) return *refusal;
  // Parse verifies the request's own signature: the proof of possession.
  auto parsed = signer::CertificateRequest::Parse(der);
  if (!parsed.ok()) return Invalid("spec.stubPKCS10Request: " + parsed.error().message());
  return parsed->subject_key;
}

std::variant<signer::SubjectPublicKey, Refusal> KeyFromProof(const std::string& pkix, const std::string& proof,
                                                            const std::string& pod_uid) {
  const unsigned char* p = reinterpret_cast<const unsigned char*>(pkix.data());
  ossl::PKey key(d2i_PUBKEY(nullptr, &p, static_cast<long>(pkix.size())));
  if (!key || p != reinterpret_cast<const unsigned char*>(pkix.data()) + pkix.size()) {
    return Invalid("spec.pkixPublicKey: is not a DER SubjectPublicKeyInfo");
  }
  if (auto refusal = CheckKeyType(key.get())) return *refusal;
  if (!VerifyProofOfPossession(key.get(), pod_uid, proof)) {
    return Invalid("spec.proofOfPossession: is not a signature of the pod's UID by spec.pkixPublicKey");
  }
  auto subject = signer::SubjectPublicKey::FromPKey(key.get());
  if (!subject.ok()) return Invalid("spec.pkixPublicKey: " + subject.error().message());
  return *subject;
}

// A []byte field: base64 in JSON.
bool BytesField(const kube::Json& spec, const char* field, std::string* out, std::optional<Refusal>* refusal) {
  std::string text;
  if (!StringField(spec, field, &text)) {
    *refusal = Invalid(std::string("spec.") + field + ": must be a base64 string");
    return false;
  }
  auto decoded = api::Base64Decode(text);
  if (!decoded) {
    *refusal = Invalid(std::string("spec.") + field + ": is not base64");
    return false;
  }
  *out = std::move(*decoded);
  return true;
}

}  // namespace

std::variant<Request, Refusal> Read(const kube::Json& pcr) {
  if (!pcr.is_object()) return Invalid("the object is not a JSON object");
  const kube::Json none = kube::Json::object();
  const kube::Json& metadata = pcr.contains("metadata") && pcr["metadata"].is_object() ? pcr["metadata"] : none;
  const kube::Json& spec = pcr.contains("spec") && pcr["spec"].is_object() ? pcr["spec"] : none;
  Request r;
  r.ns = api::StringAt(metadata, "namespace");
  r.name = api::StringAt(metadata, "name");
  struct {
    const char* field;
    std::string* out;
  } strings[] = {{"signerName", &r.signer_name},        {"podName", &r.pod_name},
                 {"podUID", &r.pod_uid},                {"serviceAccountName", &r.service_account},
                 {"serviceAccountUID", &r.service_account_uid}, {"nodeName", &r.node_name}};
  for (const auto& s : strings) {
    if (!StringField(spec, s.field, s.out)) return Invalid(std::string("spec.") + s.field + ": must be a string");
    if (s.out->empty()) return Invalid(std::string("spec.") + s.field + ": is required");
  }
  if (auto it = spec.find("maxExpirationSeconds"); it != spec.end() && !it->is_null()) {
    if (!it->is_number_integer()) return Invalid("spec.maxExpirationSeconds: must be an integer");
    const long long seconds = it->get<long long>();
    if (seconds < kMinLifetime.count() || seconds > 7862400) {
      return Invalid("spec.maxExpirationSeconds: " + std::to_string(seconds) + " is outside 3600..7862400");
    }
    r.max_expiration = std::chrono::seconds(seconds);
  }

  std::optional<Refusal> refusal;
  std::string stub, pkix, proof;
  if (!BytesField(spec, "stubPKCS10Request", &stub, &refusal) || !BytesField(spec, "pkixPublicKey", &pkix, &refusal) ||
      !BytesField(spec, "proofOfPossession", &proof, &refusal)) {
    return *refusal;
  }
  std::variant<signer::SubjectPublicKey, Refusal> key;
  if (!stub.empty()) {
    if (!pkix.empty() || !proof.empty()) {
      return Invalid("spec.pkixPublicKey and spec.proofOfPossession must be empty when spec.stubPKCS10Request is set");
    }
    key = KeyFromStub(stub);
  } else if (!pkix.empty() && !proof.empty()) {
    key = KeyFromProof(pkix, proof, r.pod_uid);
  } else {
    return Invalid("spec.stubPKCS10Request is required (or, from kubelets before 1.36, spec.pkixPublicKey with "
                   "spec.proofOfPossession)");
  }
  if (auto* k = std::get_if<Refusal>(&key)) return *k;
  r.subject_key = std::get<signer::SubjectPublicKey>(std::move(key));

  if (auto it = spec.find("unverifiedUserAnnotations"); it != spec.end() && !it->is_null()) {
    if (!it->is_object()) return Invalid("spec.unverifiedUserAnnotations: must be a map of strings");
    for (const auto& [k, v] : it->items()) {
      if (k != kDnsNamesAnnotation) {
        return Invalid("spec.unverifiedUserAnnotations: \"" + k + "\" is not a key this signer reads (only " +
                       std::string(kDnsNamesAnnotation) + ")");
      }
      if (!v.is_string()) return Invalid("spec.unverifiedUserAnnotations[" + k + "]: must be a string");
      r.dns_names = api::SplitList(v.get<std::string>());
    }
  }
  return r;
}

std::string SpiffeId(const std::string& trust_domain, const Request& request) {
  return "spiffe://" + trust_domain + "/ns/" + request.ns + "/sa/" + request.service_account;
}

signer::CertificateTemplate TemplateFor(const Request& request, const api::PodCertificatesSpec& spec,
                                        std::optional<std::chrono::system_clock::time_point> ca_not_before,
                                        std::chrono::system_clock::time_point now) {
  signer::CertificateTemplate tmpl;
  tmpl.uris = {SpiffeId(spec.trust_domain, request)};
  tmpl.dns_names = request.dns_names;
  // The usage names are known ones: ParseUsages cannot fail on them.
  tmpl.usages = *signer::ParseUsages({"digital signature", "key encipherment", "server auth", "client auth"});
  tmpl.backdate = spec.backdate;
  if (ca_not_before) {
    const auto room = std::chrono::floor<std::chrono::seconds>(now - *ca_not_before);
    tmpl.backdate = std::clamp(room, std::chrono::seconds(0), spec.backdate);
  }
  // The lifetime (from notBefore) is the duration plus the backdate: keep it within the maximum.
  tmpl.duration = request.max_expiration - tmpl.backdate;
  return tmpl;
}

IssuanceRequest IssuanceRequestFor(const Request& request, std::shared_ptr<const IssuerHandle> issuer,
                                   signer::CertificateTemplate tmpl) {
  IssuanceRequest issue;
  issue.door = Door::kPodCertificateRequest;
  issue.ns = request.ns;
  issue.name = request.pod_name;
  issue.object = "PodCertificateRequest " + request.ns + "/" + request.name;
  issue.requester = Requester::FromUser("system:serviceaccount:" + request.ns + ":" + request.service_account,
                                        {"system:serviceaccounts", "system:serviceaccounts:" + request.ns});
  issue.issuer = std::move(issuer);
  issue.subject_key = request.subject_key;
  issue.duration_floor = kMinLifetime - tmpl.backdate;
  issue.tmpl = std::move(tmpl);
  issue.audit_details = {{"signerName", request.signer_name},
                         {"pod", request.ns + "/" + request.pod_name},
                         {"podUID", request.pod_uid},
                         {"node", request.node_name}};
  return issue;
}

std::optional<Refusal> CheckDnsNamesGranted(const Request& request, const signer::policy::PolicyDecision& decision) {
  if (request.dns_names.empty() || !decision.policy.empty()) return std::nullopt;
  return Denied("PolicyDenied", "DNS names (" + std::string(kDnsNamesAnnotation) +
                                    ") need a CertificatePolicy that selects ServiceAccount " + request.ns + "/" +
                                    request.service_account + " and allows them (allowed.dnsNames); none does");
}

std::optional<signer::KeySpec> KeySpecOfType(std::string_view key_type) {
  if (key_type == "ECDSAP256") return signer::KeySpec::EcdsaP256();
  if (key_type == "ECDSAP384") return signer::KeySpec::EcdsaP384();
  if (key_type == "ED25519") return signer::KeySpec::Ed25519();
  if (key_type == "RSA3072") return signer::KeySpec::Rsa(3072);
  if (key_type == "RSA4096") return signer::KeySpec::Rsa(4096);
  return std::nullopt;
}

std::optional<Refusal> CheckIssuerLifetime(const IssuerHandle& issuer, std::chrono::system_clock::time_point now) {
  using std::chrono::seconds;
  const auto backdate = issuer.spec.pod_certificates.backdate;
  if (issuer.spec.max_duration && *issuer.spec.max_duration + backdate < kMinLifetime) {
    return Refusal{"Failed", "LifetimeTooShort",
                   issuer.Describe() + " signs for at most " + std::to_string(issuer.spec.max_duration->count()) +
                       " s (maxDuration), and pod certificates must live at least 3600 s"};
  }
  if (issuer.ca) {
    const auto left = std::chrono::duration_cast<seconds>(issuer.ca->not_after() - now);
    if (left + backdate < kMinLifetime) {
      return Refusal{"Failed", "LifetimeTooShort",
                     issuer.Describe() + "'s CA certificate expires in " + std::to_string(left.count()) +
                         " s, and pod certificates must live at least 3600 s"};
    }
  }
  return std::nullopt;
}

std::optional<Refusal> CheckIssued(const Request& request, const signer::IssuedCertificate& issued) {
  const auto lifetime = std::chrono::duration_cast<std::chrono::seconds>(issued.not_after - issued.not_before);
  if (lifetime < kMinLifetime) {
    return Refusal{"Failed", "LifetimeTooShort",
                   "the issuer can sign only " + std::to_string(lifetime.count()) +
                       " s (its maxDuration, a CertificatePolicy's or its CA's end), and pod certificates must live "
                       "at least 3600 s"};
  }
  if (lifetime > request.max_expiration) {
    return Refusal{"Failed", "LifetimeTooLong",
                   "the certificate would live " + std::to_string(lifetime.count()) +
                       " s, more than spec.maxExpirationSeconds " + std::to_string(request.max_expiration.count())};
  }
  return std::nullopt;
}

kube::Json IssuedStatus(const signer::IssuedCertificate& issued, const api::PodCertificatesSpec& spec,
                        std::chrono::system_clock::time_point now, long long generation) {
  using std::chrono::minutes;
  auto refresh = spec.refresh_before ? issued.not_after - *spec.refresh_before
                                     : issued.not_before + (issued.not_after - issued.not_before) * 2 / 3;
  refresh = std::clamp(refresh, issued.not_before + minutes(10), issued.not_after - minutes(10));
  const std::string when = api::FormatTime(now);
  return {{"certificateChain", issued.chain_pem},
          {"notBefore", api::FormatTime(issued.not_before)},
          {"notAfter", api::FormatTime(issued.not_after)},
          {"beginRefreshAt", api::FormatTime(std::chrono::time_point_cast<std::chrono::seconds>(refresh))},
          {"conditions",
           kube::Json::array({{{"type", "Issued"},
                               {"status", "True"},
                               {"reason", "Issued"},
                               {"message", "serial " + issued.serial_hex},
                               {"observedGeneration", generation},
                               {"lastTransitionTime", when}}})}};
}

kube::Json RefusedStatus(const Refusal& refusal, std::chrono::system_clock::time_point now, long long generation) {
  return {{"conditions", kube::Json::array({{{"type", refusal.condition},
                                             {"status", "True"},
                                             {"reason", refusal.reason},
                                             {"message", refusal.message},
                                             {"observedGeneration", generation},
                                             {"lastTransitionTime", api::FormatTime(now)}}})}};
}

std::string Answer(const kube::Json& pcr) {
  const auto status = pcr.find("status");
  if (status == pcr.end() || !status->is_object()) return "";
  const auto conditions = status->find("conditions");
  if (conditions == status->end() || !conditions->is_array()) return "";
  for (const auto& c : *conditions) {
    const std::string type = api::StringAt(c, "type");
    if ((type == "Issued" || type == "Denied" || type == "Failed") && api::StringAt(c, "status") == "True") return type;
  }
  return "";
}

}  // namespace certwright::issuance::pcr
