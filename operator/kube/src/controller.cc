#include "certwright/kube/controller.h"

#include <spdlog/spdlog.h>

#include <cassert>
#include <exception>
#include <utility>

namespace certwright::kube {

bool IsTerminal(const Error& error) {
  // The API server refusing the controller itself (401/403: its RBAC or token) is fixed by an
  // admin without the object changing, so it is retried with back-off rather than dropped.
  if (error.http_status() == 401 || error.http_status() == 403) return false;
  switch (error.kind()) {
    case ErrorKind::kInvalidArgument:
    case ErrorKind::kPermissionDenied:
    case ErrorKind::kPolicyDenied:
    case ErrorKind::kNotFound:
      return true;
    case ErrorKind::kAlreadyExists:
    case ErrorKind::kUnavailable:
    case ErrorKind::kConflict:
    case ErrorKind::kInternal:
      return false;
  }
  return false;  // not reached: the switch covers every kind (-Wswitch flags a new one)
}

Controller::Controller(std::string name, ReconcileFunc reconcile, ControllerOptions options)
    : name_(std::move(name)),
      reconcile_(std::move(reconcile)),
      workers_(options.workers),
      queue_(std::move(options.queue)) {}

Controller::~Controller() { Stop(); }

void Controller::Start() {
  std::lock_guard<std::mutex> lock(threads_mutex_);
  assert(threads_.empty() && "Controller::Start() called twice");
  assert(!queue_.ShuttingDown() && "Controller::Start() after Stop()");
  spdlog::info("controller {}: starting {} workers", name_, workers_);
  for (int i = 0; i < workers_; ++i) {
    threads_.emplace_back([this] {
      while (ProcessNextItem()) {
      }
    });
  }
}

void Controller::Stop() {
  queue_.ShutDown();
  std::lock_guard<std::mutex> lock(threads_mutex_);
  for (auto& thread : threads_) {
    if (thread.joinable()) thread.join();
  }
  if (!threads_.empty()) spdlog::info("controller {}: stopped", name_);
  threads_.clear();
}

void Controller::Enqueue(const std::string& key) { queue_.Add(key); }

bool Controller::ProcessNextItem() {
  std::optional<std::string> key = queue_.Get();
  if (!key) return false;
  Result<ReconcileResult> result = Internal("not reconciled");
  try {
    result = reconcile_(*key);
  } catch (const std::exception& e) {
    result = Internal(std::string("reconcile threw: ") + e.what());
  } catch (...) {
    result = Internal("reconcile threw a non-standard exception");
  }
  // Before Done(): a key re-queued by the handling below, or enqueued during the reconcile, goes
  // back into the queue only at Done(), so it is never handed to a second worker meanwhile.
  HandleResult(*key, std::move(result));
  queue_.Done(*key);
  return true;
}

void Controller::HandleResult(const std::string& key, Result<ReconcileResult> result) {
  if (result.ok()) {
    queue_.Forget(key);
    if (result->requeue_after) queue_.AddAfter(key, *result->requeue_after);
    return;
  }
  const Error& error = result.error();
  if (IsTerminal(error)) {
    // Retrying would fail the same way; the reconciler has told the user through a condition and
    // an Event. The key runs again when the object changes.
    queue_.Forget(key);
    spdlog::error("controller {}: reconciling {} failed, not retrying until it changes: {} ({})", name_, key,
                  error.message(), ErrorKindName(error.kind()));
    return;
  }
  queue_.AddRateLimited(key);
  spdlog::warn("controller {}: reconciling {} failed, will retry (attempt {}): {} ({})", name_, key,
               queue_.NumRequeues(key), error.message(), ErrorKindName(error.kind()));
}

}  // namespace certwright::kube
