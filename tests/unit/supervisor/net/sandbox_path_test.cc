#include "supervisor/net/sandbox_path.h"

#include <fcntl.h>
#include <fnmatch.h>
#include <gtest/gtest.h>
#include <signal.h>
#include <spawn.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <climits>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <string>
#include <vector>

#include "tests/helpers/temp_dir.h"

namespace sandgate::supervisor {
namespace {

namespace fs = std::filesystem;
using base::UniqueFd;
using testing::TempDir;
using testing::WriteFile;

UniqueFd OpenDir(const fs::path& path) {
  return UniqueFd(::open(path.c_str(), O_PATH | O_DIRECTORY | O_CLOEXEC));
}

bool SameFile(const UniqueFd& fd, const fs::path& host_path) {
  struct stat a {};
  struct stat b {};
  return ::fstat(fd.Get(), &a) == 0 && ::lstat(host_path.c_str(), &b) == 0 &&
         a.st_dev == b.st_dev && a.st_ino == b.st_ino;
}

// A unix socket bound at `path` (given as the kernel should look it up); listening if it is a
// stream socket.
UniqueFd BindUnix(const std::string& path, int type) {
  UniqueFd sock(::socket(AF_UNIX, type | SOCK_CLOEXEC, 0));
  sockaddr_un addr{};
  addr.sun_family = AF_UNIX;
  if (!sock || path.size() >= sizeof addr.sun_path) return {};
  std::memcpy(addr.sun_path, path.c_str(), path.size() + 1);
  if (::bind(sock.Get(), reinterpret_cast<const sockaddr*>(&addr), sizeof addr) != 0) return {};
  if (type != SOCK_DGRAM && ::listen(sock.Get(), 4) != 0) return {};
  return sock;
}

std::string FdPath(int fd) { return "/proc/self/fd/" + std::to_string(fd); }

// A temp dir standing in for the sandbox's root:
//   /a/b/f (file)  /a/c/f (file)  /etc/passwd (a fake one)  /tmp/ (writable by "the command")
class SandboxPathTest : public ::testing::Test {
 protected:
  void SetUp() override {
    WriteFile(root_ / "a/b/f", "abf");
    WriteFile(root_ / "a/c/f", "acf");
    WriteFile(root_ / "etc/passwd", "fake");
    fs::create_directories(root_ / "tmp");
    root_fd_ = OpenDir(root_.Path());
    ASSERT_TRUE(root_fd_);
  }

  base::Result<ResolvedPath> Resolve(std::string_view path, const std::string& cwd = "/") {
    UniqueFd cwd_fd = OpenDir(root_.Path().string() + cwd);
    return ResolveInSandbox(root_fd_.Get(), cwd_fd.Get(), cwd, path);
  }

  void ExpectResolves(std::string_view path, const std::string& cwd, const std::string& want) {
    auto r = Resolve(path, cwd);
    ASSERT_TRUE(r) << path << ": " << r.Err().Message();
    EXPECT_EQ(r->path, want) << path;
    EXPECT_TRUE(SameFile(r->handle, root_.Path().string() + (want == "/" ? "" : want))) << path;
    EXPECT_NE(::fcntl(r->handle.Get(), F_GETFD) & FD_CLOEXEC, 0);
  }

  void ExpectErrno(std::string_view path, const std::string& cwd, int want) {
    auto r = Resolve(path, cwd);
    ASSERT_FALSE(r) << path << " resolved to " << r->path;
    EXPECT_EQ(r.Err().errnum, want) << path << ": " << r.Err().Message();
  }

  void Symlink(const std::string& target, const std::string& link) {
    ASSERT_EQ(::symlink(target.c_str(), (root_ / link).c_str()), 0) << link;
  }

  TempDir root_;
  UniqueFd root_fd_;
};

TEST_F(SandboxPathTest, PlainPath) {
  ExpectResolves("/a/b/f", "/", "/a/b/f");
  ExpectResolves("//a///b/", "/", "/a/b");
  ExpectResolves("/", "/", "/");
  ExpectErrno("/a/b/missing", "/", ENOENT);
}

TEST_F(SandboxPathTest, RelativePathFromCwd) {
  ExpectResolves("b/f", "/a", "/a/b/f");
  ExpectResolves("f", "/a/b", "/a/b/f");
  ExpectResolves(".", "/a", "/a");
}

TEST_F(SandboxPathTest, DotAndDotDot) {
  ExpectResolves("/a/./b/../b/./f", "/", "/a/b/f");
  ExpectResolves("../c/f", "/a/b", "/a/c/f");
  ExpectResolves("..", "/a/b", "/a");
  ExpectResolves("../..", "/a/b", "/");
}

TEST_F(SandboxPathTest, DotDotAtRootStaysAtRoot) {
  ExpectResolves("/..", "/", "/");
  ExpectResolves("/../../../a/b/f", "/", "/a/b/f");
  ExpectResolves("../../../../../etc/passwd", "/a/b", "/etc/passwd");
}

TEST_F(SandboxPathTest, RelativePathNeedsAValidCwd) {
  UniqueFd cwd = OpenDir(root_ / "a");
  auto r = ResolveInSandbox(root_fd_.Get(), cwd.Get(), "a", "b/f");
  ASSERT_FALSE(r);
  EXPECT_EQ(r.Err().errnum, EINVAL);
  r = ResolveInSandbox(root_fd_.Get(), cwd.Get(), "/a/../a", "b/f");
  ASSERT_FALSE(r);
  EXPECT_EQ(r.Err().errnum, EINVAL);
  // The path no longer names the cwd (renamed, or a lie): refuse rather than guess.
  r = ResolveInSandbox(root_fd_.Get(), cwd.Get(), "/etc", "b/f");
  ASSERT_FALSE(r);
  EXPECT_EQ(r.Err().errnum, ESTALE);
  // An absolute path does not need the cwd at all.
  r = ResolveInSandbox(root_fd_.Get(), -1, "", "/a/b/f");
  ASSERT_TRUE(r) << r.Err().Message();
  EXPECT_EQ(r->path, "/a/b/f");
}

TEST_F(SandboxPathTest, AbsoluteSymlinkResolvesInsideTheRoot) {
  Symlink("/etc/passwd", "tmp/abs");
  Symlink("../../../../../../../../etc/passwd", "tmp/up");
  Symlink("/", "tmp/root");
  ExpectResolves("/tmp/abs", "/", "/etc/passwd");
  ExpectResolves("/tmp/up", "/", "/etc/passwd");
  ExpectResolves("/tmp/root/etc/passwd", "/", "/etc/passwd");
  ExpectResolves("abs", "/tmp", "/etc/passwd");
  // The host's /etc/passwd is not inside the fake root.
  auto r = Resolve("/tmp/abs");
  ASSERT_TRUE(r);
  EXPECT_FALSE(SameFile(r->handle, "/etc/passwd"));
}

TEST_F(SandboxPathTest, RelativeSymlink) {
  Symlink("../c/f", "a/b/rel");
  Symlink("../c", "a/b/dirlink");
  ExpectResolves("/a/b/rel", "/", "/a/c/f");
  ExpectResolves("/a/b/dirlink/f", "/", "/a/c/f");
  ExpectResolves("dirlink/../b/f", "/a/b", "/a/b/f");
}

TEST_F(SandboxPathTest, DotDotAfterASymlinkIsThePhysicalParent) {
  fs::create_directories(root_ / "x/y");
  Symlink("/x/y", "a/deep");
  ExpectResolves("/a/deep/..", "/", "/x");
  ExpectResolves("/a/deep/../../a/b/f", "/", "/a/b/f");
}

TEST_F(SandboxPathTest, SymlinkChain) {
  Symlink("/a/b/f", "tmp/l3");
  Symlink("l3", "tmp/l2");
  Symlink("/tmp/l2", "tmp/l1");
  ExpectResolves("/tmp/l1", "/", "/a/b/f");
}

TEST_F(SandboxPathTest, FortySymlinksAreAllowedFortyOneAreALoop) {
  Symlink("/a/b/f", "tmp/c0");
  for (int i = 1; i <= 40; ++i) {
    Symlink("c" + std::to_string(i - 1), "tmp/c" + std::to_string(i));
  }
  ExpectResolves("/tmp/c39", "/", "/a/b/f");  // 40 links followed
  ExpectErrno("/tmp/c40", "/", ELOOP);        // 41
}

TEST_F(SandboxPathTest, SymlinkLoopIsEloop) {
  Symlink("loop2", "tmp/loop1");
  Symlink("/tmp/loop1", "tmp/loop2");
  Symlink("self", "tmp/self");
  ExpectErrno("/tmp/loop1", "/", ELOOP);
  ExpectErrno("/tmp/self/x", "/", ELOOP);
}

TEST_F(SandboxPathTest, DanglingSymlinkIsEnoent) {
  Symlink("/nowhere/sock", "tmp/dangling");
  ExpectErrno("/tmp/dangling", "/", ENOENT);
  ExpectErrno("", "/", ENOENT);
}

TEST_F(SandboxPathTest, WhatOnlyTheHostHasIsMissingInTheRoot) {
  // The host has these; the fake root does not. However the path gets there, it is not found.
  ASSERT_TRUE(fs::exists("/usr/bin"));
  Symlink("/usr", "tmp/hostlink");
  Symlink("../../../../usr/bin", "tmp/uplink");
  ExpectErrno("/usr/bin", "/", ENOENT);
  ExpectErrno("/../../usr/bin", "/", ENOENT);
  ExpectErrno("/tmp/hostlink/bin", "/", ENOENT);
  ExpectErrno("/tmp/uplink", "/", ENOENT);
  ExpectErrno("/a/b/../../../usr/bin/", "/", ENOENT);
  // Found again once the root has it.
  fs::create_directories(root_ / "usr/bin");
  ExpectResolves("/tmp/hostlink/bin", "/", "/usr/bin");
  ExpectResolves("/tmp/uplink", "/", "/usr/bin");
}

TEST_F(SandboxPathTest, NonDirectoryInTheMiddleIsEnotdir) {
  ExpectErrno("/a/b/f/x", "/", ENOTDIR);
  ExpectErrno("/a/b/f/", "/", ENOTDIR);
  ExpectErrno("/a/b/f/..", "/", ENOTDIR);
  ExpectErrno("/a/b/f/.", "/", ENOTDIR);
  Symlink("/a/b/f", "tmp/tofile");
  ExpectErrno("/tmp/tofile/", "/", ENOTDIR);
}

TEST_F(SandboxPathTest, LengthLimits) {
  ExpectErrno("/" + std::string(NAME_MAX + 1, 'n'), "/", ENAMETOOLONG);
  std::string long_path;
  while (long_path.size() < PATH_MAX) long_path += "/a";
  ExpectErrno(long_path, "/", ENAMETOOLONG);
}

// The attack the resolver exists for: the command plants a link with an allowed-looking name in a
// directory it can write; the policy must see the socket the link leads to.
TEST_F(SandboxPathTest, SymlinkToAForbiddenSocketResolvesToTheSocketsPath) {
  fs::create_directories(root_ / "var/run");
  UniqueFd docker = BindUnix((root_ / "var/run/docker.sock").string(), SOCK_STREAM);
  ASSERT_TRUE(docker);
  Symlink("/var/run/docker.sock", "tmp/allowed.sock");
  Symlink("../var/run/docker.sock", "tmp/allowed2.sock");
  // A host path to the same socket means nothing inside the root.
  Symlink((root_ / "var/run/docker.sock").string(), "tmp/hostpath.sock");

  for (const char* link : {"/tmp/allowed.sock", "/tmp/allowed2.sock"}) {
    auto r = Resolve(link);
    ASSERT_TRUE(r) << r.Err().Message();
    EXPECT_EQ(r->path, "/var/run/docker.sock");
    EXPECT_NE(::fnmatch("/tmp/*.sock", r->path.c_str(), FNM_PATHNAME), 0);
    EXPECT_EQ(::fnmatch("/var/run/*.sock", r->path.c_str(), FNM_PATHNAME), 0);
    EXPECT_TRUE(SameFile(r->handle, root_ / "var/run/docker.sock"));
  }
  ExpectErrno("/tmp/hostpath.sock", "/", ENOENT);
}

TEST_F(SandboxPathTest, ConnectsStreamToTheResolvedInodeEvenAfterTheNameIsSwapped) {
  UniqueFd listener = BindUnix((root_ / "tmp/s.sock").string(), SOCK_STREAM);
  ASSERT_TRUE(listener);
  auto r = Resolve("/tmp/s.sock");
  ASSERT_TRUE(r) << r.Err().Message();
  // Swap the name after the check: the connect must still reach the inode that was checked.
  fs::rename(root_ / "tmp/s.sock", root_ / "tmp/moved.sock");
  WriteFile(root_ / "tmp/s.sock", "decoy");

  auto sock = ConnectUnixAt(r->handle, SOCK_STREAM);
  ASSERT_TRUE(sock) << sock.Err().Message();
  EXPECT_NE(::fcntl(sock->Get(), F_GETFL) & O_NONBLOCK, 0);
  EXPECT_NE(::fcntl(sock->Get(), F_GETFD) & FD_CLOEXEC, 0);
  UniqueFd accepted(::accept4(listener.Get(), nullptr, nullptr, SOCK_CLOEXEC));
  ASSERT_TRUE(accepted);
  ASSERT_EQ(::write(sock->Get(), "ping", 4), 4);
  char buf[8] = {};
  ASSERT_EQ(::read(accepted.Get(), buf, sizeof buf), 4);
  EXPECT_STREQ(buf, "ping");
}

TEST_F(SandboxPathTest, ConnectsDatagram) {
  UniqueFd server = BindUnix((root_ / "tmp/d.sock").string(), SOCK_DGRAM);
  ASSERT_TRUE(server);
  auto r = Resolve("/tmp/d.sock");
  ASSERT_TRUE(r) << r.Err().Message();
  auto sock = ConnectUnixAt(r->handle, SOCK_DGRAM);
  ASSERT_TRUE(sock) << sock.Err().Message();
  ASSERT_EQ(::send(sock->Get(), "dg", 2, 0), 2);
  char buf[4] = {};
  ASSERT_EQ(::recv(server.Get(), buf, sizeof buf, MSG_DONTWAIT), 2);
  EXPECT_STREQ(buf, "dg");
}

TEST_F(SandboxPathTest, ConnectWithoutListenerIsRefused) {
  { UniqueFd gone = BindUnix((root_ / "tmp/gone.sock").string(), SOCK_STREAM); }
  auto r = Resolve("/tmp/gone.sock");
  ASSERT_TRUE(r) << r.Err().Message();
  auto sock = ConnectUnixAt(r->handle, SOCK_STREAM);
  ASSERT_FALSE(sock);
  EXPECT_EQ(sock.Err().errnum, ECONNREFUSED) << sock.Err().Message();
}

TEST_F(SandboxPathTest, ConnectToARegularFileFails) {
  auto r = Resolve("/a/b/f");
  ASSERT_TRUE(r) << r.Err().Message();
  auto sock = ConnectUnixAt(r->handle, SOCK_STREAM);
  ASSERT_FALSE(sock);
  // Measured on kernel 6.18: ECONNREFUSED (the kernel finds no socket behind the inode).
  EXPECT_TRUE(sock.Err().errnum == ECONNREFUSED || sock.Err().errnum == ENOTSOCK)
      << sock.Err().Message();
}

TEST_F(SandboxPathTest, ConnectWithTheWrongTypeIsEprototype) {
  UniqueFd listener = BindUnix((root_ / "tmp/s.sock").string(), SOCK_STREAM);
  ASSERT_TRUE(listener);
  auto r = Resolve("/tmp/s.sock");
  ASSERT_TRUE(r) << r.Err().Message();
  auto sock = ConnectUnixAt(r->handle, SOCK_DGRAM);
  ASSERT_FALSE(sock);
  EXPECT_EQ(sock.Err().errnum, EPROTOTYPE) << sock.Err().Message();
  sock = ConnectUnixAt(r->handle, SOCK_RAW);
  ASSERT_FALSE(sock);
  EXPECT_EQ(sock.Err().errnum, EINVAL);
}

TEST_F(SandboxPathTest, ConnectToAFullBacklogIsEagain) {
  UniqueFd listener = BindUnix((root_ / "tmp/s.sock").string(), SOCK_STREAM);
  ASSERT_TRUE(listener);
  ASSERT_EQ(::listen(listener.Get(), 0), 0);
  auto r = Resolve("/tmp/s.sock");
  ASSERT_TRUE(r) << r.Err().Message();
  std::vector<UniqueFd> connected;
  int last_errno = 0;
  for (int i = 0; i < 16 && last_errno == 0; ++i) {
    auto sock = ConnectUnixAt(r->handle, SOCK_STREAM);
    if (sock) {
      connected.push_back(std::move(*sock));
    } else {
      last_errno = sock.Err().errnum;
    }
  }
  EXPECT_EQ(last_errno, EAGAIN);
}

// --- OpenProcessFsView -------------------------------------------------------------------------

TEST(OpenProcessFsViewTest, OwnProcess) {
  auto view = OpenProcessFsView(::getpid());
  ASSERT_TRUE(view) << view.Err().Message();
  EXPECT_EQ(view->cwd_path, fs::current_path().string());
  EXPECT_TRUE(SameFile(view->root, "/"));
  EXPECT_TRUE(SameFile(view->cwd, fs::current_path()));
}

// A child that chroot()s into `root` and then chdir()s to `cwd` (empty: stays where it is), tells
// the parent through a pipe (0 or errno), and waits to be killed.
class ChrootedChild {
 public:
  ChrootedChild(const fs::path& root, const char* cwd) {
    int fds[2];
    if (::pipe2(fds, O_CLOEXEC) != 0) return;
    pid_ = ::fork();
    if (pid_ == 0) {
      int err = 0;
      if (::chroot(root.c_str()) != 0 || (*cwd != '\0' && ::chdir(cwd) != 0)) err = errno;
      (void)!::write(fds[1], &err, sizeof err);
      ::pause();
      ::_exit(0);
    }
    ::close(fds[1]);
    if (pid_ < 0 || ::read(fds[0], &error_, sizeof error_) != sizeof error_) error_ = -1;
    ::close(fds[0]);
  }
  ~ChrootedChild() {
    if (pid_ > 0) {
      ::kill(pid_, SIGKILL);
      ::waitpid(pid_, nullptr, 0);
    }
  }
  ChrootedChild(const ChrootedChild&) = delete;
  ChrootedChild& operator=(const ChrootedChild&) = delete;

  [[nodiscard]] pid_t Pid() const { return pid_; }
  [[nodiscard]] int Error() const { return error_; }

 private:
  pid_t pid_ = -1;
  int error_ = -1;
};

// readlink(/proc/PID/cwd) of a process that chroot()ed in our mount namespace is rendered from our
// root (the host path): the walk up from the cwd must find the process's own view.
TEST(OpenProcessFsViewTest, ChrootedProcessInOurMountNamespace) {
  TempDir root;
  fs::create_directories(root / "jail/a/b");
  // A decoy at the host path inside the jail: the readlink candidate resolves there, to another
  // directory, and must be rejected.
  fs::create_directories(root.Path() / "jail" / fs::path(root.Path()).relative_path() / "jail/a/b");
  ChrootedChild child(root / "jail", "/a/b");
  if (child.Error() == EPERM) GTEST_SKIP() << "chroot needs CAP_SYS_CHROOT";
  ASSERT_EQ(child.Error(), 0) << std::strerror(child.Error());

  EXPECT_EQ(fs::read_symlink("/proc/" + std::to_string(child.Pid()) + "/cwd"), root / "jail/a/b");
  auto view = OpenProcessFsView(child.Pid());
  ASSERT_TRUE(view) << view.Err().Message();
  EXPECT_EQ(view->cwd_path, "/a/b");
  EXPECT_TRUE(SameFile(view->root, root / "jail"));
  EXPECT_TRUE(SameFile(view->cwd, root / "jail/a/b"));
}

TEST(OpenProcessFsViewTest, CwdOutsideTheRootIsRefused) {
  TempDir root;
  fs::create_directories(root / "jail");
  ChrootedChild child(root / "jail", "");  // chroot without chdir: the cwd stays outside
  if (child.Error() == EPERM) GTEST_SKIP() << "chroot needs CAP_SYS_CHROOT";
  ASSERT_EQ(child.Error(), 0) << std::strerror(child.Error());
  auto view = OpenProcessFsView(child.Pid());
  ASSERT_FALSE(view) << view->cwd_path;
  EXPECT_EQ(view.Err().errnum, ENOENT) << view.Err().Message();
}

TEST(OpenProcessRootViewTest, ResolvesAbsolutePathsInTheProcesssRootAndNoRelativeOnes) {
  TempDir root;
  fs::create_directories(root / "jail/run");
  ChrootedChild child(root / "jail", "");  // the cwd outside the root matters to no absolute path
  if (child.Error() == EPERM) GTEST_SKIP() << "chroot needs CAP_SYS_CHROOT";
  ASSERT_EQ(child.Error(), 0) << std::strerror(child.Error());
  auto view = OpenProcessRootView(child.Pid());
  ASSERT_TRUE(view) << view.Err().Message();
  EXPECT_TRUE(SameFile(view->root, root / "jail"));
  EXPECT_FALSE(view->cwd);
  EXPECT_EQ(view->cwd_path, "");
  auto absolute = ResolveInSandbox(view->root.Get(), view->cwd.Get(), view->cwd_path, "/run");
  ASSERT_TRUE(absolute) << absolute.Err().Message();
  EXPECT_EQ(absolute->path, "/run");
  EXPECT_TRUE(SameFile(absolute->handle, root / "jail/run"));
  // Without a cwd, a relative path has nothing to start from.
  EXPECT_FALSE(ResolveInSandbox(view->root.Get(), view->cwd.Get(), view->cwd_path, "run"));
}

TEST(OpenProcessRootViewTest, AGoneProcessHasNoView) {
  const pid_t pid = ::fork();
  if (pid == 0) ::_exit(0);
  ASSERT_GT(pid, 0);
  ASSERT_EQ(::waitpid(pid, nullptr, 0), pid);
  auto view = OpenProcessRootView(pid);
  ASSERT_FALSE(view);
  EXPECT_EQ(view.Err().errnum, ENOENT);
}

std::string FindInPath(const std::string& name) {
  const char* path = std::getenv("PATH");
  std::string dirs = path != nullptr ? path : "/usr/bin:/bin";
  std::size_t begin = 0;
  while (begin <= dirs.size()) {
    std::size_t end = dirs.find(':', begin);
    if (end == std::string::npos) end = dirs.size();
    fs::path candidate = fs::path(dirs.substr(begin, end - begin)) / name;
    if (::access(candidate.c_str(), X_OK) == 0) return candidate;
    begin = end + 1;
  }
  return {};
}

// A real bwrap sandbox: the supervisor's (our) /tmp is not the sandbox's /tmp.
TEST(OpenProcessFsViewTest, BubblewrapSandbox) {
  std::string bwrap = FindInPath("bwrap");
  if (bwrap.empty()) GTEST_SKIP() << "bwrap not found in PATH";
  const std::string marker = "sandgate-fsview-" + std::to_string(::getpid());
  int out[2];
  int info[2];
  ASSERT_EQ(::pipe2(out, O_CLOEXEC), 0);
  ASSERT_EQ(::pipe2(info, O_CLOEXEC), 0);
  UniqueFd out_read(out[0]), out_write(out[1]), info_read(info[0]), info_write(info[1]);
  // bwrap reports the sandboxed process's pid (in our pid namespace) on --info-fd.
  constexpr int kInfoFd = 3;
  posix_spawn_file_actions_t actions;
  posix_spawn_file_actions_init(&actions);
  posix_spawn_file_actions_adddup2(&actions, out_write.Get(), STDOUT_FILENO);
  posix_spawn_file_actions_adddup2(&actions, info_write.Get(), kInfoFd);
  std::vector<std::string> args = {bwrap,
                                   "--ro-bind",
                                   "/",
                                   "/",
                                   "--dev",
                                   "/dev",
                                   "--tmpfs",
                                   "/tmp",
                                   "--chdir",
                                   "/tmp",
                                   "--die-with-parent",
                                   "--info-fd",
                                   std::to_string(kInfoFd),
                                   "sh",
                                   "-c",
                                   "echo inside > " + marker + " && echo ready && exec sleep 30"};
  std::vector<char*> argv;
  argv.reserve(args.size() + 1);
  for (auto& a : args) argv.push_back(a.data());
  argv.push_back(nullptr);
  pid_t bwrap_pid = -1;
  ASSERT_TRUE(info_write.Get() != kInfoFd && out_write.Get() != STDOUT_FILENO);
  int spawn_error =
      ::posix_spawn(&bwrap_pid, bwrap.c_str(), &actions, nullptr, argv.data(), environ);
  posix_spawn_file_actions_destroy(&actions);
  ASSERT_EQ(spawn_error, 0) << std::strerror(spawn_error);
  out_write.Reset();
  info_write.Reset();

  std::string output;
  char buf[256];
  ssize_t n = 0;
  while (output.find("ready\n") == std::string::npos &&
         (n = ::read(out_read.Get(), buf, sizeof buf)) > 0) {
    output.append(buf, static_cast<std::size_t>(n));
  }
  std::string info_json;
  while ((n = ::read(info_read.Get(), buf, sizeof buf)) > 0) {
    info_json.append(buf, static_cast<std::size_t>(n));
    if (info_json.find('}') != std::string::npos) break;
  }
  auto pid_at = info_json.find("\"child-pid\":");
  pid_t pid = pid_at == std::string::npos ? -1 : std::atoi(info_json.c_str() + pid_at + 12);
  struct Reaper {
    pid_t bwrap, child;
    ~Reaper() {
      if (child > 0) ::kill(child, SIGKILL);
      ::kill(bwrap, SIGKILL);
      ::waitpid(bwrap, nullptr, 0);
    }
  } reaper{bwrap_pid, pid};
  if (output.find("ready\n") == std::string::npos || pid <= 0) {
    GTEST_SKIP() << "bwrap could not start a sandbox here (info: " << info_json << ")";
  }

  auto view = OpenProcessFsView(pid);
  ASSERT_TRUE(view) << view.Err().Message();
  EXPECT_EQ(view->cwd_path, "/tmp");
  // Evidence for the fast path: across mount namespaces the kernel renders the link from the
  // top of the sandbox's namespace, which is the sandbox's own view.
  EXPECT_EQ(fs::read_symlink("/proc/" + std::to_string(pid) + "/cwd"), "/tmp");

  // The marker the sandbox wrote lives in its tmpfs: visible through its root, not on the host.
  EXPECT_FALSE(fs::exists("/tmp/" + marker));
  for (const std::string& path : {marker, "/tmp/" + marker, "../tmp/./" + marker}) {
    auto r = ResolveInSandbox(view->root.Get(), view->cwd.Get(), view->cwd_path, path);
    ASSERT_TRUE(r) << path << ": " << r.Err().Message();
    EXPECT_EQ(r->path, "/tmp/" + marker);
    EXPECT_EQ(testing::ReadFile(FdPath(r->handle.Get())), "inside\n");
  }

  // A socket inside the sandbox's tmpfs (bound through its root), connected through the handle.
  auto tmp = ResolveInSandbox(view->root.Get(), -1, "", "/tmp");
  ASSERT_TRUE(tmp) << tmp.Err().Message();
  const std::string sock_name = marker + ".sock";
  UniqueFd listener = BindUnix(FdPath(tmp->handle.Get()) + "/" + sock_name, SOCK_STREAM);
  ASSERT_TRUE(listener);
  EXPECT_FALSE(fs::exists("/tmp/" + sock_name));
  auto sock_path = ResolveInSandbox(view->root.Get(), view->cwd.Get(), view->cwd_path, sock_name);
  ASSERT_TRUE(sock_path) << sock_path.Err().Message();
  auto sock = ConnectUnixAt(sock_path->handle, SOCK_STREAM);
  ASSERT_TRUE(sock) << sock.Err().Message();
  UniqueFd accepted(::accept4(listener.Get(), nullptr, nullptr, SOCK_CLOEXEC));
  EXPECT_TRUE(accepted);
}

}  // namespace
}  // namespace sandgate::supervisor
