#include "pipelines/seccomp_filter.h"

#include <linux/filter.h>
#include <linux/seccomp.h>
#include <sched.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <sys/syscall.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <vector>

#include "base/unique_fd.h"

namespace sandgate::pipelines {
namespace {

// libseccomp returns -errno; keep the rule that failed in the message.
base::Status Check(int rc, const char* what) {
  if (rc < 0) return base::Error{-rc, std::string("seccomp: ") + what};
  return base::Ok{};
}

// Adds rules in order and keeps the first failure, so the rule list below reads as a list.
class RuleList {
 public:
  explicit RuleList(scmp_filter_ctx ctx) : ctx_(ctx) {}

  template <typename... Args>
  void Add(uint32_t action, int syscall, const char* what, Args... conditions) {
    if (!status_.Ok()) return;
    int rc = seccomp_rule_add(ctx_, action, syscall, sizeof...(Args), conditions...);
    status_ = Check(rc, what);
  }
  void SetBadArchAction(uint32_t action) {
    if (status_.Ok()) status_ = Check(seccomp_attr_set(ctx_, SCMP_FLTATR_ACT_BADARCH, action), "bad-arch action");
  }
  [[nodiscard]] base::Status Status() const { return status_; }

 private:
  scmp_filter_ctx ctx_;
  base::Status status_ = base::Ok{};
};

base::Status AddRules(scmp_filter_ctx ctx, NetworkMode network, SandboxNetwork where) {
  RuleList rules(ctx);
  // Anything not of the native architecture is killed: the 32-bit entry points (int $0x80 on
  // x86_64) have their own syscall numbers and would walk around every rule below. libseccomp
  // also sends x32 calls (syscall number with bit 30 set) to this action on x86_64.
  rules.SetBadArchAction(SCMP_ACT_KILL_PROCESS);

  // io_uring performs connect/sendmsg/openat in the kernel without passing through this filter.
  // ENOSYS (not EPERM) because that is what programs probe for to fall back to plain syscalls.
  rules.Add(SCMP_ACT_ERRNO(ENOSYS), SCMP_SYS(io_uring_setup), "io_uring_setup");
  rules.Add(SCMP_ACT_ERRNO(ENOSYS), SCMP_SYS(io_uring_enter), "io_uring_enter");
  rules.Add(SCMP_ACT_ERRNO(ENOSYS), SCMP_SYS(io_uring_register), "io_uring_register");

  // A new user namespace would hand the command a full set of capabilities over its own
  // namespaces. bwrap's --disable-userns already forbids it; this is the second wall.
  const scmp_datum_t newuser = CLONE_NEWUSER;
  rules.Add(SCMP_ACT_ERRNO(EPERM), SCMP_SYS(unshare), "unshare",
            SCMP_A0(SCMP_CMP_MASKED_EQ, newuser, newuser));
  rules.Add(SCMP_ACT_ERRNO(EPERM), SCMP_SYS(clone), "clone",
            SCMP_A0(SCMP_CMP_MASKED_EQ, newuser, newuser));
  // clone3 takes its flags in a struct the filter cannot read. ENOSYS makes glibc and others
  // fall back to clone, whose flags the rule above does see.
  rules.Add(SCMP_ACT_ERRNO(ENOSYS), SCMP_SYS(clone3), "clone3");
  // Joining another process's namespaces (for instance the host's network namespace through a
  // leaked /proc/PID/ns/net) is never something a sandboxed command needs.
  rules.Add(SCMP_ACT_ERRNO(EPERM), SCMP_SYS(setns), "setns");

  if (network == NetworkMode::kApprove) {
    // Every connect waits in the kernel until the supervisor decides: the filter cannot tell a
    // loopback connect inside the sandbox from one that needs approval (the address is behind a
    // pointer), and it cannot read the socket's family either.
    rules.Add(SCMP_ACT_NOTIFY, SCMP_SYS(connect), "connect");
    // A datagram (or TCP Fast Open) with an explicit destination is a connection attempt of its
    // own. sendto's destination pointer is an argument the filter sees: only non-null ones wait.
    rules.Add(SCMP_ACT_NOTIFY, SCMP_SYS(sendto), "sendto",
              SCMP_A4(SCMP_CMP_NE, static_cast<scmp_datum_t>(0)));
    // sendmsg/sendmmsg hide the destination inside a struct: all of them wait, and the supervisor
    // lets the ones without a destination continue.
    rules.Add(SCMP_ACT_NOTIFY, SCMP_SYS(sendmsg), "sendmsg");
    rules.Add(SCMP_ACT_NOTIFY, SCMP_SYS(sendmmsg), "sendmmsg");
    if (where == SandboxNetwork::kHost) {
      // Receiving reaches nothing: only the sender of a redirected DNS answer is rewritten,
      // every other receive continues. Only calls that ask for the sender wait.
      rules.Add(SCMP_ACT_NOTIFY, SCMP_SYS(recvfrom), "recvfrom",
                SCMP_A4(SCMP_CMP_NE, static_cast<scmp_datum_t>(0)));
    }
  }

  if (network == NetworkMode::kOff) {
    // Network off: only unix sockets (local IPC inside the sandbox) may be created. Every other
    // family fails the way a missing permission would.
    rules.Add(SCMP_ACT_ERRNO(EPERM), SCMP_SYS(socket), "socket",
              SCMP_A0(SCMP_CMP_NE, static_cast<scmp_datum_t>(AF_UNIX)));
  }
  return rules.Status();
}

}  // namespace

base::Result<SeccompFilter> BuildSeccompFilter(NetworkMode network, SandboxNetwork where) {
  SeccompFilter filter(seccomp_init(SCMP_ACT_ALLOW));
  if (!filter) return base::Error{ENOMEM, "seccomp_init"};
  if (auto s = AddRules(filter.get(), network, where); !s) return s.Err();
  return filter;
}

base::Result<std::string> ExportFilterPfc(const SeccompFilter& filter) {
  base::UniqueFd fd(::memfd_create("sandgate-pfc", MFD_CLOEXEC));
  if (!fd) return base::ErrnoError("memfd_create");
  if (auto s = Check(seccomp_export_pfc(filter.get(), fd.Get()), "export_pfc"); !s) return s.Err();
  std::string out;
  char buf[4096];
  off_t offset = 0;
  for (;;) {
    ssize_t n = ::pread(fd.Get(), buf, sizeof buf, offset);
    if (n < 0) return base::ErrnoError("pread(pfc)");
    if (n == 0) break;
    out.append(buf, static_cast<size_t>(n));
    offset += n;
  }
  return out;
}

base::Result<std::vector<sock_filter>> ExportFilterBpf(const SeccompFilter& filter) {
  // libseccomp 2.5 (Debian 12) cannot ask for SECCOMP_FILTER_FLAG_WAIT_KILLABLE_RECV, nor load
  // in another process: its program is exported and loaded by hand.
  base::UniqueFd fd(::memfd_create("sandgate-bpf", MFD_CLOEXEC));
  if (!fd) return base::ErrnoError("memfd_create");
  if (auto s = Check(seccomp_export_bpf(filter.get(), fd.Get()), "export_bpf"); !s) return s.Err();
  struct stat written {};
  if (::fstat(fd.Get(), &written) != 0) return base::ErrnoError("fstat(bpf)");
  const auto bytes = static_cast<std::size_t>(written.st_size);
  if (bytes % sizeof(sock_filter) != 0) {
    return base::Error{EPROTO, "exported BPF program is truncated"};
  }
  // One read of the whole program (a memfd reads whole), not one per instruction.
  std::vector<sock_filter> program(bytes / sizeof(sock_filter));
  const ssize_t n = ::pread(fd.Get(), program.data(), bytes, 0);
  if (n < 0) return base::ErrnoError("pread(bpf)");
  if (static_cast<std::size_t>(n) != bytes) {
    return base::Error{EPROTO, "exported BPF program is truncated"};
  }
  return program;
}

base::Result<LoadedFilter> LoadSeccompFilter(const SeccompFilter& filter, Listener listener,
                                             WaitKillable wait_killable) {
  auto program = ExportFilterBpf(filter);
  if (!program.Ok()) return program.Err();
  return LoadSeccompProgram(program->data(), program->size(), listener, wait_killable);
}

}  // namespace sandgate::pipelines
