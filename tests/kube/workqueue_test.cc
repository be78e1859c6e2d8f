#include "certwright/kube/workqueue.h"
#include "support/eventually.h"

#include <gtest/gtest.h>

#include <atomic>
#include <functional>
#include <future>
#include <optional>
#include <string>
#include <thread>
#include <vector>

namespace certwright::kube {
namespace {

using namespace std::chrono_literals;
using std::chrono::nanoseconds;

using testing::Eventually;

// Get() that fails the test instead of hanging it: if no key comes within the limit, shuts the
// queue down to release the getter and returns "<blocked>".
std::optional<std::string> GetWithin(WorkQueue& queue, std::chrono::milliseconds limit = 10s) {
  auto got = std::async(std::launch::async, [&] { return queue.Get(); });
  if (got.wait_for(limit) == std::future_status::ready) return got.get();
  queue.ShutDown();
  got.wait();
  return "<blocked>";
}

// A queue on a manual clock whose back-off is plain 1s, 2s, 4s... (no bucket), so delays are exact.
WorkQueueOptions ManualOptions(const Clock* clock) {
  WorkQueueOptions options;
  options.clock = clock;
  options.rate_limiter = std::make_unique<ItemExponentialRateLimiter>(1s, 1min);
  return options;
}

// ---- Rate limiters ----

TEST(ItemExponentialRateLimiter, BackOffDoublesAndIsCapped) {
  ItemExponentialRateLimiter limiter(1s, 10s);
  std::vector<nanoseconds> delays;
  for (int i = 0; i < 6; ++i) delays.push_back(limiter.When("a"));
  EXPECT_EQ(delays, (std::vector<nanoseconds>{1s, 2s, 4s, 8s, 10s, 10s}));
  EXPECT_EQ(limiter.NumRequeues("a"), 6);
}

TEST(ItemExponentialRateLimiter, BackOffIsPerKeyAndForgetStartsItAgain) {
  ItemExponentialRateLimiter limiter(1s, 1min);
  EXPECT_EQ(limiter.When("a"), 1s);
  EXPECT_EQ(limiter.When("a"), 2s);
  EXPECT_EQ(limiter.When("b"), 1s);
  limiter.Forget("a");
  EXPECT_EQ(limiter.NumRequeues("a"), 0);
  EXPECT_EQ(limiter.NumRequeues("b"), 1);
  EXPECT_EQ(limiter.When("a"), 1s);
}

TEST(ItemExponentialRateLimiter, BackOffStaysAtTheCapAfterManyFailures) {
  // 5ms * 2^failures leaves 64-bit nanoseconds after ~60 failures; the cap must still hold.
  ItemExponentialRateLimiter limiter(5ms, 1000s);
  nanoseconds previous{0};
  for (int i = 0; i < 200; ++i) {
    nanoseconds delay = limiter.When("a");
    ASSERT_GE(delay, previous) << "failure " << i;
    ASSERT_LE(delay, nanoseconds(1000s)) << "failure " << i;
    previous = delay;
  }
  EXPECT_EQ(previous, 1000s);
}

TEST(BucketRateLimiter, AllowsABurstThenSpacesRetriesByQps) {
  ManualClock clock;
  BucketRateLimiter limiter(10, 3, &clock);
  EXPECT_EQ(limiter.When("a"), 0ns);
  EXPECT_EQ(limiter.When("b"), 0ns);
  EXPECT_EQ(limiter.When("c"), 0ns);
  EXPECT_EQ(std::chrono::round<std::chrono::milliseconds>(limiter.When("d")), 100ms);
  EXPECT_EQ(std::chrono::round<std::chrono::milliseconds>(limiter.When("a")), 200ms);
  clock.Advance(1s);  // refills: 10 tokens a second, at most the burst of 3
  EXPECT_EQ(limiter.When("a"), 0ns);
  EXPECT_EQ(limiter.NumRequeues("a"), 0);  // the bucket has no per-key history
}

TEST(MaxOfRateLimiter, ReturnsTheLongestDelayAndForgetsInEveryLimiter) {
  std::vector<std::unique_ptr<RateLimiter>> limiters;
  limiters.push_back(std::make_unique<ItemExponentialRateLimiter>(1s, 1min));
  limiters.push_back(std::make_unique<ItemExponentialRateLimiter>(3s, 5s));
  MaxOfRateLimiter limiter(std::move(limiters));
  EXPECT_EQ(limiter.When("a"), 3s);   // max(1s, 3s)
  EXPECT_EQ(limiter.When("a"), 5s);   // max(2s, capped 6s)
  EXPECT_EQ(limiter.When("a"), 5s);   // max(4s, 5s)
  EXPECT_EQ(limiter.When("a"), 8s);   // max(8s, 5s)
  EXPECT_EQ(limiter.NumRequeues("a"), 4);
  limiter.Forget("a");
  EXPECT_EQ(limiter.NumRequeues("a"), 0);
  EXPECT_EQ(limiter.When("a"), 3s);
}

TEST(DefaultControllerRateLimiter, BacksOffFromFiveMillisecondsAndBoundsAllRetriesAtTenPerSecond) {
  ManualClock clock;
  auto limiter = DefaultControllerRateLimiter(&clock);
  EXPECT_EQ(limiter->When("a"), 5ms);
  EXPECT_EQ(limiter->When("a"), 10ms);
  EXPECT_EQ(limiter->When("a"), 20ms);
  // The burst of 100 tokens is shared by all keys; 3 are gone.
  for (int i = 0; i < 97; ++i) ASSERT_EQ(limiter->When("key-" + std::to_string(i)), 5ms) << i;
  EXPECT_EQ(std::chrono::round<std::chrono::milliseconds>(limiter->When("fresh")), 100ms);
}

// ---- De-duplication and processing ----

TEST(WorkQueue, DeduplicatesAKeyAddedTwiceBeforeGet) {
  ManualClock clock;
  WorkQueue queue(ManualOptions(&clock));
  queue.Add("a");
  queue.Add("a");
  queue.Add("b");
  EXPECT_EQ(queue.Len(), 2u);
  EXPECT_EQ(GetWithin(queue), "a");
  EXPECT_EQ(GetWithin(queue), "b");
  EXPECT_EQ(queue.Len(), 0u);
}

TEST(WorkQueue, HandsOutKeysInTheOrderTheyWereAdded) {
  ManualClock clock;
  WorkQueue queue(ManualOptions(&clock));
  for (const char* key : {"c", "a", "b"}) queue.Add(key);
  EXPECT_EQ(GetWithin(queue), "c");
  EXPECT_EQ(GetWithin(queue), "a");
  EXPECT_EQ(GetWithin(queue), "b");
}

TEST(WorkQueue, ItemReAddedWhileProcessingIsQueuedAgainAfterDone) {
  ManualClock clock;
  WorkQueue queue(ManualOptions(&clock));
  queue.Add("a");
  ASSERT_EQ(GetWithin(queue), "a");
  queue.Add("a");
  queue.Add("a");
  EXPECT_EQ(queue.Len(), 0u) << "handed out again while still being processed";
  queue.Done("a");
  EXPECT_EQ(queue.Len(), 1u);
  EXPECT_EQ(GetWithin(queue), "a");
  queue.Done("a");
  EXPECT_EQ(queue.Len(), 0u) << "the two re-adds must have been merged into one";
}

TEST(WorkQueue, DoneWithoutAReAddDoesNotQueueTheKeyAgain) {
  ManualClock clock;
  WorkQueue queue(ManualOptions(&clock));
  queue.Add("a");
  ASSERT_EQ(GetWithin(queue), "a");
  queue.Done("a");
  EXPECT_EQ(queue.Len(), 0u);
  queue.Add("a");  // and a later add queues it normally
  EXPECT_EQ(queue.Len(), 1u);
}

// ---- Delayed adds ----

TEST(WorkQueue, AddAfterHoldsTheKeyUntilItsDeadline) {
  ManualClock clock;
  WorkQueue queue(ManualOptions(&clock));
  queue.AddAfter("a", 10s);
  EXPECT_EQ(queue.Len(), 0u);
  clock.Advance(10s - 1ms);
  EXPECT_EQ(queue.Len(), 0u);
  clock.Advance(1ms);
  EXPECT_EQ(queue.Len(), 1u);
  EXPECT_EQ(GetWithin(queue), "a");
}

TEST(WorkQueue, AddAfterReleasesItemsInDeadlineOrder) {
  ManualClock clock;
  WorkQueue queue(ManualOptions(&clock));
  queue.AddAfter("c", 3s);
  queue.AddAfter("a", 1s);
  queue.AddAfter("b", 2s);
  queue.AddAfter("d", 2s);  // same deadline as b, added later: after b
  clock.Advance(5s);
  EXPECT_EQ(GetWithin(queue), "a");
  EXPECT_EQ(GetWithin(queue), "b");
  EXPECT_EQ(GetWithin(queue), "d");
  EXPECT_EQ(GetWithin(queue), "c");
}

TEST(WorkQueue, AddAfterKeepsTheEarlierDeadlineForTheSameKey) {
  ManualClock clock;
  WorkQueue queue(ManualOptions(&clock));
  queue.AddAfter("later-second", 5s);
  queue.AddAfter("later-second", 10s);   // ignored: 5s is earlier
  queue.AddAfter("earlier-second", 10s);
  queue.AddAfter("earlier-second", 2s);  // replaces 10s
  clock.Advance(2s);
  EXPECT_EQ(GetWithin(queue), "earlier-second");
  EXPECT_EQ(queue.Len(), 0u);
  clock.Advance(3s);
  EXPECT_EQ(GetWithin(queue), "later-second");
  queue.Done("earlier-second");
  queue.Done("later-second");
  clock.Advance(1h);
  EXPECT_EQ(queue.Len(), 0u) << "a key was held twice";
}

TEST(WorkQueue, AddAfterWithoutADelayAddsAtOnce) {
  ManualClock clock;
  WorkQueue queue(ManualOptions(&clock));
  queue.AddAfter("a", 0s);
  queue.AddAfter("b", -1s);
  EXPECT_EQ(queue.Len(), 2u);
}

TEST(WorkQueue, AKeyQueuedNowAndHeldForLaterIsQueuedAgainAtTheDeadline) {
  // A requeue-after must survive an unrelated change that queued the key in the meantime.
  ManualClock clock;
  WorkQueue queue(ManualOptions(&clock));
  queue.AddAfter("a", 1min);
  queue.Add("a");
  ASSERT_EQ(GetWithin(queue), "a");
  queue.Done("a");
  EXPECT_EQ(queue.Len(), 0u);
  clock.Advance(1min);
  EXPECT_EQ(queue.Len(), 1u);
}

TEST(WorkQueue, BlockedGetterReceivesADelayedKeyOnceTheClockPassesItsDeadline) {
  ManualClock clock;
  WorkQueue queue(ManualOptions(&clock));
  auto got = std::async(std::launch::async, [&] { return queue.Get(); });
  queue.AddAfter("a", 1h);
  EXPECT_EQ(got.wait_for(20ms), std::future_status::timeout) << "handed out before its deadline";
  clock.Advance(1h);
  queue.ProcessDelayedForTest();
  bool ready = got.wait_for(10s) == std::future_status::ready;
  queue.ShutDown();  // releases the getter if it is still blocked, so the test fails rather than hangs
  ASSERT_TRUE(ready);
  EXPECT_EQ(got.get(), "a");
}

TEST(WorkQueue, BlockedGetterWakesForADeadlineOnTheSystemClockByItself) {
  WorkQueue queue;  // SystemClock: no test hook, the getter's own timed wait must release the key
  auto got = std::async(std::launch::async, [&] { return queue.Get(); });
  // Let the getter block with nothing to wait for, so AddAfter must wake it to start a timed wait.
  EXPECT_EQ(got.wait_for(20ms), std::future_status::timeout);
  auto start = std::chrono::steady_clock::now();
  queue.AddAfter("a", 30ms);
  bool ready = got.wait_for(10s) == std::future_status::ready;
  auto waited = std::chrono::steady_clock::now() - start;
  queue.ShutDown();  // releases the getter if it is still blocked
  ASSERT_TRUE(ready);
  EXPECT_EQ(got.get(), "a");
  EXPECT_GE(waited, 25ms);  // a little slack: the system clock and the steady clock may differ
  EXPECT_LT(waited, 5s);
}

TEST(WorkQueue, AddRateLimitedBacksOffPerKeyAndForgetResetsIt) {
  ManualClock clock;
  WorkQueue queue(ManualOptions(&clock));
  queue.AddRateLimited("a");
  EXPECT_EQ(queue.NumRequeues("a"), 1);
  EXPECT_EQ(queue.Len(), 0u);
  clock.Advance(1s);
  ASSERT_EQ(GetWithin(queue), "a");
  queue.AddRateLimited("a");  // failed again: 2s this time
  queue.Done("a");
  clock.Advance(1s);
  EXPECT_EQ(queue.Len(), 0u);
  clock.Advance(1s);
  EXPECT_EQ(queue.Len(), 1u);
  queue.Forget("a");
  EXPECT_EQ(queue.NumRequeues("a"), 0);
  EXPECT_EQ(queue.Len(), 1u) << "Forget resets the back-off, it does not dequeue";
}

// ---- Shutting down ----

TEST(WorkQueue, ShutDownWakesBlockedGetters) {
  ManualClock clock;
  WorkQueue queue(ManualOptions(&clock));
  queue.AddAfter("not-yet", 1h);  // some getters wait for a deadline, some for nothing at all
  std::vector<std::future<std::optional<std::string>>> getters;
  for (int i = 0; i < 4; ++i) getters.push_back(std::async(std::launch::async, [&] { return queue.Get(); }));
  EXPECT_EQ(getters[0].wait_for(20ms), std::future_status::timeout);
  queue.ShutDown();
  for (auto& getter : getters) {
    ASSERT_EQ(getter.wait_for(10s), std::future_status::ready);
    EXPECT_EQ(getter.get(), std::nullopt);
  }
  EXPECT_TRUE(queue.ShuttingDown());
}

TEST(WorkQueue, ShutDownStopsHandingOutKeysAtOnceEvenWithKeysQueued) {
  ManualClock clock;
  WorkQueue queue(ManualOptions(&clock));
  queue.Add("a");
  EXPECT_FALSE(queue.ShuttingDown());
  queue.ShutDown();
  queue.ShutDown();  // idempotent
  EXPECT_EQ(GetWithin(queue), std::nullopt);
}

TEST(WorkQueue, AddsAfterShutDownAreIgnored) {
  ManualClock clock;
  WorkQueue queue(ManualOptions(&clock));
  queue.ShutDown();
  queue.Add("a");
  queue.AddAfter("b", 1s);
  queue.AddRateLimited("c");
  clock.Advance(1h);
  EXPECT_EQ(queue.Len(), 0u);
}

TEST(WorkQueue, KeysInProgressAtShutDownCanStillBeMarkedDone) {
  ManualClock clock;
  WorkQueue queue(ManualOptions(&clock));
  queue.Add("a");
  ASSERT_EQ(GetWithin(queue), "a");
  queue.ShutDown();
  queue.Done("a");
  EXPECT_EQ(GetWithin(queue), std::nullopt);
}

// ---- Metrics ----

TEST(WorkQueue, MetricsReportDepthAddsRetriesLatencyAndWorkDuration) {
  ManualClock clock;
  std::vector<std::size_t> depths;
  int adds = 0, retries = 0;
  std::vector<nanoseconds> latencies, durations;
  WorkQueueOptions options = ManualOptions(&clock);
  options.metrics.depth = [&](std::size_t depth) { depths.push_back(depth); };
  options.metrics.add = [&] { ++adds; };
  options.metrics.retry = [&] { ++retries; };
  options.metrics.queue_latency = [&](nanoseconds d) { latencies.push_back(d); };
  options.metrics.work_duration = [&](nanoseconds d) { durations.push_back(d); };
  WorkQueue queue(std::move(options));

  queue.Add("a");
  queue.Add("a");  // de-duplicated: not an add
  queue.Add("b");
  EXPECT_EQ(adds, 2);
  clock.Advance(3s);
  ASSERT_EQ(GetWithin(queue), "a");
  clock.Advance(2s);
  queue.Done("a");
  EXPECT_EQ(durations, std::vector<nanoseconds>{2s});

  queue.AddRateLimited("c");  // held 1s
  EXPECT_EQ(retries, 1);
  clock.Advance(4s);
  EXPECT_EQ(queue.Len(), 2u);  // notices c 3s after its deadline
  ASSERT_EQ(GetWithin(queue), "b");
  ASSERT_EQ(GetWithin(queue), "c");
  // c has been ready since its deadline, not since it was noticed.
  EXPECT_EQ(latencies, (std::vector<nanoseconds>{3s, 9s, 3s}));
  EXPECT_EQ(adds, 3);
  EXPECT_EQ(depths, (std::vector<std::size_t>{1, 2, 1, 2, 1, 0}));
}

// ---- Concurrency ----

// Eight workers take a few keys and, while processing one, add another (directly or delayed), as
// reconciles do, until kProcessings is reached; producers add keys too and a ticker moves the
// clock. Records overlaps and, per key, the last add a processing could have seen.
struct ConcurrencyRun {
  static constexpr int kKeys = 5;
  static constexpr int kProcessings = 5000;
  int overlaps = 0;  // a key handed to a second worker while the first had it
  int processings = 0;
  bool every_add_processed = false;

  void Run() {
    ManualClock clock;
    WorkQueue queue(ManualOptions(&clock));
    std::atomic<int> in_flight[kKeys] = {};
    std::atomic<int> generation[kKeys] = {};  // bumped before each add of the key
    std::atomic<int> seen[kKeys] = {};        // the generation read after the latest Get of the key
    std::atomic<int> overlap_count{0};
    std::atomic<int> processed{0};
    auto add = [&](int k, int n) {
      ++generation[k];
      if (n % 3 == 0) {
        queue.AddAfter(std::to_string(k), std::chrono::milliseconds(n % 7));
      } else {
        queue.Add(std::to_string(k));
      }
    };

    std::vector<std::thread> workers;
    for (int w = 0; w < 8; ++w) {
      workers.emplace_back([&] {
        while (auto key = queue.Get()) {
          int k = std::stoi(*key);
          if (in_flight[k].fetch_add(1) != 0) ++overlap_count;
          seen[k] = generation[k].load();
          int n = ++processed;
          if (n < kProcessings) add((k + n) % kKeys, n);  // sometimes k itself: re-added while processing
          std::this_thread::yield();
          in_flight[k].fetch_sub(1);
          queue.Done(*key);
        }
      });
    }
    std::atomic<bool> running{true};
    std::thread ticker([&] {
      while (running) {
        clock.Advance(1ms);
        queue.ProcessDelayedForTest();
        std::this_thread::yield();
      }
    });
    std::vector<std::thread> producers;
    for (int p = 0; p < 2; ++p) {
      producers.emplace_back([&, p] {
        for (int i = 0; i < 1000; ++i) add((i + p) % kKeys, i);
      });
    }
    for (auto& producer : producers) producer.join();
    every_add_processed = Eventually([&] {
      if (processed < kProcessings) return false;
      for (int k = 0; k < kKeys; ++k) {
        if (seen[k] != generation[k]) return false;
      }
      return true;
    });
    running = false;
    ticker.join();
    queue.ShutDown();
    for (auto& worker : workers) worker.join();
    overlaps = overlap_count;
    processings = processed;
  }
};

TEST(WorkQueue, NeverHandsOneKeyToTwoWorkers) {
  ConcurrencyRun run;
  run.Run();
  EXPECT_EQ(run.overlaps, 0);
  EXPECT_GE(run.processings, ConcurrencyRun::kProcessings);
}

TEST(WorkQueue, EveryAddIsFollowedByAProcessingOfTheKeyUnderConcurrency) {
  ConcurrencyRun run;
  run.Run();
  EXPECT_TRUE(run.every_add_processed);
}

}  // namespace
}  // namespace certwright::kube
