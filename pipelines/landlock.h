#pragma once

#include <cstdint>
#include <filesystem>
#include <string>
#include <vector>

#include "base/result.h"

namespace sandgate::pipelines {

// Landlock's constants, spelled out here because Debian 12's kernel headers stop at ABI 3.
namespace landlock {
inline constexpr std::uint64_t kExecute = 1ULL << 0;
inline constexpr std::uint64_t kWriteFile = 1ULL << 1;
inline constexpr std::uint64_t kReadFile = 1ULL << 2;
inline constexpr std::uint64_t kReadDir = 1ULL << 3;
inline constexpr std::uint64_t kRemoveDir = 1ULL << 4;
inline constexpr std::uint64_t kRemoveFile = 1ULL << 5;
inline constexpr std::uint64_t kMakeChar = 1ULL << 6;
inline constexpr std::uint64_t kMakeDir = 1ULL << 7;
inline constexpr std::uint64_t kMakeReg = 1ULL << 8;
inline constexpr std::uint64_t kMakeSock = 1ULL << 9;
inline constexpr std::uint64_t kMakeFifo = 1ULL << 10;
inline constexpr std::uint64_t kMakeBlock = 1ULL << 11;
inline constexpr std::uint64_t kMakeSym = 1ULL << 12;
inline constexpr std::uint64_t kRefer = 1ULL << 13;     // ABI 2
inline constexpr std::uint64_t kTruncate = 1ULL << 14;  // ABI 3
inline constexpr std::uint64_t kIoctlDev = 1ULL << 15;  // ABI 5
// Scopes (ABI 6): the sandbox may not connect to abstract unix sockets, nor signal processes,
// outside its own Landlock domain.
inline constexpr std::uint64_t kScopeAbstractUnixSocket = 1ULL << 0;
inline constexpr std::uint64_t kScopeSignal = 1ULL << 1;

// What a rule on a regular file (or device) may grant; the rest only applies to directories.
inline constexpr std::uint64_t kFileRights = kExecute | kWriteFile | kReadFile | kTruncate | kIoctlDev;
// Every filesystem right a kernel of this ABI knows (0 for no Landlock).
[[nodiscard]] std::uint64_t FsRightsOfAbi(int abi);
}  // namespace landlock

// The oldest ABI the legacy pipeline runs on: ABI 3 is the first that controls truncate(2);
// without it, a file outside the writable roots could be emptied.
inline constexpr int kMinimumLandlockAbi = 3;
// The ABI from which signals and abstract unix sockets are scoped to the sandbox.
inline constexpr int kLandlockScopeAbi = 6;

// The highest Landlock ABI this kernel offers, or an error saying why there is none (not built
// in, or disabled at boot: EOPNOTSUPP; too old: ENOSYS).
[[nodiscard]] base::Result<int> ProbeLandlockAbi() noexcept;

struct LandlockRule {
  std::filesystem::path path;
  std::uint64_t access = 0;
  bool operator==(const LandlockRule&) const = default;
};

// The whole ruleset as data: what it handles (everything not granted is denied), and what each
// path beneath gets. Built by a pure function, applied by ApplyLandlock.
struct LandlockPlan {
  int abi = 0;
  std::uint64_t handled_fs = 0;
  std::uint64_t scoped = 0;
  std::vector<LandlockRule> rules;
};

// Read and execute everywhere; everything in the writable roots; reading and writing (not
// creating) the harmless devices and the terminals the command was given (`devices`, e.g.
// /dev/pts/3). Rights the ABI does not know are left out of rules and handled set alike.
[[nodiscard]] LandlockPlan PlanLandlock(int abi,
                                        const std::vector<std::filesystem::path>& writable_roots,
                                        const std::vector<std::filesystem::path>& devices);

// The device files every sandbox may write: the bit buckets and /dev/tty (which, with no
// controlling terminal, opens nothing).
[[nodiscard]] const std::vector<std::filesystem::path>& HarmlessDevices();

// Creates the ruleset, adds the rules and restricts the calling thread (no_new_privs must be set
// already). A rule whose path does not exist is skipped (a writable root removed since it was
// checked grants nothing); every other failure fails, and so does a kernel that enforces nothing.
// Async-signal-safe apart from the rule paths' open(2); runs between fork and exec.
[[nodiscard]] base::Status ApplyLandlock(const LandlockPlan& plan) noexcept;

}  // namespace sandgate::pipelines
