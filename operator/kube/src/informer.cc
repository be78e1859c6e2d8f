#include "certwright/kube/informer.h"

#include <spdlog/spdlog.h>

#include <algorithm>
#include <cstdlib>
#include <random>
#include <unordered_set>

namespace certwright::kube {

namespace {

using std::chrono::milliseconds;
using std::chrono::steady_clock;

// Reconnect back-off after failures: doubling from kFirstBackoff up to kMaxBackoff, plus up to
// half again of random jitter so that many informers do not reconnect in step (client-go's
// reflector backs off the same way, from 800 ms to 30 s).
constexpr milliseconds kFirstBackoff{250};
constexpr milliseconds kMaxBackoff{30'000};
// A watch that ends sooner than this without a single event is treated like a failure (backed
// off), so a server that closes every watch at once does not make us spin.
constexpr milliseconds kShortWatch{1'000};

std::string ResourceVersionOf(const Json& object) {
  auto md = object.find("metadata");
  if (md == object.end() || !md->is_object()) return "";
  auto rv = md->find("resourceVersion");
  return rv != md->end() && rv->is_string() ? rv->get<std::string>() : "";
}

std::string UidOf(const Json& object) {
  auto md = object.find("metadata");
  if (md == object.end() || !md->is_object()) return "";
  auto uid = md->find("uid");
  return uid != md->end() && uid->is_string() ? uid->get<std::string>() : "";
}

// A broken invariant (STYLE.md §7): the informer was used in a way its contract forbids.
[[noreturn]] void Misuse(const std::string& name, const std::string& what) {
  spdlog::critical("informer {}: {}", name, what);
  std::abort();
}

class Backoff {
 public:
  milliseconds Next() {
    milliseconds wait = current_;
    current_ = std::min(current_ * 2, kMaxBackoff);
    wait += milliseconds(std::uniform_int_distribution<long>(0, wait.count() / 2)(rng_));
    return std::min(wait, kMaxBackoff);
  }
  void Reset() { current_ = kFirstBackoff; }

 private:
  milliseconds current_ = kFirstBackoff;
  std::mt19937 rng_{std::random_device{}()};
};

}  // namespace

Informer::Informer(std::shared_ptr<Client> client, Resource resource, std::string ns, InformerOptions options)
    : client_(std::move(client)),
      resource_(std::move(resource)),
      ns_(resource_.namespaced ? std::move(ns) : ""),
      options_(std::move(options)),
      name_(ns_.empty() ? resource_.plural : resource_.plural + " in " + ns_) {}

Informer::~Informer() { Stop(); }

void Informer::AddIndex(const std::string& name, IndexFunc index) {
  if (started_) Misuse(name_, "AddIndex(\"" + name + "\") after Start()");
  std::unique_lock lock(cache_mutex_);
  for (const auto& i : indexes_) {
    if (i.name == name) Misuse(name_, "index \"" + name + "\" added twice");
  }
  indexes_.push_back(Index{name, std::move(index), {}});
}

void Informer::AddHandler(InformerHandler handler) {
  if (started_) Misuse(name_, "AddHandler() after Start()");
  handlers_.push_back(std::move(handler));
}

void Informer::OnChange(std::function<void(const std::string& key)> on_change) {
  auto fn = std::make_shared<std::function<void(const std::string&)>>(std::move(on_change));
  AddHandler({
      .on_add = [fn](const Json& o) { (*fn)(ObjectKey(o)); },
      .on_update = [fn](const Json&, const Json& o) { (*fn)(ObjectKey(o)); },
      .on_delete = [fn](const Json& o) { (*fn)(ObjectKey(o)); },
  });
}

void Informer::Start() {
  if (started_) Misuse(name_, "Start() called twice");
  started_ = true;
  spdlog::info("informer {}: starting", name_);
  dispatch_thread_ = std::thread([this] { Dispatch(); });
  run_thread_ = std::thread([this] { Run(); });
}

void Informer::Stop() {
  std::shared_ptr<WatchStream> watch;
  {
    std::lock_guard lock(control_mutex_);
    if (stopping_.exchange(true)) return;
    watch = current_watch_;
  }
  control_changed_.notify_all();
  {
    // Taken so the handler thread is either before its check of stopping_ or already waiting.
    std::lock_guard lock(queue_mutex_);
  }
  queue_changed_.notify_all();
  if (watch) watch->Cancel();
  if (run_thread_.joinable()) run_thread_.join();
  if (dispatch_thread_.joinable()) dispatch_thread_.join();
  if (started_) spdlog::info("informer {}: stopped", name_);
}

bool Informer::HasSynced() const { return synced_.load(); }

bool Informer::WaitForSync(milliseconds timeout) const {
  std::unique_lock lock(control_mutex_);
  control_changed_.wait_for(lock, timeout, [this] { return synced_.load() || stopping_.load(); });
  return synced_.load();
}

Informer::Object Informer::Get(const std::string& key) const {
  std::shared_lock lock(cache_mutex_);
  auto it = items_.find(key);
  return it == items_.end() ? nullptr : it->second.object;
}

std::vector<Informer::Object> Informer::List() const {
  std::shared_lock lock(cache_mutex_);
  std::vector<Object> out;
  out.reserve(items_.size());
  for (const auto& [key, entry] : items_) out.push_back(entry.object);
  return out;
}

std::vector<std::string> Informer::Keys() const {
  std::shared_lock lock(cache_mutex_);
  std::vector<std::string> out;
  out.reserve(items_.size());
  for (const auto& [key, entry] : items_) out.push_back(key);
  return out;
}

std::vector<Informer::Object> Informer::ByIndex(const std::string& index, const std::string& value) const {
  std::shared_lock lock(cache_mutex_);
  for (const auto& i : indexes_) {
    if (i.name != index) continue;
    std::vector<Object> out;
    auto bucket = i.keys_by_value.find(value);
    if (bucket == i.keys_by_value.end()) return out;
    for (const auto& key : bucket->second) out.push_back(items_.at(key).object);
    return out;
  }
  Misuse(name_, "ByIndex(\"" + index + "\"): no such index");
}

std::string Informer::LastResourceVersion() const {
  std::shared_lock lock(cache_mutex_);
  return resource_version_;
}

InformerStats Informer::Stats() const {
  InformerStats s;
  s.lists = counters_.lists;
  s.watches = counters_.watches;
  s.events = counters_.events;
  s.bookmarks = counters_.bookmarks;
  s.expired = counters_.expired;
  s.errors = counters_.errors;
  s.resyncs = counters_.resyncs;
  s.notifications = counters_.notifications;
  return s;
}

void Informer::CheckResyncForTest() {
  {
    std::lock_guard lock(queue_mutex_);
    check_resync_ = true;
  }
  queue_changed_.notify_all();
}

// ---- The list/watch thread ----

void Informer::Run() {
  Backoff backoff;
  bool need_list = true;
  int gone_in_a_row = 0;
  while (!stopping_) {
    if (need_list) {
      Status listed = Ok();
      try {
        listed = ListAndReplace();
      } catch (const std::exception& e) {
        // Malformed objects from the server, or a throwing transform: never end the thread.
        listed = Internal(std::string("unexpected data in the list: ") + e.what());
      }
      if (!listed.ok()) {
        ++counters_.errors;
        milliseconds wait = backoff.Next();
        spdlog::warn("informer {}: list failed, retrying in {} ms: {}", name_, wait.count(), listed.error().message());
        SleepUnlessStopped(wait);
        continue;
      }
      need_list = false;
    }
    WatchEnd end = WatchEnd::kFailed;
    try {
      end = WatchOnce();
    } catch (const std::exception& e) {
      // An event we could not apply: list again rather than guess what the cache should hold.
      spdlog::warn("informer {}: unexpected data in the watch, listing again: {}", name_, e.what());
      need_list = true;
    }
    if (end == WatchEnd::kClosed || end == WatchEnd::kFailedAfterEvents) {
      // The watch worked for a while: failures before it are history.
      backoff.Reset();
      gone_in_a_row = 0;
    }
    switch (end) {
      case WatchEnd::kClosed:
        // The server's timeout (or our Stop): watch again from where we are, at once.
        break;
      case WatchEnd::kShort:
        SleepUnlessStopped(backoff.Next());
        break;
      case WatchEnd::kGone:
        ++counters_.expired;
        need_list = true;
        // A list whose resourceVersion is already too old to watch from (a lagging cache) would
        // otherwise make us list in a tight loop.
        if (++gone_in_a_row > 1) SleepUnlessStopped(backoff.Next());
        break;
      case WatchEnd::kFailed:
      case WatchEnd::kFailedAfterEvents:
        ++counters_.errors;
        SleepUnlessStopped(backoff.Next());
        break;
    }
  }
}

void Informer::SleepUnlessStopped(milliseconds delay) {
  std::unique_lock lock(control_mutex_);
  control_changed_.wait_for(lock, delay, [this] { return stopping_.load(); });
}

Informer::Object Informer::Prepare(Json object) const {
  if (options_.transform) options_.transform(object);
  return std::make_shared<const Json>(std::move(object));
}

Status Informer::ListAndReplace() {
  const auto start = steady_clock::now();
  ListOptions list_options;
  list_options.label_selector = options_.label_selector;
  list_options.field_selector = options_.field_selector;
  list_options.limit = options_.page_size;
  // resourceVersion "" (the default): a consistent read, never older than what we saw.
  // Page by page, each page prepared (transformed) before the next is read: the whole list as
  // the server sent it is never in memory at once, so listing 10,000 Secrets neither peaks at
  // their full size nor leaves the heap fragmented around the cached copies.
  std::vector<std::pair<std::string, Object>> fresh;
  std::string list_rv;
  for (bool first = true;; first = false) {
    CW_ASSIGN_OR_RETURN(Json page, client_->List(resource_, ns_, list_options));
    if (!page.is_object() || !page.contains("items") || !page["items"].is_array()) {
      return Internal("list " + resource_.plural + ": the server's answer is not a list");
    }
    Json metadata = page.contains("metadata") && page["metadata"].is_object() ? page["metadata"] : Json::object();
    auto text = [&](const char* field) {
      return metadata.contains(field) && metadata[field].is_string() ? metadata[field].get<std::string>() : std::string();
    };
    // The list's resourceVersion is that of the first page's snapshot (pages are consistent).
    if (first) list_rv = text("resourceVersion");
    // Items of a list carry no apiVersion and kind; watch events do. Cache both alike.
    for (auto& item : page["items"]) {
      if (!item.contains("apiVersion")) item["apiVersion"] = resource_.ApiVersion();
      if (!item.contains("kind")) item["kind"] = resource_.kind;
      Object object = Prepare(std::move(item));
      fresh.emplace_back(ObjectKey(*object), std::move(object));
    }
    const std::string next = text("continue");
    if (next.empty()) break;
    list_options.continue_token = next;
    list_options.resource_version.clear();  // must not be combined with continue
  }

  std::vector<Notification> notifications;
  std::size_t count = fresh.size();
  {
    std::unique_lock lock(cache_mutex_);
    std::unordered_set<std::string> listed;
    listed.reserve(fresh.size());
    for (auto& [key, object] : fresh) {
      listed.insert(key);
      UpsertLocked(key, std::move(object), notifications);
    }
    std::vector<std::string> gone;
    for (const auto& [key, entry] : items_) {
      if (!listed.count(key)) gone.push_back(key);
    }
    for (const auto& key : gone) EraseLocked(key, nullptr, notifications);
    resource_version_ = list_rv;
    Enqueue(notifications);
  }
  ++counters_.lists;
  {
    std::lock_guard lock(control_mutex_);
    synced_ = true;
  }
  control_changed_.notify_all();
  spdlog::info("informer {}: listed {} objects at resourceVersion {} in {} ms ({} changes)", name_, count, list_rv,
               std::chrono::duration_cast<milliseconds>(steady_clock::now() - start).count(), notifications.size());
  return Ok();
}

Informer::WatchEnd Informer::WatchOnce() {
  WatchOptions watch_options;
  watch_options.resource_version = LastResourceVersion();
  watch_options.label_selector = options_.label_selector;
  watch_options.field_selector = options_.field_selector;
  watch_options.allow_bookmarks = true;
  watch_options.timeout_seconds = options_.watch_timeout_seconds;
  auto opened = client_->Watch(resource_, ns_, watch_options);
  if (!opened.ok()) {
    if (opened.error().http_status() == 410) {
      spdlog::info("informer {}: resourceVersion {} is gone ({}); listing again", name_,
                   watch_options.resource_version, opened.error().message());
      return WatchEnd::kGone;
    }
    spdlog::warn("informer {}: watch from resourceVersion {} failed: {}", name_, watch_options.resource_version,
                 opened.error().message());
    return WatchEnd::kFailed;
  }
  ++counters_.watches;
  std::shared_ptr<WatchStream> watch(std::move(*opened));
  {
    std::lock_guard lock(control_mutex_);
    if (stopping_) return WatchEnd::kClosed;
    current_watch_ = watch;
  }
  spdlog::debug("informer {}: watching from resourceVersion {}", name_, watch_options.resource_version);

  const auto start = steady_clock::now();
  std::uint64_t received = 0;
  WatchEnd end = WatchEnd::kClosed;
  for (;;) {
    auto event = watch->Next();
    if (!event.ok()) {
      if (event.error().http_status() == 410) {
        spdlog::info("informer {}: resourceVersion {} is gone ({}); listing again", name_, LastResourceVersion(),
                     event.error().message());
        end = WatchEnd::kGone;
      } else {
        spdlog::warn("informer {}: watch broke at resourceVersion {}: {}", name_, LastResourceVersion(),
                     event.error().message());
        end = received > 0 ? WatchEnd::kFailedAfterEvents : WatchEnd::kFailed;
      }
      break;
    }
    if (!event->has_value()) {
      if (received == 0 && steady_clock::now() - start < kShortWatch && !stopping_) end = WatchEnd::kShort;
      break;
    }
    ++received;
    Apply(**event);
  }
  {
    std::lock_guard lock(control_mutex_);
    current_watch_.reset();
  }
  spdlog::debug("informer {}: watch ended after {} events at resourceVersion {}", name_, received,
                LastResourceVersion());
  return end;
}

void Informer::Apply(WatchEvent& event) {
  if (event.type == WatchEvent::Type::kBookmark) {
    ++counters_.bookmarks;
    std::string rv = ResourceVersionOf(event.object);
    std::unique_lock lock(cache_mutex_);
    if (!rv.empty()) resource_version_ = std::move(rv);
    return;
  }
  ++counters_.events;
  Object object = Prepare(std::move(event.object));
  std::string key = ObjectKey(*object);
  std::string rv = ResourceVersionOf(*object);
  std::vector<Notification> notifications;
  std::unique_lock lock(cache_mutex_);
  if (event.type == WatchEvent::Type::kDeleted) {
    EraseLocked(key, std::move(object), notifications);
  } else {
    UpsertLocked(key, std::move(object), notifications);
  }
  if (!rv.empty()) resource_version_ = std::move(rv);
  Enqueue(notifications);
}

void Informer::UpsertLocked(const std::string& key, Object object, std::vector<Notification>& out) {
  auto it = items_.find(key);
  if (it != items_.end()) {
    const Object& cached = it->second.object;
    if (ResourceVersionOf(*cached) == ResourceVersionOf(*object)) return;  // nothing new
    if (UidOf(*cached) != UidOf(*object)) {
      // Deleted and created again under the same name while we were not watching.
      EraseLocked(key, nullptr, out);
      it = items_.end();
    }
  }
  if (it == items_.end()) {
    Entry& entry = items_[key];
    entry.object = object;
    IndexLocked(key, entry);
    out.push_back({Notification::Type::kAdd, nullptr, std::move(object)});
    return;
  }
  Entry& entry = it->second;
  UnindexLocked(key, entry);
  Object old = std::move(entry.object);
  entry.object = object;
  IndexLocked(key, entry);
  out.push_back({Notification::Type::kUpdate, std::move(old), std::move(object)});
}

void Informer::EraseLocked(const std::string& key, Object final_state, std::vector<Notification>& out) {
  auto it = items_.find(key);
  if (it == items_.end()) return;  // already gone: a second delete would tell handlers nothing
  UnindexLocked(key, it->second);
  if (!final_state) final_state = std::move(it->second.object);
  items_.erase(it);
  out.push_back({Notification::Type::kDelete, nullptr, std::move(final_state)});
}

void Informer::IndexLocked(const std::string& key, Entry& entry) {
  entry.index_values.assign(indexes_.size(), {});
  for (std::size_t i = 0; i < indexes_.size(); ++i) {
    try {
      entry.index_values[i] = indexes_[i].func(*entry.object);
    } catch (const std::exception& e) {
      // An index function that throws (nlohmann's at() on a missing field) indexes nothing.
      spdlog::error("informer {}: index \"{}\" failed on {}: {}", name_, indexes_[i].name, key, e.what());
    }
    for (const auto& value : entry.index_values[i]) indexes_[i].keys_by_value[value].insert(key);
  }
}

void Informer::UnindexLocked(const std::string& key, const Entry& entry) {
  for (std::size_t i = 0; i < entry.index_values.size(); ++i) {
    auto& keys_by_value = indexes_[i].keys_by_value;
    for (const auto& value : entry.index_values[i]) {
      auto bucket = keys_by_value.find(value);
      if (bucket == keys_by_value.end()) continue;
      bucket->second.erase(key);
      if (bucket->second.empty()) keys_by_value.erase(bucket);
    }
  }
}

void Informer::Enqueue(std::vector<Notification>& notifications) {
  if (notifications.empty() || handlers_.empty()) return;
  bool was_empty;
  {
    std::lock_guard lock(queue_mutex_);
    was_empty = queue_.empty();
    for (auto& n : notifications) queue_.push_back(std::move(n));
  }
  // The handler thread waits only on an empty queue; while it works through one, it needs no wake-up.
  if (was_empty) queue_changed_.notify_one();
}

// ---- The handler thread ----

void Informer::Dispatch() {
  const auto period = options_.resync_period;
  const bool resync = period.count() > 0 && !handlers_.empty();
  auto next_resync = options_.clock->Now() + period;
  std::unique_lock lock(queue_mutex_);
  while (!stopping_) {
    if (!queue_.empty()) {
      Notification n = std::move(queue_.front());
      queue_.pop_front();
      lock.unlock();
      Deliver(n);
      lock.lock();
      continue;
    }
    check_resync_ = false;
    if (resync && options_.clock->Now() >= next_resync) {
      lock.unlock();
      QueueResync();
      next_resync = options_.clock->Now() + period;
      lock.lock();
      continue;
    }
    auto ready = [this] { return stopping_ || !queue_.empty() || check_resync_; };
    if (resync) {
      queue_changed_.wait_for(lock, next_resync - options_.clock->Now(), ready);
    } else {
      queue_changed_.wait(lock, ready);
    }
  }
}

void Informer::QueueResync() {
  std::shared_lock cache(cache_mutex_);
  if (!synced_) return;  // nothing complete to replay yet
  ++counters_.resyncs;
  {
    std::lock_guard lock(queue_mutex_);
    for (const auto& [key, entry] : items_) {
      queue_.push_back({Notification::Type::kUpdate, entry.object, entry.object});
    }
  }
  spdlog::debug("informer {}: resync of {} objects", name_, items_.size());
}

void Informer::Deliver(const Notification& n) {
  ++counters_.notifications;
  for (const auto& h : handlers_) {
    if (stopping_) return;
    try {
      switch (n.type) {
        case Notification::Type::kAdd:
          if (h.on_add) h.on_add(*n.object);
          break;
        case Notification::Type::kUpdate:
          if (h.on_update) h.on_update(*n.old_object, *n.object);
          break;
        case Notification::Type::kDelete:
          if (h.on_delete) h.on_delete(*n.object);
          break;
      }
    } catch (const std::exception& e) {
      // Exceptions should have become Errors where they entered (STYLE.md §7); one bad object
      // must not stop the informer.
      spdlog::error("informer {}: a handler threw on {}: {}", name_, ObjectKey(*n.object), e.what());
    } catch (...) {
      spdlog::error("informer {}: a handler threw on {}", name_, ObjectKey(*n.object));
    }
  }
}

}  // namespace certwright::kube
