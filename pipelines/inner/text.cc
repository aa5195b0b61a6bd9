#include "pipelines/inner/text.h"

#include <cerrno>
#include <climits>

namespace sandgate::inner {

std::size_t Length(const char* text) {
  std::size_t n = 0;
  while (text[n] != '\0') ++n;
  return n;
}

bool StartsWith(const char* text, const char* prefix, const char** rest) {
  std::size_t i = 0;
  for (; prefix[i] != '\0'; ++i) {
    if (text[i] != prefix[i]) return false;
  }
  if (rest != nullptr) *rest = text + i;
  return true;
}

bool Equal(const char* a, const char* b) {
  const char* rest = nullptr;
  return StartsWith(a, b, &rest) && *rest == '\0';
}

bool ParseNonNegative(const char* text, int* value) {
  if (*text == '\0') return false;
  long result = 0;
  for (; *text != '\0'; ++text) {
    if (*text < '0' || *text > '9') return false;
    result = result * 10 + (*text - '0');
    if (result > INT_MAX) return false;
  }
  *value = static_cast<int>(result);
  return true;
}

const char* Getenv(char** envp, const char* name) {
  for (; *envp != nullptr; ++envp) {
    const char* rest = nullptr;
    if (StartsWith(*envp, name, &rest) && *rest == '=') return rest + 1;
  }
  return nullptr;
}

namespace {

// String literals chosen by a switch: no table of pointers that would need relocating, which
// nothing here would do (CMakeLists.txt).
const char* ErrorText(int errnum) {
  switch (errnum) {
    case EPERM: return "Operation not permitted";
    case ENOENT: return "No such file or directory";
    case ESRCH: return "No such process";
    case EINTR: return "Interrupted system call";
    case EIO: return "Input/output error";
    case E2BIG: return "Argument list too long";
    case ENOEXEC: return "Exec format error";
    case EBADF: return "Bad file descriptor";
    case EAGAIN: return "Resource temporarily unavailable";
    case ENOMEM: return "Cannot allocate memory";
    case EACCES: return "Permission denied";
    case EFAULT: return "Bad address";
    case EBUSY: return "Device or resource busy";
    case ENODEV: return "No such device";
    case ENOTDIR: return "Not a directory";
    case EISDIR: return "Is a directory";
    case EINVAL: return "Invalid argument";
    case ENFILE: return "Too many open files in system";
    case EMFILE: return "Too many open files";
    case ETXTBSY: return "Text file busy";
    case ENAMETOOLONG: return "File name too long";
    case ENOSYS: return "Function not implemented";
    case ELOOP: return "Too many levels of symbolic links";
    case ESTALE: return "Stale file handle";
    case ELIBBAD: return "Accessing a corrupted shared library";
    default: return nullptr;
  }
}

}  // namespace

Message& Message::Add(const char* text) {
  for (; *text != '\0' && size_ < kCapacity; ++text) data_[size_++] = *text;
  return *this;
}

Message& Message::Add(char c) {
  if (size_ < kCapacity) data_[size_++] = c;
  return *this;
}

Message& Message::AddNumber(int value) {
  char digits[12];
  int n = 0;
  const bool negative = value < 0;
  long v = negative ? -static_cast<long>(value) : value;
  do {
    digits[n++] = static_cast<char>('0' + v % 10);
    v /= 10;
  } while (v > 0);
  if (negative) Add('-');
  while (n > 0) Add(digits[--n]);
  return *this;
}

Message& Message::AddError(int errnum) {
  if (const char* text = ErrorText(errnum)) return Add(text);
  return Add("error ").AddNumber(errnum);
}

}  // namespace sandgate::inner
