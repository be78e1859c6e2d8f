#include "certwright/kube/config.h"

#include <openssl/evp.h>
#include <yaml-cpp/yaml.h>

#include <cstdlib>
#include <optional>
#include <filesystem>

#include "certwright/signer/pem.h"

namespace certwright::kube {

namespace {

Result<std::string> Base64Decode(const std::string& text, const std::string& what) {
  std::string clean;
  for (char c : text) {
    if (c != '\n' && c != '\r' && c != ' ') clean += c;
  }
  if (clean.size() % 4 != 0) return InvalidArgument(what + " is not valid base64");
  std::string out(clean.size() / 4 * 3, '\0');
  int n = EVP_DecodeBlock(reinterpret_cast<unsigned char*>(out.data()),
                          reinterpret_cast<const unsigned char*>(clean.data()), static_cast<int>(clean.size()));
  if (n < 0) return InvalidArgument(what + " is not valid base64");
  size_t pad = 0;
  if (!clean.empty() && clean.back() == '=') ++pad;
  if (clean.size() > 1 && clean[clean.size() - 2] == '=') ++pad;
  out.resize(static_cast<size_t>(n) - pad);
  return out;
}

// A value given inline (`<field>-data`, base64) or as a file path (relative to the kubeconfig).
Result<std::string> DataOrFile(const YAML::Node& node, const std::string& field, const std::filesystem::path& base,
                               const std::string& where) {
  if (node[field + "-data"]) {
    return Base64Decode(node[field + "-data"].as<std::string>(), where + " " + field + "-data");
  }
  if (node[field]) {
    std::filesystem::path p = node[field].as<std::string>();
    if (p.is_relative()) p = base / p;
    auto data = signer::ReadFileBounded(p.string());
    if (!data) return std::move(data).error().WithContext(where + " " + field);
    return data;
  }
  return std::string();
}

// The `inner` map of the entry called `name` in a kubeconfig list (clusters, users, contexts);
// nullopt when there is none. (A default YAML::Node is a defined null, so absence needs its own
// value.)
std::optional<YAML::Node> FindNamed(const YAML::Node& list, const std::string& name, const std::string& inner) {
  if (!list || !list.IsSequence()) return std::nullopt;
  for (const auto& item : list) {
    if (item["name"] && item["name"].as<std::string>() == name && item[inner] && item[inner].IsMap()) {
      return item[inner];
    }
  }
  return std::nullopt;
}

}  // namespace

Result<ClientConfig> LoadKubeconfig(const std::string& path, const std::string& context_override) {
  auto text = signer::ReadFileBounded(path, 4 * 1024 * 1024);
  if (!text) return std::move(text).error().WithContext("kubeconfig");
  const std::string where = "kubeconfig " + path;
  try {
    YAML::Node root = YAML::Load(*text);
    std::string context_name = context_override;
    if (context_name.empty() && root["current-context"]) context_name = root["current-context"].as<std::string>();
    if (context_name.empty()) return InvalidArgument(where + ": no current-context and no context given");
    auto found_context = FindNamed(root["contexts"], context_name, "context");
    if (!found_context) return NotFound(where + ": context \"" + context_name + "\" is not defined");
    const YAML::Node& context = *found_context;
    std::string cluster_name = context["cluster"] ? context["cluster"].as<std::string>() : "";
    std::string user_name = context["user"] ? context["user"].as<std::string>() : "";
    auto found_cluster = FindNamed(root["clusters"], cluster_name, "cluster");
    if (!found_cluster) {
      return NotFound(where + ": cluster \"" + cluster_name + "\" of context \"" + context_name + "\" is not defined");
    }
    const YAML::Node& cluster = *found_cluster;
    auto found_user = FindNamed(root["users"], user_name, "user");
    if (!found_user && !user_name.empty()) {
      return NotFound(where + ": user \"" + user_name + "\" of context \"" + context_name + "\" is not defined");
    }
    const YAML::Node user = found_user.value_or(YAML::Node());

    ClientConfig config;
    config.source = where + ", context " + context_name;
    const std::filesystem::path base = std::filesystem::path(path).parent_path();
    if (!cluster["server"]) return InvalidArgument(where + ": cluster \"" + cluster_name + "\" has no server");
    config.server = cluster["server"].as<std::string>();
    while (!config.server.empty() && config.server.back() == '/') config.server.pop_back();
    // Plain HTTP would send the bearer token and all Secrets in the clear: not supported.
    if (!config.server.starts_with("https://")) {
      return InvalidArgument(where + ": cluster \"" + cluster_name + "\" server \"" + config.server +
                             "\" must start with https://");
    }
    CW_ASSIGN_OR_RETURN(config.ca_pem, DataOrFile(cluster, "certificate-authority", base, where + " cluster"));
    config.insecure_skip_tls_verify =
        cluster["insecure-skip-tls-verify"] && cluster["insecure-skip-tls-verify"].as<bool>();
    if (found_user) {
      CW_ASSIGN_OR_RETURN(config.client_cert_pem, DataOrFile(user, "client-certificate", base, where + " user"));
      CW_ASSIGN_OR_RETURN(config.client_key_pem, DataOrFile(user, "client-key", base, where + " user"));
      if (user["token"]) config.token = user["token"].as<std::string>();
      if (user["tokenFile"]) {
        std::filesystem::path p = user["tokenFile"].as<std::string>();
        config.token_file = (p.is_relative() ? base / p : p).string();
      }
      if (user["exec"] || user["auth-provider"]) {
        return InvalidArgument(where + ": user \"" + user_name +
                               "\" uses exec/auth-provider credentials, which certwright does not run; use a "
                               "client certificate or a token");
      }
    }
    config.namespace_ = context["namespace"] ? context["namespace"].as<std::string>() : "default";
    return config;
  } catch (const YAML::Exception& e) {
    return InvalidArgument(where + " is not valid YAML: " + e.what());
  }
}

Result<ClientConfig> InClusterConfig(const std::string& root) {
  const char* host = std::getenv("KUBERNETES_SERVICE_HOST");
  const char* port = std::getenv("KUBERNETES_SERVICE_PORT");
  if (host == nullptr || port == nullptr || *host == '\0') {
    return NotFound("not running in a cluster (KUBERNETES_SERVICE_HOST/PORT unset) and no kubeconfig given: use "
                    "--kubeconfig or KUBECONFIG");
  }
  ClientConfig config;
  std::string h = host;
  if (h.find(':') != std::string::npos) h = "[" + h + "]";  // IPv6
  config.server = "https://" + h + ":" + port;
  config.token_file = root + "/token";
  auto token = signer::ReadFileBounded(config.token_file, 64 * 1024);
  if (!token) return std::move(token).error().WithContext("in-cluster service account token");
  CW_ASSIGN_OR_RETURN(config.ca_pem, signer::ReadFileBounded(root + "/ca.crt"));
  auto ns = signer::ReadFileBounded(root + "/namespace", 1024);
  config.namespace_ = ns.ok() ? *ns : "default";
  config.source = "in-cluster service account";
  return config;
}

Result<ClientConfig> LoadConfig(const std::string& explicit_path, const std::string& context) {
  if (!explicit_path.empty()) return LoadKubeconfig(explicit_path, context);
  if (const char* env = std::getenv("KUBECONFIG"); env != nullptr && *env != '\0') {
    std::string first(env);
    first = first.substr(0, first.find(':'));
    return LoadKubeconfig(first, context);
  }
  return InClusterConfig();
}

}  // namespace certwright::kube
