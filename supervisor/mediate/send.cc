// sendto/sendmsg/sendmmsg with a destination: decoded from the command's memory once, decided,
// and sent by sandgate from a host socket that then replaces the command's.
#include "supervisor/mediate/mediator.h"

#include <netinet/in.h>
#include <spdlog/spdlog.h>
#include <sys/syscall.h>
#include <sys/uio.h>
#include <unistd.h>

#include <cerrno>
#include <climits>
#include <algorithm>
#include <cstring>
#include <vector>

#include "approvals/protocol.h"
#include "supervisor/mediate/answered_attempts.h"
#include "supervisor/child/target_process.h"
#include "supervisor/mediate/request.h"

namespace sandgate::supervisor {
namespace {

using approvals::Decision;
using approvals::DecisionSource;
using Clock = std::chrono::steady_clock;

// Largest datagram sandgate sends on a command's behalf (the UDP maximum payload).
constexpr std::size_t kMaxDatagram = 65507;
// Most a TCP Fast Open send carried out on the command's behalf sends at once (a short send).
constexpr std::uint64_t kMaxFastOpenData = 65536;

enum class Overflow { kFail, kTruncate };

// The bytes of a sendmsg's iovecs, in order: at most `limit` of them. More than that fails
// with EMSGSIZE (a datagram cannot be cut) or is cut short (a stream send may be short).
base::Result<std::vector<std::uint8_t>> GatherIovecs(pid_t tgid, std::uint64_t iov_address,
                                                      std::uint64_t count, std::size_t limit,
                                                      Overflow overflow) {
  if (count > IOV_MAX) return base::Error{EMSGSIZE, "sendmsg: too many iovecs"};
  std::vector<std::uint8_t> out;
  if (count == 0) return out;
  auto table = ReadTargetMemory(tgid, iov_address, static_cast<std::size_t>(count) * sizeof(iovec));
  if (!table.Ok()) return base::Error{EFAULT, "sendmsg: iovec table"};
  for (std::uint64_t i = 0; i < count && out.size() < limit; ++i) {
    iovec iov{};
    std::memcpy(&iov, table->data() + i * sizeof(iovec), sizeof iov);
    std::size_t take = iov.iov_len;
    if (take > limit - out.size()) {
      if (overflow == Overflow::kFail) return base::Error{EMSGSIZE, "sendmsg: datagram too long"};
      take = limit - out.size();
    }
    if (take == 0) continue;
    auto bytes = ReadTargetMemory(tgid, reinterpret_cast<std::uint64_t>(iov.iov_base), take);
    if (!bytes.Ok()) return base::Error{EFAULT, "sendmsg: iovec buffer"};
    out.insert(out.end(), bytes->begin(), bytes->end());
  }
  return out;
}

}  // namespace

bool Mediator::SendsItself(const Request& request, bool inet) const noexcept {
  return request.host_socket || (inet && !options_.own_network_namespace);
}

void Mediator::HandleSend(const Notification& n, pid_t tgid) noexcept {
  auto request = BeginRequest(n, tgid, Kind::kSendTo);
  if (!request) return;

  const bool inet = request->shape.domain == AF_INET || request->shape.domain == AF_INET6;
  const bool stream = request->shape.type == SOCK_STREAM;
  // A connected host stream socket ignores any destination (TCP), so the kernel may send.
  if (request->host_socket && stream) return listener_->RespondContinue(n.id);

  // Where is it going? sendto carries the address as an argument; sendmsg/sendmmsg inside
  // structs read from the command's memory.
  std::uint64_t name_ptr = 0;
  std::uint64_t name_len = 0;
  std::uint64_t data_ptr = 0;
  std::uint64_t data_len = 0;
  std::optional<std::vector<std::uint8_t>> gathered;  // sendmsg: its iovecs, already read
  std::uint64_t control_ptr = 0;  // sendmsg/sendmmsg: ancillary data (fds to pass)
  std::uint64_t control_len = 0;
  // A unix datagram without a destination is sent by sandgate too (SendUnixDatagram).
  const bool unix_datagram = request->shape.domain == AF_UNIX && request->shape.type == SOCK_DGRAM;
  if (n.syscall == SYS_sendto) {
    data_ptr = n.args[1];
    data_len = n.args[2];
    request->send_flags = static_cast<int>(n.args[3]);
    name_ptr = n.args[4];
    name_len = n.args[5];
  } else if (n.syscall == SYS_sendmsg) {
    auto header = ReadTargetMemory(tgid, n.args[1], sizeof(msghdr));
    if (!header.Ok()) return listener_->RespondError(n.id, EFAULT);
    msghdr msg{};
    std::memcpy(&msg, header->data(), sizeof msg);
    name_ptr = reinterpret_cast<std::uint64_t>(msg.msg_name);
    name_len = msg.msg_namelen;
    control_ptr = reinterpret_cast<std::uint64_t>(msg.msg_control);
    control_len = msg.msg_controllen;
    request->send_flags = static_cast<int>(n.args[2]);
    // Where sandgate may send on the command's behalf, the buffers are gathered now, once: what
    // is decided on is what gets sent. (A sandbox socket without a destination is left to the
    // kernel below, whatever its size.)
    if (name_ptr != 0 || SendsItself(*request, inet) || unix_datagram) {
      const std::size_t limit = stream ? kMaxFastOpenData : kMaxDatagram;
      auto data = GatherIovecs(tgid, reinterpret_cast<std::uint64_t>(msg.msg_iov),
                               msg.msg_iovlen, limit,
                               stream ? Overflow::kTruncate : Overflow::kFail);
      if (!data.Ok()) return listener_->RespondError(n.id, data.Err().errnum);
      gathered = std::move(data.Value());
    }
  } else {
    // sendmmsg: a batch stays inside the sandbox when it is on a sandbox socket and every
    // destination is absent or a loopback peer inside the sandbox. Otherwise only its first
    // message is carried out, like a sendmsg, and the syscall reports one message sent: a short
    // count is a valid answer, and the command sends the rest again (each message may name
    // another destination, each needing its own decision).
    constexpr std::uint64_t kMaxBatch = 1024;
    const std::uint64_t count = std::min<std::uint64_t>(n.args[2], kMaxBatch);
    // vlen is a register: the kernel cannot be made to re-read it differently.
    if (count == 0) return listener_->RespondContinue(n.id);
    auto batch = ReadTargetMemory(tgid, n.args[1], static_cast<std::size_t>(count) * sizeof(mmsghdr));
    if (!batch.Ok()) return listener_->RespondError(n.id, EFAULT);
    bool inside = inet && !request->host_socket;
    if (inside) {
      for (std::uint64_t i = 0; inside && i < count; ++i) {
        mmsghdr m{};
        std::memcpy(&m, batch->data() + i * sizeof(mmsghdr), sizeof m);
        if (m.msg_hdr.msg_name == nullptr) continue;
        if (m.msg_hdr.msg_namelen > sizeof(sockaddr_storage)) {
          inside = false;
          break;
        }
        auto dest = ReadTargetMemory(tgid, reinterpret_cast<std::uint64_t>(m.msg_hdr.msg_name),
                                     m.msg_hdr.msg_namelen);
        sockaddr_storage sa{};
        if (dest.Ok()) std::memcpy(&sa, dest->data(), dest->size());
        auto endpoint = dest.Ok() ? InetEndpoint(sa, m.msg_hdr.msg_namelen) : std::nullopt;
        inside = endpoint && SandboxLocal(endpoint->first) &&
                 LocalListener(Transport::kUdp, endpoint->first, endpoint->second);
      }
    }
    if (inside) {
      if (!StillHeld(n.id)) return;
      return listener_->RespondContinue(n.id);
    }
    mmsghdr first{};
    std::memcpy(&first, batch->data(), sizeof first);
    name_ptr = reinterpret_cast<std::uint64_t>(first.msg_hdr.msg_name);
    name_len = first.msg_hdr.msg_namelen;
    control_ptr = reinterpret_cast<std::uint64_t>(first.msg_hdr.msg_control);
    control_len = first.msg_hdr.msg_controllen;
    request->send_flags = static_cast<int>(n.args[3]);
    request->batch_address = n.args[1];
    if (name_ptr != 0 || SendsItself(*request, inet) || unix_datagram) {
      auto data = GatherIovecs(tgid, reinterpret_cast<std::uint64_t>(first.msg_hdr.msg_iov),
                               first.msg_hdr.msg_iovlen, stream ? kMaxFastOpenData : kMaxDatagram,
                               stream ? Overflow::kTruncate : Overflow::kFail);
      if (!data.Ok()) return listener_->RespondError(n.id, data.Err().errnum);
      gathered = std::move(data.Value());
    }
  }

  if (name_ptr == 0) {
    if (unix_datagram && gathered) {
      // The kernel would read the msghdr again, and a destination another thread wrote there
      // meanwhile (a host socket: syslog, the journal) would get the datagram.
      if (!StillHeld(n.id)) return;
      return SendUnixDatagram(std::move(request), std::move(*gathered), control_ptr, control_len);
    }
    // No destination on a sandbox socket: it can only go where the socket already goes, inside
    // the sandbox's empty namespace.
    if (!SendsItself(*request, inet)) return listener_->RespondContinue(n.id);
    // A connected host datagram socket without a destination: already approved when it was
    // connected. sandgate sends it itself so that no destination slipped in afterwards counts.
    // So does a command's own socket on the host's network (no namespace of its own): the kernel
    // would re-read a destination written in meanwhile and send there.
    if (stream && !request->host_socket) {
      // Unconnected (a connected one would be sandgate's): only Fast Open could take it out.
      if ((request->send_flags & MSG_FASTOPEN) != 0) return listener_->RespondError(n.id, EDESTADDRREQ);
      return listener_->RespondContinue(n.id);
    }
    if (!gathered && data_len > kMaxDatagram) return listener_->RespondError(n.id, EMSGSIZE);
    auto data = gathered ? base::Result<std::vector<std::uint8_t>>(std::move(*gathered))
                         : ReadTargetMemory(tgid, data_ptr, static_cast<std::size_t>(data_len));
    if (!data.Ok()) return listener_->RespondError(n.id, EFAULT);
    if (!StillHeld(n.id)) return;
    ssize_t sent = ::send(request->socket.Get(), data->data(), data->size(),
                          (request->send_flags & ~MSG_DONTWAIT) | MSG_NOSIGNAL);
    if (sent < 0) return listener_->RespondError(n.id, errno);
    return Answer(*request, sent, request->socket.Get());
  }
  if (name_len > sizeof(sockaddr_storage) || name_len < sizeof(sa_family_t)) {
    return listener_->RespondError(n.id, EINVAL);
  }
  auto name = ReadTargetMemory(tgid, name_ptr, static_cast<std::size_t>(name_len));
  if (!name.Ok()) return listener_->RespondError(n.id, EFAULT);
  if (!stream) {
    if (data_len > kMaxDatagram) return listener_->RespondError(n.id, EMSGSIZE);
  } else {
    // A stream send may be short; what sandgate sends on the command's behalf is bounded.
    data_len = std::min<std::uint64_t>(data_len, kMaxFastOpenData);
  }
  if (gathered) {
    request->payload = std::move(*gathered);
  } else if (data_len > 0) {
    auto data = ReadTargetMemory(tgid, data_ptr, static_cast<std::size_t>(data_len));
    if (!data.Ok()) return listener_->RespondError(n.id, EFAULT);
    request->payload = std::move(data.Value());
  }
  if (!StillHeld(n.id)) return;
  std::memcpy(&request->address, name->data(), name->size());
  request->address_len = static_cast<socklen_t>(name_len);

  if (request->shape.domain == AF_UNIX) {
    request->destination = UnixDestination(request->address, request->address_len);
    Record(*request, Decision::kDeny, DecisionSource::kDefault, std::nullopt);
    return AnswerDenied(*request, DecisionSource::kDefault, std::nullopt,
                        "sandgate does not send unix datagrams to a path; connect the socket "
                        "first");
  }
  auto endpoint = InetEndpoint(request->address, request->address_len);
  if (!endpoint) return listener_->RespondError(n.id, EAFNOSUPPORT);
  request->destination.address = endpoint->first;
  request->destination.port = endpoint->second;
  request->destination.protocol = stream ? approvals::Protocol::kTcp : approvals::Protocol::kUdp;
  names_.AttributeNames(request->destination, Clock::now());
  if (!inet) return listener_->RespondError(n.id, EAFNOSUPPORT);
  const auto transport = stream ? Transport::kTcp : Transport::kUdp;
  if (!stream && RedirectsToForwarder(*request)) return RedirectToForwarder(std::move(request));
  if (!request->host_socket && SandboxLocal(endpoint->first) &&
      LocalListener(transport, endpoint->first, endpoint->second)) {
    return listener_->RespondContinue(n.id);  // a peer inside the sandbox's own namespace
  }
  if (stream) {
    // Without MSG_FASTOPEN the kernel ignores the address on an unconnected stream socket and
    // fails the send; the socket lives in the sandbox's empty namespace whatever it re-reads.
    if ((request->send_flags & MSG_FASTOPEN) == 0) return listener_->RespondContinue(n.id);
    // TCP Fast Open to the outside: a connect in disguise, decided like one.
    request->kind = Kind::kConnect;
    request->fast_open = true;
  }
  Mediate(std::move(request));
}

bool Mediator::RespondSent(const Request& request, ssize_t sent) noexcept {
  const auto id = request.notification.id;
  if (request.batch_address == 0) return listener_->Deliver(id, sent, 0);
  // sendmmsg: one message went out; its msg_len says how much, as the kernel would have written.
  const unsigned int length = static_cast<unsigned int>(sent);
  if (!WriteTargetMemory(request.pid, request.batch_address + offsetof(mmsghdr, msg_len), &length,
                         sizeof length)) {
    return listener_->Deliver(id, -1, EFAULT);
  }
  return listener_->Deliver(id, 1, 0);
}

void Mediator::AllowSend(std::unique_ptr<Request> request) noexcept {
  const auto id = request->notification.id;
  int socket = request->socket.Get();
  base::UniqueFd host;
  if (!request->host_socket) {
    // The reply must come back to the command: its datagram socket is replaced by a host one,
    // from which sandgate sends this datagram.
    auto opened = OpenHostSocket(request->shape, request->socket.Get());
    if (!opened.Ok()) {
      const int error = opened.Err().errnum;
      return listener_->RespondError(id, OutOfResources(error) ? EAGAIN : error);
    }
    host = std::move(opened.Value());
    switch (Place(*request, host)) {
      case Placed::kInterrupted:
        // Nothing was sent yet: the restart sends it, under the decision already recorded (a
        // DNS query redirected without a decision is simply redirected again).
        if (request->decided) KeepForRestart(*request, base::UniqueFd(), 0);
        return;
      case Placed::kFailed:
        return;
      case Placed::kYes:
        break;
    }
    socket = host.Get();
  }
  ssize_t sent = ::sendto(socket, request->payload.data(), request->payload.size(),
                          MSG_DONTWAIT | MSG_NOSIGNAL, reinterpret_cast<sockaddr*>(&request->address),
                          request->address_len);
  if (sent < 0) return listener_->RespondError(id, errno);
  Answer(*request, sent, socket);
}

}  // namespace sandgate::supervisor
