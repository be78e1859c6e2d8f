// Custody rules: which keys a request may reach at all (DESIGN.md, "The issuance service": a key
// in an HSM/KMS belongs to the admin who configured it; a namespaced Issuer never gets more than
// its own Secrets give it).
#include <chrono>
#include <map>
#include <mutex>

#include "certwright/issuance/service.h"
#include "certwright/signer/file_identity.h"

namespace certwright::issuance {

namespace {

// The identity of a module file (device + inode after realpath), remembered for a few seconds:
// custody is checked before every signature, and a stat per allowed module each time would cost
// more than the policy evaluation.
Result<std::string> CachedFileIdentity(const std::string& path) {
  using Clock = std::chrono::steady_clock;
  struct Entry {
    Result<std::string> identity;
    Clock::time_point at;
  };
  static std::mutex mutex;
  static std::map<std::string, Entry> cache;
  const auto now = Clock::now();
  {
    std::lock_guard lock(mutex);
    auto it = cache.find(path);
    if (it != cache.end() && now - it->second.at < std::chrono::seconds(10)) return it->second.identity;
  }
  auto identity = signer::FileIdentity(path);
  std::lock_guard lock(mutex);
  if (cache.size() > 256) cache.clear();  // bounded: paths come from Issuers users write
  cache.insert_or_assign(path, Entry{identity, now});
  return identity;
}

std::string WithoutTrailingSlash(std::string s) {
  while (!s.empty() && s.back() == '/') s.pop_back();
  return s;
}

}  // namespace

Status CheckCustody(const std::string& kind, const api::IssuerSpec& spec, const CustodyRules& rules,
                    std::string* module_to_load) {
  if (module_to_load) *module_to_load = spec.pkcs11.module_path;
  // ClusterIssuers are configured by cluster admins: their modules, credentials and endpoints
  // are the admins' to choose.
  if (kind == "ClusterIssuer") return Ok();
  switch (spec.type) {
    case api::IssuerSpec::Type::kPkcs11: {
      std::vector<std::string> allowed;
      if (rules.pkcs11_modules) {
        allowed = *rules.pkcs11_modules;
      } else {
        if (rules.cluster_issuer_modules) allowed = rules.cluster_issuer_modules();
        allowed.push_back(kSoftHsm2Module);
      }
      // By the file it loads, not the spelling: a symlink, "//" or "/./" names the same module.
      // Whatever the reason a path does not match (absent, unreadable, another file), the
      // message is the same, so it reveals nothing about the controller's file system.
      auto identity = CachedFileIdentity(spec.pkcs11.module_path);
      if (identity.ok()) {
        for (const auto& path : allowed) {
          auto other = CachedFileIdentity(path);
          if (other.ok() && *other == *identity) {
            if (module_to_load) *module_to_load = path;
            return Ok();
          }
        }
      }
      // The allowed paths are not listed: they name the cluster's HSM vendors and ClusterIssuers.
      return PolicyDenied("spec.pkcs11.modulePath: \"" + spec.pkcs11.module_path +
                          "\" is not one of the PKCS#11 modules a namespaced Issuer may use (the cluster admin lists "
                          "them with the controller's --issuer-pkcs11-modules)");
    }
    case api::IssuerSpec::Type::kAwsKms: {
      const auto& k = spec.aws_kms;
      if (!k.credentials_secret && !rules.ambient_credentials) {
        return PolicyDenied(
            "spec.awsKMS.credentialsSecretRef is required for a namespaced Issuer: certwright does not lend its own "
            "AWS credentials to namespaces (the controller's --issuer-ambient-credentials allows it)");
      }
      if (!k.endpoint.empty()) {
        const std::string endpoint = WithoutTrailingSlash(k.endpoint);
        for (const auto& e : rules.kms_endpoints) {
          if (WithoutTrailingSlash(e) == endpoint) return Ok();
        }
        return PolicyDenied("spec.awsKMS.endpoint: \"" + k.endpoint +
                            "\" is not one of the KMS endpoints a namespaced Issuer may use (the cluster admin lists "
                            "them with the controller's --issuer-kms-endpoints)");
      }
      return Ok();
    }
    default:
      return Ok();
  }
}

std::string NotReadyForNamespace(const std::string& kind, const std::string& name, const std::string& message) {
  if (kind != "ClusterIssuer") return message;
  return "ClusterIssuer " + name + " is not ready; a cluster admin finds why in its status (kubectl describe "
         "clusterissuer " + name + ")";
}

}  // namespace certwright::issuance
