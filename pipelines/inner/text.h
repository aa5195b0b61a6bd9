#pragma once

// Strings without libc: lengths, comparisons, decimal numbers, the kernel's error names, and a
// bounded buffer to build one message in.
#include <cstddef>

namespace sandgate::inner {

std::size_t Length(const char* text);
// Does `text` start with `prefix`? If so, *rest points just past it.
bool StartsWith(const char* text, const char* prefix, const char** rest = nullptr);
bool Equal(const char* a, const char* b);
// A whole non-negative decimal number that fits an int; false otherwise.
bool ParseNonNegative(const char* text, int* value);
// The value of NAME in envp ("NAME=value"), or nullptr.
const char* Getenv(char** envp, const char* name);

// A message of at most kCapacity bytes; what does not fit is cut off.
class Message {
 public:
  static constexpr std::size_t kCapacity = 1024;
  Message& Add(const char* text);
  Message& Add(char c);
  Message& AddNumber(int value);
  // What glibc's strerror says for the errors this program can meet; "error N" for the rest.
  Message& AddError(int errnum);
  [[nodiscard]] const char* Data() const { return data_; }
  [[nodiscard]] std::size_t Size() const { return size_; }

 private:
  char data_[kCapacity];
  std::size_t size_ = 0;
};

}  // namespace sandgate::inner
