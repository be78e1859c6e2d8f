// Internal to the webhook: an AdmissionReview request as read (admission.cc), and the verdict a
// handler (validate.cc, mutate.cc) returns for it, before it is encoded as the response.
#pragma once

#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "certwright/webhook/admission.h"

namespace certwright::webhook::internal {

using Json = kube::Json;

// request.* of an AdmissionReview whose envelope is well formed (admission.k8s.io/v1, a uid).
struct Review {
  std::string uid;
  std::string group, version, kind;  // request.kind: what the object is
  std::string resource;              // request.resource.resource ("certificates")
  std::string sub_resource;          // "status", ...; "" for the object itself
  std::string operation;             // CREATE, UPDATE, DELETE, CONNECT
  std::string ns, name;              // request.namespace, request.name (may be "" on CREATE)
  const Json* object = nullptr;      // nullptr when absent or null (DELETE, CONNECT)
  const Json* old_object = nullptr;  // UPDATE only; nullptr when absent or not an object
  const Json* user_info = nullptr;   // nullptr when absent or not an object

  // metadata.name of the object when request.name is empty (generateName, before the name is set).
  std::string ObjectName() const;
};

struct Verdict {
  bool allowed = true;
  int code = 0;        // status.code when denied: 400 (malformed or invalid), 403 (policy, custody)
  std::string reason;  // status.reason: BadRequest, Forbidden
  std::string message;
  std::vector<std::string> warnings;
  std::optional<Json> patch;  // a JSONPatch (array of operations); nullopt: none
  bool malformed = false;     // the review itself is wrong (metrics result "invalid")

  static Verdict Allow() { return {}; }
  // What the review carries cannot be judged: a missing object, a field of the wrong type.
  static Verdict Malformed(std::string message);
  // The object is invalid: the parser's message, naming the field.
  static Verdict Invalid(std::string message);
  // Policy or custody said no: the IssuanceService's message, naming the policy and rule.
  static Verdict Forbidden(std::string message);
};

Verdict ValidateReview(const Review& review, const AdmissionContext& context);
Verdict MutateReview(const Review& review, const AdmissionContext& context);
// Pods annotated certwright.dev/issuer: the podCertificate volume (pods.cc).
Verdict PodIdentity(const Review& review, const AdmissionContext& context);

// A user-given value quoted for a message, cut at 64 bytes (on a UTF-8 boundary) so that a huge
// string does not make a huge response.
std::string Quote(std::string_view value);
// The member `key` of `object` when present and not null; nullptr otherwise (never throws).
const Json* Member(const Json& object, std::string_view key);
// The shared empty object, for an absent spec (the controllers read it the same way).
const Json& EmptyObject();
// The spec as the controllers read it (value("spec", {})): absent is an empty object.
const Json& SpecOf(const Json& object);
// The review's namespace: request.namespace, else the object's metadata.namespace.
std::string NamespaceOf(const Review& r);

// The issuer as the webhook can know it: from the stored object (its spec parsed), without its CA.
struct KnownIssuer {
  std::shared_ptr<const issuance::IssuerHandle> handle;
  std::string why_not;  // when handle is null: what the warning says
};
// `kind` Issuer (in `ns`) or ClusterIssuer `name`, as validation and defaulting both read it.
KnownIssuer LookUpIssuer(const AdmissionContext& context, const std::string& kind, const std::string& ns,
                         const std::string& name);

}  // namespace certwright::webhook::internal
