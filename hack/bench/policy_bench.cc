// policy_bench: what policy evaluation adds to an issuance, as a ratio to the issuance itself
// measured in the same run (DESIGN.md "Testing"). Target: with 100 policies in place, evaluation
// costs at most 5% of an ECDSA P-256 issuance from a file key.
//
//   build-bench/hack/bench/policy_bench
//
// BM_PolicyEvaluate100: one Certificate request against 100 CertificatePolicies: 50 for other
// issuers by exact name, 25 for the same issuer but other namespaces, 24 for other issuers by
// glob (consulted on every request), and 1 that selects it, with a few dnsNames rules using
// {{namespace}} and {{name}}, a denied rule, usages, key algorithms and a maxDuration.
// BM_IssueEcdsaP256: CertificateAuthority::Issue for the same template (the baseline).
// BM_IssueThroughService100: the same issuance through IssuanceService::Issue with those 100
// policies in force: custody, policy, lifetime clamps, signature and the JSON audit record
// (serialised, not written), i.e. what every door pays.
#include <benchmark/benchmark.h>

#include <cstdio>
#include <map>
#include <memory>
#include <string>

#include "certwright/issuance/service.h"
#include "certwright/signer/key_backend.h"
#include "certwright/signer/policy.h"
#include "certwright/signer/x509.h"
#include "file/file_backend.h"
#include "bench_policies.h"
#include "bench_signer.h"

namespace {

using namespace certwright;
using namespace certwright::signer;
using namespace certwright::signer::policy;
using certwright::bench::HundredPolicies;

CertificateTemplate LeafTemplate() {
  CertificateTemplate t;
  t.subject = *DistinguishedName::Parse("CN=web.team-a.svc");
  t.dns_names = {"web.team-a.svc", "web.team-a.svc.cluster.local", "web.example.com"};
  t.duration = std::chrono::hours(24 * 90);
  return t;
}

void BM_PolicyEvaluate100(benchmark::State& state) {
  const PolicySet set = HundredPolicies();
  const CertificateTemplate tmpl = LeafTemplate();
  PolicyRequest r;
  r.door = Door::kCertificate;
  r.ns = "team-a";
  r.name = "web";
  r.issuer_kind = "ClusterIssuer";
  r.issuer_name = "corp-ca";
  r.tmpl = &tmpl;
  r.key = KeySpec::EcdsaP256();
  for (auto _ : state) {
    PolicyDecision d = set.Evaluate(r, /*policy_required=*/true);
    if (!d.allowed) state.SkipWithError(d.message.c_str());
    benchmark::DoNotOptimize(d);
  }
  state.SetItemsProcessed(state.iterations());
}


void BM_IssueThroughService100(benchmark::State& state) {
  size_t audit_bytes = 0;
  issuance::IssuanceService service({.audit = [&](const kube::Json& record) {
    audit_bytes += record.dump(-1, ' ', false, kube::Json::error_handler_t::replace).size();
  }});
  service.SetPolicies(std::make_shared<const PolicySet>(HundredPolicies()));
  auto issuer = std::make_shared<issuance::IssuerHandle>();
  issuer->kind = "ClusterIssuer";
  issuer->name = "corp-ca";
  issuer->spec.type = api::IssuerSpec::Type::kCa;
  issuer->spec.policy_required = true;
  issuer->backend = "file";
  auto ca = bench::MakeSoftwareCa(KeySpec::EcdsaP256());
  issuer->ca.emplace(std::move(*ca.ca));
  auto leaf = *GenerateKey(KeySpec::EcdsaP256());
  issuance::IssuanceRequest request;
  request.door = Door::kCertificate;
  request.ns = "team-a";
  request.name = "web";
  request.object = "Certificate team-a/web";
  request.issuer = issuer;
  request.tmpl = LeafTemplate();
  request.subject_key = *SubjectPublicKey::FromPKey(leaf.get());
  request.audit_details = {{"reason", "DoesNotExist"}};
  for (auto _ : state) {
    auto issued = service.Issue(request);
    if (!issued.ok()) state.SkipWithError(issued.error().message().c_str());
    benchmark::DoNotOptimize(issued);
  }
  benchmark::DoNotOptimize(audit_bytes);
  state.SetItemsProcessed(state.iterations());
}

void BM_IssueEcdsaP256(benchmark::State& state) {
  auto software = bench::MakeSoftwareCa(KeySpec::EcdsaP256());
  auto& ca = *software.ca;
  auto leaf = *GenerateKey(KeySpec::EcdsaP256());
  auto subject = *SubjectPublicKey::FromPKey(leaf.get());
  const CertificateTemplate tmpl = LeafTemplate();
  for (auto _ : state) {
    auto issued = ca.Issue(tmpl, subject);
    if (!issued.ok()) state.SkipWithError(issued.error().message().c_str());
    benchmark::DoNotOptimize(issued);
  }
  state.SetItemsProcessed(state.iterations());
}

BENCHMARK(BM_PolicyEvaluate100)->MinTime(1.0);
BENCHMARK(BM_IssueEcdsaP256)->MinTime(1.0);
BENCHMARK(BM_IssueThroughService100)->MinTime(1.0);


}  // namespace

int main(int argc, char** argv) {
  benchmark::Initialize(&argc, argv);
  certwright::bench::RateReporter reporter;
  benchmark::RunSpecifiedBenchmarks(&reporter);
  auto rate = [&](const std::string& name) { return reporter.Rate(name); };
  const double evaluate = rate("BM_PolicyEvaluate100/min_time:1.000");
  const double issue = rate("BM_IssueEcdsaP256/min_time:1.000");
  const double service = rate("BM_IssueThroughService100/min_time:1.000");
  if (service > 0 && issue > 0) {
    std::printf("\nissuance through the issuance service (custody, 100 policies, audit record) %.1f us vs the bare "
                "signer %.1f us: rate ratio %.3f, %.1f%% more per issuance\n",
                1e6 / service, 1e6 / issue, service / issue, 100.0 * (issue / service - 1.0));
  }
  if (evaluate > 0 && issue > 0) {
    std::printf("\npolicy evaluation (100 policies) %.2f us, ECDSA P-256 issuance %.1f us: %.2f%% of an issuance "
                "(target <= 5%%)\n",
                1e6 / evaluate, 1e6 / issue, 100.0 * issue / evaluate);
  }
  return 0;
}
