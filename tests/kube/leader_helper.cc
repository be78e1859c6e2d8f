// A leader election candidate in a process of its own, for the two-process tests in
// leader_election_test.cc (a process can be killed with SIGKILL; a thread cannot).
//
//   certwright_leader_helper --kubeconfig-from-env --lease-ns=NS --lease-name=NAME --identity=ID
//       [--lease-duration-s=3] [--renew-deadline-ms=2000] [--retry-period-ms=500]
//
// Prints one line per event to stdout, flushed at once:
//   LEADER <holder>      a holder was observed in the Lease (on_new_leader)
//   LEADING <identity>   this process became leader
//   STOPPED <identity>   this process stopped leading
//   EXITING <identity>   after SIGTERM/SIGINT: the elector stopped and released the Lease
// Exits 0 after SIGTERM or SIGINT, 1 when leadership was lost without one, 2 on bad arguments or
// configuration. Logs go to stderr.
#include <signal.h>

#include <spdlog/sinks/stdout_sinks.h>
#include <spdlog/spdlog.h>

#include <atomic>
#include <cstdio>
#include <cstdlib>
#include <ctime>
#include <map>
#include <mutex>
#include <string>

#include "certwright/kube/client.h"
#include "certwright/kube/config.h"
#include "certwright/kube/leader_election.h"

namespace {

std::mutex stdout_mutex;

void Say(const std::string& what, const std::string& who) {
  std::lock_guard<std::mutex> lock(stdout_mutex);
  std::printf("%s %s\n", what.c_str(), who.c_str());
  std::fflush(stdout);
}

int Usage(const std::string& problem) {
  std::fprintf(stderr,
               "certwright_leader_helper: %s\n"
               "usage: certwright_leader_helper --kubeconfig-from-env --lease-ns=NS --lease-name=NAME --identity=ID\n"
               "       [--lease-duration-s=N] [--renew-deadline-ms=N] [--retry-period-ms=N]\n",
               problem.c_str());
  return 2;
}

}  // namespace

int main(int argc, char** argv) {
  using namespace certwright;
  std::map<std::string, std::string> flags = {{"lease-duration-s", "3"},
                                               {"renew-deadline-ms", "2000"},
                                               {"retry-period-ms", "500"}};
  bool kubeconfig_from_env = false;
  for (int i = 1; i < argc; ++i) {
    std::string arg = argv[i];
    if (arg == "--kubeconfig-from-env") {
      kubeconfig_from_env = true;
      continue;
    }
    auto eq = arg.find('=');
    if (arg.rfind("--", 0) != 0 || eq == std::string::npos) return Usage("unexpected argument " + arg);
    flags[arg.substr(2, eq - 2)] = arg.substr(eq + 1);
  }
  if (!kubeconfig_from_env) return Usage("--kubeconfig-from-env is required (the kubeconfig is $KUBECONFIG)");
  for (const char* required : {"lease-ns", "lease-name", "identity"}) {
    if (flags[required].empty()) return Usage(std::string("--") + required + " is required");
  }

  // SIGTERM and SIGINT are taken by sigtimedwait below: block them before any thread starts, so
  // every thread inherits the mask.
  sigset_t signals;
  sigemptyset(&signals);
  sigaddset(&signals, SIGTERM);
  sigaddset(&signals, SIGINT);
  pthread_sigmask(SIG_BLOCK, &signals, nullptr);

  spdlog::set_default_logger(spdlog::stderr_logger_mt("leader_helper"));

  const char* kubeconfig = std::getenv("KUBECONFIG");
  if (kubeconfig == nullptr || *kubeconfig == '\0') return Usage("KUBECONFIG is not set");
  auto config = kube::LoadKubeconfig(kubeconfig);
  if (!config.ok()) return Usage(config.error().message());
  auto client = kube::Client::Create(*config);
  if (!client.ok()) return Usage(client.error().message());

  kube::LeaderElectionConfig election;
  election.lease_namespace = flags["lease-ns"];
  election.lease_name = flags["lease-name"];
  election.identity = flags["identity"];
  try {
    election.lease_duration = std::chrono::seconds(std::stoi(flags["lease-duration-s"]));
    election.renew_deadline = std::chrono::milliseconds(std::stoi(flags["renew-deadline-ms"]));
    election.retry_period = std::chrono::milliseconds(std::stoi(flags["retry-period-ms"]));
  } catch (const std::exception&) {
    return Usage("durations must be integers");
  }
  const std::string identity = election.identity;
  std::atomic<bool> lost{false};
  std::atomic<bool> stopping{false};
  auto elector = kube::LeaderElector::Create(
      *client, election,
      {.on_started_leading = [&] { Say("LEADING", identity); },
       .on_stopped_leading =
           [&] {
             Say("STOPPED", identity);
             if (!stopping) lost = true;
           },
       .on_new_leader = [&](const std::string& holder) { Say("LEADER", holder); }});
  if (!elector.ok()) return Usage(elector.error().message());
  (*elector)->Start();

  const timespec poll = {0, 50'000'000};
  for (;;) {
    int signal = sigtimedwait(&signals, nullptr, &poll);
    if (signal == SIGTERM || signal == SIGINT) break;
    if (lost) {
      (*elector)->Stop();
      return 1;
    }
  }
  stopping = true;
  (*elector)->Stop();
  Say("EXITING", identity);
  return 0;
}
