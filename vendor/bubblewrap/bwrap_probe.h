#pragma once

#include <chrono>
#include <compare>
#include <filesystem>
#include <functional>
#include <optional>
#include <set>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "base/result.h"

namespace sandgate::bubblewrap {

// A bubblewrap release number. Pre-release suffixes ("-rc1") are dropped: they only ever
// appear on versions whose flags we check separately anyway.
struct BwrapVersion {
  int major = 0;
  int minor = 0;
  int patch = 0;

  // NOLINTNEXTLINE(modernize-use-nullptr): clang-tidy 14 misreads a defaulted <=>.
  friend auto operator<=>(const BwrapVersion&, const BwrapVersion&) = default;
  [[nodiscard]] std::string ToString() const;  // "0.8.0"
};

// 0.8.0 added --disable-userns, which sandgate needs so that a command can't regain
// capabilities through a nested user namespace (ARCHITECTURE "Facts measured").
inline constexpr BwrapVersion kMinimumBwrapVersion{0, 8, 0};

// The options one bwrap binary accepts, as listed by its --help. Every listed option is kept,
// not only the required ones, so callers can also test optional ones (e.g. --argv0).
struct BwrapFeatures {
  std::set<std::string, std::less<>> flags;  // "--die-with-parent", ...

  [[nodiscard]] bool Has(std::string_view flag) const { return flags.contains(flag); }
};

struct BwrapInfo {
  std::filesystem::path path;
  BwrapVersion version;
  BwrapFeatures features;
};

// The options sandgate's bwrap argv may contain; a binary that lacks one can't run sandgate's
// sandbox. Keep this in sync with the argv builder in pipelines/.
[[nodiscard]] std::span<const std::string_view> RequiredBwrapFlags();

// Options sandgate uses when present and works around when not. --argv0 arrived in bubblewrap
// 0.9.0, after Debian 12's 0.8.0, so it can't be required.
[[nodiscard]] std::span<const std::string_view> OptionalBwrapFlags();

// Parses the output of `bwrap --version`, e.g. "bubblewrap 0.8.0\n" -> {0, 8, 0}. Accepts
// "X.Y" (patch 0) and a suffix after the numbers ("0.11.0-rc1"). nullopt for anything else.
[[nodiscard]] std::optional<BwrapVersion> ParseBwrapVersion(std::string_view version_output);

// Collects the options listed by `bwrap --help`: the first word of each line, when it starts
// with "--". Options mentioned inside a description are not counted, so a help text that says
// "(can only combine with --unshare-all)" doesn't make --unshare-all look supported.
[[nodiscard]] BwrapFeatures ParseBwrapHelp(std::string_view help_output);

// The entries of RequiredBwrapFlags() that `features` lacks, in that order.
[[nodiscard]] std::vector<std::string> MissingRequiredFlags(const BwrapFeatures& features);

inline constexpr std::chrono::milliseconds kDefaultProbeTimeout{5000};

// Runs `bwrap --version` and `bwrap --help` (two process spawns) and parses them. Too costly for
// every sandbox start: sandgate calls it only to explain a failed sandbox setup and for
// `sandgate --version`. `timeout` bounds both runs together; a child still running then is
// killed. Errors (errnum 0 unless a system call failed) are one line and name `bwrap`.
[[nodiscard]] base::Result<BwrapInfo> ProbeBwrap(
    const std::filesystem::path& bwrap, std::chrono::milliseconds timeout = kDefaultProbeTimeout);

}  // namespace sandgate::bubblewrap
