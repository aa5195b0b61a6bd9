#include "approvals/codex_policy.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

namespace sandgate::approvals::codex {
namespace {

using ::testing::ElementsAre;
using ::testing::HasSubstr;

Inputs Legacy(std::string policy) {
  Inputs in;
  in.sandbox_policy = std::move(policy);
  in.policy_cwd = "/work/repo";
  in.tmpdir_env = "/var/tmp/me";
  return in;
}

Sandbox Ok(const Inputs& in) {
  auto result = MapPolicies(in);
  if (auto* error = std::get_if<Error>(&result)) {
    ADD_FAILURE() << error->message;
    return {};
  }
  return std::get<Sandbox>(result);
}

std::string Fails(const Inputs& in) {
  auto result = MapPolicies(in);
  if (auto* error = std::get_if<Error>(&result)) return error->message;
  ADD_FAILURE() << "mapped although it should not";
  return "";
}

TEST(CodexPolicyTest, WorkspaceWriteMakesTheCwdRootsTmpAndTmpdirWritable) {
  auto s = Ok(Legacy(R"({"type":"workspace-write","writable_roots":["/data","/work/repo"],
                         "network_access":false,"some_future_field":{"x":1}})"));
  EXPECT_FALSE(s.unsandboxed);
  EXPECT_FALSE(s.network);
  EXPECT_THAT(s.writable_roots, ElementsAre("/work/repo", "/data", "/tmp", "/var/tmp/me"));
}

TEST(CodexPolicyTest, WorkspaceWriteExclusions) {
  auto s = Ok(Legacy(R"({"type":"workspace-write","exclude_slash_tmp":true,
                         "exclude_tmpdir_env_var":true,"network_access":true})"));
  EXPECT_TRUE(s.network);
  EXPECT_THAT(s.writable_roots, ElementsAre("/work/repo"));
  Inputs relative_tmpdir = Legacy(R"({"type":"workspace-write"})");
  relative_tmpdir.tmpdir_env = "tmp";
  EXPECT_THAT(Ok(relative_tmpdir).writable_roots, ElementsAre("/work/repo", "/tmp"));
}

TEST(CodexPolicyTest, ReadOnlyFullAccessAndExternal) {
  EXPECT_EQ(Ok(Legacy(R"({"type":"read-only"})")), (Sandbox{false, false, {}}));
  EXPECT_EQ(Ok(Legacy(R"({"type":"danger-full-access"})")), (Sandbox{true, true, {}}));
  EXPECT_EQ(Ok(Legacy(R"({"type":"external-sandbox","network_access":"restricted"})")),
            (Sandbox{false, false, {"/"}}));
  EXPECT_EQ(Ok(Legacy(R"({"type":"external-sandbox","network_access":"enabled"})")),
            (Sandbox{false, true, {"/"}}));
}

TEST(CodexPolicyTest, BadPoliciesSayWhatIsWrong) {
  EXPECT_THAT(Fails(Legacy("{not json")), HasSubstr("--sandbox-policy: malformed JSON"));
  EXPECT_THAT(Fails(Legacy(R"({"type":"workspace-writ"})")), HasSubstr("unknown \"type\""));
  EXPECT_THAT(Fails(Legacy(R"({"mode":"read-only"})")), HasSubstr("\"type\" must be a string"));
  EXPECT_THAT(Fails(Legacy(R"({"type":"workspace-write","writable_roots":["rel/dir"]})")),
              HasSubstr("\"rel/dir\" is not an absolute path"));
  EXPECT_THAT(Fails(Legacy(R"({"type":"workspace-write","network_access":"yes"})")),
              HasSubstr("\"network_access\" must be true or false"));
  EXPECT_THAT(Fails(Inputs{}), HasSubstr("no sandbox policy"));
}

Inputs Split(std::string fs, std::string net) {
  Inputs in;
  in.file_system_policy = std::move(fs);
  in.network_policy = std::move(net);
  in.policy_cwd = "/work/repo";
  in.tmpdir_env = "/var/tmp/me";
  return in;
}

constexpr const char* kWorkspaceSplit = R"({"kind":"restricted","entries":[
  {"path":{"type":"special","value":{"kind":"root"}},"access":"read"},
  {"path":{"type":"special","value":{"kind":"current_working_directory"}},"access":"write"},
  {"path":{"type":"path","path":"/data"},"access":"write"},
  {"path":{"type":"special","value":{"kind":"slash_tmp"}},"access":"write"},
  {"path":{"type":"special","value":{"kind":"tmpdir"}},"access":"write"}]})";

TEST(CodexPolicyTest, SplitFormMapsEntries) {
  auto s = Ok(Split(kWorkspaceSplit, R"("restricted")"));
  EXPECT_FALSE(s.network);
  EXPECT_THAT(s.writable_roots, ElementsAre("/work/repo", "/data", "/tmp", "/var/tmp/me"));
  EXPECT_EQ(Ok(Split(R"({"kind":"unrestricted"})", R"("enabled")")), (Sandbox{false, true, {"/"}}));
}

TEST(CodexPolicyTest, SplitFormRefusesWhatSandgateCannotKeep) {
  EXPECT_THAT(Fails(Split(R"({"kind":"restricted","entries":[
      {"path":{"type":"path","path":"/work"},"access":"read"}]})", R"("restricted")")),
              HasSubstr("cannot be kept"));
  EXPECT_THAT(Fails(Split(R"({"kind":"restricted","entries":[
      {"path":{"type":"special","value":{"kind":"root"}},"access":"read"},
      {"path":{"type":"path","path":"/work/secret"},"access":"deny"}]})", R"("restricted")")),
              HasSubstr("\"deny\" entries are not supported"));
  EXPECT_THAT(Fails(Split(kWorkspaceSplit, R"("sometimes")")), HasSubstr("unknown value"));
  EXPECT_THAT(Fails(Split(kWorkspaceSplit, R"({"kind":"x"})")), HasSubstr("must be"));
  Inputs half;
  half.file_system_policy = kWorkspaceSplit;
  EXPECT_THAT(Fails(half), HasSubstr("go together"));
}

TEST(CodexPolicyTest, BothFormsMustAgree) {
  Inputs both = Split(kWorkspaceSplit, R"("restricted")");
  both.sandbox_policy = R"({"type":"workspace-write","writable_roots":["/data"]})";
  EXPECT_THAT(Ok(both).writable_roots, ElementsAre("/work/repo", "/data", "/tmp", "/var/tmp/me"));
  both.network_policy = R"("enabled")";
  EXPECT_THAT(Fails(both), HasSubstr("disagree"));
  both.network_policy = R"("restricted")";
  both.sandbox_policy = R"({"type":"read-only"})";
  EXPECT_THAT(Fails(both), HasSubstr("disagree"));
}

}  // namespace
}  // namespace sandgate::approvals::codex
