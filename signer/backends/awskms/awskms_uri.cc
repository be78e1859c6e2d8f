#include "awskms/awskms_uri.h"

#include <openssl/crypto.h>

#include <algorithm>
#include <cctype>

namespace certwright::signer::awskms {

namespace {

bool IsLoopbackHost(std::string_view host) {
  if (host == "localhost" || host == "[::1]") return true;
  return host.starts_with("127.") &&
         std::all_of(host.begin(), host.end(), [](unsigned char c) { return std::isdigit(c) || c == '.'; });
}

// Accepts http(s)://host[:port][/]; returns it without the trailing slash.
Result<std::string> CheckEndpoint(std::string endpoint) {
  const bool https = endpoint.starts_with("https://");
  const bool http = endpoint.starts_with("http://");
  if (!https && !http) {
    return InvalidArgument("awskms URI attribute \"endpoint\" must be an http:// or https:// URL, got \"" + endpoint +
                           "\"");
  }
  while (endpoint.ends_with("/")) endpoint.pop_back();
  std::string_view rest = std::string_view(endpoint).substr(https ? 8 : 7);
  if (rest.empty() || rest.find_first_of("/?#@ ") != std::string_view::npos) {
    return InvalidArgument("awskms URI attribute \"endpoint\" must be scheme://host[:port] with no path, got \"" +
                           endpoint + "\"");
  }
  std::string_view host = rest;
  if (host.front() == '[') {
    host = host.substr(0, host.find(']') + 1);
  } else {
    host = host.substr(0, host.find(':'));
  }
  // Requests are signed, not encrypted: over plain HTTP a listener on the path would read
  // every request. A KMS-compatible test server on this machine is the one exception.
  if (http && !IsLoopbackHost(host)) {
    return InvalidArgument("awskms URI attribute \"endpoint\": http:// is allowed only to a loopback address (" +
                           std::string(host) + " is not one); use https://");
  }
  return endpoint;
}

bool ValidRegion(const std::string& region) {
  if (region.empty() || region.size() > 64 || region.front() == '-' || region.back() == '-') return false;
  return std::all_of(region.begin(), region.end(),
                     [](unsigned char c) { return std::islower(c) || std::isdigit(c) || c == '-'; });
}

}  // namespace

std::string BuildAwsKmsKeyUri(std::string_view key_id, std::string_view region, std::string_view endpoint,
                              const std::optional<StaticCredentials>& credentials) {
  // ':' and '/' are kept readable in ARNs and aliases; ';', '?', '&', '=' and '%' are encoded.
  std::string uri = "awskms:key-id=" + PercentEncode(key_id, ":/") + ";region=" + PercentEncode(region, "");
  char sep = '?';
  auto add = [&](std::string_view name, std::string_view value) {
    uri += sep;
    uri += name;
    uri += '=';
    uri += PercentEncode(value, "");
    sep = '&';
  };
  if (!endpoint.empty()) add("endpoint", endpoint);
  if (credentials) {
    add("access-key-id", credentials->access_key_id);
    add("secret-access-key", credentials->secret_access_key);
    if (!credentials->session_token.empty()) add("session-token", credentials->session_token);
  }
  return uri;
}

Result<AwsKmsUri> AwsKmsUri::FromKeyUri(const KeyUri& uri) {
  static const std::vector<std::string_view> kPath = {"key-id", "region"};
  static const std::vector<std::string_view> kQuery = {"endpoint",      "access-key-id",    "secret-access-key",
                                                       "session-token", "credentials-file", "profile"};
  if (uri.scheme() != "awskms") return InvalidArgument("not an awskms: URI");
  CW_RETURN_IF_ERROR(CheckAttributes(uri, kPath, kQuery));

  AwsKmsUri out;
  out.redacted = uri.Redacted();
  auto key_id = uri.path_attribute("key-id");
  if (!key_id || key_id->empty()) {
    return InvalidArgument("awskms URI needs \"key-id\" (a key id, key ARN, alias/<name> or alias ARN): " +
                           out.redacted);
  }
  if (key_id->size() > 2048) return InvalidArgument("awskms URI attribute \"key-id\" is longer than 2048 characters");
  out.key_id = *key_id;
  auto region = uri.path_attribute("region");
  if (!region) return InvalidArgument("awskms URI needs \"region\" (for example region=eu-west-1): " + out.redacted);
  if (!ValidRegion(*region)) {
    return InvalidArgument("awskms URI attribute \"region\" must be an AWS region such as eu-west-1, got \"" +
                           *region + "\"");
  }
  out.region = *region;
  if (auto endpoint = uri.query_attribute("endpoint")) {
    CW_ASSIGN_OR_RETURN(out.endpoint, CheckEndpoint(*endpoint));
  } else {
    out.endpoint = "https://kms." + out.region + ".amazonaws.com";
  }

  auto access = uri.query_attribute("access-key-id");
  auto secret = uri.query_attribute("secret-access-key");
  auto token = uri.query_attribute("session-token");
  auto wipe = [](std::optional<std::string>& s) {
    if (s) OPENSSL_cleanse(s->data(), s->size());
  };
  if (access.has_value() != secret.has_value() || (token && !access)) {
    wipe(secret);
    wipe(token);
    return InvalidArgument("awskms URI: \"access-key-id\" and \"secret-access-key\" go together (\"session-token\" "
                           "only with both): " + out.redacted);
  }
  out.credentials_file = uri.query_attribute("credentials-file");
  out.profile = uri.query_attribute("profile");
  if (access) {
    if (access->empty() || secret->empty()) {
      wipe(secret);
      wipe(token);
      return InvalidArgument("awskms URI: \"access-key-id\" and \"secret-access-key\" must not be empty");
    }
    if (out.credentials_file) {
      wipe(secret);
      wipe(token);
      return InvalidArgument("awskms URI has both static credentials and \"credentials-file\"; give one");
    }
    out.credentials = StaticCredentials{*access, *secret, token.value_or("")};
    wipe(secret);
    wipe(token);
  }
  if (out.profile && !out.credentials_file) {
    return InvalidArgument("awskms URI attribute \"profile\" needs \"credentials-file\"");
  }
  if (out.credentials_file && (out.credentials_file->empty() || out.credentials_file->front() != '/')) {
    return InvalidArgument("awskms URI attribute \"credentials-file\" must be an absolute path, got \"" +
                           *out.credentials_file + "\"");
  }
  return out;
}

bool AwsKmsUri::IsAlias() const {
  return key_id.starts_with("alias/") || (key_id.starts_with("arn:") && key_id.find(":alias/") != std::string::npos);
}

std::string AwsKmsUri::AliasName() const {
  if (key_id.starts_with("alias/")) return key_id;
  size_t at = key_id.find(":alias/");
  return at == std::string::npos ? key_id : key_id.substr(at + 1);
}

std::string AwsKmsUri::Description() const { return "KMS key \"" + key_id + "\" in " + region; }

}  // namespace certwright::signer::awskms
