// The AWS KMS JSON API (https://docs.aws.amazon.com/kms/latest/APIReference/), the few calls the
// backend makes: POST / with X-Amz-Target: TrentService.<Action>, SigV4-signed, JSON 1.1.
//
// Throttling, 5xx, KMSInternalException and no answer at all are retried with jittered
// exponential back-off ("full jitter"); what still fails is kUnavailable. An expired session
// token makes the credentials provider fetch new ones, once. Every other KMS error is terminal
// and mapped to an ErrorKind (see KmsErrorKind).
#pragma once

#include <nlohmann/json.hpp>

#include <chrono>
#include <functional>
#include <memory>
#include <string>
#include <string_view>

#include "awskms/credentials.h"
#include "certwright/http/client.h"
#include "certwright/signer/clock.h"
#include "certwright/signer/result.h"

namespace certwright::signer::awskms {

struct KmsClientOptions {
  int max_attempts = 4;                      // first try included
  std::chrono::milliseconds base_backoff{100};
  std::chrono::milliseconds max_backoff{2000};
};

class KmsClient {
 public:
  using Sleeper = std::function<void(std::chrono::milliseconds)>;

  KmsClient(std::string endpoint, std::string region, std::shared_ptr<CredentialsProvider> credentials,
            std::shared_ptr<http::Client> http, KmsClientOptions options = {},
            const Clock* clock = &SystemClock::Instance());

  // Calls `action` ("Sign") with `request`; `subject` names the key in messages.
  Result<nlohmann::json> Call(std::string_view action, const nlohmann::json& request, std::string_view subject);

  const std::string& endpoint() const { return endpoint_; }
  // Tests count back-offs instead of sleeping.
  void SetSleeperForTest(Sleeper sleeper) { sleep_ = std::move(sleeper); }

 private:
  std::string endpoint_;
  std::string host_;
  std::string region_;
  std::shared_ptr<CredentialsProvider> credentials_;
  std::shared_ptr<http::Client> http_;
  KmsClientOptions options_;
  const Clock* clock_;
  Sleeper sleep_;
};

// The ErrorKind for a KMS error type ("NotFoundException", "ThrottlingException", ...).
ErrorKind KmsErrorKind(std::string_view type, int http_status);

// Base64 (RFC 4648) for the JSON blobs.
std::string Base64Encode(std::string_view bytes);
Result<std::string> Base64Decode(std::string_view text);

}  // namespace certwright::signer::awskms
