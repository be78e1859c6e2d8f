// awskms: key URIs (signer/backends/awskms/awskms_uri.cc) and BuildAwsKmsKeyUri, the function
// the issuer controller builds them with.
#include <gtest/gtest.h>

#include "awskms/awskms_uri.h"
#include "awskms/credentials.h"

namespace certwright::signer::awskms {
namespace {

Result<AwsKmsUri> Parse(const std::string& text) {
  auto uri = KeyUri::Parse(text);
  if (!uri) return std::move(uri).error();
  return AwsKmsUri::FromKeyUri(*uri);
}

TEST(AwsKmsUri, ParsesKeyIdRegionAndEndpoint) {
  auto uri = Parse("awskms:key-id=alias/ca;region=eu-west-1?endpoint=http://127.0.0.1:4599/");
  ASSERT_TRUE(uri.ok()) << uri.error().message();
  EXPECT_EQ(uri->key_id, "alias/ca");
  EXPECT_EQ(uri->region, "eu-west-1");
  EXPECT_EQ(uri->endpoint, "http://127.0.0.1:4599");
  EXPECT_TRUE(uri->IsAlias());
  EXPECT_FALSE(uri->credentials.has_value());
  auto plain = Parse("awskms:key-id=1234abcd-12ab-34cd-56ef-1234567890ab;region=us-east-2");
  ASSERT_TRUE(plain.ok());
  EXPECT_EQ(plain->endpoint, "https://kms.us-east-2.amazonaws.com");
  EXPECT_FALSE(plain->IsAlias());
}

TEST(AwsKmsUri, RejectsBadInputWithTheMessageAUserActsOn) {
  struct Row { std::string uri; std::string message; };
  for (const Row& row : std::vector<Row>{
           {"awskms:region=eu-west-1", "awskms URI needs \"key-id\""},
           {"awskms:key-id=alias/ca", "awskms URI needs \"region\""},
           {"awskms:key-id=alias/ca;region=EU_WEST", "\"region\" must be an AWS region such as eu-west-1"},
           {"awskms:key-id=alias/ca;region=eu-west-1;endpoint=https://x", "awskms URI attribute \"endpoint\" belongs in the query (after '?')"},
           {"awskms:key-id=alias/ca?region=eu-west-1", "awskms URI attribute \"region\" belongs in the path (before '?')"},
           {"awskms:key-id=alias/ca;region=eu-west-1?colour=red", "awskms URI has unknown query attribute \"colour\""},
           {"awskms:key-id=alias/ca;region=eu-west-1?endpoint=ftp://x", "must be an http:// or https:// URL"},
           {"awskms:key-id=alias/ca;region=eu-west-1?endpoint=http://kms.example.com", "http:// is allowed only to a loopback address"},
           {"awskms:key-id=alias/ca;region=eu-west-1?endpoint=https://kms.example.com/path", "with no path"},
           {"awskms:key-id=alias/ca;region=eu-west-1?access-key-id=AKID", "\"access-key-id\" and \"secret-access-key\" go together"},
           {"awskms:key-id=alias/ca;region=eu-west-1?secret-access-key=s3cr3t", "\"access-key-id\" and \"secret-access-key\" go together"},
           {"awskms:key-id=alias/ca;region=eu-west-1?profile=x", "\"profile\" needs \"credentials-file\""},
           {"awskms:key-id=alias/ca;region=eu-west-1?credentials-file=relative", "must be an absolute path"},
           {"awskms:key-id=alias/ca;region=eu-west-1?access-key-id=A&secret-access-key=s3cr3t&credentials-file=/x",
            "both static credentials and \"credentials-file\""},
       }) {
    auto uri = Parse(row.uri);
    ASSERT_FALSE(uri.ok()) << row.uri;
    EXPECT_EQ(uri.error().kind(), ErrorKind::kInvalidArgument) << row.uri;
    EXPECT_NE(uri.error().message().find(row.message), std::string::npos) << row.uri << ": " << uri.error().message();
    EXPECT_EQ(uri.error().message().find("s3cr3t"), std::string::npos) << uri.error().message();
  }
}

TEST(BuildAwsKmsKeyUri, RoundTripsEverySpecFieldAndSecret) {
  StaticCredentials creds{"AKIAEXAMPLE", "se/cr+et=&;?%", "tok/en+=="};
  const std::string arn = "arn:aws:kms:eu-west-1:111122223333:key/1234abcd-12ab-34cd-56ef-1234567890ab";
  std::string text = BuildAwsKmsKeyUri(arn, "eu-west-1", "https://vpce-1.kms.eu-west-1.vpce.amazonaws.com", creds);
  auto uri = Parse(text);
  ASSERT_TRUE(uri.ok()) << text << ": " << uri.error().message();
  EXPECT_EQ(uri->key_id, arn);
  EXPECT_EQ(uri->region, "eu-west-1");
  EXPECT_EQ(uri->endpoint, "https://vpce-1.kms.eu-west-1.vpce.amazonaws.com");
  ASSERT_TRUE(uri->credentials.has_value());
  EXPECT_EQ(uri->credentials->access_key_id, "AKIAEXAMPLE");
  EXPECT_EQ(uri->credentials->secret_access_key, "se/cr+et=&;?%");
  EXPECT_EQ(uri->credentials->session_token, "tok/en+==");
  // The redacted form keeps the key and the access key id, never the secret or the token.
  EXPECT_EQ(uri->redacted.find("se%2Fcr"), std::string::npos);
  EXPECT_EQ(uri->redacted.find("tok%2Fen"), std::string::npos);
  EXPECT_NE(uri->redacted.find("session-token=***"), std::string::npos);
  EXPECT_NE(uri->redacted.find("secret-access-key=***"), std::string::npos) << uri->redacted;
}

TEST(BuildAwsKmsKeyUri, LeavesOutWhatIsNotGiven) {
  EXPECT_EQ(BuildAwsKmsKeyUri("alias/ca", "eu-west-1"), "awskms:key-id=alias/ca;region=eu-west-1");
  EXPECT_EQ(BuildAwsKmsKeyUri("alias/ca", "eu-west-1", "http://127.0.0.1:4599"),
            "awskms:key-id=alias/ca;region=eu-west-1?endpoint=http%3A%2F%2F127.0.0.1%3A4599");
  auto no_token = Parse(BuildAwsKmsKeyUri("alias/ca", "eu-west-1", "", StaticCredentials{"A", "S", ""}));
  ASSERT_TRUE(no_token.ok());
  EXPECT_EQ(no_token->credentials->session_token, "");
}

TEST(Credentials, NoneIsPermissionDeniedBeforeAnyRequest) {
  auto uri = Parse("awskms:key-id=alias/ca;region=eu-west-1");
  ASSERT_TRUE(uri.ok());
  CredentialsContext context;
  context.env = [](const std::string&) -> std::optional<std::string> { return std::nullopt; };
  auto provider = MakeCredentialsProvider(*uri, context);
  ASSERT_FALSE(provider.ok());
  EXPECT_EQ(provider.error().kind(), ErrorKind::kPermissionDenied);
  EXPECT_NE(provider.error().message().find("no AWS credentials for KMS key \"alias/ca\" in eu-west-1"),
            std::string::npos)
      << provider.error().message();
}

TEST(Credentials, HalfOfAPairInTheEnvironmentIsNamed) {
  auto uri = Parse("awskms:key-id=alias/ca;region=eu-west-1");
  ASSERT_TRUE(uri.ok());
  CredentialsContext context;
  context.env = [](const std::string& name) -> std::optional<std::string> {
    if (name == "AWS_SECRET_ACCESS_KEY") return std::string("s3cr3t");
    if (name == "AWS_ROLE_ARN") return std::string("arn:aws:iam::1:role/x");
    return std::nullopt;
  };
  auto provider = MakeCredentialsProvider(*uri, context);
  ASSERT_FALSE(provider.ok());
  EXPECT_NE(provider.error().message().find("AWS_SECRET_ACCESS_KEY is set but AWS_ACCESS_KEY_ID is not"),
            std::string::npos);
  EXPECT_EQ(provider.error().message().find("s3cr3t"), std::string::npos);
}

TEST(Credentials, EnvironmentCredentialsAreUsedWhenTheUriHasNone) {
  auto uri = Parse("awskms:key-id=alias/ca;region=eu-west-1");
  ASSERT_TRUE(uri.ok());
  CredentialsContext context;
  context.env = [](const std::string& name) -> std::optional<std::string> {
    if (name == "AWS_ACCESS_KEY_ID") return std::string("AKIDENV");
    if (name == "AWS_SECRET_ACCESS_KEY") return std::string("envsecret");
    if (name == "AWS_SESSION_TOKEN") return std::string("envtoken");
    return std::nullopt;
  };
  auto provider = MakeCredentialsProvider(*uri, context);
  ASSERT_TRUE(provider.ok()) << provider.error().message();
  auto creds = (*provider)->Get();
  ASSERT_TRUE(creds.ok());
  EXPECT_EQ(creds->access_key_id, "AKIDENV");
  EXPECT_EQ(creds->secret_access_key, "envsecret");
  EXPECT_EQ(creds->session_token, "envtoken");
  EXPECT_EQ((*provider)->Describe().find("envsecret"), std::string::npos);
}

}  // namespace
}  // namespace certwright::signer::awskms
