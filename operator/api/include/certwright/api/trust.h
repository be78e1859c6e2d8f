// Trust distribution (docs/trust.md): the TrustBundle resource (certwright.dev/v1alpha1,
// cluster-scoped) and the CA-injection annotations.
//
//   auto spec = api::ParseTrustBundleSpec(object["spec"]);   // "spec.sources[1]: set exactly one of ..."
//   if (spec->Selects(ns, labels)) ...
//
// ParseTrustBundleSpec() checks what the CRD schema and its CEL rules check, with the same
// messages prefixed by the field path, and parses inLine PEM, so a spec it accepts can only fail
// on what it names elsewhere (a missing ConfigMap, an issuer that is not Ready).
#pragma once

#include <map>
#include <optional>
#include <string>
#include <vector>

#include "certwright/api/meta.h"
#include "certwright/signer/policy.h"

namespace certwright::api {

namespace resources {
inline const kube::Resource kTrustBundles{"certwright.dev", "v1alpha1", "trustbundles", "TrustBundle", false};
}  // namespace resources

namespace annotations {
// On a ValidatingWebhookConfiguration, MutatingWebhookConfiguration, CustomResourceDefinition or
// APIService: "<namespace>/<certificate>" (the ca.crt of its Secret) or "[<namespace>/]<issuer>"
// (a ClusterIssuer, or an Issuer with the namespace: the issuer's CA) goes into caBundle.
inline constexpr const char* kInjectCaFrom = "certwright.dev/inject-ca-from";
inline constexpr const char* kInjectCaFromIssuer = "certwright.dev/inject-ca-from-issuer";
// On every ConfigMap and Secret a TrustBundle writes: the bundle's name.
inline constexpr const char* kTrustBundleLabel = "certwright.dev/trust-bundle";
// SHA-256 of what the target holds (PEM and formats): written only when it changes.
inline constexpr const char* kTrustBundleHash = "certwright.dev/trust-bundle-hash";
}  // namespace annotations

// The password JKS and PKCS#12 outputs get when no passwordSecretRef is set (keytool's and
// trust-manager's default).
inline constexpr const char* kDefaultTrustStorePassword = "changeit";
// Debian's ca-certificates set, in the controller's image (useDefaultCAs).
inline constexpr const char* kDefaultCaFile = "/etc/ssl/certs/ca-certificates.crt";

struct SecretKeySelector {
  std::string name;
  std::string key;
};

struct TrustSource {
  enum class Type { kIssuer, kConfigMap, kSecret, kInLine, kDefaultCAs };
  Type type = Type::kInLine;
  // kIssuer: kind ClusterIssuer (default) or Issuer (namespace required).
  std::string issuer_kind, issuer_name, issuer_namespace;
  // kConfigMap, kSecret: in the trust namespace (the controller's --cluster-resource-namespace).
  std::string name, key;
  // kInLine
  std::string pem;
  // "spec.sources[2] (ConfigMap certwright/extra-roots key ca.crt)"-style name for messages.
  std::string Describe(const std::string& trust_namespace) const;
};

struct TrustFormat {
  std::string key;
  std::optional<SecretKeySelector> password;  // nullopt: kDefaultTrustStorePassword
};

struct TrustBundleSpec {
  std::vector<TrustSource> sources;
  // Target data keys; at least one of them is set.
  std::optional<std::string> configmap_key, secret_key;
  std::optional<TrustFormat> jks, pkcs12;
  // Namespaces: by exact name and/or labels; none of these set selects every namespace.
  std::vector<std::string> namespace_names;
  std::map<std::string, std::string> match_labels;
  std::vector<signer::policy::LabelSelectorRequirement> match_expressions;

  bool Selects(const std::string& ns, const std::map<std::string, std::string>& labels) const;
  // "ClusterIssuer/corp-ca", "Issuer/team-a/web-ca" of every issuer source (IssuerStore keys).
  std::vector<std::string> IssuerKeys() const;
};

// `spec` is the TrustBundle's .spec. Errors are kInvalidArgument with the field path.
Result<TrustBundleSpec> ParseTrustBundleSpec(const Json& spec);

// The value of an inject-ca-from annotation: "<namespace>/<name>".
struct ObjectRef {
  std::string ns, name;
};
Result<ObjectRef> ParseInjectCaFrom(std::string_view value);
// The value of inject-ca-from-issuer: "<name>" (ClusterIssuer) or "<namespace>/<name>" (Issuer);
// returns the IssuerStore key ("ClusterIssuer/<name>", "Issuer/<ns>/<name>").
Result<std::string> ParseInjectCaFromIssuer(std::string_view value);

}  // namespace certwright::api
