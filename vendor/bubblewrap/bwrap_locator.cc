#include "vendor/bubblewrap/bwrap_locator.h"

#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <string_view>
#include <system_error>

namespace sandgate::bubblewrap {
namespace {

namespace fs = std::filesystem;

constexpr std::string_view kDefaultName = "bwrap";

// What execvp falls back to when PATH is unset (glibc uses "/bin:/usr/bin"); /usr/bin first
// because that is where Debian's package installs bwrap and /bin is a symlink to it on merged-/usr
// systems anyway.
constexpr const char* kPathWhenUnset = "/usr/bin:/bin";

constexpr std::string_view kNotFoundHint =
    "bubblewrap (bwrap) not found on PATH: install the Debian package 'bubblewrap' "
    "(apt-get install -y bubblewrap), or pass --bwrap PATH / set SANDGATE_BWRAP";

// Where a user-supplied value came from, so that an error names the knob to turn.
enum class Source { kFlag, kEnv };

// "--bwrap VALUE" or "SANDGATE_BWRAP=VALUE": how the user wrote it.
std::string Describe(Source source, std::string_view value) {
  std::string out = source == Source::kFlag ? "--bwrap " : "SANDGATE_BWRAP=";
  out.append(value);
  return out;
}

base::Error UserError(std::string message) { return base::Error{0, std::move(message)}; }

// Why `path` can't be run as bwrap, or nullopt when it can. stat() follows symlinks, which is
// what execve will do too.
std::optional<std::string> WhyNotRunnable(const fs::path& path) {
  struct stat st {};
  if (stat(path.c_str(), &st) != 0) {
    if (errno == ENOENT || errno == ENOTDIR) {
      return "no such file";
    }
    return std::strerror(errno);
  }
  if (!S_ISREG(st.st_mode)) {
    return S_ISDIR(st.st_mode) ? "is a directory, not the bwrap program" : "is not a regular file";
  }
  // access() rather than inspecting the mode bits: it applies the real rules (root needs at least
  // one x bit, ACLs, noexec mounts report EACCES).
  if (access(path.c_str(), X_OK) != 0) {
    return "is not executable";
  }
  return std::nullopt;
}

// Searches `name` (no '/') in the absolute directories of `path_env`.
std::optional<fs::path> SearchPath(std::string_view name, const char* path_env) {
  const std::string_view dirs = path_env != nullptr ? path_env : kPathWhenUnset;
  std::size_t pos = 0;
  while (pos <= dirs.size()) {
    std::size_t colon = dirs.find(':', pos);
    if (colon == std::string_view::npos) {
      colon = dirs.size();
    }
    const std::string_view dir = dirs.substr(pos, colon - pos);
    pos = colon + 1;
    if (dir.empty() || dir.front() != '/') {
      continue;  // "" means "." to a shell, and relative entries depend on the cwd: skip both.
    }
    fs::path candidate = fs::path(dir) / name;
    if (!WhyNotRunnable(candidate).has_value()) {
      return candidate;
    }
  }
  return std::nullopt;
}

base::Result<fs::path> ResolveUserValue(Source source, const std::string& value,
                                        const char* path_env) {
  if (value.empty()) {
    return UserError(Describe(source, value) + ": empty path: name the bwrap binary to use");
  }
  if (value.find('/') == std::string::npos) {
    if (std::optional<fs::path> found = SearchPath(value, path_env)) {
      return *std::move(found);
    }
    return UserError(Describe(source, value) +
                     ": not found on PATH: pass an absolute path to the bwrap binary");
  }
  std::error_code ec;
  fs::path absolute = fs::absolute(value, ec);
  if (ec) {
    return UserError(Describe(source, value) + ": " + ec.message());
  }
  // No lexically_normal(): folding "x/.." is wrong when x is a symlink, and the kernel will
  // resolve the path as written.
  if (std::optional<std::string> why = WhyNotRunnable(absolute)) {
    return UserError(Describe(source, value) + ": " + *why);
  }
  return absolute;
}

}  // namespace

base::Result<fs::path> LocateBwrap(const std::optional<std::string>& explicit_path,
                                   const char* env_value, const char* path_env) {
  if (explicit_path.has_value()) {
    return ResolveUserValue(Source::kFlag, *explicit_path, path_env);
  }
  if (env_value != nullptr && env_value[0] != '\0') {
    return ResolveUserValue(Source::kEnv, env_value, path_env);
  }
  if (std::optional<fs::path> found = SearchPath(kDefaultName, path_env)) {
    return *std::move(found);
  }
  return UserError(std::string(kNotFoundHint));
}

}  // namespace sandgate::bubblewrap
