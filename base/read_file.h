#pragma once

#include <cstddef>
#include <limits>
#include <optional>
#include <string>

namespace sandgate::base {

// The contents of the file at `path` (at most `limit` bytes), or nullopt when it cannot be
// opened or read (a directory, say). Plain open and read: the start of every sandbox reads a
// sysctl or two, and a first std::ifstream costs ~0.1 ms here (its buffer and locale set-up)
// against ~0.02 ms for the read itself.
std::optional<std::string> ReadFile(const std::string& path,
                                    std::size_t limit = std::numeric_limits<std::size_t>::max());

}  // namespace sandgate::base
