#pragma once

#include <cerrno>
#include <string>
#include <utility>
#include <variant>

namespace sandgate::base {

// A failed system call (or a check that failed like one): errno plus what was being done, e.g.
// "pidfd_getfd(pid=42, fd=7)". Hot paths return these as values instead of throwing.
struct Error {
  int errnum = 0;
  std::string context;

  // "context: strerror(errnum)", or just the context when errnum is 0.
  [[nodiscard]] std::string Message() const;
};

// Builds an Error from the current errno.
[[nodiscard]] Error ErrnoError(std::string context);

template <typename T>
class [[nodiscard]] Result {
 public:
  Result(T value) : v_(std::move(value)) {}  // NOLINT(google-explicit-constructor)
  Result(Error error) : v_(std::move(error)) {}  // NOLINT(google-explicit-constructor)

  [[nodiscard]] bool Ok() const noexcept { return v_.index() == 0; }
  explicit operator bool() const noexcept { return Ok(); }
  T& Value() & { return std::get<0>(v_); }
  T&& Value() && { return std::get<0>(std::move(v_)); }
  const T& Value() const& { return std::get<0>(v_); }
  T* operator->() { return &std::get<0>(v_); }
  T& operator*() & { return std::get<0>(v_); }
  [[nodiscard]] const Error& Err() const { return std::get<1>(v_); }

 private:
  std::variant<T, Error> v_;
};

// Result<void>: success carries nothing.
struct Ok {};
using Status = Result<Ok>;

}  // namespace sandgate::base
