// The CertificatePolicy set the policy and webhook benchmarks evaluate: 100 policies, of which
// one selects the benchmark's request (ClusterIssuer corp-ca, namespace team-a): 50 for other
// issuers by exact name, 25 for the same issuer but other namespaces, 24 for other issuers by glob
// (consulted on every request), and 1 with dnsNames rules using {{namespace}} and {{name}}, a denied
// rule, usages, key algorithms and a maxDuration.
#pragma once

#include <string>
#include <vector>

#include "certwright/signer/policy.h"

namespace certwright::bench {

using signer::KeyType;
using signer::policy::Compile;
using signer::policy::KeyAlgorithmRule;
using signer::policy::PolicySet;
using signer::policy::PolicySpec;

inline PolicySet HundredPolicies() {
  PolicySet set;
  auto add = [&](const std::string& name, const PolicySpec& spec) { set.Add(*Compile(name, spec)); };
  for (int i = 0; i < 50; ++i) {
    PolicySpec s;
    s.selector.issuer_refs = {{"issuer-" + std::to_string(i), "ClusterIssuer"}};
    s.allowed.dns_names = std::vector<std::string>{"*.{{namespace}}.svc"};
    add("other-issuer-" + std::to_string(i), s);
  }
  for (int i = 0; i < 25; ++i) {
    PolicySpec s;
    s.selector.issuer_refs = {{"corp-ca", "ClusterIssuer"}};
    s.selector.namespace_names = {"team-" + std::to_string(i) + "-*"};
    s.allowed.dns_names = std::vector<std::string>{"*.{{namespace}}.svc"};
    add("other-namespace-" + std::to_string(i), s);
  }
  for (int i = 0; i < 24; ++i) {
    PolicySpec s;
    s.selector.issuer_refs = {{"vault-" + std::to_string(i) + "-*", ""}};
    s.denied.dns_names = {"**.internal"};
    add("glob-issuer-" + std::to_string(i), s);
  }
  PolicySpec web;
  web.selector.issuer_refs = {{"corp-ca", "ClusterIssuer"}};
  web.selector.namespace_names = {"team-a"};
  web.allowed.common_name = "*.{{namespace}}.svc";
  web.allowed.dns_names = std::vector<std::string>{"*.{{namespace}}.svc", "*.{{namespace}}.svc.cluster.local",
                                                   "{{name}}.example.com", "**.team-a.example.com"};
  web.allowed.usages = std::vector<std::string>{"digital signature", "key encipherment", "server auth"};
  web.allowed.key_algorithms = std::vector<KeyAlgorithmRule>{{KeyType::kEcdsa, 256}, {KeyType::kRsa, 2048}};
  web.denied.dns_names = {"**.evil.com"};
  web.constraints.max_duration = std::chrono::hours(24 * 365);
  add("team-a-web", web);
  return set;
}

}  // namespace certwright::bench
