#pragma once

#include <uv.h>

#include <chrono>
#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <random>
#include <string>
#include <vector>

#include "approvals/address.h"
#include "approvals/dns_names.h"
#include "approvals/resolv_conf.h"
#include "base/result.h"
#include "supervisor/net/sandbox_netns.h"
#include "supervisor/loop/uv_handle.h"

namespace sandgate::supervisor {

// Whether a name may be resolved. Decided by the caller, possibly later (strict mode asks).
enum class NameVerdict { kResolve, kRefuse };
struct NameQuestion {
  std::string name;  // lowercase, no trailing dot
  Transport transport = Transport::kUdp;
};
using NameCheck =
    std::function<void(const NameQuestion& question, std::function<void(NameVerdict)> done)>;

// sandgate's DNS forwarder for one sandbox. It listens (UDP and TCP, port 53) inside the
// sandbox's network namespace on the addresses the sandbox's resolv.conf names, so the
// sandbox's resolver finds it where it already looks (or, for a sandbox on the host's network,
// on the host's loopback, where the mediator redirects it); asks `upstream` from the host's
// namespace; answers REFUSED where `check` says so; and records in `names` which addresses each
// answered name resolved to, so that later connects carry the host name.
//
// Every message is attacker-controlled (the sandbox's queries, and whatever arrives from the
// network as an answer): parsed by approvals/dns_message, answers matched by id, source and
// question before anything is recorded. Loop thread only.
class DnsForwarder {
 public:
  DnsForwarder(uv_loop_t* loop, approvals::DnsServer upstream, approvals::dns::NameMap& names,
               NameCheck check);
  ~DnsForwarder();
  DnsForwarder(const DnsForwarder&) = delete;
  DnsForwarder& operator=(const DnsForwarder&) = delete;

  base::Status Start(const SandboxNetns& netns, const std::vector<approvals::Address>& listen);
  // For a command that shares the host's network (no namespace of its own to listen in): on the
  // host's loopback, 127.0.0.1 and ::1, on a port the kernel picks, UDP and TCP alike. The
  // mediator sends the command's queries for the resolv.conf nameservers here.
  base::Status StartOnHostLoopback();
  // StartOnHostLoopback's port (0 before), and whether ::1 has it too.
  [[nodiscard]] std::uint16_t HostPort() const { return host_port_; }
  [[nodiscard]] bool HostIpv6() const { return host_ipv6_; }
  void Close() noexcept;

  struct TcpClient;  // one TCP connection from the sandbox

 private:
  struct Pending;  // one query forwarded upstream
  struct UdpServer {
    DnsForwarder* self;
    UvHandle<uv_udp_t>* handle;
  };
  using ReplyTo = std::function<void(std::vector<std::uint8_t> answer)>;

  // Serve on a bound socket (a TCP one is listened on here if it is not already).
  base::Status ListenUdp(base::UniqueFd socket);
  base::Status ListenTcp(base::UniqueFd socket);
  void StartSweep();
  base::Status OpenUpstreamUdp();

  // One query from the sandbox, by whatever transport; `reply` sends the answer back.
  void OnQuery(std::vector<std::uint8_t> query, Transport transport, ReplyTo reply) noexcept;
  void Forward(std::vector<std::uint8_t> query, std::string name, std::uint16_t type,
               Transport transport, ReplyTo reply) noexcept;
  void ForwardTcp(std::vector<std::uint8_t> query, std::string name, std::uint16_t type,
                  ReplyTo reply) noexcept;
  void OnUpstreamUdp(const std::uint8_t* data, std::size_t size, const sockaddr* from) noexcept;
  // Checks an upstream answer against what was asked, records its addresses and returns it
  // with the sandbox's id; a SERVFAIL when it does not fit.
  std::vector<std::uint8_t> Relay(const Pending& pending, std::vector<std::uint8_t> answer) noexcept;
  void ExpireOld() noexcept;

  uv_loop_t* loop_;
  approvals::DnsServer upstream_;
  sockaddr_storage upstream_address_{};
  socklen_t upstream_length_ = 0;
  approvals::dns::NameMap& names_;
  NameCheck check_;
  std::vector<UvHandle<uv_udp_t>*> udp_servers_;
  std::vector<UvHandle<uv_tcp_t>*> tcp_servers_;
  std::vector<TcpClient*> tcp_clients_;
  UvHandle<uv_udp_t>* upstream_udp_ = nullptr;
  UvHandle<uv_timer_t>* sweep_ = nullptr;
  std::map<std::uint16_t, std::unique_ptr<Pending>> pending_;  // by the id used upstream
  std::size_t tcp_in_flight_ = 0;  // queries relayed over TCP, each with its own connection
  std::mt19937 ids_;
  // Expires on Close(): answers and verdicts arriving later are dropped.
  std::shared_ptr<int> alive_ = std::make_shared<int>(0);
  bool closed_ = false;
  std::uint16_t host_port_ = 0;
  bool host_ipv6_ = false;
};

}  // namespace sandgate::supervisor
