#include "certwright/controllers/cluster_issuer_modules.h"

#include "certwright/api/issuer.h"
#include "certwright/api/meta.h"

namespace certwright::controllers {

std::vector<std::string> ClusterIssuerModules::Get() const {
  std::lock_guard lock(mutex_);
  std::map<std::string, std::pair<std::string, std::string>> seen;  // name -> (resourceVersion, module)
  std::vector<std::string> modules;
  for (const auto& key : cluster_issuers_.Keys()) {
    auto object = cluster_issuers_.Get(key);
    if (object == nullptr) continue;
    const auto metadata = object->find("metadata");
    const std::string rv = metadata == object->end() ? "" : api::StringAt(*metadata, "resourceVersion");
    auto cached = seen_.find(key);
    std::string module;
    if (cached != seen_.end() && cached->second.first == rv) {
      module = cached->second.second;
    } else if (auto spec = api::ParseIssuerSpec(object->value("spec", kube::Json::object()));
               spec.ok() && spec->type == api::IssuerSpec::Type::kPkcs11) {
      module = spec->pkcs11.module_path;
    }
    if (!module.empty()) modules.push_back(module);
    seen[key] = {rv, std::move(module)};
  }
  seen_ = std::move(seen);
  return modules;
}

}  // namespace certwright::controllers
