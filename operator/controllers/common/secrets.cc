#include "certwright/controllers/secrets.h"

#include <openssl/evp.h>

#include "certwright/api/meta.h"

namespace certwright::controllers {

std::optional<std::string> SecretValue(const kube::Json& secret, const std::string& key) {
  if (!secret.contains("data") || !secret["data"].is_object()) return std::nullopt;
  auto it = secret["data"].find(key);
  if (it == secret["data"].end() || !it->is_string()) return std::nullopt;
  return Base64Decode(it->get<std::string>());
}

Result<kube::Json> ReadSecret(kube::Client& client, const std::string& ns, const std::string& name) {
  auto secret = client.Get(kube::resources::kSecrets, ns, name);
  if (!secret.ok()) {
    if (secret.error().kind() == ErrorKind::kNotFound) return NotFound("Secret " + ns + "/" + name + " not found");
    return std::move(secret).error().WithContext("reading Secret " + ns + "/" + name);
  }
  return secret;
}

Result<std::string> ReadSecretValue(kube::Client& client, const std::string& ns, const std::string& name,
                                    const std::string& key) {
  CW_ASSIGN_OR_RETURN(kube::Json secret, ReadSecret(client, ns, name));
  auto value = SecretValue(secret, key);
  if (!value) return NotFound("Secret " + ns + "/" + name + " has no key \"" + key + "\"");
  return *value;
}

bool IsManagedSecret(const kube::Json& secret) {
  const kube::Json& labels = secret["metadata"].value("labels", kube::Json::object());
  return labels.is_object() && labels.value(api::annotations::kManagedLabel, "") == "true";
}

void DropApplyNoise(kube::Json& o) {
  kube::Json& meta = o["metadata"];
  meta.erase("managedFields");
  if (meta.contains("annotations") && meta["annotations"].is_object()) {
    meta["annotations"].erase("kubectl.kubernetes.io/last-applied-configuration");
  }
}

void KeepOnlyNamespaceLabels(kube::Json& o) {
  kube::Json& meta = o["metadata"];
  kube::Json keep = {{"metadata",
                      {{"name", meta.value("name", "")},
                       {"resourceVersion", meta.value("resourceVersion", "")},
                       {"uid", meta.value("uid", "")}}}};
  if (meta.contains("labels") && meta["labels"].is_object()) keep["metadata"]["labels"] = meta["labels"];
  o = std::move(keep);
}

void PrepareSecretForCache(kube::Json& secret) {
  kube::Json& meta = secret["metadata"];
  meta.erase("managedFields");
  if (IsManagedSecret(secret)) {
    // What the certificate controller writes again on every update anyway (ca.crt, the
    // descriptive annotations) need not be cached: about a third of a Secret. The serial stays:
    // status.serial and revision are judged from it after a lost status write.
    if (secret.contains("data") && secret["data"].is_object()) secret["data"].erase("ca.crt");
    if (meta.contains("annotations") && meta["annotations"].is_object()) {
      for (const char* a : {api::annotations::kIssuerName, api::annotations::kIssuerKind,
                            api::annotations::kIssuerGroup, api::annotations::kCommonName, api::annotations::kAltNames,
                            api::annotations::kIpSans, api::annotations::kUriSans, api::annotations::kEmailSans}) {
        meta["annotations"].erase(a);
      }
    }
    kube::Json keep = {{"metadata",
                        {{"name", meta.value("name", "")},
                         {"namespace", meta.value("namespace", "")},
                         {"resourceVersion", meta.value("resourceVersion", "")},
                         {"uid", meta.value("uid", "")},
                         {"labels", {{api::annotations::kManagedLabel, "true"}}}}}};
    PackForCache(secret, std::move(keep));
  } else {
    // Another owner's Secret: only its name matters here (issuers read their Secrets from the
    // API server when they change). Dropping data keeps other teams' secrets out of our memory.
    secret.erase("data");
    secret.erase("stringData");
    meta.erase("annotations");
  }
}

std::unique_ptr<kube::Informer> MakeSecretInformer(std::shared_ptr<kube::Client> client, const std::string& ns) {
  kube::InformerOptions options;
  options.transform = PrepareSecretForCache;
  return std::make_unique<kube::Informer>(std::move(client), kube::resources::kSecrets, ns, std::move(options));
}

namespace {
constexpr const char* kPacked = "certwright.dev/packed";
}  // namespace

void PackForCache(kube::Json& object, kube::Json keep) {
  keep[kPacked] = object.dump();
  object = std::move(keep);
}

std::shared_ptr<const kube::Json> Unpack(std::shared_ptr<const kube::Json> cached) {
  if (cached == nullptr || !cached->contains(kPacked)) return cached;
  return std::make_shared<const kube::Json>(kube::Json::parse((*cached)[kPacked].get_ref<const std::string&>()));
}

}  // namespace certwright::controllers
