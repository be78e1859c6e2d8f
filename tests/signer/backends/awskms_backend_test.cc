// The awskms backend against a KMS-compatible server of the test's own (hack/kms-server, moto),
// for what the conformance suite does not cover: keys KMS has but we cannot use, disabled keys,
// credentials, a server that stops and comes back, a server that answers garbage, a signature
// that does not verify, web identity. Each error must name the key and the cause.
#include <gtest/gtest.h>

#include <openssl/pem.h>
#include <signal.h>

#include <atomic>
#include <fstream>
#include <thread>

#include "awskms/awskms_backend.h"
#include "certwright/signer/key_backend.h"
#include "support/kms_server.h"
#include "support/test_ca.h"

namespace certwright::signer::awskms {
namespace {

using testing::KmsServer;

const std::string kMessage = "the TBSCertificate stands in here";
std::span<const uint8_t> MessageBytes() {
  return std::span(reinterpret_cast<const uint8_t*>(kMessage.data()), kMessage.size());
}

// Fast back-off so that the retry paths run in well under a second.
AwsKmsBackend::Options FastOptions() {
  AwsKmsBackend::Options options;
  options.kms.base_backoff = std::chrono::milliseconds(20);
  options.kms.max_backoff = std::chrono::milliseconds(100);
  options.http.timeout = std::chrono::milliseconds(3000);
  return options;
}

class AwsKmsBackendTest : public ::testing::Test {
 protected:
  void SetUp() override {
    if (testing::SkipKmsTests()) GTEST_SKIP() << "CERTWRIGHT_SKIP_KMS=1";
    server_ = std::make_unique<KmsServer>(Seed());
    ASSERT_TRUE(server_->ok()) << server_->error();
    backend_ = std::make_unique<AwsKmsBackend>(FastOptions());
  }
  virtual std::string Seed() { return ""; }

  Result<std::shared_ptr<SigningKey>> Load(const std::string& uri) {
    auto parsed = KeyUri::Parse(uri);
    if (!parsed) return std::move(parsed).error();
    return backend_->Load(*parsed);
  }
  Result<std::shared_ptr<SigningKey>> Create(const std::string& uri, const KeySpec& spec) {
    auto parsed = KeyUri::Parse(uri);
    if (!parsed) return std::move(parsed).error();
    return backend_->Create(*parsed, spec);
  }
  // Runs boto3 code against the server and returns its last output line.
  std::string Py(const std::string& code) {
    int status = 0;
    std::string out = server_->Python(code, &status);
    EXPECT_EQ(status, 0) << out;
    while (!out.empty() && out.back() == '\n') out.pop_back();
    return out.substr(out.rfind('\n') == std::string::npos ? 0 : out.rfind('\n') + 1);
  }

  std::unique_ptr<KmsServer> server_;
  std::unique_ptr<AwsKmsBackend> backend_;
};

#define EXPECT_ERROR(result, error_kind, text)                                                        \
  do {                                                                                                \
    ASSERT_FALSE((result).ok());                                                                      \
    EXPECT_EQ((result).error().kind(), (error_kind)) << (result).error().message();                   \
    EXPECT_NE((result).error().message().find(text), std::string::npos) << (result).error().message(); \
  } while (0)

TEST_F(AwsKmsBackendTest, AMissingAliasOrKeyIdIsNotFoundAndNamesTheKey) {
  auto alias = Load(server_->KeyUri("alias/absent"));
  EXPECT_ERROR(alias, ErrorKind::kNotFound, "KMS key \"alias/absent\" in eu-west-1");
  EXPECT_NE(alias.error().message().find("NotFoundException"), std::string::npos);
  auto id = Load(server_->KeyUri("1234abcd-12ab-34cd-56ef-1234567890ab"));
  EXPECT_ERROR(id, ErrorKind::kNotFound, "KMS key \"1234abcd-12ab-34cd-56ef-1234567890ab\"");
}

TEST_F(AwsKmsBackendTest, AnEncryptDecryptKeyIsRefusedWithItsUsage) {
  std::string id = Py("print(kms.create_key(KeyUsage='ENCRYPT_DECRYPT')['KeyMetadata']['KeyId'])");
  auto key = Load(server_->KeyUri(id));
  EXPECT_ERROR(key, ErrorKind::kInvalidArgument, "has key usage ENCRYPT_DECRYPT; a CA key must be an asymmetric KMS key with key usage SIGN_VERIFY");
  EXPECT_NE(key.error().message().find(id), std::string::npos);
}

TEST_F(AwsKmsBackendTest, AKeySpecWeDoNotSignWithIsRefused) {
  std::string id = Py("print(kms.create_key(KeyUsage='SIGN_VERIFY', KeySpec='ECC_SECG_P256K1')['KeyMetadata']['KeyId'])");
  EXPECT_ERROR(Load(server_->KeyUri(id)), ErrorKind::kInvalidArgument, "is a ECC_SECG_P256K1 key; certwright signs with ECC_NIST_P256");
}

TEST_F(AwsKmsBackendTest, ADisabledKeyFailsToSignWithTheReason) {
  auto key = Create(server_->KeyUri("alias/to-disable"), KeySpec::EcdsaP256());
  ASSERT_TRUE(key.ok()) << key.error().message();
  const std::string arn = dynamic_cast<AwsKmsKey&>(**key).key_arn();
  Py("kms.disable_key(KeyId='" + (arn.rfind(":key/") == std::string::npos ? arn : arn.substr(arn.rfind(":key/") + 5)) + "'); print('ok')");
  auto sig = (*key)->Sign(SignatureScheme::kEcdsaSha256, MessageBytes());
  EXPECT_ERROR(sig, ErrorKind::kInvalidArgument, "DisabledException");
  EXPECT_NE(sig.error().message().find("KMS key \"alias/to-disable\""), std::string::npos);
  EXPECT_ERROR(Load(server_->KeyUri("alias/to-disable")), ErrorKind::kInvalidArgument, "DisabledException");
}

TEST_F(AwsKmsBackendTest, CreateNeedsAnAliasAndAKeySpecKmsHas) {
  EXPECT_ERROR(Create(server_->KeyUri("1234abcd-12ab-34cd-56ef-1234567890ab"), KeySpec::EcdsaP256()),
               ErrorKind::kInvalidArgument, "KMS chooses key ids itself, so a key is created under an alias");
  EXPECT_ERROR(Create(server_->KeyUri("alias/ed"), KeySpec::Ed25519()), ErrorKind::kInvalidArgument,
               "cannot create ed25519 keys");
  EXPECT_ERROR(Create(server_->KeyUri("alias/rsa8k"), KeySpec::Rsa(8192)), ErrorKind::kInvalidArgument,
               "AWS KMS has no rsa-8192 keys");
  // Nothing was created for any of them.
  EXPECT_EQ(Py("print(len(kms.list_keys()['Keys']))"), "0");
}

TEST_F(AwsKmsBackendTest, CreateRefusesAnAliasThatExistsEvenForAnotherKindOfKey) {
  Py("k = kms.create_key(KeyUsage='ENCRYPT_DECRYPT')['KeyMetadata']['KeyId']\n"
     "kms.create_alias(AliasName='alias/taken', TargetKeyId=k); print('ok')");
  EXPECT_ERROR(Create(server_->KeyUri("alias/taken"), KeySpec::EcdsaP256()), ErrorKind::kAlreadyExists,
               "already names a KMS key; keys are never overwritten");
  EXPECT_EQ(Py("print(len(kms.list_keys()['Keys']))"), "1");
}

TEST_F(AwsKmsBackendTest, NoCredentialsFailBeforeAnyRequest) {
  AwsKmsBackend::Options options = FastOptions();
  options.credentials.env = [](const std::string&) -> std::optional<std::string> { return std::nullopt; };
  AwsKmsBackend backend(options);
  auto uri = KeyUri::Parse(server_->KeyUriWithoutCredentials("alias/x"));
  ASSERT_TRUE(uri.ok());
  auto key = backend.Load(*uri);
  EXPECT_ERROR(key, ErrorKind::kPermissionDenied, "no AWS credentials for KMS key \"alias/x\" in eu-west-1");
}

TEST_F(AwsKmsBackendTest, ACredentialsFileIsRead) {
  testing::TempDir dir;
  std::ofstream(dir.File("credentials")) << "[default]\naws_access_key_id = AKIDFILE\naws_secret_access_key = filesecret\n"
                                         << "[ca]\naws_access_key_id = AKIDCA\naws_secret_access_key = casecret\n";
  ASSERT_TRUE(Create(server_->KeyUri("alias/filecreds"), KeySpec::EcdsaP256()).ok());
  auto key = Load(server_->KeyUriWithoutCredentials("alias/filecreds") + "&credentials-file=" + dir.File("credentials") +
                  "&profile=ca");
  ASSERT_TRUE(key.ok()) << key.error().message();
  EXPECT_TRUE((*key)->Sign(SignatureScheme::kEcdsaSha256, MessageBytes()).ok());
  auto missing = Load(server_->KeyUriWithoutCredentials("alias/filecreds") + "&credentials-file=" +
                      dir.File("credentials") + "&profile=nope");
  EXPECT_ERROR(missing, ErrorKind::kNotFound, "has no profile [nope]");
}

// The server checks SigV4 signatures and IAM policies once auth is on (moto's IAM auth).
TEST_F(AwsKmsBackendTest, WrongCredentialsArePermissionDeniedAndNeverEchoed) {
  ASSERT_TRUE(Create(server_->KeyUri("alias/guarded"), KeySpec::EcdsaP256()).ok());
  // A user who may only Sign and GetPublicKey, as docs/awskms.md tells admins to set up.
  std::string keys = Py(
      "iam.create_user(UserName='signer')\n"
      "iam.put_user_policy(UserName='signer', PolicyName='sign', PolicyDocument=json.dumps({'Version': '2012-10-17',"
      " 'Statement': [{'Effect': 'Allow', 'Action': ['kms:Sign', 'kms:GetPublicKey'], 'Resource': '*'}]}))\n"
      "k = iam.create_access_key(UserName='signer')['AccessKey']\n"
      "print(k['AccessKeyId'] + ' ' + k['SecretAccessKey'])");
  const std::string id = keys.substr(0, keys.find(' ')), secret = keys.substr(keys.find(' ') + 1);
  ASSERT_TRUE(server_->EnableAuth());
  const std::string base = server_->KeyUriWithoutCredentials("alias/guarded");

  auto wrong = Load(base + "&access-key-id=" + id + "&secret-access-key=not-the-secret");
  EXPECT_ERROR(wrong, ErrorKind::kPermissionDenied, "KMS key \"alias/guarded\"");
  EXPECT_EQ(wrong.error().message().find("not-the-secret"), std::string::npos);
  auto unknown = Load(base + "&access-key-id=AKIDUNKNOWN&secret-access-key=whatever");
  EXPECT_ERROR(unknown, ErrorKind::kPermissionDenied, "KMS key \"alias/guarded\"");

  auto key = Load(base + "&access-key-id=" + id + "&secret-access-key=" + secret);
  ASSERT_TRUE(key.ok()) << key.error().message() << " id " << id;
  EXPECT_EQ((*key)->uri().find(secret), std::string::npos);
  auto sig = (*key)->Sign(SignatureScheme::kEcdsaSha256, MessageBytes());
  ASSERT_TRUE(sig.ok()) << sig.error().message();
  // The policy has no kms:CreateKey: ca init with these credentials is refused.
  auto create = Create(base.substr(0, base.find("alias/guarded")) + "alias/other" +
                           base.substr(base.find("alias/guarded") + 13) + "&access-key-id=" + id +
                           "&secret-access-key=" + secret,
                       KeySpec::EcdsaP256());
  // moto answers IAM denials in XML, not KMS JSON: the status says it, the body is not repeated.
  EXPECT_ERROR(create, ErrorKind::kPermissionDenied, "KMS CreateKey failed: HTTP 403");
}

// A transport that passes requests to the real one and can tamper with the answers.
class TamperingTransport final : public http::Client {
 public:
  explicit TamperingTransport(std::shared_ptr<http::Client> real) : real_(std::move(real)) {}
  Result<http::Response> Send(const http::Request& request) override {
    ++requests;
    for (const auto& [k, v] : request.headers) {
      if (k == "x-amz-target" && v == "TrentService.Sign" && corrupt_signatures) {
        auto response = real_->Send(request);
        if (!response) return response;
        auto j = nlohmann::json::parse(response->body);
        auto sig = *Base64Decode(j["Signature"].get<std::string>());
        sig[sig.size() / 2] ^= 0x01;
        j["Signature"] = Base64Encode(sig);
        response->body = j.dump();
        return response;
      }
    }
    return real_->Send(request);
  }
  std::atomic<bool> corrupt_signatures{false};
  std::atomic<int> requests{0};

 private:
  std::shared_ptr<http::Client> real_;
};

TEST_F(AwsKmsBackendTest, ASignatureThatDoesNotVerifyIsNeverReturned) {
  auto tampering = std::make_shared<TamperingTransport>(backend_->transport());
  backend_->SetTransportForTest(tampering);
  for (auto spec : {KeySpec::EcdsaP256(), KeySpec::Rsa(2048)}) {
    auto key = Create(server_->KeyUri("alias/tamper-" + KeySpecName(spec)), spec);
    ASSERT_TRUE(key.ok()) << key.error().message();
    tampering->corrupt_signatures = true;
    auto sig = (*key)->Sign(DefaultScheme(spec), MessageBytes());
    EXPECT_ERROR(sig, ErrorKind::kInternal, "the signature KMS returned does not verify against the key's public key");
    tampering->corrupt_signatures = false;
    EXPECT_TRUE((*key)->Sign(DefaultScheme(spec), MessageBytes()).ok());
  }
}

TEST_F(AwsKmsBackendTest, AKeyOffersOnlyTheAlgorithmsKmsListsForIt) {
  auto key = Create(server_->KeyUri("alias/p256"), KeySpec::EcdsaP256());
  ASSERT_TRUE(key.ok());
  EXPECT_ERROR((*key)->Sign(SignatureScheme::kEcdsaSha384, MessageBytes()), ErrorKind::kInvalidArgument,
               "cannot sign with ECDSA_SHA_384; it offers ECDSA_SHA_256");
  auto rsa = Create(server_->KeyUri("alias/rsa"), KeySpec::Rsa(3072));
  ASSERT_TRUE(rsa.ok());
  for (auto scheme : {SignatureScheme::kRsaPkcs1Sha256, SignatureScheme::kRsaPssSha256, SignatureScheme::kRsaPssSha384}) {
    auto sig = (*rsa)->Sign(scheme, MessageBytes());
    ASSERT_TRUE(sig.ok()) << SchemeName(scheme) << ": " << sig.error().message();
    EXPECT_TRUE(VerifySignature((*rsa)->public_key(), scheme, MessageBytes(), *sig).ok());
  }
}

// A key with fixed id and key material, so it is the same key after the server restarts.
class AwsKmsRestartTest : public AwsKmsBackendTest {
 protected:
  std::string Seed() override {
    pem_ = testing::GenerateTestKey(KeySpec::EcdsaP256());
    ossl::Bio bio(BIO_new(BIO_s_mem()));
    PEM_write_bio_PrivateKey(bio.get(), pem_.get(), nullptr, nullptr, 0, nullptr, nullptr);
    char* data = nullptr;
    long len = BIO_get_mem_data(bio.get(), &data);
    nlohmann::json seed = nlohmann::json::array({{{"KeyId", "11111111-2222-3333-4444-555555555555"},
                                                 {"KeySpec", "ECC_NIST_P256"},
                                                 {"Aliases", {"alias/seeded"}},
                                                 {"PrivateKeyPem", std::string(data, static_cast<size_t>(len))}}});
    return seed.dump();
  }
  ossl::PKey pem_;
};

TEST_F(AwsKmsRestartTest, SigningFailsRetryablyWhileTheServerIsDownAndRecoversAfter) {
  auto key = Load(server_->KeyUri("alias/seeded"));
  ASSERT_TRUE(key.ok()) << key.error().message();
  EXPECT_TRUE(ossl::SamePublicKey((*key)->public_key(), pem_.get()));
  ASSERT_TRUE((*key)->Sign(SignatureScheme::kEcdsaSha256, MessageBytes()).ok());

  server_->Stop();
  auto down = (*key)->Sign(SignatureScheme::kEcdsaSha256, MessageBytes());
  EXPECT_ERROR(down, ErrorKind::kUnavailable, "KMS key \"alias/seeded\" in eu-west-1");
  EXPECT_NE(down.error().message().find("after 4 attempts"), std::string::npos) << down.error().message();
  EXPECT_TRUE(down.error().retryable());

  ASSERT_TRUE(server_->Start()) << server_->error();
  auto sig = (*key)->Sign(SignatureScheme::kEcdsaSha256, MessageBytes());
  ASSERT_TRUE(sig.ok()) << sig.error().message();
  EXPECT_TRUE(VerifySignature(pem_.get(), SignatureScheme::kEcdsaSha256, MessageBytes(), *sig).ok());
}

// A listener on loopback that answers every request with an HTML page, as a misconfigured
// proxy or the wrong service on the endpoint's port would.
TEST(AwsKmsGarbage, AServerThatAnswersGarbageIsUnavailableAndItsPageIsNotRepeated) {
  if (testing::SkipKmsTests()) GTEST_SKIP() << "CERTWRIGHT_SKIP_KMS=1";
  testing::TempDir dir;
  const int port = testing::FreeLoopbackPort();
  std::ofstream(dir.File("garbage.py"))
      << "import http.server\n"
         "class H(http.server.BaseHTTPRequestHandler):\n"
         "    def do_POST(self):\n"
         "        self.rfile.read(int(self.headers.get('Content-Length', 0)))\n"
         "        body = b'<html>It works!</html>'\n"
         "        self.send_response(int(self.path == '/' and " << "200" << "))\n"
         "        self.send_header('Content-Length', str(len(body)))\n"
         "        self.end_headers(); self.wfile.write(body)\n"
         "    def log_message(self, *a): pass\n"
         "http.server.HTTPServer(('127.0.0.1', " << port << "), H).serve_forever()\n";
  std::string pid;
  ASSERT_EQ(testing::RunCommand("python3 " + dir.File("garbage.py") + " >/dev/null 2>&1 & echo $!", &pid), 0);
  struct Killer {
    int pid;
    ~Killer() { ::kill(pid, SIGTERM); }
  } killer{std::atoi(pid.c_str())};
  for (int i = 0; i < 100; ++i) {
    std::string out;
    if (testing::RunCommand("curl -s -X POST http://127.0.0.1:" + std::to_string(port) + "/", &out) == 0) break;
    std::this_thread::sleep_for(std::chrono::milliseconds(50));
  }
  AwsKmsBackend backend(FastOptions());
  auto uri = KeyUri::Parse("awskms:key-id=alias/x;region=eu-west-1?endpoint=http://127.0.0.1:" + std::to_string(port) +
                           "&access-key-id=AKID&secret-access-key=s3cr3t");
  ASSERT_TRUE(uri.ok());
  auto key = backend.Load(*uri);
  EXPECT_ERROR(key, ErrorKind::kUnavailable, "the server answered HTTP 200 with no content type, not KMS JSON");
  EXPECT_EQ(key.error().message().find("It works"), std::string::npos) << "the page is not ours to show";
  EXPECT_NE(key.error().message().find("KMS key \"alias/x\" in eu-west-1"), std::string::npos);
  EXPECT_EQ(key.error().message().find("s3cr3t"), std::string::npos);
}

// Web identity (EKS service-account roles): the token file is exchanged with STS
// AssumeRoleWithWebIdentity, here moto's STS in the same server (it does not verify the token),
// and the credentials are refreshed before they expire. The clock is injected, not slept on.
TEST_F(AwsKmsBackendTest, WebIdentityCredentialsAreFetchedAndRefreshedBeforeExpiry) {
  ASSERT_TRUE(Create(server_->KeyUri("alias/irsa"), KeySpec::EcdsaP256()).ok());
  testing::TempDir dir;
  std::ofstream(dir.File("token")) << "eyJhbGciOiJSUzI1NiJ9.eyJzdWIiOiJzeXN0ZW06c2VydmljZWFjY291bnQ6Y2VydHdyaWdodCJ9.c2ln\n";
  ManualClock clock;
  std::atomic<int> sts_calls{0};
  class StsCounter final : public http::Client {
   public:
    StsCounter(std::shared_ptr<http::Client> real, std::atomic<int>* calls) : real_(std::move(real)), calls_(calls) {}
    Result<http::Response> Send(const http::Request& request) override {
      if (request.body.starts_with("Action=AssumeRoleWithWebIdentity")) ++*calls_;
      return real_->Send(request);
    }
   private:
    std::shared_ptr<http::Client> real_;
    std::atomic<int>* calls_;
  };
  AwsKmsBackend::Options options = FastOptions();
  options.credentials.clock = &clock;
  const std::string endpoint = server_->endpoint(), token_file = dir.File("token");
  options.credentials.env = [endpoint, token_file](const std::string& name) -> std::optional<std::string> {
    if (name == "AWS_ROLE_ARN") return std::string("arn:aws:iam::123456789012:role/certwright");
    if (name == "AWS_WEB_IDENTITY_TOKEN_FILE") return token_file;
    if (name == "AWS_ENDPOINT_URL_STS") return endpoint;
    return std::nullopt;
  };
  AwsKmsBackend backend(options);
  backend.SetTransportForTest(std::make_shared<StsCounter>(backend.transport(), &sts_calls));
  auto uri = KeyUri::Parse(server_->KeyUriWithoutCredentials("alias/irsa"));
  ASSERT_TRUE(uri.ok());
  auto key = backend.Load(*uri);
  ASSERT_TRUE(key.ok()) << key.error().message();
  ASSERT_TRUE((*key)->Sign(SignatureScheme::kEcdsaSha256, MessageBytes()).ok());
  EXPECT_EQ(sts_calls.load(), 1) << "one exchange serves until close to expiry";
  clock.Advance(std::chrono::minutes(50));
  ASSERT_TRUE((*key)->Sign(SignatureScheme::kEcdsaSha256, MessageBytes()).ok());
  EXPECT_EQ(sts_calls.load(), 1);
  clock.Advance(std::chrono::minutes(6));  // within 5 minutes of the 1-hour expiry
  ASSERT_TRUE((*key)->Sign(SignatureScheme::kEcdsaSha256, MessageBytes()).ok());
  EXPECT_EQ(sts_calls.load(), 2) << "refreshed before expiry";

  // A token file that went away: the still-valid credentials keep working; a key loaded
  // afterwards with expired ones gets a clear error.
  std::remove(token_file.c_str());
  clock.Advance(std::chrono::minutes(61));
  auto expired = (*key)->Sign(SignatureScheme::kEcdsaSha256, MessageBytes());
  EXPECT_ERROR(expired, ErrorKind::kPermissionDenied, "cannot read AWS_WEB_IDENTITY_TOKEN_FILE");
}

}  // namespace
}  // namespace certwright::signer::awskms
