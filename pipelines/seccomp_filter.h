#pragma once

#include <seccomp.h>

#include <memory>
#include <string>

#include "base/result.h"
#include "pipelines/sandbox_spec.h"

namespace sandgate::pipelines {

struct SeccompCtxDeleter {
  void operator()(void* ctx) const noexcept { seccomp_release(ctx); }
};
using SeccompFilter = std::unique_ptr<void, SeccompCtxDeleter>;

// Whose network the command is on: its own namespace (bwrap, and the legacy pipeline with
// namespaces), or the host's (the legacy pipeline without user namespaces).
enum class SandboxNetwork { kOwnNamespace, kHost };

// Builds (does not load) the filter the inner stage installs just before exec. Pure data: the
// same mode always gives the same program, which tests read back with ExportFilterPfc.
//
// On the host's network in mode approve, recvfrom with a sender buffer waits too: the mediator
// gives the command's DNS queries to its forwarder on the host's loopback, and the resolver
// (glibc, musl, c-ares) takes an answer only from the nameserver it asked, so the mediator
// writes that nameserver as the sender of the forwarder's answers.
[[nodiscard]] base::Result<SeccompFilter> BuildSeccompFilter(
    NetworkMode network, SandboxNetwork where = SandboxNetwork::kOwnNamespace);

// libseccomp's pseudo-code listing of the filter, for tests and `--log-level trace`.
[[nodiscard]] base::Result<std::string> ExportFilterPfc(const SeccompFilter& filter);

// SECCOMP_FILTER_FLAG_WAIT_KILLABLE_RECV (Linux 5.19), absent from Debian 12's headers.
inline constexpr unsigned long kSeccompFilterFlagWaitKillableRecv = 1UL << 5;

enum class Listener { kNone, kWanted };
// kAsk: with a listener, ask the kernel for WAIT_KILLABLE_RECV (and do without where it has none).
// kDoNot: never (SANDGATE_SECCOMP_WAIT_KILLABLE=off, to test the path older kernels take).
enum class WaitKillable { kAsk, kDoNot };

struct LoadedFilter {
  int listener = -1;  // the seccomp listener (Listener::kWanted), owned by the caller
  // Received notifications wait for fatal signals only (the kernel took the flag).
  bool wait_killable = false;
};

// Installs the filter on the calling thread, which must be the process's only one. Needs
// no_new_privs. With Listener::kWanted the filter's notifications go to a new listener,
// asked for with WAIT_KILLABLE_RECV where the kernel has it.
[[nodiscard]] base::Result<LoadedFilter> LoadSeccompFilter(
    const SeccompFilter& filter, Listener listener, WaitKillable wait_killable = WaitKillable::kAsk);

}  // namespace sandgate::pipelines
