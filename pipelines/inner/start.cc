// The entry point of the freestanding inner stage, and the three memory functions the compiler
// may call on its own. There is no libc: nothing runs before InnerMain but this.
#include <cstddef>

#include "pipelines/inner/inner_main.h"
#include "pipelines/inner/syscalls.h"

// The kernel starts a process with its stack holding argc, then argv[], NULL, then envp[], NULL.
extern "C" [[noreturn]] __attribute__((used)) void SandgateInnerStart(long* stack) {
  const int argc = static_cast<int>(stack[0]);
  char** argv = reinterpret_cast<char**>(stack + 1);
  char** envp = argv + argc + 1;
  sandgate::inner::ExitGroup(sandgate::inner::InnerMain(argc, argv, envp));
}

#if defined(__x86_64__)
// The stack is 16-byte aligned at entry; the call pushes the return address as the ABI expects.
__asm__(".text\n.globl _start\n.type _start,@function\n_start:\n"
        "  xor %rbp, %rbp\n  mov %rsp, %rdi\n  and $-16, %rsp\n  call SandgateInnerStart\n  hlt\n");
#elif defined(__aarch64__)
__asm__(".text\n.globl _start\n.type _start,%function\n_start:\n"
        "  mov x29, #0\n  mov x30, #0\n  mov x0, sp\n  bl SandgateInnerStart\n  brk #0\n");
#endif

// Compiled with -fno-tree-loop-distribute-patterns (CMakeLists.txt), so that these loops are not
// turned back into calls to themselves.
extern "C" void* memset(void* destination, int value, std::size_t size) {
  auto* d = static_cast<unsigned char*>(destination);
  for (std::size_t i = 0; i < size; ++i) d[i] = static_cast<unsigned char>(value);
  return destination;
}

extern "C" void* memcpy(void* destination, const void* source, std::size_t size) {
  auto* d = static_cast<unsigned char*>(destination);
  const auto* s = static_cast<const unsigned char*>(source);
  for (std::size_t i = 0; i < size; ++i) d[i] = s[i];
  return destination;
}

extern "C" void* memmove(void* destination, const void* source, std::size_t size) {
  auto* d = static_cast<unsigned char*>(destination);
  const auto* s = static_cast<const unsigned char*>(source);
  if (d < s) {
    for (std::size_t i = 0; i < size; ++i) d[i] = s[i];
  } else {
    for (std::size_t i = size; i > 0; --i) d[i - 1] = s[i - 1];
  }
  return destination;
}

extern "C" int memcmp(const void* a, const void* b, std::size_t size) {
  const auto* x = static_cast<const unsigned char*>(a);
  const auto* y = static_cast<const unsigned char*>(b);
  for (std::size_t i = 0; i < size; ++i) {
    if (x[i] != y[i]) return x[i] < y[i] ? -1 : 1;
  }
  return 0;
}
