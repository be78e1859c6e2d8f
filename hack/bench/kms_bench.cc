// Signatures per second through the awskms backend against a KMS-compatible server, with 1, 4
// and 16 concurrent callers, as a ratio to a bare HTTP round trip to the same server at the same
// concurrency, both measured in this run (a plain program, not a Google Benchmark loop: each
// point is a fixed wall-clock window). Run by hack/bench/kms, which starts the server.
//
//   kms_bench http://127.0.0.1:PORT [seconds per point]
#include <atomic>
#include <chrono>
#include <cstdio>
#include <string>
#include <thread>
#include <vector>

#include "awskms/awskms_backend.h"
#include "awskms/http.h"
#include "certwright/signer/key_backend.h"

using namespace certwright;
using namespace certwright::signer;

namespace {

// Runs `op` from `threads` callers for `seconds`; returns completed operations per second.
template <typename Op>
double Rate(int threads, double seconds, Op op) {
  std::atomic<bool> stop{false};
  std::atomic<long> done{0}, failed{0};
  std::vector<std::thread> workers;
  auto start = std::chrono::steady_clock::now();
  for (int t = 0; t < threads; ++t) {
    workers.emplace_back([&] {
      while (!stop) {
        if (op()) ++done; else ++failed;
      }
    });
  }
  std::this_thread::sleep_for(std::chrono::duration<double>(seconds));
  stop = true;
  for (auto& w : workers) w.join();
  double elapsed = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  if (failed > 0) std::fprintf(stderr, "warning: %ld operations failed\n", failed.load());
  return done / elapsed;
}

}  // namespace

int main(int argc, char** argv) {
  if (argc < 2) {
    std::fprintf(stderr, "usage: kms_bench http://127.0.0.1:PORT [seconds]\n");
    return 2;
  }
  const std::string endpoint = argv[1];
  const double seconds = argc > 2 ? std::stod(argv[2]) : 5.0;
  KeyBackendRegistry registry;
  RegisterBuiltinBackends(registry);
  const std::string creds = "&access-key-id=AKIDBENCH&secret-access-key=bench";
  auto http = awskms::MakeCppRestTransport();
  // The baseline: one KMS JSON round trip (ListAliases, unsigned; the server does no crypto).
  awskms::HttpRequest bare{endpoint, "POST", "/",
                           {{"Content-Type", "application/x-amz-json-1.1"},
                            {"X-Amz-Target", "TrentService.ListAliases"},
                            {"Authorization", "AWS4-HMAC-SHA256 Credential=AKIDBENCH/20240101/eu-west-1/kms/aws4_request, SignedHeaders=host, Signature=0"}},
                           "{}"};
  std::printf("%-12s %8s %14s %14s %8s\n", "key", "callers", "sign/s", "roundtrip/s", "ratio");
  for (auto spec : {KeySpec::EcdsaP256(), KeySpec::Rsa(2048)}) {
    std::string uri = "awskms:key-id=alias/bench-" + KeySpecName(spec) + ";region=eu-west-1?endpoint=" + endpoint + creds;
    auto key = registry.LoadOrCreate(uri, spec);
    if (!key) {
      std::fprintf(stderr, "%s\n", key.error().message().c_str());
      return 1;
    }
    const std::string message(1200, 'x');  // about a TBSCertificate
    std::span<const uint8_t> bytes(reinterpret_cast<const uint8_t*>(message.data()), message.size());
    for (int callers : {1, 4, 16}) {
      double base = Rate(callers, seconds, [&] {
        auto r = http->Send(bare);
        return r.ok() && r->status == 200;
      });
      double sign = Rate(callers, seconds, [&] { return (*key)->Sign(DefaultScheme(spec), bytes).ok(); });
      std::printf("%-12s %8d %14.1f %14.1f %8.2f\n", KeySpecName(spec).c_str(), callers, sign, base, sign / base);
      std::fflush(stdout);
    }
  }
  return 0;
}
