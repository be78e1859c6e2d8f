// The informer: a local copy of one kind of object, kept current by list + watch, that
// controllers read instead of the API server (client-go's SharedIndexInformer; DESIGN.md
// "Controllers").
//
//   kube::Informer secrets(client, kube::resources::kSecrets, "" /* all namespaces */,
//                          {.label_selector = "certwright.io/managed=true"});
//   secrets.AddIndex("owner", [](const kube::Json& s) { return OwnerCertificateKeys(s); });
//   secrets.OnChange([&](const std::string& key) { queue.Add(key); });
//   secrets.Start();
//   if (!secrets.WaitForSync(std::chrono::minutes(1))) { ... }
//   std::shared_ptr<const kube::Json> s = secrets.Get("default/web-tls");  // nullptr: not there
//   for (const auto& s : secrets.ByIndex("owner", "default/web")) { ... }
//   secrets.Stop();
//
// How the cache is kept current:
//   - List (page_size objects per request) and replace the cache. Handlers are told the
//     difference from what was cached before: on_add for new keys, on_update for keys whose
//     resourceVersion changed, on_delete for keys that are gone (a key whose uid changed is a
//     delete and an add). The first list makes HasSynced() true.
//   - Watch from the list's resourceVersion, with bookmarks. Each event updates the cache and is
//     passed to the handlers, unless it changes nothing (an object at the resourceVersion already
//     cached, the deletion of a key not cached). A bookmark only moves the resourceVersion on.
//   - The server ends a watch after watch_timeout_seconds: watch again from the last
//     resourceVersion. A failed connection: the same, after an exponential back-off (jittered,
//     at most 30 s). 410 Gone (the resourceVersion was compacted away): list again; the
//     difference handlers see is then exactly what the informer missed.
//   - Every resync_period, on_update(obj, obj) for every cached object, so level-based
//     controllers look at everything again now and then.
//
// Threads: one thread lists and watches and updates the cache; another calls the handlers, one
// call at a time, in the order the cache changed. When a handler runs, the cache already holds
// the change it is told about (or a later one). Handlers must not block for long: the calls
// after them wait. Cached objects are shared and immutable.
//
// Time: the clock schedules resyncs. A ManualClock wakes nobody when it moves: tests that move
// it call CheckResyncForTest(). Back-off waits are real time (they wait for a real server).
//
// Logs name keys and resourceVersions, never object contents (Secrets are cached here).
#pragma once

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <deque>
#include <functional>
#include <memory>
#include <mutex>
#include <set>
#include <shared_mutex>
#include <string>
#include <thread>
#include <unordered_map>
#include <vector>

#include "certwright/kube/client.h"
#include "certwright/kube/resource.h"
#include "certwright/signer/clock.h"

namespace certwright::kube {

struct InformerOptions {
  // Initialized members, so designated initializers may name any subset of them.
  std::string label_selector{};
  std::string field_selector{};
  std::chrono::milliseconds resync_period{0};  // 0: no resync
  int page_size = 500;                         // objects per list request
  int watch_timeout_seconds = 300;             // the server ends each watch after this
  const Clock* clock = &SystemClock::Instance();
  // Applied to every object before it is cached, e.g. to drop metadata.managedFields and save
  // memory. Empty: objects are cached as the server sent them.
  std::function<void(Json&)> transform{};
};

// Any member may be empty.
struct InformerHandler {
  std::function<void(const Json& object)> on_add{};
  std::function<void(const Json& old_object, const Json& new_object)> on_update{};
  // The object as last seen: the server's final state when a watch reported the deletion, the
  // cached state when a relist found it gone.
  std::function<void(const Json& object)> on_delete{};
};

// Counters since Start(), for tests and metrics.
struct InformerStats {
  std::uint64_t lists = 0;          // successful lists: the first one and every relist
  std::uint64_t watches = 0;        // watch connections opened
  std::uint64_t events = 0;         // ADDED, MODIFIED and DELETED events received
  std::uint64_t bookmarks = 0;      // BOOKMARK events received
  std::uint64_t expired = 0;        // 410 Gone answers (each followed by a relist)
  std::uint64_t errors = 0;         // failed lists and watches (each followed by a back-off)
  std::uint64_t resyncs = 0;        // resync rounds
  std::uint64_t notifications = 0;  // changes passed to the handlers (adds, updates, deletes)
};

class Informer {
 public:
  using Object = std::shared_ptr<const Json>;
  // The values an object is found under in an index ("owner" -> {"ns/certificate"}).
  using IndexFunc = std::function<std::vector<std::string>(const Json&)>;

  // `ns` empty: all namespaces (and always, for cluster-scoped resources).
  Informer(std::shared_ptr<Client> client, Resource resource, std::string ns = "", InformerOptions options = {});
  // Stop()s.
  ~Informer();
  Informer(const Informer&) = delete;
  Informer& operator=(const Informer&) = delete;

  // Before Start() only (after it, the process aborts: a programming error). Index functions
  // run on the list/watch thread with the cache locked: they must not call the informer.
  void AddIndex(const std::string& name, IndexFunc index);
  void AddHandler(InformerHandler handler);
  // A handler that passes the key ("ns/name") of every added, updated or deleted object.
  void OnChange(std::function<void(const std::string& key)> on_change);

  // Starts the list/watch and handler threads. Call once: a stopped informer cannot be started
  // again (make a new one).
  void Start();
  // Cancels the watch in progress, drops handler calls not yet made, and joins both threads
  // (a list in progress finishes first). Idempotent; not from inside a handler.
  void Stop();

  // True once the first list is in the cache.
  bool HasSynced() const;
  // Waits until HasSynced(); false on timeout or Stop().
  bool WaitForSync(std::chrono::milliseconds timeout) const;

  // ---- The cache. Thread-safe; reads never wait for the server. ----
  // nullptr when the key is not cached.
  Object Get(const std::string& key) const;
  // Every cached object, in no particular order.
  std::vector<Object> List() const;
  std::vector<std::string> Keys() const;
  // The objects whose index function returned `value`, in key order. Aborts on an index name
  // that was never added (a programming error).
  std::vector<Object> ByIndex(const std::string& index, const std::string& value) const;
  // The resourceVersion the next watch starts from ("" before the first list).
  std::string LastResourceVersion() const;

  InformerStats Stats() const;

  // Makes the handler thread look at the clock again (for tests that move a ManualClock).
  void CheckResyncForTest();

  // ---- Implementation details below. ----
 private:
  struct Index {
    std::string name;
    IndexFunc func;
    std::unordered_map<std::string, std::set<std::string>> keys_by_value;
  };
  struct Entry {
    Object object;
    std::vector<std::vector<std::string>> index_values;  // one list per index, in indexes_ order
  };
  struct Notification {
    enum class Type { kAdd, kUpdate, kDelete } type;
    Object old_object;  // kUpdate only
    Object object;
  };
  // How a watch ended: closed by the server (or Stop), closed at once without events, 410 Gone,
  // broken before or after delivering events.
  enum class WatchEnd { kClosed, kShort, kGone, kFailed, kFailedAfterEvents };

  // The list/watch thread.
  void Run();
  Status ListAndReplace();
  WatchEnd WatchOnce();
  void Apply(WatchEvent& event);
  void SleepUnlessStopped(std::chrono::milliseconds delay);
  Object Prepare(Json object) const;

  // Callers hold cache_mutex_ exclusively.
  void UpsertLocked(const std::string& key, Object object, std::vector<Notification>& out);
  void EraseLocked(const std::string& key, Object final_state, std::vector<Notification>& out);
  void IndexLocked(const std::string& key, Entry& entry);
  void UnindexLocked(const std::string& key, const Entry& entry);
  // Callers hold cache_mutex_ (in any mode), so notifications are queued in cache order.
  void Enqueue(std::vector<Notification>& notifications);

  // The handler thread.
  void Dispatch();
  void Deliver(const Notification& n);
  void QueueResync();

  const std::shared_ptr<Client> client_;
  const Resource resource_;
  const std::string ns_;
  const InformerOptions options_;
  const std::string name_;  // for logs: "configmaps in ns" or "secrets"

  std::vector<InformerHandler> handlers_;  // fixed at Start()
  bool started_ = false;

  // The cache, its indexes and the resourceVersion to watch from.
  mutable std::shared_mutex cache_mutex_;
  std::unordered_map<std::string, Entry> items_;
  std::vector<Index> indexes_;
  std::string resource_version_;

  // Handler calls not yet made.
  std::mutex queue_mutex_;
  std::condition_variable queue_changed_;  // a notification, a resync check, or Stop
  std::deque<Notification> queue_;
  bool check_resync_ = false;

  // Stop, sync state and the watch in progress.
  mutable std::mutex control_mutex_;
  mutable std::condition_variable control_changed_;  // synced, or stopping
  std::atomic<bool> stopping_{false};
  std::atomic<bool> synced_{false};
  std::shared_ptr<WatchStream> current_watch_;

  struct Counters {
    std::atomic<std::uint64_t> lists{0}, watches{0}, events{0}, bookmarks{0}, expired{0}, errors{0}, resyncs{0},
        notifications{0};
  } counters_;

  std::thread run_thread_;
  std::thread dispatch_thread_;
};

}  // namespace certwright::kube
