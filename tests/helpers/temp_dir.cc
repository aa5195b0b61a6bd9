#include "tests/helpers/temp_dir.h"

#include <stdlib.h>
#include <sys/stat.h>

#include <fstream>
#include <mutex>
#include <set>
#include <stdexcept>
#include <system_error>

#include "base/read_file.h"

namespace sandgate::testing {

namespace {

std::mutex live_mutex;
std::set<const TempDir*>& Live() {
  static std::set<const TempDir*> live;
  return live;
}

}  // namespace

TempDir::TempDir(Keeper keeper) : keeper_(keeper) {
  std::string pattern = "/tmp/sandgate-test-XXXXXX";
  if (::mkdtemp(pattern.data()) == nullptr) throw std::runtime_error("mkdtemp failed");
  path_ = std::filesystem::canonical(pattern);
  std::lock_guard lock(live_mutex);
  Live().insert(this);
}

std::vector<std::filesystem::path> TempDirsToHandOver() {
  std::lock_guard lock(live_mutex);
  std::vector<std::filesystem::path> out;
  for (const TempDir* dir : Live()) {
    if (dir->keeper_ == TempDir::Keeper::kCellAccount) out.push_back(dir->Path());
  }
  return out;
}

TempDir::~TempDir() {
  {
    std::lock_guard lock(live_mutex);
    Live().erase(this);
  }
  std::error_code ec;
  // Placeholders and protected test fixtures are read-only; make them removable first.
  for (auto it = std::filesystem::recursive_directory_iterator(path_, ec);
       !ec && it != std::filesystem::recursive_directory_iterator(); it.increment(ec)) {
    if (!it->is_symlink()) {
      std::filesystem::permissions(it->path(), std::filesystem::perms::owner_all,
                                   std::filesystem::perm_options::add, ec);
    }
  }
  std::filesystem::remove_all(path_, ec);
}

void WriteFile(const std::filesystem::path& path, std::string_view content, unsigned mode) {
  std::filesystem::create_directories(path.parent_path());
  {
    std::ofstream out(path, std::ios::binary | std::ios::trunc);
    out << content;
    if (!out) throw std::runtime_error("cannot write " + path.string());
  }
  if (::chmod(path.c_str(), mode) != 0) throw std::runtime_error("cannot chmod " + path.string());
}

void WriteScript(const std::filesystem::path& path, std::string_view body) {
  WriteFile(path, "#!/bin/sh\n" + std::string(body), 0755);
}

std::string ReadFile(const std::filesystem::path& path) {
  return base::ReadFile(path.string()).value_or("");
}

}  // namespace sandgate::testing
