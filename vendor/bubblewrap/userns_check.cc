#include "vendor/bubblewrap/userns_check.h"

#include <charconv>
#include <optional>
#include <string>
#include <string_view>

#include "base/read_file.h"

namespace sandgate::bubblewrap {
namespace {

namespace fs = std::filesystem;

// The integer a sysctl file holds, or nullopt when the file can't be read or parsed.
std::optional<long long> ReadSysctl(const fs::path& file) {
  // Sysctl files are a line or two; reading a little more than that guards against pointing
  // proc_sys at something large.
  std::optional<std::string> read = base::ReadFile(file.string(), 64);
  if (!read) {
    return std::nullopt;
  }
  const std::string& text = *read;

  const std::size_t begin = text.find_first_not_of(" \t\n");
  if (begin == std::string::npos) {
    return std::nullopt;
  }
  long long value = 0;
  const char* const first = text.data() + begin;
  const char* const last = text.data() + text.size();
  const auto [ptr, ec] = std::from_chars(first, last, value);
  if (ec != std::errc() || (ptr != last && *ptr != '\n' && *ptr != ' ' && *ptr != '\t')) {
    return std::nullopt;
  }
  return value;
}

base::Error Disabled(std::string message) { return base::Error{0, std::move(message)}; }

}  // namespace

base::Status CheckUserNamespaces(const fs::path& proc_sys, uid_t euid) {
  const fs::path max_userns = proc_sys / "user/max_user_namespaces";
  if (ReadSysctl(max_userns) == 0) {
    return Disabled("user namespaces are disabled (" + max_userns.string() +
                    " is 0): enable them with sysctl -w user.max_user_namespaces=15000");
  }
  if (euid == 0) {
    return base::Ok{};  // The two knobs below only restrict callers without CAP_SYS_ADMIN.
  }

  const fs::path userns_clone = proc_sys / "kernel/unprivileged_userns_clone";
  if (ReadSysctl(userns_clone) == 0) {
    return Disabled("unprivileged user namespaces are disabled (" + userns_clone.string() +
                    " is 0): enable them with sysctl -w kernel.unprivileged_userns_clone=1, or "
                    "run sandgate as root");
  }

  const fs::path apparmor = proc_sys / "kernel/apparmor_restrict_unprivileged_userns";
  if (std::optional<long long> restricted = ReadSysctl(apparmor); restricted && *restricted != 0) {
    return Disabled("AppArmor restricts unprivileged user namespaces (" + apparmor.string() +
                    " is " + std::to_string(*restricted) +
                    "): load an AppArmor profile that allows 'userns' for bwrap, or run sysctl "
                    "-w kernel.apparmor_restrict_unprivileged_userns=0");
  }
  return base::Ok{};
}

}  // namespace sandgate::bubblewrap
