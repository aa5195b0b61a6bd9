#include "supervisor/policy_save.h"

#include <fcntl.h>
#include <spdlog/spdlog.h>
#include <sys/file.h>
#include <sys/random.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <chrono>
#include <cstdint>
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <nlohmann/json.hpp>
#include <optional>
#include <string_view>
#include <system_error>
#include <thread>
#include <utility>
#include <variant>

#include "approvals/rule.h"
#include "base/unique_fd.h"
#include "supervisor/policy_file.h"

namespace sandgate::supervisor {
namespace {

using nlohmann::ordered_json;

constexpr int kMaxSymlinks = 40;  // as the kernel's own limit on a path walk
// A policy file is a few KiB; anything this large is not one.
constexpr std::size_t kMaxPolicyBytes = std::size_t{16} << 20;
constexpr auto kLockWait = std::chrono::seconds(10);
constexpr auto kLockRetryMax = std::chrono::milliseconds(20);
constexpr int kTempNameAttempts = 16;
// The name became a symlink between resolving it and locking its directory: resolve again.
constexpr int kResolveAttempts = 3;

// A refusal that is not a failed system call: the context is the whole message.
base::Error Refusal(std::string message) { return base::Error{0, std::move(message)}; }

// The real file behind a path: the directory it is in and its name there.
struct Target {
  std::string dir;
  std::string name;
  std::string shown;  // for messages: the path given, and where it leads when that differs
};

base::Result<Target> SplitPath(const std::string& given, const std::string& real) {
  const std::size_t slash = real.rfind('/');
  Target target;
  if (slash == std::string::npos) {
    target.dir = ".";
    target.name = real;
  } else {
    target.dir = slash == 0 ? "/" : real.substr(0, slash);
    target.name = real.substr(slash + 1);
  }
  target.shown = given == real ? given : given + " (-> " + real + ")";
  if (target.name.empty() || target.name == "." || target.name == "..") {
    return base::Error{EISDIR, "saving a rule to " + target.shown};
  }
  return target;
}

// Follows symlinks in the last component only: the directories on the way are the kernel's to
// resolve, and the one the file is in is pinned by an fd from then on.
base::Result<Target> ResolveTarget(const std::string& path) {
  std::string current = path;
  for (int hops = 0; hops <= kMaxSymlinks; ++hops) {
    struct stat st {};
    if (::lstat(current.c_str(), &st) != 0) {
      if (errno == ENOENT) return SplitPath(path, current);  // to be created
      return base::ErrnoError("lstat(" + current + ")");
    }
    if (!S_ISLNK(st.st_mode)) return SplitPath(path, current);
    std::error_code ec;
    const std::string link = std::filesystem::read_symlink(current, ec).native();
    if (ec) return base::Error{ec.value(), "readlink(" + current + ")"};
    if (link.empty()) return base::Error{ENOENT, "readlink(" + current + ")"};
    if (link.front() == '/') {
      current = link;
    } else {
      const std::size_t slash = current.rfind('/');
      current = slash == std::string::npos ? link : current.substr(0, slash + 1) + link;
    }
  }
  return base::Error{ELOOP, "following the symlinks at " + path};
}

// Unlocks explicitly as well: the lock belongs to the open file description, which a process
// forked meanwhile would share until it exits.
class DirectoryLock {
 public:
  explicit DirectoryLock(base::UniqueFd dir) : dir_(std::move(dir)) {}
  ~DirectoryLock() {
    if (dir_) (void)::flock(dir_.Get(), LOCK_UN);
  }
  DirectoryLock(DirectoryLock&&) noexcept = default;
  DirectoryLock(const DirectoryLock&) = delete;
  DirectoryLock& operator=(const DirectoryLock&) = delete;
  DirectoryLock& operator=(DirectoryLock&&) = delete;
  [[nodiscard]] int Fd() const { return dir_.Get(); }

 private:
  base::UniqueFd dir_;
};

base::Result<DirectoryLock> LockDirectory(const std::string& dir) {
  const int fd = ::open(dir.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  if (fd < 0) return base::ErrnoError("open(" + dir + ")");
  base::UniqueFd owned(fd);
  // Polled rather than a blocking flock, so that the wait has an end.
  const auto deadline = std::chrono::steady_clock::now() + kLockWait;
  auto pause = std::chrono::milliseconds(1);
  while (::flock(fd, LOCK_EX | LOCK_NB) != 0) {
    if (errno == EINTR) continue;
    if (errno != EWOULDBLOCK) return base::ErrnoError("flock(" + dir + ", LOCK_EX)");
    if (std::chrono::steady_clock::now() >= deadline) {
      return base::Error{EWOULDBLOCK, "flock(" + dir +
                                          ", LOCK_EX): another process has held it for " +
                                          std::to_string(kLockWait.count()) + " s"};
    }
    std::this_thread::sleep_for(pause);
    pause = std::min(pause * 2, kLockRetryMax);
  }
  return DirectoryLock(std::move(owned));
}

struct Existing {
  std::string content;
  struct stat st {};
};

// nullopt: there is no file (yet). Error ELOOP: the name is a symlink now.
base::Result<std::optional<Existing>> ReadExisting(int dir_fd, const Target& target) {
  // O_NONBLOCK: a FIFO put there must not hang the open; it is refused below.
  const int fd =
      ::openat(dir_fd, target.name.c_str(), O_RDONLY | O_NOFOLLOW | O_NONBLOCK | O_CLOEXEC);
  if (fd < 0) {
    if (errno == ENOENT) return std::optional<Existing>{};
    return base::ErrnoError("open(" + target.shown + ")");
  }
  base::UniqueFd file(fd);
  Existing existing;
  if (::fstat(fd, &existing.st) != 0) return base::ErrnoError("fstat(" + target.shown + ")");
  if (!S_ISREG(existing.st.st_mode)) {
    return Refusal(target.shown + ": not a regular file, not saving a rule to it");
  }
  char buffer[16384];
  while (true) {
    const ssize_t n = ::read(fd, buffer, sizeof buffer);
    if (n == 0) break;
    if (n < 0) {
      if (errno == EINTR) continue;
      return base::ErrnoError("read(" + target.shown + ")");
    }
    existing.content.append(buffer, static_cast<std::size_t>(n));
    if (existing.content.size() > kMaxPolicyBytes) {
      return Refusal(target.shown + ": larger than 16 MiB, not a policy file");
    }
  }
  return std::optional<Existing>{std::move(existing)};
}

// The rule an entry of the file stands for, as canonical text; an entry that is not a valid rule
// stands for itself.
std::string CanonicalEntry(const ordered_json& entry) {
  const auto& text = entry.get_ref<const std::string&>();
  const auto parsed = approvals::ParseRule(text);
  if (const auto* rule = std::get_if<approvals::Rule>(&parsed)) return rule->text;
  return text;
}

// Adds `rule` to network[list] and drops it from network[opposite]. The lists are known to be
// arrays of strings: the file passed ParsePolicyFile.
void Amend(ordered_json& doc, const std::string& rule, approvals::AmendmentAction action) {
  const bool allow = action == approvals::AmendmentAction::kAllow;
  const char* list = allow ? "allow" : "deny";
  const char* opposite = allow ? "deny" : "allow";
  ordered_json& network = doc["network"];
  if (network.is_null()) network = ordered_json::object();
  if (network.contains(opposite)) {
    ordered_json& entries = network[opposite];
    ordered_json kept = ordered_json::array();
    for (const auto& entry : entries) {
      if (CanonicalEntry(entry) != rule) kept.push_back(entry);
    }
    entries = std::move(kept);
  }
  ordered_json& entries = network[list];
  if (entries.is_null()) entries = ordered_json::array();
  for (const auto& entry : entries) {
    if (CanonicalEntry(entry) == rule) return;
  }
  entries.push_back(rule);
}

// A temporary file next to the target, removed again unless it was renamed into place.
class TempFile {
 public:
  TempFile(int dir_fd, std::string name, base::UniqueFd fd)
      : dir_fd_(dir_fd), name_(std::move(name)), fd_(std::move(fd)) {}
  ~TempFile() {
    fd_.Reset();
    if (!name_.empty()) (void)::unlinkat(dir_fd_, name_.c_str(), 0);
  }
  TempFile(TempFile&& other) noexcept
      : dir_fd_(other.dir_fd_), name_(std::exchange(other.name_, {})), fd_(std::move(other.fd_)) {}
  TempFile(const TempFile&) = delete;
  TempFile& operator=(const TempFile&) = delete;
  TempFile& operator=(TempFile&&) = delete;

  [[nodiscard]] int Fd() const { return fd_.Get(); }
  [[nodiscard]] const std::string& Name() const { return name_; }
  // It has been renamed: nothing to remove any more.
  void Committed() { name_.clear(); }

 private:
  int dir_fd_;
  std::string name_;
  base::UniqueFd fd_;
};

base::Result<TempFile> CreateTemp(int dir_fd, const Target& target, mode_t mode) {
  for (int attempt = 0; attempt < kTempNameAttempts; ++attempt) {
    std::uint64_t random = 0;
    if (::getrandom(&random, sizeof random, 0) != static_cast<ssize_t>(sizeof random)) {
      return base::ErrnoError("getrandom");
    }
    char suffix[32];
    std::snprintf(suffix, sizeof suffix, ".%016llx", static_cast<unsigned long long>(random));
    // Hidden, and named after the file so that a left-over one (after a crash) says whose it is.
    std::string name = "." + target.name + ".sandgate-tmp" + suffix;
    const int fd =
        ::openat(dir_fd, name.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, mode);
    if (fd >= 0) return TempFile(dir_fd, std::move(name), base::UniqueFd(fd));
    if (errno != EEXIST) {
      return base::ErrnoError("creating a temporary file in " + target.dir + " to save " +
                              target.shown);
    }
  }
  return base::Error{EEXIST, "creating a temporary file in " + target.dir};
}

base::Status WriteAll(int fd, std::string_view data, const std::string& what) {
  while (!data.empty()) {
    const ssize_t n = ::write(fd, data.data(), data.size());
    if (n < 0) {
      if (errno == EINTR) continue;
      return base::ErrnoError("write(" + what + ")");
    }
    data.remove_prefix(static_cast<std::size_t>(n));
  }
  return base::Ok{};
}

// The original's owner and mode on the new file: owner first, since fchown clears the set-id bits.
base::Status KeepOwnerAndMode(const TempFile& temp, const Existing& existing,
                              const Target& target) {
  struct stat st {};
  if (::fstat(temp.Fd(), &st) != 0) return base::ErrnoError("fstat(" + temp.Name() + ")");
  if (st.st_uid != existing.st.st_uid || st.st_gid != existing.st.st_gid) {
    if (::fchown(temp.Fd(), existing.st.st_uid, existing.st.st_gid) != 0) {
      return base::ErrnoError("keeping the owner " + std::to_string(existing.st.st_uid) + ":" +
                              std::to_string(existing.st.st_gid) + " of " + target.shown +
                              " (fchown)");
    }
  }
  if (::fchmod(temp.Fd(), existing.st.st_mode & 07777) != 0) {
    return base::ErrnoError("fchmod(" + temp.Name() + ")");
  }
  return base::Ok{};
}

struct Attempt {
  base::Status status = base::Ok{};
  bool resolve_again = false;
};

Attempt SaveOnce(const std::string& path, const std::string& rule,
                 approvals::AmendmentAction action) {
  auto target = ResolveTarget(path);
  if (!target) return {target.Err()};
  auto lock = LockDirectory(target->dir);
  if (!lock) return {lock.Err()};
  const int dir_fd = lock->Fd();

  auto existing = ReadExisting(dir_fd, *target);
  if (!existing) {
    if (existing.Err().errnum == ELOOP) return {existing.Err(), true};
    return {existing.Err()};
  }
  ordered_json doc = ordered_json::object();
  if (existing->has_value()) {
    auto checked = ParsePolicyFile(target->shown, existing->value().content);
    if (const auto* error = std::get_if<PolicyFileError>(&checked)) {
      return {Refusal(error->message + "; not saving \"" + rule + "\" to it")};
    }
  }
  std::string text;
  try {
    if (existing->has_value()) doc = ordered_json::parse(existing->value().content);
    Amend(doc, rule, action);
    text = doc.dump(2) + "\n";
  } catch (const nlohmann::json::exception& e) {
    return {Refusal(target->shown + ": " + e.what())};
  }

  // A new file gets 0644 minus the umask from open itself; a file that exists is written as
  // 0600 and given its own mode at the end, so that its content is never readable by more
  // people than before, even for a moment.
  auto temp = CreateTemp(dir_fd, *target, existing->has_value() ? 0600 : 0644);
  if (!temp) return {temp.Err()};
  if (auto s = WriteAll(temp->Fd(), text, temp->Name()); !s) return {s.Err()};
  if (::fsync(temp->Fd()) != 0) return {base::ErrnoError("fsync(" + temp->Name() + ")")};
  if (existing->has_value()) {
    if (auto s = KeepOwnerAndMode(*temp, existing->value(), *target); !s) return {s.Err()};
  }
  if (::renameat(dir_fd, temp->Name().c_str(), dir_fd, target->name.c_str()) != 0) {
    return {base::ErrnoError("rename(" + temp->Name() + ", " + target->shown + ")")};
  }
  temp->Committed();
  // The rule is in place; only its durability after a crash is in doubt, which is no reason to
  // report the save as failed.
  if (::fsync(dir_fd) != 0) {
    spdlog::warn("fsync({}) after saving a rule to {}: {}", target->dir, target->shown,
                 std::strerror(errno));
  }
  return {};
}

}  // namespace

base::Status SavePolicyRule(const std::string& path, const std::string& rule_text,
                            approvals::AmendmentAction action) {
  const auto parsed = approvals::ParseRule(rule_text);
  if (const auto* error = std::get_if<approvals::RuleError>(&parsed)) {
    return Refusal("not saving a rule to " + path + ": " + error->message);
  }
  const std::string& rule = std::get<approvals::Rule>(parsed).text;
  Attempt attempt;
  for (int i = 0; i < kResolveAttempts; ++i) {
    attempt = SaveOnce(path, rule, action);
    if (!attempt.resolve_again) break;
  }
  return attempt.status;
}

}  // namespace sandgate::supervisor
