#include "certwright/signer/random.h"

#include <openssl/rand.h>

#include "certwright/signer/ossl.h"

namespace certwright {

Status SystemRandom::Fill(std::span<uint8_t> out) {
  if (RAND_bytes(out.data(), static_cast<int>(out.size())) != 1) {
    return Internal("random number generator failed: " + ossl::DrainErrors());
  }
  return Ok();
}

SystemRandom& SystemRandom::Instance() {
  static SystemRandom random;
  return random;
}

}  // namespace certwright
