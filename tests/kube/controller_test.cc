#include "certwright/kube/controller.h"
#include "support/eventually.h"

#include <gtest/gtest.h>

#include <atomic>
#include <condition_variable>
#include <deque>
#include <functional>
#include <future>
#include <mutex>
#include <set>
#include <stdexcept>
#include <string>
#include <thread>
#include <vector>

namespace certwright::kube {
namespace {

using namespace std::chrono_literals;

using testing::Eventually;

// A manual clock and a back-off of exactly 1s, 2s, 4s... (no bucket).
ControllerOptions ManualOptions(const Clock* clock, int workers = 0) {
  ControllerOptions options;
  options.workers = workers;
  options.queue.clock = clock;
  options.queue.rate_limiter = std::make_unique<ItemExponentialRateLimiter>(1s, 1min);
  return options;
}

// A reconcile function that plays back scripted results, then reports Done.
class Script {
 public:
  explicit Script(std::deque<Result<ReconcileResult>> results) : results_(std::move(results)) {}
  Controller::ReconcileFunc Func() {
    return [this](const std::string&) -> Result<ReconcileResult> {
      ++calls_;
      if (results_.empty()) return ReconcileResult::Done();
      auto next = results_.front();
      results_.pop_front();
      return next;
    };
  }
  int calls() const { return calls_; }

 private:
  std::deque<Result<ReconcileResult>> results_;
  int calls_ = 0;
};

// ---- What happens to a key after its reconcile (driven one step at a time, no threads) ----
// ProcessNextItemForTest() blocks when no key is ready, so each call follows an Enqueue or a
// check of Len().

TEST(Controller, TerminalErrorsAreNotRetried) {
  ManualClock clock;
  Script script({Unavailable("HSM busy"), PolicyDenied("dnsNames not allowed by issuer policy")});
  Controller controller("certificates", script.Func(), ManualOptions(&clock));
  controller.Enqueue("default/web");
  ASSERT_TRUE(controller.ProcessNextItemForTest());
  clock.Advance(1s);
  ASSERT_EQ(controller.queue().Len(), 1u);
  ASSERT_TRUE(controller.ProcessNextItemForTest());  // the policy denial
  EXPECT_EQ(script.calls(), 2);
  EXPECT_EQ(controller.queue().NumRequeues("default/web"), 0) << "a terminal error forgets the back-off";
  clock.Advance(1h);
  EXPECT_EQ(controller.queue().Len(), 0u) << "a terminal error was retried";
  controller.Enqueue("default/web");  // the object changed
  EXPECT_EQ(controller.queue().Len(), 1u);
}

TEST(Controller, RetryableErrorsBackOff) {
  ManualClock clock;
  Script script({Unavailable("HSM busy"), Conflict("resourceVersion changed")});
  Controller controller("certificates", script.Func(), ManualOptions(&clock));
  auto& queue = controller.queue();
  controller.Enqueue("default/web");
  ASSERT_TRUE(controller.ProcessNextItemForTest());
  EXPECT_EQ(queue.NumRequeues("default/web"), 1);
  clock.Advance(1s - 1ms);
  EXPECT_EQ(queue.Len(), 0u);
  clock.Advance(1ms);
  ASSERT_EQ(queue.Len(), 1u);
  ASSERT_TRUE(controller.ProcessNextItemForTest());  // the conflict: twice as long
  EXPECT_EQ(queue.NumRequeues("default/web"), 2);
  clock.Advance(2s - 1ms);
  EXPECT_EQ(queue.Len(), 0u);
  clock.Advance(1ms);
  ASSERT_EQ(queue.Len(), 1u);
  ASSERT_TRUE(controller.ProcessNextItemForTest());  // done
  EXPECT_EQ(script.calls(), 3);
  EXPECT_EQ(queue.NumRequeues("default/web"), 0) << "success forgets the back-off";
  clock.Advance(1h);
  EXPECT_EQ(queue.Len(), 0u);
}

TEST(Controller, AnApiServerRefusingTheControllerItselfIsRetried) {
  // A wrong PIN is terminal; the API server's 403 to our own write is an RBAC problem an admin
  // fixes without touching the object, so it must be retried.
  EXPECT_TRUE(IsTerminal(PermissionDenied("wrong PIN")));
  auto status = [](int code) {
    ErrorDetail d;
    d.http_status = code;
    return d;
  };
  EXPECT_FALSE(IsTerminal(PermissionDenied("forbidden").WithDetail(status(403))));
  EXPECT_FALSE(IsTerminal(PermissionDenied("expired token").WithDetail(status(401))));
  EXPECT_TRUE(IsTerminal(NotFound("gone").WithDetail(status(404))));
}

TEST(Controller, EachErrorKindIsRetriedOrNotAsDocumented) {
  struct Row { ErrorKind kind; bool retried; };
  for (const Row& row : {Row{ErrorKind::kInvalidArgument, false}, Row{ErrorKind::kNotFound, false},
                         Row{ErrorKind::kAlreadyExists, true}, Row{ErrorKind::kPermissionDenied, false},
                         Row{ErrorKind::kPolicyDenied, false}, Row{ErrorKind::kUnavailable, true},
                         Row{ErrorKind::kConflict, true}, Row{ErrorKind::kInternal, true}}) {
    SCOPED_TRACE(ErrorKindName(row.kind));
    EXPECT_EQ(IsTerminal(Error(row.kind, "x")), !row.retried);
    ManualClock clock;
    Script script({Error(row.kind, "failed")});
    Controller controller("test", script.Func(), ManualOptions(&clock));
    controller.Enqueue("ns/name");
    ASSERT_TRUE(controller.ProcessNextItemForTest());
    clock.Advance(1s);
    EXPECT_EQ(controller.queue().Len(), row.retried ? 1u : 0u);
  }
}

TEST(Controller, RequeueAfterSchedulesTheKey) {
  ManualClock clock;
  Script script({ReconcileResult::RequeueAfter(1h)});
  Controller controller("certificates", script.Func(), ManualOptions(&clock));
  controller.Enqueue("default/web");
  ASSERT_TRUE(controller.ProcessNextItemForTest());
  clock.Advance(1h - 1s);
  EXPECT_EQ(controller.queue().Len(), 0u);
  clock.Advance(1s);
  ASSERT_EQ(controller.queue().Len(), 1u);
  ASSERT_TRUE(controller.ProcessNextItemForTest());
  EXPECT_EQ(script.calls(), 2);
}

TEST(Controller, RequeueAfterResetsTheBackOff) {
  ManualClock clock;
  Script script({Unavailable("HSM busy"), ReconcileResult::RequeueAfter(10min)});
  Controller controller("certificates", script.Func(), ManualOptions(&clock));
  controller.Enqueue("default/web");
  ASSERT_TRUE(controller.ProcessNextItemForTest());
  EXPECT_EQ(controller.queue().NumRequeues("default/web"), 1);
  clock.Advance(1s);
  ASSERT_EQ(controller.queue().Len(), 1u);
  ASSERT_TRUE(controller.ProcessNextItemForTest());
  EXPECT_EQ(controller.queue().NumRequeues("default/web"), 0);
}

TEST(Controller, DoneLeavesNothingScheduled) {
  ManualClock clock;
  Script script({ReconcileResult::Done()});
  Controller controller("certificates", script.Func(), ManualOptions(&clock));
  controller.Enqueue("default/web");
  ASSERT_TRUE(controller.ProcessNextItemForTest());
  clock.Advance(24h);
  EXPECT_EQ(controller.queue().Len(), 0u);
  EXPECT_EQ(script.calls(), 1);
}

TEST(Controller, AKeyEnqueuedDuringItsReconcileIsReconciledAgainAfterwards) {
  ManualClock clock;
  int calls = 0;
  Controller* self = nullptr;
  Controller controller(
      "certificates",
      [&](const std::string& key) -> Result<ReconcileResult> {
        if (++calls == 1) self->Enqueue(key);  // the object changed while we worked on it
        return ReconcileResult::Done();
      },
      ManualOptions(&clock));
  self = &controller;
  controller.Enqueue("default/web");
  ASSERT_TRUE(controller.ProcessNextItemForTest());
  ASSERT_EQ(controller.queue().Len(), 1u);
  ASSERT_TRUE(controller.ProcessNextItemForTest());
  EXPECT_EQ(calls, 2);
  EXPECT_EQ(controller.queue().Len(), 0u);
}

TEST(Controller, AnExceptionFromReconcileIsRetriedWithBackOff) {
  ManualClock clock;
  int calls = 0;
  Controller controller(
      "certificates",
      [&](const std::string&) -> Result<ReconcileResult> {
        if (++calls == 1) throw std::runtime_error("json.exception.type_error.302");
        return ReconcileResult::Done();
      },
      ManualOptions(&clock));
  controller.Enqueue("default/web");
  ASSERT_TRUE(controller.ProcessNextItemForTest());
  EXPECT_EQ(controller.queue().NumRequeues("default/web"), 1);
  clock.Advance(1s);
  ASSERT_EQ(controller.queue().Len(), 1u);
  ASSERT_TRUE(controller.ProcessNextItemForTest());
  EXPECT_EQ(calls, 2);
}

TEST(Controller, ProcessNextItemReportsFalseOnceStopped) {
  ManualClock clock;
  Script script({});
  Controller controller("certificates", script.Func(), ManualOptions(&clock));
  controller.Enqueue("default/web");
  controller.Stop();
  EXPECT_FALSE(controller.ProcessNextItemForTest());
  EXPECT_EQ(script.calls(), 0);
}

// ---- Worker threads ----

TEST(Controller, WorkersReconcileDifferentKeysInParallel) {
  ManualClock clock;
  std::mutex mutex;
  std::condition_variable changed;
  std::set<std::string> started;
  bool both_seen_together = true;
  Controller controller(
      "certificates",
      [&](const std::string& key) -> Result<ReconcileResult> {
        std::unique_lock<std::mutex> lock(mutex);
        started.insert(key);
        changed.notify_all();
        // Each reconcile waits for the other to have started: only possible with two workers.
        if (!changed.wait_for(lock, 10s, [&] { return started.size() == 2; })) both_seen_together = false;
        return ReconcileResult::Done();
      },
      ManualOptions(&clock, /*workers=*/2));
  controller.Start();
  controller.Enqueue("default/a");
  controller.Enqueue("default/b");
  ASSERT_TRUE(Eventually([&] {
    std::lock_guard<std::mutex> lock(mutex);
    return started.size() == 2;
  }));
  controller.Stop();
  EXPECT_TRUE(both_seen_together);
}

TEST(Controller, NeverHandsOneKeyToTwoWorkers) {
  ManualClock clock;
  constexpr int kKeys = 3;
  constexpr int kReconciles = 5000;
  std::atomic<int> in_flight[kKeys] = {};
  std::atomic<int> overlaps{0};
  std::atomic<int> reconciles{0};
  Controller* self = nullptr;
  Controller controller(
      "certificates",
      [&](const std::string& key) -> Result<ReconcileResult> {
        int k = std::stoi(key);
        if (in_flight[k].fetch_add(1) != 0) ++overlaps;
        int n = ++reconciles;
        // Keep the workers busy: each reconcile enqueues a key, often one being reconciled.
        if (n < kReconciles) self->Enqueue(std::to_string((k + n) % kKeys));
        std::this_thread::yield();
        in_flight[k].fetch_sub(1);
        // Every fifth fails: that key also waits out a back-off the manual clock never ends.
        if (n % 5 == 0) return Unavailable("busy");
        return ReconcileResult::Done();
      },
      ManualOptions(&clock, /*workers=*/4));
  self = &controller;
  controller.Start();
  for (int k = 0; k < kKeys; ++k) controller.Enqueue(std::to_string(k));
  EXPECT_TRUE(Eventually([&] { return reconciles >= kReconciles; }));
  controller.Stop();
  EXPECT_EQ(overlaps, 0);
}

TEST(Controller, StopLetsReconcilesInProgressFinishAndStopsTheWorkers) {
  ManualClock clock;
  std::promise<void> started, release;
  auto released = release.get_future().share();
  std::atomic<bool> finished{false};
  std::atomic<int> calls{0};
  Controller controller(
      "certificates",
      [&](const std::string&) -> Result<ReconcileResult> {
        if (++calls == 1) {
          started.set_value();
          released.wait_for(10s);
        }
        finished = true;
        return ReconcileResult::Done();
      },
      ManualOptions(&clock, /*workers=*/2));
  controller.Start();
  controller.Enqueue("default/web");
  ASSERT_EQ(started.get_future().wait_for(10s), std::future_status::ready);
  auto stopped = std::async(std::launch::async, [&] { controller.Stop(); });
  EXPECT_EQ(stopped.wait_for(20ms), std::future_status::timeout) << "Stop did not wait for the reconcile";
  release.set_value();
  ASSERT_EQ(stopped.wait_for(10s), std::future_status::ready);
  EXPECT_TRUE(finished);
  controller.Enqueue("default/other");  // ignored: the workers are gone
  controller.Stop();                    // and stopping again is harmless
  EXPECT_EQ(calls, 1);
  EXPECT_EQ(controller.queue().Len(), 0u);
}

}  // namespace
}  // namespace certwright::kube
