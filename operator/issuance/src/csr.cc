#include "certwright/issuance/csr.h"

#include <algorithm>
#include <set>

#include "certwright/api/meta.h"

namespace certwright::issuance::csr {

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


IssuerName IssuerOf(const SignerTarget& target, const std::string& kubernetes_signers_issuer) {
  switch (target.kind) {
    case SignerTarget::Kind::kIssuer: return {"Issuer", target.ns, target.name};
    case SignerTarget::Kind::kClusterIssuer: return {"ClusterIssuer", "", target.name};
    default: break;
  }
  const std::string& key = kubernetes_signers_issuer;
  IssuerName out;
  out.kind = key.rfind("ClusterIssuer/", 0) == 0 ? "ClusterIssuer" : "Issuer";
  const auto slash = key.find('/');
  const std::string rest = slash == std::string::npos ? std::string() : key.substr(slash + 1);
  if (out.kind == "Issuer") {
    const auto second = rest.find('/');
    out.ns = rest.substr(0, second);
    out.name = second == std::string::npos ? std::string() : rest.substr(second + 1);
  } else {
    out.name = rest;
  }
  return out;
}

std::string InvalidSignerNameMessage(std::string_view signer_name) {
  return "signerName \"" + std::string(signer_name) + "\" is not of the form issuers.certwright.dev/<namespace>.<name>";
}

std::string ReferenceWildcard(const SignerTarget& target) {
  switch (target.kind) {
    case SignerTarget::Kind::kIssuer: return "issuers.certwright.dev/*";
    case SignerTarget::Kind::kClusterIssuer: return "clusterissuers.certwright.dev/*";
    default: return "";
  }
}

Result<bool> MayReference(kube::Client& client, const kube::Json& user, const std::string& ns,
                          const std::string& signer_name, const std::string& wildcard) {
  const kube::Json none = kube::Json::object();
  const kube::Json& u = user.is_object() ? user : none;
  for (const std::string& name : {signer_name, wildcard}) {
    if (name.empty()) continue;
    kube::Json review = {
        {"apiVersion", "authorization.k8s.io/v1"},
        {"kind", "SubjectAccessReview"},
        {"spec",
         {{"user", api::StringAt(u, "username")},
          {"resourceAttributes",
           {{"group", "certwright.dev"}, {"resource", "signers"}, {"verb", "reference"}, {"name", name}}}}},
    };
    // Only strings are copied: a value the caller nested 80,000 levels deep would overflow the
    // stack in a recursive copy (this reads an AdmissionReview's userInfo too).
    if (auto it = u.find("groups"); it != u.end() && it->is_array()) {
      kube::Json groups = kube::Json::array();
      for (const auto& g : *it) {
        if (g.is_string()) groups.push_back(g);
      }
      review["spec"]["groups"] = std::move(groups);
    }
    // An Issuer's signer is checked in its namespace, so a Role there can grant it (as with
    // cert-manager); a ClusterIssuer's needs a ClusterRole.
    if (!ns.empty()) review["spec"]["resourceAttributes"]["namespace"] = ns;
    if (auto it = u.find("uid"); it != u.end() && it->is_string()) review["spec"]["uid"] = *it;
    if (auto it = u.find("extra"); it != u.end() && it->is_object()) {
      kube::Json extra = kube::Json::object();
      for (const auto& [key, values] : it->items()) {
        if (!values.is_array()) continue;
        kube::Json strings = kube::Json::array();
        for (const auto& v : values) {
          if (v.is_string()) strings.push_back(v);
        }
        extra[key] = std::move(strings);
      }
      review["spec"]["extra"] = std::move(extra);
    }
    auto answer = client.Create(kube::resources::kSubjectAccessReviews, "", review);
    if (!answer.ok()) return std::move(answer).error().WithContext("SubjectAccessReview");
    const kube::Json* status = nullptr;
    if (auto it = answer->find("status"); it != answer->end() && it->is_object()) status = &*it;
    if (status != nullptr) {
      if (auto allowed = status->find("allowed"); allowed != status->end() && allowed->is_boolean() && allowed->get<bool>()) {
        return true;
      }
    }
  }
  return false;
}

std::string MissingReferenceMessage(std::string_view user, const IssuerName& issuer, std::string_view signer_name) {
  return "user \"" + std::string(user) + "\" may not use " + issuer.Describe() +
         ": it needs the verb \"reference\" on resource \"signers\" of group certwright.dev for \"" +
         std::string(signer_name) + "\"";
}

Result<Request> RequestOf(const kube::Json& spec) {
  if (!spec.is_object()) return InvalidArgument("spec: must be an object");
  Request r;
  if (auto it = spec.find("signerName"); it != spec.end() && !it->is_null()) {
    if (!it->is_string()) return InvalidArgument("spec.signerName: must be a string");
    r.signer_name = it->get<std::string>();
  }
  if (auto it = spec.find("request"); it != spec.end() && !it->is_null()) {
    if (!it->is_string()) return InvalidArgument("spec.request: must be a string (base64 of a PEM CERTIFICATE REQUEST)");
    auto pem = api::Base64Decode(it->get<std::string>());
    if (!pem) return InvalidArgument("spec.request: is not base64");
    r.request_pem = std::move(*pem);
  }
  if (auto it = spec.find("usages"); it != spec.end() && !it->is_null()) {
    if (!it->is_array()) return InvalidArgument("spec.usages: must be a list of strings");
    for (size_t i = 0; i < it->size(); ++i) {
      if (!(*it)[i].is_string()) return InvalidArgument("spec.usages[" + std::to_string(i) + "]: must be a string");
      r.usages.push_back((*it)[i].get<std::string>());
    }
  }
  if (auto it = spec.find("expirationSeconds"); it != spec.end() && !it->is_null()) {
    if (!it->is_number_integer()) return InvalidArgument("spec.expirationSeconds: must be an integer");
    r.expiration_seconds = it->get<long long>();
  }
  return r;
}

Requester RequesterOf(const kube::Json& user) {
  std::vector<std::string> groups;
  if (user.is_object()) {
    if (auto it = user.find("groups"); it != user.end() && it->is_array()) {
      for (const auto& g : *it) {
        if (g.is_string()) groups.push_back(g.get<std::string>());
      }
    }
  }
  return Requester::FromUser(api::StringAt(user, "username"), std::move(groups));
}

IssuanceRequest IssuanceRequestFor(const SignerTarget& target, const Request& request, const std::string& csr_name,
                                   Requester requester, std::shared_ptr<const IssuerHandle> issuer,
                                   signer::CertificateTemplate tmpl, const signer::SubjectPublicKey& subject_key) {
  const bool drop_in =
      target.kind == SignerTarget::Kind::kKubernetesClient || target.kind == SignerTarget::Kind::kKubeletServing;
  IssuanceRequest issue;
  issue.door = drop_in ? Door::kKubernetesSigner : Door::kCertificateSigningRequest;
  issue.requester = std::move(requester);
  // The request's namespace ({{namespace}}, namespace selectors) is the requesting ServiceAccount's:
  // a team-b ServiceAccount that team-a let use its Issuer still asks as team-b. Other users' CSRs
  // belong to the Issuer's namespace (none for a ClusterIssuer).
  issue.ns = issue.requester.service_account ? issue.requester.service_account->first
             : issuer && issuer->kind == "Issuer" ? issuer->ns
                                                  : "";
  issue.name = csr_name;
  issue.object = "CertificateSigningRequest " + csr_name;
  issue.issuer = std::move(issuer);
  issue.tmpl = std::move(tmpl);
  issue.subject_key = subject_key;
  issue.audit_details = {{"signerName", request.signer_name}};
  issue.duration_floor = std::chrono::seconds(600);  // certificates.k8s.io documents 10 minutes
  if (drop_in) issue.default_max_duration = std::chrono::hours(24 * 365);  // kube-controller-manager's default
  return issue;
}

}  // namespace certwright::issuance::csr
