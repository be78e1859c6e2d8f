// The work queue behind every controller, with client-go's workqueue semantics (STYLE.md §4):
// keys ("namespace/name") go in, worker threads take them out one at a time, and a key is never
// handed to two workers at once.
//
//   kube::WorkQueue queue;                 // SystemClock, DefaultControllerRateLimiter()
//   queue.Add("default/web-tls");          // from an informer's event handler
//   while (auto key = queue.Get()) {       // on each worker thread; nullopt after ShutDown()
//     Status s = Reconcile(*key);
//     if (s.ok()) queue.Forget(*key); else queue.AddRateLimited(*key);
//     queue.Done(*key);                    // always, after handling the result
//   }
//
// How a key moves:
//   - Add() de-duplicates: a key added many times before a worker takes it is handed out once.
//   - Get() marks the key as processing until Done(). Adding it meanwhile does not queue it (that
//     would let a second worker take it); it is queued again when Done() is called.
//   - AddAfter(key, delay) holds the key until the clock reaches its deadline, then Add()s it.
//     Held keys are released in deadline order; a key held twice keeps the earlier deadline.
//   - AddRateLimited(key) is AddAfter(key, rate_limiter.When(key)): per-key exponential back-off
//     combined with an overall token bucket. Forget(key) resets the key's back-off, on success.
//   - ShutDown() makes every Get(), blocked or later, return nullopt at once, even with keys still
//     queued: controllers are level-triggered and re-list everything when they start again, so
//     dropping queued keys loses no work, and a replica that lost leadership must stop promptly.
//     Keys being processed are finished by their workers (Done() still works); adds are ignored.
//
// Time is injected (STYLE.md §10). There is no timer thread: a blocked Get() waits until the
// earliest deadline by itself, and every Get() and Len() first releases the keys that are due.
// A ManualClock does not wake anyone when it moves, so tests that advance it while a getter is
// blocked call ProcessDelayedForTest().
//
// All methods are thread-safe.
#pragma once

#include <chrono>
#include <condition_variable>
#include <cstddef>
#include <deque>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <unordered_map>
#include <vector>

#include "certwright/kube/rate_limit.h"
#include "certwright/signer/clock.h"

namespace certwright::kube {

// ---- Rate limiters: how long to hold a key before retrying it (client-go's workqueue). ----

class RateLimiter {
 public:
  virtual ~RateLimiter() = default;
  // Records one more failure of `item` and returns how long to wait before retrying it.
  virtual std::chrono::nanoseconds When(const std::string& item) = 0;
  // Clears the item's history: the next failure starts from the shortest delay again.
  virtual void Forget(const std::string& item) = 0;
  // Failures recorded for `item` since it was last forgotten.
  virtual int NumRequeues(const std::string& item) = 0;
};

// base * 2^failures, at most `cap`, tracked per item. Thread-safe.
class ItemExponentialRateLimiter final : public RateLimiter {
 public:
  ItemExponentialRateLimiter(std::chrono::nanoseconds base, std::chrono::nanoseconds cap);

  // RateLimiter
  std::chrono::nanoseconds When(const std::string& item) override;
  void Forget(const std::string& item) override;
  int NumRequeues(const std::string& item) override;

 private:
  const std::chrono::nanoseconds base_;
  const std::chrono::nanoseconds cap_;
  std::mutex mutex_;
  std::unordered_map<std::string, int> failures_;
};

// One token bucket shared by all items: bounds the overall retry rate however many keys fail at
// once. Items have no history, so Forget does nothing and NumRequeues is 0.
class BucketRateLimiter final : public RateLimiter {
 public:
  BucketRateLimiter(double qps, int burst, const Clock* clock = &SystemClock::Instance());

  // RateLimiter
  std::chrono::nanoseconds When(const std::string& item) override;
  void Forget(const std::string& item) override;
  int NumRequeues(const std::string& item) override;

 private:
  TokenBucket bucket_;
};

// The longest delay of several limiters; every limiter records every failure.
class MaxOfRateLimiter final : public RateLimiter {
 public:
  explicit MaxOfRateLimiter(std::vector<std::unique_ptr<RateLimiter>> limiters);

  // RateLimiter
  std::chrono::nanoseconds When(const std::string& item) override;
  void Forget(const std::string& item) override;
  int NumRequeues(const std::string& item) override;

 private:
  std::vector<std::unique_ptr<RateLimiter>> limiters_;
};

// client-go's DefaultControllerRateLimiter: max(per-key back-off 5ms doubling up to 1000s,
// overall 10 qps with a burst of 100).
std::unique_ptr<RateLimiter> DefaultControllerRateLimiter(const Clock* clock = &SystemClock::Instance());

// ---- The queue ----

// Hooks for metrics (the names follow client-go's workqueue metrics). Any may be empty. They are
// called with the queue's lock held: they must be quick and must not call back into the queue.
struct WorkQueueMetrics {
  std::function<void(std::size_t)> depth;                        // keys ready to hand out, after each change
  std::function<void()> add;                                     // a key queued (not counting de-duplicated adds)
  std::function<void()> retry;                                   // AddRateLimited
  std::function<void(std::chrono::nanoseconds)> queue_latency;   // from ready (added or due) to Get
  std::function<void(std::chrono::nanoseconds)> work_duration;   // from Get to Done
};

struct WorkQueueOptions {
  const Clock* clock = &SystemClock::Instance();
  std::unique_ptr<RateLimiter> rate_limiter;  // nullptr: DefaultControllerRateLimiter(clock)
  WorkQueueMetrics metrics;
};

class WorkQueue {
 public:
  explicit WorkQueue(WorkQueueOptions options = {});
  WorkQueue(const WorkQueue&) = delete;
  WorkQueue& operator=(const WorkQueue&) = delete;

  // Queues `key` unless it is already queued; a key being processed is queued again at Done().
  void Add(const std::string& key);
  // Blocks until a key is ready and returns it, marked as processing; the caller must call
  // Done(key). Returns nullopt once ShutDown() has been called (at once, even if keys are queued).
  std::optional<std::string> Get();
  // Ends the processing of a key returned by Get(); queues it again if it was added meanwhile.
  void Done(const std::string& key);

  // Add()s `key` once the clock reaches now + delay (at once if delay <= 0). If the key is
  // already waiting, the earlier deadline wins.
  void AddAfter(const std::string& key, std::chrono::nanoseconds delay);
  // AddAfter(key, the rate limiter's delay): back-off after a failure.
  void AddRateLimited(const std::string& key);
  // Resets the key's back-off (after a success). Does not remove it from the queue.
  void Forget(const std::string& key);
  int NumRequeues(const std::string& key);

  // Keys ready to be handed out (after releasing those that are due); excludes keys waiting for a
  // deadline and keys being processed.
  std::size_t Len();

  // Wakes every blocked Get() (they return nullopt) and ignores adds from now on. Idempotent.
  void ShutDown();
  bool ShuttingDown() const;

  // Releases the keys whose deadline the clock has passed, waking blocked getters to take them.
  // For tests that move a ManualClock; with a real clock the queue does this by itself.
  void ProcessDelayedForTest();

 private:
  using TimePoint = std::chrono::system_clock::time_point;

  // Callers hold mutex_.
  void AddLocked(const std::string& key, TimePoint ready_at);
  void ReleaseDueLocked();
  void ReportDepthLocked();

  const Clock* const clock_;
  const std::unique_ptr<RateLimiter> rate_limiter_;
  const WorkQueueMetrics metrics_;

  mutable std::mutex mutex_;
  std::condition_variable ready_;  // a key was queued, the earliest deadline moved, or shut down
  bool shutting_down_ = false;

  std::deque<std::string> queue_;                        // ready keys, in the order they became ready
  std::unordered_map<std::string, TimePoint> dirty_;     // keys needing processing -> when they became ready
  std::unordered_map<std::string, TimePoint> processing_;  // keys handed out -> when Get returned them

  // Keys held by AddAfter, earliest deadline first (insertion order among equal deadlines), and
  // an index from key to its entry so a second AddAfter can find and replace it.
  std::multimap<TimePoint, std::string> waiting_;
  std::unordered_map<std::string, std::multimap<TimePoint, std::string>::iterator> waiting_index_;
};

}  // namespace certwright::kube
