#pragma once

#include <filesystem>
#include <string>
#include <vector>

namespace sandgate::pipelines {

enum class NetworkMode { kOff, kApprove, kOn };
enum class Pipeline { kBwrap, kLegacy };
enum class ProcMount { kFresh, kNone };

// What the sandbox is: everything the pipelines need to build it. Filled from the command line
// and the policy file; turned into a bwrap argv and a seccomp filter by pure functions.
struct SandboxSpec {
  std::vector<std::string> command;                   // argv of the sandboxed command
  std::filesystem::path cwd;                          // absolute, canonical
  std::vector<std::filesystem::path> writable_roots;  // absolute, canonical, deduplicated
  // Files that stay read-only where a writable root would expose them (the policy files: the
  // command must not write the rules its next run starts with). Absolute, as given: the path is
  // walked like a gitdir, so a symlink on it inside a writable root refuses the start.
  std::vector<std::filesystem::path> read_only_files;
  NetworkMode network = NetworkMode::kApprove;
  Pipeline pipeline = Pipeline::kBwrap;
  ProcMount proc = ProcMount::kFresh;
};

[[nodiscard]] const char* ToString(NetworkMode mode);
[[nodiscard]] const char* ToString(Pipeline pipeline);

}  // namespace sandgate::pipelines
