// pods_bench: a running `certwright controller` answering PodCertificateRequests on the local plane
// with a node ($KUBECONFIG: the admin's; NODE_KUBECONFIG: the node's). As kubelet would, with the
// node's own credentials, create COUNT requests for the pods labelled bench=PREFIX in NAMESPACE
// (several per pod), each with a fresh P-256 key and its stub CSR, and measure for each the time
// from the create call to the Issued condition the controller writes (seen through a watch, steady
// clock). In the same run, the plane's floor: create an object and write it a second time (what a
// signer does: the request's create, one status write), seen through a watch; and the plane's raw
// rate for those two writes with as many writers as the bench. Prints key=value lines.
//
//   pods_bench SIGNER_NAME COUNT NAMESPACE NODE_KUBECONFIG [PREFIX]
#include <openssl/evp.h>
#include <openssl/x509.h>
#include <spdlog/spdlog.h>

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstdio>
#include <iostream>
#include <map>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include "bench_common.h"
#include "certwright/kube/informer.h"

namespace {

using namespace certwright;
using Steady = std::chrono::steady_clock;
constexpr int kWriters = 4;
const kube::Resource kPods{"", "v1", "pods", "Pod", true};
const kube::Resource kNodes{"", "v1", "nodes", "Node", false};

using bench::Base64;

// kubelet's stub: an empty PKCS#10 request signed by a fresh P-256 key, DER, base64.
std::string StubRequest() {
  EVP_PKEY* key = EVP_EC_gen("P-256");
  X509_REQ* req = X509_REQ_new();
  X509_REQ_set_version(req, 0);
  X509_REQ_set_pubkey(req, key);
  X509_REQ_sign(req, key, EVP_sha256());
  unsigned char* der = nullptr;
  const int len = i2d_X509_REQ(req, &der);
  std::string out(reinterpret_cast<char*>(der), static_cast<size_t>(len));
  OPENSSL_free(der);
  X509_REQ_free(req);
  EVP_PKEY_free(key);
  return Base64(out);
}

// Times `count` pairs (create, then a second write of the same object) by `kWriters` threads, each
// pair from its create call to the watch seeing `done(object)`. Returns the latencies (ms) and
// sets `seconds` to the wall time from the first create to the last event.
struct Run {
  std::vector<double> latencies_ms;
  double seconds = 0;
  int failed = 0;
};

template <typename MakeCreate, typename Done, typename SecondWrite>
Run Timed(kube::Client& writer, const std::shared_ptr<kube::Client>& watcher, const kube::Resource& resource,
          const std::string& ns,
          const std::string& label, int count, MakeCreate make, SecondWrite second, Done done) {
  std::mutex mutex;
  std::condition_variable changed;
  std::map<std::string, Steady::time_point> started, finished;
  Run run;
  kube::Informer informer(watcher, resource, ns, {.label_selector = label});
  auto seen = [&](const kube::Json& o) {
    const std::string name = o["metadata"].value("name", "");
    int verdict = done(o);  // 0 not yet, 1 done, -1 failed
    if (verdict == 0) return;
    std::lock_guard lock(mutex);
    if (finished.count(name) || !started.count(name)) return;
    if (verdict < 0) {
      started.erase(name);
      ++run.failed;
    } else {
      finished[name] = Steady::now();
    }
    changed.notify_all();
  };
  informer.AddHandler({.on_add = seen, .on_update = [&](const kube::Json&, const kube::Json& o) { seen(o); }});
  informer.Start();
  if (!informer.WaitForSync(std::chrono::minutes(1))) {
    std::cerr << "the informer did not sync\n";
    run.failed = count;
    return run;
  }
  std::vector<kube::Json> objects;
  for (int i = 0; i < count; ++i) objects.push_back(make(i));
  const auto start = Steady::now();
  std::atomic<int> next{0};
  std::vector<std::thread> threads;
  for (int w = 0; w < kWriters; ++w) {
    threads.emplace_back([&] {
      for (int i = next++; i < count; i = next++) {
        const std::string name = objects[i]["metadata"]["name"];
        {
          std::lock_guard lock(mutex);
          started[name] = Steady::now();
        }
        auto created = writer.Create(resource, ns, objects[i]);
        if (!created.ok()) {
          std::cerr << "creating " << name << ": " << created.error().message() << "\n";
          std::lock_guard lock(mutex);
          started.erase(name);
          ++run.failed;
          changed.notify_all();
          continue;
        }
        second(*created);
      }
    });
  }
  for (auto& t : threads) t.join();
  {
    std::unique_lock lock(mutex);
    changed.wait_for(lock, std::chrono::minutes(10),
                     [&] { return static_cast<int>(finished.size()) + run.failed >= count; });
  }
  informer.Stop();
  Steady::time_point last = start;
  std::lock_guard lock(mutex);
  for (const auto& [name, t] : started) {
    auto it = finished.find(name);
    if (it == finished.end()) continue;
    run.latencies_ms.push_back(std::chrono::duration<double, std::milli>(it->second - t).count());
    last = std::max(last, it->second);
  }
  run.seconds = std::chrono::duration<double>(last - start).count();
  return run;
}

void Print(const char* what, const Run& r) {
  std::printf("%s count=%zu failed=%d total_s=%.2f rate_per_s=%.1f p50_ms=%.1f p99_ms=%.1f\n", what,
              r.latencies_ms.size(), r.failed, r.seconds, static_cast<double>(r.latencies_ms.size()) / r.seconds,
              bench::Percentile(r.latencies_ms, 50), bench::Percentile(r.latencies_ms, 99));
}

}  // namespace

int main(int argc, char** argv) {
  if (argc < 5) {
    std::cerr << "usage: pods_bench SIGNER_NAME COUNT NAMESPACE NODE_KUBECONFIG [PREFIX]\n";
    return 2;
  }
  spdlog::set_level(spdlog::level::warn);
  const std::string signer = argv[1];
  const int count = std::stoi(argv[2]);
  const std::string ns = argv[3];
  const std::string prefix = argc > 5 ? argv[5] : "pods-bench";
  auto admin = bench::ClientFromEnvironment();
  auto node_config = kube::LoadKubeconfig(argv[4]);
  if (admin == nullptr || !node_config.ok()) {
    std::cerr << (node_config.ok() ? "" : node_config.error().message()) << "\n";
    return 1;
  }
  auto node = kube::Client::Create(*node_config);
  if (!node.ok()) return 1;

  // The pods the requests are for, and what kubelet fills in about them.
  kube::ListOptions selected;
  selected.label_selector = "bench=" + prefix;
  auto pods = admin->List(kPods, ns, selected);
  if (!pods.ok() || (*pods)["items"].empty()) {
    std::cerr << "no pods labelled bench=" << prefix << " in " << ns << "\n";
    return 1;
  }
  struct PodInfo {
    kube::Json spec;
  };
  std::vector<PodInfo> targets;
  for (const auto& pod : (*pods)["items"]) {
    const std::string node_name = pod["spec"].value("nodeName", "");
    const std::string sa = pod["spec"].value("serviceAccountName", "default");
    auto sa_object = admin->Get(kube::resources::kServiceAccounts, ns, sa);
    auto node_object = admin->Get(kNodes, "", node_name);
    if (!sa_object.ok() || !node_object.ok()) continue;
    targets.push_back({{{"signerName", signer},
                        {"podName", pod["metadata"]["name"]},
                        {"podUID", pod["metadata"]["uid"]},
                        {"serviceAccountName", sa},
                        {"serviceAccountUID", (*sa_object)["metadata"]["uid"]},
                        {"nodeName", node_name},
                        {"nodeUID", (*node_object)["metadata"]["uid"]},
                        {"maxExpirationSeconds", 86400}}});
  }
  std::printf("machine: %u cores; plane, node, controller and bench share it; %d writers\n",
              std::thread::hardware_concurrency(), kWriters);

  // The floor: a ConfigMap created, then updated (a signer's one status write), seen by a watch.
  const std::string floor_label = "certwright.dev/bench=" + prefix + "-floor";
  auto floor = Timed(
      *admin, admin, kube::resources::kConfigMaps, ns, floor_label, count,
      [&](int i) {
        return kube::Json{{"apiVersion", "v1"},
                          {"kind", "ConfigMap"},
                          {"metadata",
                           {{"name", prefix + "-floor-" + std::to_string(i)},
                            {"labels", {{"certwright.dev/bench", prefix + "-floor"}}}}},
                          {"data", {{"state", "created"}}}};
      },
      [&](kube::Json object) {
        object["data"]["state"] = "answered";
        auto ok = admin->Update(kube::resources::kConfigMaps, ns, object);
        if (!ok.ok()) std::cerr << "floor update: " << ok.error().message() << "\n";
      },
      [](const kube::Json& o) { return o.value("data", kube::Json::object()).value("state", "") == "answered" ? 1 : 0; });
  Print("floor(create+write, watched)", floor);

  // As the node: the requests; the controller answers them.
  std::vector<std::string> stubs;
  for (int i = 0; i < count; ++i) stubs.push_back(StubRequest());
  auto pcrs = Timed(
      **node, admin, kube::resources::kPodCertificateRequests, ns, "certwright.dev/bench=" + prefix, count,
      [&](int i) {
        kube::Json spec = targets[static_cast<size_t>(i) % targets.size()].spec;
        spec["stubPKCS10Request"] = stubs[static_cast<size_t>(i)];
        return kube::Json{{"apiVersion", "certificates.k8s.io/v1"},
                          {"kind", "PodCertificateRequest"},
                          {"metadata",
                           {{"name", prefix + "-" + std::to_string(i)}, {"labels", {{"certwright.dev/bench", prefix}}}}},
                          {"spec", spec}};
      },
      [](const kube::Json&) {},
      [](const kube::Json& o) {
        for (const auto& c : o.value("status", kube::Json::object()).value("conditions", kube::Json::array())) {
          if (c.value("status", "") != "True") continue;
          const std::string type = c.value("type", "");
          if (type == "Issued") return 1;
          if (type == "Denied" || type == "Failed") {
            std::cerr << o["metadata"].value("name", "") << " " << type << ": " << c.value("message", "") << "\n";
            return -1;
          }
        }
        return 0;
      });
  Print("pcr(create->Issued)", pcrs);
  const double floor_p50 = bench::Percentile(floor.latencies_ms, 50);
  const double floor_rate = static_cast<double>(floor.latencies_ms.size()) / floor.seconds;
  const double pcr_rate = static_cast<double>(pcrs.latencies_ms.size()) / pcrs.seconds;
  std::printf("ratio p50_to_floor=%.2f (target <= 3) p99_to_floor_p99=%.2f rate_to_floor=%.2f (target >= 0.8)\n",
              bench::Percentile(pcrs.latencies_ms, 50) / floor_p50,
              bench::Percentile(pcrs.latencies_ms, 99) / bench::Percentile(floor.latencies_ms, 99), pcr_rate / floor_rate);
  for (const auto& [r, label] : {std::pair{&kube::resources::kConfigMaps, prefix + "-floor"},
                                 std::pair{&kube::resources::kPodCertificateRequests, prefix}}) {
    auto deleted = admin->Request("DELETE", r->Path(ns) + "?labelSelector=certwright.dev%2Fbench%3D" + label, r->plural);
    if (!deleted.ok()) std::cerr << "deleting: " << deleted.error().message() << "\n";
  }
  return pcrs.failed == 0 && floor.failed == 0 ? 0 : 1;
}
