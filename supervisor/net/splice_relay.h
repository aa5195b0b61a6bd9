#pragma once

#include <uv.h>

#include <cstddef>
#include <functional>

#include "base/result.h"
#include "base/unique_fd.h"
#include "supervisor/loop/uv_handle.h"

namespace sandgate::supervisor {

// Closes a TCP socket so that its peer sees a reset (ECONNRESET), not an orderly end of stream:
// with SO_LINGER {on, 0 s}, close(2) sends RST and drops whatever is still queued.
void CloseWithReset(base::UniqueFd socket) noexcept;

// Relays two connected stream sockets both ways with splice(2), through one pipe per direction:
// the data moves between the sockets' buffers and the pipes' pages inside the kernel and is
// never copied through user space.
//
// Half-closes pass through: the end of one side's stream becomes shutdown(SHUT_WR) on the other
// side once everything before it is delivered, and the other direction keeps flowing. A reset or
// an error on either side ends both sides with a reset, so that neither peer can take a cut-off
// stream for a complete one. The relay is over when both directions have ended.
//
// Never blocks the loop: sockets and pipes are non-blocking (SPLICE_F_NONBLOCK as well), and
// each direction waits for exactly one thing: its source to become readable while its pipe is
// empty, or its destination to become writable while its pipe holds data.
//
// Loop thread only. Owns both sockets, both pipes and one uv_poll_t per socket. `ended` runs
// once, from a loop callback, when the relay is over by itself; the relay may be destroyed from
// it. Close() (and the destructor) end both sides with a reset without calling `ended`.
class SpliceRelay {
 public:
  enum class Outcome { kClosed, kReset };
  using Ended = std::function<void(Outcome)>;

  SpliceRelay(uv_loop_t* loop, base::UniqueFd a, base::UniqueFd b, Ended ended);
  ~SpliceRelay() { Close(); }
  SpliceRelay(const SpliceRelay&) = delete;
  SpliceRelay& operator=(const SpliceRelay&) = delete;

  // Makes the pipes and starts relaying. On an error both sides are reset (`ended` is not
  // called).
  [[nodiscard]] base::Status Start();
  void Close() noexcept;

 private:
  struct Side {
    base::UniqueFd socket;
    UvHandle<uv_poll_t>* poll = nullptr;
    int events = 0;  // what `poll` waits for now
  };
  // directions_[i] carries what sides_[i] sends to sides_[1 - i].
  struct Direction {
    base::UniqueFd pipe_read;
    base::UniqueFd pipe_write;
    std::size_t buffered = 0;  // bytes in the pipe
    bool eof = false;          // the source ended its stream...
    bool shut = false;         // ...and that was passed on (shutdown(SHUT_WR) of the other side)
  };

  static void OnPoll(uv_poll_t* handle, int status, int events) noexcept;
  // Moves what it can without blocking. False on a reset or an error.
  bool Pump(int from) noexcept;
  // Points each poll at what its side's directions wait for now. False when that failed.
  bool Watch() noexcept;
  // Ends the relay and then tells the owner.
  void Finish(Outcome outcome) noexcept;
  // Closes the polls, then the sockets (with a reset, or plainly after both directions ended).
  void Release(Outcome outcome) noexcept;

  uv_loop_t* loop_;
  Side sides_[2];
  Direction directions_[2];
  Ended ended_;
  bool over_ = false;
};

}  // namespace sandgate::supervisor
