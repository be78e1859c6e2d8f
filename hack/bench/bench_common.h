// What the controller benchmarks share: a client from $KUBECONFIG, and percentiles.
#pragma once

#include <algorithm>
#include <iostream>
#include <memory>
#include <vector>

#include <openssl/evp.h>

#include <string>

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

inline std::string Base64(const std::string& in) {
  std::string out(4 * ((in.size() + 2) / 3), '\0');
  const int n = EVP_EncodeBlock(reinterpret_cast<unsigned char*>(out.data()),
                                reinterpret_cast<const unsigned char*>(in.data()), static_cast<int>(in.size()));
  out.resize(static_cast<size_t>(n));
  return out;
}

// The p-th percentile (nearest rank) of `v`; 0 for none.
inline double Percentile(std::vector<double> v, double p) {
  if (v.empty()) return 0;
  std::sort(v.begin(), v.end());
  return v[std::min(v.size() - 1, static_cast<size_t>(p / 100.0 * static_cast<double>(v.size())))];
}

}  // namespace certwright::bench
