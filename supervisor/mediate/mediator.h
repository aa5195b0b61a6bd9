#pragma once

#include <sys/socket.h>
#include <sys/types.h>
#include <uv.h>

#include <chrono>
#include <functional>
#include <deque>
#include <map>
#include <unordered_map>
#include <memory>
#include <optional>
#include <set>
#include <string>
#include <utility>
#include <vector>

#include "approvals/destination.h"
#include "approvals/dns_names.h"
#include "approvals/protocol.h"
#include "approvals/proxy_url.h"
#include "approvals/resolv_conf.h"
#include "approvals/pending.h"
#include "approvals/policy.h"
#include "base/unique_fd.h"
#include "supervisor/mediate/answered_attempts.h"
#include "supervisor/control/approver.h"
#include "supervisor/control/audit_log.h"
#include "supervisor/net/dns_forwarder.h"
#include "supervisor/net/host_socket.h"
#include "supervisor/mediate/notify.h"
#include "supervisor/net/sandbox_netns.h"
#include "supervisor/loop/uv_handle.h"

namespace sandgate::supervisor {

struct MediatorOptions {
  std::chrono::seconds approval_timeout{120};  // 0: wait forever
  // --proxy: where route rules, and route decisions that name no proxy, go. Without it such a
  // route is denied.
  std::optional<approvals::ProxyUrl> proxy;
  std::chrono::milliseconds proxy_timeout{30000};
  // The DNS forwarder: its upstream (nullopt: none), and the nameserver addresses the sandbox's
  // resolv.conf names, where it listens inside the sandbox.
  std::optional<approvals::DnsServer> dns_upstream;
  std::vector<approvals::Address> dns_listen;
  // Ask before resolving a name no rule mentions (DNS queries can carry data out).
  bool dns_strict = false;
  // false: the command shares the host's network namespace (the legacy pipeline without user
  // namespaces). Then nothing it reaches is sandbox-local: loopback is the host's, abstract unix
  // names are the host's, and no forwarder listens inside.
  bool own_network_namespace = true;
  // Answers as synchronous wake-ups where the kernel can (notify.h); false for measuring the
  // difference (SANDGATE_SECCOMP_SYNC_WAKE_UP=off).
  bool sync_wake_up = true;
  // The run's DirectWait, to keep each notification's round trip on one CPU (NotifyWakeUps);
  // null: off (SANDGATE_SAME_CPU_ROUND_TRIP=off, for measuring the difference).
  DirectWait* same_cpu = nullptr;
  // --explain-denials: called with the line of each denied destination, once per destination
  // (approvals/denial_line.h), before the command's syscall fails; empty: off.
  std::function<void(const std::string& line)> explain_denial;
  // Saves an applyNetworkPolicyAmendment with "persist": true for later runs; empty: there is
  // nowhere to save it, and the rule lasts for the session only.
  std::function<void(const approvals::Rule& rule, approvals::AmendmentAction action)> persist_rule;
};

// Network mode approve: every connect (and send with a destination) the sandbox attempts comes
// here as a seccomp notification and leaves with exactly one answer, one decision and one audit
// record. Decides by policy, asks the approver where policy says "ask", and carries out the
// decision without letting the kernel re-read what was checked: an allowed connection is made
// by sandgate in the host's network namespace and the finished socket installed in place of the
// command's.
//
// Loop thread only. Requests whose process exits are cancelled; requests unanswered past the
// timeout are declined.
class Mediator {
 public:
  using TerminateSandbox = std::function<void()>;

  Mediator(uv_loop_t* loop, approvals::Engine& engine, Approver& approver, AuditLog* audit,
           MediatorOptions options, TerminateSandbox terminate);
  ~Mediator();
  Mediator(const Mediator&) = delete;
  Mediator& operator=(const Mediator&) = delete;

  // `sandbox_pid`: a process inside the sandbox (its network namespace is the sandbox's). Call
  // before the command starts: the DNS forwarder must be listening before its first query.
  base::Status Attach(base::UniqueFd listener, pid_t sandbox_pid);
  // Declines everything pending (source `cancelled`), e.g. when the controller hangs up.
  void CancelAll() noexcept;
  void Close() noexcept;

 private:
  // kName: a DNS query in strict mode, asked about before it is resolved.
  enum class Kind { kConnect, kSendTo, kName };
  struct Process;
  struct Request;
  struct ExitWatch;
  using RequestId = std::uint64_t;

  void OnNotification(const Notification& n) noexcept;
  void Handle(const Notification& n) noexcept;
  // ID_VALID after reading the command's memory: only then is what was read the waiting
  // syscall's. A notification found dead here is noted for OnNotification.
  bool StillHeld(std::uint64_t id) noexcept;
  // The part every request shares: our copy of the command's socket and its shape. Answers the
  // notification itself and returns null when there is no socket to look at, or when this is
  // the restart of an attempt already carried out (AnsweredAttempts).
  std::unique_ptr<Request> BeginRequest(const Notification& n, pid_t tgid, Kind kind) noexcept;
  void HandleConnect(const Notification& n, pid_t tgid) noexcept;
  void HandleSend(const Notification& n, pid_t tgid) noexcept;
  void HandleUnixConnect(std::unique_ptr<Request> request) noexcept;
  // On the host's network: a query to a resolv.conf nameserver goes to the forwarder on the
  // host's loopback instead (dns_redirect.cc), and its answers show the nameserver as sender.
  bool RedirectsToForwarder(const Request& request) const noexcept;
  void RedirectToForwarder(std::unique_ptr<Request> request) noexcept;
  std::optional<std::pair<sockaddr_storage, socklen_t>> ForwarderAddressFor(int domain) const noexcept;
  void RememberRedirect(int socket, const sockaddr_storage& nameserver) noexcept;
  void HandleReceive(const Notification& n, pid_t tgid) noexcept;
  void CheckName(const NameQuestion& question, std::function<void(NameVerdict)> done) noexcept;

  Process* ProcessFor(pid_t tgid) noexcept;
  // Starts tracking process `tgid` with its pidfd (replacing nothing: `tgid` is not known yet).
  Process* Adopt(pid_t tgid, base::UniqueFd pidfd) noexcept;
  // `tid` when it leads its thread group, a process not known yet, which is then tracked.
  std::optional<pid_t> NewLeader(pid_t tid) noexcept;
  // The known process's /proc directory, or -1 (unknown, or not opened): for target_process.h.
  [[nodiscard]] int ProcDirOf(pid_t tgid) const noexcept;
  // The process among those known that thread `tid` belongs to, without reading its status.
  [[nodiscard]] std::optional<pid_t> KnownThreadGroupOf(pid_t tid) const noexcept;
  void OnProcessExited(pid_t tgid) noexcept;

  // The table of requests waiting for a prompt's answer, indexed by thread as well.
  void AddWaiting(std::unique_ptr<Request> request) noexcept;
  std::unique_ptr<Request> TakeWaiting(RequestId id) noexcept;
  // Takes a waiting request out of its prompt; a prompt left without waiters is cancelled with
  // `reason`.
  std::unique_ptr<Request> Withdraw(RequestId id, approvals::CancelReason reason) noexcept;
  // A request whose syscall the kernel no longer holds: gone without a trace of its own.
  void DropInterrupted(RequestId id) noexcept;
  void EnsureSweep() noexcept;
  void Sweep() noexcept;

  // Policy first; "ask" goes to the approver (one prompt for identical pending requests).
  void Mediate(std::unique_ptr<Request> request) noexcept;
  void OnAnswer(const std::string& approval_id, const approvals::Answer& answer,
                approvals::DecisionSource source) noexcept;
  void ResolvePrompt(const std::string& approval_id, approvals::Decision decision,
                     approvals::DecisionSource source, std::optional<std::string> rule,
                     std::optional<approvals::ProxyUrl> proxy = std::nullopt) noexcept;
  void Carry(std::unique_ptr<Request> request, approvals::Decision decision,
             approvals::DecisionSource source, std::optional<std::string> rule,
             std::optional<approvals::ProxyUrl> proxy = std::nullopt) noexcept;
  // Carries out what `request->decided` says (recorded already).
  void CarryOut(std::unique_ptr<Request> request) noexcept;
  // The syscall was interrupted while its decision was being carried out: what was done is kept
  // for its restart (AnsweredAttempts).
  void KeepForRestart(const Request& request, base::UniqueFd carried, std::int64_t result) noexcept;
  void Resume(std::unique_ptr<Request> request, AnsweredAttempt answered) noexcept;
  static AttemptSignature SignatureOf(const Request& request);
  // Fails a denied attempt with EPERM, after its line on the command's stderr (once per
  // destination, when --explain-denials is on). `why` replaces the decision's reason when the
  // denial is sandgate's own limit.
  void AnswerDenied(const Request& request, approvals::DecisionSource source,
                    const std::optional<std::string>& rule,
                    const std::optional<std::string>& why = std::nullopt) noexcept;
  // The line alone (also for DNS names the forwarder refuses, which have no syscall to fail).
  void ExplainDenial(const Request& request, approvals::DecisionSource source,
                     const std::optional<std::string>& rule,
                     const std::optional<std::string>& why) noexcept;
  void Record(const Request& request, approvals::Decision decision,
              approvals::DecisionSource source, const std::optional<std::string>& rule,
              const std::optional<approvals::ProxyUrl>& proxy = std::nullopt) noexcept;

  void AllowConnect(std::unique_ptr<Request> request) noexcept;
  void RouteConnect(std::unique_ptr<Request> request, const approvals::ProxyUrl& proxy) noexcept;
  void AllowUnixConnect(std::unique_ptr<Request> request) noexcept;
  // Answers a send carried out on the command's behalf: bytes sent, or for sendmmsg one message.
  bool RespondSent(const Request& request, ssize_t sent) noexcept;
  // Answers a syscall carried out to the end (`result`: a value, or -errno). If the answer does
  // not reach it (interrupted), the restart on `socket` gets the same answer (AnsweredAttempts).
  void Answer(const Request& request, std::int64_t result, int socket) noexcept;
  // Puts `socket` at the command's fd, in the blocking mode the command's socket had, and
  // remembers it as sandgate's. When that failed the notification is answered already.
  enum class Placed { kYes, kInterrupted, kFailed };
  Placed Place(const Request& request, const base::UniqueFd& socket) noexcept;
  // Places `socket` and answers: 0, -`error`, or for a Fast Open the bytes sent.
  void Install(const Request& request, const base::UniqueFd& socket, int error) noexcept;
  void AllowSend(std::unique_ptr<Request> request) noexcept;
  // A destination-less sendmsg/sendmmsg on a unix datagram socket, sent by sandgate with the
  // data and the fds it read (unix_datagram.cc).
  void SendUnixDatagram(std::unique_ptr<Request> request, std::vector<std::uint8_t> data,
                        std::uint64_t control_ptr, std::uint64_t control_len) noexcept;
  bool IsHostSocket(int fd) const noexcept;
  bool LocalListener(Transport transport, const approvals::Address& address,
                     std::uint16_t port) noexcept;
  // Would this address stay inside the sandbox (its loopback, or an address sandgate made
  // local there for the DNS forwarder)?
  bool SandboxLocal(const approvals::Address& address) const noexcept;
  // Does a send without a destination go out through sandgate rather than the kernel? For its
  // own host sockets, and for the command's inet sockets when they are on the host's network.
  bool SendsItself(const Request& request, bool inet) const noexcept;
  void RememberHostSocket(int fd) noexcept;

  uv_loop_t* loop_;
  approvals::Engine& engine_;
  Approver& approver_;
  AuditLog* audit_;
  MediatorOptions options_;
  TerminateSandbox terminate_;
  std::unique_ptr<NotifyListener> listener_;
  std::optional<SandboxNetns> netns_;
  approvals::dns::NameMap names_;
  std::unique_ptr<DnsForwarder> dns_;
  std::map<pid_t, std::unique_ptr<Process>> processes_;
  HostSockets host_sockets_;  // what sandgate installed: never CONTINUEd as a sandbox socket
  // Sockets redirected to the forwarder (by SO_COOKIE) and the nameserver each one asked for;
  // bounded, oldest first out.
  std::unordered_map<std::uint64_t, sockaddr_storage> dns_redirects_;
  std::deque<std::uint64_t> redirect_order_;
  approvals::PendingTable pending_;
  std::map<RequestId, std::unique_ptr<Request>> waiting_;
  std::map<pid_t, RequestId> waiting_by_tid_;  // the latest waiting request of each thread
  AnsweredAttempts answered_;
  bool died_while_read_ = false;  // see StillHeld
  // While requests wait: drops those whose syscall was interrupted and never made again.
  UvHandle<uv_timer_t>* sweep_ = nullptr;
  static constexpr std::chrono::milliseconds kSweepInterval{250};
  // At most this many requests wait at once (each holds an fd): see Mediator().
  std::size_t max_waiting_ = 4096;
  std::chrono::steady_clock::time_point last_overload_log_{};
  std::map<std::string, UvHandle<uv_timer_t>*> timers_;
  RequestId next_request_ = 1;
  // Destinations whose denial was explained already (approvals::DenialKey); bounded.
  std::set<std::string> explained_;
  static constexpr std::size_t kMaxExplained = 4096;
  // Expires with the mediator: completions of connects and tunnels still under way when the
  // loop shuts down find it gone and do nothing.
  std::shared_ptr<int> alive_ = std::make_shared<int>(0);
};

}  // namespace sandgate::supervisor
