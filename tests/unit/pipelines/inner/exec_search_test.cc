// ExecSearchingPath against what execvp(3) does, in a forked child (it replaces the process when
// it succeeds): the child's exit status says which program ran, or the errno it returned.
#include "pipelines/inner/exec_search.h"

#include <gtest/gtest.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <string>
#include <vector>

#include "tests/helpers/temp_dir.h"

namespace sandgate::inner {
namespace {

using sandgate::testing::TempDir;
using sandgate::testing::WriteFile;

constexpr int kReturnedBase = 100;  // exit status kReturnedBase + errno: it returned

// Runs ExecSearchingPath({name, args...}) with `env` in a child from `cwd`; its exit status.
int RunSearch(const std::vector<std::string>& argv, const std::vector<std::string>& env,
        const std::string& cwd = "/") {
  std::vector<std::string> a = argv, e = env;
  std::vector<char*> cargv, cenv;
  for (auto& s : a) cargv.push_back(s.data());
  cargv.push_back(nullptr);
  for (auto& s : e) cenv.push_back(s.data());
  cenv.push_back(nullptr);
  const pid_t pid = ::fork();
  if (pid == 0) {
    if (::chdir(cwd.c_str()) != 0) ::_exit(99);
    const int err = ExecSearchingPath(cargv.data(), cenv.data());
    ::_exit(kReturnedBase + err);
  }
  int status = 0;
  ::waitpid(pid, &status, 0);
  return WIFEXITED(status) ? WEXITSTATUS(status) : -1;
}

class ExecSearch : public ::testing::Test {
 protected:
  void SetUp() override {
    WriteFile(first_ / "tool", "#!/bin/sh\nexit 11\n", 0644);  // found first, not executable
    WriteFile(second_ / "tool", "#!/bin/sh\nexit 12\n", 0755);
    WriteFile(second_ / "plain", "exit $(($1 + $2))\n", 0755);  // no "#!": run by /bin/sh
    WriteFile(first_ / "only-here", "#!/bin/sh\nexit 13\n", 0644);
  }
  std::string Path() const { return "PATH=" + first_.Path().string() + ":" + second_.Path().string(); }
  TempDir first_{TempDir::Keeper::kRoot};
  TempDir second_{TempDir::Keeper::kRoot};
};

TEST_F(ExecSearch, SkipsWhatCannotRunAndTakesTheNextDirectory) {
  EXPECT_EQ(RunSearch({"tool"}, {Path()}), 12);
}

TEST_F(ExecSearch, OnlyUnexecutableCandidatesGiveEacces) {
  EXPECT_EQ(RunSearch({"only-here"}, {Path()}), kReturnedBase + EACCES);
}

TEST_F(ExecSearch, NothingFoundGivesEnoent) {
  EXPECT_EQ(RunSearch({"no-such-tool"}, {Path()}), kReturnedBase + ENOENT);
  EXPECT_EQ(RunSearch({""}, {Path()}), kReturnedBase + ENOENT);
  EXPECT_EQ(RunSearch({"/no/such/tool"}, {Path()}), kReturnedBase + ENOENT);
}

TEST_F(ExecSearch, AScriptWithoutInterpreterLineRunsUnderTheShellWithItsArguments) {
  EXPECT_EQ(RunSearch({"plain", "20", "3"}, {Path()}), 23);
  EXPECT_EQ(RunSearch({(second_ / "plain").string(), "1", "2"}, {}), 3);
}

TEST_F(ExecSearch, ANameWithASlashIsNotSearched) {
  EXPECT_EQ(RunSearch({"./tool"}, {Path()}, second_.Path().string()), 12);
  EXPECT_EQ(RunSearch({"./tool"}, {Path()}, "/"), kReturnedBase + ENOENT);
}

TEST_F(ExecSearch, WithoutPathTheDefaultIsBinAndUsrBin) {
  EXPECT_EQ(RunSearch({"true"}, {}), 0);
  EXPECT_EQ(RunSearch({"tool"}, {}), kReturnedBase + ENOENT);
}

TEST_F(ExecSearch, AnEmptyPathElementIsTheCurrentDirectory) {
  EXPECT_EQ(RunSearch({"tool"}, {"PATH=/nonexistent::/bin"}, second_.Path().string()), 12);
}

TEST_F(ExecSearch, ADirectoryIsNotRunAndTheSearchGoesOn) {
  WriteFile(first_ / "dir" / "x", "", 0644);
  WriteFile(second_ / "dir", "#!/bin/sh\nexit 14\n", 0755);
  EXPECT_EQ(RunSearch({"dir"}, {Path()}), 14);
}

}  // namespace
}  // namespace sandgate::inner
