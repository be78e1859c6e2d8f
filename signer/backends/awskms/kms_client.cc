#include "awskms/kms_client.h"

#include <openssl/crypto.h>
#include <openssl/evp.h>

#include <algorithm>
#include <cctype>
#include <random>
#include <thread>

#include "awskms/sigv4.h"

namespace certwright::signer::awskms {

namespace {

bool IsRetryableType(std::string_view type) {
  return type == "ThrottlingException" || type == "KMSInternalException" || type == "DependencyTimeoutException" ||
         type == "KeyUnavailableException" || type == "ServiceUnavailableException" ||
         type == "RequestTimeoutException" || type == "InternalFailure";
}

bool IsExpiredTokenType(std::string_view type) {
  return type == "ExpiredTokenException" || type == "ExpiredToken" || type == "RequestExpired";
}

// Server text put in our messages: one line, printable, short. Only for what a KMS error reply
// says about itself (its message), never for a reply that is not KMS JSON.
std::string Excerpt(std::string_view text) {
  std::string out;
  for (unsigned char c : text.substr(0, 120)) out += (c >= 0x20 && c < 0x7f) ? static_cast<char>(c) : '?';
  if (text.size() > 120) out += "...";
  return out;
}

// A reply that is not KMS JSON is described by its content type alone, never by its body: a
// namespaced user may point an endpoint at an internal service, and our messages (Events,
// conditions) would otherwise read its pages to them.
std::string ContentType(const http::Response& response) {
  auto it = response.headers.find("content-type");
  if (it == response.headers.end() || it->second.empty()) return "no content type";
  std::string type;
  for (unsigned char c : std::string_view(it->second).substr(0, 64)) {
    type += (c > 0x20 && c < 0x7f && c != '"' && c != '\\') || c == ' ' ? static_cast<char>(c) : '?';
  }
  return "content type \"" + type + (it->second.size() > 64 ? "...\"" : "\"");
}

// A KMS error type ("NotFoundException") is a short identifier; anything else in __type or
// X-Amzn-ErrorType means the reply is not from KMS.
bool LooksLikeErrorType(std::string_view type) {
  if (type.empty() || type.size() > 64) return false;
  return std::all_of(type.begin(), type.end(), [](unsigned char c) { return std::isalnum(c) || c == '_' || c == '.'; });
}

std::chrono::milliseconds Jitter(std::chrono::milliseconds cap) {
  thread_local std::mt19937_64 rng{std::random_device{}()};
  std::uniform_int_distribution<long long> dist(0, std::max<long long>(cap.count(), 1));
  return std::chrono::milliseconds(dist(rng));
}

}  // namespace

ErrorKind KmsErrorKind(std::string_view type, int http_status) {
  if (type == "NotFoundException") return ErrorKind::kNotFound;
  if (type == "AlreadyExistsException") return ErrorKind::kAlreadyExists;
  if (type == "AccessDeniedException" || type == "UnrecognizedClientException" ||
      type == "InvalidSignatureException" || type == "IncompleteSignature" || type == "MissingAuthenticationToken" ||
      type == "NotAuthorized" || type == "InvalidClientTokenId" || type == "SignatureDoesNotMatch" ||
      IsExpiredTokenType(type) || http_status == 401 || http_status == 403) {
    return ErrorKind::kPermissionDenied;
  }
  if (IsRetryableType(type) || http_status == 429 || http_status >= 500) return ErrorKind::kUnavailable;
  // DisabledException, KMSInvalidStateException, InvalidKeyUsageException, ValidationException,
  // UnsupportedOperationException, InvalidArnException, LimitExceededException, ...: the key or
  // the request must change; retrying does not help.
  return ErrorKind::kInvalidArgument;
}

std::string Base64Encode(std::string_view bytes) {
  std::string out(4 * ((bytes.size() + 2) / 3), '\0');
  int n = EVP_EncodeBlock(reinterpret_cast<unsigned char*>(out.data()),
                          reinterpret_cast<const unsigned char*>(bytes.data()), static_cast<int>(bytes.size()));
  out.resize(static_cast<size_t>(n));
  return out;
}

Result<std::string> Base64Decode(std::string_view text) {
  if (text.size() % 4 != 0) return InvalidArgument("base64 text has a length that is not a multiple of 4");
  std::string out(3 * text.size() / 4, '\0');
  int n = EVP_DecodeBlock(reinterpret_cast<unsigned char*>(out.data()),
                          reinterpret_cast<const unsigned char*>(text.data()), static_cast<int>(text.size()));
  if (n < 0) return InvalidArgument("text is not base64");
  size_t pad = text.ends_with("==") ? 2 : text.ends_with("=") ? 1 : 0;  // EVP_DecodeBlock keeps padding as zeros
  out.resize(static_cast<size_t>(n) - pad);
  return out;
}

KmsClient::KmsClient(std::string endpoint, std::string region, std::shared_ptr<CredentialsProvider> credentials,
                     std::shared_ptr<http::Client> http, KmsClientOptions options, const Clock* clock)
    : endpoint_(std::move(endpoint)),
      region_(std::move(region)),
      credentials_(std::move(credentials)),
      http_(std::move(http)),
      options_(options),
      clock_(clock),
      sleep_([](std::chrono::milliseconds d) { std::this_thread::sleep_for(d); }) {
  host_ = endpoint_.substr(endpoint_.find("://") + 3);
  // The Host header carries the port only when it is not the scheme's default (RFC 9110 §7.2).
  if (endpoint_.starts_with("https://") && host_.ends_with(":443")) host_.resize(host_.size() - 4);
  if (endpoint_.starts_with("http://") && host_.ends_with(":80")) host_.resize(host_.size() - 3);
}

Result<nlohmann::json> KmsClient::Call(std::string_view action, const nlohmann::json& request,
                                       std::string_view subject) {
  const std::string what = std::string(subject) + " (" + endpoint_ + "): KMS " + std::string(action);
  const std::string body = request.dump();
  bool refreshed = false;
  std::optional<Error> last;
  for (int attempt = 0; attempt < options_.max_attempts; ++attempt) {
    if (attempt > 0) {
      auto cap = std::min<std::chrono::milliseconds>(
          options_.max_backoff, std::chrono::milliseconds(options_.base_backoff.count() << std::min(attempt - 1, 16)));
      sleep_(Jitter(cap));
    }
    auto credentials = credentials_->Get();
    if (!credentials) {
      Error e = std::move(credentials).error().WithContext(what);
      if (!e.retryable()) return e;
      last = std::move(e);
      continue;
    }
    const std::string amz_date = AmzDate(clock_->Now());
    SigV4Request sig_request{"POST", "/", {}, {}, body};
    sig_request.headers = {{"host", host_},
                           {"content-type", "application/x-amz-json-1.1"},
                           {"x-amz-date", amz_date},
                           {"x-amz-target", "TrentService." + std::string(action)}};
    if (!credentials->session_token.empty()) {
      sig_request.headers.emplace_back("x-amz-security-token", credentials->session_token);
    }
    SigV4Signature signature = SignV4(sig_request, *credentials, region_, "kms", amz_date);
    http::Request http_request;
    http_request.method = "POST";
    http_request.endpoint = endpoint_;
    http_request.target = "/";
    http_request.headers = std::move(sig_request.headers);
    http_request.body = body;
    http_request.headers.emplace_back("Authorization", signature.authorization);

    auto response = http_->Send(http_request);
    for (auto& [k, v] : http_request.headers) OPENSSL_cleanse(v.data(), v.size());
    if (!response) {
      last = std::move(response).error().WithContext(what);
      continue;
    }
    nlohmann::json json = nlohmann::json::parse(response->body, nullptr, /*allow_exceptions=*/false);
    if (response->status == 200) {
      if (json.is_object()) return json;
      last = Unavailable(what + ": the server answered HTTP 200 with " + ContentType(*response) + ", not KMS JSON");
      continue;
    }
    // A KMS error names its type in __type (JSON) or X-Amzn-ErrorType; without one, the reply
    // is not from KMS and nothing of its body goes into the message.
    std::string type, message;
    if (json.is_object()) {
      if (auto t = json.find("__type"); t != json.end() && t->is_string()) type = t->get<std::string>();
    }
    if (auto h = response->headers.find("x-amzn-errortype"); type.empty() && h != response->headers.end()) {
      type = h->second;
    }
    // "com.amazonaws.kms#NotFoundException" and "NotFoundException:http://..." both name the type.
    if (auto hash = type.rfind('#'); hash != std::string::npos) type = type.substr(hash + 1);
    if (auto colon = type.find(':'); colon != std::string::npos) type.resize(colon);
    if (!LooksLikeErrorType(type)) type.clear();
    if (!type.empty() && json.is_object()) {
      for (const char* key : {"message", "Message"}) {
        if (auto m = json.find(key); m != json.end() && m->is_string()) message = m->get<std::string>();
      }
    }
    ErrorKind kind = KmsErrorKind(type, response->status);
    std::string text = what + " failed: HTTP " + std::to_string(response->status);
    if (!type.empty()) text += " " + type;
    if (!message.empty()) text += ": " + Excerpt(message);
    if (type.empty()) text += " with " + ContentType(*response) + ", not a KMS reply";
    Error error(kind, text);
    error = std::move(error).WithDetail(ErrorDetail{response->status, type, {}, {}});
    if (IsExpiredTokenType(type) && !refreshed) {
      // Temporary credentials expired early (clock skew, revoked session): fetch new ones once.
      refreshed = true;
      credentials_->Invalidate();
      last = std::move(error);
      continue;
    }
    if (kind != ErrorKind::kUnavailable) return error;
    last = std::move(error);
  }
  Error e = std::move(*last);
  if (!e.retryable()) return e;
  return Error(ErrorKind::kUnavailable, e.message() + " (after " + std::to_string(options_.max_attempts) + " attempts)")
      .WithDetail(e.detail() ? *e.detail() : ErrorDetail{});
}

}  // namespace certwright::signer::awskms
