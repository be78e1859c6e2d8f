// tests/cli/logging_test.cc: operator/cli/logging — no message breaks its line, in either format.
#include "cli/logging.h"

#include <gtest/gtest.h>
#include <spdlog/sinks/ostream_sink.h>
#include <spdlog/spdlog.h>

#include <sstream>

namespace certwright::cli {
namespace {

std::string Logged(std::unique_ptr<spdlog::formatter> formatter, const std::string& message) {
  std::ostringstream out;
  auto sink = std::make_shared<spdlog::sinks::ostream_sink_mt>(out);
  spdlog::logger logger("test", sink);
  logger.set_formatter(std::move(formatter));
  logger.info("{}", message);
  logger.flush();
  return out.str();
}

TEST(TextLogging, AValueWithANewlineCannotForgeAnAuditLine) {
  const std::string forged = "awskms key x\n[2026-12-01 12:00:00.000] [info] audit {\"audit\":{\"decision\":\"issued\"}}";
  const std::string line = Logged(MakeTextFormatter(), "Issuer team-a/kms: " + forged);
  ASSERT_FALSE(line.empty());
  EXPECT_EQ(line.find('\n'), line.size() - 1) << line << ": one line, ended by its own newline";
  EXPECT_NE(line.find("awskms key x\\n[2026-12-01"), std::string::npos) << line;
}

TEST(TextLogging, ControlCharactersAreEscapedAndTheRestKept) {
  spdlog::memory_buf_t buf;
  AppendEscaped("a\tb\rc\x1b[31md\x7f\xc3\xa9", buf);
  EXPECT_EQ(std::string(buf.data(), buf.size()), "a\\tb\\rc\\x1b[31md\\x7f\xc3\xa9") << "UTF-8 is kept as it is";
}

TEST(JsonLogging, IsOneObjectPerLine) {
  ASSERT_TRUE(ConfigureLogging("json").ok());
  EXPECT_FALSE(ConfigureLogging("xml").ok());
  EXPECT_EQ(ConfigureLogging("xml").error().message(), "--log-format \"xml\" is not one of text, json");
  ASSERT_TRUE(ConfigureLogging("text").ok());
}

}  // namespace
}  // namespace certwright::cli
