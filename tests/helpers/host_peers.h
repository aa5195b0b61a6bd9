#pragma once

#include <atomic>
#include <cstdint>
#include <string>
#include <thread>

namespace sandgate::testing {

// A TCP listener on the host's 127.0.0.1 that counts every connection made to it. The count is
// what escape tests check: a contact is a contact. The kernel completes handshakes into the
// backlog by itself; Accepted() drains the backlog when asked, so the count is exact at that
// moment (an accepting thread would race the test's check).
class HostTcpListener {
 public:
  HostTcpListener();
  ~HostTcpListener();
  HostTcpListener(const HostTcpListener&) = delete;
  HostTcpListener& operator=(const HostTcpListener&) = delete;

  [[nodiscard]] std::string Port() const { return std::to_string(port_); }
  [[nodiscard]] int Accepted();

 private:
  int fd_ = -1;
  std::uint16_t port_ = 0;
  int accepted_ = 0;
};

// Where a HostUnixListener's name lives: a filesystem path, or the abstract namespace of the
// host's network namespace (the name without its leading NUL).
enum class UnixName { kPath, kAbstract };

// A listening AF_UNIX stream socket on the host that counts every connection made to it, exactly
// like HostTcpListener: connections wait in the backlog and Accepted() drains it when asked. A
// path socket is unlinked again when the listener dies.
class HostUnixListener {
 public:
  explicit HostUnixListener(std::string name, UnixName kind = UnixName::kPath);
  ~HostUnixListener();
  HostUnixListener(const HostUnixListener&) = delete;
  HostUnixListener& operator=(const HostUnixListener&) = delete;

  [[nodiscard]] const std::string& Name() const { return name_; }
  [[nodiscard]] int Accepted();

 private:
  int fd_ = -1;
  std::string name_;
  UnixName kind_;
  int accepted_ = 0;
};

// A UDP echo server on the host's 127.0.0.1 that counts the datagrams it receives.
class HostUdpEcho {
 public:
  HostUdpEcho();
  ~HostUdpEcho();
  HostUdpEcho(const HostUdpEcho&) = delete;
  HostUdpEcho& operator=(const HostUdpEcho&) = delete;

  [[nodiscard]] std::string Port() const { return std::to_string(port_); }
  [[nodiscard]] int Received() const { return received_.load(); }

 private:
  int fd_ = -1;
  std::uint16_t port_ = 0;
  std::atomic<int> received_{0};
  std::atomic<bool> stop_{false};
  std::thread thread_;
};

}  // namespace sandgate::testing
