#include "certwright/kube/ca_bundle.h"

namespace certwright::kube {

namespace {

std::string StringOr(const Json& object, const char* field) {
  if (!object.is_object()) return "";
  auto it = object.find(field);
  return it != object.end() && it->is_string() ? it->get<std::string>() : "";
}

const Json* ObjectAt(const Json& object, std::initializer_list<const char*> path) {
  const Json* at = &object;
  for (const char* field : path) {
    if (!at->is_object()) return nullptr;
    auto it = at->find(field);
    if (it == at->end() || !it->is_object()) return nullptr;
    at = &*it;
  }
  return at;
}

bool IsWebhookConfiguration(const Resource& r) {
  return r.plural == resources::kValidatingWebhookConfigurations.plural ||
         r.plural == resources::kMutatingWebhookConfigurations.plural;
}

}  // namespace

std::vector<CaBundleField> CaBundleFields(const Resource& resource, const Json& object) {
  std::vector<CaBundleField> fields;
  if (IsWebhookConfiguration(resource)) {
    auto it = object.find("webhooks");
    if (it == object.end() || !it->is_array()) return fields;
    for (size_t i = 0; i < it->size(); ++i) {
      const Json* config = ObjectAt((*it)[i], {"clientConfig"});
      if (config == nullptr) continue;
      fields.push_back({"/webhooks/" + std::to_string(i) + "/clientConfig/caBundle", StringOr(*config, "caBundle")});
    }
  } else if (resource.plural == resources::kCustomResourceDefinitions.plural) {
    const Json* conversion = ObjectAt(object, {"spec", "conversion"});
    if (conversion == nullptr || StringOr(*conversion, "strategy") != "Webhook") return fields;
    const Json* config = ObjectAt(*conversion, {"webhook", "clientConfig"});
    if (config == nullptr) return fields;
    fields.push_back({"/spec/conversion/webhook/clientConfig/caBundle", StringOr(*config, "caBundle")});
  } else if (resource.plural == resources::kApiServices.plural) {
    const Json* spec = ObjectAt(object, {"spec"});
    if (spec == nullptr || ObjectAt(*spec, {"service"}) == nullptr) return fields;
    fields.push_back({"/spec/caBundle", StringOr(*spec, "caBundle")});
  }
  return fields;
}

void KeepOnlyCaBundleFields(const Resource& resource, Json& object, const std::vector<std::string>& annotations) {
  const Json& meta = object.contains("metadata") && object["metadata"].is_object() ? object["metadata"] : Json::object();
  Json keep = {{"metadata",
                {{"name", StringOr(meta, "name")},
                 {"uid", StringOr(meta, "uid")},
                 {"resourceVersion", StringOr(meta, "resourceVersion")}}}};
  if (const Json* all = ObjectAt(meta, {"annotations"})) {
    for (const auto& name : annotations) {
      auto it = all->find(name);
      if (it != all->end() && it->is_string()) keep["metadata"]["annotations"][name] = *it;
    }
  }
  // The same shapes CaBundleFields reads, with nothing else.
  if (IsWebhookConfiguration(resource)) {
    Json webhooks = Json::array();
    if (object.contains("webhooks") && object["webhooks"].is_array()) {
      for (const auto& w : object["webhooks"]) {
        const Json* config = ObjectAt(w, {"clientConfig"});
        webhooks.push_back(config == nullptr ? Json::object()
                                             : Json{{"clientConfig", {{"caBundle", StringOr(*config, "caBundle")}}}});
      }
    }
    keep["webhooks"] = std::move(webhooks);
  } else {
    for (const auto& f : CaBundleFields(resource, object)) {
      if (f.pointer == "/spec/caBundle") {
        keep["spec"] = {{"service", Json::object()}, {"caBundle", f.value}};
      } else {
        keep["spec"] = {{"conversion", {{"strategy", "Webhook"}, {"webhook", {{"clientConfig", {{"caBundle", f.value}}}}}}}};
      }
    }
  }
  object = std::move(keep);
}

Result<int> PatchCaBundles(Client& client, const Resource& resource, const std::string& name,
                           const std::string& bundle_b64) {
  const std::string where = resource.kind + " " + name;
  for (int attempt = 0; attempt < 3; ++attempt) {
    auto got = client.Get(resource, "", name);
    if (!got.ok()) return std::move(got).error().WithContext("reading " + where);
    Json patch = Json::array();
    patch.push_back({{"op", "test"},
                     {"path", "/metadata/resourceVersion"},
                     {"value", StringOr((*got)["metadata"], "resourceVersion")}});
    for (const auto& f : CaBundleFields(resource, *got)) {
      if (f.value != bundle_b64) patch.push_back({{"op", "add"}, {"path", f.pointer}, {"value", bundle_b64}});
    }
    const int changed = static_cast<int>(patch.size()) - 1;
    if (changed == 0) return 0;
    auto patched = client.Patch(resource, "", name, PatchType::kJson, patch);
    if (patched.ok()) return changed;
    // A failed test op is 422; a concurrent write 409. Both: read again.
    const ErrorKind kind = patched.error().kind();
    if (kind != ErrorKind::kConflict && kind != ErrorKind::kInvalidArgument) {
      return std::move(patched).error().WithContext("patching caBundle of " + where);
    }
  }
  return Conflict(where + ": changed by someone else while caBundle was written; retried later");
}

}  // namespace certwright::kube
