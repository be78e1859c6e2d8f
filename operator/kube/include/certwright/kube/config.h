// Where the cluster is and how to authenticate: kubeconfig files and in-cluster config.
//
//   auto config = kube::LoadConfig(flags.kubeconfig);   // --kubeconfig, else $KUBECONFIG,
//                                                       // else the in-cluster service account
#pragma once

#include <chrono>
#include <optional>
#include <string>

#include "certwright/signer/result.h"

namespace certwright::kube {

struct ClientConfig {
  std::string server;             // https://127.0.0.1:6443
  std::string ca_pem;             // trust anchors for the server; empty: system store
  bool insecure_skip_tls_verify = false;
  std::string client_cert_pem;    // client certificate authentication
  std::string client_key_pem;
  std::string token;              // bearer token
  std::string token_file;         // bearer token re-read when it changes (service-account rotation)
  std::string namespace_;         // the context's (or the pod's) namespace; "default" if unset
  std::string user_agent = "certwright";
  double qps = 0;                 // client-side rate limit; 0: off
  int burst = 10;
  std::chrono::seconds request_timeout{30};
  std::string source;             // where this came from, for messages ("kubeconfig /x, context y")
};

// Reads a kubeconfig file; `context` overrides current-context. Relative file paths in it are
// resolved against the file's directory. Errors name the file and the field.
Result<ClientConfig> LoadKubeconfig(const std::string& path, const std::string& context = "");
// The pod's service account: KUBERNETES_SERVICE_HOST/PORT, token and CA under
// /var/run/secrets/kubernetes.io/serviceaccount (or `root` for tests).
Result<ClientConfig> InClusterConfig(const std::string& root = "/var/run/secrets/kubernetes.io/serviceaccount");
// `explicit_path` (a --kubeconfig flag) if set, else $KUBECONFIG (first entry), else in-cluster.
Result<ClientConfig> LoadConfig(const std::string& explicit_path = "", const std::string& context = "");

}  // namespace certwright::kube
