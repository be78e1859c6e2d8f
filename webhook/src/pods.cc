// POST /mutate for Pods: certificates by annotation (docs/pod-certificates.md).
//
// A pod annotated certwright.dev/issuer: ClusterIssuer/<name> (or Issuer/<name>, in the pod's
// namespace) gets a projected volume "certwright-identity" with
//   - a podCertificate source for that issuer's signer name (kubelet makes the key on the node and
//     asks with a PodCertificateRequest; the controller signs), written to credentials.pem (key,
//     then chain), and
//   - a clusterTrustBundle source for the same signer (the issuer's root, which the controller
//     publishes), written to ca.crt,
// mounted read-only into the chosen containers. Optional annotations:
//   certwright.dev/key-type     ECDSAP256 (default), ECDSAP384, ED25519, RSA3072, RSA4096
//   certwright.dev/lifetime     a Go duration from 1h to 2184h (maxExpirationSeconds; default 24h)
//   certwright.dev/mount-path   where (default /var/run/secrets/certwright.dev/identity)
//   certwright.dev/containers   which containers, comma-separated (default: all of spec.containers)
//   certwright.dev/dns-names    DNS names to ask for (granted only by a CertificatePolicy)
// Refused, with the annotation named: an unknown issuer, a ServiceAccount a policy does not let use
// it, a cluster without the PodCertificateRequest API, an annotation value that is wrong.
// Idempotent: a pod that has the volume (reinvocation, or a pod made from a template that had it)
// gets no second one, and a container that mounts it no second mount.
#include <algorithm>

#include "certwright/issuance/pcr.h"
#include "certwright/signer/duration.h"
#include "review.h"

namespace certwright::webhook::internal {

namespace pcr = issuance::pcr;

namespace {

constexpr const char* kVolumeName = "certwright-identity";
constexpr const char* kDefaultMountPath = "/var/run/secrets/certwright.dev/identity";

std::string Annotation(const Json& pod, const std::string& key) {
  const Json* metadata = Member(pod, "metadata");
  const Json* annotations = metadata ? Member(*metadata, "annotations") : nullptr;
  const Json* value = annotations && annotations->is_object() ? Member(*annotations, key) : nullptr;
  return value && value->is_string() ? value->get<std::string>() : std::string();
}

bool HasNamed(const Json* list, const std::string& name) {
  if (list == nullptr || !list->is_array()) return false;
  return std::any_of(list->begin(), list->end(),
                     [&](const Json& item) { return item.is_object() && api::StringAt(item, "name") == name; });
}

}  // namespace

Verdict PodIdentity(const Review& r, const AdmissionContext& context) {
  const Json& pod = *r.object;
  const std::string issuer_ref = Annotation(pod, "certwright.dev/issuer");
  if (issuer_ref.empty()) return Verdict::Allow();  // not asked for
  const std::string where = "metadata.annotations[certwright.dev/issuer]";
  const auto slash = issuer_ref.find('/');
  const std::string kind = slash == std::string::npos ? "" : issuer_ref.substr(0, slash);
  const std::string name = slash == std::string::npos ? "" : issuer_ref.substr(slash + 1);
  if ((kind != "ClusterIssuer" && kind != "Issuer") || name.empty() || name.find('/') != std::string::npos) {
    return Verdict::Invalid(where + ": " + Quote(issuer_ref) + " must be ClusterIssuer/<name> or Issuer/<name>");
  }
  if (!context.pod_certificates) {
    return Verdict::Forbidden(where + ": this cluster serves no PodCertificateRequest API (certificates.k8s.io/v1 "
                                      "in Kubernetes 1.37; v1beta1 behind a feature gate in 1.35-1.36), so kubelet "
                                      "cannot ask for the pod's certificate");
  }
  const std::string ns = NamespaceOf(r);
  const KnownIssuer issuer = LookUpIssuer(context, kind, ns, name);
  if (!issuer.handle) return Verdict::Forbidden(where + ": " + issuer.why_not);

  const std::string key_type_text = Annotation(pod, "certwright.dev/key-type");
  const std::string key_type = key_type_text.empty() ? "ECDSAP256" : key_type_text;
  const auto key = pcr::KeySpecOfType(key_type);
  if (!key) {
    return Verdict::Invalid("metadata.annotations[certwright.dev/key-type]: " + Quote(key_type) + " is not one of " +
                            pcr::kSupportedKeyTypes);
  }
  std::optional<std::chrono::seconds> lifetime;
  if (const std::string text = Annotation(pod, "certwright.dev/lifetime"); !text.empty()) {
    auto parsed = ParseDuration(text);
    if (!parsed.ok() || *parsed < pcr::kMinLifetime || *parsed > std::chrono::seconds(7862400)) {
      return Verdict::Invalid("metadata.annotations[certwright.dev/lifetime]: " + Quote(text) +
                              " must be a duration from 1h to 2184h (91 days)");
    }
    lifetime = *parsed;
  }
  const std::string mount_text = Annotation(pod, "certwright.dev/mount-path");
  const std::string mount_path = mount_text.empty() ? kDefaultMountPath : mount_text;
  // ".." as any element ("/a/../b", "/a/.."), as the API server's volumeMounts validation.
  bool dot_dot = false;
  for (size_t start = 0; start <= mount_path.size() && !dot_dot;) {
    const size_t end = std::min(mount_path.find('/', start), mount_path.size());
    dot_dot = mount_path.compare(start, end - start, "..") == 0;
    start = end + 1;
  }
  if (mount_path.front() != '/' || mount_path.find(':') != std::string::npos || dot_dot || mount_path.size() > 1024) {
    return Verdict::Invalid("metadata.annotations[certwright.dev/mount-path]: " + Quote(mount_path) +
                            " must be an absolute path without ':' or '..'");
  }
  const Json& spec = SpecOf(pod);
  const Json* containers = Member(spec, "containers");
  if (containers == nullptr || !containers->is_array()) return Verdict::Allow();  // the API server says what is wrong
  std::vector<size_t> chosen;
  if (const std::string text = Annotation(pod, "certwright.dev/containers"); !text.empty()) {
    for (const std::string& wanted : api::SplitList(text)) {
      size_t i = 0;
      while (i < containers->size() && api::StringAt((*containers)[i], "name") != wanted) ++i;
      if (i == containers->size()) {
        return Verdict::Invalid("metadata.annotations[certwright.dev/containers]: the pod has no container " +
                                Quote(wanted));
      }
      chosen.push_back(i);
    }
  } else {
    for (size_t i = 0; i < containers->size(); ++i) chosen.push_back(i);
  }
  const std::vector<std::string> dns_names = api::SplitList(Annotation(pod, pcr::kDnsNamesAnnotation));

  // Whether this pod's ServiceAccount may have a certificate from the issuer, as the signer will
  // judge its PodCertificateRequest.
  const std::string signer_name =
      kind == "Issuer" ? "issuers.certwright.dev/" + ns + "." + name : "clusterissuers.certwright.dev/" + name;
  if (context.issuance != nullptr) {
    pcr::Request request;
    request.ns = ns;
    request.name = r.ObjectName();
    request.pod_name = r.ObjectName();
    request.signer_name = signer_name;
    request.service_account = api::StringAt(spec, "serviceAccountName");
    if (request.service_account.empty()) request.service_account = "default";
    if (lifetime) request.max_expiration = *lifetime;
    request.subject_key.spec = *key;
    request.dns_names = dns_names;
    auto issue = pcr::IssuanceRequestFor(request, issuer.handle,
                                         pcr::TemplateFor(request, issuer.handle->spec.pod_certificates));
    signer::policy::PolicyDecision decision;
    auto decided = context.issuance->Decide(issue, &decision);
    if (!decided.ok()) {
      if (decided.error().kind() == ErrorKind::kPolicyDenied || decided.error().kind() == ErrorKind::kInvalidArgument) {
        return Verdict::Forbidden(where + ": ServiceAccount " + ns + "/" + request.service_account +
                                  " may not have a certificate from " + issuer.handle->Describe() + ": " +
                                  decided.error().message());
      }
    } else if (auto refusal = pcr::CheckDnsNamesGranted(request, decision)) {
      return Verdict::Forbidden("metadata.annotations[" + std::string(pcr::kDnsNamesAnnotation) + "]: " + refusal->message);
    }
  }

  Json patch = Json::array();
  const Json* volumes = Member(spec, "volumes");
  if (!HasNamed(volumes, kVolumeName)) {
    Json pod_certificate = {{"signerName", signer_name}, {"keyType", key_type}, {"credentialBundlePath", "credentials.pem"}};
    if (lifetime) pod_certificate["maxExpirationSeconds"] = lifetime->count();
    if (!dns_names.empty()) {
      pod_certificate["userAnnotations"] = {{pcr::kDnsNamesAnnotation, Annotation(pod, pcr::kDnsNamesAnnotation)}};
    }
    const Json volume = {
        {"name", kVolumeName},
        {"projected",
         {{"sources",
           Json::array({{{"podCertificate", pod_certificate}},
                        {{"clusterTrustBundle",
                          {{"signerName", signer_name}, {"labelSelector", Json::object()}, {"path", "ca.crt"}}}}})}}}};
    if (volumes == nullptr || !volumes->is_array()) {
      patch.push_back({{"op", "add"}, {"path", "/spec/volumes"}, {"value", Json::array({volume})}});
    } else {
      patch.push_back({{"op", "add"}, {"path", "/spec/volumes/-"}, {"value", volume}});
    }
  }
  const Json mount = {{"name", kVolumeName}, {"mountPath", mount_path}, {"readOnly", true}};
  for (size_t i : chosen) {
    const Json& container = (*containers)[i];
    if (!container.is_object()) continue;
    const Json* mounts = Member(container, "volumeMounts");
    if (HasNamed(mounts, kVolumeName)) continue;
    const std::string base = "/spec/containers/" + std::to_string(i) + "/volumeMounts";
    if (mounts == nullptr || !mounts->is_array()) {
      patch.push_back({{"op", "add"}, {"path", base}, {"value", Json::array({mount})}});
    } else {
      patch.push_back({{"op", "add"}, {"path", base + "/-"}, {"value", mount}});
    }
  }
  Verdict verdict = Verdict::Allow();
  if (!patch.empty()) verdict.patch = std::move(patch);
  return verdict;
}

}  // namespace certwright::webhook::internal
