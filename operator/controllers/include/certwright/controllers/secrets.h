// Reading and writing Secret data (base64 in JSON), and the Secret informer the controllers
// share: managed Secrets (label certwright.dev/managed) are cached whole; every other Secret is
// cached as metadata only, so the cache stays small and the controllers still see a Secret of
// another owner at a Certificate's secretName, and changes to Secrets issuers read.
#pragma once

#include <memory>
#include <optional>
#include <string>
#include <string_view>

#include "certwright/api/meta.h"
#include "certwright/kube/informer.h"
#include "certwright/signer/key.h"

namespace certwright::controllers {

// One base64 for the operator, in operator/api (meta.h).
using api::Base64Decode;
using api::Base64Encode;

// The decoded value of data[key]; nullopt when absent or not base64.
std::optional<std::string> SecretValue(const kube::Json& secret, const std::string& key);
// Reads a Secret from the API server (not the cache) and returns data[key], with messages that
// name the Secret and the key: "Secret ns/name not found", "Secret ns/name has no key \"pin\"".
Result<std::string> ReadSecretValue(kube::Client& client, const std::string& ns, const std::string& name,
                                    const std::string& key);
Result<kube::Json> ReadSecret(kube::Client& client, const std::string& ns, const std::string& name);

bool IsManagedSecret(const kube::Json& secret);

// Lower-case hex SHA-256 (one helper, in the signer library).
using ossl::Sha256Hex;

// What the Secret informer caches of a Secret: managed Secrets packed without what every write
// repeats (ca.crt, descriptive annotations; the serial stays), other Secrets without their data.
void PrepareSecretForCache(kube::Json& secret);
// The shared Secret informer (all namespaces, or one).
std::unique_ptr<kube::Informer> MakeSecretInformer(std::shared_ptr<kube::Client> client, const std::string& ns);

// Drops what every cached object repeats and no controller reads: metadata.managedFields and
// kubectl's last-applied-configuration annotation (a second copy of the spec).
void DropApplyNoise(kube::Json& object);

// What the namespace informers keep of a Namespace: name, uid, resourceVersion and labels (the
// policy and trust-bundle namespace selectors read only those).
void KeepOnlyNamespaceLabels(kube::Json& ns);

// Compact cache entries. nlohmann::json spends ~100 bytes per field (a std::map node), so a
// cached Certificate or Secret costs 3-5x its JSON text. PackForCache keeps `keep` (the few
// fields indexes and handlers read) as JSON and the whole object as one string; Unpack parses the
// string again when a reconcile needs the object (tens of microseconds). Objects not packed are
// returned as they are.
void PackForCache(kube::Json& object, kube::Json keep);
std::shared_ptr<const kube::Json> Unpack(std::shared_ptr<const kube::Json> cached);


}  // namespace certwright::controllers
