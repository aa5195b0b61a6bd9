#include "supervisor/net/proxy_tunnel.h"

#include <netdb.h>
#include <netinet/in.h>
#include <spdlog/spdlog.h>
#include <sys/socket.h>

#include <cstring>
#include <memory>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "supervisor/loop/uv_handle.h"

namespace sandgate::supervisor {
namespace {

// A proxy's answer to the handshake is small; a bigger one is not a proxy we understand.
constexpr std::size_t kMaxPeek = 17 * 1024;

class Tunnel : public std::enable_shared_from_this<Tunnel> {
 public:
  // What a handle of the tunnel owns: the tunnel, and the duty to forget the handle when it is
  // freed, also when the loop's shutdown (CloseAllHandles) closes it rather than the tunnel.
  template <typename T>
  struct HandleRef {
    std::shared_ptr<Tunnel> tunnel;
    UvHandle<T>* Tunnel::*slot;
    ~HandleRef() {
      if ((*tunnel).*slot != nullptr) {
        (*tunnel).*slot = nullptr;
        tunnel->abandoned_ = !tunnel->finished_;
      }
    }
  };

  Tunnel(uv_loop_t* loop, const approvals::ProxyUrl& proxy, const approvals::TunnelTarget& target,
         const SocketShape& shape, int model, ProxyTunnel::Done done)
      : loop_(loop),
        proxy_(proxy),
        handshake_(proxy, target),
        shape_(shape),
        model_(model),
        done_(std::move(done)) {}

  void Start(std::chrono::milliseconds timeout) {
    timer_ = UvHandle<uv_timer_t>::Create();
    uv_timer_init(loop_, timer_->Get());
    timer_->BindOwned(new HandleRef<uv_timer_t>{shared_from_this(), &Tunnel::timer_});
    uv_timer_start(
        timer_->Get(),
        [](uv_timer_t* t) {
          auto* ref = static_cast<HandleRef<uv_timer_t>*>(UvHandle<uv_timer_t>::From(t)->Owner());
          ref->tunnel->Fail(ETIMEDOUT, "no tunnel from the proxy in time");
        },
        static_cast<std::uint64_t>(timeout.count()), 0);

    if (auto literal = approvals::Address::Parse(proxy_.host)) return Connect(*literal);
    auto* request = new uv_getaddrinfo_t;
    request->data = new std::shared_ptr<Tunnel>(shared_from_this());
    addrinfo hints{};
    hints.ai_socktype = SOCK_STREAM;
    int rc = uv_getaddrinfo(
        loop_, request,
        [](uv_getaddrinfo_t* req, int status, addrinfo* result) {
          auto* holder = static_cast<std::shared_ptr<Tunnel>*>(req->data);
          std::shared_ptr<Tunnel> self = std::move(*holder);
          delete holder;
          delete req;
          std::optional<approvals::Address> address;
          for (addrinfo* a = result; a != nullptr && !address; a = a->ai_next) {
            sockaddr_storage sa{};
            if (a->ai_addrlen > sizeof sa) continue;
            std::memcpy(&sa, a->ai_addr, a->ai_addrlen);
            if (auto endpoint = InetEndpoint(sa, a->ai_addrlen)) address = endpoint->first;
          }
          uv_freeaddrinfo(result);
          if (status != 0 || !address) {
            return self->Fail(EHOSTUNREACH, "cannot resolve the proxy " + self->proxy_.host);
          }
          self->Connect(*address);
        },
        proxy_.host.c_str(), nullptr, &hints);
    if (rc != 0) {
      delete static_cast<std::shared_ptr<Tunnel>*>(request->data);
      delete request;
      Fail(EHOSTUNREACH, std::string("uv_getaddrinfo: ") + uv_strerror(rc));
    }
  }

 private:
  void Connect(const approvals::Address& address) {
    if (finished_ || abandoned_) return;
    // The tunnel takes the command's socket's place, so it keeps its family where it can: an
    // IPv6 socket reaches an IPv4 proxy through a v4-mapped address.
    SocketShape shape = shape_;
    if (address.family() != approvals::AddressFamily::kInet) shape.domain = AF_INET6;
    sockaddr_storage sa{};
    const socklen_t length = SockaddrFor(address, proxy_.port, shape.domain, sa);
    auto opened = OpenHostSocket(shape, model_);
    if (!opened.Ok()) return Fail(opened.Err().errnum, opened.Err().Message());
    socket_ = std::move(opened.Value());
    if (shape.domain == AF_INET6) {
      int off = 0;  // a v4-mapped proxy address needs a dual-stack socket
      ::setsockopt(socket_.Get(), IPPROTO_IPV6, IPV6_V6ONLY, &off, sizeof off);
    }
    auto self = shared_from_this();
    HostConnect::Start(loop_, socket_.Get(), sa, length, false, [self](int error) {
      if (error != 0) {
        return self->Fail(error, std::string("connecting to the proxy: ") + std::strerror(error));
      }
      self->BeginHandshake();
    });
  }

  void BeginHandshake() {
    if (finished_ || abandoned_) return;
    output_ = handshake_.TakeOutput();
    poll_ = UvHandle<uv_poll_t>::Create();
    if (int rc = uv_poll_init_socket(loop_, poll_->Get(), socket_.Get()); rc != 0) {
      return Fail(-rc, "uv_poll_init_socket(proxy)");
    }
    poll_->BindOwned(new HandleRef<uv_poll_t>{shared_from_this(), &Tunnel::poll_});
    Watch();
  }

  void Watch() {
    uv_poll_start(poll_->Get(), UV_READABLE | (output_.empty() ? 0 : UV_WRITABLE),
                  [](uv_poll_t* h, int, int events) {
                    auto* ref = static_cast<HandleRef<uv_poll_t>*>(UvHandle<uv_poll_t>::From(h)->Owner());
                    ref->tunnel->OnReady(events);
                  });
  }

  void OnReady(int events) {
    if (finished_) return;
    if ((events & UV_WRITABLE) != 0 && !output_.empty()) {
      ssize_t n = ::send(socket_.Get(), output_.data(), output_.size(), MSG_NOSIGNAL | MSG_DONTWAIT);
      if (n < 0 && errno != EAGAIN && errno != EINTR) {
        return Fail(ECONNREFUSED, std::string("writing to the proxy: ") + std::strerror(errno));
      }
      if (n > 0) output_.erase(output_.begin(), output_.begin() + n);
    }
    if ((events & UV_READABLE) != 0 && !Read()) return;
    Watch();
  }

  // False when finished.
  bool Read() {
    std::vector<std::uint8_t> peeked(kMaxPeek);
    ssize_t n = ::recv(socket_.Get(), peeked.data(), peeked.size(), MSG_PEEK | MSG_DONTWAIT);
    if (n < 0 && (errno == EAGAIN || errno == EINTR)) return true;
    if (n < 0) {
      int error = errno;
      Fail(error, std::string("reading from the proxy: ") + std::strerror(error));
      return false;
    }
    if (n == 0) {
      Fail(ECONNREFUSED, "the proxy closed the connection during the handshake");
      return false;
    }
    peeked.resize(static_cast<std::size_t>(n));
    auto step = handshake_.Feed(peeked);
    if (step.consumed > 0) {
      std::vector<std::uint8_t> sink(step.consumed);
      ::recv(socket_.Get(), sink.data(), sink.size(), MSG_DONTWAIT);
    }
    auto more = handshake_.TakeOutput();
    output_.insert(output_.end(), more.begin(), more.end());
    switch (step.state) {
      case approvals::ProxyHandshake::State::kFailed:
        Fail(handshake_.error(), handshake_.failure());
        return false;
      case approvals::ProxyHandshake::State::kDone:
        Succeed();
        return false;
      case approvals::ProxyHandshake::State::kNeedMore: {
        // Part of an answer is waiting unconsumed: wake only when more than that has arrived,
        // or poll would report the same bytes again and again.
        int low = std::max(1, static_cast<int>(peeked.size() - step.consumed) + 1);
        ::setsockopt(socket_.Get(), SOL_SOCKET, SO_RCVLOWAT, &low, sizeof low);
        return true;
      }
    }
    return true;
  }

  void Succeed() {
    int one = 1;
    ::setsockopt(socket_.Get(), SOL_SOCKET, SO_RCVLOWAT, &one, sizeof one);
    Finish(std::move(socket_));
  }

  void Fail(int error, const std::string& why) {
    if (finished_) return;
    spdlog::info("proxy {}: {}", proxy_.Redacted(), why);
    Finish(base::Error{error == 0 ? ECONNREFUSED : error, why});
  }

  void Finish(base::Result<base::UniqueFd> result) {
    if (finished_) return;
    finished_ = true;
    // Cleared before closing, so the refs' destructors know the tunnel let go of them.
    auto* timer = std::exchange(timer_, nullptr);
    auto* poll = std::exchange(poll_, nullptr);
    if (timer != nullptr) timer->Close();
    if (poll != nullptr) poll->Close();
    auto done = std::move(done_);
    done(std::move(result));
  }

  uv_loop_t* loop_;
  approvals::ProxyUrl proxy_;
  approvals::ProxyHandshake handshake_;
  SocketShape shape_;
  int model_;
  ProxyTunnel::Done done_;
  base::UniqueFd socket_;
  std::vector<std::uint8_t> output_;
  UvHandle<uv_timer_t>* timer_ = nullptr;
  UvHandle<uv_poll_t>* poll_ = nullptr;
  bool finished_ = false;
  bool abandoned_ = false;  // the loop shut down under it: do nothing more
};

}  // namespace

void ProxyTunnel::Start(uv_loop_t* loop, const approvals::ProxyUrl& proxy,
                        const approvals::TunnelTarget& target, const SocketShape& shape, int model,
                        std::chrono::milliseconds timeout, Done done) {
  auto tunnel = std::make_shared<Tunnel>(loop, proxy, target, shape, model, std::move(done));
  tunnel->Start(timeout);
}

}  // namespace sandgate::supervisor
