#include "supervisor/net/dns_forwarder.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <spdlog/spdlog.h>
#include <sys/socket.h>

#include <cstring>
#include <variant>

#include "approvals/dns_message.h"
#include "supervisor/net/host_socket.h"

namespace sandgate::supervisor {
namespace dns = approvals::dns;
namespace {

constexpr std::uint16_t kDnsPort = 53;
// An upstream that has not answered by then is not going to; the sandbox's resolver retries.
constexpr auto kUpstreamTimeout = std::chrono::seconds(5);
// Queries in flight at once; beyond that the sandbox gets SERVFAIL (a flood must not grow us).
constexpr std::size_t kMaxPending = 1024;
constexpr std::size_t kMaxTcpClients = 64;
constexpr std::size_t kMaxMessage = 65535;

using Clock = std::chrono::steady_clock;

int FamilyOf(const approvals::Address& address) {
  return address.family() == approvals::AddressFamily::kInet ? AF_INET : AF_INET6;
}

bool SameEndpoint(const sockaddr* a, const sockaddr_storage& b) {
  if (a == nullptr || a->sa_family != b.ss_family) return false;
  if (a->sa_family == AF_INET) {
    const auto* x = reinterpret_cast<const sockaddr_in*>(a);
    const auto* y = reinterpret_cast<const sockaddr_in*>(&b);
    return x->sin_port == y->sin_port && x->sin_addr.s_addr == y->sin_addr.s_addr;
  }
  const auto* x = reinterpret_cast<const sockaddr_in6*>(a);
  const auto* y = reinterpret_cast<const sockaddr_in6*>(&b);
  return x->sin6_port == y->sin6_port &&
         std::memcmp(&x->sin6_addr, &y->sin6_addr, sizeof x->sin6_addr) == 0;
}

std::vector<std::uint8_t> Framed(const std::vector<std::uint8_t>& message) {
  std::vector<std::uint8_t> framed;
  framed.reserve(message.size() + 2);
  framed.push_back(static_cast<std::uint8_t>(message.size() >> 8));
  framed.push_back(static_cast<std::uint8_t>(message.size() & 0xff));
  framed.insert(framed.end(), message.begin(), message.end());
  return framed;
}

// A uv_write whose buffer lives until the write is done.
struct WriteRequest {
  uv_write_t request{};
  std::vector<std::uint8_t> data;
};

void WriteFramed(uv_stream_t* stream, const std::vector<std::uint8_t>& message) {
  auto* write = new WriteRequest;
  write->data = Framed(message);
  uv_buf_t buf = uv_buf_init(reinterpret_cast<char*>(write->data.data()),
                             static_cast<unsigned>(write->data.size()));
  if (uv_write(&write->request, stream, &buf, 1,
               [](uv_write_t* r, int) { delete reinterpret_cast<WriteRequest*>(r); }) != 0) {
    delete write;
  }
}

// Reads 2-byte-length-framed messages off a byte stream (DNS over TCP).
class FrameReader {
 public:
  void Append(const char* data, std::size_t size) { buffer_.insert(buffer_.end(), data, data + size); }
  // The next whole message, or nullopt until more bytes arrive.
  std::optional<std::vector<std::uint8_t>> Next() {
    if (buffer_.size() < 2) return std::nullopt;
    const std::size_t length = (std::size_t{buffer_[0]} << 8) | buffer_[1];
    if (buffer_.size() < 2 + length) return std::nullopt;
    std::vector<std::uint8_t> message(buffer_.begin() + 2, buffer_.begin() + 2 + static_cast<long>(length));
    buffer_.erase(buffer_.begin(), buffer_.begin() + 2 + static_cast<long>(length));
    return message;
  }

 private:
  std::vector<std::uint8_t> buffer_;
};

void AllocBuffer(uv_handle_t*, std::size_t suggested, uv_buf_t* buf) {
  buf->base = new char[suggested];
  buf->len = suggested;
}

}  // namespace

struct DnsForwarder::Pending {
  std::vector<std::uint8_t> query;  // as the sandbox sent it
  std::uint16_t sandbox_id = 0;
  std::string name;
  std::uint16_t type = 0;
  Clock::time_point sent;
  ReplyTo reply;
};

struct DnsForwarder::TcpClient {
  DnsForwarder* self = nullptr;
  UvHandle<uv_tcp_t>* handle = nullptr;
  FrameReader reader;
  // Expires when the handle is freed: answers arriving after the sandbox hung up are dropped.
  std::shared_ptr<int> alive = std::make_shared<int>(0);
};

// One query relayed over TCP to the upstream (answers too big for UDP come this way).
struct UpstreamTcp {
  DnsForwarder* self = nullptr;
  UvHandle<uv_tcp_t>* handle = nullptr;
  UvHandle<uv_timer_t>* timer = nullptr;
  uv_connect_t connect{};
  std::vector<std::uint8_t> query;
  FrameReader reader;
  std::function<void(std::optional<std::vector<std::uint8_t>>)> done;

  void Finish(std::optional<std::vector<std::uint8_t>> answer) {
    auto callback = std::move(done);
    done = nullptr;
    if (timer != nullptr) timer->Close();
    timer = nullptr;
    handle->Close();  // frees this, later
    if (callback) callback(std::move(answer));
  }
};

DnsForwarder::DnsForwarder(uv_loop_t* loop, approvals::DnsServer upstream,
                           approvals::dns::NameMap& names, NameCheck check)
    : loop_(loop),
      upstream_(upstream),
      names_(names),
      check_(std::move(check)),
      ids_(std::random_device{}()) {
  upstream_length_ = SockaddrFor(upstream_.address, upstream_.port, FamilyOf(upstream_.address),
                                 upstream_address_);
}

DnsForwarder::~DnsForwarder() { Close(); }

base::Status DnsForwarder::Start(const SandboxNetns& netns,
                                 const std::vector<approvals::Address>& listen) {
  if (auto s = OpenUpstreamUdp(); !s) return s;
  for (const auto& address : listen) {
    if (auto s = netns.AddLocalAddress(address); !s) return s;
    sockaddr_storage sa;
    socklen_t len = SockaddrFor(address, kDnsPort, FamilyOf(address), sa);
    auto udp = netns.BoundSocket(SOCK_DGRAM | SOCK_NONBLOCK, sa, len);
    if (!udp.Ok()) {
      return base::Error{udp.Err().errnum,
                         "DNS forwarder, udp port 53 in the sandbox: " + udp.Err().context};
    }
    if (auto s = ListenUdp(std::move(udp.Value())); !s) return s;
    auto tcp = netns.BoundSocket(SOCK_STREAM | SOCK_NONBLOCK, sa, len);
    if (!tcp.Ok()) {
      return base::Error{tcp.Err().errnum,
                         "DNS forwarder, tcp port 53 in the sandbox: " + tcp.Err().context};
    }
    if (auto s = ListenTcp(std::move(tcp.Value())); !s) return s;
  }
  StartSweep();
  return base::Ok{};
}

namespace {

base::Result<base::UniqueFd> BoundOnHost(int family, int type, std::uint16_t port) {
  base::UniqueFd fd(::socket(family, type | SOCK_NONBLOCK | SOCK_CLOEXEC, 0));
  if (!fd) return base::ErrnoError("socket(DNS forwarder on the host)");
  sockaddr_storage sa{};
  socklen_t len = SockaddrFor(*approvals::Address::Parse(family == AF_INET ? "127.0.0.1" : "::1"),
                              port, family, sa);
  if (::bind(fd.Get(), reinterpret_cast<sockaddr*>(&sa), len) != 0) {
    return base::ErrnoError("bind(DNS forwarder on the host's loopback)");
  }
  return fd;
}

std::uint16_t BoundPort(int fd) {
  sockaddr_storage sa{};
  socklen_t len = sizeof sa;
  if (::getsockname(fd, reinterpret_cast<sockaddr*>(&sa), &len) != 0) return 0;
  auto endpoint = InetEndpoint(sa, len);
  return endpoint ? endpoint->second : 0;
}

}  // namespace

base::Status DnsForwarder::StartOnHostLoopback() {
  if (auto s = OpenUpstreamUdp(); !s) return s;
  // One port for UDP and TCP on 127.0.0.1 (and ::1 where the host has it): the port the kernel
  // picks for UDP may be taken for TCP, so a few tries.
  base::Status last = base::Error{EADDRINUSE, "DNS forwarder: no free port on the host's loopback"};
  for (int attempt = 0; attempt < 16; ++attempt) {
    auto udp = BoundOnHost(AF_INET, SOCK_DGRAM, 0);
    if (!udp.Ok()) return udp.Err();
    const std::uint16_t port = BoundPort(udp->Get());
    auto tcp = BoundOnHost(AF_INET, SOCK_STREAM, port);
    if (!tcp.Ok()) {
      last = tcp.Err();
      continue;
    }
    if (auto s = ListenUdp(std::move(udp.Value())); !s) return s;
    if (auto s = ListenTcp(std::move(tcp.Value())); !s) return s;
    host_port_ = port;
    // IPv6 resolvers are redirected to ::1 on the same port, when it is free there too.
    auto udp6 = BoundOnHost(AF_INET6, SOCK_DGRAM, port);
    auto tcp6 = BoundOnHost(AF_INET6, SOCK_STREAM, port);
    if (udp6.Ok() && tcp6.Ok() && ListenUdp(std::move(udp6.Value())).Ok() &&
        ListenTcp(std::move(tcp6.Value())).Ok()) {
      host_ipv6_ = true;
    }
    StartSweep();
    return base::Ok{};
  }
  return last;
}

void DnsForwarder::StartSweep() {
  sweep_ = UvHandle<uv_timer_t>::Create();
  uv_timer_init(loop_, sweep_->Get());
  sweep_->Bind(this);
  uv_timer_start(
      sweep_->Get(),
      [](uv_timer_t* t) {
        static_cast<DnsForwarder*>(UvHandle<uv_timer_t>::From(t)->Owner())->ExpireOld();
      },
      1000, 1000);
  uv_unref(sweep_->Base());  // housekeeping must not keep the loop alive
}

void DnsForwarder::Close() noexcept {
  if (closed_) return;
  closed_ = true;
  for (auto* h : udp_servers_) h->Close();
  for (auto* h : tcp_servers_) h->Close();
  for (auto* c : tcp_clients_) c->handle->Close();
  udp_servers_.clear();
  tcp_servers_.clear();
  tcp_clients_.clear();
  if (upstream_udp_ != nullptr) upstream_udp_->Close();
  if (sweep_ != nullptr) sweep_->Close();
  upstream_udp_ = nullptr;
  sweep_ = nullptr;
  pending_.clear();
  alive_.reset();
}

base::Status DnsForwarder::OpenUpstreamUdp() {
  upstream_udp_ = UvHandle<uv_udp_t>::Create();
  if (int rc = uv_udp_init(loop_, upstream_udp_->Get()); rc != 0) {
    return base::Error{-rc, "uv_udp_init(upstream)"};
  }
  upstream_udp_->Bind(this);
  sockaddr_storage any{};
  any.ss_family = upstream_address_.ss_family;
  if (int rc = uv_udp_bind(upstream_udp_->Get(), reinterpret_cast<sockaddr*>(&any), 0); rc != 0) {
    return base::Error{-rc, "bind(DNS upstream socket)"};
  }
  uv_udp_recv_start(
      upstream_udp_->Get(), AllocBuffer,
      [](uv_udp_t* h, ssize_t n, const uv_buf_t* buf, const sockaddr* from, unsigned) {
        auto* self = static_cast<DnsForwarder*>(UvHandle<uv_udp_t>::From(h)->Owner());
        if (n > 0) {
          self->OnUpstreamUdp(reinterpret_cast<const std::uint8_t*>(buf->base),
                              static_cast<std::size_t>(n), from);
        }
        delete[] buf->base;
      });
  return base::Ok{};
}

base::Status DnsForwarder::ListenUdp(base::UniqueFd socket) {
  auto* handle = UvHandle<uv_udp_t>::Create();
  uv_udp_init(loop_, handle->Get());
  handle->Bind(this);
  udp_servers_.push_back(handle);
  if (int rc = uv_udp_open(handle->Get(), socket.Get()); rc != 0) {
    return base::Error{-rc, "uv_udp_open(DNS forwarder)"};
  }
  static_cast<void>(socket.Release());  // libuv closes it with the handle
  uv_udp_recv_start(
      handle->Get(), AllocBuffer,
      [](uv_udp_t* h, ssize_t n, const uv_buf_t* buf, const sockaddr* from, unsigned) {
        auto* self = static_cast<DnsForwarder*>(UvHandle<uv_udp_t>::From(h)->Owner());
        if (n > 0 && from != nullptr) {
          std::vector<std::uint8_t> query(buf->base, buf->base + n);
          sockaddr_storage client{};
          std::memcpy(&client, from,
                      from->sa_family == AF_INET6 ? sizeof(sockaddr_in6) : sizeof(sockaddr_in));
          self->OnQuery(std::move(query), Transport::kUdp,
                        [self, h, client](std::vector<std::uint8_t> answer) {
                          if (self->closed_ || answer.empty()) return;
                          uv_buf_t out = uv_buf_init(reinterpret_cast<char*>(answer.data()),
                                                     static_cast<unsigned>(answer.size()));
                          // Best effort, like any DNS server: a full socket drops the answer
                          // and the resolver asks again.
                          uv_udp_try_send(h, &out, 1, reinterpret_cast<const sockaddr*>(&client));
                        });
        }
        delete[] buf->base;
      });
  return base::Ok{};
}

base::Status DnsForwarder::ListenTcp(base::UniqueFd socket) {
  auto* handle = UvHandle<uv_tcp_t>::Create();
  uv_tcp_init(loop_, handle->Get());
  handle->Bind(this);
  tcp_servers_.push_back(handle);
  if (int rc = uv_tcp_open(handle->Get(), socket.Get()); rc != 0) {
    return base::Error{-rc, "uv_tcp_open(DNS forwarder)"};
  }
  static_cast<void>(socket.Release());  // libuv closes it with the handle
  int rc = uv_listen(reinterpret_cast<uv_stream_t*>(handle->Get()), 64, [](uv_stream_t* server, int status) {
    auto* forwarder = static_cast<DnsForwarder*>(
        UvHandle<uv_tcp_t>::From(reinterpret_cast<uv_tcp_t*>(server))->Owner());
    if (status < 0 || forwarder->closed_) return;
    auto* connection = UvHandle<uv_tcp_t>::Create();
    uv_tcp_init(forwarder->loop_, connection->Get());
    auto* accepted = new TcpClient{forwarder, connection, {}, std::make_shared<int>(0)};
    connection->BindOwned(accepted);
    if (uv_accept(server, reinterpret_cast<uv_stream_t*>(connection->Get())) != 0 ||
        forwarder->tcp_clients_.size() >= kMaxTcpClients) {
      connection->Close();
      return;
    }
    forwarder->tcp_clients_.push_back(accepted);
    uv_read_start(
        reinterpret_cast<uv_stream_t*>(connection->Get()), AllocBuffer,
        [](uv_stream_t* stream, ssize_t n, const uv_buf_t* buf) {
          auto* tcp = reinterpret_cast<uv_tcp_t*>(stream);
          auto* client = static_cast<TcpClient*>(UvHandle<uv_tcp_t>::From(tcp)->Owner());
          DnsForwarder* self = client->self;
          if (n < 0) {
            std::erase(self->tcp_clients_, client);
            client->handle->Close();
          } else if (n > 0) {
            client->reader.Append(buf->base, static_cast<std::size_t>(n));
            while (auto query = client->reader.Next()) {
              std::weak_ptr<int> alive = client->alive;
              self->OnQuery(std::move(*query), Transport::kTcp,
                            [alive, stream](std::vector<std::uint8_t> answer) {
                              if (alive.expired() || answer.empty() ||
                                  uv_is_closing(reinterpret_cast<uv_handle_t*>(stream))) {
                                return;
                              }
                              WriteFramed(stream, answer);
                            });
            }
          }
          delete[] buf->base;
        });
  });
  if (rc != 0) return base::Error{-rc, "listen(DNS forwarder)"};
  return base::Ok{};
}

void DnsForwarder::OnQuery(std::vector<std::uint8_t> query, Transport transport,
                           ReplyTo reply) noexcept {
  try {
    auto parsed = dns::ParseQuery(query);
    if (auto* error = std::get_if<dns::ParseError>(&parsed)) {
      spdlog::debug("DNS query from the sandbox refused: {}", error->message);
      return reply(dns::MakeErrorResponse(query, dns::Rcode::kFormErr));
    }
    const auto& question = std::get<dns::Query>(parsed).question;
    NameQuestion asked{question.name, transport};
    const std::uint16_t type = question.type;
    std::weak_ptr<int> alive = alive_;
    check_(asked, [this, alive, query = std::move(query), name = question.name, type, transport,
                   reply = std::move(reply)](NameVerdict verdict) mutable {
      if (alive.expired() || closed_) return;
      if (verdict == NameVerdict::kRefuse) {
        return reply(dns::MakeErrorResponse(query, dns::Rcode::kRefused));
      }
      if (transport == Transport::kTcp) {
        return ForwardTcp(std::move(query), std::move(name), type, std::move(reply));
      }
      Forward(std::move(query), std::move(name), type, transport, std::move(reply));
    });
  } catch (const std::exception& e) {
    spdlog::error("DNS forwarder: {}", e.what());
  }
}

void DnsForwarder::Forward(std::vector<std::uint8_t> query, std::string name, std::uint16_t type,
                           Transport, ReplyTo reply) noexcept {
  if (pending_.size() >= kMaxPending || upstream_udp_ == nullptr) {
    return reply(dns::MakeErrorResponse(query, dns::Rcode::kServFail));
  }
  auto pending = std::make_unique<Pending>();
  pending->query = query;
  pending->sandbox_id = dns::GetId(query).value_or(0);
  pending->name = std::move(name);
  pending->type = type;
  pending->sent = Clock::now();
  pending->reply = std::move(reply);
  // A fresh random id towards upstream: ids chosen by the sandbox could collide, and predictable
  // ids would let anyone on the path forge answers (and so forge name attributions).
  std::uint16_t id = 0;
  do {
    id = static_cast<std::uint16_t>(ids_());
  } while (pending_.count(id) != 0);
  dns::SetId(query, id);
  uv_buf_t out = uv_buf_init(reinterpret_cast<char*>(query.data()), static_cast<unsigned>(query.size()));
  int rc = uv_udp_try_send(upstream_udp_->Get(), &out, 1,
                           reinterpret_cast<const sockaddr*>(&upstream_address_));
  if (rc < 0) {
    spdlog::warn("DNS upstream {}: {}", upstream_.address.ToString(), uv_strerror(rc));
    return pending->reply(dns::MakeErrorResponse(pending->query, dns::Rcode::kServFail));
  }
  pending_.emplace(id, std::move(pending));
}

void DnsForwarder::OnUpstreamUdp(const std::uint8_t* data, std::size_t size,
                                 const sockaddr* from) noexcept {
  if (!SameEndpoint(from, upstream_address_)) return;  // not our upstream: ignore
  std::vector<std::uint8_t> answer(data, data + size);
  auto id = dns::GetId(answer);
  if (!id) return;
  auto node = pending_.extract(*id);
  if (node.empty()) return;
  const Pending& pending = *node.mapped();
  pending.reply(Relay(pending, std::move(answer)));
}

std::vector<std::uint8_t> DnsForwarder::Relay(const Pending& pending,
                                              std::vector<std::uint8_t> answer) noexcept {
  auto parsed = dns::ParseResponse(answer);
  const auto* response = std::get_if<dns::Response>(&parsed);
  if (response == nullptr || response->question.name != pending.name ||
      response->question.type != pending.type) {
    spdlog::warn("DNS upstream answered {} with something else: SERVFAIL to the sandbox", pending.name);
    return dns::MakeErrorResponse(pending.query, dns::Rcode::kServFail);
  }
  const auto now = Clock::now();
  for (const auto& a : response->addresses) names_.Record(pending.name, a.address, a.ttl, now);
  dns::SetId(answer, pending.sandbox_id);
  return answer;
}

void DnsForwarder::ForwardTcp(std::vector<std::uint8_t> query, std::string name,
                              std::uint16_t type, ReplyTo reply) noexcept {
  if (tcp_in_flight_ >= kMaxPending) return reply(dns::MakeErrorResponse(query, dns::Rcode::kServFail));
  ++tcp_in_flight_;
  auto pending = std::make_shared<Pending>();
  pending->query = query;
  pending->sandbox_id = dns::GetId(query).value_or(0);
  pending->name = std::move(name);
  pending->type = type;
  pending->reply = std::move(reply);
  auto* upstream = new UpstreamTcp;
  upstream->self = this;
  upstream->query = query;
  std::weak_ptr<int> alive = alive_;
  upstream->done = [this, alive, pending](std::optional<std::vector<std::uint8_t>> answer) {
    if (alive.expired()) return;
    --tcp_in_flight_;
    if (!answer) return pending->reply(dns::MakeErrorResponse(pending->query, dns::Rcode::kServFail));
    pending->reply(Relay(*pending, std::move(*answer)));
  };
  upstream->handle = UvHandle<uv_tcp_t>::Create();
  uv_tcp_init(loop_, upstream->handle->Get());
  upstream->handle->BindOwned(upstream);
  upstream->timer = UvHandle<uv_timer_t>::Create();
  uv_timer_init(loop_, upstream->timer->Get());
  upstream->timer->Bind(upstream);
  uv_timer_start(
      upstream->timer->Get(),
      [](uv_timer_t* t) {
        static_cast<UpstreamTcp*>(UvHandle<uv_timer_t>::From(t)->Owner())->Finish(std::nullopt);
      },
      std::chrono::duration_cast<std::chrono::milliseconds>(kUpstreamTimeout).count(), 0);
  int rc = uv_tcp_connect(
      &upstream->connect, upstream->handle->Get(),
      reinterpret_cast<const sockaddr*>(&upstream_address_), [](uv_connect_t* c, int status) {
        auto* up = static_cast<UpstreamTcp*>(
            UvHandle<uv_tcp_t>::From(reinterpret_cast<uv_tcp_t*>(c->handle))->Owner());
        if (status == UV_ECANCELED) return;
        if (status < 0) return up->Finish(std::nullopt);
        auto* stream = reinterpret_cast<uv_stream_t*>(up->handle->Get());
        WriteFramed(stream, up->query);
        uv_read_start(stream, AllocBuffer, [](uv_stream_t* s, ssize_t n, const uv_buf_t* buf) {
          auto* u = static_cast<UpstreamTcp*>(
              UvHandle<uv_tcp_t>::From(reinterpret_cast<uv_tcp_t*>(s))->Owner());
          if (n < 0) {
            uv_read_stop(s);
            u->Finish(std::nullopt);
          } else if (n > 0) {
            u->reader.Append(buf->base, static_cast<std::size_t>(n));
            if (auto answer = u->reader.Next()) {
              uv_read_stop(s);
              u->Finish(std::move(answer));
            }
          }
          delete[] buf->base;
        });
      });
  if (rc != 0) upstream->Finish(std::nullopt);
}

void DnsForwarder::ExpireOld() noexcept {
  const auto now = Clock::now();
  for (auto it = pending_.begin(); it != pending_.end();) {
    if (now - it->second->sent < kUpstreamTimeout) {
      ++it;
      continue;
    }
    // Nothing came back: the sandbox's resolver hears SERVFAIL rather than silence.
    auto pending = std::move(it->second);
    it = pending_.erase(it);
    pending->reply(dns::MakeErrorResponse(pending->query, dns::Rcode::kServFail));
  }
}

}  // namespace sandgate::supervisor
