#include "supervisor/control/audit_log.h"

#include <fcntl.h>
#include <spdlog/spdlog.h>
#include <unistd.h>

#include <cstring>

namespace sandgate::supervisor {

base::Result<AuditLog> AuditLog::Open(const std::filesystem::path& path) {
  base::UniqueFd fd(::open(path.c_str(), O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0600));
  if (!fd) return base::ErrnoError("--audit-log " + path.string());
  return AuditLog(std::move(fd));
}

void AuditLog::Write(const approvals::AuditEntry& entry) noexcept {
  try {
    std::string line = approvals::AuditLine(entry) + "\n";
    ssize_t n = ::write(fd_.Get(), line.data(), line.size());
    if (n != static_cast<ssize_t>(line.size())) {
      spdlog::error("audit log write: {}", n < 0 ? std::strerror(errno) : "short write");
    }
  } catch (const std::exception& e) {
    spdlog::error("audit log: {}", e.what());
  }
}

}  // namespace sandgate::supervisor
