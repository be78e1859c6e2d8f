// controller_bench: a running `certwright controller` against a real control plane ($KUBECONFIG):
// create COUNT Certificates as fast as one client can and measure, for each, the time from the
// create request to the Ready=True the controller writes (seen through a watch, steady clock).
// Then read the controller's /metrics for API writes and issuances, and /proc for its memory.
//
//   controller_bench NAMESPACE ISSUER_KIND ISSUER_NAME COUNT METRICS_URL CONTROLLER_PID [PREFIX]
//
// Prints one line of key=value figures. One run, not a statistical benchmark.
#include <spdlog/spdlog.h>

#include <algorithm>
#include <chrono>
#include <condition_variable>
#include <fstream>
#include <iostream>
#include <map>
#include <mutex>
#include <regex>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

#include "bench_common.h"
#include "certwright/kube/informer.h"

namespace {

using namespace certwright;
using Steady = std::chrono::steady_clock;

const kube::Resource kCertificates{"certwright.dev", "v1alpha1", "certificates", "Certificate", true};

bool IsReady(const kube::Json& c) {
  if (!c.contains("status") || !c["status"].contains("conditions")) return false;
  for (const auto& cond : c["status"]["conditions"]) {
    if (cond.value("type", "") == "Ready" && cond.value("status", "") == "True") return true;
  }
  return false;
}

// Sums the samples of `metric` whose labels match every `want` regex.
double SumMetric(const std::string& text, const std::string& metric, const std::vector<std::string>& want) {
  double sum = 0;
  std::istringstream in(text);
  std::string line;
  while (std::getline(in, line)) {
    if (line.rfind(metric + "{", 0) != 0) continue;
    bool all = true;
    for (const auto& w : want) all = all && std::regex_search(line, std::regex(w));
    if (all) sum += std::stod(line.substr(line.rfind(' ') + 1));
  }
  return sum;
}

std::string Fetch(const std::string& url) {
  // The metrics endpoint is plain HTTP on loopback: curl is simpler than a second HTTP stack.
  std::string out;
  FILE* p = popen(("curl -sf " + url).c_str(), "r");
  if (p == nullptr) return out;
  char buf[65536];
  size_t n;
  while ((n = fread(buf, 1, sizeof buf, p)) > 0) out.append(buf, n);
  pclose(p);
  return out;
}

long StatusKiB(int pid, const std::string& field) {
  std::ifstream in("/proc/" + std::to_string(pid) + "/status");
  std::string line;
  while (std::getline(in, line)) {
    if (line.rfind(field + ":", 0) == 0) return std::stol(line.substr(field.size() + 1));
  }
  return -1;
}


}  // namespace

int main(int argc, char** argv) {
  if (argc < 7) {
    std::cerr << "usage: controller_bench NAMESPACE ISSUER_KIND ISSUER_NAME COUNT METRICS_URL CONTROLLER_PID [PREFIX]\n";
    return 2;
  }
  spdlog::set_level(spdlog::level::warn);
  const std::string ns = argv[1], issuer_kind = argv[2], issuer = argv[3];
  const int count = std::stoi(argv[4]);
  const std::string metrics_url = argv[5];
  const int pid = std::stoi(argv[6]);
  const std::string prefix = argc > 7 ? argv[7] : "bench";

  auto client = bench::ClientFromEnvironment();
  if (client == nullptr) return 1;

  std::mutex mutex;
  std::condition_variable changed;
  std::map<std::string, Steady::time_point> created, ready;
  kube::Informer informer(client, kCertificates, ns);
  auto seen = [&](const kube::Json& c) {
    if (!IsReady(c)) return;
    const std::string name = c["metadata"].value("name", "");
    std::lock_guard lock(mutex);
    if (ready.count(name) == 0) {
      ready[name] = Steady::now();
      changed.notify_all();
    }
  };
  informer.AddHandler({.on_add = seen, .on_update = [&](const kube::Json&, const kube::Json& c) { seen(c); }});
  informer.Start();
  if (!informer.WaitForSync(std::chrono::minutes(1))) {
    std::cerr << "the Certificate informer did not sync\n";
    return 1;
  }

  const std::string before = Fetch(metrics_url);
  const auto start = Steady::now();
  for (int i = 0; i < count; ++i) {
    const std::string name = prefix + "-" + std::to_string(i);
    kube::Json cert = {
        {"apiVersion", "certwright.dev/v1alpha1"},
        {"kind", "Certificate"},
        {"metadata", {{"name", name}, {"namespace", ns}}},
        {"spec",
         {{"secretName", name + "-tls"},
          {"dnsNames", {name + "." + ns + ".svc.cluster.local"}},
          {"privateKey", {{"algorithm", "ECDSA"}, {"size", 256}}},
          {"issuerRef", {{"name", issuer}, {"kind", issuer_kind}}}}},
    };
    {
      std::lock_guard lock(mutex);
      created[name] = Steady::now();
    }
    auto r = client->Create(kCertificates, ns, cert);
    if (!r.ok()) {
      std::cerr << "creating " << name << ": " << r.error().message() << "\n";
      return 1;
    }
  }
  const auto created_all = Steady::now();
  {
    std::unique_lock lock(mutex);
    const bool all = changed.wait_for(lock, std::chrono::minutes(15), [&] {
      return static_cast<int>(std::count_if(created.begin(), created.end(),
                                            [&](const auto& kv) { return ready.count(kv.first) > 0; })) == count;
    });
    if (!all) {
      std::cerr << "only " << ready.size() << " of " << count << " Certificates became Ready within 15 minutes\n";
      return 1;
    }
  }
  Steady::time_point last_ready = start;
  std::vector<double> latencies_ms;
  for (const auto& [name, t] : created) {
    latencies_ms.push_back(std::chrono::duration<double, std::milli>(ready[name] - t).count());
    last_ready = std::max(last_ready, ready[name]);
  }
  informer.Stop();
  // Let the controller finish the follow-up reconciles (its own writes echoed back) before counting.
  std::this_thread::sleep_for(std::chrono::seconds(2));
  const std::string after = Fetch(metrics_url);

  auto delta = [&](const std::string& metric, const std::vector<std::string>& want) {
    return SumMetric(after, metric, want) - SumMetric(before, metric, want);
  };
  const std::string writes = "verb=\"(POST|PUT|PATCH|DELETE)\"";
  const double secret_writes = delta("certwright_kube_client_requests_total", {writes, "resource=\"secrets\""});
  const double cert_writes = delta("certwright_kube_client_requests_total", {writes, "resource=\"certificates\""});
  const double event_writes = delta("certwright_kube_client_requests_total", {writes, "resource=\"events\""});
  const double issuances = delta("certwright_issuances_total", {"result=\"success\""});
  const double failures = delta("certwright_issuances_total", {"result=\"failure\""});
  const double seconds = std::chrono::duration<double>(last_ready - start).count();

  std::printf(
      "count=%d create_s=%.2f total_s=%.2f throughput_per_s=%.1f p50_ms=%.1f p95_ms=%.1f p99_ms=%.1f max_ms=%.1f "
      "issuances=%.0f failures=%.0f writes_per_issuance=%.2f (secrets=%.0f certificates=%.0f) events_per_issuance=%.2f "
      "controller_rss_mib=%.1f controller_peak_rss_mib=%.1f\n",
      count, std::chrono::duration<double>(created_all - start).count(), seconds, count / seconds,
      bench::Percentile(latencies_ms, 50), bench::Percentile(latencies_ms, 95), bench::Percentile(latencies_ms, 99),
      bench::Percentile(latencies_ms, 100), issuances, failures, issuances > 0 ? (secret_writes + cert_writes) / issuances : 0,
      secret_writes, cert_writes, issuances > 0 ? event_writes / issuances : 0, StatusKiB(pid, "VmRSS") / 1024.0,
      StatusKiB(pid, "VmHWM") / 1024.0);
  return 0;
}
