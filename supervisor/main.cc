#include <spdlog/sinks/stdout_color_sinks.h>
#include <spdlog/spdlog.h>

#include <cstdio>
#include <cstring>
#include <variant>

#include "pipelines/bwrap_argv.h"
#include "pipelines/inner_stage.h"
#include "supervisor/cli.h"
#include "supervisor/machine_report.h"
#include "supervisor/run.h"

int main(int argc, char** argv) {
  // Inside the sandbox, before anything else: the inner stage must start fast and touch nothing.
  if (argc > 1 && std::strcmp(argv[1], sandgate::pipelines::kInnerSubcommand) == 0) {
    return sandgate::pipelines::RunInnerStage(argc, argv);
  }

  auto parsed = sandgate::supervisor::ParseCommandLine(argc, argv);
  if (auto* exit = std::get_if<sandgate::supervisor::CliExit>(&parsed)) {
    std::fputs(exit->message.c_str(), exit->to_stderr ? stderr : stdout);
    return exit->code;
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
