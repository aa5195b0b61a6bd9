// The far end of bench_publish: listens on 127.0.0.1:PORT and serves one request per
// connection, one connection at a time (see publish_stream.h), until asked to quit. The same
// binary runs inside the sandbox behind --publish and on the host for the direct baseline, so
// both paths have the very same peer.
// Usage: publish_peer PORT
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cstdio>
#include <cstdlib>

#include "bench/publish_stream.h"

namespace {

namespace publish = sandgate::bench::publish;

// Serves one request. False when the peer should exit (asked to quit).
bool Serve(int connection) {
  unsigned char raw[publish::kHeaderBytes];
  if (!publish::RecvExact(connection, raw, sizeof raw)) return true;  // a probe that went away
  const publish::Header header = publish::DecodeHeader(raw);
  switch (header.op) {
    case publish::kPing:
      publish::SendAll(connection, &publish::kAck, 1);
      return true;
    case publish::kUpload: {
      const std::uint64_t matched = publish::ReceiveStream(connection, header.count, false);
      publish::SendAll(connection, &matched, sizeof matched);
      return true;
    }
    case publish::kDownload:
      publish::SendStream(connection, header.count);
      return true;
    case publish::kQuit:
      publish::SendAll(connection, &publish::kAck, 1);
      return false;
    default:
      std::fprintf(stderr, "publish_peer: unknown request %d\n", header.op);
      return true;
  }
}

}  // namespace

int main(int argc, char** argv) {
  if (argc != 2) {
    std::fprintf(stderr, "usage: publish_peer PORT\n");
    return 2;
  }
  const int fd = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  const int one = 1;
  ::setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
  sockaddr_in address{};
  address.sin_family = AF_INET;
  address.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  address.sin_port = htons(static_cast<std::uint16_t>(std::atoi(argv[1])));
  if (::bind(fd, reinterpret_cast<sockaddr*>(&address), sizeof address) != 0 ||
      ::listen(fd, 16) != 0) {
    std::perror("publish_peer: listen");
    return 1;
  }
  for (;;) {
    const int connection = ::accept4(fd, nullptr, nullptr, SOCK_CLOEXEC);
    if (connection < 0) continue;
    publish::SetTimeouts(connection, 60);
    const bool more = Serve(connection);
    ::close(connection);
    if (!more) return 0;
  }
}
