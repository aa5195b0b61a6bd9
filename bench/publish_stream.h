#pragma once

// What bench_publish and its peer (publish_peer) say to each other, and the byte stream they
// move. Both ends are C++ and do the same little work per byte on every path, so that the
// ratio published/direct measures the relay and not the peers.
//
// A connection carries one request: a 16-byte header (an op byte, then at offset 8 a byte count
// in host order: both ends run on the same machine), then
//   'P' ping:     the peer answers one byte 'k' (proves a listener really is behind the relay,
//                 which accepts on the host side whether or not anything listens inside);
//   'U' upload:   the client sends COUNT bytes of the stream, the peer checks them and answers
//                 with 8 bytes: how many arrived matching the stream (COUNT when byte-exact);
//   'D' download: the peer sends COUNT bytes of the stream and closes, the client checks them;
//   'Q' quit:     the peer answers 'k' and exits 0.
//
// The stream is blocks of kBlockBytes: the same pseudo-random block every time, with the
// block's number written over its first 8 bytes. The receiver compares every byte against
// what it must be, so a corrupted, lost, repeated or reordered byte is caught, while the
// sender only rewrites 8 bytes per block (generating fresh random bytes would cost as much CPU
// as the copy we want to measure, on a machine with 2 cores).
#include <sys/socket.h>
#include <sys/time.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstddef>
#include <cstdint>
#include <cstring>
#include <vector>

namespace sandgate::bench::publish {

inline constexpr std::size_t kBlockBytes = std::size_t{1} << 20;
inline constexpr std::size_t kHeaderBytes = 16;
inline constexpr char kPing = 'P';
inline constexpr char kUpload = 'U';
inline constexpr char kDownload = 'D';
inline constexpr char kQuit = 'Q';
inline constexpr char kAck = 'k';

struct Header {
  char op = 0;
  std::uint64_t count = 0;
};

inline void EncodeHeader(const Header& header, unsigned char out[kHeaderBytes]) {
  std::memset(out, 0, kHeaderBytes);
  out[0] = static_cast<unsigned char>(header.op);
  std::memcpy(out + 8, &header.count, sizeof header.count);
}

inline Header DecodeHeader(const unsigned char in[kHeaderBytes]) {
  Header header;
  header.op = static_cast<char>(in[0]);
  std::memcpy(&header.count, in + 8, sizeof header.count);
  return header;
}

// Writes all of `size` bytes (send(2) with MSG_NOSIGNAL: a peer that is gone is an error to
// report, not a signal that ends the benchmark). False on an error or a closed connection.
inline bool SendAll(int fd, const void* data, std::size_t size) {
  const auto* p = static_cast<const char*>(data);
  while (size > 0) {
    const ssize_t n = ::send(fd, p, size, MSG_NOSIGNAL);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) return false;
    p += n;
    size -= static_cast<std::size_t>(n);
  }
  return true;
}

// Reads exactly `size` bytes. False on an error or an end of stream before that.
inline bool RecvExact(int fd, void* data, std::size_t size) {
  auto* p = static_cast<char*>(data);
  while (size > 0) {
    const ssize_t n = ::recv(fd, p, size, 0);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) return false;
    p += n;
    size -= static_cast<std::size_t>(n);
  }
  return true;
}

// Safety nets against a hang (a relay that stalls must fail the run, not block it forever);
// never a measurement.
inline void SetTimeouts(int fd, int seconds) {
  const timeval timeout{seconds, 0};
  ::setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &timeout, sizeof timeout);
  ::setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &timeout, sizeof timeout);
}

// One block of the stream, stamped with its number; sender and receiver each hold one.
class Block {
 public:
  Block() : bytes_(kBlockBytes) {
    // xorshift64 with a fixed seed: the same block on both ends without sending it.
    std::uint64_t state = 0x2545f4914f6cdd1dULL;
    for (std::size_t i = 0; i < bytes_.size(); i += sizeof state) {
      state ^= state << 13;
      state ^= state >> 7;
      state ^= state << 17;
      std::memcpy(bytes_.data() + i, &state, sizeof state);
    }
    Stamp(0);
  }
  void Stamp(std::uint64_t number) { std::memcpy(bytes_.data(), &number, sizeof number); }
  [[nodiscard]] const char* Data() const { return bytes_.data(); }

 private:
  std::vector<char> bytes_;
};

// Sends `count` bytes of the stream. False when the connection failed.
inline bool SendStream(int fd, std::uint64_t count) {
  Block block;
  for (std::uint64_t number = 0, sent = 0; sent < count; ++number) {
    block.Stamp(number);
    const std::size_t size = static_cast<std::size_t>(std::min<std::uint64_t>(kBlockBytes, count - sent));
    if (!SendAll(fd, block.Data(), size)) return false;
    sent += size;
  }
  return true;
}

// Receives the stream until `count` bytes or until it stops matching, and returns how many
// bytes arrived matching it (count when byte-exact). With `expect_end`, one more byte than
// `count` (the sender closes after the stream) also stops the match short by one, so that
// trailing extra bytes are caught too.
inline std::uint64_t ReceiveStream(int fd, std::uint64_t count, bool expect_end) {
  Block expected;
  std::vector<char> buffer(kBlockBytes);
  std::uint64_t matched = 0;
  while (matched < count) {
    const std::size_t at = static_cast<std::size_t>(matched % kBlockBytes);
    if (at == 0) expected.Stamp(matched / kBlockBytes);
    // Never past the end of this block, so that one comparison covers what arrived.
    const std::size_t want =
        static_cast<std::size_t>(std::min<std::uint64_t>(kBlockBytes - at, count - matched));
    const ssize_t n = ::recv(fd, buffer.data(), want, 0);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) return matched;
    const auto got = static_cast<std::size_t>(n);
    if (std::memcmp(buffer.data(), expected.Data() + at, got) != 0) {
      // Exactly where it first differs, for the report.
      std::size_t same = 0;
      while (buffer[same] == expected.Data()[at + same]) ++same;
      return matched + same;
    }
    matched += got;
  }
  if (expect_end) {
    char extra;
    ssize_t n;
    while ((n = ::recv(fd, &extra, 1, 0)) < 0 && errno == EINTR) {
    }
    // More than the stream, or a reset instead of its end: not byte-exact.
    if (n != 0) return matched > 0 ? matched - 1 : 0;
  }
  return matched;
}

}  // namespace sandgate::bench::publish
