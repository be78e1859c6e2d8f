// What the signer's Google Benchmark programs share: a software CA to issue from, and a console
// reporter that also keeps each run's items/s, so main() can print ratios against a baseline
// measured in the same run.
//
//   RateReporter reporter;
//   benchmark::RunSpecifiedBenchmarks(&reporter);
//   double ratio = reporter.Rate("BM_Issue/min_time:1.000") / reporter.Rate("BM_RawSign/min_time:1.000");
#pragma once

#include <benchmark/benchmark.h>

#include <map>
#include <memory>
#include <string>
#include <vector>

#include "certwright/signer/x509.h"
#include "file/file_backend.h"

namespace certwright::bench {

// A self-signed CA with a key in memory (file backend), valid one year.
struct SoftwareCa {
  ossl::PKey key;
  std::unique_ptr<signer::CertificateAuthority> ca;
};

inline SoftwareCa MakeSoftwareCa(signer::KeySpec spec) {
  SoftwareCa out;
  out.key = std::move(*signer::GenerateKey(spec));
  auto signing = *signer::SigningKeyFromPKey(ossl::Share(out.key.get()), "bench");
  signer::CertificateTemplate t;
  t.subject = *signer::DistinguishedName::Parse("CN=Bench CA");
  t.is_ca = true;
  t.duration = std::chrono::hours(24 * 365);
  auto root = signer::SelfSign(*signing, t);
  std::vector<ossl::X509Ptr> chain;
  chain.push_back(root->Certificate());
  out.ca = std::make_unique<signer::CertificateAuthority>(
      std::move(*signer::CertificateAuthority::Create(signing, std::move(chain))));
  return out;
}

class RateReporter : public benchmark::ConsoleReporter {
 public:
  void ReportRuns(const std::vector<Run>& runs) override {
    for (const auto& run : runs) {
      auto it = run.counters.find("items_per_second");
      if (it != run.counters.end()) rates_[run.benchmark_name()] = it->second;
    }
    ConsoleReporter::ReportRuns(runs);
  }
  // items/s of the run named `name`; 0 when it did not run.
  double Rate(const std::string& name) const {
    auto it = rates_.find(name);
    return it == rates_.end() ? 0.0 : it->second;
  }

 private:
  std::map<std::string, double> rates_;
};

}  // namespace certwright::bench
