// What the long-running subcommands (`controller`, `webhook`) share: stopping on a signal, the
// process identity, logging flags, and the issuance flags that set custody.
#pragma once

#include <condition_variable>
#include <csignal>
#include <mutex>
#include <optional>
#include <set>
#include <string>
#include <thread>
#include <vector>

#include "certwright/issuance/service.h"
#include "certwright/kube/client.h"
#include "cli/flags.h"

namespace certwright::cli {

// Waits for SIGINT/SIGTERM or a request to stop from inside (leadership lost). Construct it
// before any other thread starts: it blocks the signals so only its waiter receives them.
class StopSignal {
 public:
  StopSignal();
  void Stop(int code, const std::string& why);
  int Wait();

 private:
  sigset_t set_;
  std::thread waiter_;
  std::mutex mutex_;
  std::condition_variable cv_;
  bool stopped_ = false;
  int code_ = 0;
  std::string why_;
};

// Raises the soft limit of open files to the hard one (container runtimes often set 1024 soft):
// watches, clients and served connections all hold descriptors.
void RaiseOpenFileLimit();
// How many connections a server may hold: `wanted`, but at most half the open-file limit, so
// accepting never runs out of descriptors for everything else.
size_t ConnectionBudget(size_t wanted);

// The Kubernetes client of a long-running subcommand: --kubeconfig (else $KUBECONFIG, else
// in-cluster), its request metrics in `registry`.
Result<std::shared_ptr<kube::Client>> ConnectToCluster(const Flags& flags,
                                                      std::shared_ptr<prometheus::Registry> registry);

// "<hostname>_<8 hex>": a Lease holder's and an Event reporter's name.
std::string Identity();


// --log-level and --log-format. The usage error's text, or nullopt.
std::optional<std::string> ConfigureLoggingFlags(const Flags& flags);

// The start of a long-running subcommand: parses `args` (`valued` plus --log-level and
// --log-format; the switch --help) and configures logging. nullopt when the command ends here,
// with `exit_code` set and what to say printed: the usage for --help (0), the error and the usage
// for a usage error (2).
std::optional<Flags> ParseCommandFlags(const std::vector<std::string>& args, std::set<std::string> valued,
                                       const std::string& usage, int& exit_code);

// The flags every process that judges issuance reads (the controller signs, the webhook admits;
// both must judge alike): --kubernetes-signers-issuer, --issuer-pkcs11-modules,
// --issuer-ambient-credentials, --issuer-kms-endpoints.
inline constexpr const char* kIssuanceFlags[] = {"kubernetes-signers-issuer", "issuer-pkcs11-modules",
                                                 "issuer-ambient-credentials", "issuer-kms-endpoints"};
inline constexpr const char* kIssuanceFlagsUsage =
    "  --kubernetes-signers-issuer REF    also sign kubernetes.io/kube-apiserver-client and\n"
    "                                     kubernetes.io/kubelet-serving CSRs with this issuer:\n"
    "                                     ClusterIssuer/<name> or Issuer/<namespace>/<name> (default: off)\n"
    "  --issuer-pkcs11-modules PATHS      comma-separated PKCS#11 modules namespaced Issuers may name, compared\n"
    "                                     by the file they load (default: the modules ClusterIssuers name, and\n"
    "                                     SoftHSM2's /usr/lib/softhsm/libsofthsm2.so)\n"
    "  --issuer-ambient-credentials true|false\n"
    "                                     let namespaced awsKMS Issuers without credentialsSecretRef use the\n"
    "                                     controller's own AWS credentials (default false)\n"
    "  --issuer-kms-endpoints URLS        comma-separated KMS endpoints namespaced Issuers may name (default:\n"
    "                                     none; they use their region's AWS endpoint)\n";
// Fills `custody` (kubernetes_signers_issuer included) from those flags; the usage error's text,
// or nullopt. cluster_issuer_modules is left for the caller.
std::optional<std::string> ParseIssuanceFlags(const Flags& flags, issuance::CustodyRules& custody);

}  // namespace certwright::cli
