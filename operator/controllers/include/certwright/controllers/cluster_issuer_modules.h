// The PKCS#11 modules the ClusterIssuers name: the default list of modules namespaced pkcs11
// Issuers may name (issuance::CustodyRules::cluster_issuer_modules). Custody asks on every
// signature of a namespaced pkcs11 Issuer, and the webhook on every review of one, so each
// ClusterIssuer's spec is parsed once per resourceVersion. The controller and the webhook both
// read it from their ClusterIssuer informer.
#pragma once

#include <map>
#include <mutex>
#include <string>
#include <utility>
#include <vector>

#include "certwright/kube/informer.h"

namespace certwright::controllers {

class ClusterIssuerModules {
 public:
  explicit ClusterIssuerModules(const kube::Informer& cluster_issuers) : cluster_issuers_(cluster_issuers) {}
  // The modulePath of every ClusterIssuer of type pkcs11 in the cache. Thread-safe.
  std::vector<std::string> Get() const;

 private:
  const kube::Informer& cluster_issuers_;
  mutable std::mutex mutex_;
  // ClusterIssuer name -> (resourceVersion, modulePath or "").
  mutable std::map<std::string, std::pair<std::string, std::string>> seen_;
};

}  // namespace certwright::controllers
