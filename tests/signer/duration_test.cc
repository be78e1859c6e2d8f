#include "certwright/signer/duration.h"

#include <gtest/gtest.h>

namespace certwright {
namespace {

using std::chrono::seconds;

TEST(Duration, ParsesGoDurationsAndDays) {
  struct Row { const char* text; int64_t secs; };
  for (const Row& row : {Row{"2160h", 2160 * 3600}, Row{"1h30m", 5400}, Row{"90m", 5400}, Row{"45s", 45},
                         Row{"1.5h", 5400}, Row{"90d", 90 * 86400}, Row{"2160h0m0s", 2160 * 3600},
                         Row{"1500ms", 1}, Row{"0", 0}, Row{"-1h", -3600}, Row{"+10m", 600}}) {
    auto d = ParseDuration(row.text);
    ASSERT_TRUE(d.ok()) << row.text << ": " << d.error().message();
    EXPECT_EQ(d->count(), row.secs) << row.text;
  }
}

TEST(Duration, RejectsMalformedDurationsWithMessages) {
  struct Row { const char* text; const char* message; };
  for (const Row& row : {
           Row{"", "duration \"\" is invalid: it is empty; write a number and a unit such as 2160h or 90d"},
           Row{"90", "duration \"90\" is invalid: missing unit; use h, m, s or d (for example 2160h)"},
           Row{"h", "duration \"h\" is invalid: expected a number before \"h\""},
           Row{"10y", "duration \"10y\" is invalid: unknown unit in \"y\"; use h, m, s, ms or d"},
           Row{"1h 30m", "duration \"1h 30m\" is invalid: expected a number before \" 30m\""},
           Row{"-", "duration \"-\" is invalid: a sign must be followed by a number"},
           Row{"99999999999h", "duration \"99999999999h\" is invalid: it is too large"},
       }) {
    auto d = ParseDuration(row.text);
    ASSERT_FALSE(d.ok()) << row.text;
    EXPECT_EQ(d.error().message(), row.message);
  }
}

TEST(Duration, ANumberTooLargeForAnyTypeIsAnErrorNotAnException) {
  const std::string huge = std::string(5000, '9') + "h";
  auto d = ParseDuration(huge);
  ASSERT_FALSE(d.ok());
  EXPECT_EQ(d.error().message(), "duration \"" + huge + "\" is invalid: it is too large");
  auto fraction = ParseDuration("0." + std::string(5000, '0') + "1s");
  ASSERT_TRUE(fraction.ok()) << fraction.error().message();
  EXPECT_EQ(fraction->count(), 0);
}

TEST(Duration, FormatsLikeGo) {
  EXPECT_EQ(FormatDuration(seconds(0)), "0s");
  EXPECT_EQ(FormatDuration(seconds(45)), "45s");
  EXPECT_EQ(FormatDuration(seconds(5400)), "1h30m0s");
  EXPECT_EQ(FormatDuration(seconds(2160 * 3600)), "2160h0m0s");
  EXPECT_EQ(FormatDuration(seconds(-90)), "-1m30s");
}

}  // namespace
}  // namespace certwright
