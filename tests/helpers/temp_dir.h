#pragma once

#include <filesystem>
#include <string>
#include <string_view>
#include <vector>

namespace sandgate::testing {

// A fresh directory under /tmp, removed with everything in it when the object dies. Canonical,
// so that it compares equal to what sandgate computes.
//
// In the user cell of the matrix (tests/helpers/identity.h) every live TempDir is handed to the
// test user before sandgate starts, so that the command meets the files as a developer meets
// their own; a fixture that must stay root's says so with Keeper::kRoot.
class TempDir {
 public:
  enum class Keeper { kCellAccount, kRoot };
  explicit TempDir(Keeper keeper = Keeper::kCellAccount);
  ~TempDir();
  TempDir(const TempDir&) = delete;
  TempDir& operator=(const TempDir&) = delete;

  [[nodiscard]] const std::filesystem::path& Path() const { return path_; }
  [[nodiscard]] std::filesystem::path operator/(const std::string& rel) const { return path_ / rel; }

 private:
  friend std::vector<std::filesystem::path> TempDirsToHandOver();
  std::filesystem::path path_;
  Keeper keeper_;
};

// The TempDirs alive now whose keeper is the cell's account.
[[nodiscard]] std::vector<std::filesystem::path> TempDirsToHandOver();

// Writes `content` (creating parent directories) and sets `mode`. The stream is closed before
// returning: executing a file still open for writing fails with ETXTBSY.
void WriteFile(const std::filesystem::path& path, std::string_view content, unsigned mode = 0644);
// A shell script that pretends to be some program.
void WriteScript(const std::filesystem::path& path, std::string_view body);
[[nodiscard]] std::string ReadFile(const std::filesystem::path& path);

}  // namespace sandgate::testing
