#include "pipelines/inner_stage.h"

#include <fcntl.h>
#include <sys/prctl.h>
#include <sys/uio.h>
#include <unistd.h>

#include <cerrno>
#include <charconv>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <optional>
#include <string>
#include <string_view>

#include "pipelines/handoff.h"
#include "pipelines/legacy_stage.h"
#include "pipelines/sandbox_spec.h"
#include "pipelines/seccomp_load.h"

namespace sandgate::pipelines {
namespace {

constexpr int kExitSetupFailed = 125;
constexpr int kExitNotExecutable = 126;
constexpr int kExitNotFound = 127;

struct InnerArgs {
  NetworkMode network = NetworkMode::kOff;
  int handoff_fd = -1;
  int stderr_fd = -1;
  bool probe = false;
  char** command = nullptr;  // null-terminated, points into argv
  std::optional<LegacyStageArgs> legacy;  // --legacy=...: the legacy pipeline builds the sandbox
};

std::optional<int> ParseFd(std::string_view text) {
  int fd = -1;
  auto [end, ec] = std::from_chars(text.data(), text.data() + text.size(), fd);
  if (ec != std::errc() || end != text.data() + text.size() || fd < 0) return std::nullopt;
  return fd;
}

std::optional<NetworkMode> ParseNetwork(std::string_view text) {
  if (text == "off") return NetworkMode::kOff;
  if (text == "approve") return NetworkMode::kApprove;
  if (text == "on") return NetworkMode::kOn;
  return std::nullopt;
}

std::optional<LegacyNamespaces> ParseNamespaces(std::string_view text) {
  if (text == "root") return LegacyNamespaces::kRoot;
  if (text == "user") return LegacyNamespaces::kUser;
  if (text == "none") return LegacyNamespaces::kNone;
  return std::nullopt;
}

// "rw:PATH", "ro:PATH", "null:PATH"
std::optional<PlannedMount> ParseMount(std::string_view text) {
  auto colon = text.find(':');
  if (colon == std::string_view::npos || colon + 1 >= text.size()) return std::nullopt;
  const std::string_view kind = text.substr(0, colon);
  const std::string path(text.substr(colon + 1));
  if (kind == "rw") return PlannedMount{path, MountKind::kWritableBind};
  if (kind == "ro") return PlannedMount{path, MountKind::kReadOnlyBind};
  if (kind == "null") return PlannedMount{path, MountKind::kDevNullReadOnly};
  return std::nullopt;
}

// The legacy pipeline's options (BuildLegacyArgv); false if `arg` is not one or is malformed.
bool ParseLegacyArg(std::string_view arg, LegacyStageArgs* legacy, bool* known) {
  auto value = [&](std::string_view prefix) -> std::optional<std::string_view> {
    if (arg.substr(0, prefix.size()) != prefix) return std::nullopt;
    return arg.substr(prefix.size());
  };
  *known = true;
  if (arg == "--no-proc") {
    legacy->proc = false;
  } else if (auto v = value("--landlock-abi=")) {
    auto abi = ParseFd(*v);
    if (!abi) return false;
    legacy->landlock_abi = *abi;
  } else if (auto dir = value("--chdir=")) {
    legacy->chdir = std::string(*dir);
  } else if (auto root = value("--write=")) {
    legacy->writable_roots.emplace_back(*root);
  } else if (auto mount = value("--mount=")) {
    auto parsed = ParseMount(*mount);
    if (!parsed) return false;
    legacy->mounts.push_back(std::move(*parsed));
  } else {
    *known = false;
  }
  return true;
}

// The format is written by BuildBwrapArgv and BuildLegacyArgv only; anything else is a bug, not
// user input.
std::optional<InnerArgs> ParseArgs(int argc, char** argv) {
  InnerArgs args;
  for (int i = 2; i < argc; ++i) {
    std::string_view arg = argv[i];
    auto value = [&](std::string_view prefix) -> std::optional<std::string_view> {
      if (arg.substr(0, prefix.size()) != prefix) return std::nullopt;
      return arg.substr(prefix.size());
    };
    if (arg == "--") {
      if (i + 1 >= argc) return std::nullopt;
      args.command = argv + i + 1;
      break;
    }
    if (arg == "--probe") {
      args.probe = true;
    } else if (auto v = value("--network=")) {
      auto mode = ParseNetwork(*v);
      if (!mode) return std::nullopt;
      args.network = *mode;
    } else if (auto fd = value("--handoff-fd=")) {
      auto n = ParseFd(*fd);
      if (!n) return std::nullopt;
      args.handoff_fd = *n;
    } else if (auto fd2 = value("--stderr-fd=")) {
      auto n = ParseFd(*fd2);
      if (!n) return std::nullopt;
      args.stderr_fd = *n;
    } else if (auto ns = value("--legacy=")) {
      auto namespaces = ParseNamespaces(*ns);
      if (!namespaces) return std::nullopt;
      if (!args.legacy) args.legacy.emplace();
      args.legacy->namespaces = *namespaces;
    } else {
      LegacyStageArgs scratch;
      LegacyStageArgs* legacy = args.legacy ? &*args.legacy : &scratch;
      bool known = false;
      if (!ParseLegacyArg(arg, legacy, &known) || !known || !args.legacy) return std::nullopt;
    }
  }
  if (args.legacy && (args.legacy->landlock_abi < 1 || args.legacy->chdir.empty())) {
    return std::nullopt;
  }
  if (args.handoff_fd < 0 || args.stderr_fd < 0 || (!args.probe && args.command == nullptr)) {
    return std::nullopt;
  }
  return args;
}

// The seccomp program, in static storage: the kernel's limit is small enough, and the inner
// stage should not allocate what it can avoid.
sock_filter g_program[kSeccompMaxInstructions];

// Reads the "P<program>" message (handoff.h) into g_program; its length in instructions, or 0.
std::size_t ReceiveProgram(int handoff_fd) noexcept {
  char tag = 0;
  iovec parts[2] = {{&tag, 1}, {g_program, sizeof g_program}};
  ssize_t n;
  do {
    n = ::readv(handoff_fd, parts, 2);
  } while (n < 0 && errno == EINTR);
  if (n < 1 || tag != kHandoffProgram) return 0;
  const auto bytes = static_cast<std::size_t>(n - 1);
  if (bytes % sizeof(sock_filter) != 0) return 0;
  return bytes / sizeof(sock_filter);
}

int Fail(int handoff_fd, const std::string& reason) {
  std::string message(1, kHandoffFailed);
  message += reason.substr(0, kHandoffMaxMessage - 1);
  if (handoff_fd < 0 || ::write(handoff_fd, message.data(), message.size()) < 0) {
    std::fprintf(stderr, "sandgate: inner stage: %s\n", reason.c_str());
  }
  return kExitSetupFailed;
}

}  // namespace

int RunInnerStage(int argc, char** argv) noexcept {
  try {
    auto args = ParseArgs(argc, argv);
    if (!args) return Fail(-1, "malformed inner-stage arguments");
    // Whatever happens next, the handoff socket must not reach the command.
    ::fcntl(args->handoff_fd, F_SETFD, FD_CLOEXEC);
    // The filter first: the supervisor wrote it before it spawned the sandbox.
    const std::size_t program_length = ReceiveProgram(args->handoff_fd);
    if (program_length == 0) return Fail(args->handoff_fd, "no seccomp program from the supervisor");

    if (args->legacy) {
      // The legacy pipeline builds its sandbox here; only the command's process comes back.
      std::string failure;
      const int status = EnterLegacySandbox(*args->legacy, args->network, args->handoff_fd,
                                            args->stderr_fd, &failure);
      if (!failure.empty()) return Fail(args->handoff_fd, failure);
      if (status >= 0) return status;
    }

    // bwrap sets no_new_privs too; setting it here makes the seccomp load below legal on its own
    // and keeps setuid binaries powerless even if bwrap ever stops doing it.
    if (::prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) != 0) {
      return Fail(args->handoff_fd, std::string("prctl(PR_SET_NO_NEW_PRIVS): ") + std::strerror(errno));
    }
    const char* wait_killable = std::getenv("SANDGATE_SECCOMP_WAIT_KILLABLE");
    auto loaded = LoadSeccompProgram(
        g_program, program_length,
        args->network == NetworkMode::kApprove ? Listener::kWanted : Listener::kNone,
        wait_killable != nullptr && std::string_view(wait_killable) == "off" ? WaitKillable::kDoNot
                                                                            : WaitKillable::kAsk);
    if (!loaded.Ok()) return Fail(args->handoff_fd, loaded.Err().Message());

    // The listener must never stay with the command: it could answer its own notifications.
    const int listener = loaded->listener;
    if (args->network == NetworkMode::kApprove && listener < 0) {
      return Fail(args->handoff_fd, "seccomp listener missing after load");
    }
    std::string ready(1, kHandoffReady);
    if (listener >= 0) ready += std::to_string(listener);
    if (::write(args->handoff_fd, ready.data(), ready.size()) != static_cast<ssize_t>(ready.size())) {
      return kExitSetupFailed;
    }
    if (args->probe) return 0;

    // Wait until the supervisor holds a pidfd on us (only then is the pid it signals surely ours)
    // and, in mode approve, its own copy of the listener.
    char ack = 0;
    ssize_t n;
    do {
      n = ::read(args->handoff_fd, &ack, 1);
    } while (n < 0 && errno == EINTR);
    if (n != 1 || ack != kHandoffAck) return kExitSetupFailed;  // supervisor gone
    ::close(args->handoff_fd);
    if (listener >= 0) ::close(listener);

    // From here on, errors belong to the command's stderr, not to bwrap's.
    if (::dup2(args->stderr_fd, STDERR_FILENO) < 0) return kExitSetupFailed;
    ::close(args->stderr_fd);

    ::execvp(args->command[0], args->command);
    int err = errno;
    std::fprintf(stderr, "sandgate: cannot execute '%s': %s\n", args->command[0], std::strerror(err));
    return err == ENOENT ? kExitNotFound : kExitNotExecutable;
  } catch (...) {
    return kExitSetupFailed;
  }
}

}  // namespace sandgate::pipelines
