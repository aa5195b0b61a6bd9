#pragma once

namespace sandgate::inner {

// execvp(3) without libc: runs `argv[0]` as glibc's execvp would, searching PATH (or
// "/bin:/usr/bin" without one) when the name has no slash, and running a file the kernel
// cannot execute (ENOEXEC: a script without "#!") with /bin/sh. Returns only on failure, with
// the errno execvp would have left: EACCES if some candidate was not executable and none ran.
int ExecSearchingPath(char** argv, char** envp);

}  // namespace sandgate::inner
