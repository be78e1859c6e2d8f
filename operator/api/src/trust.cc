#include "certwright/api/trust.h"

#include <algorithm>
#include <cctype>
#include <set>

#include "certwright/signer/trust_store.h"
#include "fields.h"

namespace certwright::api {

using internal::Fields;
using internal::ForEachObject;
using internal::Indexed;

namespace {

constexpr size_t kMaxSources = 64;

// ConfigMap and Secret data keys (IsConfigMapKey).
bool IsDataKey(std::string_view key) {
  if (key.empty() || key.size() > 253 || key == "." || key == ".." || key.starts_with("..")) return false;
  for (char c : key) {
    if (!(std::isalnum(static_cast<unsigned char>(c)) || c == '-' || c == '_' || c == '.')) return false;
  }
  return true;
}

Result<std::string> DataKey(const Fields& f, std::string_view field) {
  CW_ASSIGN_OR_RETURN(std::string key, f.RequiredString(field));
  if (!IsDataKey(key)) {
    return f.Invalid(field, "must be a ConfigMap/Secret data key: letters, digits, '-', '_' and '.' (got \"" + key + "\")");
  }
  return key;
}

Result<std::string> ObjectName(const Fields& f, std::string_view field) {
  CW_ASSIGN_OR_RETURN(std::string name, f.RequiredString(field));
  if (!internal::IsDnsSubdomain(name)) {
    return f.Invalid(field, "must be a lowercase RFC 1123 subdomain (got \"" + name + "\")");
  }
  return name;
}

Result<std::optional<TrustFormat>> Format(const Fields& formats, std::string_view field) {
  if (!formats.Has(field)) return std::optional<TrustFormat>();
  CW_ASSIGN_OR_RETURN(Fields f, formats.Object(field));
  TrustFormat format;
  CW_ASSIGN_OR_RETURN(format.key, DataKey(f, "key"));
  if (f.Has("passwordSecretRef")) {
    CW_ASSIGN_OR_RETURN(Fields ref, f.Object("passwordSecretRef"));
    SecretKeySelector s;
    CW_ASSIGN_OR_RETURN(s.name, ObjectName(ref, "name"));
    CW_ASSIGN_OR_RETURN(s.key, DataKey(ref, "key"));
    format.password = s;
  }
  return std::optional<TrustFormat>(format);
}

}  // namespace

std::string TrustSource::Describe(const std::string& trust_namespace) const {
  switch (type) {
    case Type::kIssuer:
      return issuer_kind + " " + (issuer_namespace.empty() ? "" : issuer_namespace + "/") + issuer_name;
    case Type::kConfigMap: return "ConfigMap " + trust_namespace + "/" + name + " key " + key;
    case Type::kSecret: return "Secret " + trust_namespace + "/" + name + " key " + key;
    case Type::kInLine: return "inLine";
    case Type::kDefaultCAs: return std::string("useDefaultCAs (") + kDefaultCaFile + ")";
  }
  return "source";
}

bool TrustBundleSpec::Selects(const std::string& ns, const std::map<std::string, std::string>& labels) const {
  if (!namespace_names.empty() &&
      std::find(namespace_names.begin(), namespace_names.end(), ns) == namespace_names.end()) {
    return false;
  }
  return signer::policy::LabelsMatch(match_labels, match_expressions, labels);
}

std::vector<std::string> TrustBundleSpec::IssuerKeys() const {
  std::vector<std::string> keys;
  for (const auto& s : sources) {
    if (s.type != TrustSource::Type::kIssuer) continue;
    keys.push_back(s.issuer_kind + "/" + (s.issuer_namespace.empty() ? "" : s.issuer_namespace + "/") + s.issuer_name);
  }
  return keys;
}

Result<TrustBundleSpec> ParseTrustBundleSpec(const Json& json) {
  Fields spec(json, "spec");
  if (!json.is_object()) return spec.Invalid("", "must be an object");
  TrustBundleSpec out;
  if (!spec.Has("sources") || !spec.At("sources").is_array() || spec.At("sources").empty()) {
    return spec.Invalid("sources", "must list at least one source");
  }
  if (spec.At("sources").size() > kMaxSources) {
    return spec.Invalid("sources", "must have at most " + std::to_string(kMaxSources) + " items");
  }
  CW_RETURN_IF_ERROR(ForEachObject(spec, "sources", [&](const Fields& f) -> Status {
    TrustSource s;
    int set = 0;
    for (const char* field : {"issuer", "configMap", "secret", "inLine", "useDefaultCAs"}) set += f.Has(field) ? 1 : 0;
    if (set != 1) {
      return f.Invalid("", "set exactly one of issuer, configMap, secret, inLine, useDefaultCAs");
    }
    if (f.Has("issuer")) {
      CW_ASSIGN_OR_RETURN(Fields i, f.Object("issuer"));
      s.type = TrustSource::Type::kIssuer;
      CW_ASSIGN_OR_RETURN(s.issuer_name, ObjectName(i, "name"));
      CW_ASSIGN_OR_RETURN(s.issuer_kind, i.String("kind", "ClusterIssuer"));
      CW_ASSIGN_OR_RETURN(s.issuer_namespace, i.String("namespace"));
      if (s.issuer_kind != "ClusterIssuer" && s.issuer_kind != "Issuer") {
        return i.Invalid("kind", "must be ClusterIssuer or Issuer (got \"" + s.issuer_kind + "\")");
      }
      if (s.issuer_kind == "Issuer" && s.issuer_namespace.empty()) {
        return i.Invalid("namespace", "is required for an Issuer");
      }
      if (s.issuer_kind == "ClusterIssuer" && !s.issuer_namespace.empty()) {
        return i.Invalid("namespace", "must not be set for a ClusterIssuer");
      }
    } else if (f.Has("configMap") || f.Has("secret")) {
      const bool cm = f.Has("configMap");
      CW_ASSIGN_OR_RETURN(Fields r, f.Object(cm ? "configMap" : "secret"));
      s.type = cm ? TrustSource::Type::kConfigMap : TrustSource::Type::kSecret;
      CW_ASSIGN_OR_RETURN(s.name, ObjectName(r, "name"));
      CW_ASSIGN_OR_RETURN(s.key, DataKey(r, "key"));
    } else if (f.Has("inLine")) {
      s.type = TrustSource::Type::kInLine;
      CW_ASSIGN_OR_RETURN(s.pem, f.RequiredString("inLine"));
      signer::TrustSetBuilder check;
      CW_RETURN_IF_ERROR(check.AddPem(s.pem, f.PathOf("inLine")));
    } else {
      CW_ASSIGN_OR_RETURN(bool use, f.Bool("useDefaultCAs"));
      if (!use) return f.Invalid("useDefaultCAs", "must be true when set (omit the source instead)");
      s.type = TrustSource::Type::kDefaultCAs;
    }
    out.sources.push_back(std::move(s));
    return Ok();
  }));

  if (!spec.Has("target")) return spec.Invalid("target", "is required");
  CW_ASSIGN_OR_RETURN(Fields target, spec.Object("target"));
  if (target.Has("configMap")) {
    CW_ASSIGN_OR_RETURN(Fields cm, target.Object("configMap"));
    CW_ASSIGN_OR_RETURN(std::string key, DataKey(cm, "key"));
    out.configmap_key = key;
  }
  if (target.Has("secret")) {
    CW_ASSIGN_OR_RETURN(Fields secret, target.Object("secret"));
    CW_ASSIGN_OR_RETURN(std::string key, DataKey(secret, "key"));
    out.secret_key = key;
  }
  if (!out.configmap_key && !out.secret_key) return target.Invalid("", "set configMap, secret or both");
  CW_ASSIGN_OR_RETURN(Fields formats, target.Object("additionalFormats"));
  CW_ASSIGN_OR_RETURN(out.jks, Format(formats, "jks"));
  CW_ASSIGN_OR_RETURN(out.pkcs12, Format(formats, "pkcs12"));
  std::set<std::string> keys;
  for (const auto* key : {&out.configmap_key, &out.secret_key}) {
    if (*key) keys.insert(**key);
  }
  for (const auto& [field, format] : {std::pair{"jks", &out.jks}, std::pair{"pkcs12", &out.pkcs12}}) {
    if (!*format) continue;
    if (keys.contains((*format)->key)) {
      return formats.Invalid(std::string(field) + ".key", "must differ from the other target keys (\"" +
                                                               (*format)->key + "\" is used twice)");
    }
    keys.insert((*format)->key);
  }

  CW_ASSIGN_OR_RETURN(Fields ns, target.Object("namespaceSelector"));
  CW_ASSIGN_OR_RETURN(out.namespace_names, ns.StringList("names"));
  if (ns.Has("names") && out.namespace_names.empty()) {
    return ns.Invalid("names", "must not be empty; omit it to select every namespace");
  }
  for (size_t i = 0; i < out.namespace_names.size(); ++i) {
    if (!internal::IsDnsSubdomain(out.namespace_names[i])) {
      return ns.Invalid(Indexed("names", i), "must be a namespace name (got \"" + out.namespace_names[i] + "\")");
    }
  }
  CW_RETURN_IF_ERROR(internal::ParseLabelSelector(ns, out.match_labels, out.match_expressions));
  CW_RETURN_IF_ERROR(signer::policy::CheckLabelRequirements(out.match_expressions, ns.PathOf("matchExpressions")));
  return out;
}

Result<ObjectRef> ParseInjectCaFrom(std::string_view value) {
  const size_t slash = value.find('/');
  const std::string text(value);
  if (slash == std::string_view::npos || slash == 0 || slash + 1 == value.size() ||
      value.find('/', slash + 1) != std::string_view::npos) {
    return InvalidArgument(std::string(annotations::kInjectCaFrom) + ": must be <namespace>/<certificate> (got \"" +
                           text + "\")");
  }
  ObjectRef ref{text.substr(0, slash), text.substr(slash + 1)};
  if (!internal::IsDnsSubdomain(ref.ns) || !internal::IsDnsSubdomain(ref.name)) {
    return InvalidArgument(std::string(annotations::kInjectCaFrom) + ": \"" + text +
                           "\" is not a valid <namespace>/<certificate>");
  }
  return ref;
}

Result<std::string> ParseInjectCaFromIssuer(std::string_view value) {
  const std::string text(value);
  const size_t slash = text.find('/');
  const std::string what = std::string(annotations::kInjectCaFromIssuer) +
                           ": must be <clusterissuer> or <namespace>/<issuer> (got \"" + text + "\")";
  if (slash == std::string::npos) {
    if (!internal::IsDnsSubdomain(text)) return InvalidArgument(what);
    return "ClusterIssuer/" + text;
  }
  const std::string ns = text.substr(0, slash), name = text.substr(slash + 1);
  if (!internal::IsDnsSubdomain(ns) || !internal::IsDnsSubdomain(name)) return InvalidArgument(what);
  return "Issuer/" + ns + "/" + name;
}

}  // namespace certwright::api
