#include "tests/helpers/http_server.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <stdexcept>

namespace sandgate::testing {

HostHttpServer::HostHttpServer() {
  fd_ = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  sockaddr_in sa{};
  sa.sin_family = AF_INET;
  sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  socklen_t len = sizeof sa;
  if (bind(fd_, reinterpret_cast<sockaddr*>(&sa), len) != 0 || listen(fd_, 64) != 0 ||
      getsockname(fd_, reinterpret_cast<sockaddr*>(&sa), &len) != 0) {
    throw std::runtime_error("HostHttpServer: cannot listen");
  }
  port_ = ntohs(sa.sin_port);
  thread_ = std::thread([this] {
    while (!stop_) {
      pollfd p{fd_, POLLIN, 0};
      if (poll(&p, 1, 50) != 1) continue;
      int client = accept4(fd_, nullptr, nullptr, SOCK_CLOEXEC);
      if (client < 0) continue;
      // Read the request head (it is small) before answering, as a server does.
      std::string head;
      char buf[4096];
      while (head.find("\r\n\r\n") == std::string::npos) {
        pollfd c{client, POLLIN, 0};
        if (poll(&c, 1, 5000) != 1) break;
        ssize_t n = read(client, buf, sizeof buf);
        if (n <= 0) break;
        head.append(buf, static_cast<std::size_t>(n));
      }
      static constexpr char kAnswer[] =
          "HTTP/1.0 200 OK\r\nContent-Type: text/plain\r\nContent-Length: 2\r\n\r\nok";
      if (head.find("\r\n\r\n") != std::string::npos &&
          write(client, kAnswer, sizeof kAnswer - 1) == static_cast<ssize_t>(sizeof kAnswer - 1)) {
        ++served_;
      }
      close(client);
    }
  });
}

HostHttpServer::~HostHttpServer() {
  stop_ = true;
  thread_.join();
  close(fd_);
}

}  // namespace sandgate::testing
