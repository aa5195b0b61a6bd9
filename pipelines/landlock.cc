#include "pipelines/landlock.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>

#include "base/unique_fd.h"

namespace sandgate::pipelines {
namespace {

// The kernel's structs, as of ABI 6 (a struct the kernel knows is passed with its size, so a
// larger, newer one is refused by older kernels: the size passed follows the ABI).
struct RulesetAttr {
  std::uint64_t handled_access_fs;
  std::uint64_t handled_access_net;
  std::uint64_t scoped;
};
struct __attribute__((packed)) PathBeneathAttr {
  std::uint64_t allowed_access;
  std::int32_t parent_fd;
};
constexpr unsigned kCreateRulesetVersion = 1U << 0;
constexpr int kRulePathBeneath = 1;

long CreateRuleset(const RulesetAttr* attr, std::size_t size, unsigned flags) {
  return ::syscall(SYS_landlock_create_ruleset, attr, size, flags);
}

}  // namespace

std::uint64_t landlock::FsRightsOfAbi(int abi) {
  if (abi < 1) return 0;
  std::uint64_t rights = (kMakeSym << 1) - 1;  // ABI 1: execute .. make_sym
  if (abi >= 2) rights |= kRefer;
  if (abi >= 3) rights |= kTruncate;
  if (abi >= 5) rights |= kIoctlDev;
  return rights;
}

base::Result<int> ProbeLandlockAbi() noexcept {
  long abi = CreateRuleset(nullptr, 0, kCreateRulesetVersion);
  if (abi < 0) {
    const int error = errno;
    if (error == EOPNOTSUPP) {
      return base::Error{error, "Landlock is built into this kernel but disabled (add "
                                "landlock to the lsm= boot parameter)"};
    }
    if (error == ENOSYS) return base::Error{error, "this kernel has no Landlock (Linux 5.13+)"};
    return base::Error{error, "landlock_create_ruleset(VERSION)"};
  }
  return static_cast<int>(abi);
}

const std::vector<std::filesystem::path>& HarmlessDevices() {
  static const std::vector<std::filesystem::path> devices = {"/dev/null", "/dev/zero",
                                                             "/dev/full", "/dev/tty"};
  return devices;
}

LandlockPlan PlanLandlock(int abi, const std::vector<std::filesystem::path>& writable_roots,
                          const std::vector<std::filesystem::path>& devices) {
  using namespace landlock;
  LandlockPlan plan;
  plan.abi = abi;
  plan.handled_fs = FsRightsOfAbi(abi);
  if (abi >= kLandlockScopeAbi) plan.scoped = kScopeAbstractUnixSocket | kScopeSignal;
  const std::uint64_t all = plan.handled_fs;
  plan.rules.push_back({"/", (kReadFile | kReadDir | kExecute) & all});
  for (const auto& root : writable_roots) plan.rules.push_back({root, all});
  // Opening with O_TRUNC needs the truncate right (`> /dev/null`); terminals take ioctls.
  const std::uint64_t device_rights = (kReadFile | kWriteFile | kTruncate | kIoctlDev) & all;
  for (const auto& device : HarmlessDevices()) plan.rules.push_back({device, device_rights});
  for (const auto& device : devices) plan.rules.push_back({device, device_rights});
  return plan;
}

base::Status ApplyLandlock(const LandlockPlan& plan) noexcept {
  if (plan.abi < 1 || plan.handled_fs == 0) {
    return base::Error{0, "Landlock would enforce nothing (no ABI)"};
  }
  RulesetAttr attr{plan.handled_fs, 0, plan.scoped};
  // ABI 1–3 know the first field only, 4–5 the first two.
  const std::size_t size = plan.abi >= kLandlockScopeAbi ? sizeof attr
                           : plan.abi >= 4              ? 2 * sizeof(std::uint64_t)
                                                        : sizeof(std::uint64_t);
  base::UniqueFd ruleset(static_cast<int>(CreateRuleset(&attr, size, 0)));
  if (!ruleset) return base::ErrnoError("landlock_create_ruleset");
  for (const auto& rule : plan.rules) {
    base::UniqueFd where(::open(rule.path.c_str(), O_PATH | O_CLOEXEC));
    if (!where) {
      if (errno == ENOENT) continue;
      return base::ErrnoError("open(" + rule.path.string() + ") for Landlock");
    }
    struct stat st {};
    if (::fstat(where.Get(), &st) != 0) return base::ErrnoError("fstat(" + rule.path.string() + ")");
    std::uint64_t access = rule.access;
    if (!S_ISDIR(st.st_mode)) access &= landlock::kFileRights;
    if (access == 0) continue;
    PathBeneathAttr beneath{access, where.Get()};
    if (::syscall(SYS_landlock_add_rule, ruleset.Get(), kRulePathBeneath, &beneath, 0) != 0) {
      return base::ErrnoError("landlock_add_rule(" + rule.path.string() + ")");
    }
  }
  if (::syscall(SYS_landlock_restrict_self, ruleset.Get(), 0) != 0) {
    return base::ErrnoError("landlock_restrict_self");
  }
  return base::Ok{};
}

}  // namespace sandgate::pipelines
