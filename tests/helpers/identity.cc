#include "tests/helpers/identity.h"

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

}  // namespace

Identity TestIdentity() {
  const char* value = std::getenv("SANDGATE_TEST_IDENTITY");
  return value != nullptr && std::strcmp(value, "user") == 0 ? Identity::kUser : Identity::kRoot;
}

const char* IdentityName(Identity identity) { return identity == Identity::kUser ? "user" : "root"; }

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
  wrapped.insert(wrapped.end(), argv.begin(), argv.end());
  return wrapped;
}

std::string ReachableExecutable(const std::string& path) {
  if (TestIdentity() == Identity::kRoot || ::geteuid() != 0 || OthersReach(path)) return path;
  struct stat st {};
  if (::stat(path.c_str(), &st) != 0) return path;
  // One copy per build of the file (its size and mtime name it), shared by every test process;
  // made under a temporary name and renamed into place, so parallel tests never see half a copy.
  const fs::path dir = "/tmp/sandgate-test-bin";
  const fs::path copy = dir / (std::to_string(st.st_size) + "-" + std::to_string(st.st_mtim.tv_sec) +
                               "-" + std::to_string(st.st_mtim.tv_nsec)) /
                        fs::path(path).filename();
  if (OthersReach(copy)) return copy.string();
  std::error_code ec;
  fs::create_directories(copy.parent_path(), ec);
  for (fs::path d = copy.parent_path(); d != dir.parent_path(); d = d.parent_path()) {
    ::chmod(d.c_str(), 0755);
  }
  const fs::path partial = copy.string() + ".partial-" + std::to_string(::getpid());
  fs::copy_file(path, partial, fs::copy_options::overwrite_existing, ec);
  if (ec) throw std::runtime_error("copying " + path + " for the test user: " + ec.message());
  ::chmod(partial.c_str(), 0755);
  if (::rename(partial.c_str(), copy.c_str()) != 0) {
    throw std::runtime_error("renaming the copy of " + path + ": " + std::strerror(errno));
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
