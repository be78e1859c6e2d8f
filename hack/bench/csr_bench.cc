// csr_bench: a running `certwright controller` signing Kubernetes CSRs on a real control plane
// ($KUBECONFIG): create COUNT CertificateSigningRequests for SIGNER_NAME, approve each, and
// measure for each the time from the approval request to the status.certificate the controller
// writes (seen through a watch, steady clock). CSRs are labelled and deleted afterwards.
//
//   csr_bench SIGNER_NAME COUNT [PREFIX]
//
// Prints one line of key=value figures. One run, not a statistical benchmark.
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/x509.h>
#include <spdlog/spdlog.h>

#include <algorithm>
#include <chrono>
#include <condition_variable>
#include <iostream>
#include <map>
#include <mutex>
#include <string>
#include <vector>

#include "bench_common.h"
#include "certwright/kube/informer.h"

namespace {

using namespace certwright;
using Steady = std::chrono::steady_clock;

using bench::Base64;

// A PEM PKCS#10 request for a fresh P-256 key, as a client would make it.
std::string MakeCsr(const std::string& cn) {
  EVP_PKEY* key = EVP_EC_gen("P-256");
  X509_REQ* req = X509_REQ_new();
  X509_REQ_set_version(req, 0);
  X509_NAME_add_entry_by_txt(X509_REQ_get_subject_name(req), "CN", MBSTRING_UTF8,
                             reinterpret_cast<const unsigned char*>(cn.c_str()), -1, -1, 0);
  X509_REQ_set_pubkey(req, key);
  X509_REQ_sign(req, key, EVP_sha256());
  BIO* bio = BIO_new(BIO_s_mem());
  PEM_write_bio_X509_REQ(bio, req);
  char* data = nullptr;
  const long len = BIO_get_mem_data(bio, &data);
  std::string pem(data, static_cast<size_t>(len));
  BIO_free(bio);
  X509_REQ_free(req);
  EVP_PKEY_free(key);
  return pem;
}


}  // namespace

int main(int argc, char** argv) {
  if (argc < 3) {
    std::cerr << "usage: csr_bench SIGNER_NAME COUNT [PREFIX]\n";
    return 2;
  }
  spdlog::set_level(spdlog::level::warn);
  const std::string signer = argv[1];
  const int count = std::stoi(argv[2]);
  const std::string prefix = argc > 3 ? argv[3] : "csr-bench";
  const auto& kCsrs = kube::resources::kCertificateSigningRequests;

  auto client = bench::ClientFromEnvironment();
  if (client == nullptr) return 1;

  std::mutex mutex;
  std::condition_variable changed;
  std::map<std::string, Steady::time_point> approved, signed_at;
  int failed = 0;
  kube::Informer informer(client, kCsrs, "", {.label_selector = "certwright.dev/bench=" + prefix});
  auto seen = [&](const kube::Json& c) {
    const std::string name = c["metadata"].value("name", "");
    const kube::Json status = c.value("status", kube::Json::object());
    std::lock_guard lock(mutex);
    if (!status.value("certificate", "").empty() && signed_at.count(name) == 0) {
      signed_at[name] = Steady::now();
      changed.notify_all();
    }
    for (const auto& cond : status.value("conditions", kube::Json::array())) {
      if (cond.value("type", "") == "Failed" && signed_at.count(name) == 0) {
        std::cerr << name << " Failed: " << cond.value("message", "") << "\n";
        signed_at[name] = Steady::now();
        ++failed;
        changed.notify_all();
      }
    }
  };
  informer.AddHandler({.on_add = seen, .on_update = [&](const kube::Json&, const kube::Json& c) { seen(c); }});
  informer.Start();
  if (!informer.WaitForSync(std::chrono::minutes(1))) {
    std::cerr << "the CSR informer did not sync\n";
    return 1;
  }

  std::vector<std::string> requests;
  for (int i = 0; i < count; ++i) requests.push_back(Base64(MakeCsr(prefix + "-" + std::to_string(i))));

  const auto start = Steady::now();
  for (int i = 0; i < count; ++i) {
    const std::string name = prefix + "-" + std::to_string(i);
    kube::Json csr = {
        {"apiVersion", "certificates.k8s.io/v1"},
        {"kind", "CertificateSigningRequest"},
        {"metadata", {{"name", name}, {"labels", {{"certwright.dev/bench", prefix}}}}},
        {"spec", {{"signerName", signer}, {"request", requests[i]}, {"usages", {"digital signature", "client auth"}}}},
    };
    auto created = client->Create(kCsrs, "", csr);
    if (!created.ok()) {
      std::cerr << "creating " << name << ": " << created.error().message() << "\n";
      return 1;
    }
    kube::Json approval = *created;
    approval["status"]["conditions"] = {{{"type", "Approved"},
                                         {"status", "True"},
                                         {"reason", "Benchmark"},
                                         {"message", "approved by csr_bench"}}};
    {
      std::lock_guard lock(mutex);
      approved[name] = Steady::now();
    }
    auto ok = client->Update(kCsrs, "", approval, "approval");
    if (!ok.ok()) {
      std::cerr << "approving " << name << ": " << ok.error().message() << "\n";
      return 1;
    }
  }
  const auto approved_all = Steady::now();
  bool all = false;
  {
    std::unique_lock lock(mutex);
    all = changed.wait_for(lock, std::chrono::minutes(10), [&] { return static_cast<int>(signed_at.size()) >= count; });
  }
  informer.Stop();
  std::vector<double> latencies;
  Steady::time_point last = start;
  for (const auto& [name, t] : approved) {
    if (signed_at.count(name) == 0) continue;
    latencies.push_back(std::chrono::duration<double, std::milli>(signed_at[name] - t).count());
    last = std::max(last, signed_at[name]);
  }
  const double seconds = std::chrono::duration<double>(last - start).count();
  std::printf(
      "count=%d signed=%zu failed=%d approve_s=%.2f total_s=%.2f throughput_per_s=%.1f p50_ms=%.1f p95_ms=%.1f "
      "p99_ms=%.1f max_ms=%.1f\n",
      count, latencies.size() - static_cast<size_t>(failed), failed,
      std::chrono::duration<double>(approved_all - start).count(), seconds, static_cast<double>(latencies.size()) / seconds,
      bench::Percentile(latencies, 50), bench::Percentile(latencies, 95), bench::Percentile(latencies, 99), bench::Percentile(latencies, 100));
  auto deleted = client->Request("DELETE", kCsrs.Path("") + "?labelSelector=certwright.dev%2Fbench%3D" + prefix,
                                    "certificatesigningrequests");
  if (!deleted.ok()) std::cerr << "deleting the CSRs: " << deleted.error().message() << "\n";
  return all && failed == 0 ? 0 : 1;
}
