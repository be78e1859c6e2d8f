// Durations as users write them in Certificates and on the command line: Go's
// time.ParseDuration syntax ("2160h", "1h30m", "90m", "45s", "1.5h"), as cert-manager accepts,
// plus "d" for days ("90d") for convenience.
#pragma once

#include <chrono>
#include <string>
#include <string_view>

#include "certwright/signer/result.h"

namespace certwright {

// Errors say what is wrong: "duration \"abc\" is invalid: ...". Negative values parse (the
// caller decides); values beyond ~292 years are rejected as overflow.
Result<std::chrono::seconds> ParseDuration(std::string_view text);
// Go's format: "2160h0m0s", "1h30m0s", "45s", "0s".
std::string FormatDuration(std::chrono::seconds d);

}  // namespace certwright
