// AWS Signature Version 4 (https://docs.aws.amazon.com/IAM/latest/UserGuide/reference_sigv-create-signed-request.html),
// HMAC-SHA256 through OpenSSL. Pure functions, tested against AWS's published test suite
// (tests/signer/backends/awskms_sigv4_test.cc).
#pragma once

#include <chrono>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace certwright::signer::awskms {

// Credentials as the signer uses them. The secret and the token are wiped on destruction.
struct AwsCredentials {
  std::string access_key_id;
  std::string secret_access_key;
  std::string session_token;  // empty for long-term credentials
  // When temporary credentials stop working; time_point::max() for long-term ones.
  std::chrono::system_clock::time_point expiration = std::chrono::system_clock::time_point::max();

  AwsCredentials() = default;
  AwsCredentials(std::string id, std::string secret, std::string token = {})
      : access_key_id(std::move(id)), secret_access_key(std::move(secret)), session_token(std::move(token)) {}
  AwsCredentials(const AwsCredentials&) = default;
  AwsCredentials& operator=(const AwsCredentials&) = default;
  ~AwsCredentials();
};

struct SigV4Request {
  std::string method;  // "POST"
  std::string path;    // decoded: "/", "/example space/"
  std::vector<std::pair<std::string, std::string>> query;    // decoded names and values
  std::vector<std::pair<std::string, std::string>> headers;  // every header to sign, host and x-amz-date included
  std::string body;
};

struct SigV4Signature {
  std::string canonical_request;
  std::string string_to_sign;
  std::string signature;      // lower-case hex
  std::string authorization;  // the Authorization header value
};

// Signs `request` for `service` in `region` at `amz_date` ("20150830T123600Z", the request's
// x-amz-date). The session token, if any, must already be among the headers
// (x-amz-security-token) so that it is signed.
SigV4Signature SignV4(const SigV4Request& request, const AwsCredentials& credentials, std::string_view region,
                      std::string_view service, std::string_view amz_date);

// "20150830T123600Z" for a time point (UTC).
std::string AmzDate(std::chrono::system_clock::time_point t);
// RFC 3986 percent-encoding as SigV4 wants it: everything but A-Z a-z 0-9 - . _ ~ (and '/'
// when `keep_slash`), upper-case hex.
std::string UriEncode(std::string_view bytes, bool keep_slash);
std::string Sha256Hex(std::string_view data);

}  // namespace certwright::signer::awskms
