#pragma once

// Real network peers from Debian packages, started by the tests themselves: dnsmasq (the upstream
// resolver behind sandgate's DNS forwarder), tinyproxy (HTTP CONNECT) and microsocks (SOCKS5).
// Each runs in the foreground as a child of the test on 127.0.0.1 and a free port, is ready when
// its constructor returns (or the constructor throws, with the daemon's output), and is killed and
// reaped by its destructor. Files live in a TempDir of the peer's own.

#include <sys/types.h>

#include <chrono>
#include <cstdint>
#include <filesystem>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "tests/helpers/temp_dir.h"

namespace sandgate::testing {

// Host name -> address ("127.0.0.1" or "::1"); a name may appear twice (A and AAAA).
using HostMap = std::vector<std::pair<std::string, std::string>>;

// The daemon's path (PATH, then /usr/sbin and /sbin: a test's PATH may lack them), or "".
[[nodiscard]] std::string FindDaemon(std::string_view name);

// One daemon as a child of the test: its own process group (so whatever it forks goes with it),
// SIGKILLed if the thread that started it dies (PR_SET_PDEATHSIG: start peers from the test's
// thread, not a short-lived one), and killed with its group and reaped by the destructor. With
// `private_files`, each {source, target} is bind-mounted over the target inside a private mount
// namespace of the daemon's own (needs root); the machine's files are never touched.
class PeerProcess {
 public:
  struct Spec {
    std::vector<std::string> argv;  // argv[0] is the binary's path
    std::filesystem::path output;   // receives stdout and stderr
    std::vector<std::pair<std::filesystem::path, std::filesystem::path>> private_files;
  };
  explicit PeerProcess(const Spec& spec);  // throws when fork, the namespace or exec fail
  ~PeerProcess();
  PeerProcess(const PeerProcess&) = delete;
  PeerProcess& operator=(const PeerProcess&) = delete;

  [[nodiscard]] pid_t Pid() const { return pid_; }
  // Exited (without reaping it: while the zombie exists its pid cannot name another group).
  [[nodiscard]] bool Exited() const;
  // TCP ports on which a socket of this process listens: proof the port is ours, not a stranger's.
  [[nodiscard]] std::vector<std::uint16_t> TcpListenPorts() const;

 private:
  void Stop() noexcept;  // kills the group and reaps the daemon

  pid_t pid_ = -1;
  int pidfd_ = -1;  // TcpListenPorts() copies the daemon's sockets through it
};

class Dnsmasq {
 public:
  // Every field has a default, so tests name only what they need: Dnsmasq({.records = {...}}).
  struct Options {
    HostMap records{};  // --host-record: exact names (no wildcards), A or AAAA by the address
    HostMap cnames{};   // alias -> target (--cname)
    int ttl = 0;        // --local-ttl: the TTL of every answer
  };
  // dnsmasq is authoritative for all names (local=/#/): any other name gets NXDOMAIN, a configured
  // name without the asked type NOERROR with no answer; nothing is ever forwarded.
  explicit Dnsmasq(const Options& options);

  [[nodiscard]] static bool Installed(std::string* why);
  [[nodiscard]] std::string Port() const { return std::to_string(port_); }
  [[nodiscard]] std::uint16_t PortNumber() const { return port_; }
  [[nodiscard]] std::string Log() const;  // dnsmasq's log: one line per query and per answer
  // Queries that reached dnsmasq for exactly `name` (any type, case-insensitive).
  [[nodiscard]] int QueriesFor(std::string_view name) const;

 private:
  TempDir dir_;  // declared first: destroyed after the daemon
  std::uint16_t port_ = 0;
  std::unique_ptr<PeerProcess> process_;
};

struct BasicAuth {
  std::string user;
  std::string password;
};

class Tinyproxy {
 public:
  struct Options {
    HostMap hosts{};  // what the proxy resolves (its private /etc/hosts); other names fail
    std::optional<BasicAuth> basic_auth{};  // without credentials: 407; wrong ones: 401 (sic)
    bool refuse_all = false;                // every request, CONNECT included, gets "403 Filtered"
  };
  explicit Tinyproxy(const Options& options);

  [[nodiscard]] static bool Installed(std::string* why);
  [[nodiscard]] std::string Port() const { return std::to_string(port_); }
  [[nodiscard]] std::uint16_t PortNumber() const { return port_; }
  [[nodiscard]] std::string Log() const;
  // The proxy received "CONNECT host_port" (also when it then refused it), e.g. "allowed.test:80".
  [[nodiscard]] bool SawConnect(std::string_view host_port) const;

 private:
  TempDir dir_;
  std::uint16_t port_ = 0;
  std::unique_ptr<PeerProcess> process_;
};

class Microsocks {
 public:
  struct Options {
    HostMap hosts{};                  // what the proxy resolves (its private /etc/hosts)
    std::optional<BasicAuth> auth{};  // -u/-P: then only username/password (RFC 1929) is accepted
  };
  explicit Microsocks(const Options& options);

  [[nodiscard]] static bool Installed(std::string* why);
  [[nodiscard]] std::string Port() const { return std::to_string(port_); }
  [[nodiscard]] std::uint16_t PortNumber() const { return port_; }
  [[nodiscard]] std::string Log() const;  // its stderr (microsocks logs little)

 private:
  TempDir dir_;
  std::uint16_t port_ = 0;
  std::unique_ptr<PeerProcess> process_;
};

// A hand-built DNS query over UDP to 127.0.0.1:port; nullopt when no answer came in time.
enum class DnsType : std::uint16_t { kA = 1, kCname = 5, kAaaa = 28 };
struct DnsReply {
  int rcode = -1;                      // 0 NOERROR, 3 NXDOMAIN, 5 REFUSED
  int answers = 0;                     // records in the answer section, CNAMEs included
  std::vector<std::string> addresses;  // A and AAAA answers as text
  std::uint32_t min_ttl = 0;           // over all answers
};
[[nodiscard]] std::optional<DnsReply> QueryDns(
    std::uint16_t port, std::string_view name, DnsType type = DnsType::kA,
    std::chrono::milliseconds timeout = std::chrono::milliseconds(1000));

}  // namespace sandgate::testing
