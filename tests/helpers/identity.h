#pragma once

#include <sys/types.h>

#include <filesystem>
#include <string>
#include <vector>

namespace sandgate::testing {

// Who sandgate runs as in a test: the integration and escape suites run every test in both
// cells, because most people who run agents are not root and a feature that only works as root
// does not work.
//
// ctest runs each of those test binaries twice (tests named `root/...` and `user/...`, see
// sandgate_add_matrix_test in cmake/): SANDGATE_TEST_IDENTITY says which cell this process is.
// In the user cell a suite running as root starts sandgate through
//   setpriv --reuid=U --regid=G --init-groups --inh-caps=-all --bounding-set=-all --
// as the test user (SANDGATE_TEST_USER, default `sandgate-test`, created by
// scripts/create-test-user.sh); a suite already running as an ordinary user runs sandgate as
// itself. Everything sandgate or the command must touch is handed to that user: the binaries
// (copied where it can reach them), the test's temporary directories, a test's pty.
enum class Identity { kRoot, kUser };

[[nodiscard]] Identity TestIdentity();
// False in the cell of an unprivileged user on a machine without user namespaces
// (SANDGATE_TEST_IDENTITY=user-nouserns, ctest's `nouserns/legacy/...`): sandgate runs as the
// user under a seccomp filter that refuses new user namespaces, with the legacy pipeline.
[[nodiscard]] bool CellHasUserNamespaces();
[[nodiscard]] const char* IdentityName(Identity identity);

// The pipeline dimension of the matrix: SANDGATE_TEST_PIPELINE (bwrap, the default, or legacy).
// In the legacy cells every `sandgate run` a test starts gets `--pipeline legacy` (unless the
// test names a pipeline itself), so a test written once runs in both.
enum class TestPipeline { kBwrap, kLegacy };
[[nodiscard]] TestPipeline CellPipeline();
[[nodiscard]] const char* PipelineName(TestPipeline pipeline);

// What the probe prints for a write outside every writable root: bwrap mounts the root read-only
// (EROFS); the legacy pipeline leaves the host's mounts as they are and Landlock refuses (EACCES).
// Protected paths inside a writable root are read-only mounts in both (EROFS).
[[nodiscard]] const char* OutsideRootsWriteError();

// What a connect to a host's abstract unix socket without a rule gets: made in the sandbox's own
// network namespace, where nothing listens (ECONNREFUSED); refused outright where the sandbox
// shares the host's network (EPERM, the cell without user namespaces).
[[nodiscard]] const char* HostAbstractConnectError();

// The uid and gid sandgate runs as in this cell.
struct TestAccount {
  uid_t uid = 0;
  gid_t gid = 0;
  std::string name;
};
// The account of this cell; for the user cell as root, the test user (it must exist: the call
// fails the test with what to run otherwise). `why` gets the reason when there is none.
[[nodiscard]] bool CellAccount(TestAccount* account, std::string* why);

// `argv` as this cell runs it: unchanged for root (and for a suite that is not root), behind
// setpriv for the user cell; a `sandgate run` in a legacy cell gets `--pipeline legacy`. Hands
// the live TempDirs to the account first.
[[nodiscard]] std::vector<std::string> AsCellIdentity(std::vector<std::string> argv);

// `path` (an executable built with the suite) at a place the cell's account can execute it: the
// path itself when every directory above it lets others through, else a copy made once per
// build of the file under /tmp, with copies of the `companions` (file names next to it, such
// as sandgate's sandgate-inner) next to the copy.
[[nodiscard]] std::string ReachableExecutable(const std::string& path,
                                              const std::vector<std::string>& companions = {});

// Makes `path` and everything below it (not following symlinks) belong to the cell's account.
void HandOver(const std::filesystem::path& path);

}  // namespace sandgate::testing
