// The /proc reads behind every mediated attempt: by path and through a process's /proc
// directory, with the same answers; a directory is only handed out for a process still running.
#include "supervisor/child/target_process.h"

#include <fcntl.h>
#include <gtest/gtest.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include <thread>

#include "base/unique_fd.h"

namespace sandgate::supervisor {
namespace {

base::UniqueFd PidfdOf(pid_t pid) {
  return base::UniqueFd(static_cast<int>(::syscall(SYS_pidfd_open, pid, 0)));
}

TEST(TargetProcessTest, ProcDirAnswersAsThePathDoes) {
  const pid_t self = ::getpid();
  base::UniqueFd pidfd = PidfdOf(self);
  ASSERT_TRUE(pidfd.Valid());
  base::UniqueFd dir = OpenProcDir(self, pidfd.Get());
  ASSERT_TRUE(dir.Valid());

  const auto by_path = ReadProcessContext(self);
  const auto by_dir = ReadProcessContext(self, dir.Get());
  EXPECT_FALSE(by_dir.exe.empty());
  EXPECT_EQ(by_dir.exe, by_path.exe);
  EXPECT_EQ(by_dir.cwd, by_path.cwd);
  EXPECT_EQ(by_dir.argv, by_path.argv);
  ASSERT_FALSE(by_dir.argv.empty());
  EXPECT_EQ(ReadProcessExe(self, dir.Get()), by_path.exe);

  pid_t other_thread = 0;
  std::thread([&] { other_thread = static_cast<pid_t>(::syscall(SYS_gettid)); }).join();
  pid_t this_thread = static_cast<pid_t>(::syscall(SYS_gettid));
  EXPECT_TRUE(IsThreadOf(self, dir.Get(), this_thread));
  EXPECT_TRUE(IsThreadOf(self, -1, this_thread));
  EXPECT_FALSE(IsThreadOf(self, dir.Get(), other_thread));  // it has exited
}

TEST(TargetProcessTest, FdCloexecReadsTheFlagOfThatFd) {
  const pid_t self = ::getpid();
  base::UniqueFd pidfd = PidfdOf(self);
  base::UniqueFd dir = OpenProcDir(self, pidfd.Get());
  ASSERT_TRUE(dir.Valid());
  base::UniqueFd with(::open("/dev/null", O_RDONLY | O_CLOEXEC));
  base::UniqueFd without(::open("/dev/null", O_RDONLY));
  ASSERT_TRUE(with.Valid() && without.Valid());
  for (int proc_dir : {dir.Get(), -1}) {
    EXPECT_TRUE(FdCloexec(self, proc_dir, with.Get()));
    EXPECT_FALSE(FdCloexec(self, proc_dir, without.Get()));
    EXPECT_FALSE(FdCloexec(self, proc_dir, 100000));  // no such fd
  }
}

TEST(TargetProcessTest, NoProcDirForAProcessThatHasExited) {
  pid_t child = ::fork();
  ASSERT_GE(child, 0);
  if (child == 0) _exit(0);
  base::UniqueFd pidfd = PidfdOf(child);
  ASSERT_TRUE(pidfd.Valid());
  siginfo_t info{};
  ASSERT_EQ(::waitid(P_PID, static_cast<id_t>(child), &info, WEXITED | WNOWAIT), 0);
  // A zombie still has /proc/PID; its pidfd says it has exited, so no directory is handed out.
  EXPECT_FALSE(OpenProcDir(child, pidfd.Get()).Valid());
  ASSERT_EQ(::waitpid(child, nullptr, 0), child);
}

}  // namespace
}  // namespace sandgate::supervisor
