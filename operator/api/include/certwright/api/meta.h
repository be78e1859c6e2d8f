// What every certwright resource shares: the API group, the resources, time stamps and
// status conditions (Kubernetes API conventions: metav1.Condition).
//
//   api::Conditions conditions(status["conditions"]);
//   bool changed = conditions.Set({"Ready", "True", "Issued", "Certificate is up to date"}, generation, now);
#pragma once

#include <chrono>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "certwright/kube/client.h"
#include "certwright/kube/resource.h"
#include "certwright/signer/result.h"

namespace certwright::api {

using Json = kube::Json;
using TimePoint = std::chrono::system_clock::time_point;

inline constexpr std::string_view kGroup = "certwright.dev";
inline constexpr std::string_view kApiVersion = "certwright.dev/v1alpha1";

namespace resources {
inline const kube::Resource kCertificates{"certwright.dev", "v1alpha1", "certificates", "Certificate", true};
inline const kube::Resource kIssuers{"certwright.dev", "v1alpha1", "issuers", "Issuer", true};
inline const kube::Resource kClusterIssuers{"certwright.dev", "v1alpha1", "clusterissuers", "ClusterIssuer", false};
}  // namespace resources

// Annotations and labels certwright puts on the Secrets it writes (cert-manager's names with
// our group), so `kubectl get secret -o yaml` says where a Secret came from.
namespace annotations {
inline constexpr const char* kCertificateName = "certwright.dev/certificate-name";
inline constexpr const char* kIssuerName = "certwright.dev/issuer-name";
inline constexpr const char* kIssuerKind = "certwright.dev/issuer-kind";
inline constexpr const char* kIssuerGroup = "certwright.dev/issuer-group";
inline constexpr const char* kCommonName = "certwright.dev/common-name";
inline constexpr const char* kAltNames = "certwright.dev/alt-names";
inline constexpr const char* kIpSans = "certwright.dev/ip-sans";
inline constexpr const char* kUriSans = "certwright.dev/uri-sans";
inline constexpr const char* kEmailSans = "certwright.dev/email-sans";
inline constexpr const char* kSerial = "certwright.dev/serial";
// A hash of the parts of the spec the issued certificate was made from: a change re-issues.
inline constexpr const char* kSpecHash = "certwright.dev/spec-hash";
// The SHA-256 of the issuing CA certificate: a new CA re-issues.
inline constexpr const char* kIssuerCaHash = "certwright.dev/issuer-ca-sha256";
// On every Secret certwright writes; the Secret informer keeps data only for these.
inline constexpr const char* kManagedLabel = "certwright.dev/managed";
// On an Issuer or ClusterIssuer: a token (any text, e.g. a date); a new value re-issues every
// Certificate of the issuer, at --reissue-qps (the mass re-issue drill, docs/controllers.md).
inline constexpr const char* kReissue = "certwright.dev/reissue";
// On a Certificate's Secret: the issuer's reissue token when it was issued.
inline constexpr const char* kReissueToken = "certwright.dev/reissue-token";
// On a bootstrap CA Secret: which issuer made it.
inline constexpr const char* kBootstrapFor = "certwright.dev/bootstrap-ca-for";
}  // namespace annotations

// RFC 3339 in UTC with seconds ("2026-11-23T12:00:00Z"), as metav1.Time.
std::string FormatTime(TimePoint t);
Result<TimePoint> ParseTime(std::string_view text);

struct Condition {
  std::string type;
  std::string status;  // "True", "False", "Unknown"
  std::string reason;  // CamelCase
  std::string message;
};

// The conditions array of a status, edited in place. Set() keeps lastTransitionTime when the
// status does not change, and reports whether anything changed.
class Conditions {
 public:
  explicit Conditions(Json& status) : status_(status) {}
  bool Set(const Condition& c, long long generation, TimePoint now);
  bool Remove(std::string_view type);
  // nullopt when absent.
  std::optional<Condition> Get(std::string_view type) const;

 private:
  Json& status_;
};

// Base64 (RFC 4648, padded) as Kubernetes encodes []byte fields in JSON: Secret data, a CSR's
// spec.request and status.certificate, an AdmissionReview response's patch.
std::string Base64Encode(std::string_view data);
// nullopt when `text` is not valid base64.
std::optional<std::string> Base64Decode(std::string_view text);

// Reads a string member, "" when absent or not a string.
std::string StringAt(const Json& object, std::string_view key);
// metadata.generation, 0 when absent.
long long GenerationOf(const Json& object);
// "namespace/name" (or "name" for cluster-scoped objects).
std::string KeyOf(const Json& object);

// A comma-separated list (an annotation's value, a flag's): " a, b,,c " -> {"a", "b", "c"}, each
// item trimmed of blanks, empty items dropped.
std::vector<std::string> SplitList(const std::string& text);

}  // namespace certwright::api
