#include "cli/logging.h"

#include <nlohmann/json.hpp>
#include <spdlog/details/log_msg.h>
#include <spdlog/formatter.h>
#include <spdlog/pattern_formatter.h>
#include <spdlog/spdlog.h>

#include <chrono>
#include <ctime>

namespace certwright::cli {

namespace {

// {"ts":"2026-11-23T12:00:00.123Z","level":"info","msg":"..."}: the message is escaped by
// nlohmann::json, so quotes and newlines in it cannot break the line.
class JsonFormatter final : public spdlog::formatter {
 public:
  void format(const spdlog::details::log_msg& msg, spdlog::memory_buf_t& dest) override {
    const auto t = msg.time;
    const std::time_t secs = std::chrono::system_clock::to_time_t(t);
    const auto millis =
        std::chrono::duration_cast<std::chrono::milliseconds>(t.time_since_epoch()).count() % 1000;
    std::tm tm{};
    gmtime_r(&secs, &tm);
    char ts[40];
    const size_t n = std::strftime(ts, sizeof ts, "%Y-%m-%dT%H:%M:%S", &tm);
    std::snprintf(ts + n, sizeof ts - n, ".%03dZ", static_cast<int>(millis));
    const nlohmann::json line = {
        {"ts", ts},
        {"level", std::string(spdlog::level::to_string_view(msg.level).data(),
                              spdlog::level::to_string_view(msg.level).size())},
        {"msg", std::string(msg.payload.data(), msg.payload.size())},
    };
    const std::string text = line.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace) + "\n";
    dest.append(text.data(), text.data() + text.size());
  }
  std::unique_ptr<spdlog::formatter> clone() const override { return std::make_unique<JsonFormatter>(); }
};

// The message with every control character escaped ("\n", "\r", "\t", "\x1b"...): a value a
// user wrote (a key id, a token label, a name in a CSR) must not start a line of its own, such as
// a forged "audit {...}" record.
class EscapedMessage final : public spdlog::custom_flag_formatter {
 public:
  void format(const spdlog::details::log_msg& msg, const std::tm&, spdlog::memory_buf_t& dest) override {
    AppendEscaped(std::string_view(msg.payload.data(), msg.payload.size()), dest);
  }
  std::unique_ptr<custom_flag_formatter> clone() const override { return std::make_unique<EscapedMessage>(); }
};

}  // namespace

void AppendEscaped(std::string_view text, spdlog::memory_buf_t& dest) {
  static const char* hex = "0123456789abcdef";
  for (char c : text) {
    const auto u = static_cast<unsigned char>(c);
    if (u >= 0x20 && u != 0x7f) {
      dest.push_back(c);
      continue;
    }
    const char* named = c == '\n' ? "\\n" : c == '\r' ? "\\r" : c == '\t' ? "\\t" : nullptr;
    if (named) {
      dest.append(named, named + 2);
    } else {
      const char esc[4] = {'\\', 'x', hex[u >> 4], hex[u & 15]};
      dest.append(esc, esc + 4);
    }
  }
}

std::unique_ptr<spdlog::formatter> MakeTextFormatter() {
  auto formatter = std::make_unique<spdlog::pattern_formatter>();
  formatter->add_flag<EscapedMessage>('*').set_pattern("[%Y-%m-%d %H:%M:%S.%e] [%^%l%$] %*");
  return formatter;
}

Status ConfigureLogging(const std::string& format) {
  if (format == "text") {
    spdlog::set_formatter(MakeTextFormatter());
    return Ok();
  }
  if (format == "json") {
    spdlog::set_formatter(std::make_unique<JsonFormatter>());
    return Ok();
  }
  return InvalidArgument("--log-format \"" + format + "\" is not one of text, json");
}

}  // namespace certwright::cli
