// Attacks on the policy files: they hold the rules the next run starts with, so a command that
// could write one would grant its own future network access. Where a writable root holds the
// --policy file, the file must stay read-only and where it is; a --policy-save file there, or a
// policy file reached through a link the command could re-point, must refuse the start.
#include <gmock/gmock.h>

#include <filesystem>

#include "tests/helpers/identity.h"
#include "tests/helpers/sandbox_fixture.h"

namespace sandgate::testing {
namespace {

namespace fs = std::filesystem;
using ::testing::HasSubstr;

constexpr const char* kPolicy = R"({"network": {"allow": ["10.9.9.9"]}})";

class PolicyFileEscapeTest : public SandboxTest {
 protected:
  PolicyFileEscapeTest() {
    fs::create_directories(root_ / "conf");
    WriteFile(policy_, kPolicy);
  }
  // The probe, in a sandbox whose only writable root holds the policy file.
  RunResult Probe(const std::vector<std::string>& options, const std::vector<std::string>& args) {
    std::vector<std::string> all = {"--network", "off", "-C", root_.Path().string(), "-w",
                                    root_.Path().string()};
    all.insert(all.end(), options.begin(), options.end());
    return RunProbe(all, args);
  }

  TempDir root_;
  const fs::path policy_ = root_ / "conf/policy.json";
};

TEST_F(PolicyFileEscapeTest, APolicyFileInsideAWritableRootCannotBeWrittenMovedOrReplaced) {
  const std::vector<std::string> with_policy = {"--policy", policy_.string()};
  const std::vector<std::vector<std::string>> attacks = {
      {"write", policy_.string()},
      {"unlink", policy_.string()},
      {"rename", policy_.string(), (root_ / "conf/old.json").string()},
      // Moving the directory aside and making a new one with a file of its own.
      {"rename", (root_ / "conf").string(), (root_ / "conf2").string()},
  };
  for (const auto& attack : attacks) {
    auto r = Probe(with_policy, attack);
    if (!CellHasUserNamespaces()) {
      // Without a mount namespace no protection can be mounted: the start is refused instead.
      EXPECT_EQ(r.exit_code, 125) << attack[0] << ": " << r.out << r.err;
    } else {
      EXPECT_THAT(r.out, ::testing::AnyOf("err EROFS\n", "err EBUSY\n")) << attack[0];
    }
  }
  EXPECT_EQ(ReadFile(policy_), kPolicy);
  EXPECT_FALSE(fs::exists(root_ / "conf2"));
  EXPECT_FALSE(fs::exists(root_ / "conf/old.json"));
}

TEST_F(PolicyFileEscapeTest, APolicySaveFileInsideAWritableRootRefusesToStart) {
  const fs::path saves = root_ / "saved.json";
  auto r = Probe({"--policy-save", saves.string()},
                 {"write", (root_ / "ran").string()});
  EXPECT_EQ(r.exit_code, 125);
  EXPECT_THAT(r.err, HasSubstr("--policy-save " + saves.string() + ": inside the writable root"));
  EXPECT_EQ(std::count(r.err.begin(), r.err.end(), '\n'), 1) << r.err;
  EXPECT_FALSE(fs::exists(root_ / "ran")) << "the command must not have run";
  EXPECT_FALSE(fs::exists(saves));
}

TEST_F(PolicyFileEscapeTest, APolicyFileReachedThroughALinkInsideAWritableRootRefusesToStart) {
  // The command could point the link at a file of its own before the next run.
  TempDir outside;
  WriteFile(outside / "policy.json", kPolicy);
  fs::create_symlink(outside / "policy.json", root_ / "link.json");
  auto r = Probe({"--policy", (root_ / "link.json").string()}, {"write", (root_ / "ran").string()});
  EXPECT_EQ(r.exit_code, 125);
  if (CellHasUserNamespaces()) {
    EXPECT_THAT(r.err, HasSubstr((root_ / "link.json").string() + " is a symlink inside writable root"));
  }
  EXPECT_FALSE(fs::exists(root_ / "ran"));
}

TEST_F(PolicyFileEscapeTest, APolicyFileOutsideTheWritableRootsIsLeftAsItIs) {
  // The protection only where it is needed: outside every writable root the file is read-only
  // already, and its directory is not pinned.
  if (!CellHasUserNamespaces()) GTEST_SKIP() << "a writable root needs a mount namespace here";
  TempDir outside;
  WriteFile(outside / "policy.json", kPolicy);
  auto r = Probe({"--policy", (outside / "policy.json").string()},
                 {"write", (outside / "policy.json").string()});
  EXPECT_EQ(r.out, OutsideRootsWriteError());
  EXPECT_EQ(ReadFile(outside / "policy.json"), kPolicy);
}

}  // namespace
}  // namespace sandgate::testing
