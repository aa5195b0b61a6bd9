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

// Builds (does not load) the filter the inner stage installs just before exec. Pure data: the
// same mode always gives the same program, which tests read back with ExportFilterPfc.
[[nodiscard]] base::Result<SeccompFilter> BuildSeccompFilter(NetworkMode network);

// libseccomp's pseudo-code listing of the filter, for tests and `--log-level trace`.
[[nodiscard]] base::Result<std::string> ExportFilterPfc(const SeccompFilter& filter);

// Installs the filter on the calling thread (and, with TSYNC, its siblings). Needs no_new_privs.
[[nodiscard]] base::Status LoadSeccompFilter(const SeccompFilter& filter);

}  // namespace sandgate::pipelines
