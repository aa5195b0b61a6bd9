#pragma once

#include <sys/types.h>
#include <uv.h>

#include <cstddef>
#include <cstdint>
#include <functional>
#include <memory>
#include <unordered_map>
#include <vector>

#include "approvals/publish_spec.h"
#include "base/result.h"
#include "base/unique_fd.h"
#include "supervisor/loop/uv_handle.h"

namespace sandgate::supervisor {

class SandboxNetns;

// --publish, ports out of the sandbox: sandgate listens on host addresses and relays each
// connection it accepts to a port on the sandbox's own loopback, through a socket made inside
// the sandbox's network namespace (nobody outside could reach a listener there otherwise), with
// a SpliceRelay.
//
// Two steps, because they belong to different moments of a run. Bind() takes the host ports
// before the sandbox exists, so that a port in use stops sandgate (exit 125) before the command
// runs. Start() begins accepting once the sandbox's network namespace exists ("ready");
// connections that arrive before wait in the listen backlog.
//
// Each connection tries 127.0.0.1:PORT inside, then [::1]:PORT when that is refused (a server
// that binds "localhost" may have bound ::1 only). When neither answers the host client is
// reset, so that it sees ECONNRESET, as from a closed port, rather than an empty answer.
//
// Bounded: at most `max_relays` connections at once (each holds six fds: two sockets, two
// pipes); one beyond that is reset, with a warning.
//
// Bind() and Close() run on any thread while the relay is not started; Start() and Stop() on
// the loop thread, and Stop() (or Close()) before that loop closes.
class PublishRelay {
 public:
  // A non-blocking TCP socket of `domain` (AF_INET or AF_INET6) in the sandbox's network
  // namespace.
  using InsideSocket = std::function<base::Result<base::UniqueFd>(int domain)>;

  // `max_relays` 0: from RLIMIT_NOFILE, at most 1,024.
  explicit PublishRelay(std::vector<approvals::PublishSpec> specs, std::size_t max_relays = 0);
  ~PublishRelay();
  PublishRelay(const PublishRelay&) = delete;
  PublishRelay& operator=(const PublishRelay&) = delete;

  // Listens on every host address. The first that fails is the error ("--publish SPEC: cannot
  // listen on ADDR:PORT", with errno), and then none stays bound.
  [[nodiscard]] base::Status Bind();
  // The host port the i-th spec listens on (the kernel's choice when the spec said 0).
  [[nodiscard]] std::uint16_t HostPort(std::size_t i) const;

  // Accepts from now on, connecting inside the network namespace of the sandbox's process
  // `sandbox_pid` (through a NetnsHelper, which works for an unprivileged user too).
  [[nodiscard]] base::Status Start(uv_loop_t* loop, pid_t sandbox_pid);
  // The same with the inside sockets made by `inside` (tests use plain host sockets).
  [[nodiscard]] base::Status Start(uv_loop_t* loop, InsideSocket inside);
  // Stops accepting and ends every relay with a reset. The host ports stay bound, so a run that
  // is tried again can Start on its own loop.
  void Stop() noexcept;
  // Stop(), and the host ports are closed.
  void Close() noexcept;

  [[nodiscard]] std::size_t Relays() const noexcept { return connections_.size(); }

 private:
  struct Listener {
    PublishRelay* relay = nullptr;
    approvals::PublishSpec spec;
    base::UniqueFd fd;
    UvHandle<uv_poll_t>* poll = nullptr;
  };
  struct Connection;

  static void OnAcceptable(uv_poll_t* handle, int status, int events) noexcept;
  void Accept(Listener& listener) noexcept;
  void Admit(const Listener& listener, base::UniqueFd client) noexcept;
  // Connects to the next address inside, or resets the client when none is left.
  void ConnectInside(Connection* connection) noexcept;
  static void OnInsideConnected(uv_poll_t* handle, int status, int events) noexcept;
  void Relay(Connection* connection) noexcept;
  void Drop(Connection* connection) noexcept;
  // Out of fds: accepting pauses for a moment instead of spinning on a readable listener.
  void PauseAccepting() noexcept;
  void ResumeAccepting() noexcept;

  std::vector<Listener> listeners_;  // fixed once bound: the polls point into it
  std::size_t max_relays_;
  uv_loop_t* loop_ = nullptr;  // while started
  InsideSocket inside_;
  std::unique_ptr<SandboxNetns> netns_;  // when started by pid
  UvHandle<uv_timer_t>* resume_timer_ = nullptr;
  std::unordered_map<Connection*, std::unique_ptr<Connection>> connections_;
  bool warned_full_ = false;  // one warning per stretch of refusals
};

}  // namespace sandgate::supervisor
