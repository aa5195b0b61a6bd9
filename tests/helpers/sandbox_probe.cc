// sandbox_probe: performs one action inside a sandbox and reports what happened, so that tests
// (and attacks in tests/escape) do not depend on which shell tools a machine has.
//
// Output: "ok" (exit 0) or "err ENAME" (exit 1), except for the commands that print a value.
#include <arpa/inet.h>
#include <fcntl.h>
#include <linux/io_uring.h>
#include <netinet/in.h>
#include <sched.h>
#include <sys/mount.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <cerrno>
#include <csignal>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <fstream>
#include <iostream>
#include <string>

namespace {

int Report(int rc) {
  if (rc >= 0) {
    std::puts("ok");
    return 0;
  }
  const char* name = strerrorname_np(errno);
  std::printf("err %s\n", name ? name : "?");
  return 1;
}

int Socket(const std::string& kind) {
  if (kind == "inet") return Report(socket(AF_INET, SOCK_STREAM, 0));
  if (kind == "inet6") return Report(socket(AF_INET6, SOCK_DGRAM, 0));
  if (kind == "unix") return Report(socket(AF_UNIX, SOCK_STREAM, 0));
  if (kind == "netlink") return Report(socket(AF_NETLINK, SOCK_RAW, 0));
  if (kind == "packet") return Report(socket(AF_PACKET, SOCK_RAW, 0));
  if (kind == "raw") return Report(socket(AF_INET, SOCK_RAW, IPPROTO_ICMP));
  std::fprintf(stderr, "unknown socket kind %s\n", kind.c_str());
  return 2;
}

int Connect(const char* address, const char* port) {
  int fd = socket(AF_INET, SOCK_STREAM, 0);
  if (fd < 0) return Report(fd);
  sockaddr_in sa{};
  sa.sin_family = AF_INET;
  sa.sin_port = htons(static_cast<uint16_t>(std::atoi(port)));
  inet_pton(AF_INET, address, &sa.sin_addr);
  return Report(connect(fd, reinterpret_cast<sockaddr*>(&sa), sizeof sa));
}

int CapEff() {
  std::ifstream status("/proc/self/status");
  std::string line;
  while (std::getline(status, line)) {
    if (line.rfind("CapEff:", 0) == 0) {
      std::cout << line.substr(line.find_first_not_of(" \t", 7)) << "\n";
      return 0;
    }
  }
  return 2;
}

}  // namespace

int main(int argc, char** argv) {
  if (argc < 2) {
    std::fputs("usage: sandbox_probe COMMAND [ARGS]\n", stderr);
    return 2;
  }
  std::string cmd = argv[1];
  auto arg = [&](int i) -> const char* { return i < argc ? argv[i] : ""; };
  if (cmd == "capeff") return CapEff();
  if (cmd == "pid") {
    std::printf("%d\n", getpid());
    return 0;
  }
  if (cmd == "write") {
    int fd = open(arg(2), O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0644);
    if (fd >= 0 && write(fd, "x", 1) != 1) fd = -1;
    return Report(fd);
  }
  if (cmd == "link") return Report(link(arg(2), arg(3)));
  if (cmd == "write-fd") return Report(static_cast<int>(write(std::atoi(arg(2)), "x", 1)));
  if (cmd == "mkdir") return Report(mkdir(arg(2), 0755));
  if (cmd == "symlink") return Report(symlink(arg(2), arg(3)));
  if (cmd == "rename") return Report(rename(arg(2), arg(3)));
  if (cmd == "unlink") return Report(unlink(arg(2)));
  if (cmd == "rmdir") return Report(rmdir(arg(2)));
  if (cmd == "socket") return Socket(arg(2));
  if (cmd == "connect") return Connect(arg(2), arg(3));
  if (cmd == "remount-rw") return Report(mount(nullptr, "/", nullptr, MS_REMOUNT | MS_BIND, nullptr));
  if (cmd == "mount-tmpfs") return Report(mount("none", arg(2), "tmpfs", 0, nullptr));
  if (cmd == "unshare-net") return Report(unshare(CLONE_NEWNET));
  if (cmd == "unshare-user") return Report(unshare(CLONE_NEWUSER));
  if (cmd == "clone-newuser") {
    long pid = syscall(SYS_clone, CLONE_NEWUSER | SIGCHLD, nullptr, nullptr, nullptr, 0);
    if (pid == 0) _exit(0);
    return Report(static_cast<int>(pid));
  }
  if (cmd == "setns") {
    int fd = open(arg(2), O_RDONLY | O_CLOEXEC);
    if (fd < 0) return Report(fd);
    return Report(setns(fd, 0));
  }
  if (cmd == "io_uring") {
    io_uring_params params{};
    return Report(static_cast<int>(syscall(SYS_io_uring_setup, 4, &params)));
  }
  if (cmd == "x32-getpid") {
    // The x32 ABI: the native syscall number with bit 30 set. The filter must kill this.
    constexpr long kX32Bit = 0x40000000;
    return Report(static_cast<int>(syscall(kX32Bit | SYS_getpid)));
  }
  if (cmd == "sleep-ready") {
    std::puts("ready");
    std::fflush(stdout);
    for (;;) pause();
  }
  if (cmd == "exit") return std::atoi(arg(2));
  if (cmd == "kill-self") {
    raise(std::atoi(arg(2)));
    return 99;
  }
  std::fprintf(stderr, "unknown command %s\n", cmd.c_str());
  return 2;
}
