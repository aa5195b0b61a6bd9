#pragma once

#include <uv.h>

#include <functional>

namespace sandgate::supervisor {

// A libuv handle on the heap, freed only from its close callback (libuv may still touch the
// handle until then). Neither copied nor moved; Close() is idempotent. The owner keeps a raw
// pointer and calls Close() when done; after that the pointer must be forgotten.
template <typename T>
class UvHandle {
 public:
  static UvHandle* Create() { return new UvHandle(); }
  UvHandle(const UvHandle&) = delete;
  UvHandle& operator=(const UvHandle&) = delete;

  T* Get() noexcept { return &handle_; }
  uv_handle_t* Base() noexcept { return reinterpret_cast<uv_handle_t*>(&handle_); }

  // Call right after a successful uv_*_init: from then on Close() goes through uv_close, and
  // callbacks find the owner through the handle's data.
  void Bind(void* owner) noexcept {
    handle_.data = this;
    owner_ = owner;
    initialized_ = true;
  }
  [[nodiscard]] void* Owner() const noexcept { return owner_; }
  static UvHandle* From(T* handle) noexcept { return static_cast<UvHandle*>(handle->data); }

  void Close() noexcept {
    if (closing_) return;
    closing_ = true;
    if (!initialized_) {
      delete this;
      return;
    }
    uv_close(Base(), [](uv_handle_t* h) { delete static_cast<UvHandle*>(h->data); });
  }

 private:
  UvHandle() { handle_.data = this; }
  ~UvHandle() = default;

  T handle_{};
  void* owner_ = nullptr;
  bool closing_ = false;
  bool initialized_ = false;
};

}  // namespace sandgate::supervisor
