#include "transport/worker_transport.hpp"

#include <sys/socket.h>

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

std::uint64_t ConnectionRegistry::add(WorkerTransport* owner, const IpAddress& remote) {
  std::lock_guard lock(mutex_);
  std::uint64_t id = nextId_++;
  owners_.emplace(id, owner);
  ++perAddress_[remote];
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

std::uint32_t ConnectionRegistry::countFor(const IpAddress& remote) const {
  std::lock_guard lock(mutex_);
  auto it = perAddress_.find(remote);
  return it == perAddress_.end() ? 0 : it->second;
}

std::size_t ConnectionRegistry::size() const {
  std::lock_guard lock(mutex_);
  return owners_.size();
}

// ---------------------------------------------------------------------------------------------
// TcpConnection: one accepted stream. Lives on its worker; the shared_ptr is held by the worker's
// table and by pending asynchronous operations.

class TcpConnection : public std::enable_shared_from_this<TcpConnection> {
 public:
  TcpConnection(WorkerTransport& owner, tcp::socket socket, std::uint64_t id, Peer peer)
      : owner_(owner),
        socket_(std::move(socket)),
        idle_(owner.io()),
        framer_(owner.settings_.limits),
        id_(id),
        peer_(peer) {}

  void start() {
    touch();
    armIdle();
    read();
  }

  /// An outbound connection: queued writes wait until it is connected.
  void connect(const tcp::endpoint& remote) {
    connecting_ = true;
    socket_.async_connect(remote, [self = shared_from_this()](const boost::system::error_code& ec) {
      self->connecting_ = false;
      if (ec || self->closed_) {
        self->owner_.counters_.sendFailures++;
        self->close();
        return;
      }
      boost::system::error_code rec;
      self->socket_.set_option(tcp::no_delay(true), rec);
      self->start();
      if (!self->queue_.empty()) self->writeNext();
    });
  }

  void write(std::string bytes) {
    if (closed_) return;
    // A peer that sends but never reads must not make the queue grow without bound.
    if (queuedBytes_ + bytes.size() > kMaxQueuedBytes) {
      owner_.counters_.sendFailures++;
      close();
      return;
    }
    queuedBytes_ += bytes.size();
    queue_.push_back(std::move(bytes));
    if (queue_.size() == 1 && !connecting_) writeNext();
  }

  void close() {
    if (closed_) return;
    closed_ = true;
    boost::system::error_code ec;
    socket_.shutdown(tcp::socket::shutdown_both, ec);
    socket_.close(ec);
    idle_.cancel();
    owner_.connectionClosed(id_, peer_);
  }

  const Peer& peer() const { return peer_; }

  /// Stops reading and closes when the write queue is empty.
  void closeAfterWrites() {
    if (queue_.empty()) {
      close();
    } else {
      closing_ = true;
    }
  }

 private:
  void touch() { lastActivity_ = std::chrono::steady_clock::now(); }

  void armIdle() {
    idle_.expires_after(owner_.settings_.tcpIdleTimeout);
    idle_.async_wait([self = shared_from_this()](const boost::system::error_code& ec) {
      if (ec || self->closed_) return;
      auto idleFor = std::chrono::steady_clock::now() - self->lastActivity_;
      if (idleFor >= self->owner_.settings_.tcpIdleTimeout) {
        self->owner_.counters_.connectionsIdleClosed++;
        self->close();
        return;
      }
      self->armIdle();
    });
  }

  void read() {
    socket_.async_read_some(asio::buffer(buf_, sizeof buf_),
                            [self = shared_from_this()](const boost::system::error_code& ec, std::size_t n) {
                              if (ec) {
                                self->close();
                                return;
                              }
                              self->onBytes(n);
                            });
  }

  void onBytes(std::size_t n) {
    touch();
    framer_.feed(std::string_view(buf_, n));
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
          closeAfterWrites();
          return;
      }
      break;
    }
    msg.clear();
    if (!closed_ && !closing_) read();
  }

  void writeNext() {
    asio::async_write(socket_, asio::buffer(queue_.front()),
                      [self = shared_from_this()](const boost::system::error_code& ec, std::size_t) {
                        if (ec) {
                          self->owner_.counters_.sendFailures++;
                          self->close();
                          return;
                        }
                        self->queuedBytes_ -= self->queue_.front().size();
                        self->queue_.pop_front();
                        if (!self->queue_.empty() && !self->closed_) {
                          self->writeNext();
                        } else if (self->closing_) {
                          self->close();
                        }
                      });
  }

  WorkerTransport& owner_;
  tcp::socket socket_;
  asio::steady_timer idle_;
  sip::StreamFramer framer_;
  std::uint64_t id_;
  Peer peer_;
  static constexpr std::size_t kMaxQueuedBytes = 4 * 1024 * 1024;
  std::deque<std::string> queue_;
  std::size_t queuedBytes_ = 0;
  std::chrono::steady_clock::time_point lastActivity_;
  bool closed_ = false;
  bool closing_ = false;  ///< closes once the queued writes are out
  bool connecting_ = false;
  char buf_[16384];
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
    : io_(io), settings_(settings), registry_(registry), counters_(counters), handler_(handler) {
  udpByIndex_.resize(settings.listeners.size(), nullptr);
  ports_.resize(settings.listeners.size(), 0);
  for (std::uint32_t i = 0; i < settings.listeners.size(); ++i) {
    const ListenerSpec& spec = settings.listeners[i];
    try {
      if (spec.transport == TransportKind::Udp) {
        udp::endpoint ep(toAsio(spec.address), spec.port);
        auto l = std::make_unique<UdpListener>(UdpListener{udp::socket(io_), i, {}, std::make_unique<char[]>(65536)});
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
      } else if (spec.transport == TransportKind::Tcp) {
        tcp::endpoint ep(toAsio(spec.address), spec.port);
        auto l = std::make_unique<TcpListener>(TcpListener{tcp::acceptor(io_), i});
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
  for (auto& l : tcp_) l->acceptor.close(ec);
}

void WorkerTransport::closeAll() {
  auto conns = std::move(connections_);
  connections_.clear();
  for (auto& [id, c] : conns) c->close();
  boost::system::error_code ec;
  for (auto& l : udp_) l->socket.close(ec);
  for (auto& l : tcp_) l->acceptor.close(ec);
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
    if (!ec) {
      boost::system::error_code rec;
      tcp::endpoint remote = socket.remote_endpoint(rec);
      if (!rec) {
        IpAddress addr = toIpAddress(remote.address());
        if (registry_.countFor(addr) >= settings_.maxConnectionsPerAddress) {
          counters_.connectionsRejected++;
          socket.close(rec);
        } else {
          socket.set_option(tcp::no_delay(true), rec);
          counters_.connectionsAccepted++;
          Peer peer;
          peer.transport = TransportKind::Tcp;
          peer.address = addr;
          peer.port = remote.port();
          peer.listener = l.index;
          peer.connectionId = registry_.add(this, addr);
          auto conn = std::make_shared<TcpConnection>(*this, std::move(socket), peer.connectionId, peer);
          connections_.emplace(peer.connectionId, conn);
          conn->start();
        }
      }
    }
    accept(l);
  });
}

bool WorkerTransport::send(const Peer& to, std::string_view bytes) {
  if (to.transport == TransportKind::Udp) {
    if (to.listener >= udpByIndex_.size() || udpByIndex_[to.listener] == nullptr) return false;
    UdpListener& l = *udpByIndex_[to.listener];
    udp::endpoint ep(toAsio(to.address), to.port);
    if (l.socket.local_endpoint().protocol() != ep.protocol()) {
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
  if (to.connectionId == 0) return connectAndSend(to, bytes);
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

bool WorkerTransport::connectAndSend(const Peer& to, std::string_view bytes) {
  if (to.transport != TransportKind::Tcp || to.port == 0) {
    counters_.sendFailures++;
    return false;
  }
  // One outbound connection per destination and worker, reused while it lives.
  std::string key = to.hostPort();
  if (auto it = outbound_.find(key); it != outbound_.end()) return sendLocal(it->second, bytes);
  if (!accepting_ || registry_.countFor(to.address) >= settings_.maxConnectionsPerAddress) {
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
  Peer peer = to;
  peer.connectionId = registry_.add(this, to.address);
  auto conn = std::make_shared<TcpConnection>(*this, std::move(socket), peer.connectionId, peer);
  connections_.emplace(peer.connectionId, conn);
  outbound_[key] = peer.connectionId;
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

void WorkerTransport::connectionClosed(std::uint64_t id, const Peer& remote) {
  registry_.remove(id, remote.address);
  // An outbound connection is forgotten with it, so the table holds live destinations only.
  if (auto it = outbound_.find(remote.hostPort()); it != outbound_.end() && it->second == id) outbound_.erase(it);
  // Erase later: the connection may be inside one of its own handlers right now.
  asio::post(io_, [this, id] { connections_.erase(id); });
}

}  // namespace sipwarden::transport
