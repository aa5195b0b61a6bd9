#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include "tests/unit/bubblewrap/bwrap_samples.h"
#include "vendor/bubblewrap/bwrap_probe.h"

namespace sandgate::bubblewrap {
namespace {

using ::testing::ElementsAre;
using ::testing::IsEmpty;

std::optional<BwrapVersion> V(int major, int minor, int patch) {
  return BwrapVersion{major, minor, patch};
}

TEST(ParseBwrapVersionTest, ParsesRealOutput) {
  EXPECT_EQ(ParseBwrapVersion(testdata::kVersion080), V(0, 8, 0));
}

TEST(ParseBwrapVersionTest, ParsesOlderAndNewerReleases) {
  EXPECT_EQ(ParseBwrapVersion("bubblewrap 0.4.1\n"), V(0, 4, 1));
  EXPECT_EQ(ParseBwrapVersion("bubblewrap 0.3.3\n"), V(0, 3, 3));
  EXPECT_EQ(ParseBwrapVersion("bubblewrap 0.1.8\n"), V(0, 1, 8));
  EXPECT_EQ(ParseBwrapVersion("bubblewrap 0.10.0\n"), V(0, 10, 0));
  EXPECT_EQ(ParseBwrapVersion("bubblewrap 1.2.3"), V(1, 2, 3));  // no newline
}

TEST(ParseBwrapVersionTest, ToleratesSuffixesAndShortForms) {
  EXPECT_EQ(ParseBwrapVersion("bubblewrap 0.11.0-rc1\n"), V(0, 11, 0));
  EXPECT_EQ(ParseBwrapVersion("bubblewrap 0.9.0+git20240101\n"), V(0, 9, 0));
  EXPECT_EQ(ParseBwrapVersion("bubblewrap 0.8.0 (Debian)\r\n"), V(0, 8, 0));
  EXPECT_EQ(ParseBwrapVersion("bubblewrap 0.9\n"), V(0, 9, 0));
  EXPECT_EQ(ParseBwrapVersion("  bubblewrap\t0.8.0\n"), V(0, 8, 0));
  // Only the first line counts: later lines can't change the answer.
  EXPECT_EQ(ParseBwrapVersion("bubblewrap 0.8.0\nbubblewrap 0.1.0\n"), V(0, 8, 0));
}

TEST(ParseBwrapVersionTest, RejectsGarbage) {
  EXPECT_EQ(ParseBwrapVersion(""), std::nullopt);
  EXPECT_EQ(ParseBwrapVersion("\n"), std::nullopt);
  EXPECT_EQ(ParseBwrapVersion("bubblewrap\n"), std::nullopt);
  EXPECT_EQ(ParseBwrapVersion("bubblewrap \n"), std::nullopt);
  EXPECT_EQ(ParseBwrapVersion("bubblewrap x.y.z\n"), std::nullopt);
  EXPECT_EQ(ParseBwrapVersion("bubblewrap 0.\n"), std::nullopt);
  EXPECT_EQ(ParseBwrapVersion("bubblewrap 0.8.\n"), std::nullopt);
  EXPECT_EQ(ParseBwrapVersion("bubblewrap 8\n"), std::nullopt);
  EXPECT_EQ(ParseBwrapVersion("bubblewrap -1.8.0\n"), std::nullopt);
  EXPECT_EQ(ParseBwrapVersion("bubblewrap 0.8.0.1\n"), std::nullopt);
  EXPECT_EQ(ParseBwrapVersion("bubblewrap 99999999999999999999.0.0\n"), std::nullopt);
  EXPECT_EQ(ParseBwrapVersion("bubblewrapper 0.8.0\n"), std::nullopt);
  EXPECT_EQ(ParseBwrapVersion("bwrap 0.8.0\n"), std::nullopt);
  EXPECT_EQ(ParseBwrapVersion("usage: bwrap [OPTIONS...]\n"), std::nullopt);
  EXPECT_EQ(ParseBwrapVersion("\nbubblewrap 0.8.0\n"), std::nullopt);
}

TEST(BwrapVersionTest, ComparesNumericallyAndPrints) {
  EXPECT_LT((BwrapVersion{0, 4, 1}), kMinimumBwrapVersion);
  EXPECT_LT((BwrapVersion{0, 7, 99}), kMinimumBwrapVersion);
  EXPECT_EQ((BwrapVersion{0, 8, 0}), kMinimumBwrapVersion);
  EXPECT_GT((BwrapVersion{0, 10, 0}), kMinimumBwrapVersion);  // 10 > 8, not "1" < "8"
  EXPECT_GT((BwrapVersion{1, 0, 0}), (BwrapVersion{0, 99, 99}));
  EXPECT_EQ((BwrapVersion{0, 11, 2}).ToString(), "0.11.2");
}

TEST(ParseBwrapHelpTest, RealHelpHasEveryRequiredFlag) {
  const BwrapFeatures features = ParseBwrapHelp(testdata::kHelp080);
  for (const std::string_view flag : RequiredBwrapFlags()) {
    EXPECT_TRUE(features.Has(flag)) << flag;
  }
  EXPECT_THAT(MissingRequiredFlags(features), IsEmpty());
}

TEST(ParseBwrapHelpTest, RealHelpListsAllOptionsAndNothingElse) {
  const BwrapFeatures features = ParseBwrapHelp(testdata::kHelp080);
  // 61 option lines in bubblewrap 0.8.0's --help.
  EXPECT_EQ(features.flags.size(), 61U);
  EXPECT_TRUE(features.Has("--help"));
  EXPECT_TRUE(features.Has("--chmod"));
  EXPECT_TRUE(features.Has("--assert-userns-disabled"));
  EXPECT_FALSE(features.Has("--"));  // from "[--] COMMAND" in the usage line
  EXPECT_FALSE(features.Has("usage:"));
  EXPECT_FALSE(features.Has("--bind-data,"));
  // --argv0 arrived in 0.9.0: optional, and 0.8.0 indeed lacks it.
  EXPECT_FALSE(features.Has("--argv0"));
  EXPECT_THAT(OptionalBwrapFlags(), ElementsAre("--argv0"));
}

TEST(ParseBwrapHelpTest, OptionsNamedOnlyInDescriptionsDoNotCount) {
  const BwrapFeatures features = ParseBwrapHelp(
      "usage: bwrap [OPTIONS...] [--] COMMAND [ARGS...]\n"
      "    --share-net      Retain the network namespace (can only combine with --unshare-all)\n"
      "    --perms OCTAL    Set permissions of next argument (--bind-data, --file, etc.)\n");
  EXPECT_THAT(features.flags, ElementsAre("--perms", "--share-net"));
  EXPECT_FALSE(features.Has("--unshare-all"));
  EXPECT_FALSE(features.Has("--bind-data"));
}

TEST(ParseBwrapHelpTest, OlderHelpMissesDisableUserns) {
  const BwrapFeatures features = ParseBwrapHelp(testdata::kHelpBefore080);
  EXPECT_FALSE(features.Has("--disable-userns"));
  EXPECT_TRUE(features.Has("--unshare-user"));
  EXPECT_THAT(MissingRequiredFlags(features), ElementsAre("--disable-userns"));
}

TEST(ParseBwrapHelpTest, EmptyOrForeignHelpMissesEverything) {
  EXPECT_THAT(ParseBwrapHelp("").flags, IsEmpty());
  EXPECT_THAT(ParseBwrapHelp("Usage: frobnicate [-v]\n  -v  verbose\n").flags, IsEmpty());
  EXPECT_EQ(MissingRequiredFlags(ParseBwrapHelp("")).size(), RequiredBwrapFlags().size());
}

TEST(ParseBwrapHelpTest, MissingFlagsKeepTheRequiredOrder) {
  const BwrapFeatures features = ParseBwrapHelp(
      "    --unshare-user   x\n"
      "    --unshare-net    x\n"
      "    --proc DEST      x\n"
      "    --dev DEST       x\n"
      "    --ro-bind S D    x\n"
      "    --bind S D       x\n"
      "    --chdir DIR      x\n"
      "    --unshare-pid    x\n"
      "    --cap-drop CAP   x\n"
      "    --new-session    x\n");
  EXPECT_THAT(MissingRequiredFlags(features),
              ElementsAre("--disable-userns", "--json-status-fd", "--die-with-parent"));
}

TEST(RequiredBwrapFlagsTest, CoversWhatSandgateUses) {
  EXPECT_THAT(RequiredBwrapFlags(),
              ::testing::UnorderedElementsAre(
                  "--disable-userns", "--json-status-fd", "--die-with-parent", "--new-session",
                  "--unshare-user", "--unshare-net", "--unshare-pid", "--cap-drop", "--proc",
                  "--dev", "--ro-bind", "--bind", "--chdir"));
}

}  // namespace
}  // namespace sandgate::bubblewrap
