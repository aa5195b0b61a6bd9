#pragma once

#include <atomic>
#include <cstdint>
#include <string>
#include <thread>

namespace sandgate::testing {

// An HTTP/1.0 server on the host's 127.0.0.1 that answers every request with 200 and the body
// "ok", so that curl inside a sandbox has a real server to talk to (directly or through a
// proxy). Counts the requests it answered.
class HostHttpServer {
 public:
  HostHttpServer();
  ~HostHttpServer();
  HostHttpServer(const HostHttpServer&) = delete;
  HostHttpServer& operator=(const HostHttpServer&) = delete;

  [[nodiscard]] std::string Port() const { return std::to_string(port_); }
  [[nodiscard]] int Served() const { return served_.load(); }

 private:
  int fd_ = -1;
  std::uint16_t port_ = 0;
  std::atomic<int> served_{0};
  std::atomic<bool> stop_{false};
  std::thread thread_;
};

}  // namespace sandgate::testing
