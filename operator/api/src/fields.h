// Reading a JSON object field by field with the field path in every message
// ("spec.privateKey.size: must be an integer"). Internal to operator/api.
#pragma once

#include <chrono>
#include <map>
#include <optional>
#include <string>
#include <vector>

#include "certwright/api/meta.h"
#include "certwright/signer/policy.h"

namespace certwright::api::internal {

class Fields {
 public:
  Fields(const Json& object, std::string path) : object_(object), path_(std::move(path)) {}

  std::string PathOf(std::string_view field) const { return path_ + "." + std::string(field); }
  Error Invalid(std::string_view field, std::string_view message) const {
    return InvalidArgument((field.empty() ? path_ : PathOf(field)) + ": " + std::string(message));
  }
  bool Has(std::string_view field) const {
    return object_.is_object() && object_.contains(field) && !object_[std::string(field)].is_null();
  }
  const Json& At(std::string_view field) const { return object_[std::string(field)]; }

  // Absent: `fallback`. Present but not a string: an error.
  Result<std::string> String(std::string_view field, std::string fallback = "") const;
  Result<std::string> RequiredString(std::string_view field) const;
  Result<std::vector<std::string>> StringList(std::string_view field) const;
  Result<std::optional<long long>> Integer(std::string_view field) const;
  Result<bool> Bool(std::string_view field) const;
  // Absent: an empty object; present but not an object: an error.
  Result<Fields> Object(std::string_view field) const;
  Result<std::map<std::string, std::string>> StringMap(std::string_view field) const;

  const std::string& path() const { return path_; }
  const Json& json() const { return object_; }

 private:
  const Json& object_;
  std::string path_;
};

std::string Indexed(std::string_view field, size_t i);

// Each item of `field` (a list) as an object; absent: none.
template <typename Fn>
Status ForEachObject(const Fields& f, std::string_view field, Fn fn) {
  if (!f.Has(field)) return Ok();
  const Json& v = f.At(field);
  if (!v.is_array()) return f.Invalid(field, "must be a list");
  for (size_t i = 0; i < v.size(); ++i) {
    const std::string item = Indexed(field, i);
    if (!v[i].is_object()) return f.Invalid(item, "must be an object");
    CW_RETURN_IF_ERROR(fn(Fields(v[i], f.PathOf(item))));
  }
  return Ok();
}

// matchLabels and matchExpressions of a metav1.LabelSelector at `f` (shapes only; the operators
// are checked by signer::policy::CheckLabelRequirements).
Status ParseLabelSelector(const Fields& f, std::map<std::string, std::string>& match_labels,
                          std::vector<signer::policy::LabelSelectorRequirement>& match_expressions);

// A Go duration ("2160h") that must be at least `minimum`; messages as the CRD's CEL rules.
Result<std::optional<std::chrono::seconds>> DurationField(const Fields& f, std::string_view field,
                                                          std::chrono::seconds minimum, std::string_view min_text);

// The RFC 1123 subdomain rule Kubernetes applies to object names.
bool IsDnsSubdomain(std::string_view name);

}  // namespace certwright::api::internal
