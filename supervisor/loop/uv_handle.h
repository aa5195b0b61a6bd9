#pragma once

#include <uv.h>

namespace sandgate::supervisor {

// The part of every UvHandle that does not depend on the libuv handle type, so that a handle
// can be freed knowing only its uv_handle_t (CloseAllHandles).
class UvHandleBase {
 public:
  UvHandleBase() = default;
  UvHandleBase(const UvHandleBase&) = delete;
  UvHandleBase& operator=(const UvHandleBase&) = delete;

  [[nodiscard]] void* Owner() const noexcept { return owner_; }

 protected:
  virtual ~UvHandleBase() {
    if (free_owner_ != nullptr) free_owner_(owner_);
  }
  static void FreeFromCloseCallback(uv_handle_t* h) { delete static_cast<UvHandleBase*>(h->data); }
  friend void CloseAllHandles(uv_loop_t* loop) noexcept;

  void* owner_ = nullptr;
  void (*free_owner_)(void*) = nullptr;
  bool closing_ = false;
  bool initialized_ = false;
};

// A libuv handle on the heap, freed only from its close callback (libuv may still touch the
// handle until then). Neither copied nor moved; Close() is idempotent. The owner keeps a raw
// pointer and calls Close() when done; after that the pointer must be forgotten.
template <typename T>
class UvHandle final : public UvHandleBase {
 public:
  static UvHandle* Create() { return new UvHandle(); }

  T* Get() noexcept { return &handle_; }
  uv_handle_t* Base() noexcept { return reinterpret_cast<uv_handle_t*>(&handle_); }

  // Call right after a successful uv_*_init: from then on Close() goes through uv_close, and
  // callbacks find the owner through the handle's data.
  void Bind(void* owner) noexcept {
    handle_.data = static_cast<UvHandleBase*>(this);
    owner_ = owner;
    initialized_ = true;
  }
  // Like Bind, but the handle owns `owner` and deletes it when the handle is freed, so that
  // closing the handle from anywhere (including CloseAllHandles) releases both.
  template <typename Owner>
  void BindOwned(Owner* owner) noexcept {
    Bind(owner);
    free_owner_ = [](void* o) { delete static_cast<Owner*>(o); };
  }
  static UvHandle* From(T* handle) noexcept {
    return static_cast<UvHandle*>(static_cast<UvHandleBase*>(handle->data));
  }

  void Close() noexcept {
    if (closing_) return;
    closing_ = true;
    if (!initialized_) {
      delete this;
      return;
    }
    uv_close(Base(), &UvHandleBase::FreeFromCloseCallback);
  }

 private:
  UvHandle() { handle_.data = static_cast<UvHandleBase*>(this); }
  ~UvHandle() override = default;

  T handle_{};
};

// Closes every handle still open on `loop` (all are UvHandles), e.g. connects still in flight
// when the sandbox is gone. Run the loop afterwards to free them.
inline void CloseAllHandles(uv_loop_t* loop) noexcept {
  uv_walk(
      loop,
      [](uv_handle_t* h, void*) {
        auto* base = static_cast<UvHandleBase*>(h->data);
        if (base == nullptr || base->closing_ || uv_is_closing(h)) return;
        base->closing_ = true;
        uv_close(h, &UvHandleBase::FreeFromCloseCallback);
      },
      nullptr);
}

}  // namespace sandgate::supervisor
