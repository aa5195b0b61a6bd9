#pragma once

// Runs a piece of a test as an unprivileged user. Whether the *command* could create a path is
// decided with the caller's credentials, and the test binary runs as root, whose capabilities
// would answer "yes" everywhere; the decisions that matter for ordinary users can only be seen
// from such a user.

#include <fcntl.h>
#include <grp.h>
#include <sys/types.h>
#include <sys/wait.h>
#include <unistd.h>

#include <filesystem>
#include <functional>
#include <optional>
#include <stdexcept>
#include <string>

namespace sandgate::pipelines::test_support {

inline constexpr uid_t kNobody = 65534;

// Runs `fn` in a forked child and returns what it returned. The test binary has no other threads
// here, so the child may allocate; it leaves with _exit so that no fixture destructor runs twice.
inline std::string RunInChild(const std::function<std::string()>& fn) {
  int fds[2];
  if (::pipe2(fds, O_CLOEXEC) != 0) throw std::runtime_error("pipe2 failed");
  pid_t pid = ::fork();
  if (pid < 0) throw std::runtime_error("fork failed");
  if (pid == 0) {
    ::close(fds[0]);
    std::string out;
    try {
      out = fn();
    } catch (const std::exception& e) {
      out = std::string("child: exception: ") + e.what();
    }
    for (size_t done = 0; done < out.size();) {
      ssize_t n = ::write(fds[1], out.data() + done, out.size() - done);
      if (n <= 0) break;
      done += static_cast<size_t>(n);
    }
    ::_exit(0);
  }
  ::close(fds[1]);
  std::string out;
  char buf[4096];
  for (ssize_t n; (n = ::read(fds[0], buf, sizeof buf)) > 0;) {
    out.append(buf, static_cast<size_t>(n));
  }
  ::close(fds[0]);
  int status = 0;
  ::waitpid(pid, &status, 0);
  if (!WIFEXITED(status) || WEXITSTATUS(status) != 0) throw std::runtime_error("child failed");
  return out;
}

// Like RunInChild, with every uid and gid of the child kNobody and no supplementary groups (and so
// no capabilities). nullopt when this process is not root and so cannot switch users.
inline std::optional<std::string> RunAsNobody(const std::function<std::string()>& fn) {
  if (::geteuid() != 0) return std::nullopt;
  return RunInChild([&fn]() -> std::string {
    if (::setgroups(0, nullptr) != 0 || ::setresgid(kNobody, kNobody, kNobody) != 0 ||
        ::setresuid(kNobody, kNobody, kNobody) != 0) {
      return "child: cannot become uid 65534";
    }
    return fn();
  });
}

// chown + chmod for fixtures (std::filesystem has no chown; the mode is set after the owner
// because chown clears set-id bits).
inline void SetOwnerAndMode(const std::filesystem::path& path, uid_t uid, mode_t mode) {
  if (::chown(path.c_str(), uid, uid) != 0 || ::chmod(path.c_str(), mode) != 0) {
    throw std::runtime_error("cannot chown/chmod " + path.string());
  }
}

}  // namespace sandgate::pipelines::test_support
