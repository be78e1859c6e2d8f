#include "awskms/sigv4.h"

#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>

#include <algorithm>
#include <cctype>
#include <ctime>
#include <map>

#include "certwright/signer/key_uri.h"
#include "certwright/signer/ossl.h"

namespace certwright::signer::awskms {

namespace {

std::string Hex(const unsigned char* data, size_t size) { return ossl::Hex(ossl::Bytes(data, data + size)); }

std::string Hmac(std::string_view key, std::string_view data) {
  unsigned char out[EVP_MAX_MD_SIZE];
  unsigned int len = 0;
  HMAC(EVP_sha256(), key.data(), static_cast<int>(key.size()), reinterpret_cast<const unsigned char*>(data.data()),
       data.size(), out, &len);
  std::string mac(reinterpret_cast<const char*>(out), len);
  OPENSSL_cleanse(out, sizeof out);
  return mac;
}

std::string Lower(std::string_view s) {
  std::string out(s);
  std::transform(out.begin(), out.end(), out.begin(), [](unsigned char c) { return std::tolower(c); });
  return out;
}

// Trims the value and collapses runs of spaces into one (the SigV4 "Trimall" rule).
std::string TrimAll(std::string_view value) {
  std::string out;
  bool space = false;
  for (char c : value) {
    if (c == ' ' || c == '\t') {
      space = !out.empty();
      continue;
    }
    if (space) out += ' ';
    space = false;
    out += c;
  }
  return out;
}

// Removes "." and ".." segments and empty segments, keeping a trailing slash (RFC 3986 §5.2.4,
// as the SigV4 suite's get-relative/get-slashes cases expect for services other than S3).
std::string NormalizePath(std::string_view path) {
  std::vector<std::string_view> segments;
  size_t pos = 0;
  while (pos <= path.size()) {
    size_t end = path.find('/', pos);
    if (end == std::string_view::npos) end = path.size();
    std::string_view seg = path.substr(pos, end - pos);
    if (seg == "..") {
      if (!segments.empty()) segments.pop_back();
    } else if (!seg.empty() && seg != ".") {
      segments.push_back(seg);
    }
    pos = end + 1;
  }
  std::string out;
  for (auto seg : segments) {
    out += '/';
    out += seg;
  }
  bool trailing = path.size() > 1 && (path.ends_with("/") || path.ends_with("/.") || path.ends_with("/.."));
  if (out.empty() || trailing) out += '/';
  return out;
}

}  // namespace

AwsCredentials::~AwsCredentials() {
  OPENSSL_cleanse(secret_access_key.data(), secret_access_key.size());
  OPENSSL_cleanse(session_token.data(), session_token.size());
}

std::string UriEncode(std::string_view bytes, bool keep_slash) {
  // SigV4's UriEncode is RFC 3986 percent-encoding of all but the unreserved characters (and '/'
  // in paths), upper-case hex: the key URI encoder with no extra safe characters.
  return PercentEncode(bytes, keep_slash ? "/" : "");
}

std::string Sha256Hex(std::string_view data) {
  unsigned char md[EVP_MAX_MD_SIZE];
  unsigned int len = 0;
  EVP_Digest(data.data(), data.size(), md, &len, EVP_sha256(), nullptr);
  return Hex(md, len);
}

std::string AmzDate(std::chrono::system_clock::time_point t) {
  std::time_t tt = std::chrono::system_clock::to_time_t(t);
  std::tm tm{};
  gmtime_r(&tt, &tm);
  char buf[32];
  std::strftime(buf, sizeof buf, "%Y%m%dT%H%M%SZ", &tm);
  return buf;
}

SigV4Signature SignV4(const SigV4Request& request, const AwsCredentials& credentials, std::string_view region,
                      std::string_view service, std::string_view amz_date) {
  // Canonical query: encoded names and values, sorted by name then value.
  std::vector<std::pair<std::string, std::string>> query;
  for (const auto& [k, v] : request.query) query.emplace_back(UriEncode(k, false), UriEncode(v, false));
  std::sort(query.begin(), query.end());
  std::string canonical_query;
  for (const auto& [k, v] : query) {
    if (!canonical_query.empty()) canonical_query += '&';
    canonical_query += k + "=" + v;
  }

  // Canonical headers: lower-case names, sorted; repeated names joined with commas.
  std::map<std::string, std::string> headers;
  for (const auto& [k, v] : request.headers) {
    std::string& slot = headers[Lower(k)];
    if (!slot.empty()) slot += ',';
    slot += TrimAll(v);
  }
  std::string canonical_headers, signed_headers;
  for (const auto& [k, v] : headers) {
    canonical_headers += k + ":" + v + "\n";
    if (!signed_headers.empty()) signed_headers += ';';
    signed_headers += k;
  }

  SigV4Signature out;
  out.canonical_request = request.method + "\n" + UriEncode(NormalizePath(request.path), true) + "\n" +
                          canonical_query + "\n" + canonical_headers + "\n" + signed_headers + "\n" +
                          Sha256Hex(request.body);
  const std::string date(amz_date.substr(0, 8));
  const std::string scope = date + "/" + std::string(region) + "/" + std::string(service) + "/aws4_request";
  out.string_to_sign = "AWS4-HMAC-SHA256\n" + std::string(amz_date) + "\n" + scope + "\n" +
                       Sha256Hex(out.canonical_request);

  std::string secret = "AWS4" + credentials.secret_access_key;
  std::string k_date = Hmac(secret, date);
  std::string k_region = Hmac(k_date, region);
  std::string k_service = Hmac(k_region, service);
  std::string k_signing = Hmac(k_service, "aws4_request");
  std::string mac = Hmac(k_signing, out.string_to_sign);
  for (std::string* s : {&secret, &k_date, &k_region, &k_service, &k_signing}) OPENSSL_cleanse(s->data(), s->size());
  out.signature = Hex(reinterpret_cast<const unsigned char*>(mac.data()), mac.size());
  out.authorization = "AWS4-HMAC-SHA256 Credential=" + credentials.access_key_id + "/" + scope +
                      ", SignedHeaders=" + signed_headers + ", Signature=" + out.signature;
  return out;
}

}  // namespace certwright::signer::awskms
