#include "vendor/bubblewrap/bwrap_locator.h"

#include <gtest/gtest.h>
#include <sys/stat.h>
#include <unistd.h>

#include "tests/helpers/temp_dir.h"

namespace sandgate::bubblewrap {
namespace {

namespace fs = std::filesystem;
using testing::TempDir;
using testing::WriteFile;
using testing::WriteScript;

constexpr std::string_view kNotFound =
    "bubblewrap (bwrap) not found on PATH: install the Debian package 'bubblewrap' "
    "(apt-get install -y bubblewrap), or pass --bwrap PATH / set SANDGATE_BWRAP";

class LocateBwrapTest : public ::testing::Test {
 protected:
  // Two PATH directories, each with its own executable bwrap.
  void SetUp() override {
    first_ = dir_.Path() / "first";
    second_ = dir_.Path() / "second";
    WriteScript(first_ / "bwrap", "exit 0\n");
    WriteScript(second_ / "bwrap", "exit 0\n");
  }

  static std::string PathOf(std::initializer_list<std::string> entries) {
    std::string out;
    for (const std::string& entry : entries) {
      if (!out.empty()) {
        out += ':';
      }
      out += entry;
    }
    return out;
  }

  TempDir dir_;
  fs::path first_;
  fs::path second_;
};

TEST_F(LocateBwrapTest, SearchesPathInOrder) {
  const std::string path = PathOf({first_.string(), second_.string()});
  base::Result<fs::path> found = LocateBwrap(std::nullopt, nullptr, path.c_str());
  ASSERT_TRUE(found.Ok()) << found.Err().Message();
  EXPECT_EQ(*found, first_ / "bwrap");
  EXPECT_TRUE(found->is_absolute());
}

TEST_F(LocateBwrapTest, SkipsNonExecutableFilesAndDirectories) {
  const fs::path plain = dir_.Path() / "plain";
  const fs::path dir = dir_.Path() / "dir";
  WriteFile(plain / "bwrap", "#!/bin/sh\n", 0644);
  fs::create_directories(dir / "bwrap");
  ASSERT_EQ(chmod((dir / "bwrap").c_str(), 0755), 0);  // even an "executable" directory
  const std::string path = PathOf({plain.string(), dir.string(), second_.string()});
  base::Result<fs::path> found = LocateBwrap(std::nullopt, nullptr, path.c_str());
  ASSERT_TRUE(found.Ok()) << found.Err().Message();
  EXPECT_EQ(*found, second_ / "bwrap");
}

TEST_F(LocateBwrapTest, FollowsSymlinksToExecutables) {
  const fs::path links = dir_.Path() / "links";
  fs::create_directories(links);
  fs::create_symlink(second_ / "bwrap", links / "bwrap");
  const std::string path = PathOf({links.string()});
  base::Result<fs::path> found = LocateBwrap(std::nullopt, nullptr, path.c_str());
  ASSERT_TRUE(found.Ok()) << found.Err().Message();
  EXPECT_EQ(*found, links / "bwrap");
}

TEST_F(LocateBwrapTest, IgnoresEmptyAndRelativePathEntries) {
  // The current directory holds a bwrap; "", "." and "first" (relative) must not find it.
  const fs::path old_cwd = fs::current_path();
  fs::current_path(dir_.Path());
  WriteScript(dir_.Path() / "bwrap", "exit 0\n");
  const std::string path = ":.:first::" + second_.string() + ":";
  base::Result<fs::path> found = LocateBwrap(std::nullopt, nullptr, path.c_str());
  const std::string only_relative = ":.:first:./first";
  base::Result<fs::path> not_found = LocateBwrap(std::nullopt, nullptr, only_relative.c_str());
  fs::current_path(old_cwd);

  ASSERT_TRUE(found.Ok()) << found.Err().Message();
  EXPECT_EQ(*found, second_ / "bwrap");
  ASSERT_FALSE(not_found.Ok());
  EXPECT_EQ(not_found.Err().context, kNotFound);
}

TEST_F(LocateBwrapTest, NotFoundSaysWhatToDo) {
  const std::string empty_dir = (dir_.Path() / "nothing").string();
  fs::create_directories(empty_dir);
  for (const char* path : {empty_dir.c_str(), "", "/nonexistent-sandgate-dir"}) {
    base::Result<fs::path> found = LocateBwrap(std::nullopt, nullptr, path);
    ASSERT_FALSE(found.Ok()) << path;
    EXPECT_EQ(found.Err().context, kNotFound);
    EXPECT_EQ(found.Err().errnum, 0);  // so Message() prints the line unchanged
    EXPECT_EQ(found.Err().Message(), kNotFound);
  }
}

TEST_F(LocateBwrapTest, UnsetPathFallsBackToSystemDirectories) {
  base::Result<fs::path> found = LocateBwrap(std::nullopt, nullptr, nullptr);
  const bool installed = access("/usr/bin/bwrap", X_OK) == 0 || access("/bin/bwrap", X_OK) == 0;
  if (!installed) {
    ASSERT_FALSE(found.Ok());
    GTEST_SKIP() << "bubblewrap is not installed in /usr/bin or /bin";
  }
  ASSERT_TRUE(found.Ok()) << found.Err().Message();
  EXPECT_TRUE(*found == "/usr/bin/bwrap" || *found == "/bin/bwrap") << *found;
}

TEST_F(LocateBwrapTest, ExplicitPathBeatsEnvironmentAndPath) {
  const fs::path mine = dir_.Path() / "mine" / "my-bwrap";
  WriteScript(mine, "exit 0\n");
  const std::string env = (second_ / "bwrap").string();
  const std::string path = PathOf({first_.string()});
  base::Result<fs::path> found = LocateBwrap(mine.string(), env.c_str(), path.c_str());
  ASSERT_TRUE(found.Ok()) << found.Err().Message();
  EXPECT_EQ(*found, mine);
}

TEST_F(LocateBwrapTest, EnvironmentBeatsPath) {
  const std::string env = (second_ / "bwrap").string();
  const std::string path = PathOf({first_.string()});
  base::Result<fs::path> found = LocateBwrap(std::nullopt, env.c_str(), path.c_str());
  ASSERT_TRUE(found.Ok()) << found.Err().Message();
  EXPECT_EQ(*found, second_ / "bwrap");
}

TEST_F(LocateBwrapTest, EmptyEnvironmentValueIsIgnored) {
  const std::string path = PathOf({first_.string()});
  base::Result<fs::path> found = LocateBwrap(std::nullopt, "", path.c_str());
  ASSERT_TRUE(found.Ok()) << found.Err().Message();
  EXPECT_EQ(*found, first_ / "bwrap");
}

TEST_F(LocateBwrapTest, BareNamesAreSearchedOnPath) {
  WriteScript(second_ / "bwrap-custom", "exit 0\n");
  const std::string path = PathOf({first_.string(), second_.string()});

  base::Result<fs::path> from_flag =
      LocateBwrap(std::string("bwrap-custom"), nullptr, path.c_str());
  ASSERT_TRUE(from_flag.Ok()) << from_flag.Err().Message();
  EXPECT_EQ(*from_flag, second_ / "bwrap-custom");

  base::Result<fs::path> from_env = LocateBwrap(std::nullopt, "bwrap-custom", path.c_str());
  ASSERT_TRUE(from_env.Ok()) << from_env.Err().Message();
  EXPECT_EQ(*from_env, second_ / "bwrap-custom");

  base::Result<fs::path> missing = LocateBwrap(std::string("bwrap-nope"), nullptr, path.c_str());
  ASSERT_FALSE(missing.Ok());
  EXPECT_EQ(missing.Err().context,
            "--bwrap bwrap-nope: not found on PATH: pass an absolute path to the bwrap binary");

  base::Result<fs::path> missing_env = LocateBwrap(std::nullopt, "bwrap-nope", path.c_str());
  ASSERT_FALSE(missing_env.Ok());
  EXPECT_EQ(missing_env.Err().context,
            "SANDGATE_BWRAP=bwrap-nope: not found on PATH: pass an absolute path to the bwrap "
            "binary");
}

TEST_F(LocateBwrapTest, ExplicitPathErrorsNameTheFlag) {
  const std::string path = PathOf({first_.string()});
  const fs::path missing = dir_.Path() / "x" / "y";
  const fs::path plain = dir_.Path() / "plain-bwrap";
  const fs::path dir = dir_.Path() / "dir-bwrap";
  WriteFile(plain, "#!/bin/sh\n", 0644);
  fs::create_directories(dir);

  base::Result<fs::path> r = LocateBwrap(missing.string(), nullptr, path.c_str());
  ASSERT_FALSE(r.Ok());
  EXPECT_EQ(r.Err().context, "--bwrap " + missing.string() + ": no such file");
  EXPECT_EQ(r.Err().errnum, 0);

  r = LocateBwrap(plain.string(), nullptr, path.c_str());
  ASSERT_FALSE(r.Ok());
  EXPECT_EQ(r.Err().context, "--bwrap " + plain.string() + ": is not executable");

  r = LocateBwrap(dir.string(), nullptr, path.c_str());
  ASSERT_FALSE(r.Ok());
  EXPECT_EQ(r.Err().context, "--bwrap " + dir.string() + ": is a directory, not the bwrap program");

  // A file used as a directory is "no such file" too (ENOTDIR).
  r = LocateBwrap((plain / "bwrap").string(), nullptr, path.c_str());
  ASSERT_FALSE(r.Ok());
  EXPECT_EQ(r.Err().context, "--bwrap " + (plain / "bwrap").string() + ": no such file");

  r = LocateBwrap(std::string(), nullptr, path.c_str());
  ASSERT_FALSE(r.Ok());
  EXPECT_EQ(r.Err().context, "--bwrap : empty path: name the bwrap binary to use");
}

TEST_F(LocateBwrapTest, EnvironmentErrorsNameTheVariable) {
  const std::string path = PathOf({first_.string()});
  const fs::path missing = dir_.Path() / "x" / "y";
  const fs::path plain = dir_.Path() / "plain-bwrap";
  WriteFile(plain, "#!/bin/sh\n", 0644);

  base::Result<fs::path> r = LocateBwrap(std::nullopt, missing.c_str(), path.c_str());
  ASSERT_FALSE(r.Ok());
  EXPECT_EQ(r.Err().context, "SANDGATE_BWRAP=" + missing.string() + ": no such file");

  r = LocateBwrap(std::nullopt, plain.c_str(), path.c_str());
  ASSERT_FALSE(r.Ok());
  EXPECT_EQ(r.Err().context, "SANDGATE_BWRAP=" + plain.string() + ": is not executable");
}

TEST_F(LocateBwrapTest, RelativeExplicitPathBecomesAbsolute) {
  const fs::path old_cwd = fs::current_path();
  fs::current_path(first_);
  base::Result<fs::path> found = LocateBwrap(std::string("./bwrap"), nullptr, "");
  fs::current_path(old_cwd);
  ASSERT_TRUE(found.Ok()) << found.Err().Message();
  EXPECT_TRUE(found->is_absolute()) << *found;
  EXPECT_TRUE(fs::equivalent(*found, first_ / "bwrap"));
}

}  // namespace
}  // namespace sandgate::bubblewrap
