#pragma once

#include <seccomp.h>

#include <memory>
#include <string>
#include <vector>

#include "base/result.h"
#include "pipelines/sandbox_spec.h"
#include "pipelines/seccomp_load.h"

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

// The program as the kernel loads it (what the inner stage receives, seccomp_load.h).
[[nodiscard]] base::Result<std::vector<sock_filter>> ExportFilterBpf(const SeccompFilter& filter);

// ExportFilterBpf, then LoadSeccompProgram on the calling thread (tests, the machine probe).
[[nodiscard]] base::Result<LoadedFilter> LoadSeccompFilter(
    const SeccompFilter& filter, Listener listener, WaitKillable wait_killable = WaitKillable::kAsk);

}  // namespace sandgate::pipelines
