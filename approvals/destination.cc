#include "approvals/destination.h"

namespace sandgate::approvals {

std::string_view ProtocolName(Protocol protocol) {
  switch (protocol) {
    case Protocol::kTcp:
      return "tcp";
    case Protocol::kUdp:
      return "udp";
    case Protocol::kUnix:
      return "unix";
  }
  return "tcp";
}

std::optional<Protocol> ParseProtocol(std::string_view name) {
  if (name == "tcp") {
    return Protocol::kTcp;
  }
  if (name == "udp") {
    return Protocol::kUdp;
  }
  if (name == "unix") {
    return Protocol::kUnix;
  }
  return std::nullopt;
}

}  // namespace sandgate::approvals
