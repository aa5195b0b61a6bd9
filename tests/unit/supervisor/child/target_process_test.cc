// The /proc reads behind every mediated attempt: by path and through a process's /proc
// directory, with the same answers; a directory is only handed out for a process still running.
#include "supervisor/child/target_process.h"

#include <fcntl.h>
#include <gtest/gtest.h>
#include <signal.h>
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

}

TEST(TargetProcessTest, IsThreadOfFindsTheProcessesOwnThreadsOnly) {
  const pid_t self = ::getpid();
  base::UniqueFd pidfd = PidfdOf(self);
  ASSERT_TRUE(pidfd.Valid());
  pid_t gone_thread = 0;
  std::thread([&] { gone_thread = static_cast<pid_t>(::syscall(SYS_gettid)); }).join();
  const pid_t this_thread = static_cast<pid_t>(::syscall(SYS_gettid));
  EXPECT_TRUE(IsThreadOf(self, pidfd.Get(), this_thread));
  EXPECT_FALSE(IsThreadOf(self, pidfd.Get(), gone_thread));

  // A live thread of another process is not ours, and ours are not the other's.
  int ready[2];
  ASSERT_EQ(::pipe2(ready, O_CLOEXEC), 0);
  pid_t child = ::fork();
  ASSERT_GE(child, 0);
  if (child == 0) {
    std::thread([&] {
      const pid_t tid = static_cast<pid_t>(::syscall(SYS_gettid));
      if (::write(ready[1], &tid, sizeof tid) != sizeof tid) _exit(1);
      ::pause();
    }).detach();
    ::pause();
    _exit(0);
  }
  ::close(ready[1]);
  pid_t child_thread = 0;
  ASSERT_EQ(::read(ready[0], &child_thread, sizeof child_thread),
            static_cast<ssize_t>(sizeof child_thread));
  ::close(ready[0]);
  base::UniqueFd child_pidfd = PidfdOf(child);
  ASSERT_TRUE(child_pidfd.Valid());
  EXPECT_TRUE(IsThreadOf(child, child_pidfd.Get(), child_thread));
  EXPECT_FALSE(IsThreadOf(self, pidfd.Get(), child_thread));
  EXPECT_FALSE(IsThreadOf(child, child_pidfd.Get(), this_thread));

  // Once the process has exited, nothing is its thread any more, even while its pid is a zombie's.
  ASSERT_EQ(::kill(child, SIGKILL), 0);
  siginfo_t info{};
  ASSERT_EQ(::waitid(P_PID, static_cast<id_t>(child), &info, WEXITED | WNOWAIT), 0);
  EXPECT_FALSE(IsThreadOf(child, child_pidfd.Get(), child));
  ASSERT_EQ(::waitpid(child, nullptr, 0), child);
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
