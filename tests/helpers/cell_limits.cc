#include "tests/helpers/cell_limits.h"

#include <string_view>

#include "tests/helpers/identity.h"

namespace sandgate::testing {
namespace {

struct Limit {
  std::string_view suite;
  std::string_view name;  // "*": the whole suite
  std::string_view why;
};

// An ordinary user without user namespaces: the legacy pipeline makes no namespace at all.
constexpr std::string_view kNeedsWritableRoot =
    "needs a writable root, whose protected names take a mount namespace: without user "
    "namespaces sandgate refuses such a sandbox (NoUserNamespacesTest.WritableRootIsRefused"
    "ByName checks the refusal)";
constexpr std::string_view kNeedsPidNamespace =
    "needs a PID namespace: without user namespaces the command shares the host's "
    "(LegacySurfaceEscapeTest.HostProcessCannotBeTracedSignalledOrRead checks what still "
    "holds, NoUserNamespacesTest.ReadOnlyRunsAndSaysItHasNoPidNamespace that it is said)";
constexpr std::string_view kNeedsNetworkNamespace =
    "needs the sandbox's own network namespace: without user namespaces the command shares the "
    "host's, so nothing is sandbox-local and every connect is decided "
    "(NoUserNamespacesTest.HostLoopbackIsMediated checks it)";

constexpr Limit kWithoutUserNamespaces[] = {
    {"FilesystemTest", "WritesInsideAWritableRootSucceed", kNeedsWritableRoot},
    {"FilesystemTest", "DefaultWritableRootsAreCwdAndTmp", kNeedsWritableRoot},
    {"FilesystemTest", "WorktreeGitdirTargetCannotBeModified", kNeedsWritableRoot},
    {"FilesystemTest", "NestedWritableRootKeepsItsOwnProtection", kNeedsWritableRoot},
    {"FilesystemTest", "PlaceholderLeftByAKilledRunIsCleanedUp", kNeedsWritableRoot},
    {"FilesystemEscapeTest", "*", kNeedsWritableRoot},
    {"UnixRulesTest", "TempDirIsTheSamePathInsideTheSandbox", kNeedsWritableRoot},
    {"UnixRulesTest", "SymlinkPlantedByTheCommandIsMatchedByItsTarget", kNeedsWritableRoot},
    {"UnixRulesTest", "SymlinkToAnAllowedSocketIsConnected", kNeedsWritableRoot},
    {"UnixEscapeTest", "SymlinkRepointedDuringTheCheckNeverReachesTheForbiddenSocket",
     kNeedsWritableRoot},
    {"UnixEscapeTest", "AbsoluteSymlinkOutOfTheAllowedDirectoryStaysDenied", kNeedsWritableRoot},
    {"LegacySurfaceEscapeTest", "RenameOutOfAWritableRootFails", kNeedsWritableRoot},
    {"LegacySurfaceEscapeTest", "HardLinkFromOutsideIntoAWritableRootGivesNoWrite",
     kNeedsWritableRoot},
    {"LegacySurfaceEscapeTest", "UnmountingAProtectionFails", kNeedsWritableRoot},
    {"CodexHelperTest", "WorkspaceWriteWritesTheWorkspaceOnly", kNeedsWritableRoot},
    {"CodexHelperTest", "SplitPoliciesAsNewerCodexSendsThem", kNeedsWritableRoot},
    {"CodexHelperTest", "ExternalSandboxLeavesTheFilesystemToItsOwner", kNeedsWritableRoot},
    {"IsolationTest", "CommandRunsInItsOwnPidNamespace", kNeedsPidNamespace},
    {"ProcTest", "FreshProcShowsTheSandboxPidNamespace", kNeedsPidNamespace},
    {"ProcTest", "FallsBackWithoutProcWhenTheMountIsForbidden", kNeedsPidNamespace},
    {"MediationTest", "LoopbackInsideTheSandboxNeedsNoApproval", kNeedsNetworkNamespace},
    {"MediationTest", "MediationThatCannotBeSetUpStopsBeforeTheCommandRuns",
     "imitates a namespace helper that cannot join the sandbox's network namespace: without "
     "user namespaces there is none to join"},
    {"UnixRulesTest", "AbstractListenerInsideTheSandboxNeedsNoRule", kNeedsNetworkNamespace},
    {"PublishTest", "*",
     "publishes ports of the sandbox's own network namespace: without user namespaces the "
     "command shares the host's, and sandgate refuses --publish "
     "(PublishRefusedTest.WithoutANetworkNamespaceSandgateRefusesBeforeTheCommandRuns checks it)"},
};

}  // namespace

std::optional<std::string> WhyNotInThisCell(const std::string& suite, const std::string& name) {
  if (CellHasUserNamespaces()) return std::nullopt;
  for (const auto& limit : kWithoutUserNamespaces) {
    if (limit.suite == suite && (limit.name == "*" || limit.name == name)) {
      return "not in the cell without user namespaces: " + std::string(limit.why);
    }
  }
  return std::nullopt;
}

}  // namespace sandgate::testing
