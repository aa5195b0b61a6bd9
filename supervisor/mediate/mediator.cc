#include "supervisor/mediate/mediator.h"

#include <fcntl.h>
#include <netinet/in.h>
#include <spdlog/spdlog.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/uio.h>
#include <sys/un.h>
#include <unistd.h>

#include <cerrno>
#include <climits>
#include <algorithm>
#include <cstring>
#include <vector>

#include "approvals/protocol.h"
#include "supervisor/mediate/answered_attempts.h"
#include "supervisor/net/proxy_tunnel.h"
#include "supervisor/net/sandbox_netns.h"
#include "supervisor/net/sandbox_path.h"
#include "supervisor/child/target_process.h"

namespace sandgate::supervisor {
namespace {

using approvals::Decision;
using approvals::DecisionSource;
using Clock = std::chrono::steady_clock;

// Largest datagram sandgate sends on a command's behalf (the UDP maximum payload).
constexpr std::size_t kMaxDatagram = 65507;
// Most a TCP Fast Open send carried out on the command's behalf sends at once (a short send).
constexpr std::uint64_t kMaxFastOpenData = 65536;

// sandgate ran out of fds or memory: the command's syscall fails the way a connect or send
// under resource pressure does (EAGAIN), never with an errno it cannot return.
bool OutOfResources(int error) { return error == EMFILE || error == ENFILE || error == ENOMEM; }

int PidfdGetfd(int pidfd, int fd) {
  return static_cast<int>(::syscall(SYS_pidfd_getfd, pidfd, fd, 0));
}

// FD_CLOEXEC of the command's fd (fd flags are per fd, so our copy cannot tell).
// Read with plain open/read into a stack buffer: this runs on every installed socket.
bool TargetFdCloexec(pid_t pid, int fd) {
  char path[64];
  std::snprintf(path, sizeof path, "/proc/%d/fdinfo/%d", static_cast<int>(pid), fd);
  base::UniqueFd file(::open(path, O_RDONLY | O_CLOEXEC));
  if (!file) return false;
  // "pos:\t0\nflags:\t02000002\n...": the flags come second, well within the buffer.
  char text[256];
  ssize_t n;
  do {
    n = ::read(file.Get(), text, sizeof text - 1);
  } while (n < 0 && errno == EINTR);
  if (n <= 0) return false;
  text[n] = '\0';
  constexpr std::string_view kKey = "\nflags:";
  const std::string_view content(text, static_cast<std::size_t>(n));
  auto at = content.find(kKey);
  if (at == std::string_view::npos) return false;
  unsigned long flags = 0;
  for (std::size_t i = at + kKey.size(); i < content.size(); ++i) {
    const char c = content[i];
    if (c == ' ' || c == '\t') continue;
    if (c < '0' || c > '7') break;
    flags = flags * 8 + static_cast<unsigned long>(c - '0');
  }
  return (flags & O_CLOEXEC) != 0;
}


// The unix socket a sockaddr_un names, as given (a path is resolved later, for connects).
approvals::Destination UnixDestination(const sockaddr_storage& sa, socklen_t len) {
  approvals::Destination d;
  d.protocol = approvals::Protocol::kUnix;
  const auto& un = reinterpret_cast<const sockaddr_un&>(sa);
  std::size_t path_len = len > offsetof(sockaddr_un, sun_path) ? len - offsetof(sockaddr_un, sun_path) : 0;
  path_len = std::min(path_len, sizeof un.sun_path);
  if (path_len > 0 && un.sun_path[0] == '\0') {
    d.unix_abstract = std::string(un.sun_path + 1, path_len - 1);
  } else if (path_len > 0) {
    d.unix_path = std::string(un.sun_path, strnlen(un.sun_path, path_len));
  }
  return d;
}

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

struct Mediator::ExitWatch {
  Mediator* mediator;
  pid_t pid;
};

struct Mediator::Process {
  base::UniqueFd pidfd;
  UvHandle<uv_poll_t>* exit_poll = nullptr;
};

struct Mediator::Request {
  RequestId id = 0;
  Kind kind = Kind::kConnect;
  Notification notification;
  pid_t pid = 0;  // thread group
  int fd = -1;    // the command's fd number
  base::UniqueFd socket;  // our copy of the command's socket
  SocketShape shape;
  bool host_socket = false;  // a socket sandgate itself created and installed earlier
  sockaddr_storage address{};
  socklen_t address_len = 0;
  approvals::Destination destination;
  std::vector<std::uint8_t> payload;  // sendto: the datagram, read before the decision
  int send_flags = 0;
  // TCP Fast Open (sendto with MSG_FASTOPEN): decided as a connect, carried out as connect plus
  // a send of `payload`; the syscall returns how much was sent.
  bool fast_open = false;
  // sendmmsg: where the command's mmsghdr array is (only its first message is carried out).
  std::uint64_t batch_address = 0;
  Clock::time_point received;
  std::optional<std::string> approval_id;
  std::function<void(bool resolve)> on_name_decided;  // kName
  base::UniqueFd unix_target;  // unix path connects: O_PATH handle of the resolved socket
  // Set (and recorded) once decided; what CarryOut carries out.
  struct Decided {
    Decision decision = Decision::kDeny;
    DecisionSource source = DecisionSource::kDefault;
    std::optional<std::string> rule;
    std::optional<approvals::ProxyUrl> proxy;
  };
  std::optional<Decided> decided;
  bool seen_dead = false;  // a sweep found its notification gone (see Sweep)
};

AttemptSignature Mediator::SignatureOf(const Request& request) {
  return {request.notification.syscall, request.fd, request.destination};
}

Mediator::Mediator(uv_loop_t* loop, approvals::Engine& engine, Approver& approver, AuditLog* audit,
                   MediatorOptions options, TerminateSandbox terminate)
    : loop_(loop),
      engine_(engine),
      approver_(approver),
      audit_(audit),
      options_(options),
      terminate_(std::move(terminate)) {
  // Half the fds sandgate may open, at most 4,096, at least 16: the rest is for host sockets,
  // pidfds and the loop.
  rlimit files{};
  if (::getrlimit(RLIMIT_NOFILE, &files) == 0 && files.rlim_cur != RLIM_INFINITY) {
    max_waiting_ = std::clamp<std::size_t>(files.rlim_cur / 2, 16, 4096);
  }
}

Mediator::~Mediator() { Close(); }

base::Status Mediator::Attach(base::UniqueFd listener, pid_t sandbox_pid) {
  listener_ = std::make_unique<NotifyListener>(
      loop_, std::move(listener), [this](const Notification& n) { OnNotification(n); });
  if (auto started = listener_->Start(); !started) return started;
  // Needed for every loopback connect and abstract unix connect: opened now, while the command
  // waits, so that a machine where it cannot be done fails before the command runs.
  auto opened = SandboxNetns::Open(sandbox_pid);
  if (!opened.Ok()) return opened.Err();
  netns_.emplace(std::move(opened.Value()));
  if (!options_.dns_upstream) return base::Ok{};
  dns_ = std::make_unique<DnsForwarder>(
      loop_, *options_.dns_upstream, names_,
      [this](const NameQuestion& question, std::function<void(NameVerdict)> done) {
        CheckName(question, std::move(done));
      });
  if (auto started = dns_->Start(*netns_, options_.dns_listen); !started) {
    // Not a hole: the sandbox's DNS traffic is then mediated like any other, without names.
    spdlog::warn("DNS forwarder not started: {}", started.Err().Message());
    dns_->Close();
    dns_.reset();
  }
  return base::Ok{};
}

void Mediator::Close() noexcept {
  CancelAll();
  if (sweep_ != nullptr) sweep_->Close();
  sweep_ = nullptr;
  if (dns_) dns_->Close();
  if (listener_) listener_->Close();
  for (auto& [pid, process] : processes_) {
    if (process->exit_poll) process->exit_poll->Close();
  }
  processes_.clear();
}

void Mediator::OnNotification(const Notification& n) noexcept {
  // A thread is in one syscall at a time: whatever it still had waiting here was interrupted
  // by a signal, and this may be the same attempt restarted. It is dropped once this one has
  // been handled, so that a restart joins the prompt its first try opened instead of
  // cancelling it and asking again.
  std::optional<RequestId> interrupted;
  if (auto it = waiting_by_tid_.find(n.tid); it != waiting_by_tid_.end()) {
    interrupted = it->second;
  }
  died_while_read_ = false;
  Handle(n);
  // Unless this one died too while it was being read (a storm is that fast): then the earlier
  // request keeps the prompt for the next restart.
  if (interrupted && !died_while_read_) DropInterrupted(*interrupted);
}

bool Mediator::StillHeld(std::uint64_t id) noexcept {
  if (listener_->IdValid(id)) return true;
  died_while_read_ = true;
  return false;
}

void Mediator::Handle(const Notification& n) noexcept {
  try {
    // A thread id that is a process we hold a pidfd for, still running, is that process's
    // leader (no other task can have the pid meanwhile); only other threads need /proc.
    std::optional<pid_t> tgid;
    if (auto known = processes_.find(n.tid);
        known != processes_.end() && ProcessRunning(known->second->pidfd.Get())) {
      tgid = n.tid;
    } else {
      tgid = ThreadGroupOf(n.tid);
    }
    if (!tgid) return listener_->RespondError(n.id, ESRCH);  // the thread is gone already
    switch (n.syscall) {
      case SYS_connect:
        return HandleConnect(n, *tgid);
      case SYS_sendto:
      case SYS_sendmsg:
      case SYS_sendmmsg:
        return HandleSend(n, *tgid);
      default:
        spdlog::error("unexpected notification for syscall {}", n.syscall);
        return listener_->RespondError(n.id, ENOSYS);
    }
  } catch (const std::exception& e) {
    spdlog::error("notification {}: {}", n.id, e.what());
    listener_->RespondError(n.id, EPERM);  // fail closed
  }
}

Mediator::Process* Mediator::ProcessFor(pid_t tgid) noexcept {
  auto it = processes_.find(tgid);
  if (it != processes_.end()) return it->second.get();
  auto process = std::make_unique<Process>();
  process->pidfd.Reset(static_cast<int>(::syscall(SYS_pidfd_open, tgid, 0)));
  if (!process->pidfd) return nullptr;
  // One pidfd per process, kept while it lives: it is how we copy its sockets, and it becomes
  // readable when the process exits, which cancels its pending requests.
  process->exit_poll = UvHandle<uv_poll_t>::Create();
  if (uv_poll_init(loop_, process->exit_poll->Get(), process->pidfd.Get()) != 0) {
    process->exit_poll->Close();
    return nullptr;
  }
  process->exit_poll->BindOwned(new ExitWatch{this, tgid});
  uv_poll_start(process->exit_poll->Get(), UV_READABLE, [](uv_poll_t* h, int, int) {
    auto* watch = static_cast<ExitWatch*>(UvHandle<uv_poll_t>::From(h)->Owner());
    watch->mediator->OnProcessExited(watch->pid);
  });
  auto* raw = process.get();
  processes_.emplace(tgid, std::move(process));
  return raw;
}

void Mediator::OnProcessExited(pid_t tgid) noexcept {
  auto it = processes_.find(tgid);
  if (it == processes_.end()) return;
  it->second->exit_poll->Close();
  processes_.erase(it);
  std::vector<RequestId> gone;
  for (const auto& [id, request] : waiting_) {
    if (request->pid == tgid) gone.push_back(id);
  }
  for (RequestId id : gone) {
    // As with a timeout: the prompt is withdrawn first, then the attempt is recorded.
    auto request = Withdraw(id, approvals::CancelReason::kProcessExited);
    if (request) Record(*request, Decision::kDeny, DecisionSource::kCancelled, std::nullopt);
  }
}

std::unique_ptr<Mediator::Request> Mediator::Withdraw(RequestId id,
                                                      approvals::CancelReason reason) noexcept {
  auto removal = pending_.Remove(id);
  auto request = TakeWaiting(id);
  if (removal && removal->prompt == approvals::PromptState::kOrphaned) {
    if (auto timer = timers_.find(removal->approval_id); timer != timers_.end()) {
      timer->second->Close();
      timers_.erase(timer);
    }
    approver_.Cancel(removal->approval_id, reason);
  }
  return request;
}

void Mediator::AddWaiting(std::unique_ptr<Request> request) noexcept {
  const RequestId id = request->id;
  if (request->kind != Kind::kName) waiting_by_tid_[request->notification.tid] = id;
  waiting_.emplace(id, std::move(request));
  EnsureSweep();
}

void Mediator::EnsureSweep() noexcept {
  if (sweep_ != nullptr) return;
  sweep_ = UvHandle<uv_timer_t>::Create();
  uv_timer_init(loop_, sweep_->Get());
  sweep_->Bind(this);
  uv_timer_start(
      sweep_->Get(),
      [](uv_timer_t* t) { static_cast<Mediator*>(UvHandle<uv_timer_t>::From(t)->Owner())->Sweep(); },
      kSweepInterval.count(), kSweepInterval.count());
}

std::unique_ptr<Mediator::Request> Mediator::TakeWaiting(RequestId id) noexcept {
  auto node = waiting_.extract(id);
  if (node.empty()) return nullptr;
  auto request = std::move(node.mapped());
  if (auto it = waiting_by_tid_.find(request->notification.tid);
      it != waiting_by_tid_.end() && it->second == id) {
    waiting_by_tid_.erase(it);
  }
  return request;
}

void Mediator::DropInterrupted(RequestId id) noexcept {
  // The kernel has answered it already (EINTR, or a restart as a new notification): no
  // decision, no record, and our copy of the socket goes now.
  if (Withdraw(id, approvals::CancelReason::kInterrupted)) {
    spdlog::debug("request {}: its syscall was interrupted; dropped", id);
  }
}

void Mediator::Sweep() noexcept {
  // What a signal interrupted and the thread never made again: found here. Only when it was
  // dead at two sweeps in a row: a restart comes microseconds after the signal handler, and a
  // request caught in between must keep its prompt for that restart to join.
  std::vector<RequestId> dead;
  for (const auto& [id, request] : waiting_) {
    if (request->kind == Kind::kName || listener_->IdValid(request->notification.id)) continue;
    if (request->seen_dead) dead.push_back(id);
    request->seen_dead = true;
  }
  for (RequestId id : dead) DropInterrupted(id);
  answered_.Expire(Clock::now());
  if (waiting_.empty() && answered_.Empty()) {
    sweep_->Close();
    sweep_ = nullptr;
  }
}

std::unique_ptr<Mediator::Request> Mediator::BeginRequest(const Notification& n, pid_t tgid,
                                                          Kind kind) noexcept {
  auto request = std::make_unique<Request>();
  request->id = next_request_++;
  request->kind = kind;
  request->notification = n;
  request->pid = tgid;
  request->received = Clock::now();
  request->fd = static_cast<int>(n.args[0]);  // connect, sendto, sendmsg, sendmmsg alike

  Process* process = ProcessFor(tgid);
  if (process == nullptr) {
    listener_->RespondError(n.id, OutOfResources(errno) ? EAGAIN : ESRCH);
    return nullptr;
  }
  request->socket.Reset(PidfdGetfd(process->pidfd.Get(), request->fd));
  if (!request->socket) {
    const int error = errno;
    listener_->RespondError(n.id, OutOfResources(error) ? EAGAIN
                                  : error == EBADF      ? EBADF
                                                        : ENOTSOCK);
    return nullptr;
  }
  auto shape = ReadSocketShape(request->socket.Get());
  if (!shape.Ok()) {
    listener_->RespondError(n.id, ENOTSOCK);
    return nullptr;
  }
  request->shape = shape.Value();
  request->host_socket = IsHostSocket(request->socket.Get());
  if (request->host_socket && !answered_.Empty()) {
    // The restart of an attempt carried out to the end but whose answer an interruption lost:
    // the same call on the socket sandgate installed for it. Answered the same, done once.
    auto cookie = SocketCookie(request->socket.Get());
    if (auto done = cookie ? answered_.TakeInstalled(n.tid, n.syscall, request->fd, *cookie)
                           : std::nullopt) {
      spdlog::debug("request {}: the restart of an attempt carried out already", request->id);
      if (n.syscall == SYS_sendmmsg) request->batch_address = n.args[1];
      Answer(*request, done->result, request->socket.Get());
      return nullptr;
    }
  }
  return request;
}

void Mediator::HandleConnect(const Notification& n, pid_t tgid) noexcept {
  auto request = BeginRequest(n, tgid, Kind::kConnect);
  if (!request) return;

  const std::uint64_t len = n.args[2];
  if (len > sizeof(sockaddr_storage) || len < sizeof(sa_family_t)) {
    return listener_->RespondError(n.id, EINVAL);
  }
  auto bytes = ReadTargetMemory(tgid, n.args[1], static_cast<std::size_t>(len));
  if (!bytes.Ok()) return listener_->RespondError(n.id, EFAULT);
  // Only now is what we read known to belong to the still-waiting syscall.
  if (!StillHeld(n.id)) return;
  std::memcpy(&request->address, bytes->data(), bytes->size());
  request->address_len = static_cast<socklen_t>(len);

  if (request->shape.domain == AF_UNIX) return HandleUnixConnect(std::move(request));
  if (request->shape.domain != AF_INET && request->shape.domain != AF_INET6) {
    // netlink and friends talk to the kernel about the sandbox's own namespaces; sandgate never
    // installs such sockets, so whatever the arguments become, nothing outside is reached.
    return listener_->RespondContinue(n.id);
  }
  auto endpoint = InetEndpoint(request->address, request->address_len);
  if (!endpoint) {
    // AF_UNSPEC dissolves a datagram association. On a sandbox socket the kernel may do it
    // (nothing outside is reachable from the empty namespace whatever it re-reads); on a host
    // socket sandgate does it itself, so that no swapped address gets through.
    if (!request->host_socket) return listener_->RespondContinue(n.id);
    sockaddr unspec{};
    unspec.sa_family = AF_UNSPEC;
    int rc = ::connect(request->socket.Get(), &unspec, sizeof unspec);
    return rc == 0 ? listener_->RespondValue(n.id, 0) : listener_->RespondError(n.id, errno);
  }
  const auto transport = request->shape.type == SOCK_STREAM ? Transport::kTcp : Transport::kUdp;
  request->destination.address = endpoint->first;
  request->destination.port = endpoint->second;
  request->destination.protocol =
      transport == Transport::kTcp ? approvals::Protocol::kTcp : approvals::Protocol::kUdp;
  names_.AttributeNames(request->destination, Clock::now());
  if (!request->host_socket && SandboxLocal(endpoint->first) &&
      LocalListener(transport, endpoint->first, endpoint->second)) {
    // A listener inside the sandbox: its own loopback, no prompt. The kernel may re-read the
    // address: the socket lives in the sandbox's empty namespace, so no address reaches out.
    return listener_->RespondContinue(n.id);
  }
  Mediate(std::move(request));
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
    request->send_flags = static_cast<int>(n.args[2]);
    // Where sandgate may send on the command's behalf, the buffers are gathered now, once: what
    // is decided on is what gets sent. (A sandbox socket without a destination is left to the
    // kernel below, whatever its size.)
    if (name_ptr != 0 || request->host_socket) {
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
    request->send_flags = static_cast<int>(n.args[3]);
    request->batch_address = n.args[1];
    if (name_ptr != 0 || request->host_socket) {
      auto data = GatherIovecs(tgid, reinterpret_cast<std::uint64_t>(first.msg_hdr.msg_iov),
                               first.msg_hdr.msg_iovlen, stream ? kMaxFastOpenData : kMaxDatagram,
                               stream ? Overflow::kTruncate : Overflow::kFail);
      if (!data.Ok()) return listener_->RespondError(n.id, data.Err().errnum);
      gathered = std::move(data.Value());
    }
  }

  if (name_ptr == 0) {
    // No destination on a sandbox socket: it can only go where the socket already goes, inside
    // the sandbox's empty namespace.
    if (!request->host_socket) return listener_->RespondContinue(n.id);
    // A connected host datagram socket without a destination: already approved when it was
    // connected. sandgate sends it itself so that no destination slipped in afterwards counts.
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
    return listener_->RespondError(n.id, EPERM);
  }
  auto endpoint = InetEndpoint(request->address, request->address_len);
  if (!endpoint) return listener_->RespondError(n.id, EAFNOSUPPORT);
  request->destination.address = endpoint->first;
  request->destination.port = endpoint->second;
  request->destination.protocol = stream ? approvals::Protocol::kTcp : approvals::Protocol::kUdp;
  names_.AttributeNames(request->destination, Clock::now());
  if (!inet) return listener_->RespondError(n.id, EAFNOSUPPORT);
  const auto transport = stream ? Transport::kTcp : Transport::kUdp;
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

void Mediator::Mediate(std::unique_ptr<Request> request) noexcept {
  if (request->kind != Kind::kName && !answered_.Empty()) {
    if (auto answered = answered_.TakeFor(request->notification.tid, SignatureOf(*request))) {
      return Resume(std::move(request), std::move(*answered));
    }
  }
  auto decision = engine_.Decide(request->destination);
  // Shown, audited and tunnelled by the name the deciding rule is about, not the last resolved.
  if (decision.matched_host) request->destination.host = decision.matched_host;
  const auto source = decision.source == approvals::RuleOrigin::kSession ? DecisionSource::kSession
                                                                         : DecisionSource::kPolicy;
  switch (decision.verdict) {
    case approvals::Verdict::kAllow:
      return Carry(std::move(request), Decision::kAllow, source, decision.rule);
    case approvals::Verdict::kDeny:
      return Carry(std::move(request), Decision::kDeny, source, decision.rule);
    case approvals::Verdict::kRoute:
      return Carry(std::move(request), Decision::kRoute, source, decision.rule, options_.proxy);
    case approvals::Verdict::kAsk:
      break;
  }
  const RequestId id = request->id;
  if (waiting_.size() >= max_waiting_) {
    // Bounded: each waiting request holds our copy of the command's socket. The attempt fails
    // as a connect or send under resource pressure does, and nothing is recorded or asked.
    const auto now = Clock::now();
    if (now - last_overload_log_ > std::chrono::seconds(1)) {
      spdlog::warn("{} requests already wait for a decision (the limit): refusing more with EAGAIN",
                   waiting_.size());
      last_overload_log_ = now;
    }
    if (request->kind == Kind::kName) return request->on_name_decided(false);
    return listener_->RespondError(request->notification.id, EAGAIN);
  }
  auto added = pending_.Add(approvals::PendingKeyFor(request->destination), id);
  request->approval_id = added.approval_id;
  approvals::ApprovalRequest prompt;
  if (added.need == approvals::PromptNeed::kSendPrompt) {
    prompt.approval_id = added.approval_id;
    if (request->kind == Kind::kName) {
      // A DNS query arrives on a socket, not from a process sandgate can name cheaply.
      prompt.reason = "dns_query";
    } else {
      auto context = ReadProcessContext(request->pid);
      prompt.process = {context.pid, context.exe, context.argv, context.cwd};
    }
    prompt.destination = request->destination;
    prompt.available_decisions = approvals::AllDecisionNames();
  }
  AddWaiting(std::move(request));
  if (added.need != approvals::PromptNeed::kSendPrompt) return;

  if (options_.approval_timeout.count() > 0) {
    auto* timer = UvHandle<uv_timer_t>::Create();
    uv_timer_init(loop_, timer->Get());
    timer->BindOwned(new std::pair<Mediator*, std::string>(this, added.approval_id));
    timers_[added.approval_id] = timer;
    uv_timer_start(
        timer->Get(),
        [](uv_timer_t* t) {
          auto* owner = static_cast<std::pair<Mediator*, std::string>*>(UvHandle<uv_timer_t>::From(t)->Owner());
          Mediator* self = owner->first;
          const std::string approval_id = owner->second;
          self->approver_.Cancel(approval_id, approvals::CancelReason::kTimeout);
          self->ResolvePrompt(approval_id, Decision::kDeny, DecisionSource::kTimeout, std::nullopt);
        },
        static_cast<std::uint64_t>(options_.approval_timeout.count()) * 1000, 0);
  }
  const std::string approval_id = added.approval_id;
  approver_.Ask(prompt, [this, approval_id](approvals::Answer answer, DecisionSource from) {
    OnAnswer(approval_id, answer, from);
  });
}

void Mediator::OnAnswer(const std::string& approval_id, const approvals::Answer& answer,
                        DecisionSource source) noexcept {
  const approvals::PendingKey* key = pending_.KeyOf(approval_id);
  if (key == nullptr) {
    spdlog::info("answer for {} ignored: no longer pending", approval_id);
    return;
  }
  // All waiters share the destination that was asked about; the first stands for them.
  const approvals::Destination* destination = nullptr;
  for (const auto& [id, request] : waiting_) {
    if (request->approval_id == approval_id) {
      destination = &request->destination;
      break;
    }
  }
  if (destination == nullptr) return;
  const approvals::Destination asked = *destination;
  std::visit(
      [&](const auto& a) {
        using A = std::decay_t<decltype(a)>;
        if constexpr (std::is_same_v<A, approvals::answer::Accept>) {
          ResolvePrompt(approval_id, Decision::kAllow, source, std::nullopt);
        } else if constexpr (std::is_same_v<A, approvals::answer::AcceptForSession>) {
          engine_.AcceptForSession(asked);
          ResolvePrompt(approval_id, Decision::kAllow, source, std::nullopt);
        } else if constexpr (std::is_same_v<A, approvals::answer::DeclineForSession>) {
          engine_.DeclineForSession(asked);
          ResolvePrompt(approval_id, Decision::kDeny, source, std::nullopt);
        } else if constexpr (std::is_same_v<A, approvals::answer::Cancel>) {
          ResolvePrompt(approval_id, Decision::kDeny, source, std::nullopt);
          if (terminate_) terminate_();
        } else if constexpr (std::is_same_v<A, approvals::answer::Amendment>) {
          engine_.ApplyAmendment(a.rule, a.action);
          auto decided = engine_.Decide(asked);
          ResolvePrompt(approval_id,
                        decided.verdict == approvals::Verdict::kAllow ? Decision::kAllow
                                                                      : Decision::kDeny,
                        source, decided.rule);
        } else if constexpr (std::is_same_v<A, approvals::answer::Route>) {
          std::optional<approvals::ProxyUrl> proxy = options_.proxy;
          if (a.proxy) {
            auto parsed = approvals::ParseProxyUrl(*a.proxy);
            if (auto* error = std::get_if<std::string>(&parsed)) {
              spdlog::warn("route decision for {}: {}; declined", approval_id, *error);
              return ResolvePrompt(approval_id, Decision::kDeny, source, std::nullopt);
            }
            proxy = std::get<approvals::ProxyUrl>(std::move(parsed));
          }
          ResolvePrompt(approval_id, Decision::kRoute, source, std::nullopt, std::move(proxy));
        } else {
          ResolvePrompt(approval_id, Decision::kDeny, source, std::nullopt);
        }
      },
      answer);
}

void Mediator::ResolvePrompt(const std::string& approval_id, Decision decision,
                             DecisionSource source, std::optional<std::string> rule,
                             std::optional<approvals::ProxyUrl> proxy) noexcept {
  if (auto timer = timers_.find(approval_id); timer != timers_.end()) {
    timer->second->Close();
    timers_.erase(timer);
  }
  for (RequestId id : pending_.Resolve(approval_id)) {
    auto request = TakeWaiting(id);
    if (!request) continue;
    // Validity first: a notification the kernel has already given up on costs nothing (no host
    // connect, no datagram, no record); its socket copy goes with `request`.
    if (request->kind != Kind::kName && !listener_->IdValid(request->notification.id)) {
      // Interrupted just as the answer came: its restart gets the answer, not a new prompt.
      spdlog::debug("request {}: interrupted before the decision; kept for its restart", id);
      AnsweredAttempt attempt;
      attempt.signature = SignatureOf(*request);
      attempt.decision = decision;
      attempt.source = source;
      attempt.rule = rule;
      attempt.proxy = proxy;
      attempt.approval_id = request->approval_id;
      answered_.Remember(request->notification.tid, std::move(attempt));
      EnsureSweep();
      continue;
    }
    if (request->kind != Kind::kName) answered_.Forget(request->notification.tid);
    Carry(std::move(request), decision, source, rule, proxy);
  }
}

void Mediator::CancelAll() noexcept {
  std::set<std::string> prompts;
  for (const auto& [id, request] : waiting_) {
    if (request->approval_id) prompts.insert(*request->approval_id);
  }
  for (const auto& approval_id : prompts) {
    ResolvePrompt(approval_id, Decision::kDeny, DecisionSource::kCancelled, std::nullopt);
  }
}

void Mediator::Carry(std::unique_ptr<Request> request, Decision decision, DecisionSource source,
                     std::optional<std::string> rule,
                     std::optional<approvals::ProxyUrl> proxy) noexcept {
  if (decision == Decision::kRoute && request->kind == Kind::kName) {
    decision = Decision::kAllow;  // routing a connect to the name needs the name resolved
  } else if (decision == Decision::kRoute) {
    // Only a TCP connect can be tunnelled (HTTP CONNECT and SOCKS5 CONNECT carry streams).
    const char* why = !proxy                                     ? "no proxy given (--proxy)"
                      : request->kind != Kind::kConnect          ? "only connects can be routed"
                      : request->shape.type != SOCK_STREAM ||
                              request->destination.protocol == approvals::Protocol::kUnix
                          ? "only TCP can be routed"
                      : request->host_socket ? "the socket is connected already"
                                             : nullptr;
    if (why != nullptr) {
      spdlog::warn("route for {}: {}; denied", request->destination.port, why);
      decision = Decision::kDeny;
      proxy.reset();
    }
  }
  Record(*request, decision, source, rule, proxy);
  request->decided = Request::Decided{decision, source, std::move(rule), std::move(proxy)};
  CarryOut(std::move(request));
}

void Mediator::CarryOut(std::unique_ptr<Request> request) noexcept {
  const Decision decision = request->decided->decision;
  if (request->kind == Kind::kName) return request->on_name_decided(decision == Decision::kAllow);
  if (decision == Decision::kDeny) {
    return listener_->RespondError(request->notification.id, EPERM);
  }
  if (decision == Decision::kRoute) {
    const approvals::ProxyUrl proxy = *request->decided->proxy;
    return RouteConnect(std::move(request), proxy);
  }
  if (request->destination.protocol == approvals::Protocol::kUnix) {
    return AllowUnixConnect(std::move(request));
  }
  if (request->kind == Kind::kConnect) return AllowConnect(std::move(request));
  AllowSend(std::move(request));
}

void Mediator::KeepForRestart(const Request& request, base::UniqueFd carried,
                              std::int64_t result) noexcept {
  AnsweredAttempt attempt;
  attempt.signature = SignatureOf(request);
  attempt.decision = request.decided->decision;
  attempt.source = request.decided->source;
  attempt.rule = request.decided->rule;
  attempt.proxy = request.decided->proxy;
  attempt.approval_id = request.approval_id;
  attempt.recorded = true;
  attempt.carried = std::move(carried);
  attempt.result = result;
  answered_.Remember(request.notification.tid, std::move(attempt));
  EnsureSweep();
}

void Mediator::Resume(std::unique_ptr<Request> request, AnsweredAttempt answered) noexcept {
  spdlog::debug("request {}: the restart of an attempt answered already", request->id);
  request->approval_id = answered.approval_id;
  if (!answered.recorded) {
    return Carry(std::move(request), answered.decision, answered.source, std::move(answered.rule),
                 std::move(answered.proxy));
  }
  request->decided =
      Request::Decided{answered.decision, answered.source, answered.rule, answered.proxy};
  if (!answered.carried) return CarryOut(std::move(request));
  switch (Place(*request, answered.carried)) {
    case Placed::kInterrupted:
      answered_.Remember(request->notification.tid, std::move(answered));
      return EnsureSweep();
    case Placed::kFailed:
      return;
    case Placed::kYes:
      break;
  }
  Answer(*request, answered.result, answered.carried.Get());
}

void Mediator::Record(const Request& request, Decision decision, DecisionSource source,
                      const std::optional<std::string>& rule,
                      const std::optional<approvals::ProxyUrl>& proxy) noexcept {
  try {
    // Built only for a controller that reads it (auto-deny and replay have none).
    if (approver_.WantsNotifications()) {
      approvals::DecisionNotice notice;
      notice.approval_id = request.approval_id;
      notice.pid = request.pid;
      notice.destination = request.destination;
      notice.decision = decision;
      notice.source = source;
      notice.rule = rule;
      if (proxy) notice.proxy = proxy->Redacted();
      approver_.Notify("network/decision", approvals::DecisionNoticeParams(notice));
    }
    if (audit_ != nullptr) {
      approvals::AuditEntry entry;
      entry.time = std::chrono::system_clock::now();
      entry.pid = request.pid;
      if (request.pid > 0) entry.exe = ReadProcessExe(request.pid);
      if (proxy) entry.proxy = proxy->Redacted();
      entry.destination = request.destination;
      entry.decision = decision;
      entry.source = source;
      entry.rule = rule;
      entry.approval_id = request.approval_id;
      entry.latency = std::chrono::duration_cast<std::chrono::microseconds>(Clock::now() -
                                                                            request.received);
      audit_->Write(entry);
    }
  } catch (const std::exception& e) {
    spdlog::error("recording a decision: {}", e.what());
  }
}

void Mediator::AllowConnect(std::unique_ptr<Request> request) noexcept {
  if (request->host_socket) {
    // Our own socket already (a datagram socket re-targeted): connect it directly.
    int rc = ::connect(request->socket.Get(), reinterpret_cast<sockaddr*>(&request->address),
                       request->address_len);
    return rc == 0 ? listener_->RespondValue(request->notification.id, 0)
                   : listener_->RespondError(request->notification.id, errno);
  }
  auto host = OpenHostSocket(request->shape, request->socket.Get());
  if (!host.Ok()) {
    spdlog::error("{}", host.Err().Message());
    const int error = host.Err().errnum;
    return listener_->RespondError(request->notification.id, OutOfResources(error) ? EAGAIN : error);
  }
  auto shared_host = std::make_shared<base::UniqueFd>(std::move(host.Value()));
  std::shared_ptr<Request> shared_request(std::move(request));
  std::weak_ptr<int> alive = alive_;
  HostConnect::Start(
      loop_, shared_host->Get(), shared_request->address, shared_request->address_len,
      // A Fast Open send returns a byte count, never EINPROGRESS: wait for the connection.
      shared_request->shape.nonblocking && !shared_request->fast_open,
      [this, alive, shared_host, shared_request](int error) {
        if (alive.expired()) return;
        if (error != 0 && error != EINPROGRESS) {
          return listener_->RespondError(shared_request->notification.id, error);
        }
        Install(*shared_request, *shared_host, error);
      });
}

void Mediator::RouteConnect(std::unique_ptr<Request> request,
                            const approvals::ProxyUrl& proxy) noexcept {
  approvals::TunnelTarget target{request->destination.host, *request->destination.address,
                                 request->destination.port};
  std::shared_ptr<Request> shared(std::move(request));
  std::weak_ptr<int> alive = alive_;
  // The command waits until the tunnel is through, even when it asked not to block: a connect
  // that completes at once is a valid answer to a non-blocking connect, and data it wrote early
  // would otherwise land in the middle of the proxy handshake.
  ProxyTunnel::Start(loop_, proxy, target, shared->shape, shared->socket.Get(),
                     options_.proxy_timeout,
                     [this, alive, shared](base::Result<base::UniqueFd> tunnel) {
                       if (alive.expired()) return;
                       if (!tunnel.Ok()) {
                         return listener_->RespondError(shared->notification.id,
                                                        tunnel.Err().errnum);
                       }
                       Install(*shared, tunnel.Value(), 0);
                     });
}

void Mediator::HandleUnixConnect(std::unique_ptr<Request> request) noexcept {
  const auto id = request->notification.id;
  request->destination = UnixDestination(request->address, request->address_len);
  if (request->host_socket) {
    // A unix socket sandgate installed is connected already; re-targeting it is not mediated.
    Record(*request, Decision::kDeny, DecisionSource::kDefault, std::nullopt);
    return listener_->RespondError(id, EPERM);
  }
  if (request->destination.unix_abstract) {
    // Abstract names live per network namespace. Without an allow rule the connect stays in
    // the sandbox's own namespace, where sandgate makes it (the kernel never re-reads an
    // address that could have become a host path meanwhile).
    auto decision = engine_.Decide(request->destination);
    if (decision.verdict == approvals::Verdict::kAllow || decision.verdict == approvals::Verdict::kDeny) {
      return Mediate(std::move(request));
    }
    if (!netns_) return listener_->RespondError(id, EPERM);
    auto inside = netns_->Socket(AF_UNIX, request->shape.type | SOCK_NONBLOCK, 0);
    if (!inside.Ok()) return listener_->RespondError(id, inside.Err().errnum);
    if (::connect(inside->Get(), reinterpret_cast<sockaddr*>(&request->address),
                  request->address_len) != 0) {
      return listener_->RespondError(id, errno);
    }
    return Install(*request, inside.Value(), 0);
  }
  if (!request->destination.unix_path || request->destination.unix_path->empty()) {
    return listener_->RespondError(id, EINVAL);
  }
  // The path is resolved once, in the sandbox's view (its root and the calling thread's cwd),
  // to the socket inode it names; the rule is matched against that canonical path and sandgate
  // connects to that very inode. A symlink or a swapped path cannot redirect it afterwards.
  auto view = OpenProcessFsView(request->notification.tid);
  if (!view.Ok()) return listener_->RespondError(id, ESRCH);
  // The tid could have died and been reused between the read and the open: only a still-valid
  // notification proves the view belongs to the caller.
  if (!StillHeld(id)) return;
  auto resolved = ResolveInSandbox(view->root.Get(), view->cwd.Get(), view->cwd_path,
                                   *request->destination.unix_path);
  if (!resolved.Ok()) return listener_->RespondError(id, resolved.Err().errnum);
  request->destination.unix_path = resolved->path;
  request->unix_target = std::move(resolved->handle);
  Mediate(std::move(request));
}

void Mediator::AllowUnixConnect(std::unique_ptr<Request> request) noexcept {
  const auto id = request->notification.id;
  base::UniqueFd connected;
  if (request->unix_target) {
    auto made = ConnectUnixAt(request->unix_target, request->shape.type);
    if (!made.Ok()) return listener_->RespondError(id, made.Err().errnum);
    connected = std::move(made.Value());
  } else {
    // An abstract socket a rule allows: the host's, so made in sandgate's own namespace.
    connected.Reset(::socket(AF_UNIX, request->shape.type | SOCK_NONBLOCK | SOCK_CLOEXEC, 0));
    if (!connected) return listener_->RespondError(id, errno);
    if (::connect(connected.Get(), reinterpret_cast<sockaddr*>(&request->address),
                  request->address_len) != 0) {
      return listener_->RespondError(id, errno);
    }
  }
  Install(*request, connected, 0);
}

bool Mediator::RespondSent(const Request& request, ssize_t sent) noexcept {
  const auto id = request.notification.id;
  if (request.batch_address == 0) return listener_->Deliver(id, sent, 0);
  // sendmmsg: one message went out; its msg_len says how much, as the kernel would have written.
  unsigned int length = static_cast<unsigned int>(sent);
  iovec local{&length, sizeof length};
  iovec remote{reinterpret_cast<void*>(request.batch_address + offsetof(mmsghdr, msg_len)),
               sizeof length};
  if (::process_vm_writev(request.pid, &local, 1, &remote, 1, 0) != sizeof length) {
    return listener_->Deliver(id, -1, EFAULT);
  }
  return listener_->Deliver(id, 1, 0);
}

void Mediator::Answer(const Request& request, std::int64_t result, int socket) noexcept {
  const auto id = request.notification.id;
  const bool delivered = result < 0 ? listener_->Deliver(id, -1, static_cast<int>(-result))
                         : request.notification.syscall == SYS_connect
                             ? listener_->Deliver(id, result, 0)
                             : RespondSent(request, static_cast<ssize_t>(result));
  if (delivered) return;
  // Interrupted after it was carried out: the socket is at the command's fd and any data is
  // sent; only the answer was lost. Its restart gets this answer and nothing is done again.
  auto cookie = SocketCookie(socket);
  if (!cookie) return;
  AnsweredAttempt attempt;
  attempt.signature = SignatureOf(request);
  attempt.recorded = true;
  attempt.result = result;
  attempt.installed = *cookie;
  answered_.Remember(request.notification.tid, std::move(attempt));
  EnsureSweep();
}

Mediator::Placed Mediator::Place(const Request& request, const base::UniqueFd& socket) noexcept {
  // sandgate makes every socket non-blocking for its own loop; the command gets the mode it had.
  if (!request.shape.nonblocking) {
    ::fcntl(socket.Get(), F_SETFL, ::fcntl(socket.Get(), F_GETFL) & ~O_NONBLOCK);
  }
  const auto id = request.notification.id;
  bool cloexec = TargetFdCloexec(request.pid, request.fd);
  if (auto installed = listener_->InstallFd(id, socket.Get(), request.fd, cloexec); !installed) {
    // ENOENT: the caller was interrupted or is gone (then nobody reads this answer).
    spdlog::debug("{}", installed.Err().Message());
    const bool interrupted = installed.Err().errnum == ENOENT;
    listener_->RespondError(id, interrupted ? EINTR : EPERM);
    return interrupted ? Placed::kInterrupted : Placed::kFailed;
  }
  RememberHostSocket(socket.Get());
  return Placed::kYes;
}

void Mediator::Install(const Request& request, const base::UniqueFd& socket, int error) noexcept {
  const auto id = request.notification.id;
  std::int64_t result = 0;
  if (request.fast_open && error == 0) {
    // The data a Fast Open carried goes out first, before the command can write more.
    ssize_t sent = ::send(socket.Get(), request.payload.data(), request.payload.size(),
                          MSG_DONTWAIT | MSG_NOSIGNAL);
    if (sent < 0 && errno != EAGAIN) return listener_->RespondError(id, errno);
    result = std::max<ssize_t>(sent, 0);
  }
  switch (Place(request, socket)) {
    case Placed::kInterrupted: {
      // Interrupted while it was carried out: the connection (and a Fast Open's data) is made
      // and stays made; the restarted syscall gets it rather than a second one.
      base::UniqueFd copy(::fcntl(socket.Get(), F_DUPFD_CLOEXEC, 0));
      if (copy && request.decided) {
        KeepForRestart(request, std::move(copy), error != 0 ? -error : result);
      }
      return;
    }
    case Placed::kFailed:
      return;
    case Placed::kYes:
      break;
  }
  Answer(request, error != 0 ? -error : result, socket.Get());
}

void Mediator::CheckName(const NameQuestion& question,
                         std::function<void(NameVerdict)> done) noexcept {
  // One memory for both transports: a name is a name, whichever way it is asked.
  approvals::Destination asked;
  asked.host = question.name;
  asked.port = 53;
  asked.protocol = approvals::Protocol::kUdp;
  auto refuse = [&](DecisionSource source, std::optional<std::string> rule) {
    Request record;
    record.received = Clock::now();
    record.destination = asked;
    Record(record, Decision::kDeny, source, rule);
    done(NameVerdict::kRefuse);
  };
  auto name = engine_.DecideName(question.name);
  if (name.refuse) return refuse(DecisionSource::kPolicy, name.rule);
  if (!options_.dns_strict) return done(NameVerdict::kResolve);
  auto decision = engine_.Decide(asked);
  const auto source = decision.source == approvals::RuleOrigin::kSession ? DecisionSource::kSession
                                                                         : DecisionSource::kPolicy;
  if (decision.verdict == approvals::Verdict::kDeny) return refuse(source, decision.rule);
  if (decision.verdict != approvals::Verdict::kAsk || name.covered) {
    return done(NameVerdict::kResolve);
  }
  auto request = std::make_unique<Request>();
  request->id = next_request_++;
  request->kind = Kind::kName;
  request->received = Clock::now();
  request->destination = asked;
  request->on_name_decided = [done = std::move(done)](bool resolve) {
    done(resolve ? NameVerdict::kResolve : NameVerdict::kRefuse);
  };
  Mediate(std::move(request));
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
        // Nothing was sent yet: the restart sends it, under the decision already recorded.
        return KeepForRestart(*request, base::UniqueFd(), 0);
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

bool Mediator::LocalListener(Transport transport, const approvals::Address& address,
                             std::uint16_t port) noexcept {
  // Without it (Attach failed) loopback connects are mediated like any other.
  return netns_ && netns_->HasLocalListener(transport, address, port);
}

bool Mediator::SandboxLocal(const approvals::Address& address) const noexcept {
  if (address.IsLoopback() || address.IsUnspecified()) return true;
  return dns_ && std::find(options_.dns_listen.begin(), options_.dns_listen.end(), address) !=
                     options_.dns_listen.end();
}

bool Mediator::IsHostSocket(int fd) const noexcept { return host_sockets_.Contains(fd); }

void Mediator::RememberHostSocket(int fd) noexcept { host_sockets_.Remember(fd); }

}  // namespace sandgate::supervisor
