// What every controller of the `certwright controller` process shares: the API client, the
// Event recorder, the key backends, the metrics, and the scope it works in.
#pragma once

#include <memory>
#include <string>

#include "certwright/issuance/service.h"
#include "certwright/kube/client.h"
#include "certwright/kube/events.h"
#include "certwright/signer/clock.h"
#include "certwright/signer/key_backend.h"

namespace certwright::controllers {

class Metrics;

struct ControllerContext {
  std::shared_ptr<kube::Client> client;
  std::shared_ptr<kube::EventRecorder> events;  // nullptr: no Events (unit tests)
  std::shared_ptr<signer::KeyBackendRegistry> keys;
  std::shared_ptr<Metrics> metrics;
  // The one door into the signer: every controller that signs calls it (never the CA directly).
  std::shared_ptr<issuance::IssuanceService> issuance;
  // Where ClusterIssuers' Secrets are read from (cert-manager's --cluster-resource-namespace).
  std::string cluster_resource_namespace = "certwright";
  // Namespace whose Certificates and Issuers are served; "" for all namespaces.
  std::string watch_namespace;
  // Label selector of the ClusterIssuers served ("" all), so several certwright installations
  // (or test runs) can share a cluster without fighting over ClusterIssuer status.
  std::string cluster_issuer_selector;
  // The same for TrustBundles ("" all).
  std::string trust_bundle_selector;
  // Whether TrustBundles may write Secrets (target.secret); off, they publish ConfigMaps only.
  bool trust_secret_targets = true;
  const Clock* clock = &SystemClock::Instance();
  int workers = 4;
  // Re-issues an issuer asks for (a new CA, the certwright.dev/reissue drill) per second.
  double reissue_qps = 10;
};

}  // namespace certwright::controllers
