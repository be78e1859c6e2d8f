#include "certwright/kube/client.h"

#include <spdlog/spdlog.h>

#include <charconv>
#include <random>
#include <thread>

#include "certwright/kube/metrics.h"
#include "certwright/signer/key_uri.h"

namespace certwright::kube {

namespace {

using std::chrono::milliseconds;

// Errors for a response, from the Status object when the server sent one.
ErrorKind KindFor(int status, const std::string& reason) {
  if (status == 404) return ErrorKind::kNotFound;
  if (status == 409) return reason == "AlreadyExists" ? ErrorKind::kAlreadyExists : ErrorKind::kConflict;
  if (status == 410) return ErrorKind::kConflict;
  if (status == 400 || status == 422 || status == 415 || status == 413) return ErrorKind::kInvalidArgument;
  if (status == 401 || status == 403) return ErrorKind::kPermissionDenied;
  if (status == 429 || status >= 500) return ErrorKind::kUnavailable;
  return ErrorKind::kInternal;
}

bool IsReadVerb(const std::string& verb) { return verb == "GET"; }

std::string Query(std::initializer_list<std::pair<std::string, std::string>> params) {
  std::string q;
  for (const auto& [k, v] : params) {
    if (v.empty()) continue;
    q += (q.empty() ? "?" : "&") + k + "=" + UrlEncode(v);
  }
  return q;
}

}  // namespace

std::string Resource::Path(const std::string& ns, const std::string& name, const std::string& subresource) const {
  std::string p = Prefix();
  if (namespaced && !ns.empty()) p += "/namespaces/" + ns;
  p += "/" + plural;
  if (!name.empty()) p += "/" + name;
  if (!subresource.empty()) p += "/" + subresource;
  return p;
}

// Query parameter values: only RFC 3986 unreserved characters stay as they are.
std::string UrlEncode(const std::string& value) { return signer::PercentEncode(value, ""); }

namespace {

// object[key] as a string, or "" when object is not an object or the value is not a string.
// Server data is checked before it is read: nlohmann throws on wrong types.
std::string StringField(const Json& object, const char* key) {
  if (!object.is_object()) return "";
  auto it = object.find(key);
  return it != object.end() && it->is_string() ? it->get<std::string>() : "";
}

const Json& ObjectField(const Json& object, const char* key) {
  static const Json kEmpty = Json::object();
  if (!object.is_object()) return kEmpty;
  auto it = object.find(key);
  return it != object.end() && it->is_object() ? *it : kEmpty;
}

}  // namespace

std::string ObjectKey(const Json& object) {
  const Json& md = ObjectField(object, "metadata");
  std::string ns = StringField(md, "namespace");
  std::string name = StringField(md, "name");
  return ns.empty() ? name : ns + "/" + name;
}

static milliseconds RetryAfter(const std::string& header) {
  // Delay-seconds (RFC 9110 §10.2.3), clamped to 10 minutes; an HTTP-date or garbage: 0 (our own
  // back-off applies).
  long long secs = 0;
  auto [end, ec] = std::from_chars(header.data(), header.data() + header.size(), secs);
  if (ec != std::errc() || end != header.data() + header.size() || secs < 0) return milliseconds(0);
  return milliseconds(std::min<long long>(secs, 600) * 1000);
}

Error ErrorFromResponse(const http::Response& response, const std::string& what) {
  ErrorDetail detail;
  detail.http_status = response.status;
  std::string message;
  Json status = Json::parse(response.body, nullptr, false);
  if (!status.is_discarded() && StringField(status, "kind") == "Status") {
    detail.reason = StringField(status, "reason");
    message = StringField(status, "message");
    const Json& details = ObjectField(status, "details");
    if (auto causes = details.find("causes"); causes != details.end() && causes->is_array()) {
      for (const auto& c : *causes) {
        if (c.is_object()) detail.causes.emplace_back(StringField(c, "field"), StringField(c, "message"));
      }
    }
  }
  if (message.empty()) {
    message = "HTTP " + std::to_string(response.status);
    if (!response.body.empty() && response.body.size() < 200) message += ": " + response.body;
  }
  if (auto it = response.headers.find("retry-after"); it != response.headers.end()) {
    detail.retry_after = RetryAfter(it->second);
  }
  if (response.status == 410 && detail.reason.empty()) detail.reason = "Gone";
  ErrorKind kind = KindFor(response.status, detail.reason);
  return Error(kind, what + ": " + message).WithDetail(std::move(detail));
}

Result<std::optional<WatchEvent>> WatchStream::Next() {
  for (;;) {
    CW_ASSIGN_OR_RETURN(std::optional<std::string> line, stream_->ReadLine());
    if (!line) return std::optional<WatchEvent>();
    if (line->empty()) continue;
    Json j = Json::parse(*line, nullptr, false);
    auto object = j.is_object() ? j.find("object") : j.end();
    if (j.is_discarded() || !j.is_object() || object == j.end() || !object->is_object()) {
      return Internal("watch stream sent a line that is not a JSON event with an object (" +
                      std::to_string(line->size()) + " bytes)");
    }
    std::string type = StringField(j, "type");
    WatchEvent event;
    event.object = std::move(*object);
    if (type == "ADDED") event.type = WatchEvent::Type::kAdded;
    else if (type == "MODIFIED") event.type = WatchEvent::Type::kModified;
    else if (type == "DELETED") event.type = WatchEvent::Type::kDeleted;
    else if (type == "BOOKMARK") event.type = WatchEvent::Type::kBookmark;
    else if (type == "ERROR") {
      http::Response r;
      auto code = event.object.find("code");
      r.status = code != event.object.end() && code->is_number_integer() ? code->get<int>() : 500;
      r.body = event.object.dump();
      return ErrorFromResponse(r, "watch");
    } else {
      return Internal("watch stream sent an event of unknown type \"" + type + "\"");
    }
    return std::optional<WatchEvent>(std::move(event));
  }
}

Client::Client(ClientConfig config, Options options) : config_(std::move(config)), options_(std::move(options)) {
  if (config_.qps > 0) limiter_ = std::make_unique<TokenBucket>(config_.qps, config_.burst);
  if (options_.metrics) metrics_ = std::make_shared<ClientMetrics>(options_.metrics);
}

Result<std::shared_ptr<Client>> Client::Create(const ClientConfig& config, Options options) {
  if (config.server.empty()) return InvalidArgument("Kubernetes client config has no server");
  if (!options.transport) {
    CW_ASSIGN_OR_RETURN(options.transport, MakeHttpClient(config));
  }
  return std::shared_ptr<Client>(new Client(config, std::move(options)));
}

Result<Json> Client::Request(const std::string& verb, const std::string& path, const std::string& resource,
                             const Json* body, const std::string& content_type) {
  http::Request req;
  req.method = verb;
  req.target = path;
  if (body) {
    // Invalid UTF-8 in a string (from user input) is replaced rather than thrown on.
    req.body = body->dump(-1, ' ', false, Json::error_handler_t::replace);
    req.headers.emplace_back("Content-Type", content_type);
  }
  const std::string what = verb + " " + path.substr(0, path.find('?'));
  static thread_local std::mt19937 jitter(std::random_device{}());
  milliseconds backoff(100);
  Result<http::Response> response = Internal("no attempt");
  const int attempts = IsReadVerb(verb) ? std::max(1, options_.max_read_attempts) : 2;
  for (int attempt = 1; attempt <= attempts; ++attempt) {
    if (limiter_) std::this_thread::sleep_for(limiter_->Reserve());
    auto start = std::chrono::steady_clock::now();
    response = options_.transport->Send(req);
    if (metrics_) {
      metrics_->Observe(verb, resource, response.ok() ? std::to_string(response->status) : "error",
                        std::chrono::steady_clock::now() - start);
    }
    // Reads are retried on connection errors, 429 and 5xx; writes only on 429 (the server did
    // not act on them; after a connection error or a 5xx a write may have been applied).
    const bool read = IsReadVerb(verb);
    const bool retry = response.ok() ? response->status == 429 || (read && response->status >= 500) : read;
    milliseconds wait = backoff;
    if (retry && response.ok()) {
      if (auto it = response->headers.find("retry-after"); it != response->headers.end()) {
        wait = std::max(wait, RetryAfter(it->second));
      }
    }
    if (!retry || attempt == attempts) break;
    wait += milliseconds(std::uniform_int_distribution<int>(0, static_cast<int>(wait.count() / 2))(jitter));
    spdlog::debug("kube client: retrying {} after {} ms (attempt {})", what, wait.count(), attempt);
    std::this_thread::sleep_for(std::min(wait, milliseconds(10'000)));
    backoff *= 2;
  }
  if (!response.ok()) return std::move(response).error().WithContext(what);
  if (response->status < 200 || response->status > 299) return ErrorFromResponse(*response, what);
  Json out = Json::parse(response->body, nullptr, false);
  if (out.is_discarded()) return Internal(what + ": the server's response is not JSON");
  return out;
}

Result<Json> Client::Get(const Resource& r, const std::string& ns, const std::string& name,
                         const std::string& subresource) {
  return Request("GET", r.Path(ns, name, subresource), r.plural);
}

Result<Json> Client::List(const Resource& r, const std::string& ns, const ListOptions& o) {
  std::string q = Query({{"labelSelector", o.label_selector},
                         {"fieldSelector", o.field_selector},
                         {"limit", o.limit > 0 ? std::to_string(o.limit) : ""},
                         {"continue", o.continue_token},
                         {"resourceVersion", o.resource_version}});
  return Request("GET", r.Path(ns) + q, r.plural);
}

Result<Json> Client::ListAll(const Resource& r, const std::string& ns, ListOptions options) {
  Json all;
  for (;;) {
    CW_ASSIGN_OR_RETURN(Json page, List(r, ns, options));
    if (!page.is_object() || !page.contains("items") || !page["items"].is_array()) {
      return Internal("list " + r.plural + ": the server's answer is not a list");
    }
    if (!page.contains("metadata") || !page["metadata"].is_object()) page["metadata"] = Json::object();
    if (all.is_null()) {
      all = page;
      all["items"] = Json::array();
    }
    for (auto& item : page["items"]) all["items"].push_back(std::move(item));
    std::string next = StringField(page["metadata"], "continue");
    // The list's resourceVersion is that of the first page's snapshot (pages are consistent).
    if (next.empty()) break;
    options.continue_token = next;
    options.resource_version.clear();  // must not be combined with continue
  }
  all["metadata"].erase("continue");
  return all;
}

Result<Json> Client::Create(const Resource& r, const std::string& ns, const Json& object,
                            const std::string& subresource) {
  std::string name = StringField(ObjectField(object, "metadata"), "name");
  if (!subresource.empty() && name.empty()) {
    return InvalidArgument("create of " + r.kind + "/" + subresource + " without metadata.name");
  }
  std::string path = subresource.empty() ? r.Path(ns) : r.Path(ns, name, subresource);
  return Request("POST", path, r.plural, &object);
}

Result<Json> Client::Update(const Resource& r, const std::string& ns, const Json& object,
                            const std::string& subresource) {
  std::string name = StringField(ObjectField(object, "metadata"), "name");
  if (name.empty()) return InvalidArgument("update of a " + r.kind + " without metadata.name");
  return Request("PUT", r.Path(ns, name, subresource), r.plural, &object);
}

Result<Json> Client::Patch(const Resource& r, const std::string& ns, const std::string& name, PatchType type,
                           const Json& patch, const PatchOptions& o) {
  std::string content_type;
  switch (type) {
    case PatchType::kMerge: content_type = "application/merge-patch+json"; break;
    case PatchType::kJson: content_type = "application/json-patch+json"; break;
    case PatchType::kStrategicMerge: content_type = "application/strategic-merge-patch+json"; break;
    case PatchType::kApply: content_type = "application/apply-patch+yaml"; break;  // JSON is valid YAML
  }
  std::string q = Query({{"fieldManager", o.field_manager}, {"force", o.force ? "true" : ""}});
  return Request("PATCH", r.Path(ns, name, o.subresource) + q, r.plural, &patch, content_type);
}

Status Client::Delete(const Resource& r, const std::string& ns, const std::string& name, const DeleteOptions& o) {
  Json body = {{"apiVersion", "v1"}, {"kind", "DeleteOptions"}};
  if (!o.precondition_uid.empty()) body["preconditions"]["uid"] = o.precondition_uid;
  if (!o.precondition_resource_version.empty()) {
    body["preconditions"]["resourceVersion"] = o.precondition_resource_version;
  }
  if (!o.propagation_policy.empty()) body["propagationPolicy"] = o.propagation_policy;
  auto out = Request("DELETE", r.Path(ns, name), r.plural, &body);
  if (!out.ok()) return std::move(out).error();
  return Ok();
}

Result<std::unique_ptr<WatchStream>> Client::Watch(const Resource& r, const std::string& ns, const WatchOptions& o) {
  std::string q = Query({{"watch", "1"},
                         {"resourceVersion", o.resource_version},
                         {"labelSelector", o.label_selector},
                         {"fieldSelector", o.field_selector},
                         {"allowWatchBookmarks", o.allow_bookmarks ? "true" : ""},
                         {"timeoutSeconds", o.timeout_seconds > 0 ? std::to_string(o.timeout_seconds) : ""}});
  http::Request req;
  req.method = "GET";
  req.target = r.Path(ns) + q;
  if (limiter_) std::this_thread::sleep_for(limiter_->Reserve());
  auto start = std::chrono::steady_clock::now();
  auto stream = options_.transport->Stream(req);
  if (metrics_) {
    metrics_->Observe("WATCH", r.plural, stream.ok() ? std::to_string((*stream)->status()) : "error",
                      std::chrono::steady_clock::now() - start);
  }
  if (!stream) return std::move(stream).error().WithContext("watch " + r.plural);
  if ((*stream)->status() != 200) {
    http::Response resp;
    resp.status = (*stream)->status();
    for (;;) {
      auto line = (*stream)->ReadLine();
      if (!line.ok() || !*line) break;
      resp.body += **line;
    }
    return ErrorFromResponse(resp, "watch " + r.plural);
  }
  return std::make_unique<WatchStream>(std::move(*stream));
}

}  // namespace certwright::kube
