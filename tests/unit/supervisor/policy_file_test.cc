#include "supervisor/policy_file.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include "supervisor/cli.h"
#include "tests/helpers/temp_dir.h"

namespace sandgate::supervisor {
namespace {

using ::testing::ElementsAre;
using ::testing::HasSubstr;

PolicyFile ParseOk(const std::string& text) {
  auto parsed = ParsePolicyFile("p.json", text);
  if (auto* error = std::get_if<PolicyFileError>(&parsed)) {
    ADD_FAILURE() << error->message;
    return {};
  }
  return std::get<PolicyFile>(parsed);
}

std::string ParseError(const std::string& text) {
  auto parsed = ParsePolicyFile("p.json", text);
  auto* error = std::get_if<PolicyFileError>(&parsed);
  if (error == nullptr) {
    ADD_FAILURE() << "expected an error for " << text;
    return "";
  }
  EXPECT_EQ(error->message.find('\n'), std::string::npos);
  return error->message;
}

TEST(PolicyFileTest, FullPolicy) {
  auto policy = ParseOk(R"({"network": {"mode": "off", "allow": ["github.com:443"], "deny": ["10.0.0.0/8"]},
                            "filesystem": {"writableRoots": ["/tmp"], "readOnly": false}})");
  EXPECT_EQ(policy.network_mode, "off");
  EXPECT_THAT(policy.rules.allow, ElementsAre("github.com:443"));
  EXPECT_THAT(policy.rules.deny, ElementsAre("10.0.0.0/8"));
  EXPECT_THAT(policy.writable_roots, ElementsAre("/tmp"));
  EXPECT_EQ(policy.read_only, false);
}

TEST(PolicyFileTest, EmptyObjectIsAnEmptyPolicy) {
  auto policy = ParseOk("{}");
  EXPECT_FALSE(policy.network_mode.has_value());
  EXPECT_TRUE(policy.rules.allow.empty());
}

TEST(PolicyFileTest, UnknownKeysNameTheirPath) {
  EXPECT_THAT(ParseError(R"({"netwrk": {}})"), HasSubstr("unknown key \"netwrk\""));
  EXPECT_THAT(ParseError(R"({"network": {"alow": []}})"), HasSubstr("unknown key \"network.alow\""));
  EXPECT_THAT(ParseError(R"({"filesystem": {"writable": []}})"),
              HasSubstr("unknown key \"filesystem.writable\""));
}

TEST(PolicyFileTest, WrongTypesAndBadJson) {
  EXPECT_THAT(ParseError(R"({"network": {"allow": "github.com"}})"), HasSubstr("network.allow"));
  EXPECT_THAT(ParseError(R"({"network": {"allow": [1]}})"), HasSubstr("network.allow[0]"));
  EXPECT_THAT(ParseError(R"({"network": {"mode": "maybe"}})"), HasSubstr("network.mode"));
  EXPECT_THAT(ParseError(R"({"filesystem": {"readOnly": "yes"}})"), HasSubstr("filesystem.readOnly"));
  EXPECT_THAT(ParseError("{"), HasSubstr("not valid JSON"));
  EXPECT_THAT(ParseError("[]"), HasSubstr("expected an object"));
}

CliResult Parse(std::vector<std::string> args) {
  args.insert(args.begin(), "sandgate");
  std::vector<const char*> argv;
  for (const auto& a : args) argv.push_back(a.c_str());
  return ParseCommandLine(static_cast<int>(argv.size()), argv.data());
}

TEST(PolicyFileTest, CommandLineAddsToThePolicyFileAndWinsOnMode) {
  testing::TempDir dir;
  testing::WriteFile(dir / "policy.json",
                     R"({"network": {"mode": "off", "allow": ["example.org"], "deny": ["10.0.0.0/8"]}})");
  auto result = Parse({"run", "--policy", (dir / "policy.json").string(), "--allow", "github.com",
                       "--", "true"});
  ASSERT_TRUE(std::holds_alternative<RunConfig>(result));
  const auto& config = std::get<RunConfig>(result);
  EXPECT_EQ(config.sandbox.network, pipelines::NetworkMode::kOff);
  EXPECT_EQ(config.rules.allow.size(), 2u);
  EXPECT_EQ(config.rules.deny.size(), 1u);
  result = Parse({"run", "--policy", (dir / "policy.json").string(), "--network", "approve", "--",
                  "true"});
  EXPECT_EQ(std::get<RunConfig>(result).sandbox.network, pipelines::NetworkMode::kApprove);
}

TEST(PolicyFileTest, BadPolicyFileIsExit125WithOneLine) {
  testing::TempDir dir;
  testing::WriteFile(dir / "policy.json", R"({"network": {"allow": ["*"]}})");
  auto result = Parse({"run", "--policy", (dir / "policy.json").string(), "--", "true"});
  auto* exit = std::get_if<CliExit>(&result);
  ASSERT_NE(exit, nullptr);
  EXPECT_EQ(exit->code, 125);
  EXPECT_EQ(std::count(exit->message.begin(), exit->message.end(), '\n'), 1);
  result = Parse({"run", "--policy", (dir / "missing.json").string(), "--", "true"});
  EXPECT_THAT(std::get<CliExit>(result).message, HasSubstr("cannot read"));
}

}  // namespace
}  // namespace sandgate::supervisor
