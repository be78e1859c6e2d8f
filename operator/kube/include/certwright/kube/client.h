// The Kubernetes REST client: typed errors, selectors, pagination, preconditions, patches,
// subresources and watches over one http::Client.
//
//   auto client = kube::Client::Create(*kube::LoadConfig());
//   auto cm = client->Get(kube::resources::kConfigMaps, "ns", "name");
//   if (!cm && cm.error().kind() == ErrorKind::kNotFound) { ... }
//
// Failures are Errors whose kind says what to do (result.h) and whose detail() carries the
// HTTP status, the Status reason and, for Invalid, the field causes:
//   404 -> kNotFound, 409 AlreadyExists -> kAlreadyExists, 409 Conflict -> kConflict,
//   422 Invalid / 400 -> kInvalidArgument, 401/403 -> kPermissionDenied,
//   410 Gone/Expired -> kConflict with http_status 410 (relist), 429/5xx -> kUnavailable.
// Reads (GET, LIST) are retried with back-off on 429, 5xx and connection errors; writes only on
// 429 (the server did not act on them).
#pragma once

#include <chrono>
#include <functional>
#include <memory>
#include <optional>
#include <string>

#include <nlohmann/json.hpp>

#include "certwright/kube/config.h"
#include "certwright/http/client.h"
#include "certwright/kube/rate_limit.h"
#include "certwright/kube/resource.h"
#include "certwright/signer/result.h"

namespace prometheus {
class Registry;
}

namespace certwright::kube {

using Json = nlohmann::json;

struct ListOptions {
  std::string label_selector;
  std::string field_selector;
  int limit = 0;                  // page size; 0: server default (all)
  std::string continue_token;
  std::string resource_version;   // "0": from the watch cache
};

struct DeleteOptions {
  std::string precondition_uid;
  std::string precondition_resource_version;
  std::string propagation_policy;  // Foreground, Background, Orphan
};

enum class PatchType { kMerge, kJson, kStrategicMerge, kApply };

struct PatchOptions {
  std::string field_manager = "certwright";
  bool force = false;              // server-side apply: take ownership of conflicting fields
  std::string subresource;         // "status"
};

struct WatchOptions {
  std::string resource_version;
  std::string label_selector;
  std::string field_selector;
  bool allow_bookmarks = true;
  int timeout_seconds = 300;       // the server ends the watch after this; the client reconnects
};

struct WatchEvent {
  enum class Type { kAdded, kModified, kDeleted, kBookmark, kError };
  Type type;
  Json object;
};

// One watch connection. Next() blocks until an event, the end of the stream (nullopt: reconnect
// from the last resourceVersion), or an error. An ERROR event with code 410 arrives as an Error
// with http_status 410: relist.
class WatchStream {
 public:
  explicit WatchStream(std::unique_ptr<http::LineStream> stream) : stream_(std::move(stream)) {}
  Result<std::optional<WatchEvent>> Next();
  void Cancel() { stream_->Cancel(); }

 private:
  std::unique_ptr<http::LineStream> stream_;
};

class ClientMetrics;

// The API server's HTTP client over certwright's one HTTP layer: the kubeconfig's server CA and
// client certificate, `Accept: application/json`, and the bearer token (re-read from token_file
// when it changes). What Client::Create uses when ClientOptions::transport is unset; tests wrap it
// to inject faults.
Result<std::shared_ptr<http::Client>> MakeHttpClient(const ClientConfig& config);

struct ClientOptions {
  std::shared_ptr<http::Client> transport;       // nullptr: MakeHttpClient(config)
  std::shared_ptr<prometheus::Registry> metrics;  // nullptr: no metrics
  int max_read_attempts = 4;
};

class Client {
 public:
  using Options = ClientOptions;
  static Result<std::shared_ptr<Client>> Create(const ClientConfig& config, Options options = {});

  Result<Json> Get(const Resource& r, const std::string& ns, const std::string& name,
                   const std::string& subresource = "");
  // One page; `items`, `metadata.continue` and `metadata.resourceVersion` as the server sent them.
  Result<Json> List(const Resource& r, const std::string& ns, const ListOptions& options = {});
  // Every page, following `continue`; returns a list object with all items.
  Result<Json> ListAll(const Resource& r, const std::string& ns, ListOptions options = {});
  Result<Json> Create(const Resource& r, const std::string& ns, const Json& object,
                      const std::string& subresource = "");
  // PUT: the object's metadata.resourceVersion is the precondition (409 Conflict when stale).
  Result<Json> Update(const Resource& r, const std::string& ns, const Json& object,
                      const std::string& subresource = "");
  Result<Json> UpdateStatus(const Resource& r, const std::string& ns, const Json& object) {
    return Update(r, ns, object, "status");
  }
  Result<Json> Patch(const Resource& r, const std::string& ns, const std::string& name, PatchType type,
                     const Json& patch, const PatchOptions& options = {});
  // Returns the object as deleted (or the Status the server sends for it).
  Status Delete(const Resource& r, const std::string& ns, const std::string& name,
                const DeleteOptions& options = {});
  Result<std::unique_ptr<WatchStream>> Watch(const Resource& r, const std::string& ns, const WatchOptions& options);

  // Any request (for APIs without a helper). `path` includes the query string.
  Result<Json> Request(const std::string& verb, const std::string& path, const std::string& resource_for_metrics,
                       const Json* body = nullptr, const std::string& content_type = "application/json");

  const ClientConfig& config() const { return config_; }

 private:
  Client(ClientConfig config, Options options);

  ClientConfig config_;
  Options options_;
  std::unique_ptr<TokenBucket> limiter_;
  std::shared_ptr<ClientMetrics> metrics_;
};

// Turns a non-2xx response into an Error (exposed for tests).
Error ErrorFromResponse(const http::Response& response, const std::string& what);

// "ns/name" or "name": the key informers and work queues use.
std::string ObjectKey(const Json& object);
std::string UrlEncode(const std::string& value);

}  // namespace certwright::kube
