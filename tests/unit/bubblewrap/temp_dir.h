#pragma once

#include <sys/stat.h>
#include <unistd.h>

#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <stdexcept>
#include <string>
#include <string_view>
#include <system_error>

namespace sandgate::bubblewrap::testutil {

// A fresh directory under $TMPDIR (or /tmp), removed with everything in it when the test ends.
class TempDir {
 public:
  TempDir() {
    const char* base = std::getenv("TMPDIR");
    std::string tmpl = std::string(base != nullptr && base[0] != '\0' ? base : "/tmp") +
                       "/sandgate-bwrap-test.XXXXXX";
    if (mkdtemp(tmpl.data()) == nullptr) {
      throw std::system_error(errno, std::generic_category(), "mkdtemp(" + tmpl + ")");
    }
    path_ = tmpl;
  }
  TempDir(const TempDir&) = delete;
  TempDir& operator=(const TempDir&) = delete;
  ~TempDir() {
    std::error_code ignored;
    std::filesystem::remove_all(path_, ignored);
  }

  [[nodiscard]] const std::filesystem::path& Path() const { return path_; }

 private:
  std::filesystem::path path_;
};

// Writes `content` to `path` (creating parent directories) and sets its mode. The stream is
// closed before returning: executing a file still open for writing fails with ETXTBSY.
inline void WriteFile(const std::filesystem::path& path, std::string_view content,
                      mode_t mode = 0644) {
  std::filesystem::create_directories(path.parent_path());
  {
    std::ofstream out(path, std::ios::binary | std::ios::trunc);
    out << content;
    if (!out) {
      throw std::runtime_error("cannot write " + path.string());
    }
  }
  if (chmod(path.c_str(), mode) != 0) {
    throw std::system_error(errno, std::generic_category(), "chmod(" + path.string() + ")");
  }
}

// A shell script that pretends to be some program.
inline void WriteScript(const std::filesystem::path& path, std::string_view body) {
  WriteFile(path, "#!/bin/sh\n" + std::string(body), 0755);
}

}  // namespace sandgate::bubblewrap::testutil
