#include "pipelines/inner/inner_main.h"

#include <fcntl.h>
#include <linux/filter.h>
#include <linux/seccomp.h>
#include <sys/prctl.h>
#include <sys/uio.h>

#include <cerrno>
#include <cstddef>

#include "pipelines/inner/exec_search.h"
#include "pipelines/inner/syscalls.h"
#include "pipelines/inner/text.h"
#include "pipelines/handoff.h"
#include "pipelines/seccomp_constants.h"

namespace sandgate::inner {
namespace {

constexpr int kExitSetupFailed = 125;
constexpr int kExitNotExecutable = 126;
constexpr int kExitNotFound = 127;
constexpr int kStderr = 2;

enum class Network { kOff, kApprove, kOn };

struct Args {
  Network network = Network::kOff;
  int handoff_fd = -1;
  int stderr_fd = -1;
  bool probe = false;
  bool legacy = false;
  char** command = nullptr;  // null-terminated, points into argv
};

bool ParseNetwork(const char* text, Network* network) {
  if (Equal(text, "off")) *network = Network::kOff;
  else if (Equal(text, "approve")) *network = Network::kApprove;
  else if (Equal(text, "on")) *network = Network::kOn;
  else return false;
  return true;
}

// The format is written by BuildBwrapArgv only; anything else is a bug, not user input.
bool ParseArgs(int argc, char** argv, Args* args) {
  for (int i = 2; i < argc; ++i) {
    const char* arg = argv[i];
    const char* value = nullptr;
    if (Equal(arg, "--")) {
      if (i + 1 >= argc) return false;
      args->command = argv + i + 1;
      break;
    }
    if (Equal(arg, "--probe")) {
      args->probe = true;
    } else if (StartsWith(arg, "--network=", &value)) {
      if (!ParseNetwork(value, &args->network)) return false;
    } else if (StartsWith(arg, "--handoff-fd=", &value)) {
      if (!ParseNonNegative(value, &args->handoff_fd)) return false;
    } else if (StartsWith(arg, "--stderr-fd=", &value)) {
      if (!ParseNonNegative(value, &args->stderr_fd)) return false;
    } else if (StartsWith(arg, "--legacy=", &value)) {
      args->legacy = true;
    } else if (!args->legacy) {
      return false;  // the legacy pipeline's own options are refused below, with a reason
    }
  }
  if (args->legacy) return true;
  return args->handoff_fd >= 0 && args->stderr_fd >= 0 &&
         (args->probe || args->command != nullptr);
}

void WriteAll(int fd, const char* data, std::size_t size) {
  while (size > 0) {
    long n = Sys(SYS_write, fd, data, size);
    if (n == -EINTR) continue;
    if (n <= 0) return;
    data += n;
    size -= static_cast<std::size_t>(n);
  }
}

// "F<reason>" to the supervisor, which explains it; on stderr if there is none to tell.
int Fail(int handoff_fd, const Message& reason) {
  Message report;
  report.Add(pipelines::kHandoffFailed);
  for (std::size_t i = 0; i < reason.Size() && i + 1 < pipelines::kHandoffMaxMessage; ++i) {
    report.Add(reason.Data()[i]);
  }
  if (handoff_fd < 0 || Sys(SYS_write, handoff_fd, report.Data(), report.Size()) < 0) {
    Message line;
    line.Add("sandgate: inner stage: ");
    for (std::size_t i = 0; i < reason.Size(); ++i) line.Add(reason.Data()[i]);
    line.Add('\n');
    WriteAll(kStderr, line.Data(), line.Size());
  }
  return kExitSetupFailed;
}

int Fail(int handoff_fd, const char* reason) {
  Message message;
  message.Add(reason);
  return Fail(handoff_fd, message);
}

// The seccomp program, in static storage: the kernel's limit is small enough.
sock_filter g_program[pipelines::kSeccompMaxInstructions];

// Reads the "P<program>" message (handoff.h) into g_program; its length in instructions, or 0.
std::size_t ReceiveProgram(int handoff_fd) {
  char tag = 0;
  iovec parts[2] = {{&tag, 1}, {g_program, sizeof g_program}};
  long n;
  do {
    n = Sys(SYS_readv, handoff_fd, parts, 2);
  } while (n == -EINTR);
  if (n < 1 || tag != pipelines::kHandoffProgram) return 0;
  const auto bytes = static_cast<std::size_t>(n - 1);
  if (bytes % sizeof(sock_filter) != 0) return 0;
  return bytes / sizeof(sock_filter);
}

// The filter on this, the process's only thread; the listener's fd in mode approve (or 0 without
// one), a negative errno on failure. As pipelines/seccomp_load.cc: WAIT_KILLABLE_RECV is asked
// for with a listener and done without where the kernel refuses it.
long LoadFilter(std::size_t length, bool listener, bool ask_wait_killable) {
  sock_fprog program{static_cast<unsigned short>(length), g_program};
  const unsigned long base_flags = listener ? SECCOMP_FILTER_FLAG_NEW_LISTENER : 0;
  long rc = -EINVAL;
  if (listener && ask_wait_killable) {
    rc = Sys(SYS_seccomp, SECCOMP_SET_MODE_FILTER,
             base_flags | pipelines::kSeccompFilterFlagWaitKillableRecv, &program);
  }
  if (rc < 0) rc = Sys(SYS_seccomp, SECCOMP_SET_MODE_FILTER, base_flags, &program);
  return rc;
}

}  // namespace

int InnerMain(int argc, char** argv, char** envp) {
  if (argc < 2 || !Equal(argv[1], pipelines::kInnerSubcommand)) {
    static const char kUsage[] =
        "sandgate-inner: the inner stage of a sandgate sandbox; sandgate starts it, not you\n";
    WriteAll(kStderr, kUsage, sizeof kUsage - 1);
    return kExitSetupFailed;
  }
  Args args;
  if (!ParseArgs(argc, argv, &args)) return Fail(-1, "malformed inner-stage arguments");
  if (args.legacy) {
    return Fail(-1,
                "the legacy pipeline's inner stage is sandgate's own subcommand, not sandgate-inner");
  }
  // Whatever happens next, the handoff socket must not reach the command.
  Sys(SYS_fcntl, args.handoff_fd, F_SETFD, FD_CLOEXEC);
  // The filter first: the supervisor sent it before or while it spawned the sandbox.
  const std::size_t program_length = ReceiveProgram(args.handoff_fd);
  if (program_length == 0) return Fail(args.handoff_fd, "no seccomp program from the supervisor");

  // bwrap sets no_new_privs too; setting it here makes the seccomp load below legal on its own
  // and keeps setuid binaries powerless even if bwrap ever stops doing it.
  if (long rc = Sys(SYS_prctl, PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0); rc < 0) {
    Message reason;
    reason.Add("prctl(PR_SET_NO_NEW_PRIVS): ").AddError(static_cast<int>(-rc));
    return Fail(args.handoff_fd, reason);
  }
  const char* wait_killable = Getenv(envp, "SANDGATE_SECCOMP_WAIT_KILLABLE");
  const bool approve = args.network == Network::kApprove;
  const long loaded = LoadFilter(program_length, approve,
                                 wait_killable == nullptr || !Equal(wait_killable, "off"));
  if (loaded < 0) {
    Message reason;
    reason.Add("seccomp(SECCOMP_SET_MODE_FILTER): ").AddError(static_cast<int>(-loaded));
    return Fail(args.handoff_fd, reason);
  }
  // The listener must never stay with the command: it could answer its own notifications.
  const int listener = approve ? static_cast<int>(loaded) : -1;

  Message ready;
  ready.Add(pipelines::kHandoffReady);
  if (listener >= 0) ready.AddNumber(listener);
  const long written = Sys(SYS_write, args.handoff_fd, ready.Data(), ready.Size());
  if (written != static_cast<long>(ready.Size())) return kExitSetupFailed;
  if (args.probe) return 0;

  // Wait until the supervisor holds a pidfd on us (only then is the pid it signals surely ours)
  // and, in mode approve, its own copy of the listener.
  char ack = 0;
  long n;
  do {
    n = Sys(SYS_read, args.handoff_fd, &ack, 1);
  } while (n == -EINTR);
  if (n != 1 || ack != pipelines::kHandoffAck) return kExitSetupFailed;  // supervisor gone
  Sys(SYS_close, args.handoff_fd);
  if (listener >= 0) Sys(SYS_close, listener);

  // From here on, errors belong to the command's stderr, not to bwrap's.
  if (args.stderr_fd != kStderr) {
    if (Sys(SYS_dup3, args.stderr_fd, kStderr, 0) < 0) return kExitSetupFailed;
    Sys(SYS_close, args.stderr_fd);
  }

  const int err = ExecSearchingPath(args.command, envp);
  Message line;
  line.Add("sandgate: cannot execute '").Add(args.command[0]).Add("': ").AddError(err).Add('\n');
  WriteAll(kStderr, line.Data(), line.Size());
  return err == ENOENT ? kExitNotFound : kExitNotExecutable;
}

}  // namespace sandgate::inner
