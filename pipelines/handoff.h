#pragma once

#include <cstddef>

namespace sandgate::pipelines {

// The handoff socket (SOCK_SEQPACKET, one message per write) between the inner stage inside the
// sandbox and the supervisor outside. The inner stage only ever uses write() and read() on it:
// those are never filtered, so the exchange works after the seccomp filter is in place.
//
//   supervisor -> inner  "P<program>"   the seccomp filter, as the BPF instructions the kernel
//                                       loads (struct sock_filter, 8 bytes each): written
//                                       before the sandbox is spawned, read first thing by the
//                                       inner stage, which so needs no filter compiler.
//   inner -> supervisor  "R" or "R<n>"  ready: filter loaded, about to exec. The supervisor learns
//                                       the sender's pid from SCM_CREDENTIALS (SO_PASSCRED) and
//                                       opens a pidfd on it while the inner stage waits. <n> is
//                                       the fd number of the seccomp listener (mode approve),
//                                       which the supervisor copies out with pidfd_getfd: passing
//                                       it with SCM_RIGHTS would need sendmsg, which the filter
//                                       holds for a supervisor that has no listener yet.
//   inner -> supervisor  "F<reason>"    setup failed inside the sandbox (exit 125).
//   supervisor -> inner  "A"            acknowledged: go ahead (close the listener) and exec.
//
// In probe mode the inner stage sends "R" and exits 0 without waiting.

// The hidden subcommand that runs the inner stage, in the sandgate binary and in sandgate-inner
// alike: `PROGRAM __sandgate-inner ARGS...`.
inline constexpr const char* kInnerSubcommand = "__sandgate-inner";

inline constexpr char kHandoffProgram = 'P';
inline constexpr char kHandoffReady = 'R';
inline constexpr char kHandoffFailed = 'F';
inline constexpr char kHandoffAck = 'A';
inline constexpr std::size_t kHandoffMaxMessage = 1024;

}  // namespace sandgate::pipelines
