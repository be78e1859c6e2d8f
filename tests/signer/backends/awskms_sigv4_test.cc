// SigV4 against AWS's published Signature Version 4 test suite: the aws-sig-v4-test-suite
// vectors, once at https://docs.aws.amazon.com/general/latest/gr/signature-v4-test-suite.html
// (the archive aws-sig-v4-test-suite.zip; the same vectors ship with the AWS SDKs, e.g.
// @aws-sdk/signature-v4's suite.fixture.js and botocore's tests/unit/auth/aws4_testsuite).
// Credentials AKIDEXAMPLE / wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY, us-east-1, service
// "service", 20150830T123600Z.
#include <gtest/gtest.h>

#include "awskms/kms_client.h"
#include "awskms/sigv4.h"

namespace certwright::signer::awskms {
namespace {

constexpr const char* kDate = "20150830T123600Z";

AwsCredentials SuiteCredentials(std::string token = {}) {
  return AwsCredentials("AKIDEXAMPLE", "wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY", std::move(token));
}

struct Vector {
  std::string name;
  std::string method;
  std::string path;
  std::vector<std::pair<std::string, std::string>> query;
  std::vector<std::pair<std::string, std::string>> extra_headers;  // besides host and x-amz-date
  std::string body;
  std::string signed_headers;
  std::string signature;
};

TEST(SigV4, MatchesTheAwsTestSuite) {
  const std::string token =
      "AQoDYXdzEPT//////////wEXAMPLEtc764bNrC9SAPBSM22wDOk4x4HIZ8j4FZTwdQWLWsKWHGBuFqwAeMicRXmxfpSPfIeoIYRqTflfKD8YUuwthAx"
      "7mSEI/qkPpKPi/kMcGdQrmGdeehM4IC1NtBmUpp2wUE8phUZampKsburEDy0KPkyQDYwT7WZ0wq5VSXDvp75YU9HFvlRd8Tx6q6fE8YQcHNVXAkiY9q6d+"
      "xo0rKwT38xVqr7ZD0u0iPPkUL64lIZbqBAz+scqKmlzm8FDrypNC9Yjc8fPOLn9FX9KSYvKTr4rvx3iSIlTJabIQwj2ICCR/oLxBA==";
  const std::vector<Vector> vectors = {
      {"get-vanilla", "GET", "/", {}, {}, "", "host;x-amz-date",
       "5fa00fa31553b73ebf1942676e86291e8372ff2a2260956d9b8aae1d763fbf31"},
      {"get-vanilla-query-order-key-case", "GET", "/", {{"Param2", "value2"}, {"Param1", "value1"}}, {}, "",
       "host;x-amz-date", "b97d918cfa904a5beff61c982a1b6f458b799221646efd99d3219ec94cdf2500"},
      {"get-vanilla-query-unreserved", "GET", "/",
       {{"-._~0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz",
         "-._~0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz"}},
       {}, "", "host;x-amz-date", "9c3e54bfcdf0b19771a7f523ee5669cdf59bc7cc0884027167c21bb143a40197"},
      {"get-vanilla-utf8-query", "GET", "/", {{"\xe1\x88\xb4", "bar"}}, {}, "", "host;x-amz-date",
       "2cdec8eed098649ff3a119c94853b13c643bcf08f8b0a1d91e12c9027818dd04"},
      {"get-unreserved", "GET", "/-._~0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz", {}, {}, "",
       "host;x-amz-date", "07ef7494c76fa4850883e2b006601f940f8a34d404d0cfa977f52a65bbf5f24f"},
      {"get-utf8", "GET", "/\xe1\x88\xb4", {}, {}, "", "host;x-amz-date",
       "8318018e0b0f223aa2bbf98705b62bb787dc9c0e678f255a891fd03141be5d85"},
      {"get-header-key-duplicate", "GET", "/", {}, {{"My-Header1", "value2"}, {"My-Header1", "value2"}, {"My-Header1", "value1"}},
       "", "host;my-header1;x-amz-date", "c9d5ea9f3f72853aea855b47ea873832890dbdd183b4468f858259531a5138ea"},
      {"get-header-value-order", "GET", "/", {}, {{"My-Header1", "value4"}, {"My-Header1", "value1"}, {"My-Header1", "value3"}, {"My-Header1", "value2"}},
       "", "host;my-header1;x-amz-date", "08c7e5a9acfcfeb3ab6b2185e75ce8b1deb5e634ec47601a50643f830c755c01"},
      {"get-header-value-trim", "GET", "/", {}, {{"My-Header1", " value1"}, {"My-Header2", " \"a   b   c\""}}, "",
       "host;my-header1;my-header2;x-amz-date", "acc3ed3afb60bb290fc8d2dd0098b9911fcaa05412b367055dee359757a9c736"},
      {"post-vanilla", "POST", "/", {}, {}, "", "host;x-amz-date",
       "5da7c1a2acd57cee7505fc6676e4e544621c30862966e37dddb68e92efbe5d6b"},
      {"post-vanilla-query", "POST", "/", {{"Param1", "value1"}}, {}, "", "host;x-amz-date",
       "28038455d6de14eafc1f9222cf5aa6f1a96197d7deb8263271d420d138af7f11"},
      {"post-vanilla-query-nonunreserved", "POST", "/", {{"@#$%^", ""}, {"+", "/,?><`\";:\\|][{}"}}, {}, "",
       "host;x-amz-date", "66c82657c86e26fb25238d0e69f011edc4c6df5ae71119d7cb98ed9b87393c1e"},
      {"post-vanilla-query-space", "POST", "/", {{"p", ""}}, {}, "", "host;x-amz-date",
       "e71688addb58a26418614085fb730ba3faa623b461c17f48f2fbdb9361b94a9b"},
      {"post-header-key-case", "POST", "/", {}, {}, "", "host;x-amz-date",
       "5da7c1a2acd57cee7505fc6676e4e544621c30862966e37dddb68e92efbe5d6b"},
      {"post-header-key-sort", "POST", "/", {}, {{"My-Header1", "value1"}}, "", "host;my-header1;x-amz-date",
       "c5410059b04c1ee005303aed430f6e6645f61f4dc9e1461ec8f8916fdf18852c"},
      {"post-header-value-case", "POST", "/", {}, {{"My-Header1", "VALUE1"}}, "", "host;my-header1;x-amz-date",
       "cdbc9802e29d2942e5e10b5bccfdd67c5f22c7c4e8ae67b53629efa58b974b7d"},
      {"post-x-www-form-urlencoded", "POST", "/", {}, {{"Content-Type", "application/x-www-form-urlencoded"}},
       "Param1=value1", "content-type;host;x-amz-date",
       "ff11897932ad3f4e8b18135d722051e5ac45fc38421b1da7b9d196a0fe09473a"},
      {"post-sts-header-before", "POST", "/", {}, {{"X-Amz-Security-Token", token}}, "",
       "host;x-amz-date;x-amz-security-token", "85d96828115b5dc0cfc3bd16ad9e210dd772bbebba041836c64533a82be05ead"},
  };
  for (const auto& v : vectors) {
    SigV4Request request{v.method, v.path, v.query, {{"Host", "example.amazonaws.com"}, {"X-Amz-Date", kDate}}, v.body};
    request.headers.insert(request.headers.end(), v.extra_headers.begin(), v.extra_headers.end());
    SigV4Signature sig = SignV4(request, SuiteCredentials(), "us-east-1", "service", kDate);
    EXPECT_EQ(sig.signature, v.signature) << v.name << "\ncanonical request:\n" << sig.canonical_request;
    EXPECT_EQ(sig.authorization, "AWS4-HMAC-SHA256 Credential=AKIDEXAMPLE/20150830/us-east-1/service/aws4_request, "
                                 "SignedHeaders=" + v.signed_headers + ", Signature=" + v.signature)
        << v.name;
  }
}

TEST(SigV4, GetVanillaCanonicalRequestAndStringToSignAreThoseOfTheSuite) {
  SigV4Request request{"GET", "/", {}, {{"Host", "example.amazonaws.com"}, {"X-Amz-Date", kDate}}, ""};
  SigV4Signature sig = SignV4(request, SuiteCredentials(), "us-east-1", "service", kDate);
  EXPECT_EQ(sig.canonical_request,
            "GET\n/\n\nhost:example.amazonaws.com\nx-amz-date:20150830T123600Z\n\nhost;x-amz-date\n"
            "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855");
  EXPECT_EQ(sig.string_to_sign,
            "AWS4-HMAC-SHA256\n20150830T123600Z\n20150830/us-east-1/service/aws4_request\n"
            "bb579772317eb040ac9ed261061d46c1f17a8133879d6129b6e1c25292927e63");
}

TEST(SigV4, NormalizesRelativeAndRepeatedSlashesInThePath) {
  // get-relative-relative, get-slashes (suite): both sign as "/" and "/example/" would.
  SigV4Request request{"GET", "/example/..", {}, {{"Host", "example.amazonaws.com"}, {"X-Amz-Date", kDate}}, ""};
  EXPECT_EQ(SignV4(request, SuiteCredentials(), "us-east-1", "service", kDate).signature,
            "5fa00fa31553b73ebf1942676e86291e8372ff2a2260956d9b8aae1d763fbf31");
  request.path = "//example//";
  EXPECT_NE(SignV4(request, SuiteCredentials(), "us-east-1", "service", kDate).canonical_request.find("\n/example/\n"),
            std::string::npos);
}

TEST(SigV4, AmzDateIsUtcBasicFormat) {
  EXPECT_EQ(AmzDate(std::chrono::system_clock::from_time_t(1440938160)), kDate);
}

TEST(SigV4, TheSecretNeverAppearsInTheOutput) {
  SigV4Request request{"POST", "/", {}, {{"Host", "kms.eu-west-1.amazonaws.com"}, {"X-Amz-Date", kDate}}, "{}"};
  SigV4Signature sig = SignV4(request, SuiteCredentials(), "eu-west-1", "kms", kDate);
  for (const std::string& s : {sig.canonical_request, sig.string_to_sign, sig.authorization}) {
    EXPECT_EQ(s.find("wJalrXUtnFEMI"), std::string::npos);
  }
}

TEST(Base64, RoundTripsEveryPaddingLength) {
  for (const std::string& s : std::vector<std::string>{"", "a", "ab", "abc", "abcd", std::string("\0\xff\x10", 3)}) {
    auto back = Base64Decode(Base64Encode(s));
    ASSERT_TRUE(back.ok());
    EXPECT_EQ(*back, s);
  }
  EXPECT_EQ(Base64Encode("abcd"), "YWJjZA==");
  EXPECT_FALSE(Base64Decode("not base64!").ok());
}

TEST(KmsErrors, MapToErrorKinds) {
  struct Row { std::string type; int status; ErrorKind kind; };
  for (const Row& row : std::vector<Row>{
           {"NotFoundException", 400, ErrorKind::kNotFound},
           {"AlreadyExistsException", 400, ErrorKind::kAlreadyExists},
           {"AccessDeniedException", 400, ErrorKind::kPermissionDenied},
           {"UnrecognizedClientException", 400, ErrorKind::kPermissionDenied},
           {"InvalidSignatureException", 400, ErrorKind::kPermissionDenied},
           {"ExpiredTokenException", 400, ErrorKind::kPermissionDenied},
           {"ThrottlingException", 400, ErrorKind::kUnavailable},
           {"KMSInternalException", 500, ErrorKind::kUnavailable},
           {"", 503, ErrorKind::kUnavailable},
           {"DisabledException", 400, ErrorKind::kInvalidArgument},
           {"KMSInvalidStateException", 400, ErrorKind::kInvalidArgument},
           {"InvalidKeyUsageException", 400, ErrorKind::kInvalidArgument},
           {"ValidationException", 400, ErrorKind::kInvalidArgument},
       }) {
    EXPECT_EQ(KmsErrorKind(row.type, row.status), row.kind) << row.type;
  }
}

}  // namespace
}  // namespace certwright::signer::awskms
