#include "cli/process.h"

#include <pthread.h>
#include <sys/resource.h>
#include <spdlog/spdlog.h>
#include <unistd.h>

#include <iostream>

#include "certwright/api/meta.h"
#include "certwright/kube/config.h"
#include "certwright/signer/ossl.h"
#include "certwright/signer/random.h"
#include "cli/commands.h"
#include "cli/logging.h"

namespace certwright::cli {

StopSignal::StopSignal() {
  sigemptyset(&set_);
  sigaddset(&set_, SIGINT);
  sigaddset(&set_, SIGTERM);
  // Blocked in this thread before any other starts, so every thread inherits the mask and only
  // the waiter below receives them.
  pthread_sigmask(SIG_BLOCK, &set_, nullptr);
  waiter_ = std::thread([this] {
    int sig = 0;
    sigwait(&set_, &sig);
    Stop(0, sig == SIGTERM ? "SIGTERM" : "SIGINT");
  });
  waiter_.detach();
}

void StopSignal::Stop(int code, const std::string& why) {
  std::lock_guard lock(mutex_);
  if (stopped_) return;
  stopped_ = true;
  code_ = code;
  why_ = why;
  cv_.notify_all();
}

int StopSignal::Wait() {
  std::unique_lock lock(mutex_);
  cv_.wait(lock, [this] { return stopped_; });
  spdlog::info("stopping: {}", why_);
  return code_;
}

void RaiseOpenFileLimit() {
  rlimit limit{};
  if (getrlimit(RLIMIT_NOFILE, &limit) != 0 || limit.rlim_cur >= limit.rlim_max) return;
  limit.rlim_cur = limit.rlim_max;
  if (setrlimit(RLIMIT_NOFILE, &limit) != 0) spdlog::debug("cannot raise the open-file limit");
}

size_t ConnectionBudget(size_t wanted) {
  rlimit limit{};
  if (getrlimit(RLIMIT_NOFILE, &limit) != 0 || limit.rlim_cur == RLIM_INFINITY) return wanted;
  return std::max<size_t>(16, std::min<size_t>(wanted, static_cast<size_t>(limit.rlim_cur / 2)));
}

Result<std::shared_ptr<kube::Client>> ConnectToCluster(const Flags& flags,
                                                      std::shared_ptr<prometheus::Registry> registry) {
  CW_ASSIGN_OR_RETURN(kube::ClientConfig config, kube::LoadConfig(flags.Get("kubeconfig").value_or("")));
  return kube::Client::Create(config, {.transport = nullptr, .metrics = std::move(registry)});
}

std::string Identity() {
  char host[256] = {};
  gethostname(host, sizeof host - 1);
  uint8_t random[4] = {};
  std::string suffix;
  if (SystemRandom::Instance().Fill(random).ok()) suffix = ossl::Hex(ossl::Bytes(std::begin(random), std::end(random)));
  return std::string(host) + "_" + suffix;
}

std::optional<std::string> ConfigureLoggingFlags(const Flags& flags) {
  const std::string level = flags.Get("log-level").value_or("info");
  const auto spd_level = spdlog::level::from_str(level);
  if (spd_level == spdlog::level::off && level != "off") {
    return "--log-level \"" + level + "\" is not one of debug, info, warn, error";
  }
  spdlog::set_level(spd_level);
  if (auto logging = ConfigureLogging(flags.Get("log-format").value_or("text")); !logging.ok()) {
    return logging.error().message();
  }
  return std::nullopt;
}

std::optional<Flags> ParseCommandFlags(const std::vector<std::string>& args, std::set<std::string> valued,
                                       const std::string& usage, int& exit_code) {
  valued.insert({"log-level", "log-format"});
  auto flags = Flags::Parse(args, valued, {"help"});
  if (!flags.ok()) {
    std::cerr << "certwright: error: " << flags.error().message() << "\n" << usage;
    exit_code = kExitUsage;
    return std::nullopt;
  }
  if (flags->Has("help")) {
    std::cout << usage;
    exit_code = kExitOk;
    return std::nullopt;
  }
  if (auto error = ConfigureLoggingFlags(*flags)) {
    std::cerr << "certwright: error: " << *error << "\n";
    exit_code = kExitUsage;
    return std::nullopt;
  }
  return std::move(*flags);
}

std::optional<std::string> ParseIssuanceFlags(const Flags& flags, issuance::CustodyRules& custody) {
  if (auto ref = flags.Get("kubernetes-signers-issuer")) {
    const bool cluster = ref->rfind("ClusterIssuer/", 0) == 0 && ref->size() > 14 &&
                         ref->find('/', 14) == std::string::npos;
    const auto second = ref->find('/', 7);
    const bool issuer = ref->rfind("Issuer/", 0) == 0 && second != std::string::npos && second > 7 &&
                        second + 1 < ref->size() && ref->find('/', second + 1) == std::string::npos;
    if (!cluster && !issuer) {
      return "--kubernetes-signers-issuer \"" + *ref + "\" must be ClusterIssuer/<name> or Issuer/<namespace>/<name>";
    }
    custody.kubernetes_signers_issuer = *ref;
  }
  if (auto modules = flags.Get("issuer-pkcs11-modules")) {
    custody.pkcs11_modules = api::SplitList(*modules);
    for (const auto& m : *custody.pkcs11_modules) {
      if (m.empty() || m.front() != '/') return "--issuer-pkcs11-modules: \"" + m + "\" is not an absolute path";
    }
  }
  const std::string ambient = flags.Get("issuer-ambient-credentials").value_or("false");
  if (ambient != "true" && ambient != "false") return "--issuer-ambient-credentials must be true or false";
  custody.ambient_credentials = ambient == "true";
  if (auto endpoints = flags.Get("issuer-kms-endpoints")) {
    custody.kms_endpoints = api::SplitList(*endpoints);
    for (const auto& e : custody.kms_endpoints) {
      if (e.rfind("https://", 0) != 0 && e.rfind("http://", 0) != 0) {
        return "--issuer-kms-endpoints: \"" + e + "\" is not an http or https URL";
      }
    }
  }
  return std::nullopt;
}

}  // namespace certwright::cli
