#pragma once

namespace sandgate::inner {

// sandgate-inner: the bwrap pipeline's inner stage, freestanding (no libc, no C++ runtime), run
// inside every sandbox between its construction and the command. It speaks the handoff of
// pipelines/handoff.h exactly as pipelines/inner_stage.cc does for sandgate's own hidden
// subcommand, which stays for the legacy pipeline and for a sandgate without this program
// beside it. Why a second implementation: a static glibc program spends about 0.35 ms here
// before main (CPU feature probing that traps to the hypervisor, IRELATIVE relocations, TLS
// set-up), on every sandbox start (README, "Where a sandbox start goes").
//
// Returns the exit status: 125 setup failure, 126 not executable, 127 not found; on success it
// does not return (the command replaced it).
int InnerMain(int argc, char** argv, char** envp);

}  // namespace sandgate::inner
