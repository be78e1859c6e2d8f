// Waiting for another thread to reach a state in tests: real time, bounded, polled. Use it only
// where the clock cannot be injected (thread hand-offs, a real server).
#pragma once

#include <chrono>
#include <functional>
#include <thread>

namespace certwright::testing {

inline bool Eventually(const std::function<bool()>& condition,
                       std::chrono::milliseconds limit = std::chrono::seconds(10)) {
  auto deadline = std::chrono::steady_clock::now() + limit;
  while (!condition()) {
    if (std::chrono::steady_clock::now() > deadline) return false;
    std::this_thread::sleep_for(std::chrono::milliseconds(1));
  }
  return true;
}

}  // namespace certwright::testing
