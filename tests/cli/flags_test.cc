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

}  // namespace
}  // namespace certwright::cli
