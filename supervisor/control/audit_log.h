#pragma once

#include <filesystem>

#include "approvals/audit.h"
#include "base/result.h"
#include "base/unique_fd.h"

namespace sandgate::supervisor {

// --audit-log FILE: one JSON line per mediated attempt, appended as it is decided. O_APPEND, so
// several sandgates may share one file without tearing lines (each line is one write).
class AuditLog {
 public:
  static base::Result<AuditLog> Open(const std::filesystem::path& path);
  void Write(const approvals::AuditEntry& entry) noexcept;

 private:
  explicit AuditLog(base::UniqueFd fd) : fd_(std::move(fd)) {}
  base::UniqueFd fd_;
};

}  // namespace sandgate::supervisor
