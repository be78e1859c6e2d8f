// What the controller benchmarks share: a client from $KUBECONFIG, and percentiles.
#pragma once

#include <algorithm>
#include <iostream>
#include <memory>
#include <vector>

#include "certwright/kube/client.h"
#include "certwright/kube/config.h"

namespace certwright::bench {

// nullptr (and a message on stderr) when there is no usable kubeconfig.
inline std::shared_ptr<kube::Client> ClientFromEnvironment() {
  auto config = kube::LoadConfig();
  if (!config.ok()) {
    std::cerr << config.error().message() << "\n";
    return nullptr;
  }
  auto client = kube::Client::Create(*config);
  if (!client.ok()) {
    std::cerr << client.error().message() << "\n";
    return nullptr;
  }
  return *client;
}

// The p-th percentile (nearest rank) of `v`; 0 for none.
inline double Percentile(std::vector<double> v, double p) {
  if (v.empty()) return 0;
  std::sort(v.begin(), v.end());
  return v[std::min(v.size() - 1, static_cast<size_t>(p / 100.0 * static_cast<double>(v.size())))];
}

}  // namespace certwright::bench
