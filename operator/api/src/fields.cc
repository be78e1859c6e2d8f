#include "fields.h"

#include <regex>

#include "certwright/signer/duration.h"

namespace certwright::api::internal {

namespace {
const Json& EmptyObject() {
  static const Json empty = Json::object();
  return empty;
}
}  // namespace

Result<std::string> Fields::String(std::string_view field, std::string fallback) const {
  if (!Has(field)) return fallback;
  const Json& v = At(field);
  if (!v.is_string()) return Invalid(field, "must be a string");
  return v.get<std::string>();
}

Result<std::string> Fields::RequiredString(std::string_view field) const {
  CW_ASSIGN_OR_RETURN(std::string s, String(field));
  if (s.empty()) return Invalid(field, "is required");
  return s;
}

Result<std::vector<std::string>> Fields::StringList(std::string_view field) const {
  std::vector<std::string> out;
  if (!Has(field)) return out;
  const Json& v = At(field);
  if (!v.is_array()) return Invalid(field, "must be a list of strings");
  for (size_t i = 0; i < v.size(); ++i) {
    if (!v[i].is_string()) return Invalid(std::string(field) + "[" + std::to_string(i) + "]", "must be a string");
    out.push_back(v[i].get<std::string>());
  }
  return out;
}

Result<std::optional<long long>> Fields::Integer(std::string_view field) const {
  if (!Has(field)) return std::optional<long long>();
  const Json& v = At(field);
  if (!v.is_number_integer()) return Invalid(field, "must be an integer");
  return std::optional<long long>(v.get<long long>());
}

Result<bool> Fields::Bool(std::string_view field) const {
  if (!Has(field)) return false;
  const Json& v = At(field);
  if (!v.is_boolean()) return Invalid(field, "must be true or false");
  return v.get<bool>();
}

Result<Fields> Fields::Object(std::string_view field) const {
  if (!Has(field)) return Fields(EmptyObject(), PathOf(field));
  const Json& v = At(field);
  if (!v.is_object()) return Invalid(field, "must be an object");
  return Fields(v, PathOf(field));
}

Result<std::map<std::string, std::string>> Fields::StringMap(std::string_view field) const {
  std::map<std::string, std::string> out;
  if (!Has(field)) return out;
  const Json& v = At(field);
  if (!v.is_object()) return Invalid(field, "must be a map of strings");
  for (auto it = v.begin(); it != v.end(); ++it) {
    if (!it->is_string()) return Invalid(std::string(field) + "." + it.key(), "must be a string");
    out[it.key()] = it->get<std::string>();
  }
  return out;
}

Result<std::optional<std::chrono::seconds>> DurationField(const Fields& f, std::string_view field,
                                                          std::chrono::seconds minimum, std::string_view min_text) {
  CW_ASSIGN_OR_RETURN(std::string text, f.String(field));
  if (text.empty()) return std::optional<std::chrono::seconds>();
  auto d = ParseDuration(text);
  if (!d.ok()) return f.Invalid(field, d.error().message());
  if (*d < minimum) return f.Invalid(field, std::string(field) + " must be at least " + std::string(min_text));
  return std::optional<std::chrono::seconds>(*d);
}

bool IsDnsSubdomain(std::string_view name) {
  static const std::regex re("^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$");
  return !name.empty() && name.size() <= 253 && std::regex_match(name.begin(), name.end(), re);
}

std::string Indexed(std::string_view field, size_t i) { return std::string(field) + "[" + std::to_string(i) + "]"; }

Status ParseLabelSelector(const Fields& f, std::map<std::string, std::string>& match_labels,
                          std::vector<signer::policy::LabelSelectorRequirement>& match_expressions) {
  CW_ASSIGN_OR_RETURN(match_labels, f.StringMap("matchLabels"));
  return ForEachObject(f, "matchExpressions", [&](const Fields& e) -> Status {
    signer::policy::LabelSelectorRequirement r;
    CW_ASSIGN_OR_RETURN(r.key, e.RequiredString("key"));
    CW_ASSIGN_OR_RETURN(r.op, e.RequiredString("operator"));
    CW_ASSIGN_OR_RETURN(r.values, e.StringList("values"));
    match_expressions.push_back(std::move(r));
    return Ok();
  });
}

}  // namespace certwright::api::internal
