// Log output of the long-running subcommands: spdlog's text lines for people, or one JSON object
// per line for log pipelines (DESIGN.md "Observability").
#pragma once

#include <spdlog/formatter.h>

#include <memory>
#include <string>
#include <string_view>

#include "certwright/signer/result.h"

namespace certwright::cli {

// `format` is "text" or "json"; an error names the accepted values. Either way no message can
// break its line: text escapes control characters, json escapes as JSON.
Status ConfigureLogging(const std::string& format);

// Text lines "[2026-12-01 12:00:00.123] [info] message", control characters in the message
// escaped by AppendEscaped.
std::unique_ptr<spdlog::formatter> MakeTextFormatter();
void AppendEscaped(std::string_view text, spdlog::memory_buf_t& dest);

}  // namespace certwright::cli
