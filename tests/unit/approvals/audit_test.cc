#include "approvals/audit.h"

#include <gtest/gtest.h>

#include <chrono>
#include <string>
#include <vector>

#include "test_util.h"

namespace sandgate::approvals {
namespace {

using namespace std::chrono_literals;
using std::chrono::sys_days;
using std::chrono::system_clock;
using testing::HostAddrDest;

system_clock::time_point At(sys_days day, std::chrono::microseconds since_midnight) {
  return system_clock::time_point(day) + since_midnight;
}

TEST(AuditTest, Rfc3339WithMilliseconds) {
  using std::chrono::May;
  EXPECT_EQ(FormatRfc3339Millis(At(sys_days{2024y / May / 1}, 12h + 34min + 56s + 789ms)),
            "2024-05-01T12:34:56.789Z");
  EXPECT_EQ(FormatRfc3339Millis(system_clock::time_point{}), "1970-01-01T00:00:00.000Z");
  // Truncated, not rounded into the next second.
  EXPECT_EQ(FormatRfc3339Millis(
                At(sys_days{2023y / std::chrono::December / 31}, 23h + 59min + 59s + 999999us)),
            "2023-12-31T23:59:59.999Z");
  EXPECT_EQ(FormatRfc3339Millis(system_clock::time_point{} - 1ms), "1969-12-31T23:59:59.999Z");
  EXPECT_EQ(FormatRfc3339Millis(At(sys_days{2024y / std::chrono::February / 29}, 7ms)),
            "2024-02-29T00:00:00.007Z");
}

AuditEntry SampleEntry() {
  AuditEntry entry;
  entry.time = At(sys_days{2024y / std::chrono::May / 1}, 12h + 34min + 56s + 789ms);
  entry.pid = 42;
  entry.exe = "/usr/bin/curl";
  entry.destination = HostAddrDest("github.com", "140.82.112.3", 443);
  entry.decision = Decision::kAllow;
  entry.source = DecisionSource::kUser;
  entry.approval_id = "a1";
  entry.latency = 12500us;
  return entry;
}

TEST(AuditTest, ExactLine) {
  EXPECT_EQ(AuditLine(SampleEntry()),
            R"({"time":"2024-05-01T12:34:56.789Z","pid":42,"exe":"/usr/bin/curl",)"
            R"("destination":{"address":"140.82.112.3","family":"inet","host":"github.com",)"
            R"("names":[],"port":443,"protocol":"tcp"},"decision":"allow","source":"user",)"
            R"("rule":null,)"
            R"("approvalId":"a1","latencyMs":12.5})");
}

TEST(AuditTest, PolicyDecisionWithRuleAndSubMillisecondLatency) {
  AuditEntry entry = SampleEntry();
  entry.decision = Decision::kDeny;
  entry.source = DecisionSource::kPolicy;
  entry.rule = "**.github.com";
  entry.approval_id.reset();
  entry.latency = 42us;
  const nlohmann::ordered_json record = AuditRecord(entry);
  EXPECT_EQ(record["decision"], "deny");
  EXPECT_EQ(record["source"], "policy");
  EXPECT_EQ(record["rule"], "**.github.com");
  EXPECT_TRUE(record["approvalId"].is_null());
  EXPECT_DOUBLE_EQ(record["latencyMs"].get<double>(), 0.042);
  EXPECT_NE(AuditLine(entry).find("\"latencyMs\":0.042}"), std::string::npos);
}

TEST(AuditTest, DestinationCarriesEveryNameOfTheAddress) {
  AuditEntry entry = SampleEntry();
  entry.destination.host = "gh.example";
  entry.destination.names = {"github.com", "gh.example"};
  const nlohmann::ordered_json record = AuditRecord(entry);
  EXPECT_EQ(record["destination"]["host"], "gh.example");
  EXPECT_EQ(record["destination"]["names"],
            nlohmann::ordered_json::parse(R"(["github.com","gh.example"])"));
  EXPECT_NE(AuditLine(entry).find(R"("names":["github.com","gh.example"])"), std::string::npos);
}

TEST(AuditTest, FieldsInSpecOrderOnOneLine) {
  AuditEntry entry = SampleEntry();
  entry.exe = "/tmp/odd\nname\xff";
  const std::string line = AuditLine(entry);
  EXPECT_EQ(line.find('\n'), std::string::npos);
  std::vector<std::string> keys;
  const nlohmann::ordered_json record = AuditRecord(entry);  // items() must not outlive it
  for (const auto& [key, value] : record.items()) {
    keys.push_back(key);
  }
  EXPECT_EQ(keys, (std::vector<std::string>{"time", "pid", "exe", "destination", "decision",
                                            "source", "rule", "approvalId", "latencyMs"}));
  // Parses back; the invalid byte became U+FFFD instead of breaking the line.
  const auto parsed = nlohmann::json::parse(line);
  EXPECT_EQ(parsed["exe"], "/tmp/odd\nname\xef\xbf\xbd");
}

}  // namespace
}  // namespace sandgate::approvals
