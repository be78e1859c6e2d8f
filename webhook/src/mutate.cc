// POST /mutate: defaults that need logic, kept small and idempotent (the configuration's
// reinvocationPolicy is IfNeeded: a second pass over a patched object yields no patch).
//
// One default today: a new Certificate without spec.privateKey.algorithm (and size) gets the key
// type of its issuer's CA key, when the stored issuer says what that is — only a pkcs11 or awsKMS
// issuer whose bootstrap names keyAlgorithm (and keySize). A `ca` issuer's key is in a Secret the
// webhook does not read, a selfSigned issuer has no CA key, an existing HSM/KMS key is of whatever
// type it is: no guess, no patch (the controller's default, ECDSA P-256, applies). The controller
// applies the same api::CaKeySpec when no webhook ran, so both paths make the same key.
//
// Note: the CRD defaults privateKey.algorithm to ECDSA, and the API server applies structural
// defaults when it decodes the request, before mutating webhooks run: with that default in the CRD,
// a Certificate reaches this webhook with an algorithm already set and is not patched.
#include "certwright/api/issuer.h"
#include "review.h"

namespace certwright::webhook::internal {

namespace {

// privateKey's algorithm and size as the Certificate spells them.
Json PrivateKeyFields(const signer::KeySpec& key) {
  switch (key.type) {
    case signer::KeyType::kEd25519: return {{"algorithm", "Ed25519"}};
    case signer::KeyType::kRsa: return {{"algorithm", "RSA"}, {"size", key.bits}};
    case signer::KeyType::kEcdsa: break;
  }
  return {{"algorithm", "ECDSA"}, {"size", key.bits}};
}

std::optional<Json> CertificateDefaults(const Review& r, const AdmissionContext& context) {
  const Json* spec = Member(*r.object, "spec");
  if (spec == nullptr || !spec->is_object()) return std::nullopt;  // validation says what is wrong
  const Json* private_key = Member(*spec, "privateKey");
  if (private_key != nullptr && !private_key->is_object()) return std::nullopt;
  // Either given: the user chose (and a size without an algorithm is the controller's ECDSA).
  if (private_key != nullptr && (Member(*private_key, "algorithm") || Member(*private_key, "size"))) return std::nullopt;

  const Json* ref = Member(*spec, "issuerRef");
  if (ref == nullptr || !ref->is_object()) return std::nullopt;
  const std::string name = api::StringAt(*ref, "name");
  std::string kind = api::StringAt(*ref, "kind");
  if (kind.empty()) kind = "Issuer";
  if (name.empty() || (kind != "Issuer" && kind != "ClusterIssuer") ) return std::nullopt;
  const KnownIssuer issuer = LookUpIssuer(context, kind, NamespaceOf(r), name);
  if (!issuer.handle) return std::nullopt;
  const auto key = api::CaKeySpec(issuer.handle->spec);
  if (!key) return std::nullopt;

  const Json fields = PrivateKeyFields(*key);
  Json patch = Json::array();
  if (private_key == nullptr) {
    // "add" replaces a member that is there (null): RFC 6902 §4.1.
    patch.push_back({{"op", "add"}, {"path", "/spec/privateKey"}, {"value", fields}});
  } else {
    for (auto it = fields.begin(); it != fields.end(); ++it) {
      patch.push_back({{"op", "add"}, {"path", "/spec/privateKey/" + it.key()}, {"value", *it}});
    }
  }
  return patch;
}

}  // namespace

Verdict MutateReview(const Review& r, const AdmissionContext& context) {
  Verdict verdict = Verdict::Allow();
  // New Certificates only: on UPDATE the controller already chose the key (changing the algorithm
  // now would re-issue with another key type).
  if (r.operation != "CREATE" || !r.sub_resource.empty()) return verdict;
  if (r.group == "certwright.dev" && r.version == "v1alpha1" && r.kind == "Certificate") {
    verdict.patch = CertificateDefaults(r, context);
  }
  if (r.group.empty() && r.version == "v1" && r.kind == "Pod") {
    if (r.object == nullptr || !r.object->is_object()) return Verdict::Malformed("request.object: must be a Pod");
    return PodIdentity(r, context);
  }
  return verdict;
}

}  // namespace certwright::webhook::internal
