// sandbox_probe: performs one action inside a sandbox and reports what happened, so that tests
// (and attacks in tests/escape) do not depend on which shell tools a machine has. Over 600 lines
// because every action of every suite is here, in one binary.
//
// Output: "ok" (exit 0) or "err ENAME" (exit 1), except for the commands that print a value.
#include <arpa/inet.h>
#include <fcntl.h>
#include <linux/audit.h>
#include <linux/filter.h>
#include <linux/io_uring.h>
#include <linux/seccomp.h>
#include <netinet/in.h>
#include <sched.h>
#include <sys/ioctl.h>
#include <sys/mount.h>
#include <linux/vm_sockets.h>
#include <sys/prctl.h>
#include <sys/ptrace.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <cerrno>
#include <csignal>
#include <cstddef>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <algorithm>
#include <atomic>
#include <ctime>
#include <filesystem>
#include <fstream>
#include <iostream>
#include <latch>
#include <string>
#include <thread>
#include <vector>

#include "tests/helpers/busy_work.h"

#include <netinet/tcp.h>
#include <poll.h>
#include <sys/un.h>
#include <sys/wait.h>

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

sockaddr_in V4(const char* address, const char* port) {
  sockaddr_in sa{};
  sa.sin_family = AF_INET;
  sa.sin_port = htons(static_cast<uint16_t>(std::atoi(port)));
  inet_pton(AF_INET, address, &sa.sin_addr);
  return sa;
}

int Connect(const char* address, const char* port) {
  int fd = socket(AF_INET, SOCK_STREAM, 0);
  if (fd < 0) return Report(fd);
  auto sa = V4(address, port);
  return Report(connect(fd, reinterpret_cast<sockaddr*>(&sa), sizeof sa));
}

int Connect6(const char* address, const char* port) {
  int fd = socket(AF_INET6, SOCK_STREAM, 0);
  if (fd < 0) return Report(fd);
  sockaddr_in6 sa{};
  sa.sin6_family = AF_INET6;
  sa.sin6_port = htons(static_cast<uint16_t>(std::atoi(port)));
  inet_pton(AF_INET6, address, &sa.sin6_addr);
  return Report(connect(fd, reinterpret_cast<sockaddr*>(&sa), sizeof sa));
}

int RawConnect(const char* address, const char* port) {
  int fd = static_cast<int>(syscall(SYS_socket, AF_INET, SOCK_STREAM, 0));
  auto sa = V4(address, port);
  return Report(static_cast<int>(syscall(SYS_connect, fd, &sa, sizeof sa)));
}

int ConnectNonblocking(const char* address, const char* port) {
  int fd = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK, 0);
  auto sa = V4(address, port);
  int rc = connect(fd, reinterpret_cast<sockaddr*>(&sa), sizeof sa);
  if (rc != 0 && errno != EINPROGRESS) return Report(rc);
  pollfd p{fd, POLLOUT, 0};
  if (poll(&p, 1, 10000) != 1) {
    errno = ETIMEDOUT;
    return Report(-1);
  }
  int error = 0;
  socklen_t len = sizeof error;
  getsockopt(fd, SOL_SOCKET, SO_ERROR, &error, &len);
  if (error != 0) {
    errno = error;
    return Report(-1);
  }
  // The socket must really be connected and non-blocking still.
  if ((fcntl(fd, F_GETFL) & O_NONBLOCK) == 0) {
    errno = EPROTO;
    return Report(-1);
  }
  return Report(0);
}

// Sends "ping" by `how` and waits up to 5 s for the echo; "ok" only if "ping" came back.
int Udp(const std::string& how, const char* address, const char* port) {
  int fd = socket(AF_INET, SOCK_DGRAM, 0);
  auto sa = V4(address, port);
  char msg[] = "ping";
  ssize_t rc = -1;
  if (how == "sendto") {
    rc = sendto(fd, msg, 4, 0, reinterpret_cast<sockaddr*>(&sa), sizeof sa);
  } else if (how == "sendmsg") {
    iovec iov{msg, 4};
    msghdr m{};
    m.msg_name = &sa;
    m.msg_namelen = sizeof sa;
    m.msg_iov = &iov;
    m.msg_iovlen = 1;
    rc = sendmsg(fd, &m, 0);
  } else if (how == "sendmmsg") {
    iovec iov{msg, 4};
    mmsghdr mm{};
    mm.msg_hdr.msg_name = &sa;
    mm.msg_hdr.msg_namelen = sizeof sa;
    mm.msg_hdr.msg_iov = &iov;
    mm.msg_hdr.msg_iovlen = 1;
    rc = sendmmsg(fd, &mm, 1, 0);
  } else if (how == "connect-send") {
    rc = connect(fd, reinterpret_cast<sockaddr*>(&sa), sizeof sa);
    if (rc == 0) rc = send(fd, msg, 4, 0);
  } else if (how == "sendmsg-gather" || how == "connect-sendmsg-gather") {
    // "ping" in two buffers, with the destination or on a connected socket.
    iovec iov[2] = {{msg, 2}, {msg + 2, 2}};
    msghdr m{};
    if (how == "sendmsg-gather") {
      m.msg_name = &sa;
      m.msg_namelen = sizeof sa;
    } else if (connect(fd, reinterpret_cast<sockaddr*>(&sa), sizeof sa) != 0) {
      return Report(-1);
    }
    m.msg_iov = iov;
    m.msg_iovlen = 2;
    rc = sendmsg(fd, &m, 0);
  }
  if (rc < 0) return Report(-1);
  pollfd p{fd, POLLIN, 0};
  if (poll(&p, 1, 5000) != 1) {
    errno = ETIMEDOUT;
    return Report(-1);
  }
  char reply[16] = {};
  if (recv(fd, reply, sizeof reply - 1, 0) != 4 || std::string(reply) != "ping") {
    errno = EBADMSG;
    return Report(-1);
  }
  return Report(0);
}

int FastOpen(const char* address, const char* port) {
  int fd = socket(AF_INET, SOCK_STREAM, 0);
  auto sa = V4(address, port);
  return Report(static_cast<int>(sendto(fd, "x", 1, MSG_FASTOPEN, reinterpret_cast<sockaddr*>(&sa), sizeof sa)));
}

// One connect, UDP send or Fast Open send (`kind`), made once by a worker thread while the main
// thread sends it SIGUSR1 every 2 ms until it is done: what Go's SIGURG preemption, profilers
// and JVMs do to a program whose connect waits for a decision. `mode` "restart" installs the
// handler with SA_RESTART; "retry" installs it without and repeats the call on EINTR, as careful
// programs do. Prints "ok signals=N" (for udp: the echo came back) or "err ENAME signals=N".
std::atomic<int> g_storm_signals{0};

int SignalStorm(const std::string& mode, const std::string& kind, const char* address,
                const char* port) {
  struct sigaction action {};
  action.sa_handler = [](int) { g_storm_signals.fetch_add(1); };
  action.sa_flags = mode == "restart" ? SA_RESTART : 0;
  sigaction(SIGUSR1, &action, nullptr);
  const auto sa = V4(address, port);
  std::atomic<pid_t> worker_tid{0};
  std::atomic<bool> done{false};
  int result = -1;
  int error = 0;
  std::thread worker([&] {
    worker_tid = static_cast<pid_t>(syscall(SYS_gettid));
    const bool udp = kind == "udp";
    int fd = socket(AF_INET, udp ? SOCK_DGRAM : SOCK_STREAM, 0);
    auto once = [&]() -> long {
      if (kind == "connect") return connect(fd, reinterpret_cast<const sockaddr*>(&sa), sizeof sa);
      if (kind == "tfo") {
        return sendto(fd, "x", 1, MSG_FASTOPEN, reinterpret_cast<const sockaddr*>(&sa), sizeof sa);
      }
      return sendto(fd, "ping", 4, 0, reinterpret_cast<const sockaddr*>(&sa), sizeof sa);
    };
    long rc;
    do {
      rc = once();
    } while (rc < 0 && errno == EINTR && mode == "retry");
    error = errno;
    if (rc >= 0 && udp) {
      // The reply must reach the socket that sent: wait for it (signals may interrupt the wait).
      pollfd p{fd, POLLIN, 0};
      int ready;
      do {
        ready = poll(&p, 1, 10000);
      } while (ready < 0 && errno == EINTR);
      char buf[16];
      rc = ready == 1 ? recv(fd, buf, sizeof buf, 0) : -1;
      error = ready == 1 ? errno : ETIMEDOUT;
      if (rc != 4) rc = -1;
    }
    result = rc >= 0 ? 0 : -1;
    done = true;
  });
  while (worker_tid == 0) std::this_thread::yield();
  while (!done) {
    syscall(SYS_tgkill, getpid(), worker_tid.load(), SIGUSR1);
    usleep(2000);
  }
  worker.join();
  if (result == 0) {
    std::printf("ok signals=%d\n", g_storm_signals.load());
    return 0;
  }
  const char* name = strerrorname_np(error);
  std::printf("err %s signals=%d\n", name ? name : "?", g_storm_signals.load());
  return 1;
}

int ConnectOnce(const sockaddr_in& sa) {
  int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  int rc = connect(fd, reinterpret_cast<const sockaddr*>(&sa), sizeof sa);
  close(fd);
  return rc;
}

// N threads connect at once; prints "ok=K err=M".
int Threads(int n, const char* address, const char* port) {
  auto sa = V4(address, port);
  std::atomic<int> ok{0}, err{0};
  std::vector<std::thread> threads;
  for (int i = 0; i < n; ++i) {
    threads.emplace_back([&] { (ConnectOnce(sa) == 0 ? ok : err)++; });
  }
  for (auto& t : threads) t.join();
  std::printf("ok=%d err=%d\n", ok.load(), err.load());
  return 0;
}

// N threads connect at once, each to an address of its own on the host's loopback
// (127.0.A.B:PORT, A from 1), so that each is an approval of its own; prints "ok=K err=M".
// All are created first and then released together: the N attempts are pending at once, and
// a measurement of how fast they are answered does not include the creation of the threads.
int ThreadsSpread(int n, const char* port) {
  std::atomic<int> ok{0}, err{0};
  std::latch go(1);
  std::vector<std::thread> threads;
  for (int i = 0; i < n; ++i) {
    const std::string address =
        "127.0." + std::to_string(1 + i / 254) + "." + std::to_string(1 + i % 254);
    threads.emplace_back([&ok, &err, &go, sa = V4(address.c_str(), port)] {
      go.wait();
      (ConnectOnce(sa) == 0 ? ok : err)++;
    });
  }
  go.count_down();
  for (auto& t : threads) t.join();
  std::printf("ok=%d err=%d\n", ok.load(), err.load());
  return 0;
}

// N processes connect at once; prints "ok=K err=M".
int Processes(int n, const char* address, const char* port) {
  auto sa = V4(address, port);
  std::vector<pid_t> children;
  for (int i = 0; i < n; ++i) {
    pid_t pid = fork();
    if (pid == 0) _exit(ConnectOnce(sa) == 0 ? 0 : 1);
    children.push_back(pid);
  }
  int ok = 0, err = 0;
  for (pid_t pid : children) {
    int status = 0;
    waitpid(pid, &status, 0);
    (WIFEXITED(status) && WEXITSTATUS(status) == 0 ? ok : err)++;
  }
  std::printf("ok=%d err=%d\n", ok, err);
  return 0;
}

int VforkConnect(const char* address, const char* port) {
  auto sa = V4(address, port);
  pid_t pid = vfork();
  if (pid == 0) {
    int fd = static_cast<int>(syscall(SYS_socket, AF_INET, SOCK_STREAM, 0));
    long rc = syscall(SYS_connect, fd, &sa, sizeof sa);
    _exit(rc == 0 ? 0 : 1);
  }
  int status = 0;
  waitpid(pid, &status, 0);
  errno = EPERM;
  return Report(WIFEXITED(status) && WEXITSTATUS(status) == 0 ? 0 : -1);
}

// A daemon (double fork, new session) connects; the result is reported through a pipe.
int DaemonConnect(const char* address, const char* port) {
  auto sa = V4(address, port);
  int fds[2];
  if (pipe(fds) != 0) return Report(-1);
  if (fork() == 0) {
    setsid();
    if (fork() == 0) {
      char result = ConnectOnce(sa) == 0 ? 'y' : 'n';
      ssize_t unused = write(fds[1], &result, 1);
      (void)unused;
      _exit(0);
    }
    _exit(0);
  }
  close(fds[1]);
  char result = 'n';
  ssize_t n = read(fds[0], &result, 1);
  errno = EPERM;
  return Report(n == 1 && result == 'y' ? 0 : -1);
}

// One thread flips the port of a shared sockaddr between `allowed` and `forbidden` while the main
// thread connects with it `iterations` times. Prints "ok=K err=M".
int SwapRace(const char* address, const char* allowed, const char* forbidden, int iterations) {
  static sockaddr_in shared;
  shared = V4(address, allowed);
  const uint16_t ports[2] = {htons(static_cast<uint16_t>(std::atoi(allowed))),
                             htons(static_cast<uint16_t>(std::atoi(forbidden)))};
  std::atomic<bool> stop{false};
  std::thread flipper([&] {
    for (unsigned i = 0; !stop.load(std::memory_order_relaxed); ++i) {
      reinterpret_cast<volatile uint16_t&>(shared.sin_port) = ports[i & 1];
    }
  });
  int ok = 0, err = 0;
  for (int i = 0; i < iterations; ++i) {
    // Each attempt starts from the two ports in turn: a flipper that gets no CPU while the
    // connects run (two vCPUs, a busy machine) would otherwise leave every attempt on one port.
    reinterpret_cast<volatile uint16_t&>(shared.sin_port) = ports[i & 1];
    int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    (connect(fd, reinterpret_cast<sockaddr*>(&shared), sizeof shared) == 0 ? ok : err)++;
    close(fd);
  }
  stop = true;
  flipper.join();
  std::printf("ok=%d err=%d\n", ok, err);
  return 0;
}

int UnixConnect(const std::string& name, bool abstract) {
  int fd = socket(AF_UNIX, SOCK_STREAM, 0);
  sockaddr_un sa{};
  sa.sun_family = AF_UNIX;
  socklen_t len;
  if (abstract) {
    std::memcpy(sa.sun_path + 1, name.data(), name.size());
    len = static_cast<socklen_t>(offsetof(sockaddr_un, sun_path) + 1 + name.size());
  } else {
    std::strncpy(sa.sun_path, name.c_str(), sizeof sa.sun_path - 1);
    len = sizeof sa;
  }
  return Report(connect(fd, reinterpret_cast<sockaddr*>(&sa), len));
}

sockaddr_un UnixPath(const std::string& path) {
  sockaddr_un sa{};
  sa.sun_family = AF_UNIX;
  std::strncpy(sa.sun_path, path.c_str(), sizeof sa.sun_path - 1);
  return sa;
}

int UnixConnectOnce(const sockaddr_un& sa, int type) {
  int fd = socket(AF_UNIX, type | SOCK_CLOEXEC, 0);
  int rc = connect(fd, reinterpret_cast<const sockaddr*>(&sa), sizeof sa);
  close(fd);
  return rc;
}

// A non-blocking unix stream connect; "ok" only if the socket ends up connected and still
// non-blocking.
int UnixConnectNonblocking(const std::string& path) {
  int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK, 0);
  auto sa = UnixPath(path);
  int rc = connect(fd, reinterpret_cast<sockaddr*>(&sa), sizeof sa);
  if (rc != 0 && errno != EINPROGRESS) return Report(rc);
  pollfd p{fd, POLLOUT, 0};
  if (poll(&p, 1, 10000) != 1) {
    errno = ETIMEDOUT;
    return Report(-1);
  }
  sockaddr_un peer{};
  socklen_t len = sizeof peer;
  if (getpeername(fd, reinterpret_cast<sockaddr*>(&peer), &len) != 0) return Report(-1);
  if ((fcntl(fd, F_GETFL) & O_NONBLOCK) == 0) {
    errno = EPROTO;
    return Report(-1);
  }
  return Report(0);
}

// Connects a datagram socket to PATH and sends "ping" on it.
int UnixConnectDgram(const std::string& path) {
  int fd = socket(AF_UNIX, SOCK_DGRAM, 0);
  auto sa = UnixPath(path);
  if (connect(fd, reinterpret_cast<sockaddr*>(&sa), sizeof sa) != 0) return Report(-1);
  return Report(static_cast<int>(send(fd, "ping", 4, 0)));
}

// Sends "ping" to PATH from an unconnected datagram socket.
int UnixSendtoDgram(const std::string& path) {
  int fd = socket(AF_UNIX, SOCK_DGRAM, 0);
  auto sa = UnixPath(path);
  return Report(
      static_cast<int>(sendto(fd, "ping", 4, 0, reinterpret_cast<sockaddr*>(&sa), sizeof sa)));
}

// Plants the symlink LINK -> TARGET, then connects to LINK.
int SymlinkUnixConnect(const char* target, const std::string& link) {
  if (symlink(target, link.c_str()) != 0) return Report(-1);
  return Report(UnixConnectOnce(UnixPath(link), SOCK_STREAM));
}

// Like SwapRace for path sockets: one thread rewrites sun_path between two paths of the same
// length while the main thread connects with it `iterations` times. Prints "ok=K err=M".
int UnixSwapRace(const std::string& allowed, const std::string& forbidden, int iterations) {
  static sockaddr_un shared;
  if (allowed.size() != forbidden.size() || allowed.size() >= sizeof shared.sun_path) {
    std::fputs("unix-swap-race: the paths must have the same length\n", stderr);
    return 2;
  }
  shared = UnixPath(allowed);
  const std::string* paths[2] = {&allowed, &forbidden};
  // The tests pass paths that differ in one byte: every read sees one whole path or the other.
  auto write_path = [](const std::string& path) {
    volatile char* bytes = shared.sun_path;
    for (std::size_t k = 0; k < path.size(); ++k) bytes[k] = path[k];
  };
  std::atomic<bool> stop{false};
  std::thread flipper([&] {
    for (unsigned i = 0; !stop.load(std::memory_order_relaxed); ++i) write_path(*paths[i & 1]);
  });
  int ok = 0, err = 0;
  for (int i = 0; i < iterations; ++i) {
    // Each attempt starts from the two paths in turn: a flipper that gets no CPU while the
    // connects run (two vCPUs, a busy machine) would otherwise leave every attempt on one path.
    write_path(*paths[i & 1]);
    (UnixConnectOnce(shared, SOCK_STREAM) == 0 ? ok : err)++;
  }
  stop = true;
  flipper.join();
  std::printf("ok=%d err=%d\n", ok, err);
  return 0;
}

// One thread writes a destination (PATH) into a msghdr and takes it out again, over and over,
// while the main thread sends it with sendmsg on an unconnected unix datagram socket
// `iterations` times. Without a destination the send fails; a send that succeeds reached PATH.
// Prints "ok=K err=M".
int UnixDgramNameRace(const std::string& path, int iterations) {
  static sockaddr_un target;
  static char payload = 'x';
  static iovec iov{&payload, 1};
  static msghdr msg;
  target = UnixPath(path);
  msg.msg_iov = &iov;
  msg.msg_iovlen = 1;
  const int fd = socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC, 0);
  if (fd < 0) return Report(fd);
  std::atomic<bool> stop{false};
  std::thread flipper([&] {
    volatile msghdr* shared = &msg;
    for (unsigned i = 0; !stop.load(std::memory_order_relaxed); ++i) {
      shared->msg_name = (i & 1) != 0 ? &target : nullptr;
      shared->msg_namelen = (i & 1) != 0 ? sizeof target : 0;
    }
  });
  int ok = 0, err = 0;
  for (int i = 0; i < iterations; ++i) {
    (sendmsg(fd, &msg, MSG_DONTWAIT) >= 0 ? ok : err)++;
  }
  stop = true;
  flipper.join();
  std::printf("ok=%d err=%d\n", ok, err);
  return 0;
}

// A datagram socketpair inside the sandbox: "hello" and a pipe's write end go over with
// sendmsg (no destination, SCM_RIGHTS), and the fd received works. Prints "ok" or what failed.
int UnixDgramPassFd() {
  int pair[2], pipe_fds[2];
  if (socketpair(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC, 0, pair) != 0 || pipe2(pipe_fds, O_CLOEXEC) != 0) {
    return Report(-1);
  }
  char data[] = "hello";
  iovec iov{data, sizeof data};
  alignas(cmsghdr) char control[CMSG_SPACE(sizeof(int))] = {};
  msghdr msg{};
  msg.msg_iov = &iov;
  msg.msg_iovlen = 1;
  msg.msg_control = control;
  msg.msg_controllen = sizeof control;
  cmsghdr* c = CMSG_FIRSTHDR(&msg);
  c->cmsg_level = SOL_SOCKET;
  c->cmsg_type = SCM_RIGHTS;
  c->cmsg_len = CMSG_LEN(sizeof(int));
  std::memcpy(CMSG_DATA(c), &pipe_fds[1], sizeof(int));
  if (sendmsg(pair[0], &msg, 0) != static_cast<ssize_t>(sizeof data)) return Report(-1);
  char got[16] = {};
  iovec in{got, sizeof got};
  alignas(cmsghdr) char received[CMSG_SPACE(sizeof(int))] = {};
  msghdr back{};
  back.msg_iov = &in;
  back.msg_iovlen = 1;
  back.msg_control = received;
  back.msg_controllen = sizeof received;
  if (recvmsg(pair[1], &back, 0) != static_cast<ssize_t>(sizeof data)) return Report(-1);
  cmsghdr* r = CMSG_FIRSTHDR(&back);
  if (r == nullptr || r->cmsg_type != SCM_RIGHTS || std::strcmp(got, "hello") != 0) {
    std::puts("err no fd or wrong data");
    return 1;
  }
  int passed = -1;
  std::memcpy(&passed, CMSG_DATA(r), sizeof passed);
  char byte = 'z', echoed = 0;
  if (write(passed, &byte, 1) != 1 || read(pipe_fds[0], &echoed, 1) != 1 || echoed != 'z') {
    return Report(-1);
  }
  std::puts("ok");
  return 0;
}

// One thread re-points the symlink LINK between two targets (a new link renamed over the old
// one, so LINK always exists) while the main thread connects to LINK `iterations` times. Prints
// "ok=K err=M".
int UnixSymlinkRace(const std::string& link, const char* allowed, const char* forbidden,
                    int iterations) {
  const std::string fresh = link + ".new";
  if (symlink(allowed, link.c_str()) != 0) return Report(-1);
  const char* targets[2] = {allowed, forbidden};
  std::atomic<bool> stop{false};
  std::thread flipper([&] {
    for (unsigned i = 1; !stop.load(std::memory_order_relaxed); ++i) {
      unlink(fresh.c_str());
      if (symlink(targets[i & 1], fresh.c_str()) == 0) rename(fresh.c_str(), link.c_str());
    }
  });
  const auto sa = UnixPath(link);
  int ok = 0, err = 0;
  for (int i = 0; i < iterations; ++i) (UnixConnectOnce(sa, SOCK_STREAM) == 0 ? ok : err)++;
  stop = true;
  flipper.join();
  std::printf("ok=%d err=%d\n", ok, err);
  return 0;
}

// Opens PATH with O_PATH and connects to it through the magic link /proc/self/fd/N.
int UnixConnectProcFd(const char* path) {
  int handle = open(path, O_PATH | O_CLOEXEC);
  if (handle < 0) return Report(-1);
  return Report(UnixConnectOnce(UnixPath("/proc/self/fd/" + std::to_string(handle)), SOCK_STREAM));
}

// Binds and listens on the abstract NAME inside the sandbox, then connects to it.
int UnixAbstractSelf(const std::string& name) {
  int server = socket(AF_UNIX, SOCK_STREAM, 0);
  sockaddr_un sa{};
  sa.sun_family = AF_UNIX;
  std::memcpy(sa.sun_path + 1, name.data(), std::min(name.size(), sizeof sa.sun_path - 1));
  auto len = static_cast<socklen_t>(offsetof(sockaddr_un, sun_path) + 1 +
                                    std::min(name.size(), sizeof sa.sun_path - 1));
  if (bind(server, reinterpret_cast<sockaddr*>(&sa), len) != 0 || listen(server, 4) != 0) {
    return Report(-1);
  }
  int fd = socket(AF_UNIX, SOCK_STREAM, 0);
  return Report(connect(fd, reinterpret_cast<sockaddr*>(&sa), len));
}

// A listener inside the sandbox and a connect to it over the sandbox's own loopback.
int SelfLoopback() {
  int server = socket(AF_INET, SOCK_STREAM, 0);
  sockaddr_in sa{};
  sa.sin_family = AF_INET;
  sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  socklen_t len = sizeof sa;
  if (bind(server, reinterpret_cast<sockaddr*>(&sa), len) != 0 || listen(server, 4) != 0 ||
      getsockname(server, reinterpret_cast<sockaddr*>(&sa), &len) != 0) {
    return Report(-1);
  }
  return Report(ConnectOnce(sa));
}

// N connect+close cycles against a listener that accepts, each timed, after `work_us` of untimed
// work; prints the median cost in ns.
int ConnectBench(int n, const char* address, const char* port, int work_us) {
  auto sa = V4(address, port);
  std::vector<long> ns;
  for (int i = 0; i < n; ++i) {
    if (work_us > 0) sandgate::testing::BusyWork(work_us);
    timespec a{}, b{};
    clock_gettime(CLOCK_MONOTONIC, &a);
    int rc = ConnectOnce(sa);
    clock_gettime(CLOCK_MONOTONIC, &b);
    if (rc != 0) return Report(rc);
    ns.push_back((b.tv_sec - a.tv_sec) * 1000000000L + (b.tv_nsec - a.tv_nsec));
  }
  std::sort(ns.begin(), ns.end());
  std::printf("%ld\n", ns[ns.size() / 2]);
  return 0;
}

// Sends MIB mebibytes over one connection; prints MiB/s.
int StreamBench(int mib, const char* address, const char* port) {
  auto sa = V4(address, port);
  int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  if (connect(fd, reinterpret_cast<sockaddr*>(&sa), sizeof sa) != 0) return Report(-1);
  std::vector<char> chunk(1 << 16, 'x');
  timespec a{}, b{};
  clock_gettime(CLOCK_MONOTONIC, &a);
  long long left = static_cast<long long>(mib) << 20;
  while (left > 0) {
    ssize_t n = write(fd, chunk.data(), std::min<long long>(left, static_cast<long long>(chunk.size())));
    if (n <= 0) return Report(-1);
    left -= n;
  }
  shutdown(fd, SHUT_WR);
  char c;
  while (read(fd, &c, 1) > 0) {
  }
  clock_gettime(CLOCK_MONOTONIC, &b);
  double seconds = static_cast<double>(b.tv_sec - a.tv_sec) + static_cast<double>(b.tv_nsec - a.tv_nsec) / 1e9;
  std::printf("%.1f\n", mib / seconds);
  return 0;
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

#if defined(__x86_64__)
constexpr std::uint32_t kNativeArch = AUDIT_ARCH_X86_64;
#elif defined(__aarch64__)
constexpr std::uint32_t kNativeArch = AUDIT_ARCH_AARCH64;
#endif

// Runs `argv` under a seccomp filter (inherited by everything it starts) whose `rules` come
// after the check for the native architecture; anything the rules do not stop is allowed.
int RunUnder(std::vector<sock_filter> rules, char** argv) {
  std::vector<sock_filter> code = {
      BPF_STMT(BPF_LD | BPF_W | BPF_ABS, offsetof(seccomp_data, arch)),
      BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, kNativeArch, 1, 0),
      BPF_STMT(BPF_RET | BPF_K, SECCOMP_RET_ALLOW),
  };
  code.insert(code.end(), rules.begin(), rules.end());
  code.push_back(BPF_STMT(BPF_RET | BPF_K, SECCOMP_RET_ALLOW));
  sock_fprog program{static_cast<unsigned short>(code.size()), code.data()};
  if (prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) != 0 ||
      syscall(SYS_seccomp, SECCOMP_SET_MODE_FILTER, 0, &program) != 0) {
    return Report(-1);
  }
  execv(argv[0], argv);
  return Report(-1);
}

// setns(2) fails with EPERM: a machine where sandgate cannot enter the sandbox's namespaces.
int WithoutSetns(char** argv) {
  return RunUnder({BPF_STMT(BPF_LD | BPF_W | BPF_ABS, offsetof(seccomp_data, nr)),
                   BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, SYS_setns, 0, 1),
                   BPF_STMT(BPF_RET | BPF_K, SECCOMP_RET_ERRNO | EPERM)},
                  argv);
}

// A machine without user namespaces: unshare and clone with CLONE_NEWUSER fail with EPERM, and
// clone3 (whose flags a filter cannot read) with ENOSYS, so that libc falls back to clone.
int WithoutUserNamespaces(char** argv) {
  constexpr std::uint32_t kErrnoPerm = SECCOMP_RET_ERRNO | EPERM;
  return RunUnder(
      {BPF_STMT(BPF_LD | BPF_W | BPF_ABS, offsetof(seccomp_data, nr)),
       BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, SYS_clone3, 0, 1),
       BPF_STMT(BPF_RET | BPF_K, SECCOMP_RET_ERRNO | ENOSYS),
       BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, SYS_unshare, 1, 0),
       BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, SYS_clone, 0, 3),
       // The flags are the first argument of both (its low 32 bits on a little-endian machine).
       BPF_STMT(BPF_LD | BPF_W | BPF_ABS, offsetof(seccomp_data, args[0])),
       BPF_JUMP(BPF_JMP | BPF_JSET | BPF_K, CLONE_NEWUSER, 0, 1),
       BPF_STMT(BPF_RET | BPF_K, kErrnoPerm)},
      argv);
}

// A kernel without Landlock, imitated: its syscalls fail with ENOSYS.
int WithoutLandlock(char** argv) {
  constexpr std::uint32_t kNoSys = SECCOMP_RET_ERRNO | ENOSYS;
  return RunUnder(
      {BPF_STMT(BPF_LD | BPF_W | BPF_ABS, offsetof(seccomp_data, nr)),
       BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, SYS_landlock_create_ruleset, 2, 0),
       BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, SYS_landlock_add_rule, 1, 0),
       BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, SYS_landlock_restrict_self, 0, 1),
       BPF_STMT(BPF_RET | BPF_K, kNoSys)},
      argv);
}

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
  if (cmd == "connect-seq") {
    // N connects one after the other; prints "ok=K err=M".
    auto sa = V4(arg(3), arg(4));
    int ok = 0, err = 0;
    for (int i = 0; i < std::atoi(arg(2)); ++i) (ConnectOnce(sa) == 0 ? ok : err)++;
    std::printf("ok=%d err=%d\n", ok, err);
    return 0;
  }
  if (cmd == "sleep-after-connect") {
    Connect(arg(2), arg(3));
    std::fflush(stdout);
    for (;;) pause();
  }
  if (cmd == "connect-then-die") {
    // A child connects (and waits for its answer); the parent kills it after a moment.
    pid_t child = fork();
    if (child == 0) {
      Connect(arg(2), arg(3));
      _exit(0);
    }
    usleep(500 * 1000);
    kill(child, SIGKILL);
    waitpid(child, nullptr, 0);
    usleep(200 * 1000);
    return 0;
  }
  if (cmd == "exit-after-connect") {
    Connect(arg(2), arg(3));
    return 0;
  }
  if (cmd == "connect6") return Connect6(arg(2), arg(3));
  if (cmd == "raw-connect") return RawConnect(arg(2), arg(3));
  if (cmd == "connect-nonblock") return ConnectNonblocking(arg(2), arg(3));
  if (cmd == "udp") return Udp(arg(2), arg(3), arg(4));
  if (cmd == "tfo") return FastOpen(arg(2), arg(3));
  if (cmd == "threads") return Threads(std::atoi(arg(2)), arg(3), arg(4));
  if (cmd == "threads-spread") return ThreadsSpread(std::atoi(arg(2)), arg(3));
  if (cmd == "processes") return Processes(std::atoi(arg(2)), arg(3), arg(4));
  if (cmd == "vfork-connect") return VforkConnect(arg(2), arg(3));
  if (cmd == "daemon-connect") return DaemonConnect(arg(2), arg(3));
  if (cmd == "swap-race") return SwapRace(arg(2), arg(3), arg(4), std::atoi(arg(5)));
  if (cmd == "unix-connect") return UnixConnect(arg(2), false);
  if (cmd == "unix-abstract") return UnixConnect(arg(2), true);
  if (cmd == "unix-connect-nonblock") return UnixConnectNonblocking(arg(2));
  if (cmd == "unix-connect-dgram") return UnixConnectDgram(arg(2));
  if (cmd == "unix-sendto-dgram") return UnixSendtoDgram(arg(2));
  if (cmd == "symlink-unix-connect") return SymlinkUnixConnect(arg(2), arg(3));
  if (cmd == "unix-swap-race") return UnixSwapRace(arg(2), arg(3), std::atoi(arg(4)));
  if (cmd == "unix-dgram-name-race") return UnixDgramNameRace(arg(2), std::atoi(arg(3)));
  if (cmd == "unix-dgram-pass-fd") return UnixDgramPassFd();
  if (cmd == "unix-symlink-race") {
    return UnixSymlinkRace(arg(2), arg(3), arg(4), std::atoi(arg(5)));
  }
  if (cmd == "unix-connect-procfd") return UnixConnectProcFd(arg(2));
  if (cmd == "unix-abstract-self") return UnixAbstractSelf(arg(2));
  if (cmd == "self-loopback") return SelfLoopback();
  if (cmd == "connect-bench") {
    return ConnectBench(std::atoi(arg(2)), arg(3), arg(4), std::atoi(arg(5)));
  }
  if (cmd == "stream-bench") return StreamBench(std::atoi(arg(2)), arg(3), arg(4));
  if (cmd == "open-fds") {
    // Every open fd number except the one used to list them.
    std::string out;
    for (const auto& entry : std::filesystem::directory_iterator("/proc/self/fd")) {
      int fd = std::atoi(entry.path().filename().c_str());
      struct stat st {};
      if (fd >= 0 && fstat(fd, &st) == 0 && !S_ISDIR(st.st_mode)) out += std::to_string(fd) + " ";
    }
    if (!out.empty()) out.pop_back();
    std::puts(out.c_str());
    return 0;
  }
  if (cmd == "remount-rw") return Report(mount(nullptr, "/", nullptr, MS_REMOUNT | MS_BIND, nullptr));
  if (cmd == "umount") return Report(umount2(arg(2), MNT_DETACH));
  if (cmd == "tiocsti") {
    // Pushes a key into the terminal on stdin: possible only from that terminal's session.
    const char key = '\n';
    return Report(ioctl(STDIN_FILENO, TIOCSTI, &key));
  }
  if (cmd == "truncate") return Report(truncate(arg(2), 0));
  if (cmd == "reopen-write") {
    // A file opened for reading, opened again for writing through its /proc/self/fd link.
    int fd = open(arg(2), O_RDONLY | O_CLOEXEC);
    if (fd < 0) return Report(fd);
    const std::string again = "/proc/self/fd/" + std::to_string(fd);
    int w = open(again.c_str(), O_WRONLY | O_APPEND | O_CLOEXEC);
    if (w >= 0 && write(w, "x", 1) != 1) w = -1;
    return Report(w);
  }
  if (cmd == "read") {
    int fd = open(arg(2), O_RDONLY | O_CLOEXEC);
    char c;
    if (fd >= 0 && read(fd, &c, 1) < 0) fd = -1;
    return Report(fd);
  }
  if (cmd == "kill") return Report(kill(std::atoi(arg(2)), std::atoi(arg(3))));
  if (cmd == "ptrace") {
    const pid_t target = std::atoi(arg(2));
    long rc = ptrace(PTRACE_SEIZE, target, nullptr, nullptr);
    if (rc == 0) ptrace(PTRACE_DETACH, target, nullptr, nullptr);
    return Report(static_cast<int>(rc));
  }
  if (cmd == "vsock-connect") {
    // The hypervisor's side (CID 2): no network namespace confines vsock.
    int fd = socket(AF_VSOCK, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (fd < 0) return Report(fd);
    sockaddr_vm vm{};
    vm.svm_family = AF_VSOCK;
    vm.svm_cid = VMADDR_CID_HOST;
    vm.svm_port = 9999;
    return Report(connect(fd, reinterpret_cast<sockaddr*>(&vm), sizeof vm));
  }
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
  if (cmd == "int80-socket") {
    // socket(AF_INET, SOCK_STREAM, 0) through the 32-bit entry point (i386 number 359). The
    // filter must kill it (its architecture is not x86_64); a kernel without IA32 emulation
    // faults instead (SIGSEGV), which the test reports as a skip.
    long ret = 0;
    asm volatile("int $0x80" : "=a"(ret) : "a"(359L), "b"(static_cast<long>(AF_INET)), "c"(static_cast<long>(SOCK_STREAM)), "d"(0L) : "memory");
    errno = ret < 0 ? static_cast<int>(-ret) : 0;
    return Report(ret < 0 ? -1 : 0);
  }
  if (cmd == "sleep-ready") {
    std::puts("ready");
    std::fflush(stdout);
    for (;;) pause();
  }
  if (cmd == "exit") return std::atoi(arg(2));
  if (cmd == "signal-storm") return SignalStorm(arg(2), arg(3), arg(4), arg(5));
  if (cmd == "without-setns") return WithoutSetns(argv + 2);
  if (cmd == "without-userns") return WithoutUserNamespaces(argv + 2);
  if (cmd == "without-landlock") return WithoutLandlock(argv + 2);
  if (cmd == "kill-self") {
    raise(std::atoi(arg(2)));
    return 99;
  }
  std::fprintf(stderr, "unknown command %s\n", cmd.c_str());
  return 2;
}
