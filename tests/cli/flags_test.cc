#include "cli/flags.h"

#include <gtest/gtest.h>

namespace certwright::cli {
namespace {

TEST(Flags, ParsesValuesSwitchesAndRepeats) {
  auto f = Flags::Parse({"--ca-key", "file:/k", "--usage=server auth", "--usage", "client auth", "--rsa-pss", "pos"},
                        {"ca-key", "usage"}, {"rsa-pss"});
  ASSERT_TRUE(f.ok());
  EXPECT_EQ(f->Get("ca-key"), "file:/k");
  EXPECT_EQ(f->GetAll("usage"), (std::vector<std::string>{"server auth", "client auth"}));
  EXPECT_TRUE(f->Has("rsa-pss"));
  EXPECT_EQ(f->positional(), std::vector<std::string>{"pos"});
}

TEST(Flags, ErrorsNameTheFlag) {
  struct Row { std::vector<std::string> args; std::string message; };
  for (const auto& row : {Row{{"--nope"}, "unknown flag --nope"}, Row{{"--key"}, "flag --key needs a value"},
                          Row{{"--help=1"}, "flag --help takes no value"}}) {
    auto f = Flags::Parse(row.args, {"key"}, {"help"});
    ASSERT_FALSE(f.ok());
    EXPECT_EQ(f.error().message(), row.message);
  }
  auto f = Flags::Parse({}, {"key"}, {});
  ASSERT_TRUE(f.ok());
  EXPECT_EQ(f->Require("key").error().message(), "flag --key is required");
}

TEST(Flags, NumbersAreWholeAndInRange) {
  auto f = Flags::Parse({"--n", "7", "--bad", "7x", "--low", "0", "--huge", "99999999999999999999", "--empty="},
                        {"n", "bad", "low", "huge", "empty"}, {});
  ASSERT_TRUE(f.ok()) << f.error().message();
  EXPECT_EQ(*f->GetNumber("n", 4, 1, 64), 7);
  EXPECT_EQ(*f->GetNumber("absent", 4, 1, 64), 4) << "the default when absent";
  EXPECT_EQ(*f->GetNumber("low", 50, 0, 10), 0) << "the low end is allowed";
  EXPECT_EQ(f->GetNumber("bad", 4, 1, 64).error().message(), "--bad \"7x\" must be a number from 1 to 64");
  EXPECT_EQ(f->GetNumber("low", 4, 1, 64).error().message(), "--low \"0\" must be a number from 1 to 64");
  EXPECT_FALSE(f->GetNumber("huge", 4, 1, 64).ok()) << "overflow is not LONG_MAX";
  EXPECT_FALSE(f->GetNumber("empty", 4, 1, 64).ok());
}

}  // namespace
}  // namespace certwright::cli
