// The sockets of one worker thread: its own UDP socket and TCP acceptor for every configured
// listener (SO_REUSEPORT: the kernel spreads datagrams and connections over the workers' sockets,
// and a given source address keeps landing on the same worker), the TCP connections it accepted,
// and sending. Received bytes are framed and parsed here; whole messages go to a MessageHandler.
//
// Thread-safety: a WorkerTransport is used only on its worker's thread, except send(), which may
// be called from any thread for a connection owned by another worker (it posts the write there).
#pragma once

#include <atomic>
#include <boost/asio.hpp>
#include <chrono>
#include <cstdint>
#include <deque>
#include <filesystem>
#include <functional>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <unordered_map>
#include <vector>

#include "sip/message.hpp"
#include "sip/parse_error.hpp"
#include "sip/parser.hpp"
#include "sip/stream_framer.hpp"
#include "transport/peer.hpp"
#include "transport/tls_context.hpp"

namespace sipwarden::transport {

struct ListenerSpec {
  TransportKind transport = TransportKind::Udp;
  IpAddress address;
  std::uint16_t port = 5060;
  ClientCertMode clientCertificates = ClientCertMode::None;  ///< TLS listeners
  /// TCP/TLS: every connection starts with a PROXY protocol v1 or v2 header (from a load
  /// balancer) naming the client; a connection without one is refused.
  bool proxyProtocol = false;
};

/// The WebSocket listeners (RFC 7118) and the web pages they serve.
struct WebSocketSettings {
  /// Origins that may open a SIP WebSocket (see originAllowed()); empty: the server's own names.
  std::vector<std::string> allowedOrigins;
  /// The server's own names for the default Origin rule: domains, host name, listener addresses.
  std::vector<std::string> ownNames;
  /// Closed after this long without a frame from the client; a ping goes out after half of it.
  std::chrono::seconds idleTimeout{60};
  /// Static files served to plain HTTP(S) requests on WS/WSS listeners (the web softphone);
  /// empty: none (such requests get 426 Upgrade Required).
  std::filesystem::path webRoot;
  std::string serverHeader = "sipwarden";
};

struct TransportSettings {
  std::vector<ListenerSpec> listeners;
  WebSocketSettings websocket;
  /// The TLS contexts in use (needed when a TLS listener exists or TLS is sent); swapped on reload.
  TlsContextHolder* tls = nullptr;
  std::chrono::seconds tcpIdleTimeout{600};
  std::uint32_t maxConnectionsPerAddress = 256;
  /// The path MTU assumed for UDP (RFC 3261 §18.1.1): a request within 200 bytes of it goes over
  /// TCP instead. 0: requests never change transport for their size.
  std::uint32_t udpMtu = 1500;
  sip::Limits limits;
};

/// Receives what the transport parsed. Views in `msg` are valid only during the call.
class MessageHandler {
 public:
  virtual ~MessageHandler() = default;
  virtual void onMessage(sip::Message& msg, const Peer& from) = 0;
  /// A complete message that did not parse: `partial` holds what did (check canBuildResponse()).
  virtual void onInvalid(sip::Message& partial, const sip::ParseError& error, const Peer& from) = 0;
  /// A connection failed in a way worth a log line (a TLS handshake or server-name check).
  virtual void onTransportError(const Peer& /*peer*/, std::string_view /*what*/) {}
  /// A connection we opened to `to` closed before it could carry anything: the connect failed
  /// (refused, unreachable, timed out) or its TLS handshake did. What was queued on it is lost.
  virtual void onConnectFailed(const Peer& /*to*/) {}
  /// A connection that was up (handshakes done) has closed, for whatever reason; called from the
  /// event loop.
  virtual void onConnectionLost(std::uint64_t /*connectionId*/) {}
  /// Whether requests that came over the connection still wait for their final response: a
  /// client that shut down its sending side (EOF) keeps the connection open for them.
  virtual bool answersOwed(std::uint64_t /*connectionId*/) { return false; }
};

struct TransportCounters {
  std::atomic<std::uint64_t> datagramsIn{0}, datagramsOut{0}, streamMessagesIn{0}, bytesOut{0};
  std::atomic<std::uint64_t> invalid{0}, framingErrors{0}, connectionsAccepted{0}, connectionsRejected{0},
      connectionsIdleClosed{0}, sendFailures{0}, connectionsOpened{0}, tlsHandshakes{0}, tlsHandshakeFailures{0},
      proxyHeaderFailures{0}, webSocketsOpened{0}, webSocketsRefused{0}, httpRequests{0}, clientCertificatesRevoked{0},
      acceptErrors{0};
};

/// One connection of a worker: TCP, TLS, WS or WSS. Lives on its worker's thread.
class Connection {
 public:
  virtual ~Connection() = default;
  /// Accepted connections: starts the handshakes and reading.
  virtual void start() = 0;
  /// Queues one whole SIP message.
  virtual void write(std::string bytes) = 0;
  virtual void close() = 0;
  /// Closes a connection whose peer is no longer allowed (its client certificate was revoked): a
  /// WebSocket says so with close code 1008, policy violation (RFC 6455 §7.4.1); others just close.
  virtual void closeForPolicy(std::string_view /*why*/) { close(); }
  /// The server is stopping: a WebSocket says so with close code 1001, going away (RFC 6455
  /// §7.4.1); others just close.
  virtual void closeForShutdown() { close(); }
  /// Bytes accepted by write() and not yet on the wire (a graceful stop waits for them).
  [[nodiscard]] virtual bool writesPending() const = 0;
  /// The verified certificate of a TLS or WSS peer (nullptr: none).
  [[nodiscard]] virtual const TlsPeerIdentity* identity() const = 0;
  /// The TLS session of an accepted TLS or WSS connection whose client certificate verified when
  /// it was set up (nullptr otherwise): what a reload checks again.
  [[nodiscard]] virtual SSL* verifiedClientSession() { return nullptr; }
  [[nodiscard]] virtual const Peer& remote() const = 0;
};

class WorkerTransport;

/// Which worker owns a connection, and how many connections each remote address has open.
/// Shared by all workers; a mutex guards it (connections open and close far less often than
/// messages flow).
class ConnectionRegistry {
 public:
  /// Registers a connection with `remote` unless `remote` has `limit` open already (then 0: the
  /// check and the count are one step under the lock). Ids start at 1.
  std::uint64_t add(WorkerTransport* owner, const IpAddress& remote, std::uint32_t limit);
  void remove(std::uint64_t id, const IpAddress& remote);
  WorkerTransport* owner(std::uint64_t id) const;
  std::size_t size() const;

  struct AddressHash {
    std::size_t operator()(const IpAddress& a) const noexcept;
  };

 private:
  mutable std::mutex mutex_;
  std::uint64_t nextId_ = 1;
  std::unordered_map<std::uint64_t, WorkerTransport*> owners_;
  std::unordered_map<IpAddress, std::uint32_t, AddressHash> perAddress_;
};

class StreamConnection;
template <class NextLayer>
class WsConnection;

class WorkerTransport {
 public:
  /// Opens this worker's sockets (throws boost::system::system_error naming the listener when a
  /// bind fails).
  WorkerTransport(boost::asio::io_context& io, const TransportSettings& settings, ConnectionRegistry& registry,
                  TransportCounters& counters, MessageHandler& handler);
  ~WorkerTransport();
  WorkerTransport(const WorkerTransport&) = delete;
  WorkerTransport& operator=(const WorkerTransport&) = delete;

  /// Starts receiving and accepting.
  void start();
  /// Stops accepting new connections (graceful shutdown, first step). The UDP sockets stay open:
  /// requests still get their 503 and transactions their retransmissions until the workers stop.
  void stopAccepting();
  /// Closes every connection.
  void closeAll();
  /// After a TLS reload: every accepted TLS or WSS connection whose client certificate verified is
  /// checked again against `set` (its CAs, CRLs and flags); one that fails now (revoked, expired,
  /// no longer trusted) is closed with a log line. Returns how many were closed.
  std::size_t recheckClientCertificates(const std::shared_ptr<const TlsContextSet>& set);

  /// Sends `bytes` to `to`: UDP from the socket of listener `to.listener`; connection transports
  /// on connection `to.connectionId` (posted to its worker when another worker owns it). Returns
  /// false when it cannot be sent (no such listener, connection gone, socket error).
  bool send(const Peer& to, std::string_view bytes);
  /// As send(); a new outgoing TLS connection checks that the server's certificate names
  /// `serverName` (RFC 5922; empty: its IP address).
  bool send(const Peer& to, std::string_view bytes, std::string_view serverName);

  /// The certificate the peer of a TLS connection owned by this worker presented (nullptr: none,
  /// not TLS, or the connection is gone). Valid until control returns to the worker's loop.
  const TlsPeerIdentity* peerIdentity(std::uint64_t connectionId) const;

  /// Our address as `peer` reaches it ("192.0.2.1:5060", "[2001:db8::1]:5060"): the listener's
  /// address, or for a wildcard listener the source address the kernel picks for the peer.
  std::string localHostPort(const Peer& peer);
  /// The first listener of `kind` for the address family; nullopt when there is none.
  std::optional<std::uint32_t> listenerFor(TransportKind kind, bool v6) const;
  const std::vector<ListenerSpec>& listeners() const { return settings_.listeners; }

  /// The local port of a listener (useful with port 0 in tests).
  std::uint16_t localPort(std::size_t listener) const;
  boost::asio::io_context& io() { return io_; }
  std::size_t connectionCount() const { return connections_.size(); }
  /// Connections with bytes still to write.
  [[nodiscard]] std::size_t connectionsWritingOut() const;
  /// The server is stopping: every connection closes (closeForShutdown).
  void closeForShutdown();
  /// WebSockets whose closing handshake is still under way (a graceful stop lets it finish).
  [[nodiscard]] std::size_t webSocketsClosing() const { return webSocketsClosing_; }

 private:
  friend class StreamConnection;
  template <class NextLayer>
  friend class WsConnection;
  struct UdpListener {
    boost::asio::ip::udp::socket socket;
    std::uint32_t index;
    boost::asio::ip::udp::endpoint sender;
    std::unique_ptr<char[]> buffer;
    bool v6 = false;  ///< the socket's family, known without a getsockname() per send
  };
  struct TcpListener {
    boost::asio::ip::tcp::acceptor acceptor;
    std::uint32_t index;
    boost::asio::steady_timer retry;  ///< the next accept after a failed one (no descriptor left)
  };

  void receiveUdp(UdpListener& l);
  void onDatagram(UdpListener& l, std::size_t size);
  void accept(TcpListener& l);
  /// A new WS or WSS connection (websocket_ws.cpp).
  std::shared_ptr<Connection> makeWebSocket(boost::asio::ip::tcp::socket socket, const Peer& peer, SSL* ssl,
                                            std::shared_ptr<const TlsContextSet> contexts);
  bool sendLocal(std::uint64_t connectionId, std::string_view bytes);
  /// TCP to a destination without a connection: reuses this worker's outbound connection to it,
  /// or opens one (the bytes wait until it is connected).
  bool connectAndSend(const Peer& to, std::string_view bytes, std::string_view serverName);
  /// `accounted`: the address the connection was counted under in the registry.
  /// `wasUp`: the connection had been up (handshakes done), so its loss is reported (onConnectionLost).
  void connectionClosed(std::uint64_t id, const IpAddress& accounted, bool wasUp);

  boost::asio::io_context& io_;
  const TransportSettings& settings_;
  ConnectionRegistry& registry_;
  TransportCounters& counters_;
  MessageHandler& handler_;
  std::vector<std::unique_ptr<UdpListener>> udp_;
  std::vector<std::unique_ptr<TcpListener>> tcp_;
  std::vector<UdpListener*> udpByIndex_;
  std::vector<std::uint16_t> ports_;
  std::unordered_map<std::uint64_t, std::shared_ptr<Connection>> connections_;
  std::size_t webSocketsClosing_ = 0;
  std::unordered_map<std::string, std::uint64_t> outbound_;  ///< "TCP:host:port" -> connection we opened
  std::unordered_map<std::uint64_t, std::string> outboundKeys_;  ///< the reverse, to forget closed ones
  std::unordered_map<IpAddress, IpAddress, ConnectionRegistry::AddressHash> sourceCache_;
  sip::Message scratch_;
  static constexpr std::size_t kReadBufferSize = 65536;
  std::unique_ptr<char[]> readBuffer_;  ///< every connection of this worker reads into it
  bool accepting_ = true;
};

/// Converts between Asio endpoints and the Peer value.
IpAddress toIpAddress(const boost::asio::ip::address& a);
boost::asio::ip::address toAsio(const IpAddress& a);

}  // namespace sipwarden::transport
