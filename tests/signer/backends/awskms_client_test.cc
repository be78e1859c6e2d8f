// The KMS client's reading of replies, against a fake of our own HTTP interface (http.h): what
// a reply that is not from KMS may put into an error message (its status and content type, never
// its body), and what a KMS error still says.
#include "awskms/kms_client.h"

#include <gtest/gtest.h>

#include <vector>

namespace certwright::signer::awskms {
namespace {

// Answers every request with the same response and counts the requests.
class FakeHttp final : public http::Client {
 public:
  explicit FakeHttp(http::Response response) : response_(std::move(response)) {}
  Result<http::Response> Send(const http::Request&) override {
    ++requests;
    return response_;
  }
  int requests = 0;

 private:
  http::Response response_;
};

class FixedCredentials final : public CredentialsProvider {
 public:
  Result<AwsCredentials> Get() override { return AwsCredentials("AKIDEXAMPLE", "secret"); }
  std::string Describe() const override { return "test credentials"; }
};

http::Response Reply(int status, std::string body, std::string content_type = "") {
  http::Response r;
  r.status = status;
  r.body = std::move(body);
  if (!content_type.empty()) r.headers["content-type"] = std::move(content_type);
  return r;
}

Result<nlohmann::json> CallWith(const http::Response& response, int* requests = nullptr) {
  auto http = std::make_shared<FakeHttp>(response);
  KmsClientOptions options;
  options.max_attempts = 2;
  KmsClient client("http://10.0.0.5:8080", "eu-west-1", std::make_shared<FixedCredentials>(), http, options);
  client.SetSleeperForTest([](std::chrono::milliseconds) {});
  auto result = client.Call("Sign", nlohmann::json{{"KeyId", "alias/ca"}}, "KMS key \"alias/ca\" in eu-west-1");
  if (requests) *requests = http->requests;
  return result;
}

const std::string kWhat = "KMS key \"alias/ca\" in eu-west-1 (http://10.0.0.5:8080): KMS Sign";
const std::string kSecret = "internal-admin-token-1234";

TEST(KmsClient, AReplyThatIsNotKmsJsonIsReportedByStatusAndContentTypeOnly) {
  struct Row {
    http::Response response;
    ErrorKind kind;
    std::string message;
  };
  const std::vector<Row> rows = {
      {Reply(200, "<html>" + kSecret + "</html>", "text/html; charset=utf-8"), ErrorKind::kUnavailable,
       kWhat + ": the server answered HTTP 200 with content type \"text/html; charset=utf-8\", not KMS JSON (after 2 "
               "attempts)"},
      {Reply(200, "[\"" + kSecret + "\"]", "application/json"), ErrorKind::kUnavailable,
       kWhat + ": the server answered HTTP 200 with content type \"application/json\", not KMS JSON (after 2 "
               "attempts)"},
      {Reply(200, kSecret), ErrorKind::kUnavailable,
       kWhat + ": the server answered HTTP 200 with no content type, not KMS JSON (after 2 attempts)"},
      {Reply(403, "<html>" + kSecret + "</html>", "text/html"), ErrorKind::kPermissionDenied,
       kWhat + " failed: HTTP 403 with content type \"text/html\", not a KMS reply"},
      {Reply(404, "{\"message\": \"" + kSecret + "\"}", "application/json"), ErrorKind::kInvalidArgument,
       kWhat + " failed: HTTP 404 with content type \"application/json\", not a KMS reply"},
      {Reply(400, "{\"__type\": \"" + kSecret + " <b>\", \"message\": \"" + kSecret + "\"}", "application/json"),
       ErrorKind::kInvalidArgument, kWhat + " failed: HTTP 400 with content type \"application/json\", not a KMS reply"},
      {Reply(500, kSecret, "text/plain\r\nX-Injected: \"1\""), ErrorKind::kUnavailable,
       kWhat + " failed: HTTP 500 with content type \"text/plain??X-Injected: ?1?\", not a KMS reply (after 2 "
               "attempts)"},
  };
  for (const auto& row : rows) {
    auto result = CallWith(row.response);
    ASSERT_FALSE(result.ok()) << row.message;
    EXPECT_EQ(result.error().kind(), row.kind) << result.error().message();
    EXPECT_EQ(result.error().message(), row.message);
    EXPECT_EQ(result.error().message().find(kSecret), std::string::npos) << result.error().message();
  }
}

TEST(KmsClient, AKmsErrorStillSaysItsTypeAndMessage) {
  int requests = 0;
  auto result = CallWith(Reply(400,
                               "{\"__type\": \"com.amazonaws.kms#NotFoundException\", \"message\": \"Alias "
                               "arn:aws:kms:eu-west-1:111122223333:alias/ca is not found.\"}",
                               "application/x-amz-json-1.1"),
                         &requests);
  ASSERT_FALSE(result.ok());
  EXPECT_EQ(result.error().kind(), ErrorKind::kNotFound);
  EXPECT_EQ(result.error().message(),
            kWhat + " failed: HTTP 400 NotFoundException: Alias arn:aws:kms:eu-west-1:111122223333:alias/ca is not "
                    "found.");
  EXPECT_EQ(requests, 1) << "terminal, not retried";

  // The type in a header, the body not JSON: the type is said, the body is not.
  http::Response header_only = Reply(429, kSecret, "text/plain");
  header_only.headers["x-amzn-errortype"] = "ThrottlingException:http://internal.aws.amazon.com/";
  auto throttled = CallWith(header_only);
  ASSERT_FALSE(throttled.ok());
  EXPECT_EQ(throttled.error().kind(), ErrorKind::kUnavailable);
  EXPECT_EQ(throttled.error().message(), kWhat + " failed: HTTP 429 ThrottlingException (after 2 attempts)");
}

TEST(KmsClient, KmsJsonIsReturned) {
  auto result = CallWith(Reply(200, "{\"Signature\": \"AAAA\"}", "application/x-amz-json-1.1"));
  ASSERT_TRUE(result.ok()) << result.error().message();
  EXPECT_EQ((*result)["Signature"], "AAAA");
}

}  // namespace
}  // namespace certwright::signer::awskms
