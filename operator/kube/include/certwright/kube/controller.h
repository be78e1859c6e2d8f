// The controller runner: N worker threads take keys from a WorkQueue and call a reconcile
// function, with controller-runtime's reconcile contract (STYLE.md §4, §7).
//
//   kube::Controller certificates("certificates", [&](const std::string& key) -> Result<kube::ReconcileResult> {
//     CW_ASSIGN_OR_RETURN(auto cert, cache.Get(key));
//     ...
//     if (renew_at > now) return kube::ReconcileResult::RequeueAfter(renew_at - now);
//     return kube::ReconcileResult::Done();
//   }, {.workers = 2});
//   informer.OnChange([&](const std::string& key) { certificates.Enqueue(key); });
//   certificates.Start();
//   ...
//   certificates.Stop();   // lets reconciles in progress finish, then joins the workers
//
// What happens to a key after its reconcile:
//   Done()              -> Forget: its back-off is reset; it runs again when it is next enqueued.
//   RequeueAfter(d)     -> Forget, then AddAfter(d): e.g. to renew a certificate at two thirds of
//                          its lifetime. The key still runs sooner if it is enqueued meanwhile.
//   terminal error      -> Forget, not retried: the input must change first (the reconciler has
//                          recorded a condition and an Event the user can act on). It runs again
//                          when the object changes and the key is enqueued.
//   any other error     -> AddRateLimited: retried with per-key exponential back-off, bounded
//                          overall by the token bucket.
// A reconcile that throws is treated as an internal error (retried with back-off) and logged:
// exceptions should have been converted to Errors where they entered (STYLE.md §7), but one
// object must not bring down every controller in the process.
//
// A key is never reconciled by two workers at once (the WorkQueue guarantees it), so a reconcile
// function needs no per-key locking.
#pragma once

#include <chrono>
#include <functional>
#include <mutex>
#include <optional>
#include <string>
#include <thread>
#include <vector>

#include "certwright/kube/workqueue.h"
#include "certwright/signer/result.h"

namespace certwright::kube {

struct ReconcileResult {
  // Nothing more to do until the object changes.
  static ReconcileResult Done() { return ReconcileResult{}; }
  // Reconcile the key again after `delay` even if nothing changes (at once if delay <= 0).
  static ReconcileResult RequeueAfter(std::chrono::nanoseconds delay) { return ReconcileResult{delay}; }

  std::optional<std::chrono::nanoseconds> requeue_after;  // nullopt: done
};

// Terminal errors are not retried: the same input would fail the same way (kInvalidArgument,
// kPermissionDenied, kPolicyDenied, kNotFound). Every other kind is retried with back-off, and so
// is an API server's 401/403 to the controller itself (an RBAC fix does not change the object).
bool IsTerminal(const Error& error);

struct ControllerOptions {
  int workers = 1;         // 0 starts none: tests drive the controller with ProcessNextItemForTest()
  WorkQueueOptions queue;  // clock, rate limiter (default: DefaultControllerRateLimiter), metrics
};

class Controller {
 public:
  using ReconcileFunc = std::function<Result<ReconcileResult>(const std::string& key)>;

  // `name` appears in log lines ("certificates").
  Controller(std::string name, ReconcileFunc reconcile, ControllerOptions options = {});
  // Stop()s.
  ~Controller();
  Controller(const Controller&) = delete;
  Controller& operator=(const Controller&) = delete;

  // Starts the worker threads. Call once; a stopped controller cannot be started again (make a
  // new one, as a process that lost leadership starts afresh).
  void Start();
  // Shuts the queue down, lets reconciles in progress finish, and joins the workers. Idempotent
  // and thread-safe (leader election and a signal handler may both stop), but not from inside a
  // reconcile: a worker cannot join itself.
  void Stop();

  // Queues `key` ("namespace/name") for reconciling. Thread-safe; ignored after Stop().
  void Enqueue(const std::string& key);

  const std::string& name() const { return name_; }
  // For event handlers that want AddAfter, and for tests.
  WorkQueue& queue() { return queue_; }

  // Takes one key (blocking until one is ready), reconciles it and handles the result, as a worker
  // does. Returns false once the queue is shut down. Lets tests drive a controller with no workers
  // started, one step at a time.
  bool ProcessNextItemForTest() { return ProcessNextItem(); }

 private:
  bool ProcessNextItem();
  void HandleResult(const std::string& key, Result<ReconcileResult> result);

  const std::string name_;
  const ReconcileFunc reconcile_;
  const int workers_;
  WorkQueue queue_;
  std::mutex threads_mutex_;  // Start() and Stop() may come from different threads
  std::vector<std::thread> threads_;
};

}  // namespace certwright::kube
