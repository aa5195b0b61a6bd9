#pragma once

#include <filesystem>
#include <string>
#include <string_view>

namespace sandgate::testing {

// A fresh directory under /tmp, removed with everything in it when the object dies. Canonical,
// so that it compares equal to what sandgate computes.
class TempDir {
 public:
  TempDir();
  ~TempDir();
  TempDir(const TempDir&) = delete;
  TempDir& operator=(const TempDir&) = delete;

  [[nodiscard]] const std::filesystem::path& Path() const { return path_; }
  [[nodiscard]] std::filesystem::path operator/(const std::string& rel) const { return path_ / rel; }

 private:
  std::filesystem::path path_;
};

// Writes `content` (creating parent directories) and sets `mode`. The stream is closed before
// returning: executing a file still open for writing fails with ETXTBSY.
void WriteFile(const std::filesystem::path& path, std::string_view content, unsigned mode = 0644);
// A shell script that pretends to be some program.
void WriteScript(const std::filesystem::path& path, std::string_view body);
[[nodiscard]] std::string ReadFile(const std::filesystem::path& path);

}  // namespace sandgate::testing
