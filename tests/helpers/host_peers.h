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
