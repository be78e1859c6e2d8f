// A token bucket: `qps` tokens per second, at most `burst` saved up. Used for the API client's
// optional request rate limit and the work queue's overall rate limit. Thread-safe; the clock is
// injected so tests do not sleep.
#pragma once

#include <chrono>
#include <mutex>

#include "certwright/signer/clock.h"

namespace certwright::kube {

class TokenBucket {
 public:
  // qps <= 0 means unlimited.
  TokenBucket(double qps, int burst, const Clock* clock = &SystemClock::Instance());

  // Takes one token; returns how long the caller must wait before using it (zero if one was
  // available). Reserving never fails: callers queue up in time.
  std::chrono::nanoseconds Reserve();

 private:
  double qps_;
  double burst_;
  const Clock* clock_;
  std::mutex mutex_;
  double tokens_;
  std::chrono::system_clock::time_point last_;
};

}  // namespace certwright::kube
