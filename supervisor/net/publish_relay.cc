#include "supervisor/net/publish_relay.h"

#include <netinet/in.h>
#include <spdlog/spdlog.h>
#include <sys/resource.h>
#include <sys/socket.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <string>
#include <utility>

#include "supervisor/net/host_socket.h"
#include "supervisor/net/sandbox_netns.h"
#include "supervisor/net/splice_relay.h"

namespace sandgate::supervisor {
namespace {

constexpr std::size_t kMostRelays = 1024;
// Each relay holds six fds; a sixteenth of the limit leaves the rest to mediation (which may
// take half) and the loop.
constexpr std::size_t kFdsPerRelayBudget = 16;
// Connections taken per wakeup of a listener, so that a flood of them cannot starve the loop.
constexpr int kAcceptsPerWakeup = 64;
// How long accepting pauses when sandgate is out of fds.
constexpr std::uint64_t kPauseMs = 100;

// Where a relayed connection goes inside, in order (see PublishRelay).
const approvals::Address kInsideTargets[] = {
    approvals::Address::FromV4({127, 0, 0, 1}),
    approvals::Address::FromV6({0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1})};

int DomainOf(const approvals::Address& address) {
  return address.family() == approvals::AddressFamily::kInet ? AF_INET : AF_INET6;
}

std::string Endpoint(const approvals::Address& address, std::uint16_t port) {
  const std::string text = address.ToString();
  return (DomainOf(address) == AF_INET6 ? "[" + text + "]" : text) + ":" + std::to_string(port);
}

std::size_t RelaysForFdLimit() {
  rlimit files{};
  if (::getrlimit(RLIMIT_NOFILE, &files) != 0 || files.rlim_cur == RLIM_INFINITY) {
    return kMostRelays;
  }
  return std::clamp<std::size_t>(files.rlim_cur / kFdsPerRelayBudget, 16, kMostRelays);
}

}  // namespace

// One accepted host connection: first its connect inside, then its relay.
struct PublishRelay::Connection {
  PublishRelay* owner = nullptr;
  const approvals::PublishSpec* spec = nullptr;
  base::UniqueFd client;
  base::UniqueFd inside;
  UvHandle<uv_poll_t>* connecting = nullptr;  // while the connect inside is under way
  std::size_t next_target = 0;                // into kInsideTargets
  std::unique_ptr<SpliceRelay> relay;
};

PublishRelay::PublishRelay(std::vector<approvals::PublishSpec> specs, std::size_t max_relays)
    : listeners_(specs.size()), max_relays_(max_relays != 0 ? max_relays : RelaysForFdLimit()) {
  for (std::size_t i = 0; i < specs.size(); ++i) {
    listeners_[i].relay = this;
    listeners_[i].spec = std::move(specs[i]);
  }
}

PublishRelay::~PublishRelay() { Close(); }

base::Status PublishRelay::Bind() {
  for (auto& listener : listeners_) {
    const approvals::PublishSpec& spec = listener.spec;
    const int domain = DomainOf(spec.host_address);
    base::UniqueFd fd(::socket(domain, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0));
    const int one = 1;
    sockaddr_storage address{};
    const socklen_t length = SockaddrFor(spec.host_address, spec.host_port, domain, address);
    // SO_REUSEADDR: connections a previous run relayed may still be in TIME_WAIT on this port,
    // which would keep the next run from listening there for a minute. It does not let two
    // listeners share a port. IPV6_V6ONLY: [::] means IPv6 only, as written, so that 0.0.0.0
    // can be published beside it.
    const bool bound = fd &&
                       ::setsockopt(fd.Get(), SOL_SOCKET, SO_REUSEADDR, &one, sizeof one) == 0 &&
                       (domain != AF_INET6 ||
                        ::setsockopt(fd.Get(), IPPROTO_IPV6, IPV6_V6ONLY, &one, sizeof one) == 0) &&
                       ::bind(fd.Get(), reinterpret_cast<const sockaddr*>(&address), length) == 0 &&
                       ::listen(fd.Get(), SOMAXCONN) == 0;
    if (!bound) {
      auto error = base::ErrnoError("--publish " + spec.text + ": cannot listen on " +
                                    Endpoint(spec.host_address, spec.host_port));
      for (auto& other : listeners_) other.fd.Reset();
      return error;
    }
    listener.fd = std::move(fd);
  }
  return base::Ok{};
}

std::uint16_t PublishRelay::HostPort(std::size_t i) const {
  sockaddr_storage address{};
  socklen_t length = sizeof address;
  if (::getsockname(listeners_.at(i).fd.Get(), reinterpret_cast<sockaddr*>(&address), &length) !=
      0) {
    return 0;
  }
  auto endpoint = InetEndpoint(address, length);
  return endpoint ? endpoint->second : 0;
}

base::Status PublishRelay::Start(uv_loop_t* loop, pid_t sandbox_pid) {
  auto opened = SandboxNetns::Open(sandbox_pid);
  if (!opened.Ok()) return opened.Err();
  auto netns = std::make_unique<SandboxNetns>(std::move(opened.Value()));
  const SandboxNetns* inside = netns.get();
  auto started = Start(loop, [inside](int domain) {
    return inside->Socket(domain, SOCK_STREAM | SOCK_NONBLOCK, 0);
  });
  if (started.Ok()) netns_ = std::move(netns);
  return started;
}

base::Status PublishRelay::Start(uv_loop_t* loop, InsideSocket inside) {
  loop_ = loop;
  inside_ = std::move(inside);
  resume_timer_ = UvHandle<uv_timer_t>::Create();
  if (int rc = uv_timer_init(loop, resume_timer_->Get()); rc != 0) {
    Stop();
    return base::Error{-rc, "uv_timer_init"};
  }
  resume_timer_->Bind(this);
  for (auto& listener : listeners_) {
    if (!listener.fd) {
      Stop();
      return base::Error{EBADF, "--publish " + listener.spec.text + ": not listening"};
    }
    listener.poll = UvHandle<uv_poll_t>::Create();
    int rc = uv_poll_init_socket(loop, listener.poll->Get(), listener.fd.Get());
    if (rc == 0) {
      listener.poll->Bind(&listener);
      rc = uv_poll_start(listener.poll->Get(), UV_READABLE, &PublishRelay::OnAcceptable);
    }
    if (rc != 0) {
      Stop();
      return base::Error{-rc, "--publish " + listener.spec.text + ": uv_poll_start"};
    }
  }
  return base::Ok{};
}

void PublishRelay::Stop() noexcept {
  for (auto& listener : listeners_) {
    if (listener.poll != nullptr) std::exchange(listener.poll, nullptr)->Close();
  }
  if (resume_timer_ != nullptr) std::exchange(resume_timer_, nullptr)->Close();
  // Moved out first: nothing below calls back, but the map is empty from here on either way.
  auto connections = std::move(connections_);
  connections_.clear();
  for (auto& [raw, connection] : connections) {
    if (connection->connecting != nullptr) std::exchange(connection->connecting, nullptr)->Close();
    if (connection->relay) connection->relay->Close();
    CloseWithReset(std::move(connection->client));
  }
  connections.clear();
  inside_ = nullptr;
  netns_.reset();  // ends its helper process
  loop_ = nullptr;
}

void PublishRelay::Close() noexcept {
  Stop();
  for (auto& listener : listeners_) listener.fd.Reset();
}

void PublishRelay::OnAcceptable(uv_poll_t* handle, int status, int /*events*/) noexcept {
  auto* listener = static_cast<Listener*>(UvHandle<uv_poll_t>::From(handle)->Owner());
  if (status < 0) {
    spdlog::warn("--publish {}: polling the listener: {}", listener->spec.text,
                 uv_strerror(status));
    return;
  }
  listener->relay->Accept(*listener);
}

void PublishRelay::Accept(Listener& listener) noexcept {
  for (int i = 0; i < kAcceptsPerWakeup; ++i) {
    const int fd = ::accept4(listener.fd.Get(), nullptr, nullptr, SOCK_NONBLOCK | SOCK_CLOEXEC);
    if (fd >= 0) {
      Admit(listener, base::UniqueFd(fd));
      continue;
    }
    if (errno == EINTR || errno == ECONNABORTED) continue;
    if (errno == EAGAIN) return;
    spdlog::warn("--publish {}: accept4: {}", listener.spec.text, std::strerror(errno));
    // Out of fds or memory: the listener stays readable, so waiting on it would spin.
    if (errno == EMFILE || errno == ENFILE || errno == ENOBUFS || errno == ENOMEM) {
      PauseAccepting();
    }
    return;
  }
}

void PublishRelay::Admit(const Listener& listener, base::UniqueFd client) noexcept {
  if (connections_.size() >= max_relays_) {
    if (!warned_full_) {
      spdlog::warn("--publish {}: {} connections are relayed already; resetting new ones",
                   listener.spec.text, max_relays_);
      warned_full_ = true;
    }
    return CloseWithReset(std::move(client));
  }
  auto connection = std::make_unique<Connection>();
  connection->owner = this;
  connection->spec = &listener.spec;
  connection->client = std::move(client);
  Connection* raw = connection.get();
  connections_.emplace(raw, std::move(connection));
  ConnectInside(raw);
}

void PublishRelay::ConnectInside(Connection* connection) noexcept {
  const std::uint16_t port = connection->spec->sandbox_port;
  while (connection->next_target < std::size(kInsideTargets)) {
    const approvals::Address& target = kInsideTargets[connection->next_target++];
    const int domain = DomainOf(target);
    auto socket = inside_(domain);
    if (!socket.Ok()) {
      spdlog::debug("--publish {}: socket inside: {}", connection->spec->text,
                    socket.Err().Message());
      continue;
    }
    sockaddr_storage address{};
    const socklen_t length = SockaddrFor(target, port, domain, address);
    // Non-blocking, so this never sleeps; on loopback the answer comes within microseconds.
    if (::connect(socket->Get(), reinterpret_cast<const sockaddr*>(&address), length) == 0) {
      connection->inside = std::move(socket.Value());
      return Relay(connection);
    }
    if (errno != EINPROGRESS) {
      spdlog::debug("--publish {}: connect to {} inside: {}", connection->spec->text,
                    Endpoint(target, port), std::strerror(errno));
      continue;
    }
    connection->inside = std::move(socket.Value());
    auto* poll = UvHandle<uv_poll_t>::Create();
    int rc = uv_poll_init_socket(loop_, poll->Get(), connection->inside.Get());
    if (rc == 0) {
      poll->Bind(connection);
      rc = uv_poll_start(poll->Get(), UV_WRITABLE, &PublishRelay::OnInsideConnected);
    }
    if (rc != 0) {
      poll->Close();
      spdlog::warn("--publish {}: uv_poll_start: {}", connection->spec->text, uv_strerror(rc));
      break;
    }
    connection->connecting = poll;
    return;
  }
  spdlog::debug("--publish {}: nothing accepts on port {} inside the sandbox; resetting",
                connection->spec->text, port);
  Drop(connection);
}

void PublishRelay::OnInsideConnected(uv_poll_t* handle, int status, int /*events*/) noexcept {
  auto* connection = static_cast<Connection*>(UvHandle<uv_poll_t>::From(handle)->Owner());
  // libuv reports POLLERR as a status; the socket knows the real reason (ECONNREFUSED...).
  int error = 0;
  socklen_t length = sizeof error;
  if (::getsockopt(connection->inside.Get(), SOL_SOCKET, SO_ERROR, &error, &length) != 0) {
    error = errno;
  }
  if (error == 0 && status < 0) error = -status;
  // Closed before anything else watches this fd (the relay's own poll, or a new socket).
  std::exchange(connection->connecting, nullptr)->Close();
  if (error == 0) return connection->owner->Relay(connection);
  connection->inside.Reset();
  connection->owner->ConnectInside(connection);
}

void PublishRelay::Relay(Connection* connection) noexcept {
  connection->relay = std::make_unique<SpliceRelay>(loop_, std::move(connection->client),
                                                    std::move(connection->inside),
                                                    [this, connection](SpliceRelay::Outcome) {
                                                      connections_.erase(connection);
                                                      // Warn again only after the relays are down
                                                      // to half the cap, not at every one that ends
                                                      // during a flood.
                                                      if (connections_.size() <= max_relays_ / 2)
                                                        warned_full_ = false;
                                                    });
  if (auto started = connection->relay->Start(); !started) {
    spdlog::warn("--publish {}: {}", connection->spec->text, started.Err().Message());
    connections_.erase(connection);
  }
}

void PublishRelay::Drop(Connection* connection) noexcept {
  CloseWithReset(std::move(connection->client));
  connections_.erase(connection);
}

void PublishRelay::PauseAccepting() noexcept {
  for (auto& listener : listeners_) {
    if (listener.poll != nullptr) uv_poll_stop(listener.poll->Get());
  }
  uv_timer_start(
      resume_timer_->Get(),
      [](uv_timer_t* timer) {
        static_cast<PublishRelay*>(UvHandle<uv_timer_t>::From(timer)->Owner())->ResumeAccepting();
      },
      kPauseMs, 0);
}

void PublishRelay::ResumeAccepting() noexcept {
  for (auto& listener : listeners_) {
    if (listener.poll != nullptr) {
      uv_poll_start(listener.poll->Get(), UV_READABLE, &PublishRelay::OnAcceptable);
    }
  }
}

}  // namespace sandgate::supervisor
