#include "pipelines/inner/exec_search.h"

#include <sys/mman.h>

#include <cerrno>
#include <climits>
#include <cstddef>

#include "pipelines/inner/syscalls.h"
#include "pipelines/inner/text.h"

namespace sandgate::inner {
namespace {

constexpr const char* kDefaultPath = "/bin:/usr/bin";  // glibc's, for a missing PATH
constexpr const char* kShell = "/bin/sh";

// execve; on ENOEXEC the file as a shell script, as glibc does. The negative errno of the last try.
long ExecFile(const char* path, char** argv, char** envp) {
  long rc = Sys(SYS_execve, path, argv, envp);
  if (rc != -ENOEXEC) return rc;
  std::size_t argc = 0;
  while (argv[argc] != nullptr) ++argc;
  // {"/bin/sh", path, argv[1..], nullptr}: mapped, since argc has no useful bound here.
  const std::size_t bytes = (argc + 2) * sizeof(char*);
  long mapped =
      Sys(SYS_mmap, nullptr, bytes, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
  if (mapped < 0 && mapped > -4096) return -ENOEXEC;
  auto** script_argv = reinterpret_cast<char**>(mapped);
  script_argv[0] = const_cast<char*>(kShell);
  script_argv[1] = const_cast<char*>(path);
  for (std::size_t i = 1; i <= argc; ++i) script_argv[i + 1] = argv[i];  // with the nullptr
  Sys(SYS_execve, kShell, script_argv, envp);
  Sys(SYS_munmap, script_argv, bytes);
  return -ENOEXEC;
}

}  // namespace

int ExecSearchingPath(char** argv, char** envp) {
  const char* file = argv[0];
  if (*file == '\0') return ENOENT;
  for (const char* c = file; *c != '\0'; ++c) {
    if (*c == '/') return static_cast<int>(-ExecFile(file, argv, envp));
  }
  const std::size_t file_length = Length(file);
  if (file_length > NAME_MAX) return ENAMETOOLONG;
  const char* path = Getenv(envp, "PATH");
  if (path == nullptr) path = kDefaultPath;

  bool saw_eacces = false;
  long last = -ENOENT;
  char candidate[PATH_MAX];
  for (const char* start = path;; ++start) {
    const char* end = start;
    while (*end != '\0' && *end != ':') ++end;
    const auto dir_length = static_cast<std::size_t>(end - start);
    // An empty element is the current directory, as the bare name.
    if (dir_length + 1 + file_length < sizeof candidate) {
      std::size_t n = 0;
      for (const char* c = start; c < end; ++c) candidate[n++] = *c;
      if (dir_length > 0) candidate[n++] = '/';
      for (std::size_t i = 0; i <= file_length; ++i) candidate[n++] = file[i];  // with the '\0'
      last = ExecFile(candidate, argv, envp);
      switch (-last) {
        case EACCES:
          saw_eacces = true;
          [[fallthrough]];
        case ENOENT:
        case ESTALE:
        case ENOTDIR:
        case ENODEV:
        case EHOSTUNREACH:
        case ETIMEDOUT:
          break;  // try the next directory
        default:
          return static_cast<int>(-last);  // found, but it cannot run: as glibc, stop here
      }
    }
    if (*end == '\0') break;
    start = end;
  }
  return saw_eacces ? EACCES : static_cast<int>(-last);
}

}  // namespace sandgate::inner
