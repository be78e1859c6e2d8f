// Where the awskms backend gets AWS credentials, in this order:
//   1. static credentials in the key URI (access-key-id, secret-access-key, session-token),
//      which is how the issuer controller hands over a Secret;
//   2. a shared credentials file named in the URI (credentials-file, profile);
//   3. AWS_ACCESS_KEY_ID / AWS_SECRET_ACCESS_KEY / AWS_SESSION_TOKEN;
//   4. web identity: AWS_ROLE_ARN + AWS_WEB_IDENTITY_TOKEN_FILE (EKS service-account roles),
//      exchanged with STS AssumeRoleWithWebIdentity and refreshed before they expire;
//   5. AWS_SHARED_CREDENTIALS_FILE (or ~/.aws/credentials), profile AWS_PROFILE or "default".
// Nothing found is kPermissionDenied before any request is sent. Secrets never appear in
// messages.
#pragma once

#include <functional>
#include <memory>
#include <mutex>
#include <optional>
#include <string>

#include "awskms/awskms_uri.h"
#include "certwright/http/client.h"
#include "awskms/sigv4.h"
#include "certwright/signer/clock.h"
#include "certwright/signer/result.h"

namespace certwright::signer::awskms {

class CredentialsProvider {
 public:
  virtual ~CredentialsProvider() = default;
  // Credentials valid now; temporary ones are refreshed ahead of their expiry.
  virtual Result<AwsCredentials> Get() = 0;
  // The server said the credentials expired: the next Get fetches new ones if it can.
  virtual void Invalidate() {}
  // "static credentials from the key URI", "web identity (role arn:...)": for messages.
  virtual std::string Describe() const = 0;
};

// Reads an environment variable; tests inject their own.
using EnvLookup = std::function<std::optional<std::string>(const std::string& name)>;
EnvLookup ProcessEnvironment();

struct CredentialsContext {
  EnvLookup env = ProcessEnvironment();
  std::shared_ptr<http::Client> http;      // for STS
  const Clock* clock = &SystemClock::Instance();
  // Temporary credentials are refreshed when less than this is left.
  std::chrono::seconds refresh_before{300};
};

Result<std::shared_ptr<CredentialsProvider>> MakeCredentialsProvider(const AwsKmsUri& uri,
                                                                     const CredentialsContext& context);

// Reads `profile` from an AWS shared credentials file (INI: aws_access_key_id,
// aws_secret_access_key, aws_session_token).
Result<AwsCredentials> ReadCredentialsFile(const std::string& path, const std::string& profile);

}  // namespace certwright::signer::awskms
