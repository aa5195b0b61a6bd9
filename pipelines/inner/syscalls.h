#pragma once

// The few system calls the freestanding inner stage makes, without libc: each returns the
// kernel's result, a negative errno on failure (there is no errno variable, and no thread
// pointer to keep one behind).
#include <sys/syscall.h>

#include <type_traits>

namespace sandgate::inner {

inline long Syscall(long number, long a = 0, long b = 0, long c = 0, long d = 0, long e = 0,
                    long f = 0) {
#if defined(__x86_64__)
  register long r10 __asm__("r10") = d;
  register long r8 __asm__("r8") = e;
  register long r9 __asm__("r9") = f;
  long result;
  __asm__ volatile("syscall"
                   : "=a"(result)
                   : "a"(number), "D"(a), "S"(b), "d"(c), "r"(r10), "r"(r8), "r"(r9)
                   : "rcx", "r11", "memory");
  return result;
#elif defined(__aarch64__)
  register long x8 __asm__("x8") = number;
  register long x0 __asm__("x0") = a;
  register long x1 __asm__("x1") = b;
  register long x2 __asm__("x2") = c;
  register long x3 __asm__("x3") = d;
  register long x4 __asm__("x4") = e;
  register long x5 __asm__("x5") = f;
  __asm__ volatile("svc 0"
                   : "+r"(x0)
                   : "r"(x8), "r"(x1), "r"(x2), "r"(x3), "r"(x4), "r"(x5)
                   : "memory");
  return x0;
#else
#error "the freestanding inner stage knows the system call convention of x86_64 and aarch64 only"
#endif
}

// An argument as the register carries it: integers widened, pointers as their address.
template <typename T>
long Arg(T value) {
  if constexpr (std::is_null_pointer_v<T>) {
    return 0;
  } else if constexpr (std::is_pointer_v<T>) {
    return reinterpret_cast<long>(value);
  } else {
    return static_cast<long>(value);
  }
}

template <typename... Args>
long Sys(long number, Args... args) {
  return Syscall(number, Arg(args)...);
}

[[noreturn]] inline void ExitGroup(int status) {
  for (;;) Syscall(SYS_exit_group, status);
}

}  // namespace sandgate::inner
