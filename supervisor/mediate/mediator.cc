// The decision flow every attempt shares: notifications in, policy, prompts, one record, and
// the hand-off to the file that carries out its kind of attempt.
#include "supervisor/mediate/mediator.h"

#include <fcntl.h>
#include <netinet/in.h>
#include <spdlog/spdlog.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <cerrno>
#include <algorithm>
#include <cstring>
#include <vector>

#include "approvals/denial_line.h"
#include "approvals/protocol.h"
#include "supervisor/mediate/answered_attempts.h"
#include "supervisor/net/sandbox_netns.h"
#include "supervisor/child/target_process.h"
#include "supervisor/mediate/request.h"

namespace sandgate::supervisor {
namespace {

using approvals::Decision;
using approvals::DecisionSource;
using Clock = std::chrono::steady_clock;

}  // namespace

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
      loop_, std::move(listener), [this](const Notification& n) { OnNotification(n); },
      NotifyWakeUps{options_.sync_wake_up, options_.same_cpu});
  if (auto started = listener_->Start(); !started) return started;
  if (!options_.own_network_namespace) {
    // Sharing the host's network, the command has nothing local to reach: every connect and
    // send with a destination is decided, none continues in the kernel. DNS goes to a forwarder
    // on the host's loopback (dns_redirect.cc).
    if (!options_.dns_upstream) return base::Ok{};
    dns_ = std::make_unique<DnsForwarder>(
        loop_, *options_.dns_upstream, names_,
        [this](const NameQuestion& question, std::function<void(NameVerdict)> done) {
          CheckName(question, std::move(done));
        });
    if (auto started = dns_->StartOnHostLoopback(); !started) {
      spdlog::warn("DNS forwarder not started: {}", started.Err().Message());
      dns_->Close();
      dns_.reset();
    }
    return base::Ok{};
  }
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
      tgid = KnownThreadGroupOf(n.tid);
      if (!tgid) tgid = NewLeader(n.tid);
      if (!tgid) tgid = ThreadGroupOf(n.tid);
    }
    if (!tgid) return listener_->RespondError(n.id, ESRCH);  // the thread is gone already
    switch (n.syscall) {
      case SYS_connect:
        return HandleConnect(n, *tgid);
      case SYS_sendto:
      case SYS_sendmsg:
      case SYS_sendmmsg:
        return HandleSend(n, *tgid);
      case SYS_recvfrom:
        return HandleReceive(n, *tgid);
      default:
        spdlog::error("unexpected notification for syscall {}", n.syscall);
        return listener_->RespondError(n.id, ENOSYS);
    }
  } catch (const std::exception& e) {
    spdlog::error("notification {}: {}", n.id, e.what());
    listener_->RespondError(n.id, EPERM);  // fail closed
  }
}

std::optional<pid_t> Mediator::KnownThreadGroupOf(pid_t tid) const noexcept {
  // Threads mostly belong to a process that asked before (a Go or Java runtime's many threads):
  // try the few known ones. Thread ids are unique, so a match is the thread group.
  constexpr std::size_t kTried = 8;
  if (processes_.size() > kTried) return std::nullopt;
  for (const auto& [tgid, process] : processes_) {
    if (IsThreadOf(tgid, process->pidfd.Get(), tid)) return tgid;
  }
  return std::nullopt;
}

int Mediator::ProcDirOf(pid_t tgid) const noexcept {
  auto it = processes_.find(tgid);
  return it == processes_.end() ? -1 : it->second->proc_dir.Get();
}

std::optional<pid_t> Mediator::NewLeader(pid_t tid) noexcept {
  // A known process of that id that has exited but is not yet noticed as such: left to the
  // slow path, as before.
  if (processes_.count(tid) != 0) return std::nullopt;
  // pidfd_open without PIDFD_THREAD refuses (EINVAL) a thread that does not lead its group. The
  // pidfd it gives is the one ProcessFor would open next. A thread that died and whose id was
  // taken meanwhile is caught as everywhere else: ID_VALID after the reads fails.
  base::UniqueFd pidfd(static_cast<int>(::syscall(SYS_pidfd_open, tid, 0)));
  if (!pidfd || Adopt(tid, std::move(pidfd)) == nullptr) return std::nullopt;
  return tid;
}

Mediator::Process* Mediator::ProcessFor(pid_t tgid) noexcept {
  auto it = processes_.find(tgid);
  if (it != processes_.end()) return it->second.get();
  base::UniqueFd pidfd(static_cast<int>(::syscall(SYS_pidfd_open, tgid, 0)));
  if (!pidfd) return nullptr;
  return Adopt(tgid, std::move(pidfd));
}

Mediator::Process* Mediator::Adopt(pid_t tgid, base::UniqueFd pidfd) noexcept {
  auto process = std::make_unique<Process>();
  process->pidfd = std::move(pidfd);
  process->proc_dir = OpenProcDir(tgid, process->pidfd.Get());
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
      auto context = ReadProcessContext(request->pid, ProcDirOf(request->pid));
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
          if (a.persist && options_.persist_rule) {
            options_.persist_rule(a.rule, a.action);
          } else if (a.persist) {
            spdlog::warn("rule {} kept for this session only: no policy file to save it to "
                         "(--policy or --policy-save)",
                         a.rule.text);
          }
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
  std::optional<std::string> refused_route;
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
      refused_route = (rule ? "route rule " + *rule : std::string("route")) +
                      " cannot be carried out: " + why;
    }
  }
  Record(*request, decision, source, rule, proxy);
  request->decided = Request::Decided{decision, source, std::move(rule), std::move(proxy),
                                      std::move(refused_route)};
  CarryOut(std::move(request));
}

void Mediator::CarryOut(std::unique_ptr<Request> request) noexcept {
  const Decision decision = request->decided->decision;
  if (request->kind == Kind::kName) {
    if (decision != Decision::kAllow) {
      ExplainDenial(*request, request->decided->source, request->decided->rule, std::nullopt);
    }
    return request->on_name_decided(decision == Decision::kAllow);
  }
  if (decision == Decision::kDeny) {
    const auto& decided = *request->decided;
    return AnswerDenied(*request, decided.source, decided.rule, decided.why);
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

void Mediator::AnswerDenied(const Request& request, DecisionSource source,
                            const std::optional<std::string>& rule,
                            const std::optional<std::string>& why) noexcept {
  // Before the answer: the command's own message about the failure comes after the line.
  ExplainDenial(request, source, rule, why);
  listener_->RespondError(request.notification.id, EPERM);
}

void Mediator::ExplainDenial(const Request& request, DecisionSource source,
                             const std::optional<std::string>& rule,
                             const std::optional<std::string>& why) noexcept {
  if (!options_.explain_denial || explained_.size() >= kMaxExplained) return;
  try {
    approvals::DenialFacts facts;
    facts.kind = request.kind == Kind::kName                       ? approvals::AttemptKind::kNameLookup
                 : request.kind == Kind::kSendTo && !request.fast_open ? approvals::AttemptKind::kSend
                                                                     : approvals::AttemptKind::kConnect;
    if (!explained_.insert(approvals::DenialKey(request.destination, facts.kind)).second) return;
    facts.destination = request.destination;
    facts.source = source;
    facts.rule = rule;
    facts.timeout = options_.approval_timeout;
    facts.why = why;
    options_.explain_denial(approvals::DenialLine(facts));
  } catch (const std::exception& e) {
    spdlog::error("explaining a denial: {}", e.what());
  }
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
      if (request.pid > 0) entry.exe = ReadProcessExe(request.pid, ProcDirOf(request.pid));
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
