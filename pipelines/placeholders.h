#pragma once

#include <sys/stat.h>

#include <filesystem>
#include <vector>

#include "base/result.h"
#include "base/unique_fd.h"

namespace sandgate::pipelines {

// A missing protected path is blocked by binding /dev/null onto it, and a bind needs an existing
// file to mount on. sandgate creates that file itself (empty, mode 0444) instead of letting
// bubblewrap do it, so that it can remove it afterwards: a stray empty `.git` file would break
// git in the user's directory.
//
// Several sandboxes may share a writable root. Each holds a shared flock on the placeholder while
// it runs; the last one out (the one that gets the exclusive lock) removes it. Removing a file
// that is a mount point in another sandbox would silently detach that sandbox's protection.
class Placeholders {
 public:
  Placeholders() = default;
  Placeholders(Placeholders&&) noexcept = default;
  Placeholders& operator=(Placeholders&&) noexcept = default;
  ~Placeholders() { RemoveUnused(); }

  // Creates (or joins) a placeholder at `path`. Fails if something else appeared there.
  base::Status Acquire(const std::filesystem::path& path);

  // Removes every placeholder no other sandbox holds. Idempotent.
  void RemoveUnused() noexcept;

 private:
  struct Held {
    std::filesystem::path path;
    base::UniqueFd fd;
    dev_t dev;
    ino_t ino;
  };
  std::vector<Held> held_;
};

// The placeholder signature: an empty regular file with mode exactly 0444.
[[nodiscard]] bool IsPlaceholder(const struct stat& st);

}  // namespace sandgate::pipelines
