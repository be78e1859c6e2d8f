// Randomness is injected (STYLE.md §10): serial numbers take a RandomSource so tests can make
// collisions happen on purpose.
#pragma once

#include <cstdint>
#include <span>

#include "certwright/signer/result.h"

namespace certwright {

class RandomSource {
 public:
  virtual ~RandomSource() = default;
  virtual Status Fill(std::span<uint8_t> out) = 0;
};

// OpenSSL's CSPRNG (RAND_bytes).
class SystemRandom final : public RandomSource {
 public:
  Status Fill(std::span<uint8_t> out) override;
  static SystemRandom& Instance();
};

}  // namespace certwright
