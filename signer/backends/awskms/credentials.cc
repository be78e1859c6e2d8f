#include "awskms/credentials.h"

#include <openssl/crypto.h>

#include <boost/property_tree/ini_parser.hpp>
#include <boost/property_tree/ptree.hpp>
#include <boost/property_tree/xml_parser.hpp>
#include <cstdlib>
#include <ctime>
#include <iomanip>
#include <sstream>
#include <sys/stat.h>

#include "certwright/signer/pem.h"

namespace certwright::signer::awskms {

namespace {

class StaticProvider final : public CredentialsProvider {
 public:
  StaticProvider(AwsCredentials credentials, std::string description)
      : credentials_(std::move(credentials)), description_(std::move(description)) {}
  Result<AwsCredentials> Get() override { return credentials_; }
  std::string Describe() const override { return description_; }

 private:
  AwsCredentials credentials_;
  std::string description_;
};

// A string wiped when it goes (token file contents, form bodies carrying a token).
struct Wiped {
  std::string s;
  ~Wiped() { OPENSSL_cleanse(s.data(), s.size()); }
};

std::string FormEncode(std::string_view s) { return UriEncode(s, false); }

// "2024-01-02T03:04:05Z" (STS Expiration, ISO 8601 UTC, optional fraction).
std::optional<std::chrono::system_clock::time_point> ParseIsoTime(const std::string& text) {
  std::tm tm{};
  std::istringstream in(text);
  in >> std::get_time(&tm, "%Y-%m-%dT%H:%M:%S");
  if (in.fail()) return std::nullopt;
  return std::chrono::system_clock::from_time_t(timegm(&tm));
}

// Web identity federation (https://docs.aws.amazon.com/STS/latest/APIReference/API_AssumeRoleWithWebIdentity.html):
// the projected service-account token is re-read on each exchange, since the kubelet rotates it.
class WebIdentityProvider final : public CredentialsProvider {
 public:
  WebIdentityProvider(std::string role_arn, std::string token_file, std::string session_name, std::string sts_endpoint,
                      CredentialsContext context)
      : role_arn_(std::move(role_arn)),
        token_file_(std::move(token_file)),
        session_name_(std::move(session_name)),
        sts_endpoint_(std::move(sts_endpoint)),
        context_(std::move(context)) {}

  Result<AwsCredentials> Get() override {
    std::lock_guard<std::mutex> lock(mutex_);
    const auto now = context_.clock->Now();
    if (cached_ && now + context_.refresh_before < cached_->expiration) return *cached_;
    auto fresh = Exchange();
    if (!fresh) {
      // Still-valid credentials outlive a failed refresh; expired ones do not.
      if (cached_ && now < cached_->expiration) return *cached_;
      return std::move(fresh).error();
    }
    cached_ = std::move(*fresh);
    return *cached_;
  }

  void Invalidate() override {
    std::lock_guard<std::mutex> lock(mutex_);
    cached_.reset();
  }

  std::string Describe() const override { return "web identity (role " + role_arn_ + ")"; }

 private:
  Result<AwsCredentials> Exchange() {
    auto token_text = ReadFileBounded(token_file_, 64 * 1024);
    if (!token_text) {
      return PermissionDenied("web identity: cannot read AWS_WEB_IDENTITY_TOKEN_FILE: " + token_text.error().message());
    }
    Wiped token{std::move(*token_text)};
    while (!token.s.empty() && (token.s.back() == '\n' || token.s.back() == '\r')) token.s.pop_back();
    if (token.s.empty()) return PermissionDenied("web identity: the token file " + token_file_ + " is empty");

    http::Request request;
    request.endpoint = sts_endpoint_;
    request.method = "POST";
    request.target = "/";
    request.headers = {{"Content-Type", "application/x-www-form-urlencoded; charset=utf-8"},
                       {"Accept", "application/xml"}};
    Wiped body{"Action=AssumeRoleWithWebIdentity&Version=2011-06-15&DurationSeconds=3600&RoleArn=" +
               FormEncode(role_arn_) + "&RoleSessionName=" + FormEncode(session_name_) +
               "&WebIdentityToken=" + FormEncode(token.s)};
    request.body = body.s;
    auto response = context_.http->Send(request);
    OPENSSL_cleanse(request.body.data(), request.body.size());
    if (!response) return std::move(response).error().WithContext("web identity: STS " + sts_endpoint_);

    boost::property_tree::ptree tree;
    try {
      std::istringstream in(response->body);
      boost::property_tree::read_xml(in, tree);
    } catch (const std::exception&) {
      return Unavailable("web identity: STS " + sts_endpoint_ + " answered HTTP " + std::to_string(response->status) +
                         " with something that is not XML");
    }
    if (response->status != 200) {
      std::string code = tree.get<std::string>("ErrorResponse.Error.Code", "");
      std::string message = tree.get<std::string>("ErrorResponse.Error.Message", "");
      std::string what = "web identity: STS AssumeRoleWithWebIdentity for role " + role_arn_ + " failed: HTTP " +
                         std::to_string(response->status) + (code.empty() ? "" : " " + code) +
                         (message.empty() ? "" : ": " + message);
      if (response->status >= 500 || response->status == 429 || code == "Throttling" ||
          code == "IDPCommunicationError") {
        return Unavailable(what);
      }
      return PermissionDenied(what);
    }
    const std::string base = "AssumeRoleWithWebIdentityResponse.AssumeRoleWithWebIdentityResult.Credentials.";
    AwsCredentials out(tree.get<std::string>(base + "AccessKeyId", ""), tree.get<std::string>(base + "SecretAccessKey", ""),
                       tree.get<std::string>(base + "SessionToken", ""));
    auto expiration = ParseIsoTime(tree.get<std::string>(base + "Expiration", ""));
    // The tree holds the secret too; clear it before it is freed.
    if (auto secret = tree.get_child_optional(base + "SecretAccessKey")) {
      OPENSSL_cleanse(secret->data().data(), secret->data().size());
    }
    if (out.access_key_id.empty() || out.secret_access_key.empty() || !expiration) {
      return Unavailable("web identity: STS " + sts_endpoint_ + " answered without credentials and an expiration");
    }
    out.expiration = *expiration;
    return out;
  }

  std::string role_arn_;
  std::string token_file_;
  std::string session_name_;
  std::string sts_endpoint_;
  CredentialsContext context_;
  std::mutex mutex_;
  std::optional<AwsCredentials> cached_;
};

bool FileExists(const std::string& path) {
  struct stat st {};
  return ::stat(path.c_str(), &st) == 0;
}

}  // namespace

EnvLookup ProcessEnvironment() {
  return [](const std::string& name) -> std::optional<std::string> {
    const char* v = std::getenv(name.c_str());
    if (v == nullptr || *v == '\0') return std::nullopt;
    return std::string(v);
  };
}

Result<AwsCredentials> ReadCredentialsFile(const std::string& path, const std::string& profile) {
  auto text = ReadFileBounded(path, 256 * 1024);
  if (!text) return std::move(text).error().WithContext("AWS credentials file");
  Wiped contents{std::move(*text)};
  boost::property_tree::ptree tree;
  try {
    std::istringstream in(contents.s);
    boost::property_tree::read_ini(in, tree);
  } catch (const boost::property_tree::ini_parser_error& e) {
    // The message names the line, never its contents.
    return InvalidArgument("AWS credentials file " + path + " is not in the INI format at line " +
                           std::to_string(e.line()));
  }
  auto section = tree.get_child_optional(profile);
  if (!section) return NotFound("AWS credentials file " + path + " has no profile [" + profile + "]");
  AwsCredentials out(section->get<std::string>("aws_access_key_id", ""),
                     section->get<std::string>("aws_secret_access_key", ""),
                     section->get<std::string>("aws_session_token", ""));
  for (auto& [name, child] : tree) {
    for (auto& [key, value] : child) OPENSSL_cleanse(value.data().data(), value.data().size());
  }
  if (out.access_key_id.empty() || out.secret_access_key.empty()) {
    return InvalidArgument("AWS credentials file " + path + " profile [" + profile +
                           "] lacks aws_access_key_id or aws_secret_access_key");
  }
  return out;
}

Result<std::shared_ptr<CredentialsProvider>> MakeCredentialsProvider(const AwsKmsUri& uri,
                                                                     const CredentialsContext& context) {
  if (uri.credentials) {
    return std::shared_ptr<CredentialsProvider>(std::make_shared<StaticProvider>(
        AwsCredentials(uri.credentials->access_key_id, uri.credentials->secret_access_key,
                       uri.credentials->session_token),
        "static credentials from the key URI (access key id " + uri.credentials->access_key_id + ")"));
  }
  if (uri.credentials_file) {
    const std::string profile = uri.profile.value_or("default");
    CW_ASSIGN_OR_RETURN(AwsCredentials creds, ReadCredentialsFile(*uri.credentials_file, profile));
    std::string id = creds.access_key_id;
    return std::shared_ptr<CredentialsProvider>(std::make_shared<StaticProvider>(
        std::move(creds), "credentials file " + *uri.credentials_file + " [" + profile + "] (access key id " + id + ")"));
  }
  auto access = context.env("AWS_ACCESS_KEY_ID");
  auto secret = context.env("AWS_SECRET_ACCESS_KEY");
  if (access && secret) {
    std::string id = *access;
    AwsCredentials creds(std::move(*access), *secret, context.env("AWS_SESSION_TOKEN").value_or(""));
    OPENSSL_cleanse(secret->data(), secret->size());
    return std::shared_ptr<CredentialsProvider>(std::make_shared<StaticProvider>(
        std::move(creds), "AWS_ACCESS_KEY_ID/AWS_SECRET_ACCESS_KEY from the environment (access key id " + id + ")"));
  }
  if (secret) OPENSSL_cleanse(secret->data(), secret->size());
  if (access.has_value() != secret.has_value()) {
    return PermissionDenied(std::string("AWS credentials for ") + uri.Description() + ": " +
                            (access ? "AWS_ACCESS_KEY_ID is set but AWS_SECRET_ACCESS_KEY is not"
                                    : "AWS_SECRET_ACCESS_KEY is set but AWS_ACCESS_KEY_ID is not"));
  }
  auto role = context.env("AWS_ROLE_ARN");
  auto token_file = context.env("AWS_WEB_IDENTITY_TOKEN_FILE");
  if (role && token_file) {
    if (!context.http) return Internal("web identity credentials need an HTTP transport");
    std::string sts = context.env("AWS_ENDPOINT_URL_STS")
                          .value_or(context.env("AWS_ENDPOINT_URL").value_or("https://sts." + uri.region + ".amazonaws.com"));
    while (sts.ends_with("/")) sts.pop_back();
    return std::shared_ptr<CredentialsProvider>(std::make_shared<WebIdentityProvider>(
        *role, *token_file, context.env("AWS_ROLE_SESSION_NAME").value_or("certwright"), sts, context));
  }
  if (role.has_value() != token_file.has_value()) {
    return PermissionDenied("AWS credentials for " + uri.Description() + ": web identity needs both AWS_ROLE_ARN and " +
                            "AWS_WEB_IDENTITY_TOKEN_FILE; only " + (role ? "AWS_ROLE_ARN" : "AWS_WEB_IDENTITY_TOKEN_FILE") +
                            " is set");
  }
  std::optional<std::string> shared = context.env("AWS_SHARED_CREDENTIALS_FILE");
  if (!shared) {
    if (auto home = context.env("HOME"); home && FileExists(*home + "/.aws/credentials")) {
      shared = *home + "/.aws/credentials";
    }
  }
  if (shared) {
    const std::string profile = context.env("AWS_PROFILE").value_or("default");
    CW_ASSIGN_OR_RETURN(AwsCredentials creds, ReadCredentialsFile(*shared, profile));
    std::string id = creds.access_key_id;
    return std::shared_ptr<CredentialsProvider>(std::make_shared<StaticProvider>(
        std::move(creds), "credentials file " + *shared + " [" + profile + "] (access key id " + id + ")"));
  }
  return PermissionDenied("no AWS credentials for " + uri.Description() +
                          ": put access-key-id and secret-access-key or credentials-file in the key URI, or set "
                          "AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY, or AWS_ROLE_ARN and "
                          "AWS_WEB_IDENTITY_TOKEN_FILE");
}

}  // namespace certwright::signer::awskms
