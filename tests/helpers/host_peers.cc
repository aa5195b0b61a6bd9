#include "tests/helpers/host_peers.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <poll.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include <cerrno>
#include <cstddef>
#include <cstring>
#include <stdexcept>
#include <utility>

namespace sandgate::testing {
namespace {

int BoundLoopbackSocket(int type, std::uint16_t* port) {
  int fd = socket(AF_INET, type | SOCK_CLOEXEC, 0);
  sockaddr_in sa{};
  sa.sin_family = AF_INET;
  sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  socklen_t len = sizeof sa;
  if (fd < 0 || bind(fd, reinterpret_cast<sockaddr*>(&sa), len) != 0 ||
      getsockname(fd, reinterpret_cast<sockaddr*>(&sa), &len) != 0) {
    throw std::runtime_error("cannot bind a loopback socket");
  }
  *port = ntohs(sa.sin_port);
  return fd;
}

// Waits up to 50 ms for `fd` to be readable, so that the loops notice stop_.
bool Readable(int fd) {
  pollfd p{fd, POLLIN, 0};
  return poll(&p, 1, 50) == 1;
}

}  // namespace

HostTcpListener::HostTcpListener() {
  fd_ = BoundLoopbackSocket(SOCK_STREAM | SOCK_NONBLOCK, &port_);
  // Large enough for every test's connections to wait in the backlog until Accepted().
  if (listen(fd_, 4096) != 0) throw std::runtime_error("listen failed");
}

HostTcpListener::~HostTcpListener() { close(fd_); }

int HostTcpListener::Accepted() {
  for (;;) {
    int client = accept4(fd_, nullptr, nullptr, SOCK_CLOEXEC);
    if (client < 0) return accepted_;
    ++accepted_;
    close(client);
  }
}

HostUnixListener::HostUnixListener(std::string name, UnixName kind)
    : name_(std::move(name)), kind_(kind) {
  sockaddr_un sa{};
  sa.sun_family = AF_UNIX;
  // A path needs its terminating NUL inside sun_path; an abstract name its leading one.
  if (name_.empty() || name_.size() + 1 > sizeof sa.sun_path) {
    throw std::runtime_error("bad unix socket name: " + name_);
  }
  socklen_t len = 0;
  if (kind_ == UnixName::kAbstract) {
    std::memcpy(sa.sun_path + 1, name_.data(), name_.size());
    len = static_cast<socklen_t>(offsetof(sockaddr_un, sun_path) + 1 + name_.size());
  } else {
    std::memcpy(sa.sun_path, name_.data(), name_.size());
    len = sizeof sa;
  }
  fd_ = socket(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
  const bool bound = fd_ >= 0 && bind(fd_, reinterpret_cast<sockaddr*>(&sa), len) == 0;
  // Large enough for every test's connections to wait in the backlog until Accepted().
  if (!bound || listen(fd_, 4096) != 0) {
    const std::string why = std::strerror(errno);
    if (fd_ >= 0) close(fd_);
    if (bound && kind_ == UnixName::kPath) unlink(name_.c_str());
    throw std::runtime_error("cannot listen on unix socket " + name_ + ": " + why);
  }
}

HostUnixListener::~HostUnixListener() {
  close(fd_);
  if (kind_ == UnixName::kPath) unlink(name_.c_str());
}

int HostUnixListener::Accepted() {
  for (;;) {
    int client = accept4(fd_, nullptr, nullptr, SOCK_CLOEXEC);
    if (client < 0) return accepted_;
    ++accepted_;
    close(client);
  }
}

HostUdpEcho::HostUdpEcho() {
  fd_ = BoundLoopbackSocket(SOCK_DGRAM, &port_);
  thread_ = std::thread([this] {
    while (!stop_) {
      if (!Readable(fd_)) continue;
      char buf[2048];
      sockaddr_storage from{};
      socklen_t len = sizeof from;
      ssize_t n = recvfrom(fd_, buf, sizeof buf, 0, reinterpret_cast<sockaddr*>(&from), &len);
      if (n < 0) continue;
      ++received_;
      sendto(fd_, buf, static_cast<size_t>(n), 0, reinterpret_cast<sockaddr*>(&from), len);
    }
  });
}

HostUdpEcho::~HostUdpEcho() {
  stop_ = true;
  thread_.join();
  close(fd_);
}

}  // namespace sandgate::testing
