#pragma once

namespace sandgate::pipelines {

// Entry point of the hidden subcommand, run inside bwrap as
//   sandgate __sandgate-inner --network=MODE --handoff-fd=N --stderr-fd=M (--probe | -- CMD...)
// Reads the seccomp program the supervisor sent (handoff.h), sets no_new_privs, loads it, tells
// the supervisor it is ready, restores the caller's stderr and execs the command. The legacy
// pipeline's inner stage (with --legacy=..., which builds the sandbox first) is always this; the
// bwrap pipeline's is sandgate-inner (pipelines/inner/, the same steps without libc) where it is
// installed.
// Never returns on success; returns the exit status otherwise (125 setup failure, 126 not
// executable, 127 not found).
//
// Runs before anything else in main(): no logging setup, no allocations it can avoid, so that a
// sandbox start costs as little as possible.
int RunInnerStage(int argc, char** argv) noexcept;

}  // namespace sandgate::pipelines
