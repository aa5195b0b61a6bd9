#include "supervisor/child/legacy_pipeline.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include "pipelines/mount_plan.h"

namespace sandgate::supervisor {
namespace {

using ::testing::HasSubstr;
using pipelines::LegacyNamespaces;
using pipelines::LegacyShape;
using pipelines::Protection;
using pipelines::ProtectionKind;

pipelines::SandboxSpec Spec(std::vector<std::filesystem::path> roots) {
  pipelines::SandboxSpec spec;
  spec.command = {"true"};
  spec.cwd = "/w";
  spec.writable_roots = std::move(roots);
  spec.pipeline = pipelines::Pipeline::kLegacy;
  return spec;
}

std::optional<std::string> Why(const pipelines::SandboxSpec& spec, LegacyShape shape,
                               const std::vector<Protection>& protections) {
  return WhyLegacyShapeFalls(spec, shape, pipelines::PlanMounts(spec.writable_roots, protections),
                             protections, "user namespaces are unavailable here (EPERM)");
}

TEST(LegacyShapeTest, NamespacesKeepEveryPromise) {
  const auto spec = Spec({"/w"});
  const std::vector<Protection> protections = {{"/w/.git", ProtectionKind::kReadOnly, "top"}};
  EXPECT_EQ(Why(spec, {LegacyNamespaces::kUser, 3}, protections), std::nullopt);
  EXPECT_EQ(Why(spec, {LegacyNamespaces::kRoot, 3}, protections), std::nullopt);
}

TEST(LegacyShapeTest, WithoutNamespacesAProtectedPathIsRefusedByName) {
  const auto spec = Spec({"/w"});
  auto why = Why(spec, {LegacyNamespaces::kNone, 7},
                 {{"/w/.git", ProtectionKind::kReadOnly, ".git of /w"}});
  ASSERT_TRUE(why);
  EXPECT_THAT(*why, HasSubstr("/w/.git (.git of /w)"));
  EXPECT_THAT(*why, HasSubstr("user namespaces are unavailable"));
  EXPECT_THAT(*why, HasSubstr("--read-only"));
  // A missing name needs its /dev/null just as much.
  EXPECT_TRUE(Why(spec, {LegacyNamespaces::kNone, 7},
                  {{"/w/.codex", ProtectionKind::kBlockMissing, "missing"}}));
}

TEST(LegacyShapeTest, WithoutNamespacesAPinIsRefusedToo) {
  // /w/sub/.git cannot be created, but /w/sub could be moved aside: it needs a pin.
  const auto spec = Spec({"/w"});
  auto why = Why(spec, {LegacyNamespaces::kNone, 7},
                 {{"/w/sub/.git", ProtectionKind::kUncreatable, "cwd"}});
  ASSERT_TRUE(why);
  EXPECT_THAT(*why, HasSubstr("/w/sub (a directory above a protected path"));
}

TEST(LegacyShapeTest, WithoutNamespacesReadOnlyNeedsAbiSix) {
  const auto spec = Spec({});
  EXPECT_EQ(Why(spec, {LegacyNamespaces::kNone, 6}, {}), std::nullopt);
  auto why = Why(spec, {LegacyNamespaces::kNone, 5}, {});
  ASSERT_TRUE(why);
  EXPECT_THAT(*why, HasSubstr("signals and abstract unix sockets"));
  EXPECT_THAT(*why, HasSubstr("ABI 5"));
}

TEST(LegacyShapeTest, WithoutNamespacesAWritableRootWithNothingToProtectIsFine) {
  EXPECT_EQ(Why(Spec({"/w"}), {LegacyNamespaces::kNone, 7}, {}), std::nullopt);
}

}  // namespace
}  // namespace sandgate::supervisor
