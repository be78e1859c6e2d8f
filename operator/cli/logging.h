// Log output of the long-running subcommands: spdlog's text lines for people, or one JSON object
// per line for log pipelines (DESIGN.md "Observability").
#pragma once

#include <string>

#include "certwright/signer/result.h"

namespace certwright::cli {

// `format` is "text" or "json"; an error names the accepted values.
Status ConfigureLogging(const std::string& format);

}  // namespace certwright::cli
