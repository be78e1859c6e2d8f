#include "support/kube_env.h"
#include "support/softhsm_token.h"  // RunCommand

#include <gtest/gtest.h>

#include <cstdio>
#include <cstdlib>
#include <chrono>
#include <random>
#include <thread>

namespace certwright::testing {

std::string KubeTest::KubeconfigPath() {
  const char* env = std::getenv("KUBECONFIG");
  return env ? env : "";
}

KubeTest::KubeTest(const std::string& prefix) {
  const std::string path = KubeconfigPath();
  if (path.empty()) {
    ADD_FAILURE() << "KUBECONFIG is not set: these tests need the real control plane; run hack/test, or "
                     "eval \"$(hack/control-plane up)\" first";
    return;
  }
  auto config = kube::LoadKubeconfig(path);
  if (!config.ok()) {
    ADD_FAILURE() << config.error().message();
    return;
  }
  auto client = kube::Client::Create(*config);
  if (!client.ok()) {
    ADD_FAILURE() << client.error().message();
    return;
  }
  client_ = *client;
  static thread_local std::mt19937 rng(std::random_device{}());
  ns_ = prefix + "-" + std::to_string(std::uniform_int_distribution<int>(100000, 999999)(rng));
  auto made = client_->Create(kube::resources::kNamespaces, "",
                              {{"apiVersion", "v1"}, {"kind", "Namespace"}, {"metadata", {{"name", ns_}}}});
  if (!made.ok()) ADD_FAILURE() << "creating namespace " << ns_ << ": " << made.error().message();
}

kube::Client& KubeTest::client() {
  if (!client_) {
    std::fprintf(stderr, "FATAL: no Kubernetes client (see the failure above); stopping this test binary\n");
    std::exit(1);
  }
  return *client_;
}

KubeTest::~KubeTest() {
  if (client_ && !ns_.empty()) {
    auto deleted = client_->Delete(kube::resources::kNamespaces, "", ns_);
    if (!deleted.ok()) ADD_FAILURE() << "deleting namespace " << ns_ << ": " << deleted.error().message();
  }
}

std::shared_ptr<kube::Client> KubeTest::UnprivilegedClient(const std::string& service_account) {
  auto sa = client_->Create(kube::resources::kServiceAccounts, ns_,
                            {{"apiVersion", "v1"}, {"kind", "ServiceAccount"}, {"metadata", {{"name", service_account}}}});
  EXPECT_TRUE(sa.ok()) << sa.error().message();
  kube::Json request = {{"apiVersion", "authentication.k8s.io/v1"},
                        {"kind", "TokenRequest"},
                        {"metadata", {{"name", service_account}}},
                        {"spec", {{"expirationSeconds", 3600}}}};
  auto token = client_->Create(kube::resources::kServiceAccounts, ns_, request, "token");
  EXPECT_TRUE(token.ok()) << (token.ok() ? "" : token.error().message());
  if (!token.ok()) return nullptr;
  kube::ClientConfig config = client_->config();
  config.client_cert_pem.clear();
  config.client_key_pem.clear();
  config.token = (*token)["status"].value("token", "");
  EXPECT_FALSE(config.token.empty());
  auto client = kube::Client::Create(config);
  EXPECT_TRUE(client.ok());
  return client.ok() ? *client : nullptr;
}

int ControlPlane(const std::string& command) {
  // hack/control-plane finds the plane's state from CERTWRIGHT_CP_DIR (or its default), as
  // hack/test started it.
  const std::string cmd = std::string(CERTWRIGHT_SOURCE_DIR) + "/hack/control-plane " + command;
  std::string out;
  int code = RunCommand(cmd, &out);
  EXPECT_EQ(code, 0) << cmd << ":\n" << out;
  return code;
}

void ApplyCrds(kube::Client& client) {
  // kubectl is on PATH after `eval "$(hack/control-plane up)"` (hack/test does it).
  const std::string src = CERTWRIGHT_SOURCE_DIR;
  const std::string cmd = "kubectl apply --server-side --force-conflicts --field-manager=certwright-tests -f " + src +
                          "/crds/ && kubectl wait --for=condition=Established --timeout=60s "
                          "crd/certificates.certwright.dev crd/issuers.certwright.dev crd/clusterissuers.certwright.dev "
                          "crd/certificatepolicies.certwright.dev";
  std::string out;
  const int code = RunCommand(cmd, &out);
  ASSERT_EQ(code, 0) << cmd << ":\n" << out;
  // Established can precede the first successful request by a moment.
  for (int i = 0; i < 100; ++i) {
    if (client.Request("GET", "/apis/certwright.dev/v1alpha1/certificates?limit=1", "certificates").ok()) return;
    std::this_thread::sleep_for(std::chrono::milliseconds(100));
  }
  FAIL() << "the certwright.dev/v1alpha1 API is not served 10 s after the CRDs were Established";
}

kube::Json ConfigMap(const std::string& name, const kube::Json& data, const kube::Json& labels) {
  kube::Json cm = {{"apiVersion", "v1"}, {"kind", "ConfigMap"}, {"metadata", {{"name", name}}}, {"data", data}};
  if (!labels.empty()) cm["metadata"]["labels"] = labels;
  return cm;
}

}  // namespace certwright::testing
