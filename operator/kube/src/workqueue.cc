#include "certwright/kube/workqueue.h"

#include <algorithm>
#include <cassert>
#include <cmath>
#include <cstdint>
#include <utility>

namespace certwright::kube {
namespace {

// A blocked Get() re-reads the clock at least this often, so a system clock stepped forward is
// noticed (client-go's delaying queue uses the same bound).
constexpr std::chrono::seconds kMaxWait{10};

}  // namespace

// ---- ItemExponentialRateLimiter ----

ItemExponentialRateLimiter::ItemExponentialRateLimiter(std::chrono::nanoseconds base, std::chrono::nanoseconds cap)
    : base_(base), cap_(cap) {}

std::chrono::nanoseconds ItemExponentialRateLimiter::When(const std::string& item) {
  int failures;
  {
    std::lock_guard<std::mutex> lock(mutex_);
    failures = failures_[item]++;
  }
  // In floating point: base * 2^failures overflows 64-bit nanoseconds after a few dozen failures.
  double delay = static_cast<double>(base_.count()) * std::ldexp(1.0, failures);
  if (delay >= static_cast<double>(cap_.count())) return cap_;
  return std::chrono::nanoseconds(static_cast<std::int64_t>(delay));
}

void ItemExponentialRateLimiter::Forget(const std::string& item) {
  std::lock_guard<std::mutex> lock(mutex_);
  failures_.erase(item);
}

int ItemExponentialRateLimiter::NumRequeues(const std::string& item) {
  std::lock_guard<std::mutex> lock(mutex_);
  auto it = failures_.find(item);
  return it == failures_.end() ? 0 : it->second;
}

// ---- BucketRateLimiter ----

BucketRateLimiter::BucketRateLimiter(double qps, int burst, const Clock* clock) : bucket_(qps, burst, clock) {}

std::chrono::nanoseconds BucketRateLimiter::When(const std::string&) { return bucket_.Reserve(); }
void BucketRateLimiter::Forget(const std::string&) {}
int BucketRateLimiter::NumRequeues(const std::string&) { return 0; }

// ---- MaxOfRateLimiter ----

MaxOfRateLimiter::MaxOfRateLimiter(std::vector<std::unique_ptr<RateLimiter>> limiters)
    : limiters_(std::move(limiters)) {}

std::chrono::nanoseconds MaxOfRateLimiter::When(const std::string& item) {
  std::chrono::nanoseconds longest{0};
  // Ask every limiter, not just until one answers: each must record the failure.
  for (auto& limiter : limiters_) longest = std::max(longest, limiter->When(item));
  return longest;
}

void MaxOfRateLimiter::Forget(const std::string& item) {
  for (auto& limiter : limiters_) limiter->Forget(item);
}

int MaxOfRateLimiter::NumRequeues(const std::string& item) {
  int most = 0;
  for (auto& limiter : limiters_) most = std::max(most, limiter->NumRequeues(item));
  return most;
}

std::unique_ptr<RateLimiter> DefaultControllerRateLimiter(const Clock* clock) {
  std::vector<std::unique_ptr<RateLimiter>> limiters;
  limiters.push_back(
      std::make_unique<ItemExponentialRateLimiter>(std::chrono::milliseconds(5), std::chrono::seconds(1000)));
  limiters.push_back(std::make_unique<BucketRateLimiter>(10.0, 100, clock));
  return std::make_unique<MaxOfRateLimiter>(std::move(limiters));
}

// ---- WorkQueue ----

WorkQueue::WorkQueue(WorkQueueOptions options)
    : clock_(options.clock),
      rate_limiter_(options.rate_limiter ? std::move(options.rate_limiter) : DefaultControllerRateLimiter(clock_)),
      metrics_(std::move(options.metrics)) {}

void WorkQueue::Add(const std::string& key) {
  std::lock_guard<std::mutex> lock(mutex_);
  if (shutting_down_) return;
  AddLocked(key, clock_->Now());
}

void WorkQueue::AddLocked(const std::string& key, TimePoint ready_at) {
  if (!dirty_.emplace(key, ready_at).second) return;  // already waiting to be processed
  if (metrics_.add) metrics_.add();
  // A key being processed stays out of the queue until Done(), so no second worker can take it.
  if (processing_.count(key) != 0) return;
  queue_.push_back(key);
  ReportDepthLocked();
  ready_.notify_one();
}

std::optional<std::string> WorkQueue::Get() {
  std::unique_lock<std::mutex> lock(mutex_);
  for (;;) {
    if (shutting_down_) return std::nullopt;
    ReleaseDueLocked();
    if (!queue_.empty()) break;
    if (waiting_.empty()) {
      ready_.wait(lock);
    } else {
      // Wake at the earliest deadline to release that key ourselves (there is no timer thread).
      auto until_due = waiting_.begin()->first - clock_->Now();
      ready_.wait_for(lock, std::min<std::chrono::nanoseconds>(until_due, kMaxWait));
    }
  }
  std::string key = std::move(queue_.front());
  queue_.pop_front();
  auto now = clock_->Now();
  auto dirty = dirty_.find(key);
  assert(dirty != dirty_.end());
  if (metrics_.queue_latency) metrics_.queue_latency(now - dirty->second);
  dirty_.erase(dirty);
  processing_.emplace(key, now);
  ReportDepthLocked();
  return key;
}

void WorkQueue::Done(const std::string& key) {
  std::lock_guard<std::mutex> lock(mutex_);
  auto processing = processing_.find(key);
  assert(processing != processing_.end() && "Done() for a key that Get() did not return");
  if (processing == processing_.end()) return;
  if (metrics_.work_duration) metrics_.work_duration(clock_->Now() - processing->second);
  processing_.erase(processing);
  // Added while it was processed: now it may be handed out again. (Even after ShutDown, so
  // Len() stays truthful; no Get() will return it.)
  if (dirty_.count(key) != 0) {
    queue_.push_back(key);
    ReportDepthLocked();
    ready_.notify_one();
  }
}

void WorkQueue::AddAfter(const std::string& key, std::chrono::nanoseconds delay) {
  if (delay <= std::chrono::nanoseconds::zero()) {
    Add(key);
    return;
  }
  std::lock_guard<std::mutex> lock(mutex_);
  if (shutting_down_) return;
  TimePoint deadline = clock_->Now() + std::chrono::duration_cast<std::chrono::system_clock::duration>(delay);
  auto held = waiting_index_.find(key);
  if (held != waiting_index_.end()) {
    if (held->second->first <= deadline) return;  // the earlier deadline wins
    waiting_.erase(held->second);
    waiting_index_.erase(held);
  }
  auto entry = waiting_.emplace(deadline, key);
  waiting_index_.emplace(key, entry);
  // Blocked getters may be waiting for a later deadline, or for no deadline at all. Wake them all
  // to recompute: waking one is not enough, as it might take another key and leave the rest
  // waiting past this deadline.
  if (entry == waiting_.begin()) ready_.notify_all();
}

void WorkQueue::AddRateLimited(const std::string& key) {
  // Outside our lock: the limiter has its own, and needs nothing of ours.
  auto delay = rate_limiter_->When(key);
  {
    std::lock_guard<std::mutex> lock(mutex_);
    if (shutting_down_) return;
    if (metrics_.retry) metrics_.retry();
  }
  AddAfter(key, delay);
}

void WorkQueue::Forget(const std::string& key) { rate_limiter_->Forget(key); }

int WorkQueue::NumRequeues(const std::string& key) { return rate_limiter_->NumRequeues(key); }

std::size_t WorkQueue::Len() {
  std::lock_guard<std::mutex> lock(mutex_);
  ReleaseDueLocked();
  return queue_.size();
}

void WorkQueue::ShutDown() {
  std::lock_guard<std::mutex> lock(mutex_);
  shutting_down_ = true;
  waiting_index_.clear();  // held keys will never be handed out now
  waiting_.clear();
  ready_.notify_all();
}

bool WorkQueue::ShuttingDown() const {
  std::lock_guard<std::mutex> lock(mutex_);
  return shutting_down_;
}

void WorkQueue::ProcessDelayedForTest() {
  std::lock_guard<std::mutex> lock(mutex_);
  // Each key released wakes a getter; getters still waiting for later deadlines need not wake, as
  // the test calls this again after moving the clock further.
  ReleaseDueLocked();
}

void WorkQueue::ReleaseDueLocked() {
  if (waiting_.empty() || shutting_down_) return;
  auto now = clock_->Now();
  while (!waiting_.empty() && waiting_.begin()->first <= now) {
    auto due = waiting_.begin();
    std::string key = std::move(due->second);
    TimePoint deadline = due->first;
    waiting_index_.erase(key);
    waiting_.erase(due);
    // Ready since its deadline, not since whoever noticed: keeps the queue-latency metric honest
    // when all workers were busy at the deadline.
    AddLocked(key, deadline);
  }
}

void WorkQueue::ReportDepthLocked() {
  if (metrics_.depth) metrics_.depth(queue_.size());
}

}  // namespace certwright::kube
