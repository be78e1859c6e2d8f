// A KMS-compatible server of the test's own (hack/kms-server: moto with the fixes in
// hack/kms_server.py) on a free loopback port, stopped on destruction (STYLE.md §13).
//
//   KmsServer kms;                                  // installs on first use, starts, waits
//   ASSERT_TRUE(kms.ok()) << kms.error();
//   registry.Create(kms.KeyUri("alias/ca"), KeySpec::EcdsaP256());
//
// A server that cannot be started is a test failure, never a silent skip; only
// CERTWRIGHT_SKIP_KMS=1 (documented in README) skips, through SkipKmsTests().
#pragma once

#include <string>

#include "support/softhsm_token.h"  // TempDir

namespace certwright::testing {

inline constexpr const char* kKmsRegion = "eu-west-1";

// True when CERTWRIGHT_SKIP_KMS=1: callers GTEST_SKIP() with the reason.
bool SkipKmsTests();

class KmsServer {
 public:
  // `seed_json`: hack/kms_server.py's seed file contents (keys with fixed ids and key material).
  explicit KmsServer(std::string seed_json = "");
  ~KmsServer();
  KmsServer(const KmsServer&) = delete;
  KmsServer& operator=(const KmsServer&) = delete;

  bool ok() const { return error_.empty(); }
  const std::string& error() const { return error_; }

  // Stops the server (SIGTERM, then waits); Start() brings it back on the same port with the
  // same seed (in-memory state other than the seed is gone, as after a KMS outage... and more).
  void Stop();
  bool Start();

  std::string endpoint() const { return "http://127.0.0.1:" + std::to_string(port_); }
  int port() const { return port_; }
  // awskms:key-id=<key_id>;region=eu-west-1?endpoint=...&access-key-id=...&secret-access-key=...
  // with dummy static credentials (the server does not check them unless EnableAuth was called).
  std::string KeyUri(const std::string& key_id) const;
  std::string KeyUriWithoutCredentials(const std::string& key_id) const;
  // Runs a moto/boto3 snippet against this server (python with `kms`, `iam`, `sts` clients
  // bound); returns its stdout+stderr, and the exit status through `status`.
  std::string Python(const std::string& code, int* status = nullptr) const;
  // Turns on SigV4 and IAM policy checks in the server (moto's reset-auth): from now on only
  // credentials of IAM users created in it are accepted.
  bool EnableAuth();

 private:
  TempDir dir_;
  std::string seed_json_;
  int port_ = 0;
  int pid_ = 0;
  std::string error_;
};

// A free TCP port on 127.0.0.1 (bound to 0, read back, released).
int FreeLoopbackPort();

}  // namespace certwright::testing
