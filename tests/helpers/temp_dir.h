#pragma once

#include <filesystem>
#include <string>

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

void WriteFile(const std::filesystem::path& path, const std::string& content);
[[nodiscard]] std::string ReadFile(const std::filesystem::path& path);

}  // namespace sandgate::testing
