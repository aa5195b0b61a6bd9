#pragma once

// Sandboxes whose DNS goes through sandgate's forwarder to a real dnsmasq started by the test,
// with curl, getent and the probe inside, and every decision read back from the audit log.
#include <gtest/gtest.h>

#include <filesystem>
#include <nlohmann/json.hpp>
#include <optional>
#include <sstream>
#include <string>
#include <vector>

#include "tests/helpers/proxy_peers.h"
#include "tests/helpers/sandbox_fixture.h"
#include "tests/helpers/subprocess.h"
#include "tests/helpers/temp_dir.h"

namespace sandgate::testing {

class NamesTest : public SandboxTest {
 protected:
  void SetUp() override {
    SandboxTest::SetUp();
    if (IsSkipped()) return;
    if (std::string why; !Dnsmasq::Installed(&why)) GTEST_SKIP() << why;
    dns_.emplace(Dnsmasq::Options{.records = {{"allowed.test", "127.0.0.1"},
                                              {"cdn.allowed.test", "127.0.0.1"},
                                              {"other.test", "127.0.0.1"},
                                              {"denied.test", "127.0.0.1"},
                                              // Unreachable from anywhere: only a proxy that
                                              // connects by name reaches the real server.
                                              {"proxied.test", "192.0.2.1"}}});
  }

  // The sandgate options every run here shares, then `extra`.
  std::vector<std::string> Options(const std::vector<std::string>& extra) const {
    std::vector<std::string> options = {"--network", "approve", "--dns-upstream",
                                        "127.0.0.1:" + dns_->Port(), "--audit-log",
                                        audit_path_.string()};
    options.insert(options.end(), extra.begin(), extra.end());
    return options;
  }

  // `sandgate run OPTIONS -- sh -c SCRIPT`
  RunResult Run(const std::vector<std::string>& extra, const std::string& script,
                const RunOptions& run_options = {}) const {
    std::vector<std::string> argv = {SandgateBinary(), "run"};
    auto options = Options(extra);
    argv.insert(argv.end(), options.begin(), options.end());
    argv.insert(argv.end(), {"--", "sh", "-c", script});
    return RunCommand(argv, run_options);
  }

  // curl's exit status and body for http://HOST:PORT/ from inside the sandbox.
  static std::string Curl(const std::string& host, const std::string& port) {
    return "curl -s -m 20 http://" + host + ":" + port + "/; echo \" curl=$?\"";
  }

  [[nodiscard]] std::vector<nlohmann::json> Audit(const std::string& protocol = "") const {
    std::vector<nlohmann::json> lines;
    std::istringstream in(ReadFile(audit_path_));
    std::string line;
    while (std::getline(in, line)) {
      auto record = nlohmann::json::parse(line);
      // glibc may also try nscd's unix socket on its own; those lines are not what tests count.
      if (record["destination"]["protocol"] == "unix") continue;
      if (protocol.empty() || record["destination"]["protocol"] == protocol) lines.push_back(record);
    }
    return lines;
  }

  TempDir dir_;
  std::filesystem::path audit_path_ = dir_ / "audit.jsonl";
  std::optional<Dnsmasq> dns_;
};

}  // namespace sandgate::testing
