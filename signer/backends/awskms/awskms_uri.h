// awskms: key URIs, in the shape of RFC 7512 like every certwright key URI (see docs/awskms.md).
//
//   awskms:key-id=alias/issuing-ca;region=eu-west-1
//   awskms:key-id=arn:aws:kms:eu-west-1:111122223333:key/1234abcd-...;region=eu-west-1?endpoint=http://127.0.0.1:4599
//   awskms:key-id=alias/ca;region=eu-west-1?access-key-id=AKIA...&secret-access-key=...&session-token=...
//   awskms:key-id=alias/ca;region=eu-west-1?credentials-file=/etc/aws/credentials&profile=ca
//
// Path: key-id (a key id, key ARN, alias name or alias ARN) and region. Query: endpoint (a KMS
// API URL; http:// only to a loopback address), static credentials, or a shared credentials
// file. Without credentials in the URI the standard AWS_* environment variables are used (see
// credentials.h). secret-access-key and session-token are shown as "***" by KeyUri::Redacted().
//
// In-process callers (the issuer controller) build the URI with BuildAwsKmsKeyUri from an
// awsKMS issuer spec and the Secret named by credentialsSecretRef.
#pragma once

#include <optional>
#include <string>
#include <string_view>

#include "certwright/signer/key_uri.h"
#include "certwright/signer/result.h"
#include "certwright/signer/secret.h"

namespace certwright::signer::awskms {

// Static credentials read from a Kubernetes Secret (AWS_ACCESS_KEY_ID, AWS_SECRET_ACCESS_KEY,
// AWS_SESSION_TOKEN) or elsewhere.
// The secret and the session token are wiped when a copy goes.
struct StaticCredentials {
  std::string access_key_id;
  std::string secret_access_key;
  std::string session_token;  // empty when the credentials are long-term

  ~StaticCredentials() {
    Wipe(secret_access_key);
    Wipe(session_token);
  }
};

// The key URI for an awsKMS issuer: `key_id` and `region` as in the spec, `endpoint` empty for
// the region's public endpoint, `credentials` unset for the default chain (environment, web
// identity). Every value is percent-encoded, so any key ARN or secret survives the round trip.
// The result holds secrets when `credentials` is set: hand it to KeyBackendRegistry::Load and
// do not log it (SigningKey::uri() and errors show it redacted).
std::string BuildAwsKmsKeyUri(std::string_view key_id, std::string_view region, std::string_view endpoint = {},
                              const std::optional<StaticCredentials>& credentials = std::nullopt);

struct AwsKmsUri {
  std::string key_id;
  std::string region;
  std::string endpoint;  // scheme://host[:port], no trailing slash; the region's public endpoint by default
  std::optional<StaticCredentials> credentials;
  std::optional<std::string> credentials_file;
  std::optional<std::string> profile;
  std::string redacted;  // the URI without secrets, for messages

  static Result<AwsKmsUri> FromKeyUri(const KeyUri& uri);

  // True for "alias/name" and alias ARNs: the only names a key can be created under.
  bool IsAlias() const;
  // The alias name ("alias/name") for an alias or alias ARN.
  std::string AliasName() const;
  // How messages name the key: `KMS key "alias/ca" in eu-west-1`.
  std::string Description() const;
};

}  // namespace certwright::signer::awskms
