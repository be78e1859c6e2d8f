#include "certwright/api/meta.h"

#include <openssl/evp.h>

#include <ctime>
#include <cstdio>

namespace certwright::api {

std::string FormatTime(TimePoint t) {
  const std::time_t secs = std::chrono::system_clock::to_time_t(t);
  std::tm tm{};
  gmtime_r(&secs, &tm);
  char buf[32];
  std::strftime(buf, sizeof buf, "%Y-%m-%dT%H:%M:%SZ", &tm);
  return buf;
}

Result<TimePoint> ParseTime(std::string_view text) {
  std::tm tm{};
  const std::string s(text);
  const char* end = strptime(s.c_str(), "%Y-%m-%dT%H:%M:%S", &tm);
  if (end == nullptr) return InvalidArgument("\"" + s + "\" is not an RFC 3339 time");
  // Fractional seconds are dropped; only UTC ("Z") is written by the API server.
  if (*end == '.') {
    ++end;
    while (*end >= '0' && *end <= '9') ++end;
  }
  if (std::string_view(end) != "Z") return InvalidArgument("\"" + s + "\" is not an RFC 3339 time in UTC");
  return std::chrono::system_clock::from_time_t(timegm(&tm));
}

bool Conditions::Set(const Condition& c, long long generation, TimePoint now) {
  if (!status_.is_object()) status_ = Json::object();
  Json& list = status_["conditions"];
  if (!list.is_array()) list = Json::array();
  for (Json& existing : list) {
    if (StringAt(existing, "type") != c.type) continue;
    const bool same = StringAt(existing, "status") == c.status && StringAt(existing, "reason") == c.reason &&
                      StringAt(existing, "message") == c.message &&
                      existing.value("observedGeneration", 0LL) == generation;
    if (same) return false;
    if (StringAt(existing, "status") != c.status) existing["lastTransitionTime"] = FormatTime(now);
    existing["status"] = c.status;
    existing["reason"] = c.reason;
    existing["message"] = c.message;
    existing["observedGeneration"] = generation;
    return true;
  }
  list.push_back({{"type", c.type},
                  {"status", c.status},
                  {"reason", c.reason},
                  {"message", c.message},
                  {"lastTransitionTime", FormatTime(now)},
                  {"observedGeneration", generation}});
  return true;
}

bool Conditions::Remove(std::string_view type) {
  if (!status_.is_object() || !status_.contains("conditions") || !status_["conditions"].is_array()) return false;
  Json& list = status_["conditions"];
  for (auto it = list.begin(); it != list.end(); ++it) {
    if (StringAt(*it, "type") == type) {
      list.erase(it);
      return true;
    }
  }
  return false;
}

std::optional<Condition> Conditions::Get(std::string_view type) const {
  if (!status_.is_object() || !status_.contains("conditions") || !status_["conditions"].is_array()) return std::nullopt;
  for (const Json& c : status_["conditions"]) {
    if (StringAt(c, "type") == type) {
      return Condition{StringAt(c, "type"), StringAt(c, "status"), StringAt(c, "reason"), StringAt(c, "message")};
    }
  }
  return std::nullopt;
}

std::string Base64Encode(std::string_view data) {
  std::string out(4 * ((data.size() + 2) / 3), '\0');
  const int n = EVP_EncodeBlock(reinterpret_cast<unsigned char*>(out.data()),
                                reinterpret_cast<const unsigned char*>(data.data()), static_cast<int>(data.size()));
  out.resize(static_cast<size_t>(n));
  return out;
}

std::optional<std::string> Base64Decode(std::string_view text) {
  if (text.size() % 4 != 0) return std::nullopt;
  if (text.empty()) return std::string();
  std::string out(3 * text.size() / 4, '\0');
  const int n = EVP_DecodeBlock(reinterpret_cast<unsigned char*>(out.data()),
                                reinterpret_cast<const unsigned char*>(text.data()), static_cast<int>(text.size()));
  if (n < 0) return std::nullopt;
  // EVP_DecodeBlock counts the padding as zero bytes.
  size_t len = static_cast<size_t>(n);
  if (text.back() == '=') --len;
  if (text.size() >= 2 && text[text.size() - 2] == '=') --len;
  out.resize(len);
  return out;
}

std::string StringAt(const Json& object, std::string_view key) {
  if (!object.is_object()) return "";
  auto it = object.find(key);
  if (it == object.end() || !it->is_string()) return "";
  return it->get<std::string>();
}

long long GenerationOf(const Json& object) {
  if (!object.contains("metadata")) return 0;
  const Json& m = object["metadata"];
  auto it = m.find("generation");
  return it != m.end() && it->is_number_integer() ? it->get<long long>() : 0;
}

std::vector<std::string> SplitList(const std::string& text) {
  std::vector<std::string> out;
  size_t start = 0;
  while (start <= text.size()) {
    size_t comma = text.find(',', start);
    if (comma == std::string::npos) comma = text.size();
    std::string item = text.substr(start, comma - start);
    item.erase(0, item.find_first_not_of(" \t"));
    item.erase(item.find_last_not_of(" \t") + 1);
    if (!item.empty()) out.push_back(std::move(item));
    start = comma + 1;
  }
  return out;
}

std::string KeyOf(const Json& object) {
  const Json& m = object.at("metadata");
  const std::string ns = StringAt(m, "namespace");
  const std::string name = StringAt(m, "name");
  return ns.empty() ? name : ns + "/" + name;
}

}  // namespace certwright::api
