#include "supervisor/policy_save.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <linux/capability.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <filesystem>
#include <functional>
#include <nlohmann/json.hpp>
#include <set>
#include <string>
#include <utility>
#include <variant>
#include <vector>

#include "supervisor/policy_file.h"
#include "tests/helpers/temp_dir.h"

namespace sandgate::supervisor {
namespace {

namespace fs = std::filesystem;
using approvals::AmendmentAction;
using ::testing::ElementsAre;
using ::testing::HasSubstr;
using ::testing::IsEmpty;
using testing::ReadFile;
using testing::TempDir;
using testing::WriteFile;

struct stat StatOf(const fs::path& path) {
  struct stat st {};
  EXPECT_EQ(::lstat(path.c_str(), &st), 0) << path << ": " << std::strerror(errno);
  return st;
}

mode_t CurrentUmask() {
  const mode_t mask = ::umask(0);
  ::umask(mask);
  return mask;
}

// The names in `dir`: no temporary file may stay behind.
std::vector<std::string> Names(const fs::path& dir) {
  std::vector<std::string> names;
  for (const auto& entry : fs::directory_iterator(dir)) names.push_back(entry.path().filename());
  std::sort(names.begin(), names.end());
  return names;
}

PolicyFile ParsedPolicy(const fs::path& path) {
  auto parsed = ParsePolicyFile(path, ReadFile(path));
  if (auto* error = std::get_if<PolicyFileError>(&parsed)) {
    ADD_FAILURE() << error->message;
    return {};
  }
  return std::get<PolicyFile>(std::move(parsed));
}

void ExpectSaved(const fs::path& path, const std::string& rule, AmendmentAction action) {
  const auto saved = SavePolicyRule(path, rule, action);
  ASSERT_TRUE(saved.Ok()) << saved.Err().Message();
}

// Runs `body` in a child process and returns its exit code (-1 when it did not exit), so that
// the child can give up privileges or race others without touching this process.
int InChild(const std::function<int()>& body) {
  const pid_t pid = ::fork();
  if (pid < 0) return -1;
  if (pid == 0) _exit(body());
  int status = 0;
  if (::waitpid(pid, &status, 0) != pid) return -1;
  return WIFEXITED(status) ? WEXITSTATUS(status) : -1;
}

// Without its effective capabilities root obeys file modes like anyone else; for anyone else
// this changes nothing.
bool DropEffectiveCapabilities() {
  __user_cap_header_struct header{_LINUX_CAPABILITY_VERSION_3, 0};
  __user_cap_data_struct data[_LINUX_CAPABILITY_U32S_3] = {};
  if (::syscall(SYS_capget, &header, data) != 0) return false;
  for (auto& d : data) d.effective = 0;
  return ::syscall(SYS_capset, &header, data) == 0;
}

TEST(PolicySaveTest, AMissingFileIsCreatedWithTheRule) {
  TempDir dir;
  const fs::path path = dir / "policy.json";
  ExpectSaved(path, "github.com:443", AmendmentAction::kAllow);
  EXPECT_EQ(ReadFile(path), R"({
  "network": {
    "allow": [
      "github.com:443"
    ]
  }
}
)");
  EXPECT_EQ(StatOf(path).st_mode & 07777, 0644 & ~CurrentUmask());
  EXPECT_THAT(Names(dir.Path()), ElementsAre("policy.json"));
}

TEST(PolicySaveTest, ADenyGoesToTheDenyList) {
  TempDir dir;
  const fs::path path = dir / "policy.json";
  ExpectSaved(path, "10.0.0.1:22", AmendmentAction::kDeny);
  EXPECT_EQ(ReadFile(path),
            "{\n  \"network\": {\n    \"deny\": [\n      \"10.0.0.1:22\"\n    ]\n  }\n}\n");
}

TEST(PolicySaveTest, EverythingElseInTheFileIsKeptInItsOrder) {
  TempDir dir;
  const fs::path path = dir / "policy.json";
  WriteFile(path, R"({"filesystem": {"writableRoots": ["/srv/b", "/srv/a"], "readOnly": false},
  "network": {"proxy": "http://user:pw@proxy.example:3128", "mode": "approve",
              "route": ["**.pypi.org"], "allow": ["zeta.example", "alpha.example:80"],
              "dnsUpstream": "9.9.9.9", "dnsStrict": true}})");
  ExpectSaved(path, "unix:/run/user/1000/bus", AmendmentAction::kAllow);
  EXPECT_EQ(ReadFile(path), R"({
  "filesystem": {
    "writableRoots": [
      "/srv/b",
      "/srv/a"
    ],
    "readOnly": false
  },
  "network": {
    "proxy": "http://user:pw@proxy.example:3128",
    "mode": "approve",
    "route": [
      "**.pypi.org"
    ],
    "allow": [
      "zeta.example",
      "alpha.example:80",
      "unix:/run/user/1000/bus"
    ],
    "dnsUpstream": "9.9.9.9",
    "dnsStrict": true
  }
}
)");
}

TEST(PolicySaveTest, ANewListGoesAfterTheOtherKeys) {
  TempDir dir;
  const fs::path path = dir / "policy.json";
  WriteFile(path, R"({"filesystem": {"readOnly": true}})");
  ExpectSaved(path, "[2001:db8::1]:443", AmendmentAction::kDeny);
  EXPECT_EQ(ReadFile(path), R"({
  "filesystem": {
    "readOnly": true
  },
  "network": {
    "deny": [
      "[2001:db8::1]:443"
    ]
  }
}
)");
}

TEST(PolicySaveTest, ARuleAlreadyThereIsNotAddedTwice) {
  TempDir dir;
  const fs::path path = dir / "policy.json";
  ExpectSaved(path, "github.com:443", AmendmentAction::kAllow);
  const std::string once = ReadFile(path);
  ExpectSaved(path, "github.com:443", AmendmentAction::kAllow);
  EXPECT_EQ(ReadFile(path), once);
  // The same rule written another way is the same rule.
  WriteFile(path, R"({"network": {"allow": ["GitHub.COM.:443"]}})");
  ExpectSaved(path, "github.com:443", AmendmentAction::kAllow);
  EXPECT_THAT(ParsedPolicy(path).rules.allow, ElementsAre("GitHub.COM.:443"));
  // A rule differing in its port is another rule.
  ExpectSaved(path, "github.com:22", AmendmentAction::kAllow);
  EXPECT_THAT(ParsedPolicy(path).rules.allow, ElementsAre("GitHub.COM.:443", "github.com:22"));
}

TEST(PolicySaveTest, ALaterDecisionReplacesAnEarlierOne) {
  TempDir dir;
  const fs::path path = dir / "policy.json";
  WriteFile(
      path,
      R"({"network": {"allow": ["a.example"], "deny": ["bad.example:443", "Example.com:443", "b.example"]}})");
  ExpectSaved(path, "example.com:443", AmendmentAction::kAllow);
  PolicyFile policy = ParsedPolicy(path);
  EXPECT_THAT(policy.rules.allow, ElementsAre("a.example", "example.com:443"));
  EXPECT_THAT(policy.rules.deny, ElementsAre("bad.example:443", "b.example"));

  ExpectSaved(path, "a.example", AmendmentAction::kDeny);
  policy = ParsedPolicy(path);
  EXPECT_THAT(policy.rules.allow, ElementsAre("example.com:443"));
  EXPECT_THAT(policy.rules.deny, ElementsAre("bad.example:443", "b.example", "a.example"));

  // An emptied list stays, empty.
  ExpectSaved(path, "example.com:443", AmendmentAction::kDeny);
  EXPECT_THAT(ParsedPolicy(path).rules.allow, IsEmpty());
  EXPECT_THAT(ReadFile(path), HasSubstr("\"allow\": []"));
}

TEST(PolicySaveTest, TheRuleIsWrittenInItsCanonicalForm) {
  TempDir dir;
  const fs::path path = dir / "policy.json";
  ExpectSaved(path, "  GitHub.com.:443 ", AmendmentAction::kAllow);
  EXPECT_THAT(ParsedPolicy(path).rules.allow, ElementsAre("github.com:443"));
}

TEST(PolicySaveTest, TheModeIsKept) {
  TempDir dir;
  for (const unsigned mode : {0600U, 0640U, 0664U}) {
    const fs::path path = dir / ("policy-" + std::to_string(mode) + ".json");
    WriteFile(path, "{}", mode);
    ASSERT_EQ(::chmod(path.c_str(), mode), 0);  // whatever the umask
    ExpectSaved(path, "github.com", AmendmentAction::kAllow);
    EXPECT_EQ(StatOf(path).st_mode & 07777, mode) << std::oct << mode;
  }
}

TEST(PolicySaveTest, TheOwnerIsKeptWhenRunningAsRoot) {
  if (::geteuid() != 0) GTEST_SKIP() << "only root can give a file to someone else";
  TempDir dir;
  const fs::path path = dir / "policy.json";
  WriteFile(path, "{}", 0640);
  ASSERT_EQ(::chown(path.c_str(), 12345, 23456), 0);
  ExpectSaved(path, "github.com", AmendmentAction::kAllow);
  const struct stat st = StatOf(path);
  EXPECT_EQ(st.st_uid, 12345u);
  EXPECT_EQ(st.st_gid, 23456u);
  EXPECT_EQ(st.st_mode & 07777, 0640u);
}

struct Snapshot {
  std::string content;
  struct stat st {};
};

Snapshot Take(const fs::path& path) { return {ReadFile(path), StatOf(path)}; }

void ExpectUntouched(const fs::path& path, const Snapshot& before) {
  const Snapshot after = Take(path);
  EXPECT_EQ(after.content, before.content);
  EXPECT_EQ(after.st.st_ino, before.st.st_ino);
  EXPECT_EQ(after.st.st_mtim.tv_sec, before.st.st_mtim.tv_sec);
  EXPECT_EQ(after.st.st_mtim.tv_nsec, before.st.st_mtim.tv_nsec);
  EXPECT_EQ(after.st.st_mode, before.st.st_mode);
}

TEST(PolicySaveTest, AMalformedFileIsRefusedAndLeftAsItWas) {
  const std::vector<std::pair<std::string, std::string>> cases = {
      {"not valid JSON", "{\"network\": {\"allow\": [\"a.example\",]}}"},
      {"not valid JSON", ""},
      {"unknown key \"network.alow\"", R"({"network": {"alow": ["a.example"]}})"},
      {"unknown key \"proxy\"", R"({"proxy": "http://p:1"})"},
      {"network.deny: expected an array of strings", R"({"network": {"deny": "a.example"}})"},
      {"expected an object", "[]"},
  };
  for (const auto& [problem, content] : cases) {
    SCOPED_TRACE(problem);
    TempDir dir;
    const fs::path path = dir / "policy.json";
    WriteFile(path, content, 0600);
    const Snapshot before = Take(path);
    const auto saved = SavePolicyRule(path, "github.com", AmendmentAction::kAllow);
    ASSERT_FALSE(saved.Ok());
    EXPECT_THAT(saved.Err().Message(), HasSubstr(path.string() + ": "));
    EXPECT_THAT(saved.Err().Message(), HasSubstr(problem));
    EXPECT_THAT(saved.Err().Message(), HasSubstr("github.com"));
    ExpectUntouched(path, before);
    EXPECT_THAT(Names(dir.Path()), ElementsAre("policy.json"));
  }
}

TEST(PolicySaveTest, ABadRuleIsRefusedAndNothingIsWritten) {
  TempDir dir;
  const fs::path path = dir / "policy.json";
  const auto saved = SavePolicyRule(path, "*", AmendmentAction::kAllow);
  ASSERT_FALSE(saved.Ok());
  EXPECT_THAT(saved.Err().Message(), HasSubstr(path.string()));
  EXPECT_THAT(Names(dir.Path()), IsEmpty());
}

TEST(PolicySaveTest, SomethingOtherThanAFileIsRefused) {
  TempDir dir;
  const fs::path path = dir / "policy.json";
  fs::create_directory(path);
  const auto saved = SavePolicyRule(path, "github.com", AmendmentAction::kAllow);
  ASSERT_FALSE(saved.Ok());
  EXPECT_THAT(saved.Err().Message(), HasSubstr("not a regular file"));
  ASSERT_EQ(::mkfifo((dir / "fifo").c_str(), 0600), 0);
  EXPECT_FALSE(SavePolicyRule(dir / "fifo", "github.com", AmendmentAction::kAllow).Ok());
  EXPECT_THAT(Names(dir.Path()), ElementsAre("fifo", "policy.json"));
}

TEST(PolicySaveTest, ASymlinkIsFollowedToTheRealFile) {
  TempDir home;
  TempDir dotfiles;
  const fs::path real = dotfiles / "sandgate.json";
  WriteFile(real, R"({"filesystem": {"readOnly": true}})", 0600);
  fs::create_directory(home / "config");
  // Relative to the link's own directory, through a second link.
  fs::create_symlink(real, home / "config" / "real-link");
  fs::create_symlink("real-link", home / "config" / "policy.json");
  ExpectSaved(home / "config" / "policy.json", "github.com", AmendmentAction::kAllow);
  EXPECT_TRUE(fs::is_symlink(home / "config" / "policy.json"));
  EXPECT_TRUE(fs::is_symlink(home / "config" / "real-link"));
  EXPECT_THAT(ParsedPolicy(real).rules.allow, ElementsAre("github.com"));
  EXPECT_EQ(ParsedPolicy(real).read_only, true);
  EXPECT_EQ(StatOf(real).st_mode & 07777, 0600u);
  EXPECT_THAT(Names(home / "config"), ElementsAre("policy.json", "real-link"));
  EXPECT_THAT(Names(dotfiles.Path()), ElementsAre("sandgate.json"));

  // A dangling link creates the file it points to.
  fs::create_symlink(dotfiles / "new.json", home / "dangling.json");
  ExpectSaved(home / "dangling.json", "github.com", AmendmentAction::kDeny);
  EXPECT_TRUE(fs::is_symlink(home / "dangling.json"));
  EXPECT_THAT(ParsedPolicy(dotfiles / "new.json").rules.deny, ElementsAre("github.com"));

  // A loop is an error, not a hang.
  fs::create_symlink("loop-b", home / "loop-a");
  fs::create_symlink("loop-a", home / "loop-b");
  const auto looped = SavePolicyRule(home / "loop-a", "github.com", AmendmentAction::kAllow);
  ASSERT_FALSE(looped.Ok());
  EXPECT_EQ(looped.Err().errnum, ELOOP);
}

TEST(PolicySaveTest, AMissingDirectoryIsAnError) {
  TempDir dir;
  const auto saved =
      SavePolicyRule(dir / "no" / "policy.json", "github.com", AmendmentAction::kAllow);
  ASSERT_FALSE(saved.Ok());
  EXPECT_EQ(saved.Err().errnum, ENOENT);
  EXPECT_THAT(saved.Err().Message(), HasSubstr((dir / "no").string()));
}

TEST(PolicySaveTest, AReadOnlyDirectoryFailsCleanly) {
  TempDir dir;
  const fs::path sub = dir / "ro";
  fs::create_directory(sub);
  const fs::path path = sub / "policy.json";
  WriteFile(path, R"({"network": {"allow": ["a.example"]}})", 0644);
  const Snapshot before = Take(path);
  ASSERT_EQ(::chmod(sub.c_str(), 0555), 0);
  // In a child, so that root can give up the capability that would let it write there anyway.
  const int rc = InChild([&] {
    if (!DropEffectiveCapabilities()) return 10;
    const auto saved = SavePolicyRule(path, "github.com", AmendmentAction::kAllow);
    if (saved.Ok()) return 11;
    if (saved.Err().errnum != EACCES) return 12;
    if (saved.Err().Message().find(sub.string()) == std::string::npos) return 13;
    const auto created = SavePolicyRule(sub / "new.json", "github.com", AmendmentAction::kAllow);
    return created.Ok() ? 14 : 0;
  });
  ASSERT_EQ(::chmod(sub.c_str(), 0755), 0);
  EXPECT_EQ(rc, 0);
  ExpectUntouched(path, before);
  EXPECT_THAT(Names(sub), ElementsAre("policy.json"));
}

TEST(PolicySaveTest, ConcurrentWritersLoseNothing) {
  constexpr int kWriters = 8;
  constexpr int kRulesEach = 25;
  TempDir dir;
  const fs::path path = dir / "policy.json";
  WriteFile(path, R"({"filesystem": {"readOnly": false}, "network": {"mode": "approve"}})", 0600);
  // Every writer waits on the same pipe, so that all start at once when it is closed.
  int gate[2];
  ASSERT_EQ(::pipe(gate), 0);
  std::vector<pid_t> writers;
  for (int w = 0; w < kWriters; ++w) {
    const pid_t pid = ::fork();
    ASSERT_GE(pid, 0);
    if (pid == 0) {
      ::close(gate[1]);
      char byte = 0;
      (void)::read(gate[0], &byte, 1);
      int failures = 0;
      for (int i = 0; i < kRulesEach; ++i) {
        // Both lists, so that the writers also remove from the list another one appends to.
        const auto action = i % 2 == 0 ? AmendmentAction::kAllow : AmendmentAction::kDeny;
        const std::string rule =
            "w" + std::to_string(w) + "-r" + std::to_string(i) + ".example:443";
        if (!SavePolicyRule(path, rule, action).Ok()) ++failures;
      }
      _exit(failures);
    }
    writers.push_back(pid);
  }
  ::close(gate[0]);
  ::close(gate[1]);
  for (const pid_t pid : writers) {
    int status = 0;
    ASSERT_EQ(::waitpid(pid, &status, 0), pid);
    EXPECT_TRUE(WIFEXITED(status) && WEXITSTATUS(status) == 0) << "writer status " << status;
  }
  const PolicyFile policy = ParsedPolicy(path);
  std::multiset<std::string> allow(policy.rules.allow.begin(), policy.rules.allow.end());
  std::multiset<std::string> deny(policy.rules.deny.begin(), policy.rules.deny.end());
  EXPECT_EQ(allow.size() + deny.size(), std::size_t{kWriters * kRulesEach});
  for (int w = 0; w < kWriters; ++w) {
    for (int i = 0; i < kRulesEach; ++i) {
      const std::string rule = "w" + std::to_string(w) + "-r" + std::to_string(i) + ".example:443";
      EXPECT_EQ((i % 2 == 0 ? allow : deny).count(rule), 1u) << rule;
    }
  }
  EXPECT_EQ(policy.network_mode, "approve");
  EXPECT_EQ(policy.read_only, false);
  EXPECT_EQ(StatOf(path).st_mode & 07777, 0600u);
  EXPECT_THAT(Names(dir.Path()), ElementsAre("policy.json"));
}

}  // namespace
}  // namespace sandgate::supervisor
