#include <spdlog/sinks/stdout_color_sinks.h>
#include <spdlog/spdlog.h>

#include <unistd.h>

#include <cerrno>
#include <cstdio>
#include <cstdlib>
#include <optional>
#include <string>
#include <vector>
#include <cstring>
#include <variant>

#include "pipelines/bwrap_argv.h"
#include "pipelines/inner_stage.h"
#include "supervisor/cli.h"
#include "supervisor/codex_cli.h"
#include "supervisor/machine_report.h"
#include "supervisor/run.h"

int main(int argc, char** argv) {
  // Inside the sandbox, before anything else: the inner stage must start fast and touch nothing.
  if (argc > 1 && std::strcmp(argv[1], sandgate::pipelines::kInnerSubcommand) == 0) {
    return sandgate::pipelines::RunInnerStage(argc, argv);
  }

  // Codex's helper, by name or as a subcommand.
  const auto env = [](const char* name) -> std::optional<std::string> {
    const char* value = std::getenv(name);
    return value != nullptr ? std::optional<std::string>(value) : std::nullopt;
  };
  sandgate::supervisor::CliResult parsed;
  if (sandgate::supervisor::IsCodexHelperName(argv[0])) {
    parsed = sandgate::supervisor::ParseCodexCommandLine(argc, argv, env);
  } else if (argc > 1 && std::strcmp(argv[1], sandgate::supervisor::kCodexHelperName) == 0) {
    parsed = sandgate::supervisor::ParseCodexCommandLine(argc - 1, argv + 1, env);
  } else {
    parsed = sandgate::supervisor::ParseCommandLine(argc, argv);
  }
  if (auto* exit = std::get_if<sandgate::supervisor::CliExit>(&parsed)) {
    std::fputs(exit->message.c_str(), exit->to_stderr ? stderr : stdout);
    return exit->code;
  }
  if (auto* direct = std::get_if<sandgate::supervisor::ExecUnsandboxed>(&parsed)) {
    // danger-full-access: what Codex's helper does, exec the command as it is.
    if (::chdir(direct->cwd.c_str()) != 0) {
      std::fprintf(stderr, "codex-linux-sandbox: cannot enter %s: %s\n", direct->cwd.c_str(),
                   std::strerror(errno));
      return 125;
    }
    std::vector<char*> command;
    for (auto& word : direct->command) command.push_back(word.data());
    command.push_back(nullptr);
    ::execvp(command[0], command.data());
    const int error = errno;
    std::fprintf(stderr, "codex-linux-sandbox: cannot execute '%s': %s\n", command[0],
                 std::strerror(error));
    return error == ENOENT ? 127 : 126;
  }
  if (auto* report = std::get_if<sandgate::supervisor::MachineReportRequest>(&parsed)) {
    const auto facts = sandgate::supervisor::GatherMachineFacts(report->bwrap_path);
    std::fputs(sandgate::supervisor::FormatMachineReport(facts).c_str(), stdout);
    return 0;
  }
  const auto& config = std::get<sandgate::supervisor::RunConfig>(parsed);

  // stdout may carry the protocol: logs go to stderr only.
  auto logger = spdlog::stderr_color_mt("sandgate");
  logger->set_pattern("sandgate: %l: %v");
  logger->set_level(spdlog::level::from_str(config.log_level));
  spdlog::set_default_logger(logger);

  return sandgate::supervisor::RunSandbox(config);
}
