// The caBundle fields through which the API server trusts a CA: each webhook of a
// Validating/MutatingWebhookConfiguration (webhooks[i].clientConfig.caBundle), a
// CustomResourceDefinition's conversion webhook (spec.conversion.webhook.clientConfig.caBundle)
// and an APIService (spec.caBundle). The webhook's own serving certificate and the CA injector
// write them the same way.
//
//   auto changed = kube::PatchCaBundles(client, kube::resources::kApiServices, "v1.metrics.example", b64);
//   // *changed: how many fields were rewritten (0: all already held the bundle)
#pragma once

#include <string>
#include <vector>

#include "certwright/kube/client.h"
#include "certwright/kube/resource.h"

namespace certwright::kube {

struct CaBundleField {
  std::string pointer;  // RFC 6901: "/webhooks/0/clientConfig/caBundle"
  std::string value;    // the base64 the object holds now ("" when unset)
};

// The caBundle fields `object` (of `resource`'s kind) has: every webhook with a clientConfig;
// a CRD whose spec.conversion.strategy is Webhook; an APIService with spec.service (a local
// APIService, served by the API server itself, has none).
std::vector<CaBundleField> CaBundleFields(const Resource& resource, const Json& object);

// What an informer needs to keep of such an object: name, uid, resourceVersion, the given
// annotations, and the caBundle fields (CaBundleFields of the result equals that of `object`).
// cert-manager's cainjector cached whole CRDs and needed GiBs (#3748); this keeps a few hundred
// bytes per object.
void KeepOnlyCaBundleFields(const Resource& resource, Json& object, const std::vector<std::string>& annotations);

// Reads `name` and writes `bundle_b64` into each caBundle field that differs, in one RFC 6902
// patch that tests the resourceVersion read first; on a conflict (or a failed test) it reads
// again, three times in all. Returns how many fields it changed. A missing object is kNotFound.
Result<int> PatchCaBundles(Client& client, const Resource& resource, const std::string& name,
                           const std::string& bundle_b64);

}  // namespace certwright::kube
