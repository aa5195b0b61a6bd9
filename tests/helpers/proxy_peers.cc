#include "tests/helpers/proxy_peers.h"

#include <arpa/inet.h>
#include <fcntl.h>
#include <linux/close_range.h>
#include <netinet/in.h>
#include <poll.h>
#include <sched.h>
#include <signal.h>
#include <sys/mount.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <cctype>
#include <cerrno>
#include <cstdlib>
#include <cstring>
#include <functional>
#include <random>
#include <sstream>
#include <stdexcept>
#include <thread>

extern char** environ;

namespace sandgate::testing {
namespace {

using Clock = std::chrono::steady_clock;

// Readiness is polled, never slept for: the deadline only bounds a daemon that never comes up.
constexpr auto kReadyDeadline = std::chrono::seconds(10);
constexpr auto kPollInterval = std::chrono::milliseconds(10);
// A port picked by bind(0) and closed may be taken before the daemon binds it; then it exits and
// is started again on another port.
constexpr int kStartAttempts = 5;

class ScopedFd {
 public:
  explicit ScopedFd(int fd) : fd_(fd) {}
  ~ScopedFd() {
    if (fd_ >= 0) close(fd_);
  }
  ScopedFd(const ScopedFd&) = delete;
  ScopedFd& operator=(const ScopedFd&) = delete;
  [[nodiscard]] int Get() const { return fd_; }
  void Reset() {
    if (fd_ >= 0) close(fd_);
    fd_ = -1;
  }

 private:
  int fd_;
};

sockaddr_in Loopback(std::uint16_t port) {
  sockaddr_in sa{};
  sa.sin_family = AF_INET;
  sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  sa.sin_port = htons(port);
  return sa;
}

// A port free on 127.0.0.1 for TCP (and for UDP too when `with_udp`) at this moment.
std::uint16_t FreePort(bool with_udp) {
  for (int i = 0; i < 100; ++i) {
    ScopedFd tcp(socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0));
    sockaddr_in sa = Loopback(0);
    socklen_t len = sizeof sa;
    if (tcp.Get() < 0 || bind(tcp.Get(), reinterpret_cast<sockaddr*>(&sa), len) != 0 ||
        getsockname(tcp.Get(), reinterpret_cast<sockaddr*>(&sa), &len) != 0) {
      throw std::runtime_error(std::string("bind(127.0.0.1:0): ") + std::strerror(errno));
    }
    if (!with_udp) return ntohs(sa.sin_port);
    ScopedFd udp(socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0));
    if (bind(udp.Get(), reinterpret_cast<sockaddr*>(&sa), len) == 0) return ntohs(sa.sin_port);
  }
  throw std::runtime_error("no port free for both TCP and UDP on 127.0.0.1");
}

// What the child reports through its CLOEXEC pipe when a step before exec fails. `step` points to
// a string literal, valid in the parent too (same image).
struct ChildError {
  int error;
  const char* step;
};

// Between fork and exec: async-signal-safe calls only; everything was prepared by the parent.
[[noreturn]] void ExecChild(int report_fd, pid_t parent, int devnull, int output,
                            const std::vector<std::pair<std::string, std::string>>& mounts,
                            char* const* argv) {
  auto fail = [report_fd](const char* step) {
    ChildError e{errno, step};
    ssize_t ignored = write(report_fd, &e, sizeof e);
    (void)ignored;
    _exit(127);
  };
  if (setpgid(0, 0) != 0) fail("setpgid");
  if (prctl(PR_SET_PDEATHSIG, SIGKILL) != 0) fail("prctl(PR_SET_PDEATHSIG)");
  if (getppid() != parent) _exit(127);  // the test died before prctl took effect
  sigset_t none;
  sigemptyset(&none);
  sigprocmask(SIG_SETMASK, &none, nullptr);
  if (!mounts.empty()) {
    if (unshare(CLONE_NEWNS) != 0) fail("unshare(CLONE_NEWNS)");
    // Without this the bind mounts would propagate to the machine's namespace when / is shared.
    if (mount(nullptr, "/", nullptr, MS_REC | MS_PRIVATE, nullptr) != 0) {
      fail("mount(/, MS_PRIVATE)");
    }
    for (const auto& [source, target] : mounts) {
      if (mount(source.c_str(), target.c_str(), nullptr, MS_BIND, nullptr) != 0) {
        fail("mount(MS_BIND) of a private file");
      }
    }
  }
  if (dup2(devnull, 0) < 0 || dup2(output, 1) < 0 || dup2(output, 2) < 0) fail("dup2");
  // The daemon inherits nothing else: a listening socket of the test left without CLOEXEC would
  // otherwise pass for the daemon's own in TcpListenPorts(). (Best effort: Linux >= 5.11.)
  syscall(SYS_close_range, 3U, ~0U, CLOSE_RANGE_CLOEXEC);
  execve(argv[0], argv, environ);
  fail("execve");
  _exit(127);
}

bool Contains(const std::vector<std::uint16_t>& ports, std::uint16_t port) {
  return std::find(ports.begin(), ports.end(), port) != ports.end();
}

// Starts a daemon and waits until it is ready. `pick_port` gives the port to configure (0: the
// daemon picks one itself); `ready` returns the daemon's port once it serves. A daemon that exits
// before (its port was taken meanwhile) is started again, up to kStartAttempts times.
std::unique_ptr<PeerProcess> StartPeer(
    std::string_view what, const std::function<std::uint16_t()>& pick_port,
    const std::function<PeerProcess::Spec(std::uint16_t)>& spec_for,
    const std::function<std::optional<std::uint16_t>(const PeerProcess&, std::uint16_t)>& ready,
    const std::function<std::string()>& log, std::uint16_t* port) {
  std::string failure;
  for (int attempt = 1; attempt <= kStartAttempts; ++attempt) {
    std::uint16_t wanted = pick_port();
    PeerProcess::Spec spec = spec_for(wanted);
    auto process = std::make_unique<PeerProcess>(spec);
    auto deadline = Clock::now() + kReadyDeadline;
    for (;;) {
      if (auto serving = ready(*process, wanted)) {
        *port = *serving;
        return process;
      }
      if (process->Exited()) break;
      if (Clock::now() > deadline) {
        throw std::runtime_error(std::string(what) + " not ready after 10 s; output:\n" +
                                 ReadFile(spec.output) + "\nlog:\n" + log());
      }
      std::this_thread::sleep_for(kPollInterval);
    }
    failure = ReadFile(spec.output) + "\nlog:\n" + log();
  }
  throw std::runtime_error(std::string(what) + " exited at each of " +
                           std::to_string(kStartAttempts) + " starts; last output:\n" + failure);
}

std::string RequireDaemon(std::string_view name) {
  std::string path = FindDaemon(name);
  if (path.empty()) throw std::runtime_error(std::string(name) + " is not installed");
  return path;
}

bool Installed(std::string_view name, std::string* why) {
  if (!FindDaemon(name).empty()) return true;
  *why = std::string(name) + " is not installed (scripts/install-deps.sh installs it)";
  return false;
}

// The private name-service files of a proxy: its /etc/hosts, an nsswitch.conf that looks hosts up
// in files only (never DNS), and, where nscd runs, an empty file over its socket (glibc asks nscd
// before nsswitch; connecting to a regular file fails, so it falls back). A name outside `hosts`
// never resolves.
std::vector<std::pair<std::filesystem::path, std::filesystem::path>> PrivateResolver(
    const TempDir& dir, const HostMap& hosts) {
  std::string content = "127.0.0.1 localhost\n::1 localhost\n";
  for (const auto& [name, address] : hosts)
    content.append(address).append(" ").append(name) += "\n";
  WriteFile(dir / "hosts", content);
  std::vector<std::pair<std::filesystem::path, std::filesystem::path>> files = {
      {dir / "hosts", "/etc/hosts"}};
  if (std::filesystem::exists("/etc/nsswitch.conf")) {
    WriteFile(dir / "nsswitch.conf", "passwd: files\ngroup: files\nshadow: files\nhosts: files\n");
    files.emplace_back(dir / "nsswitch.conf", "/etc/nsswitch.conf");
  }
  if (std::filesystem::exists("/var/run/nscd/socket")) {
    WriteFile(dir / "no-nscd", "");
    files.emplace_back(dir / "no-nscd", "/var/run/nscd/socket");
  }
  return files;
}

bool EqualsIgnoringCase(std::string_view a, std::string_view b) {
  return a.size() == b.size() && std::equal(a.begin(), a.end(), b.begin(), [](char x, char y) {
           return std::tolower(static_cast<unsigned char>(x)) ==
                  std::tolower(static_cast<unsigned char>(y));
         });
}

// Returns the offset after the (possibly compressed) name at `offset`, or npos.
size_t SkipName(const std::string& msg, size_t offset) {
  while (offset < msg.size()) {
    auto len = static_cast<unsigned char>(msg[offset]);
    if ((len & 0xC0) == 0xC0) return offset + 2 <= msg.size() ? offset + 2 : std::string::npos;
    if (len == 0) return offset + 1;
    offset += 1 + len;
  }
  return std::string::npos;
}

unsigned ReadU16(const std::string& msg, size_t offset) {
  return static_cast<unsigned>(static_cast<unsigned char>(msg[offset])) << 8 |
         static_cast<unsigned char>(msg[offset + 1]);
}

std::optional<DnsReply> ParseReply(const std::string& msg) {
  DnsReply reply;
  reply.rcode = msg[3] & 0x0F;
  unsigned questions = ReadU16(msg, 4);
  unsigned answers = ReadU16(msg, 6);
  size_t offset = 12;
  for (unsigned i = 0; i < questions && offset != std::string::npos; ++i) {
    offset = SkipName(msg, offset);
    if (offset != std::string::npos) offset += 4;
  }
  for (unsigned i = 0; i < answers; ++i) {
    offset = SkipName(msg, offset);
    if (offset == std::string::npos || offset + 10 > msg.size()) return std::nullopt;
    unsigned type = ReadU16(msg, offset);
    std::uint32_t ttl = ReadU16(msg, offset + 4) << 16 | ReadU16(msg, offset + 6);
    size_t rdlength = ReadU16(msg, offset + 8);
    offset += 10;
    if (offset + rdlength > msg.size()) return std::nullopt;
    reply.min_ttl = reply.answers == 0 ? ttl : std::min(reply.min_ttl, ttl);
    ++reply.answers;
    int family = type == 1 && rdlength == 4 ? AF_INET : type == 28 && rdlength == 16 ? AF_INET6 : 0;
    if (family != 0) {
      char text[INET6_ADDRSTRLEN];
      inet_ntop(family, msg.data() + offset, text, sizeof text);
      reply.addresses.emplace_back(text);
    }
    offset += rdlength;
  }
  return reply;
}

}  // namespace

std::string FindDaemon(std::string_view name) {
  const char* path = std::getenv("PATH");
  std::string dirs = path != nullptr ? path : "";
  dirs += ":/usr/sbin:/sbin:/usr/bin:/bin";
  std::istringstream in(dirs);
  std::string dir;
  while (std::getline(in, dir, ':')) {
    if (dir.empty()) continue;
    std::string candidate = dir + "/" + std::string(name);
    if (access(candidate.c_str(), X_OK) == 0) return candidate;
  }
  return "";
}

PeerProcess::PeerProcess(const Spec& spec) {
  std::vector<std::string> args = spec.argv;
  std::vector<char*> argv;
  argv.reserve(args.size() + 1);
  for (auto& a : args) argv.push_back(a.data());
  argv.push_back(nullptr);
  std::vector<std::pair<std::string, std::string>> mounts;
  for (const auto& [source, target] : spec.private_files) mounts.emplace_back(source, target);

  ScopedFd output(open(spec.output.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644));
  ScopedFd devnull(open("/dev/null", O_RDONLY | O_CLOEXEC));
  int report[2];
  if (output.Get() < 0 || devnull.Get() < 0 || pipe2(report, O_CLOEXEC) != 0) {
    throw std::runtime_error("cannot prepare " + spec.output.string() + ": " + strerror(errno));
  }
  ScopedFd report_read(report[0]);
  ScopedFd report_write(report[1]);
  pid_t parent = getpid();
  pid_ = fork();
  if (pid_ < 0) throw std::runtime_error(std::string("fork: ") + std::strerror(errno));
  if (pid_ == 0) {
    ExecChild(report_write.Get(), parent, devnull.Get(), output.Get(), mounts, argv.data());
  }
  report_write.Reset();
  // Not reaped yet, so the pid is still this child's.
  pidfd_ = static_cast<int>(syscall(SYS_pidfd_open, pid_, 0));
  // EOF: exec succeeded (the pipe is CLOEXEC); a ChildError: a step before it failed.
  ChildError error{};
  ssize_t n;
  do {
    n = read(report_read.Get(), &error, sizeof error);
  } while (n < 0 && errno == EINTR);
  if (n == static_cast<ssize_t>(sizeof error) || pidfd_ < 0) {
    std::string why = n == static_cast<ssize_t>(sizeof error)
                          ? std::string(error.step) + ": " + std::strerror(error.error)
                          : std::string("pidfd_open: ") + std::strerror(errno);
    Stop();  // the constructor throws: no destructor will run
    throw std::runtime_error("starting " + spec.argv[0] + ": " + why);
  }
}

PeerProcess::~PeerProcess() { Stop(); }

void PeerProcess::Stop() noexcept {
  if (pidfd_ >= 0) close(pidfd_);
  pidfd_ = -1;
  if (pid_ <= 0) return;
  // The group leader is reaped only here, so -pid_ still names this group.
  kill(-pid_, SIGKILL);
  while (waitpid(pid_, nullptr, 0) < 0 && errno == EINTR) {
  }
  pid_ = -1;
}

bool PeerProcess::Exited() const {
  siginfo_t info{};
  return waitid(P_PID, static_cast<id_t>(pid_), &info, WEXITED | WNOHANG | WNOWAIT) == 0 &&
         info.si_pid == pid_;
}

std::vector<std::uint16_t> PeerProcess::TcpListenPorts() const {
  // Each socket of the daemon is copied into this process (pidfd_getfd) and asked directly:
  // scanning /proc/net/tcp instead costs ~0.1 s per read on a machine with many TIME_WAITs.
  std::vector<std::uint16_t> ports;
  std::error_code ec;
  for (std::filesystem::directory_iterator it("/proc/" + std::to_string(pid_) + "/fd", ec), end;
       !ec && it != end; it.increment(ec)) {
    std::error_code link_ec;
    if (std::filesystem::read_symlink(it->path(), link_ec).string().rfind("socket:", 0) != 0) {
      continue;
    }
    int target_fd = std::atoi(it->path().filename().c_str());
    ScopedFd fd(static_cast<int>(syscall(SYS_pidfd_getfd, pidfd_, target_fd, 0)));
    int listening = 0;
    int type = 0;
    socklen_t len = sizeof listening;
    sockaddr_in address{};
    socklen_t address_len = sizeof address;
    if (fd.Get() < 0 || getsockopt(fd.Get(), SOL_SOCKET, SO_ACCEPTCONN, &listening, &len) != 0 ||
        getsockopt(fd.Get(), SOL_SOCKET, SO_TYPE, &type, &len) != 0 || !listening ||
        type != SOCK_STREAM ||
        getsockname(fd.Get(), reinterpret_cast<sockaddr*>(&address), &address_len) != 0 ||
        address.sin_family != AF_INET) {
      continue;
    }
    ports.push_back(ntohs(address.sin_port));
  }
  return ports;
}

// --- dnsmasq ----------------------------------------------------------------------------------

Dnsmasq::Dnsmasq(const Options& options) {
  std::string binary = RequireDaemon("dnsmasq");
  auto spec_for = [&](std::uint16_t port) {
    std::ostringstream conf;
    conf << "port=" << port << "\n"
         << "listen-address=127.0.0.1\n"
         << "bind-interfaces\n"
         << "no-resolv\n"
         << "no-hosts\n"
         // Authoritative for every name: nothing is forwarded anywhere.
         << "local=/#/\n"
         // Dropping privileges would clear PR_SET_PDEATHSIG (a credential change).
         << "user=root\n"
         << "group=root\n"
         << "pid-file=\n"
         << "log-queries\n"
         << "log-facility=" << (dir_ / "dnsmasq.log").string() << "\n"
         << "local-ttl=" << options.ttl << "\n";
    for (const auto& [name, address] : options.records) {
      conf << "host-record=" << name << "," << address << "\n";
    }
    for (const auto& [alias, target] : options.cnames) {
      conf << "cname=" << alias << "," << target << "\n";
    }
    WriteFile(dir_ / "dnsmasq.conf", conf.str());
    // -C replaces /etc/dnsmasq.conf; --keep-in-foreground stays our child but logs to the file.
    return PeerProcess::Spec{
        {binary, "--keep-in-foreground", "--conf-file=" + (dir_ / "dnsmasq.conf").string()},
        dir_ / "dnsmasq.out",
        {}};
  };
  auto ready = [](const PeerProcess& process, std::uint16_t port) -> std::optional<std::uint16_t> {
    // Any reply to a real query, from the process that owns the port, means it serves.
    if (!Contains(process.TcpListenPorts(), port)) return std::nullopt;
    if (!QueryDns(port, "readiness.sandgate.invalid", DnsType::kA,
                  std::chrono::milliseconds(200))) {
      return std::nullopt;
    }
    return port;
  };
  process_ = StartPeer(
      "dnsmasq", [] { return FreePort(/*with_udp=*/true); }, spec_for, ready,
      [this] { return Log(); }, &port_);
}

bool Dnsmasq::Installed(std::string* why) { return sandgate::testing::Installed("dnsmasq", why); }

std::string Dnsmasq::Log() const { return ReadFile(dir_ / "dnsmasq.log"); }

int Dnsmasq::QueriesFor(std::string_view name) const {
  // "Nov 26 20:41:33 dnsmasq[29497]: query[A] allowed.test from 127.0.0.1"
  std::istringstream in(Log());
  std::string line;
  int count = 0;
  while (std::getline(in, line)) {
    size_t query = line.find("]: query[");
    if (query == std::string::npos) continue;
    size_t start = line.find("] ", query + 9);
    size_t end = start == std::string::npos ? start : line.find(" from ", start + 2);
    if (end == std::string::npos) continue;
    std::string_view queried = std::string_view(line).substr(start + 2, end - start - 2);
    if (EqualsIgnoringCase(queried, name)) ++count;
  }
  return count;
}

// --- tinyproxy --------------------------------------------------------------------------------

Tinyproxy::Tinyproxy(const Options& options) {
  std::string binary = RequireDaemon("tinyproxy");
  auto private_files = PrivateResolver(dir_, options.hosts);
  auto spec_for = [&](std::uint16_t port) {
    // No ConnectPort line: CONNECT to every port is allowed. No User: as root it warns and stays.
    std::ostringstream conf;
    conf << "Port " << port << "\n"
         << "Listen 127.0.0.1\n"
         << "Allow 127.0.0.1\n"
         << "LogLevel Info\n"
         << "LogFile \"" << (dir_ / "tinyproxy.log").string() << "\"\n";
    if (options.basic_auth) {
      conf << "BasicAuth " << options.basic_auth->user << " " << options.basic_auth->password
           << "\n";
    }
    if (options.refuse_all) {
      // An empty filter list that denies by default refuses every request with "403 Filtered",
      // after logging it (an Allow list without us would refuse before logging the request).
      WriteFile(dir_ / "deny-all.filter", "");
      conf << "Filter \"" << (dir_ / "deny-all.filter").string() << "\"\n"
           << "FilterDefaultDeny Yes\n";
    }
    WriteFile(dir_ / "tinyproxy.conf", conf.str());
    // -d: stay in the foreground. Tinyproxy cannot listen on port 0, hence the picked port.
    return PeerProcess::Spec{{binary, "-d", "-c", (dir_ / "tinyproxy.conf").string()},
                             dir_ / "tinyproxy.out",
                             private_files};
  };
  auto ready = [](const PeerProcess& process, std::uint16_t port) -> std::optional<std::uint16_t> {
    // Listening means connections complete from now on (its main loop accepts them later).
    if (Contains(process.TcpListenPorts(), port)) return port;
    return std::nullopt;
  };
  process_ = StartPeer(
      "tinyproxy", [] { return FreePort(/*with_udp=*/false); }, spec_for, ready,
      [this] { return Log(); }, &port_);
}

bool Tinyproxy::Installed(std::string* why) {
  return sandgate::testing::Installed("tinyproxy", why);
}

std::string Tinyproxy::Log() const { return ReadFile(dir_ / "tinyproxy.log"); }

bool Tinyproxy::SawConnect(std::string_view host_port) const {
  // "Request (file descriptor 5): CONNECT allowed.test:1234 HTTP/1.1"
  return Log().find("CONNECT " + std::string(host_port) + " HTTP/") != std::string::npos;
}

// --- microsocks -------------------------------------------------------------------------------

Microsocks::Microsocks(const Options& options) {
  std::string binary = RequireDaemon("microsocks");
  auto private_files = PrivateResolver(dir_, options.hosts);
  auto spec_for = [&](std::uint16_t) {
    // -p 0: the kernel picks the port while microsocks binds it, so no other process can take it
    // first; we read it back from the socket the process owns.
    std::vector<std::string> argv = {binary, "-i", "127.0.0.1", "-p", "0"};
    if (options.auth) {
      argv.insert(argv.end(), {"-u", options.auth->user, "-P", options.auth->password});
    }
    return PeerProcess::Spec{argv, dir_ / "microsocks.log", private_files};
  };
  auto ready = [](const PeerProcess& process, std::uint16_t) -> std::optional<std::uint16_t> {
    auto ports = process.TcpListenPorts();
    if (ports.empty()) return std::nullopt;
    return ports.front();
  };
  process_ = StartPeer(
      "microsocks", [] { return std::uint16_t{0}; }, spec_for, ready, [this] { return Log(); },
      &port_);
}

bool Microsocks::Installed(std::string* why) {
  return sandgate::testing::Installed("microsocks", why);
}

std::string Microsocks::Log() const { return ReadFile(dir_ / "microsocks.log"); }

// --- DNS client -------------------------------------------------------------------------------

std::optional<DnsReply> QueryDns(std::uint16_t port, std::string_view name, DnsType type,
                                 std::chrono::milliseconds timeout) {
  static thread_local std::mt19937 random{std::random_device{}()};
  auto id = static_cast<std::uint16_t>(random());
  std::string query = {static_cast<char>(id >> 8),
                       static_cast<char>(id & 0xFF),
                       0x01,
                       0x00,  // standard query, recursion desired
                       0x00,
                       0x01,
                       0x00,
                       0x00,
                       0x00,
                       0x00,
                       0x00,
                       0x00};
  std::istringstream labels{std::string(name)};
  std::string label;
  while (std::getline(labels, label, '.')) {
    if (label.empty() || label.size() > 63) throw std::invalid_argument("bad DNS name");
    query += static_cast<char>(label.size());
    query += label;
  }
  auto qtype = static_cast<std::uint16_t>(type);
  query += {'\0', static_cast<char>(qtype >> 8), static_cast<char>(qtype & 0xFF), 0x00, 0x01};

  ScopedFd fd(socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0));
  sockaddr_in server = Loopback(port);
  if (fd.Get() < 0 || connect(fd.Get(), reinterpret_cast<sockaddr*>(&server), sizeof server) != 0 ||
      send(fd.Get(), query.data(), query.size(), 0) != static_cast<ssize_t>(query.size())) {
    return std::nullopt;
  }
  auto deadline = Clock::now() + timeout;
  for (;;) {
    auto left = std::chrono::duration_cast<std::chrono::milliseconds>(deadline - Clock::now());
    pollfd p{fd.Get(), POLLIN, 0};
    if (left.count() <= 0 || poll(&p, 1, static_cast<int>(left.count())) != 1) return std::nullopt;
    char buf[4096];
    ssize_t n = recv(fd.Get(), buf, sizeof buf, 0);
    if (n < 0) return std::nullopt;  // e.g. ECONNREFUSED: nothing listens (yet)
    std::string reply(buf, static_cast<size_t>(n));
    // Only the reply to this query: same id, QR set.
    if (reply.size() < 12 || ReadU16(reply, 0) != id || (reply[2] & 0x80) == 0) continue;
    return ParseReply(reply);
  }
}

}  // namespace sandgate::testing
