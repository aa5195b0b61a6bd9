// Attacks on unix socket rules: the command may connect to sockets under DIR/a (`unix:DIR/a/*`)
// and tries to reach DIR/b/s.sock (or a socket outside DIR) instead: by rewriting the address
// while it is checked, by symlinks, by "..", by /proc magic links. The forbidden listener counts
// contacts; every test demands zero.
#include <gmock/gmock.h>
#include <stdlib.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include <cstdio>
#include <filesystem>
#include <nlohmann/json.hpp>
#include <sstream>
#include <string>
#include <system_error>
#include <vector>

#include "tests/helpers/host_peers.h"
#include "tests/helpers/sandbox_fixture.h"

namespace sandgate::testing {
namespace {

namespace fs = std::filesystem;
using ::testing::StartsWith;

// "ok=K err=M" -> {K, M}; {-1, -1} when the output is something else.
std::pair<int, int> Counts(const std::string& out) {
  int ok = -1, err = -1;
  if (std::sscanf(out.c_str(), "ok=%d err=%d", &ok, &err) != 2) return {-1, -1};
  return {ok, err};
}

// Creates the directory `path` will live in; returns `path`.
std::string InNewDirectory(const fs::path& path) {
  fs::create_directories(path.parent_path());
  return path.string();
}

class UnixEscapeTest : public SandboxTest {
 protected:
  RunResult Attack(const std::vector<std::string>& probe_args,
                   const std::string& rule_glob = "/a/*") {
    return RunProbe({"--network", "approve", "--approvals", "auto-deny", "--audit-log",
                     audit_path_.string(), "--allow", "unix:" + dir_.Path().string() + rule_glob},
                    probe_args);
  }
  // How many audit records name `path` with `decision`.
  int Audited(const std::string& path, const std::string& decision) {
    int n = 0;
    std::istringstream in(ReadFile(audit_path_));
    std::string line;
    while (std::getline(in, line)) {
      auto record = nlohmann::json::parse(line);
      n += record["destination"]["path"] == path && record["decision"] == decision ? 1 : 0;
    }
    return n;
  }
  // The destination paths the audit log recorded for unix sockets, in order.
  std::vector<std::string> AuditedPaths() {
    std::vector<std::string> paths;
    std::istringstream in(ReadFile(audit_path_));
    std::string line;
    while (std::getline(in, line)) {
      auto record = nlohmann::json::parse(line);
      if (record["destination"]["protocol"] == "unix" &&
          record["destination"]["path"].is_string()) {
        paths.push_back(record["destination"]["path"]);
      }
    }
    return paths;
  }

  TempDir dir_;
  fs::path audit_path_ = dir_ / "audit.jsonl";
  HostUnixListener allowed_{InNewDirectory(dir_ / "a/s.sock")};
  HostUnixListener forbidden_{InNewDirectory(dir_ / "b/s.sock")};
};

// A host unix datagram socket (a syslog or journal socket, say) that anyone may write to.
class HostDatagramSink {
 public:
  explicit HostDatagramSink(const fs::path& path) : path_(path) {
    fd_ = ::socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
    sockaddr_un sa{};
    sa.sun_family = AF_UNIX;
    std::snprintf(sa.sun_path, sizeof sa.sun_path, "%s", path.c_str());
    if (::bind(fd_, reinterpret_cast<sockaddr*>(&sa), sizeof sa) != 0) ADD_FAILURE() << "bind";
    ::chmod(path.c_str(), 0777);
  }
  ~HostDatagramSink() {
    ::close(fd_);
    ::unlink(path_.c_str());
  }
  int Received() {
    int n = 0;
    char byte;
    while (::recv(fd_, &byte, 1, 0) >= 0) ++n;
    return n;
  }

 private:
  fs::path path_;
  int fd_ = -1;
};

TEST_F(UnixEscapeTest, DestinationWrittenIntoADatagramSendmsgNeverReachesTheHost) {
  // sendmsg hides its destination in the msghdr: one the supervisor read as absent must not be
  // there when the send is made.
  HostDatagramSink sink(dir_ / "b/log.sock");
  auto r = Attack({"unix-dgram-name-race", (dir_ / "b/log.sock").string(), "3000"});
  auto [ok, err] = Counts(r.out);
  EXPECT_EQ(ok, 0) << r.out << r.err;
  EXPECT_EQ(err, 3000) << r.out << r.err;
  EXPECT_EQ(sink.Received(), 0) << "a datagram reached the host's socket";
}

TEST_F(UnixEscapeTest, PathSwappedDuringTheCheckNeverReachesTheForbiddenSocket) {
  // The two paths differ in one byte, so every read of the shared sockaddr sees one of them.
  // sandgate resolves and connects from the copy it read and checked; the kernel never re-reads.
  constexpr int kIterations = 400;
  auto r =
      Attack({"unix-swap-race", allowed_.Name(), forbidden_.Name(), std::to_string(kIterations)});
  auto [ok, err] = Counts(r.out);
  EXPECT_EQ(ok + err, kIterations) << r.out << r.err;
  const int allowed_contacts = allowed_.Accepted();
  EXPECT_EQ(forbidden_.Accepted(), 0) << r.out << " allowed listener saw " << allowed_contacts;
  EXPECT_EQ(allowed_contacts, ok) << r.out;
  // Every attempt was decided on one of the two paths, each as its rule says.
  EXPECT_EQ(Audited(allowed_.Name(), "allow"), ok);
  EXPECT_EQ(Audited(forbidden_.Name(), "deny"), err);
  EXPECT_EQ(AuditedPaths().size(), static_cast<std::size_t>(kIterations));
  EXPECT_GT(ok, 0) << r.out;
}

TEST_F(UnixEscapeTest, SymlinkRepointedDuringTheCheckNeverReachesTheForbiddenSocket) {
  // The command flips a symlink under the allowed directory between the allowed and the
  // forbidden socket while it connects through it. sandgate connects to the inode it resolved.
  constexpr int kIterations = 400;
  auto r = Attack({"unix-symlink-race", (dir_ / "a/link.sock").string(), allowed_.Name(),
                   forbidden_.Name(), std::to_string(kIterations)});
  auto [ok, err] = Counts(r.out);
  EXPECT_EQ(ok + err, kIterations) << r.out << r.err;
  const int allowed_contacts = allowed_.Accepted();
  EXPECT_EQ(forbidden_.Accepted(), 0) << r.out << " allowed listener saw " << allowed_contacts;
  EXPECT_EQ(allowed_contacts, ok) << r.out;
  // Every attempt was decided on one of the two paths, each as its rule says.
  EXPECT_EQ(Audited(allowed_.Name(), "allow"), ok);
  EXPECT_EQ(Audited(forbidden_.Name(), "deny"), err);
  EXPECT_EQ(AuditedPaths().size(), static_cast<std::size_t>(kIterations));
}

TEST_F(UnixEscapeTest, AbsoluteSymlinkOutOfTheAllowedDirectoryStaysDenied) {
  // A socket outside DIR, reached through /var/run (itself a symlink to /run on these machines).
  std::string run_dir = "/run/sandgate-test-XXXXXX";
  if (::mkdtemp(run_dir.data()) == nullptr) GTEST_SKIP() << "cannot create a directory in /run";
  {
    HostUnixListener outside(run_dir + "/forbid.sock");
    HandOver(run_dir);  // the cell's account may reach it: only the rule stands in the way
    const std::string via_var_run = "/var" + outside.Name();
    auto r = Attack({"symlink-unix-connect", via_var_run, (dir_ / "a/evil.sock").string()});
    EXPECT_EQ(r.out, "err EPERM\n") << r.err;
    // The same target spelled with more ".." than there are directories: clamped at the
    // sandbox's root, still the same socket.
    auto r2 = Attack({"symlink-unix-connect", "../../../../../../../../../../.." + via_var_run,
                      (dir_ / "a/evil2.sock").string()});
    EXPECT_EQ(r2.out, "err EPERM\n") << r2.err;
    EXPECT_EQ(outside.Accepted(), 0);
    EXPECT_EQ(AuditedPaths(), (std::vector<std::string>{fs::canonical(outside.Name()).string(),
                                                        fs::canonical(outside.Name()).string()}));
  }
  std::error_code ec;
  fs::remove_all(run_dir, ec);
}

TEST_F(UnixEscapeTest, DotDotThatLooksAllowedIsMatchedCanonically) {
  // With `**` the lexical text DIR/a/../b/s.sock matches the glob; its canonical path does not.
  auto r = Attack({"unix-connect", (dir_ / "a/../b/s.sock").string()}, "/a/**");
  EXPECT_EQ(r.out, "err EPERM\n") << r.err;
  EXPECT_EQ(forbidden_.Accepted(), 0);
  EXPECT_EQ(AuditedPaths(), std::vector<std::string>{forbidden_.Name()});
}

TEST_F(UnixEscapeTest, DotDotAfterASymlinkedDirectoryFollowsTheLinkLikeTheKernel) {
  // DIR/a/up -> DIR/b/sub: lexically DIR/a/up/../s.sock is DIR/a/s.sock (allowed), but the kernel
  // walks DIR/b/sub/.. and reaches DIR/b/s.sock. Matching one and connecting the other would be
  // an escape; connecting the allowed one would not be what the command asked for.
  fs::create_directories(dir_ / "b/sub");
  fs::create_directory_symlink(dir_ / "b/sub", dir_ / "a/up");
  auto r = Attack({"unix-connect", (dir_ / "a/up/../s.sock").string()});
  EXPECT_EQ(r.out, "err EPERM\n") << r.err;
  EXPECT_EQ(forbidden_.Accepted(), 0);
  EXPECT_EQ(allowed_.Accepted(), 0);
  EXPECT_EQ(AuditedPaths(), std::vector<std::string>{forbidden_.Name()});
}

TEST_F(UnixEscapeTest, ProcMagicLinkToTheForbiddenSocket) {
  // An O_PATH fd of the forbidden socket, connected to through /proc/self/fd/N.
  auto r = Attack({"unix-connect-procfd", forbidden_.Name()});
  EXPECT_THAT(r.out, StartsWith("err ")) << r.err;
  // Also when the glob allows everything under /proc.
  auto r2 = RunProbe({"--network", "approve", "--approvals", "auto-deny", "--allow",
                      "unix:/proc/**", "--allow", "unix:" + allowed_.Name()},
                     {"unix-connect-procfd", forbidden_.Name()});
  EXPECT_THAT(r2.out, StartsWith("err ")) << r2.err;
  EXPECT_EQ(forbidden_.Accepted(), 0);
}

}  // namespace
}  // namespace sandgate::testing
