#include "certwright/signer/file_identity.h"

#include <gtest/gtest.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>

#include "support/softhsm_token.h"

namespace certwright::signer {
namespace {

TEST(FileIdentity, EverySpellingOfOneFileHasOneIdentity) {
  testing::TempDir dir;
  std::filesystem::create_directory(dir.File("sub"));
  const std::string file = dir.File("sub/module.so");
  std::ofstream(file) << "not really a module";
  ASSERT_EQ(::symlink(file.c_str(), dir.File("link.so").c_str()), 0);
  ASSERT_EQ(::symlink(dir.File("sub").c_str(), dir.File("linked-dir").c_str()), 0);
  ASSERT_EQ(::link(file.c_str(), dir.File("hard.so").c_str()), 0);

  auto identity = FileIdentity(file);
  ASSERT_TRUE(identity.ok()) << identity.error().message();
  const std::string slashes = "/" + dir.path() + "//sub///module.so";
  for (const std::string& spelling : {dir.File("link.so"), slashes, dir.path() + "/./sub/./module.so",
                                      dir.path() + "/sub/../sub/module.so", dir.File("linked-dir/module.so"),
                                      dir.File("hard.so")}) {
    auto same = FileIdentity(spelling);
    ASSERT_TRUE(same.ok()) << spelling << ": " << same.error().message();
    EXPECT_EQ(*same, *identity) << spelling;
  }
  auto resolved = ResolveFile(dir.File("link.so"));
  ASSERT_TRUE(resolved.ok());
  EXPECT_EQ(resolved->real_path, std::filesystem::canonical(file).string());
  EXPECT_EQ(resolved->identity, *identity);
}

TEST(FileIdentity, ACopyIsAnotherFile) {
  testing::TempDir dir;
  std::ofstream(dir.File("a.so")) << "same bytes";
  std::ofstream(dir.File("b.so")) << "same bytes";
  auto a = FileIdentity(dir.File("a.so"));
  auto b = FileIdentity(dir.File("b.so"));
  ASSERT_TRUE(a.ok() && b.ok());
  EXPECT_NE(*a, *b);
}

TEST(FileIdentity, WhatIsNotAFileIsNamed) {
  testing::TempDir dir;
  auto missing = FileIdentity(dir.File("absent.so"));
  ASSERT_FALSE(missing.ok());
  EXPECT_EQ(missing.error().kind(), ErrorKind::kNotFound);
  EXPECT_EQ(missing.error().message(), dir.File("absent.so") + ": no such file");
  ASSERT_EQ(::symlink(dir.File("absent.so").c_str(), dir.File("dangling.so").c_str()), 0);
  EXPECT_EQ(FileIdentity(dir.File("dangling.so")).error().kind(), ErrorKind::kNotFound);
  auto directory = FileIdentity(dir.path());
  ASSERT_FALSE(directory.ok());
  EXPECT_EQ(directory.error().kind(), ErrorKind::kInvalidArgument);
  EXPECT_EQ(directory.error().message(), dir.path() + ": not a regular file");
  EXPECT_EQ(FileIdentity("").error().message(), "the file path is empty");
}

}  // namespace
}  // namespace certwright::signer
