// sandgate-inner: the inner stage as a program of its own, run inside every sandbox between the
// sandbox's construction and the command. It is what sandgate's hidden subcommand is, without
// the rest of sandgate: linked statically, with no filter compiler (the supervisor sends the
// finished BPF program), no event loop and no logging, so it starts in a fraction of the time
// the whole sandgate binary takes to load (README, "Where a sandbox start goes").
//
// Started as `sandgate-inner __sandgate-inner ARGS...`, the very arguments the subcommand takes.
#include <unistd.h>

#include <cstring>

#include "pipelines/bwrap_argv.h"
#include "pipelines/inner_stage.h"

int main(int argc, char** argv) {
  if (argc < 2 || std::strcmp(argv[1], sandgate::pipelines::kInnerSubcommand) != 0) {
    static const char kUsage[] =
        "sandgate-inner: the inner stage of a sandgate sandbox; sandgate starts it, not you\n";
    static_cast<void>(::write(2, kUsage, sizeof kUsage - 1));
    return 125;
  }
  return sandgate::pipelines::RunInnerStage(argc, argv);
}
