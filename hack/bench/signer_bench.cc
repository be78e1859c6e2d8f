// signer_bench: certificates issued per second per core, as a ratio to the raw sign rate of
// the same key measured in the same run (DESIGN.md "Testing", issue #2).
//
//   build/hack/bench/signer_bench            (hack/bench/signer prints the machine, then runs it)
//
// Baselines: an OpenSSL EVP_DigestSignInit + EVP_DigestSign loop over a certificate-sized
// message for file keys; a bare C_SignInit + C_Sign loop on one logged-in session for SoftHSM2.
// Issuance: CertificateAuthority::Issue from a public key + template (subject, one DNS name,
// default usages): build the TBS, sign through the backend, encode DER and PEM.
#include <benchmark/benchmark.h>
#include <openssl/evp.h>
#include <stdlib.h>

#include <cstdio>
#include <filesystem>
#include <fstream>
#include <iostream>
#include <map>
#include <memory>
#include <string>

#include "certwright/signer/key_backend.h"
#include "certwright/signer/x509.h"
#include "file/file_backend.h"
#include "pkcs11/pkcs11_api.h"
#include "pkcs11/pkcs11_backend.h"
#include "bench_signer.h"

namespace {

using namespace certwright;
using namespace certwright::signer;

constexpr const char* kModule = "/usr/lib/softhsm/libsofthsm2.so";

// A TBSCertificate-sized message (a typical leaf TBS is 300-450 bytes).
const std::string kMessage(400, 'x');

CertificateTemplate LeafTemplate() {
  CertificateTemplate t;
  t.subject = *DistinguishedName::Parse("CN=bench.example.com");
  t.dns_names = {"bench.example.com"};
  t.duration = std::chrono::hours(24);
  return t;
}

using bench::MakeSoftwareCa;

KeySpec SpecFor(int64_t index) {
  switch (index) {
    case 0: return KeySpec::EcdsaP256();
    case 1: return KeySpec::Ed25519();
    default: return KeySpec::Rsa(2048);
  }
}

std::string LabelFor(int64_t index) { return index == 0 ? "ecdsa-p256" : index == 1 ? "ed25519" : "rsa-2048"; }

void BM_FileRawSign(benchmark::State& state) {
  KeySpec spec = SpecFor(state.range(0));
  auto key = *GenerateKey(spec);
  const EVP_MD* md = spec.type == KeyType::kEd25519 ? nullptr : EVP_sha256();
  std::vector<unsigned char> sig(1024);
  for (auto _ : state) {
    EVP_MD_CTX* ctx = EVP_MD_CTX_new();
    size_t len = sig.size();
    if (EVP_DigestSignInit(ctx, nullptr, md, nullptr, key.get()) != 1 ||
        EVP_DigestSign(ctx, sig.data(), &len, reinterpret_cast<const unsigned char*>(kMessage.data()),
                       kMessage.size()) != 1) {
      state.SkipWithError("EVP_DigestSign failed");
    }
    EVP_MD_CTX_free(ctx);
    benchmark::DoNotOptimize(sig.data());
  }
  state.SetItemsProcessed(state.iterations());
  state.SetLabel(LabelFor(state.range(0)));
}

// The subject key as it arrives in a CSR: SPKI parts taken from the request's encoding.
SubjectPublicKey LeafKey() {
  auto key = *GenerateKey(KeySpec::EcdsaP256());
  return *SubjectPublicKey::FromPKey(key.get());
}

void BM_FileIssue(benchmark::State& state) {
  auto ca = MakeSoftwareCa(SpecFor(state.range(0)));
  auto subject = LeafKey();
  auto tmpl = LeafTemplate();
  for (auto _ : state) {
    auto issued = ca.ca->Issue(tmpl, subject);
    if (!issued.ok()) state.SkipWithError(issued.error().message().c_str());
    benchmark::DoNotOptimize(issued);
  }
  state.SetItemsProcessed(state.iterations());
  state.SetLabel(LabelFor(state.range(0)));
}

// ---- SoftHSM2 ----------------------------------------------------------------------------

struct SoftHsm {
  std::string dir;
  std::string uri;
  std::shared_ptr<SigningKey> key;
  std::unique_ptr<CertificateAuthority> ca;
  std::unique_ptr<pkcs11::Pkcs11Backend> backend;
};

SoftHsm& Hsm() {
  static SoftHsm* hsm = [] {
    auto* h = new SoftHsm;
    char tmpl[] = "/tmp/certwright-bench-XXXXXX";
    h->dir = mkdtemp(tmpl);
    std::filesystem::create_directory(h->dir + "/tokens");
    std::ofstream(h->dir + "/softhsm2.conf") << "directories.tokendir = " << h->dir
                                             << "/tokens\nobjectstore.backend = file\nlog.level = ERROR\n";
    setenv("SOFTHSM2_CONF", (h->dir + "/softhsm2.conf").c_str(), 1);
    std::string cmd = "softhsm2-util --init-token --free --label bench --so-pin 12345678 --pin 5678 >/dev/null";
    if (std::system(cmd.c_str()) != 0) {
      std::cerr << "signer_bench: softhsm2-util failed; run hack/install-deps\n";
      std::exit(1);
    }
    h->uri = std::string("pkcs11:token=bench;object=ca?module-path=") + kModule + "&pin-value=5678";
    h->backend = std::make_unique<pkcs11::Pkcs11Backend>();
    h->key = *h->backend->Create(*KeyUri::Parse(h->uri), KeySpec::EcdsaP256());
    CertificateTemplate t;
    t.subject = *DistinguishedName::Parse("CN=Bench HSM CA");
    t.is_ca = true;
    auto root = SelfSign(*h->key, t);
    std::vector<ossl::X509Ptr> chain;
    chain.push_back(root->Certificate());
    h->ca = std::make_unique<CertificateAuthority>(std::move(*CertificateAuthority::Create(h->key, std::move(chain))));
    return h;
  }();
  return *hsm;
}

// A bare C_Sign loop on one logged-in session: the device's own rate.
void BM_SoftHsmRawSign(benchmark::State& state) {
  Hsm();
  auto api = *pkcs11::LoadModule(kModule);
  std::vector<CK_SLOT_ID> slots;
  api->GetSlotList(&slots);
  CK_SLOT_ID slot = 0;
  for (auto s : slots) {
    CK_TOKEN_INFO info{};
    api->GetTokenInfo(s, &info);
    if (std::string(reinterpret_cast<char*>(info.label), 5) == "bench") slot = s;
  }
  CK_SESSION_HANDLE session = 0;
  api->OpenSession(slot, &session);
  api->Login(session, "5678");
  CK_OBJECT_CLASS cls = CKO_PRIVATE_KEY;
  const char* label = "ca";
  CK_ATTRIBUTE match[] = {{CKA_CLASS, &cls, sizeof cls}, {CKA_LABEL, const_cast<char*>(label), 2}};
  std::vector<CK_OBJECT_HANDLE> found;
  api->FindObjects(session, match, 1, &found);
  if (found.empty()) {
    state.SkipWithError("no key");
    return;
  }
  // Hash first, as a caller must for CKM_ECDSA; the digest is part of the raw cost.
  std::vector<uint8_t> digest(32), sig(128);
  CK_MECHANISM mech{CKM_ECDSA, nullptr, 0};
  for (auto _ : state) {
    unsigned int dlen = 0;
    EVP_Digest(kMessage.data(), kMessage.size(), digest.data(), &dlen, EVP_sha256(), nullptr);
    sig.resize(128);
    if (api->Sign(session, &mech, found[0], digest, &sig) != CKR_OK) state.SkipWithError("C_Sign failed");
  }
  api->CloseSession(session);
  state.SetItemsProcessed(state.iterations());
  state.SetLabel("ecdsa-p256");
}

void BM_SoftHsmIssue(benchmark::State& state) {
  auto& hsm = Hsm();
  auto subject = LeafKey();
  auto tmpl = LeafTemplate();
  for (auto _ : state) {
    auto issued = hsm.ca->Issue(tmpl, subject);
    if (!issued.ok()) state.SkipWithError(issued.error().message().c_str());
    benchmark::DoNotOptimize(issued);
  }
  state.SetItemsProcessed(state.iterations());
  state.SetLabel("ecdsa-p256");
}

BENCHMARK(BM_FileRawSign)->DenseRange(0, 2)->MinTime(1.0);
BENCHMARK(BM_FileIssue)->DenseRange(0, 2)->MinTime(1.0);
BENCHMARK(BM_SoftHsmRawSign)->MinTime(1.0);
BENCHMARK(BM_SoftHsmIssue)->Threads(1)->Threads(2)->UseRealTime()->MinTime(1.0);


}  // namespace

int main(int argc, char** argv) {
  benchmark::Initialize(&argc, argv);
  certwright::bench::RateReporter reporter;
  benchmark::RunSpecifiedBenchmarks(&reporter);
  auto rate = [&](const std::string& name) { return reporter.Rate(name); };
  std::printf("\n%-34s %12s %12s %8s %8s\n", "issuance vs raw sign (same key)", "issued/s", "raw sign/s", "ratio",
              "target");
  const char* names[] = {"ecdsa-p256", "ed25519", "rsa-2048"};
  for (int i = 0; i < 3; ++i) {
    double issue = rate("BM_FileIssue/" + std::to_string(i) + "/min_time:1.000");
    double raw = rate("BM_FileRawSign/" + std::to_string(i) + "/min_time:1.000");
    std::printf("file %-29s %12.0f %12.0f %8.3f %8s\n", names[i], issue, raw, raw > 0 ? issue / raw : 0.0, ">=0.90");
  }
  double hsm1 = rate("BM_SoftHsmIssue/min_time:1.000/real_time/threads:1");
  double hsm2 = rate("BM_SoftHsmIssue/min_time:1.000/real_time/threads:2");
  double hsm_raw = rate("BM_SoftHsmRawSign/min_time:1.000");
  std::printf("softhsm2 %-25s %12.0f %12.0f %8.3f %8s\n", "ecdsa-p256", hsm1, hsm_raw, hsm_raw > 0 ? hsm1 / hsm_raw : 0.0,
              ">=0.85");
  std::printf("softhsm2 ecdsa-p256, 2 threads vs 1: %.0f/s vs %.0f/s = %.3f (target >= 1.0)\n", hsm2, hsm1,
              hsm1 > 0 ? hsm2 / hsm1 : 0.0);
  std::filesystem::remove_all(Hsm().dir);
  return 0;
}
