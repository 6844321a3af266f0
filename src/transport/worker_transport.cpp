#include "transport/worker_transport.hpp"

#include "transport/proxy_protocol.hpp"

#include <sys/socket.h>

#include <openssl/err.h>
#include <openssl/ssl.h>

#include <array>
#include <cerrno>
#include <cstring>

namespace sipwarden::transport {

namespace asio = boost::asio;
using asio::ip::tcp;
using asio::ip::udp;

IpAddress toIpAddress(const asio::ip::address& a) {
  IpAddress out;
  if (a.is_v4()) {
    auto b = a.to_v4().to_bytes();
    std::memcpy(out.bytes.data(), b.data(), 4);
    out.v6 = false;
  } else {
    auto v6 = a.to_v6();
    if (v6.is_v4_mapped()) return toIpAddress(asio::ip::make_address_v4(asio::ip::v4_mapped, v6));
    auto b = v6.to_bytes();
    std::memcpy(out.bytes.data(), b.data(), 16);
    out.v6 = true;
  }
  return out;
}

asio::ip::address toAsio(const IpAddress& a) {
  if (!a.v6) {
    asio::ip::address_v4::bytes_type b;
    std::memcpy(b.data(), a.bytes.data(), 4);
    return asio::ip::address_v4(b);
  }
  asio::ip::address_v6::bytes_type b;
  std::memcpy(b.data(), a.bytes.data(), 16);
  return asio::ip::address_v6(b);
}

// ---------------------------------------------------------------------------------------------
// ConnectionRegistry

std::size_t ConnectionRegistry::AddressHash::operator()(const IpAddress& a) const noexcept {
  std::uint64_t h = a.v6 ? 0x9e3779b97f4a7c15ull : 0;
  for (std::uint8_t b : a.bytes) h = (h ^ b) * 0x100000001b3ull;
  return static_cast<std::size_t>(h);
}

std::uint64_t ConnectionRegistry::add(WorkerTransport* owner, const IpAddress& remote, std::uint32_t limit) {
  std::lock_guard lock(mutex_);
  std::uint32_t& open = perAddress_[remote];
  if (open >= limit) {
    if (open == 0) perAddress_.erase(remote);
    return 0;
  }
  ++open;
  std::uint64_t id = nextId_++;
  owners_.emplace(id, owner);
  return id;
}

void ConnectionRegistry::remove(std::uint64_t id, const IpAddress& remote) {
  std::lock_guard lock(mutex_);
  if (owners_.erase(id) == 0) return;
  auto it = perAddress_.find(remote);
  if (it != perAddress_.end() && --it->second == 0) perAddress_.erase(it);
}

WorkerTransport* ConnectionRegistry::owner(std::uint64_t id) const {
  std::lock_guard lock(mutex_);
  auto it = owners_.find(id);
  return it == owners_.end() ? nullptr : it->second;
}

std::size_t ConnectionRegistry::size() const {
  std::lock_guard lock(mutex_);
  return owners_.size();
}

// ---------------------------------------------------------------------------------------------
// Lingering close: a socket whose last bytes (a TLS alert) must reach the peer. Closing a socket
// that still holds unread bytes (or that gets more) makes the kernel send RST, and a peer whose
// next write meets the reset fails there, before it reads anything: a TLS 1.3 client that sends
// its first request right after its Finished would see "connection reset" instead of the alert
// that says why its handshake failed. So the write
// side is shut (FIN after the alert), what the peer still sends is read and dropped until its
// FIN, and the socket is closed then, or after at most a second and 64 KiB.

class LingeringClose : public std::enable_shared_from_this<LingeringClose> {
 public:
  static void start(tcp::socket socket) {
    auto self = std::make_shared<LingeringClose>(std::move(socket));
    boost::system::error_code ec;
    self->socket_.shutdown(tcp::socket::shutdown_send, ec);
    if (ec) {
      self->socket_.close(ec);
      return;
    }
    self->timer_.expires_after(std::chrono::seconds(1));
    self->timer_.async_wait([self](const boost::system::error_code& e) {
      if (!e) self->finish();
    });
    self->drain();
  }

  explicit LingeringClose(tcp::socket socket) : socket_(std::move(socket)), timer_(socket_.get_executor()) {}

 private:
  void drain() {
    socket_.async_wait(tcp::socket::wait_read, [self = shared_from_this()](const boost::system::error_code& ec) {
      if (ec || self->done_) return self->finish();
      std::array<char, 4096> sink;
      for (;;) {
        ssize_t n = ::recv(self->socket_.native_handle(), sink.data(), sink.size(), MSG_DONTWAIT);
        if (n > 0) {
          self->drained_ += static_cast<std::size_t>(n);
          if (self->drained_ > 64 * 1024) return self->finish();
          continue;
        }
        if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR)) return self->drain();
        return self->finish();  // the peer's FIN (0) or an error
      }
    });
  }

  void finish() {
    if (done_) return;
    done_ = true;
    boost::system::error_code ec;
    timer_.cancel();
    socket_.close(ec);
  }

  tcp::socket socket_;
  asio::steady_timer timer_;
  std::size_t drained_ = 0;
  bool done_ = false;
};

// ---------------------------------------------------------------------------------------------
// StreamConnection: one TCP or TLS connection, accepted or opened by us. Lives on its worker; the
// shared_ptr is held by the worker's table and by pending waits.
//
// The socket is non-blocking and driven by readiness waits (async_wait) rather than by Asio
// reads into a per-connection buffer: bytes are read into the worker's one read buffer, and TLS
// runs OpenSSL directly on the file descriptor with SSL_MODE_RELEASE_BUFFERS. An idle connection
// therefore holds no read buffer, no TLS record buffers and an empty framer: a few hundred bytes
// plus OpenSSL's session state (the memory-per-idle-connection target of issue 5).

class StreamConnection final : public Connection, public std::enable_shared_from_this<StreamConnection> {
 public:
  StreamConnection(WorkerTransport& owner, tcp::socket socket, std::uint64_t id, Peer peer)
      : owner_(owner),
        socket_(std::move(socket)),
        timer_(owner.io()),
        framer_(owner.settings_.limits),
        id_(id),
        peer_(peer),
        accountedAddress_(peer.address) {}

  /// The connection starts with a PROXY protocol header (the listener requires one).
  void expectProxyHeader() { awaitingProxy_ = true; }

  ~StreamConnection() override {
    if (ssl_ != nullptr) SSL_free(ssl_);
  }

  /// Makes this a TLS connection (`ssl` is owned from now on; `contexts` keeps its SSL_CTX alive).
  void useTls(SSL* ssl, std::shared_ptr<const TlsContextSet> contexts, std::string serverName) {
    ssl_ = ssl;
    contexts_ = std::move(contexts);
    serverName_ = std::move(serverName);
    SSL_set_fd(ssl_, static_cast<int>(socket_.native_handle()));
  }

  /// An accepted connection: handshake (TLS), then read.
  void start() override {
    boost::system::error_code ec;
    socket_.non_blocking(true, ec);
    if (ssl_ != nullptr) SSL_set_accept_state(ssl_);
    touch();
    armTimer();
    pump();
  }

  /// An outbound connection: queued writes wait until it is connected (and the handshake is done).
  void connect(const tcp::endpoint& remote) {
    connecting_ = true;
    outbound_ = true;
    touch();
    armTimer();
    socket_.async_connect(remote, [self = shared_from_this()](const boost::system::error_code& ec) {
      self->connecting_ = false;
      if (self->closed_) return;  // closed meanwhile (the connect deadline, shutdown)
      if (ec) {
        self->owner_.counters_.sendFailures++;
        self->close();
        return;
      }
      self->connected_ = true;
      boost::system::error_code rec;
      self->socket_.set_option(tcp::no_delay(true), rec);
      self->socket_.non_blocking(true, rec);
      if (self->ssl_ != nullptr) SSL_set_connect_state(self->ssl_);
      self->touch();
      // The connect deadline ends here: the handshake gets its own full time (or, plain TCP, the
      // idle timeout starts).
      self->timer_.cancel();
      self->armTimer();
      self->pump();
    });
  }

  void write(std::string bytes) override {
    if (closed_) return;
    // A peer that sends but never reads must not make the queue grow without bound.
    if (queuedBytes_ + bytes.size() > kMaxQueuedBytes) {
      owner_.counters_.sendFailures++;
      close();
      return;
    }
    queuedBytes_ += bytes.size();
    queue_.push_back(std::move(bytes));
    // Only writing here: write() may be called while this connection dispatches what it read.
    if (!connecting_ && !waitingWrite_ && (ssl_ == nullptr || handshakeDone_)) flush();
  }

  void close() override { closeSocket(/*linger=*/false); }
  bool writesPending() const override { return !closed_ && head_ < queue_.size(); }

  /// Closes at once, or (linger) after the peer has had the chance to read what was last written
  /// to it (see LingeringClose).
  void closeSocket(bool linger) {
    if (closed_) return;
    closed_ = true;
    if (ssl_ != nullptr && handshakeDone_) {
      SSL_shutdown(ssl_);  // close_notify, best effort; we do not wait for the peer's
      ERR_clear_error();
    }
    boost::system::error_code ec;
    if (linger && owner_.accepting_) {
      LingeringClose::start(std::move(socket_));
    } else {
      socket_.shutdown(tcp::socket::shutdown_both, ec);
    }
    socket_.close(ec);
    timer_.cancel();
    const bool up = (connected_ || !outbound_) && (ssl_ == nullptr || handshakeDone_) && !nameRefused_;
    owner_.connectionClosed(id_, accountedAddress_, up);
    // An outbound connection that never got up: whoever sent on it is told, from the event loop
    // (close() may run inside a send, e.g. a queue over its cap, while a transaction is being
    // set up), and after the connection is out of the tables, so that a retry opens a new one.
    if (outbound_ && !up && owner_.accepting_) {
      asio::post(owner_.io(), [owner = &owner_, peer = peer_] {
        if (owner->accepting_) owner->handler_.onConnectFailed(peer);
      });
    }
  }

  const Peer& peer() const { return peer_; }
  const Peer& remote() const override { return peer_; }
  const TlsPeerIdentity* identity() const override { return identity_.get(); }
  SSL* verifiedClientSession() override {
    if (closed_ || ssl_ == nullptr || !handshakeDone_ || outbound_ || !identity_ || !identity_->verified) return nullptr;
    return ssl_;
  }

  /// Stops reading and closes when the write queue is empty.
  void closeAfterWrites() {
    if (queue_.empty()) {
      close();
    } else {
      closing_ = true;
    }
  }

 private:
  static constexpr std::size_t kMaxQueuedBytes = 4 * 1024 * 1024;
  static constexpr auto kHandshakeTimeout = std::chrono::seconds(10);
  /// An outbound TCP connect not done by then is given up (a SYN that gets no answer would
  /// otherwise wait for the kernel's two minutes, past any transaction's Timer B or F).
  static constexpr auto kConnectTimeout = std::chrono::seconds(5);
  /// A connection whose client is done sending (EOF) stays open while answers are owed to it,
  /// checked this often, and while its last bytes go out, but not longer than kHalfClosedLinger
  /// after the EOF (nor than the idle timeout): 64×T1, the life of a non-INVITE transaction
  /// downstream, and a margin for its 408 to come back.
  static constexpr auto kHalfClosedCheck = std::chrono::milliseconds(200);
  static constexpr auto kHalfClosedLinger = std::chrono::seconds(40);

  void touch() { lastActivity_ = std::chrono::steady_clock::now(); }
  std::uint64_t timerGeneration_ = 0;  ///< armTimer's latest wait; older handlers do nothing

  /// One timer per connection: the connect or handshake deadline first, then the idle timeout.
  void armTimer() {
    bool handshaking = connecting_ || (ssl_ != nullptr && !handshakeDone_) || awaitingProxy_;
    auto limit = connecting_   ? std::chrono::steady_clock::duration(kConnectTimeout)
                 : handshaking ? std::chrono::steady_clock::duration(kHandshakeTimeout)
                               : std::chrono::steady_clock::duration(owner_.settings_.tcpIdleTimeout);
    // Half-closed: a short re-check instead (see the handler).
    timer_.expires_at(readClosed_ ? std::chrono::steady_clock::now() + kHalfClosedCheck : lastActivity_ + limit);
    // A handler already queued when the timer is re-armed (it expired in the same pass as the
    // connect or handshake completed) cannot be cancelled any more: it sees it is stale.
    const std::uint64_t generation = ++timerGeneration_;
    timer_.async_wait([self = shared_from_this(), handshaking, generation](const boost::system::error_code& ec) {
      if (ec || self->closed_ || generation != self->timerGeneration_) return;
      if (self->connecting_) {
        self->owner_.counters_.sendFailures++;
        self->owner_.handler_.onTransportError(self->peer_, "TCP connect to " + self->peer_.toString() +
                                                                 " not finished within 5 s");
        self->close();
        return;
      }
      bool still = (self->ssl_ != nullptr && !self->handshakeDone_) || self->awaitingProxy_;
      if (handshaking && still) {
        self->owner_.counters_.tlsHandshakeFailures++;
        self->owner_.handler_.onTransportError(
            self->peer_, (self->awaitingProxy_ ? "no PROXY protocol header within 10 s from "
                                               : "TLS handshake not finished within 10 s with ") +
                             self->peer_.toString());
        self->close();
        return;
      }
      if (self->readClosed_) {
        if (std::chrono::steady_clock::now() - self->readClosedAt_ >=
            std::min<std::chrono::steady_clock::duration>(self->owner_.settings_.tcpIdleTimeout, kHalfClosedLinger)) {
          // Answers still owed, or bytes the client does not read: it had its time.
          self->close();
          return;
        }
        if (!self->owner_.handler_.answersOwed(self->id_)) self->closeAfterWrites();
        if (!self->closed_) self->armTimer();
        return;
      }
      auto idle = self->owner_.settings_.tcpIdleTimeout;
      if (!handshaking && std::chrono::steady_clock::now() - self->lastActivity_ >= idle) {
        self->owner_.counters_.connectionsIdleClosed++;
        self->close();
        return;
      }
      self->armTimer();
    });
  }

  void waitRead() { waitFor(tcp::socket::wait_read, waitingRead_); }
  void waitWrite() { waitFor(tcp::socket::wait_write, waitingWrite_); }

  /// One readiness wait of `type` at a time (`pending` says one is armed); pump() when it comes.
  void waitFor(tcp::socket::wait_type type, bool& pending) {
    if (pending || closed_) return;
    pending = true;
    socket_.async_wait(type, [self = shared_from_this(), &pending](const boost::system::error_code& ec) {
      pending = false;
      if (ec || self->closed_) {
        if (ec != asio::error::operation_aborted) self->close();
        return;
      }
      self->pump();
    });
  }

  /// Does whatever the socket allows now: the handshake, writing the queue, reading; then waits
  /// for the readiness it needs next.
  void pump() {
    if (closed_ || connecting_) return;
    if (awaitingProxy_ && !readProxyHeader()) return;
    if (ssl_ != nullptr && !handshakeDone_ && !handshake()) return;
    if (!flush()) return;
    if (!closing_ && !readClosed_) readAvailable();
  }

  /// Reads the PROXY protocol header, and only it (what follows is SIP or a TLS handshake): peeks,
  /// parses, then consumes exactly the header's length. Returns true once it is consumed.
  bool readProxyHeader() {
    char buf[kMaxProxyHeader];
    ssize_t n = ::recv(socket_.native_handle(), buf, sizeof buf, MSG_PEEK);
    if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) {
      waitRead();
      return false;
    }
    if (n <= 0) {
      close();
      return false;
    }
    ProxyHeader h = parseProxyHeader(std::string_view(buf, static_cast<std::size_t>(n)));
    if (h.status == ProxyHeader::Status::NeedMore) {
      // The rest of the header is on its way; peeking again at once would spin on the bytes
      // already there, so look again shortly (the handshake deadline bounds the wait).
      auto retry = std::make_shared<asio::steady_timer>(owner_.io(), std::chrono::milliseconds(10));
      retry->async_wait([self = shared_from_this(), retry](const boost::system::error_code& ec) {
        if (!ec) self->pump();
      });
      return false;
    }
    if (h.status == ProxyHeader::Status::Invalid) {
      owner_.counters_.proxyHeaderFailures++;
      owner_.handler_.onTransportError(peer_, "connection from " + peer_.toString() + " refused: " + h.error +
                                                  " (the listener requires the PROXY protocol)");
      close();
      return false;
    }
    ssize_t consumed = ::recv(socket_.native_handle(), buf, h.length, 0);
    if (consumed != static_cast<ssize_t>(h.length)) {
      close();
      return false;
    }
    awaitingProxy_ = false;
    if (!h.local) {
      peer_.address = h.source;
      peer_.port = h.sourcePort;
    }
    touch();
    return true;
  }

  /// Returns true once the handshake is done (and the connection usable).
  bool handshake() {
    ERR_clear_error();
    int r = SSL_do_handshake(ssl_);
    if (r == 1) {
      handshakeDone_ = true;
      owner_.counters_.tlsHandshakes++;
      identity_ = peerIdentity(ssl_);
      if (!SSL_is_server(ssl_) && contexts_->verifyServerName()) {
        std::string why = contexts_->checkServerName(ssl_, serverName_, peer_.address.toString());
        if (!why.empty()) {
          owner_.counters_.tlsHandshakeFailures++;
          nameRefused_ = true;
          owner_.handler_.onTransportError(peer_, "TLS server " + peer_.hostPort() + ": " + why);
          close();
          return false;
        }
      }
      touch();
      timer_.cancel();  // the handshake deadline becomes the idle timeout
      armTimer();
      return true;
    }
    int err = SSL_get_error(ssl_, r);
    if (err == SSL_ERROR_WANT_READ) {
      waitRead();
    } else if (err == SSL_ERROR_WANT_WRITE) {
      waitWrite();
    } else {
      owner_.counters_.tlsHandshakeFailures++;
      std::string why = lastTlsError(ssl_);
      if (why.empty()) why = err == SSL_ERROR_SYSCALL || err == SSL_ERROR_ZERO_RETURN ? "connection closed" : "failed";
      owner_.handler_.onTransportError(peer_, "TLS handshake with " + peer_.toString() + ": " + why);
      closeSocket(/*linger=*/true);  // the alert that says why must reach the peer
    }
    return false;
  }

  /// Writes queued bytes until the queue is empty (true) or the socket would block (false).
  bool flush() {
    while (head_ < queue_.size()) {
      const std::string& front = queue_[head_];
      std::size_t n = 0;
      if (ssl_ != nullptr) {
        ERR_clear_error();
        int r = SSL_write(ssl_, front.data() + offset_, static_cast<int>(front.size() - offset_));
        if (r <= 0) {
          int err = SSL_get_error(ssl_, r);
          if (err == SSL_ERROR_WANT_WRITE) {
            waitWrite();
          } else if (err == SSL_ERROR_WANT_READ) {
            waitRead();
          } else {
            owner_.counters_.sendFailures++;
            close();
          }
          return false;
        }
        n = static_cast<std::size_t>(r);
      } else {
        boost::system::error_code ec;
        n = socket_.write_some(asio::buffer(front.data() + offset_, front.size() - offset_), ec);
        if (ec == asio::error::would_block || ec == asio::error::try_again) {
          waitWrite();
          return false;
        }
        if (ec) {
          owner_.counters_.sendFailures++;
          close();
          return false;
        }
      }
      offset_ += n;
      if (offset_ == front.size()) {
        queuedBytes_ -= front.size();
        offset_ = 0;
        // Written: its memory goes now, not when the queue next runs empty (a peer that reads
        // steadily but never quite catches up would keep every byte since then). Once half the
        // entries are written ones, they go too; nothing is half-written at this point, so the
        // TLS retry rule (the same buffer after WANT_WRITE) is not at stake.
        std::string().swap(queue_[head_]);
        if (++head_ >= 64 && head_ * 2 >= queue_.size()) {
          queue_.erase(queue_.begin(), queue_.begin() + static_cast<std::ptrdiff_t>(head_));
          head_ = 0;
        }
      }
    }
    queue_.clear();
    head_ = 0;
    if (closing_) {
      close();
      return false;
    }
    return true;
  }

  /// Reads what has arrived into the worker's buffer and frames it. A connection that keeps the
  /// socket full yields after a bounded amount so that the other connections get their turn.
  void readAvailable() {
    char* buf = owner_.readBuffer_.get();
    for (int round = 0; round < 16; ++round) {
      std::size_t n = 0;
      if (ssl_ != nullptr) {
        ERR_clear_error();
        int r = SSL_read(ssl_, buf, static_cast<int>(WorkerTransport::kReadBufferSize));
        if (r <= 0) {
          int err = SSL_get_error(ssl_, r);
          if (err == SSL_ERROR_WANT_READ) {
            waitRead();
          } else if (err == SSL_ERROR_WANT_WRITE) {
            waitWrite();
          } else {
            close();  // close_notify, reset or a TLS error
          }
          return;
        }
        n = static_cast<std::size_t>(r);
      } else {
        boost::system::error_code ec;
        n = socket_.read_some(asio::buffer(buf, WorkerTransport::kReadBufferSize), ec);
        if (ec == asio::error::would_block || ec == asio::error::try_again) {
          waitRead();
          return;
        }
        if (ec == asio::error::eof && !outbound_) {
          // The client is done sending (it closed, or shut down its sending side after its
          // requests, as `nc -N` does). Answers still owed to it go out over this connection
          // first: it closes once none is owed and its queue is written, when a write fails,
          // or kHalfClosedLinger after the EOF, whichever comes first.
          readClosed_ = true;
          readClosedAt_ = std::chrono::steady_clock::now();
          if (!owner_.handler_.answersOwed(id_)) closeAfterWrites();
          if (!closed_) armTimer();
          return;
        }
        if (ec) {
          close();
          return;
        }
      }
      touch();
      if (!onBytes(std::string_view(buf, n))) return;
    }
    asio::post(owner_.io(), [self = shared_from_this()] { self->pump(); });
  }

  /// Frames and dispatches; false when the connection stops reading.
  bool onBytes(std::string_view bytes) {
    // Framed from the worker's read buffer itself; settle() below keeps a partial message.
    framer_.lend(bytes);
    sip::Message& msg = owner_.scratch_;
    while (!closed_) {
      sip::StreamFramer::Result r = framer_.next(msg);
      switch (r.status) {
        case sip::StreamFramer::Status::Message:
          owner_.counters_.streamMessagesIn++;
          owner_.handler_.onMessage(msg, peer_);
          continue;
        case sip::StreamFramer::Status::Invalid:
          owner_.counters_.invalid++;
          owner_.handler_.onInvalid(msg, r.error, peer_);
          continue;
        case sip::StreamFramer::Status::KeepAlive:
          write("\r\n");  // RFC 5626 §4.4.1 pong
          continue;
        case sip::StreamFramer::Status::NeedMore: break;
        case sip::StreamFramer::Status::Fatal:
          // The stream cannot be framed any more (RFC 3261 §18.3): close it, once the answers to
          // the messages framed before the bad bytes have been written.
          owner_.counters_.framingErrors++;
          msg.clear();
          framer_.settle();
          closeAfterWrites();
          return false;
      }
      break;
    }
    msg.clear();
    framer_.settle();  // before the read buffer is used again
    return !closed_ && !closing_;
  }

  WorkerTransport& owner_;
  tcp::socket socket_;
  asio::steady_timer timer_;
  sip::StreamFramer framer_;
  std::uint64_t id_;
  Peer peer_;
  IpAddress accountedAddress_;  ///< counted under this address in the registry (the real peer)
  SSL* ssl_ = nullptr;
  std::shared_ptr<const TlsContextSet> contexts_;
  std::unique_ptr<TlsPeerIdentity> identity_;
  std::string serverName_;
  std::vector<std::string> queue_;  ///< writes not yet on the wire, from head_
  std::size_t head_ = 0;
  std::size_t offset_ = 0;  ///< bytes of queue_[head_] already written
  std::size_t queuedBytes_ = 0;
  std::chrono::steady_clock::time_point lastActivity_;
  bool closed_ = false;
  bool closing_ = false;  ///< closes once the queued writes are out
  bool connecting_ = false;
  bool outbound_ = false;   ///< opened by us (connect())
  bool connected_ = false;  ///< outbound: the TCP connect succeeded
  bool nameRefused_ = false;  ///< outbound TLS: the server's certificate does not name it (RFC 5922)
  bool handshakeDone_ = false;
  bool awaitingProxy_ = false;
  bool waitingRead_ = false;
  bool waitingWrite_ = false;
  bool readClosed_ = false;  ///< plain TCP, accepted: the peer sent EOF; we only write (and linger)
  std::chrono::steady_clock::time_point readClosedAt_;
};

// ---------------------------------------------------------------------------------------------
// WorkerTransport

namespace {

template <typename Socket>
void setReusePort(Socket& s) {
  int one = 1;
  if (::setsockopt(s.native_handle(), SOL_SOCKET, SO_REUSEPORT, &one, sizeof one) != 0) {
    throw boost::system::system_error(errno, boost::system::system_category(), "setsockopt(SO_REUSEPORT)");
  }
}

std::string describe(const ListenerSpec& l) {
  std::string s = std::string(transportName(l.transport)) + " ";
  s += l.address.v6 ? "[" + l.address.toString() + "]" : l.address.toString();
  return s + ":" + std::to_string(l.port);
}

}  // namespace

WorkerTransport::WorkerTransport(asio::io_context& io, const TransportSettings& settings, ConnectionRegistry& registry,
                                 TransportCounters& counters, MessageHandler& handler)
    : io_(io),
      settings_(settings),
      registry_(registry),
      counters_(counters),
      handler_(handler),
      readBuffer_(std::make_unique<char[]>(kReadBufferSize)) {
  udpByIndex_.resize(settings.listeners.size(), nullptr);
  ports_.resize(settings.listeners.size(), 0);
  for (std::uint32_t i = 0; i < settings.listeners.size(); ++i) {
    const ListenerSpec& spec = settings.listeners[i];
    try {
      if (spec.transport == TransportKind::Udp) {
        udp::endpoint ep(toAsio(spec.address), spec.port);
        auto l = std::make_unique<UdpListener>(
            UdpListener{udp::socket(io_), i, {}, std::make_unique<char[]>(65536), spec.address.v6});
        l->socket.open(ep.protocol());
        if (spec.address.v6) l->socket.set_option(asio::ip::v6_only(true));
        l->socket.set_option(asio::socket_base::reuse_address(true));
        setReusePort(l->socket);
        l->socket.set_option(asio::socket_base::receive_buffer_size(4 * 1024 * 1024));
        l->socket.set_option(asio::socket_base::send_buffer_size(4 * 1024 * 1024));
        l->socket.bind(ep);
        l->socket.non_blocking(true);
        ports_[i] = l->socket.local_endpoint().port();
        udpByIndex_[i] = l.get();
        udp_.push_back(std::move(l));
      } else {
        const bool tls = spec.transport == TransportKind::Tls || spec.transport == TransportKind::Wss;
        if (tls && (settings.tls == nullptr || !settings.tls->get())) {
          throw boost::system::system_error(asio::error::invalid_argument, "no TLS certificate configured");
        }
        tcp::endpoint ep(toAsio(spec.address), spec.port);
        auto l = std::make_unique<TcpListener>(TcpListener{tcp::acceptor(io_), i, asio::steady_timer(io_)});
        l->acceptor.open(ep.protocol());
        if (spec.address.v6) l->acceptor.set_option(asio::ip::v6_only(true));
        l->acceptor.set_option(asio::socket_base::reuse_address(true));
        setReusePort(l->acceptor);
        l->acceptor.bind(ep);
        l->acceptor.listen(asio::socket_base::max_listen_connections);
        ports_[i] = l->acceptor.local_endpoint().port();
        tcp_.push_back(std::move(l));
      }
    } catch (const boost::system::system_error& e) {
      throw boost::system::system_error(e.code(), "listener " + describe(spec));
    }
  }
}

WorkerTransport::~WorkerTransport() { closeAll(); }

void WorkerTransport::start() {
  for (auto& l : udp_) receiveUdp(*l);
  for (auto& l : tcp_) accept(*l);
}

void WorkerTransport::stopAccepting() {
  accepting_ = false;
  boost::system::error_code ec;
  for (auto& l : tcp_) {
    l->acceptor.close(ec);
    l->retry.cancel();
  }
}

std::size_t WorkerTransport::connectionsWritingOut() const {
  return static_cast<std::size_t>(std::count_if(connections_.begin(), connections_.end(),
                                                [](const auto& kv) { return kv.second->writesPending(); }));
}

void WorkerTransport::closeForShutdown() {
  std::vector<std::shared_ptr<Connection>> all;
  all.reserve(connections_.size());
  for (auto& [id, c] : connections_) all.push_back(c);
  for (auto& c : all) c->closeForShutdown();
}

void WorkerTransport::closeAll() {
  auto conns = std::move(connections_);
  connections_.clear();
  for (auto& [id, c] : conns) c->close();
  boost::system::error_code ec;
  for (auto& l : udp_) l->socket.close(ec);
  for (auto& l : tcp_) l->acceptor.close(ec);
}

std::size_t WorkerTransport::recheckClientCertificates(const std::shared_ptr<const TlsContextSet>& set) {
  if (!set) return 0;
  std::vector<std::shared_ptr<Connection>> failed;
  std::vector<std::string> why;
  for (auto& [id, conn] : connections_) {
    SSL* ssl = conn->verifiedClientSession();
    if (ssl == nullptr) continue;
    std::string reason = set->recheckClient(ssl);
    if (reason.empty()) continue;
    failed.push_back(conn);
    why.push_back(std::move(reason));
  }
  // Closed after the walk: close() takes a connection out of connections_.
  for (std::size_t i = 0; i < failed.size(); ++i) {
    const TlsPeerIdentity* id = failed[i]->identity();
    handler_.onTransportError(failed[i]->remote(),
                              "closing the connection of " + failed[i]->remote().toString() + " (" +
                                  (id != nullptr ? id->subject : std::string("?")) +
                                  "): its client certificate no longer verifies after the TLS reload: " + why[i]);
    counters_.clientCertificatesRevoked++;
    failed[i]->closeForPolicy("client certificate no longer valid");
  }
  return failed.size();
}

std::uint16_t WorkerTransport::localPort(std::size_t listener) const {
  return listener < ports_.size() ? ports_[listener] : 0;
}

void WorkerTransport::receiveUdp(UdpListener& l) {
  l.socket.async_receive_from(
      asio::buffer(l.buffer.get(), 65536), l.sender, [this, &l](const boost::system::error_code& ec, std::size_t n) {
        if (ec == asio::error::operation_aborted || !l.socket.is_open()) return;
        if (!ec) onDatagram(l, n);
        // Drain what is already queued without going back to the reactor.
        for (int i = 0; i < 64 && l.socket.is_open(); ++i) {
          boost::system::error_code rec;
          std::size_t m = l.socket.receive_from(asio::buffer(l.buffer.get(), 65536), l.sender, 0, rec);
          if (rec) break;
          onDatagram(l, m);
        }
        if (l.socket.is_open()) receiveUdp(l);
      });
}

void WorkerTransport::onDatagram(UdpListener& l, std::size_t size) {
  counters_.datagramsIn++;
  std::string_view bytes(l.buffer.get(), size);
  // A CRLF keep-alive (RFC 5626 §3.5.1) or stray white space: nothing to answer.
  if (bytes.find_first_not_of("\r\n \t") == std::string_view::npos) return;
  Peer from;
  from.transport = TransportKind::Udp;
  from.address = toIpAddress(l.sender.address());
  from.port = l.sender.port();
  from.listener = l.index;
  sip::Message& msg = scratch_;
  sip::ParseError err = sip::parseMessage(bytes, msg, settings_.limits, sip::Framing::Datagram);
  if (err) {
    counters_.invalid++;
    handler_.onInvalid(msg, err, from);
  } else {
    handler_.onMessage(msg, from);
  }
  msg.clear();
}

void WorkerTransport::accept(TcpListener& l) {
  l.acceptor.async_accept([this, &l](const boost::system::error_code& ec, tcp::socket socket) {
    if (ec == asio::error::operation_aborted || !accepting_ || !l.acceptor.is_open()) return;
    if (ec == asio::error::no_descriptors || ec == asio::error::no_buffer_space || ec == asio::error::no_memory ||
        ec.value() == ENFILE) {
      // Out of descriptors (EMFILE, ENFILE) or kernel memory (ENOBUFS, ENOMEM): accepting again at
      // once would fail at once, in a loop that takes a whole core. The connection waits in the
      // backlog; the listener tries again shortly.
      counters_.acceptErrors++;
      Peer where;
      where.transport = settings_.listeners[l.index].transport;
      where.address = settings_.listeners[l.index].address;
      where.port = ports_[l.index];
      handler_.onTransportError(where, "accept on " + std::string(transportName(where.transport)) + ":" +
                                           where.hostPort() + " failed: " + ec.message() + "; retrying in 100 ms");
      l.retry.expires_after(std::chrono::milliseconds(100));
      l.retry.async_wait([this, &l](const boost::system::error_code& tec) {
        if (!tec && accepting_ && l.acceptor.is_open()) accept(l);
      });
      return;
    }
    if (!ec) {
      boost::system::error_code rec;
      tcp::endpoint remote = socket.remote_endpoint(rec);
      if (!rec) {
        IpAddress addr = toIpAddress(remote.address());
        // Counted and checked in one step: workers accepting from one address at once cannot
        // both pass the limit.
        const std::uint64_t id = registry_.add(this, addr, settings_.maxConnectionsPerAddress);
        if (id == 0) {
          counters_.connectionsRejected++;
          socket.close(rec);
        } else {
          socket.set_option(tcp::no_delay(true), rec);
          counters_.connectionsAccepted++;
          Peer peer;
          const ListenerSpec& spec = settings_.listeners[l.index];
          peer.transport = spec.transport;
          peer.address = addr;
          peer.port = remote.port();
          peer.listener = l.index;
          const bool tls = spec.transport == TransportKind::Tls || spec.transport == TransportKind::Wss;
          const bool ws = spec.transport == TransportKind::Ws || spec.transport == TransportKind::Wss;
          SSL* ssl = nullptr;
          std::shared_ptr<const TlsContextSet> contexts;
          if (tls) {
            contexts = settings_.tls->get();
            ssl = contexts->newServerSession(spec.clientCertificates);
          }
          peer.connectionId = id;
          if (tls && ssl == nullptr) {
            registry_.remove(id, addr);
            counters_.connectionsRejected++;
            socket.close(rec);
          } else if (ws) {
            auto conn = makeWebSocket(std::move(socket), peer, ssl, std::move(contexts));
            connections_.emplace(peer.connectionId, conn);
            conn->start();
          } else {
            auto conn = std::make_shared<StreamConnection>(*this, std::move(socket), peer.connectionId, peer);
            if (ssl != nullptr) conn->useTls(ssl, std::move(contexts), {});
            if (spec.proxyProtocol) conn->expectProxyHeader();
            connections_.emplace(peer.connectionId, conn);
            conn->start();
          }
        }
      }
    }
    accept(l);
  });
}

bool WorkerTransport::send(const Peer& to, std::string_view bytes) { return send(to, bytes, {}); }

const TlsPeerIdentity* WorkerTransport::peerIdentity(std::uint64_t connectionId) const {
  auto it = connections_.find(connectionId);
  return it == connections_.end() ? nullptr : it->second->identity();
}

bool WorkerTransport::send(const Peer& to, std::string_view bytes, std::string_view serverName) {
  if (to.transport == TransportKind::Udp) {
    if (to.listener >= udpByIndex_.size() || udpByIndex_[to.listener] == nullptr) return false;
    UdpListener& l = *udpByIndex_[to.listener];
    udp::endpoint ep(toAsio(to.address), to.port);
    if (l.v6 != ep.address().is_v6()) {
      counters_.sendFailures++;
      return false;
    }
    boost::system::error_code ec;
    l.socket.send_to(asio::buffer(bytes.data(), bytes.size()), ep, 0, ec);
    if (ec) {
      counters_.sendFailures++;
      return false;
    }
    counters_.datagramsOut++;
    counters_.bytesOut += bytes.size();
    return true;
  }
  if (to.connectionId == 0) return connectAndSend(to, bytes, serverName);
  WorkerTransport* owner = registry_.owner(to.connectionId);
  if (owner == nullptr) {
    counters_.sendFailures++;
    return false;
  }
  counters_.bytesOut += bytes.size();
  if (owner == this) return sendLocal(to.connectionId, bytes);
  asio::post(owner->io_, [owner, id = to.connectionId, copy = std::string(bytes)] { owner->sendLocal(id, copy); });
  return true;
}

bool WorkerTransport::sendLocal(std::uint64_t connectionId, std::string_view bytes) {
  auto it = connections_.find(connectionId);
  if (it == connections_.end()) {
    counters_.sendFailures++;
    return false;
  }
  it->second->write(std::string(bytes));
  return true;
}

bool WorkerTransport::connectAndSend(const Peer& to, std::string_view bytes, std::string_view serverName) {
  const bool tls = to.transport == TransportKind::Tls;
  if ((to.transport != TransportKind::Tcp && !tls) || to.port == 0 ||
      (tls && (settings_.tls == nullptr || !settings_.tls->get()))) {
    counters_.sendFailures++;
    return false;
  }
  // One outbound connection per destination (and, for TLS, server name) and worker, reused while
  // it lives.
  std::string key = std::string(transportName(to.transport)) + ":" + to.hostPort();
  if (tls) key += "/" + std::string(serverName);
  if (auto it = outbound_.find(key); it != outbound_.end()) return sendLocal(it->second, bytes);
  if (!accepting_) {
    counters_.sendFailures++;
    return false;
  }
  tcp::endpoint remote(toAsio(to.address), to.port);
  tcp::socket socket(io_);
  boost::system::error_code ec;
  socket.open(remote.protocol(), ec);
  if (ec) {
    counters_.sendFailures++;
    return false;
  }
  socket.non_blocking(true, ec);
  std::shared_ptr<const TlsContextSet> contexts;
  SSL* ssl = nullptr;
  if (tls) {
    contexts = settings_.tls->get();
    ssl = contexts->newClientSession(serverName);
    if (ssl == nullptr) {
      counters_.sendFailures++;
      return false;
    }
  }
  Peer peer = to;
  peer.connectionId = registry_.add(this, to.address, settings_.maxConnectionsPerAddress);
  if (peer.connectionId == 0) {
    if (ssl != nullptr) SSL_free(ssl);
    counters_.sendFailures++;
    return false;
  }
  auto conn = std::make_shared<StreamConnection>(*this, std::move(socket), peer.connectionId, peer);
  if (tls) conn->useTls(ssl, std::move(contexts), std::string(serverName));
  connections_.emplace(peer.connectionId, conn);
  outbound_[key] = peer.connectionId;
  outboundKeys_[peer.connectionId] = key;
  counters_.connectionsOpened++;
  conn->connect(remote);            // first: a write before it would go to an unconnected socket
  conn->write(std::string(bytes));  // queued until the connection is up
  counters_.bytesOut += bytes.size();
  return true;
}

std::optional<std::uint32_t> WorkerTransport::listenerFor(TransportKind kind, bool v6) const {
  for (std::uint32_t i = 0; i < settings_.listeners.size(); ++i) {
    const ListenerSpec& l = settings_.listeners[i];
    if (l.transport == kind && l.address.v6 == v6) return i;
  }
  return std::nullopt;
}

std::string WorkerTransport::localHostPort(const Peer& peer) {
  std::uint32_t listener = peer.listener;
  if (listener >= settings_.listeners.size() || settings_.listeners[listener].transport != peer.transport ||
      settings_.listeners[listener].address.v6 != peer.address.v6) {
    auto l = listenerFor(peer.transport, peer.address.v6);
    if (!l) l = listenerFor(peer.transport == TransportKind::Udp ? TransportKind::Tcp : TransportKind::Udp, peer.address.v6);
    listener = l.value_or(0);
  }
  IpAddress local;
  std::uint16_t port = 5060;
  if (listener < settings_.listeners.size()) {
    local = settings_.listeners[listener].address;
    port = ports_[listener];
  }
  if (local.bytes == std::array<std::uint8_t, 16>{}) {
    // A wildcard listener: the address the kernel would send from to reach the peer (a connected
    // UDP socket sends nothing), cached per destination.
    auto it = sourceCache_.find(peer.address);
    if (it != sourceCache_.end()) {
      local = it->second;
    } else {
      boost::system::error_code ec;
      udp::socket probe(io_);
      udp::endpoint ep(toAsio(peer.address), 9);
      probe.open(ep.protocol(), ec);
      if (!ec) probe.connect(ep, ec);
      if (!ec) {
        udp::endpoint me = probe.local_endpoint(ec);
        if (!ec) local = toIpAddress(me.address());
      }
      if (sourceCache_.size() > 4096) sourceCache_.clear();
      sourceCache_.emplace(peer.address, local);
    }
  }
  std::string s = local.v6 ? "[" + local.toString() + "]" : local.toString();
  return s + ":" + std::to_string(port);
}

void WorkerTransport::connectionClosed(std::uint64_t id, const IpAddress& accounted, bool wasUp) {
  registry_.remove(id, accounted);
  // Told from the event loop: close() may run inside a send while a transaction is being set up.
  // Also while the server stops (its requests must not hold up the drain); what is posted after
  // the workers have stopped never runs.
  if (wasUp) asio::post(io_, [this, id] { handler_.onConnectionLost(id); });
  // An outbound connection is forgotten with it, so the table holds live destinations only.
  if (auto it = outboundKeys_.find(id); it != outboundKeys_.end()) {
    outbound_.erase(it->second);
    outboundKeys_.erase(it);
  }
  // Erase later: the connection may be inside one of its own handlers right now.
  asio::post(io_, [this, id] { connections_.erase(id); });
}

}  // namespace sipwarden::transport
