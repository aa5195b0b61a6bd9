#include "tests/helpers/identity.h"

#include "tests/helpers/subprocess.h"

#include <fcntl.h>
#include <pwd.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cstdlib>
#include <cstring>
#include <mutex>
#include <stdexcept>
#include <system_error>

#include "tests/helpers/temp_dir.h"

namespace sandgate::testing {
namespace fs = std::filesystem;
namespace {

constexpr const char* kDefaultTestUser = "sandgate-test";

// Does every directory from / down to `path`'s parent let others search it, and `path` let
// others read and execute it?
bool OthersReach(const fs::path& path) {
  struct stat st {};
  if (::stat(path.c_str(), &st) != 0 || (st.st_mode & (S_IROTH | S_IXOTH)) != (S_IROTH | S_IXOTH)) {
    return false;
  }
  for (fs::path dir = path.parent_path(); !dir.empty(); dir = dir.parent_path()) {
    if (::stat(dir.c_str(), &st) != 0 || (st.st_mode & S_IXOTH) == 0) return false;
    if (dir == dir.root_path()) break;
  }
  return true;
}

// Makes `dir` (mode 0755) unless it exists, and insists that it is a directory of root's that
// nobody else may write.
void OwnDirectory(const fs::path& dir) {
  ::mkdir(dir.c_str(), 0755);
  struct stat st {};
  if (::lstat(dir.c_str(), &st) != 0 || !S_ISDIR(st.st_mode) || st.st_uid != ::geteuid() ||
      (st.st_mode & (S_IWGRP | S_IWOTH)) != 0) {
    throw std::runtime_error(dir.string() + " is not a directory of this user's that only it may "
                             "write: remove it");
  }
  ::chmod(dir.c_str(), 0755);
}

// Copies `from` to `to`, which must not exist yet (never through a planted link), mode 0755.
void CopyExclusively(const std::string& from, const fs::path& to) {
  const int in = ::open(from.c_str(), O_RDONLY | O_CLOEXEC);
  const int out = ::open(to.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0755);
  bool ok = in >= 0 && out >= 0;
  std::vector<char> buffer(1 << 20);
  while (ok) {
    const ssize_t n = ::read(in, buffer.data(), buffer.size());
    if (n <= 0) {
      ok = n == 0;
      break;
    }
    ok = ::write(out, buffer.data(), static_cast<std::size_t>(n)) == n;
  }
  ok = ok && ::fchmod(out, 0755) == 0;
  if (in >= 0) ::close(in);
  if (out >= 0) ::close(out);
  if (!ok) throw std::runtime_error("copying " + from + " to " + to.string() + " failed");
}

}  // namespace

Identity TestIdentity() {
  const char* value = std::getenv("SANDGATE_TEST_IDENTITY");
  if (value == nullptr) return Identity::kRoot;
  return std::strcmp(value, "user") == 0 || std::strcmp(value, "user-nouserns") == 0
             ? Identity::kUser
             : Identity::kRoot;
}

bool CellHasUserNamespaces() {
  const char* value = std::getenv("SANDGATE_TEST_IDENTITY");
  return value == nullptr || std::strcmp(value, "user-nouserns") != 0;
}

const char* IdentityName(Identity identity) { return identity == Identity::kUser ? "user" : "root"; }

TestPipeline CellPipeline() {
  const char* value = std::getenv("SANDGATE_TEST_PIPELINE");
  return value != nullptr && std::strcmp(value, "legacy") == 0 ? TestPipeline::kLegacy
                                                                 : TestPipeline::kBwrap;
}

const char* PipelineName(TestPipeline pipeline) {
  return pipeline == TestPipeline::kLegacy ? "legacy" : "bwrap";
}

const char* OutsideRootsWriteError() {
  return CellPipeline() == TestPipeline::kLegacy ? "err EACCES\n" : "err EROFS\n";
}

const char* HostAbstractConnectError() {
  return CellHasUserNamespaces() ? "err ECONNREFUSED\n" : "err EPERM\n";
}

namespace {

// Where no writable root is named, a cell without user namespaces asks for none (--read-only)
// and for no /proc of its own (--no-proc):
// the defaults (the cwd and /tmp) need protections that take a mount namespace, which that shape
// refuses (LegacyShapeTest, NoUserNamespacesTest). A test that names writable roots gets what
// the user would: the refusal, unless its roots need no protection.
void WithoutDefaultRoots(std::vector<std::string>& argv) {
  if (CellHasUserNamespaces() || argv.size() < 2 || argv[1] != "run") return;
  bool no_proc = false;
  for (std::size_t i = 2; i < argv.size() && argv[i] != "--"; ++i) {
    const std::string& arg = argv[i];
    if (arg == "-w" || arg.rfind("--writable-root", 0) == 0 || arg == "--read-only" ||
        arg.rfind("--policy", 0) == 0) {
      return;
    }
    no_proc = no_proc || arg == "--no-proc";
  }
  // And no fresh /proc, which needs a PID namespace: said explicitly, so that sandgate has no
  // warning to print.
  if (!no_proc) argv.insert(argv.begin() + 2, "--no-proc");
  argv.insert(argv.begin() + 2, "--read-only");
}

// `sandgate run ...` with the cell's pipeline.
void ChoosePipeline(std::vector<std::string>& argv) {
  if (CellPipeline() != TestPipeline::kLegacy || argv.size() < 2 || argv[1] != "run") return;
  for (std::size_t i = 2; i < argv.size() && argv[i] != "--"; ++i) {
    if (argv[i] == "--pipeline" || argv[i].rfind("--pipeline=", 0) == 0) return;
    if (argv[i].find("use_linux_sandbox_bwrap") != std::string::npos) return;
  }
  argv.insert(argv.begin() + 2, {"--pipeline", "legacy"});
}

}  // namespace

bool CellAccount(TestAccount* account, std::string* why) {
  if (TestIdentity() == Identity::kRoot) {
    *account = {0, 0, "root"};
    if (::geteuid() != 0) {
      *why = "the root cell needs the suite to run as root";
      return false;
    }
    return true;
  }
  if (::geteuid() != 0) {  // an ordinary user running the suite is the user cell already
    *account = {::geteuid(), ::getegid(), "self"};
    return true;
  }
  const char* name = std::getenv("SANDGATE_TEST_USER");
  if (name == nullptr || *name == '\0') name = kDefaultTestUser;
  const passwd* entry = ::getpwnam(name);
  if (entry == nullptr) {
    *why = std::string("test user '") + name +
           "' does not exist: run scripts/create-test-user.sh (scripts/test.sh does)";
    return false;
  }
  *account = {entry->pw_uid, entry->pw_gid, name};
  return true;
}

std::vector<std::string> AsCellIdentity(std::vector<std::string> argv) {
  WithoutDefaultRoots(argv);
  ChoosePipeline(argv);
  if (!CellHasUserNamespaces()) {
    // A machine without user namespaces, imitated: sandgate and all it starts run under a filter
    // that fails unshare/clone with CLONE_NEWUSER (EPERM) and clone3 (ENOSYS).
    argv.insert(argv.begin(), {ProbeBinary(), "without-userns"});
  }
  if (TestIdentity() == Identity::kRoot || ::geteuid() != 0) return argv;
  TestAccount account;
  std::string why;
  if (!CellAccount(&account, &why)) throw std::runtime_error(why);
  for (const auto& dir : TempDirsToHandOver()) HandOver(dir);
  std::vector<std::string> wrapped = {"/usr/bin/setpriv",
                                      "--reuid=" + std::to_string(account.uid),
                                      "--regid=" + std::to_string(account.gid),
                                      "--init-groups",
                                      "--inh-caps=-all",
                                      "--bounding-set=-all",
                                      "--"};
  if (!CellHasUserNamespaces()) {
    // The filter goes on as root (which may install it without no_new_privs), then setpriv.
    wrapped.insert(wrapped.begin(), argv.begin(), argv.begin() + 2);
    wrapped.insert(wrapped.end(), argv.begin() + 2, argv.end());
    return wrapped;
  }
  wrapped.insert(wrapped.end(), argv.begin(), argv.end());
  return wrapped;
}

std::string ReachableExecutable(const std::string& path,
                                const std::vector<std::string>& companions) {
  if (TestIdentity() == Identity::kRoot || ::geteuid() != 0 || OthersReach(path)) return path;
  // One copy per build of the files (their sizes and mtimes name it), shared by every test
  // process; each made under a temporary name and renamed into place, `path` last, so parallel
  // tests never see half a copy.
  std::string build;
  std::vector<fs::path> files;
  for (const auto& companion : companions) files.push_back(fs::path(path).parent_path() / companion);
  files.emplace_back(path);
  for (const auto& file : files) {
    struct stat st {};
    if (::stat(file.c_str(), &st) != 0) return path;
    build += (build.empty() ? "" : "-") + std::to_string(st.st_size) + "-" +
             std::to_string(st.st_mtim.tv_sec) + "-" + std::to_string(st.st_mtim.tv_nsec);
  }
  const fs::path top = "/tmp/sandgate-test-bin";
  const fs::path name = fs::path(path).filename();
  const fs::path builds = top / name;
  const fs::path copy = builds / build / name;
  // /tmp is everyone's: each directory on the way must be root's and writable by root alone,
  // or another local user could plant the binaries the suite then runs as root.
  for (const auto& dir : {top, builds, copy.parent_path()}) OwnDirectory(dir);
  if (OthersReach(copy)) return copy.string();
  std::error_code ec;
  // Copies of earlier builds of this file are of no more use (and large, with debug info).
  for (const auto& old : fs::directory_iterator(builds, ec)) {
    if (old.path() != copy.parent_path()) fs::remove_all(old.path(), ec);
  }
  for (const auto& file : files) {
    const fs::path target = copy.parent_path() / file.filename();
    const fs::path partial = target.string() + ".partial-" + std::to_string(::getpid());
    CopyExclusively(file.string(), partial);
    if (::rename(partial.c_str(), target.c_str()) != 0) {
      throw std::runtime_error("renaming the copy of " + file.string() + ": " + std::strerror(errno));
    }
  }
  return copy.string();
}

void HandOver(const fs::path& path) {
  TestAccount account;
  std::string why;
  if (TestIdentity() == Identity::kRoot || ::geteuid() != 0 || !CellAccount(&account, &why)) return;
  ::lchown(path.c_str(), account.uid, account.gid);
  std::error_code ec;
  for (auto it = fs::recursive_directory_iterator(path, ec);
       !ec && it != fs::recursive_directory_iterator(); it.increment(ec)) {
    ::lchown(it->path().c_str(), account.uid, account.gid);
  }
}

}  // namespace sandgate::testing
