// informer_bench: the informer against a real control plane ($KUBECONFIG): how fast it follows a
// burst of creations, how long a list-and-sync of many Secrets takes, and how much memory each
// cached object costs. The baseline for the sync is `kubectl get secrets -A -o json` on the same
// plane, timed by the caller.
//
//   informer_bench populate NAMESPACE COUNT [THREADS]   create the namespace and COUNT Secrets
//                                                         with THREADS writers while an informer
//                                                         watches: creation rate, handler rate,
//                                                         create-to-handler latency
//   informer_bench watch NAMESPACE COUNT                 an informer alone in its process until it
//                                                         has seen COUNT adds: events/s and CPU
//                                                         per event (run populate alongside)
//   informer_bench sync [NAMESPACE] [--drop-managed-fields]
//                                                         in a fresh process: time to list and
//                                                         sync (all namespaces by default), heap
//                                                         and RSS per cached object
//
// One run, not a statistical benchmark: run it a few times and look at the spread.
#include <malloc.h>
#include <sys/resource.h>
#include <spdlog/spdlog.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstdio>
#include <fstream>
#include <iostream>
#include <mutex>
#include <string>
#include <thread>
#include <unordered_map>
#include <vector>

#include "certwright/kube/client.h"
#include "certwright/kube/config.h"
#include "certwright/kube/informer.h"

namespace {

using namespace certwright;
using Clock = std::chrono::steady_clock;
using std::chrono::duration;

double Seconds(Clock::duration d) { return duration<double>(d).count(); }

long RssKiB() {
  std::ifstream statm("/proc/self/statm");
  long pages = 0, resident = 0;
  statm >> pages >> resident;
  return resident * (sysconf(_SC_PAGESIZE) / 1024);
}

std::size_t HeapInUse() { return mallinfo2().uordblks; }

std::shared_ptr<kube::Client> MakeClient() {
  auto config = kube::LoadConfig();
  if (!config.ok()) {
    std::cerr << config.error().message() << "\n";
    std::exit(1);
  }
  auto client = kube::Client::Create(*config);
  if (!client.ok()) {
    std::cerr << client.error().message() << "\n";
    std::exit(1);
  }
  return *client;
}

double Percentile(std::vector<double> v, double p) {
  if (v.empty()) return 0;
  std::sort(v.begin(), v.end());
  return v[std::min(v.size() - 1, static_cast<std::size_t>(p * v.size()))];
}

int Populate(const std::string& ns, int count, int threads) {
  auto client = MakeClient();
  auto made = client->Create(kube::resources::kNamespaces, "",
                             {{"apiVersion", "v1"}, {"kind", "Namespace"}, {"metadata", {{"name", ns}}}});
  if (!made.ok() && made.error().kind() != ErrorKind::kAlreadyExists) {
    std::cerr << made.error().message() << "\n";
    return 1;
  }

  std::mutex mutex;
  std::unordered_map<std::string, Clock::time_point> sent;  // key -> when its create was sent
  std::vector<double> latencies;
  std::atomic<int> seen{0};
  Clock::time_point first_seen{}, last_seen{};
  kube::Informer informer(client, kube::resources::kSecrets, ns);
  informer.AddHandler({.on_add = [&](const kube::Json& s) {
    auto now = Clock::now();
    std::lock_guard lock(mutex);
    if (seen++ == 0) first_seen = now;
    last_seen = now;
    if (auto it = sent.find(kube::ObjectKey(s)); it != sent.end()) latencies.push_back(Seconds(now - it->second));
  }});
  informer.Start();
  if (!informer.WaitForSync(std::chrono::seconds(60))) return 1;
  const int before = seen.load();

  const std::string payload = "c21hbGwgc2VjcmV0IGRhdGEgZm9yIHRoZSBpbmZvcm1lciBiZW5jaG1hcmsK";
  std::atomic<int> next{0}, failures{0};
  const auto start = Clock::now();
  std::vector<std::thread> writers;
  for (int t = 0; t < threads; ++t) {
    writers.emplace_back([&] {
      for (int i = next++; i < count; i = next++) {
        std::string name = "s-" + std::to_string(i);
        {
          std::lock_guard lock(mutex);
          sent[ns + "/" + name] = Clock::now();
        }
        kube::Json secret = {{"apiVersion", "v1"},
                             {"kind", "Secret"},
                             {"metadata", {{"name", name}}},
                             {"data", {{"data", payload}}}};
        auto created = client->Create(kube::resources::kSecrets, ns, secret);
        if (!created.ok() && created.error().kind() != ErrorKind::kAlreadyExists) ++failures;
      }
    });
  }
  for (auto& w : writers) w.join();
  const auto created = Clock::now();
  while (seen.load() - before < count - failures.load() && Clock::now() - created < std::chrono::seconds(120)) {
    std::this_thread::sleep_for(std::chrono::milliseconds(5));
  }
  std::lock_guard lock(mutex);
  const double create_s = Seconds(created - start);
  const int handled = seen.load() - before;
  std::printf("populate: %d secrets by %d writers in %.2f s = %.0f creates/s (%d failed)\n", count, threads,
              create_s, count / create_s, failures.load());
  std::printf("watch: %d adds at the handler, first %.3f s after the first create, last %.3f s after the last create\n",
              handled, Seconds(first_seen - start), Seconds(last_seen - created));
  std::printf("watch: %.0f events/s at the handler (first to last event); create-to-handler latency p50 %.1f ms, "
              "p99 %.1f ms, max %.1f ms\n",
              handled / Seconds(last_seen - first_seen), Percentile(latencies, 0.5) * 1e3,
              Percentile(latencies, 0.99) * 1e3, Percentile(latencies, 1.0) * 1e3);
  auto stats = informer.Stats();
  std::printf("informer: %llu lists, %llu watches, %llu events, %llu errors\n",
              static_cast<unsigned long long>(stats.lists), static_cast<unsigned long long>(stats.watches),
              static_cast<unsigned long long>(stats.events), static_cast<unsigned long long>(stats.errors));
  return 0;
}

double CpuSeconds() {
  rusage usage{};
  getrusage(RUSAGE_SELF, &usage);
  auto s = [](const timeval& t) { return t.tv_sec + t.tv_usec / 1e6; };
  return s(usage.ru_utime) + s(usage.ru_stime);
}

// An informer alone in its process, so the process's CPU time is the informer's cost per event.
int Watch(const std::string& ns, int count) {
  auto client = MakeClient();
  std::atomic<int> adds{0};
  Clock::time_point first, last;
  double cpu_first = 0;
  kube::Informer informer(client, kube::resources::kSecrets, ns);
  informer.AddHandler({.on_add = [&](const kube::Json&) {
    if (adds == 0) {
      first = Clock::now();
      cpu_first = CpuSeconds();
    }
    last = Clock::now();
    ++adds;
  }});
  informer.Start();
  if (!informer.WaitForSync(std::chrono::seconds(60))) return 1;
  std::printf("watch: ready\n");
  std::fflush(stdout);
  const auto deadline = Clock::now() + std::chrono::seconds(300);
  while (adds.load() < count && Clock::now() < deadline) std::this_thread::sleep_for(std::chrono::milliseconds(5));
  const double cpu = CpuSeconds() - cpu_first;
  const int n = adds.load();
  std::printf("watch: %d adds in %.2f s = %.0f events/s; informer process CPU %.1f us per event (%.0f events per "
              "CPU-second)\n",
              n, Seconds(last - first), n / Seconds(last - first), cpu * 1e6 / n, n / cpu);
  return 0;
}

int Sync(const std::string& ns, bool drop_managed_fields) {
  auto client = MakeClient();
  // Warm up the connection (TLS handshake) outside the measurement.
  kube::ListOptions one;
  one.limit = 1;
  (void)client->List(kube::resources::kNamespaces, "", one);
  malloc_trim(0);
  const std::size_t heap_before = HeapInUse();
  const long rss_before = RssKiB();

  kube::InformerOptions options;
  if (drop_managed_fields) {
    options.transform = [](kube::Json& o) { o["metadata"].erase("managedFields"); };
  }
  std::atomic<int> adds{0};
  Clock::time_point last_add;
  kube::Informer informer(client, kube::resources::kSecrets, ns, options);
  informer.AddHandler({.on_add = [&](const kube::Json&) {
    last_add = Clock::now();
    ++adds;
  }});
  const auto start = Clock::now();
  informer.Start();
  if (!informer.WaitForSync(std::chrono::seconds(300))) return 1;
  const auto synced = Clock::now();
  const std::size_t n = informer.Keys().size();
  while (adds.load() < static_cast<int>(n)) std::this_thread::sleep_for(std::chrono::milliseconds(1));
  const long rss_synced = RssKiB();
  malloc_trim(0);
  const long rss_trimmed = RssKiB();
  const std::size_t heap_after = HeapInUse();

  std::size_t json_bytes = 0;
  for (const auto& o : informer.List()) json_bytes += o->dump().size();
  std::printf("sync%s: %zu secrets listed and cached in %.3f s (%.0f objects/s); handlers had every add %.3f s "
              "after the start\n",
              drop_managed_fields ? " (managedFields dropped)" : "", n, Seconds(synced - start),
              n / Seconds(synced - start), Seconds(last_add - start));
  std::printf("memory: heap in use +%.1f MiB = %.0f bytes per object (JSON text %.0f bytes per object); RSS +%.1f "
              "MiB right after sync, +%.1f MiB after malloc_trim = %.0f bytes per object\n",
              (heap_after - heap_before) / 1048576.0, static_cast<double>(heap_after - heap_before) / n,
              static_cast<double>(json_bytes) / n, (rss_synced - rss_before) / 1024.0,
              (rss_trimmed - rss_before) / 1024.0, (rss_trimmed - rss_before) * 1024.0 / n);
  informer.Stop();
  return 0;
}

}  // namespace

int main(int argc, char** argv) {
  spdlog::set_level(spdlog::level::warn);
  std::vector<std::string> args(argv + 1, argv + argc);
  if (args.size() >= 3 && args[0] == "populate") {
    return Populate(args[1], std::stoi(args[2]), args.size() > 3 ? std::stoi(args[3]) : 8);
  }
  if (args.size() == 3 && args[0] == "watch") return Watch(args[1], std::stoi(args[2]));
  if (!args.empty() && args[0] == "sync") {
    bool drop = std::find(args.begin(), args.end(), "--drop-managed-fields") != args.end();
    std::string ns = args.size() > 1 && args[1] != "--drop-managed-fields" ? args[1] : "";
    return Sync(ns, drop);
  }
  std::cerr << "usage: informer_bench populate NAMESPACE COUNT [THREADS]\n"
               "       informer_bench watch NAMESPACE COUNT\n"
               "       informer_bench sync [NAMESPACE] [--drop-managed-fields]\n";
  return 2;
}
