// Which API resource a call is about: group, version, plural, and whether it is namespaced.
#pragma once

#include <string>

namespace certwright::kube {

struct Resource {
  std::string group;     // "" for the core group
  std::string version;   // "v1"
  std::string plural;    // "configmaps"
  std::string kind;      // "ConfigMap"
  bool namespaced = true;

  std::string ApiVersion() const { return group.empty() ? version : group + "/" + version; }
  // /api/v1 or /apis/<group>/<version>
  std::string Prefix() const { return group.empty() ? "/api/" + version : "/apis/" + group + "/" + version; }
  // The collection path, in a namespace when namespaced and `ns` is non-empty (else cluster-wide).
  std::string Path(const std::string& ns, const std::string& name = "", const std::string& subresource = "") const;
};

namespace resources {
inline const Resource kNamespaces{"", "v1", "namespaces", "Namespace", false};
inline const Resource kConfigMaps{"", "v1", "configmaps", "ConfigMap", true};
inline const Resource kSecrets{"", "v1", "secrets", "Secret", true};
inline const Resource kServiceAccounts{"", "v1", "serviceaccounts", "ServiceAccount", true};
inline const Resource kLeases{"coordination.k8s.io", "v1", "leases", "Lease", true};
inline const Resource kEvents{"events.k8s.io", "v1", "events", "Event", true};
inline const Resource kCertificateSigningRequests{"certificates.k8s.io", "v1", "certificatesigningrequests",
                                                  "CertificateSigningRequest", false};
// Kubernetes 1.37's; 1.35-1.36 serve only v1beta1 (behind the PodCertificateRequest gate).
inline const Resource kPodCertificateRequests{"certificates.k8s.io", "v1", "podcertificaterequests",
                                              "PodCertificateRequest", true};
inline const Resource kPodCertificateRequestsV1beta1{"certificates.k8s.io", "v1beta1", "podcertificaterequests",
                                                     "PodCertificateRequest", true};
inline const Resource kClusterTrustBundles{"certificates.k8s.io", "v1", "clustertrustbundles", "ClusterTrustBundle",
                                          false};
inline const Resource kSubjectAccessReviews{"authorization.k8s.io", "v1", "subjectaccessreviews",
                                            "SubjectAccessReview", false};
// The kinds whose clients (the API server itself) trust a CA given in a caBundle field
// (kube/ca_bundle.h).
inline const Resource kValidatingWebhookConfigurations{"admissionregistration.k8s.io", "v1",
                                                       "validatingwebhookconfigurations",
                                                       "ValidatingWebhookConfiguration", false};
inline const Resource kMutatingWebhookConfigurations{"admissionregistration.k8s.io", "v1",
                                                     "mutatingwebhookconfigurations", "MutatingWebhookConfiguration",
                                                     false};
inline const Resource kCustomResourceDefinitions{"apiextensions.k8s.io", "v1", "customresourcedefinitions",
                                                 "CustomResourceDefinition", false};
inline const Resource kApiServices{"apiregistration.k8s.io", "v1", "apiservices", "APIService", false};
}  // namespace resources

}  // namespace certwright::kube
