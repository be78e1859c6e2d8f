// Integration tests against the real control plane that hack/control-plane starts (hack/test
// does it): a client from $KUBECONFIG and a namespace of the test's own, deleted afterwards.
//
// Without KUBECONFIG the test fails loudly: run it through hack/test, or `eval
// "$(hack/control-plane up)"` first.
#pragma once

#include <memory>
#include <string>

#include "certwright/kube/client.h"

namespace certwright::testing {

class KubeTest {
 public:
  // Creates the client and a namespace named `<prefix>-<random>`.
  explicit KubeTest(const std::string& prefix);
  ~KubeTest();

  // Exits the test binary with a message when no client could be made (no control plane):
  // tests that need one cannot go on, and must not crash on a null pointer instead.
  kube::Client& client();
  std::shared_ptr<kube::Client> shared_client() { return client_; }
  const std::string& ns() const { return ns_; }
  // The kubeconfig in use, and the directory of the control plane's state (for hack scripts).
  static std::string KubeconfigPath();

  // A client authenticated with a fresh token of a new ServiceAccount that has no RBAC rights.
  std::shared_ptr<kube::Client> UnprivilegedClient(const std::string& service_account);

 private:
  std::shared_ptr<kube::Client> client_;
  std::string ns_;
};

// Runs `hack/control-plane <command>` on the plane the tests use (restart-apiserver,
// compact-etcd); returns its exit status and fails the test when it is not 0.
int ControlPlane(const std::string& command);

// Applies certwright's CRDs (crds/) with kubectl (server-side, idempotent) and waits until they
// are served; fails the test otherwise. For tests that run the controllers in-process.
void ApplyCrds(kube::Client& client);

// A ConfigMap manifest.
kube::Json ConfigMap(const std::string& name, const kube::Json& data = kube::Json::object(),
                     const kube::Json& labels = kube::Json::object());

}  // namespace certwright::testing
