#pragma once

#include <cstddef>
#include <cstdint>
#include <optional>
#include <span>
#include <string>
#include <vector>

#include "approvals/address.h"
#include "approvals/proxy_url.h"

namespace sandgate::approvals {

// Where the tunnel should lead: the command's original destination.
struct TunnelTarget {
  // The name the sandbox resolved (from DNS attribution), when known. It is sent to the proxy
  // instead of the address only if it is 1-253 characters of [A-Za-z0-9._-]: names from DNS
  // may hold any byte, and one with CR/LF must not be able to inject HTTP header lines.
  std::optional<std::string> host;
  Address address;
  std::uint16_t port = 0;

  friend bool operator==(const TunnelTarget&, const TunnelTarget&) = default;
};

// The client side of an HTTP CONNECT (RFC 9110 9.3.6) or SOCKS5 (RFC 1928, with RFC 1929
// username/password) handshake, as a pure incremental state machine. The supervisor owns the
// socket and does the non-blocking I/O on its loop:
//   1. write TakeOutput() to the proxy (it is non-empty right after construction);
//   2. when the socket is readable, peek everything available and call Feed() with all bytes
//      not yet consumed; then read exactly `consumed` bytes off the socket, and write any new
//      TakeOutput();
//   3. repeat until kDone (hand the socket to the command: bytes the destination sent after the
//      handshake are still in the socket) or kFailed (close it; fail the connect with error()).
// Feed never consumes past the end of the handshake and copes with any split of the proxy's
// bytes, down to one byte per call. The proxy closing the connection before kDone is the
// caller's to report (ECONNREFUSED is what a refused direct connect would give).
//
// errno mapping for kFailed (what the command's connect() returns):
//   HTTP: 401, 403, 407 -> EACCES; 504 -> ETIMEDOUT; any other non-2xx (incl. 502, 503)
//         -> ECONNREFUSED; 101, a malformed status line, or a response head over 16 KiB -> EPROTO.
//         Interim 1xx responses (other than 101) are consumed and skipped.
//   SOCKS5: no acceptable method (0xFF) or username/password rejected -> EACCES;
//         REP 1 -> ECONNREFUSED, 2 -> EACCES, 3 -> ENETUNREACH, 4 -> EHOSTUNREACH,
//         5 -> ECONNREFUSED, 6 -> ETIMEDOUT, 7 -> EOPNOTSUPP, 8 -> EAFNOSUPPORT, other -> EPROTO;
//         a wrong version byte, a method that was not offered, or an unknown ATYP -> EPROTO.
//         The reply's RSV byte is not checked (RFC 1928 only reserves it).
//
// Not thread-safe; one object per tunnel.
class ProxyHandshake {
 public:
  enum class State { kNeedMore, kDone, kFailed };
  struct Step {
    State state;
    // How many bytes at the front of the fed span belong to the handshake and were used up.
    std::size_t consumed;
  };

  ProxyHandshake(const ProxyUrl& proxy, const TunnelTarget& target);

  // Bytes to write to the proxy now, in order; the queue is empty afterwards. Empty while
  // waiting for the proxy. Partial writes are the caller's to buffer.
  [[nodiscard]] std::vector<std::uint8_t> TakeOutput();

  // `received`: the bytes peeked from the proxy, starting at the first one not yet consumed.
  // After kDone or kFailed, returns that state with consumed 0.
  Step Feed(std::span<const std::uint8_t> received);

  [[nodiscard]] State state() const { return state_; }
  // The errno for the command's connect() once kFailed; 0 before.
  [[nodiscard]] int error() const { return error_; }
  // One-line reason once kFailed, e.g. "HTTP proxy answered 403 Forbidden"; empty before.
  [[nodiscard]] const std::string& failure() const { return failure_; }

 private:
  enum class Phase { kHttpResponse, kSocksMethod, kSocksAuth, kSocksReply };

  // Each returns how many bytes of `data` one complete message took, 0 when more bytes are
  // needed, or nullopt after Fail().
  std::optional<std::size_t> FeedHttp(std::span<const std::uint8_t> data);
  std::optional<std::size_t> FeedSocksMethod(std::span<const std::uint8_t> data);
  std::optional<std::size_t> FeedSocksAuth(std::span<const std::uint8_t> data);
  std::optional<std::size_t> FeedSocksReply(std::span<const std::uint8_t> data);

  void Queue(const std::vector<std::uint8_t>& bytes);
  void Fail(int error, std::string failure);

  State state_ = State::kNeedMore;
  Phase phase_ = Phase::kHttpResponse;
  bool offered_auth_ = false;
  // SOCKS5 messages sent once the proxy has answered the previous one.
  std::vector<std::uint8_t> socks_auth_;
  std::vector<std::uint8_t> socks_connect_;
  // HTTP: where the next unscanned line of the current response head starts (relative to the
  // first unconsumed byte), so byte-at-a-time delivery does not rescan the head each time.
  std::size_t http_line_start_ = 0;
  bool http_status_seen_ = false;
  bool http_interim_ = false;

  std::vector<std::uint8_t> output_;
  int error_ = 0;
  std::string failure_;
};

}  // namespace sandgate::approvals
