#include "supervisor/sandbox_netns.h"

#include <cstdio>
#include <cstring>
#include <string>

namespace sandgate::supervisor {
namespace {

// TCP_LISTEN in the kernel's tcp_states enum, as /proc/net/tcp prints it ("0A").
constexpr unsigned kTcpListen = 0x0A;

bool TableHasPort(const std::string& path, std::uint16_t port, bool listen_only) {
  FILE* f = std::fopen(path.c_str(), "re");
  if (f == nullptr) return false;
  char line[512];
  bool found = false;
  // "  sl  local_address rem_address   st ..." then one socket per line:
  // "   0: 0100007F:1F90 00000000:0000 0A ..."
  if (std::fgets(line, sizeof line, f) != nullptr) {
    while (!found && std::fgets(line, sizeof line, f) != nullptr) {
      const char* colon = std::strchr(line, ':');
      if (colon == nullptr) continue;
      char local[64];
      unsigned state = 0;
      if (std::sscanf(colon + 1, " %63s %*s %x", local, &state) != 2) continue;
      const char* port_hex = std::strrchr(local, ':');
      if (port_hex == nullptr) continue;
      unsigned local_port = static_cast<unsigned>(std::strtoul(port_hex + 1, nullptr, 16));
      found = local_port == port && (!listen_only || state == kTcpListen);
    }
  }
  std::fclose(f);
  return found;
}

}  // namespace

bool HasLocalListener(pid_t pid, Transport transport, std::uint16_t port) {
  const std::string base = "/proc/" + std::to_string(pid) + "/net/";
  if (transport == Transport::kTcp) {
    return TableHasPort(base + "tcp", port, true) || TableHasPort(base + "tcp6", port, true);
  }
  return TableHasPort(base + "udp", port, false) || TableHasPort(base + "udp6", port, false);
}

}  // namespace sandgate::supervisor
