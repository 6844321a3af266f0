// The load client's sockets: a UDP socket, and TCP/TLS/WS/WSS connections (opened by the client,
// or accepted by the uas). Streams work as the server's transports do (src/transport/
// worker_transport.cpp): non-blocking sockets driven by readiness waits, OpenSSL straight on the
// file descriptor with SSL_MODE_RELEASE_BUFFERS, bytes read into one buffer per thread and framed
// by sip::StreamFramer, so that 10,000 idle client connections stay small too. Each message is
// written when it is sent (one TLS record each, as SIPp does); with `coalesce`, what one turn of the
// event loop sends is gathered into one write.
//
// WS/WSS (RFC 6455 client side, RFC 7118): after TCP (and TLS) the link sends the HTTP upgrade with
// `Sec-WebSocket-Protocol: sip`, checks the 101 (Sec-WebSocket-Accept, the sip subprotocol), and
// only then reports ready. Each SIP message goes out as one masked text frame; each WebSocket
// message that arrives (fragments joined) is parsed as one SIP message; pings are answered with
// pongs; a close frame is answered and reported with its status code. The framing is written here
// rather than taken from Boost.Beast: a beast::websocket::stream over asio::ssl::stream holds two
// 17 KiB TLS record buffers, Beast's read and write buffers and a timer for every connection (see
// bench/RESULTS.md, issue 6, for the measured difference), and the load client has to hold 100,000
// of them beside the server on one machine. A WebSocket link adds one pointer to a StreamLink and
// a small state while open; its buffers are empty and released between messages.
//
// Thread-safety: a link and its handler live on one io_context thread.
#pragma once

#include <boost/asio.hpp>
#include <chrono>
#include <cstdint>
#include <memory>
#include <string>
#include <string_view>

#include "options.hpp"
#include "sip/message.hpp"
#include "sip/parser.hpp"
#include "sip/stream_framer.hpp"

typedef struct ssl_st SSL;
typedef struct ssl_ctx_st SSL_CTX;

namespace sipwarden::loadclient {

namespace asio = boost::asio;
using tcp = asio::ip::tcp;
using udp = asio::ip::udp;
using Clock = std::chrono::steady_clock;

/// The client and (for the uas) server TLS contexts. Full handshakes only: no session tickets
/// and no session cache, so "a new TLS connection per call" means a full handshake per call.
class TlsContexts {
 public:
  explicit TlsContexts(const Options& o);  ///< throws std::runtime_error naming the file or setting
  ~TlsContexts();
  TlsContexts(const TlsContexts&) = delete;
  TlsContexts& operator=(const TlsContexts&) = delete;

  SSL* newClient() const;  ///< with SNI and, given --tls-ca, name verification
  SSL* newServer() const;  ///< nullptr when no certificate was given

 private:
  SSL_CTX* client_ = nullptr;
  SSL_CTX* server_ = nullptr;
  std::string serverName_;
  bool verify_ = false;
};

/// OpenSSL's reason for the last failure on this thread ("" when it has none).
std::string lastTlsError();

class Link;

/// What a link reports to its owner (the engine).
class LinkHandler {
 public:
  virtual ~LinkHandler() = default;
  /// A stream is connected (and the TLS handshake done).
  virtual void onReady(Link& link) = 0;
  /// A whole message. `from`: the sender of a datagram (nullptr on streams). Views are valid
  /// during the call only.
  virtual void onMessage(Link& link, sip::Message& msg, const udp::endpoint* from) = 0;
  /// A message that did not parse or frame.
  virtual void onInvalid(Link& link, std::string_view what) = 0;
  /// The link closed for a reason other than close() by the owner.
  virtual void onClosed(Link& link, std::string_view reason) = 0;
};

/// Per-thread state every link of an engine shares.
struct LinkShared {
  LinkShared(asio::io_context& i, LinkHandler& h, const TlsContexts* t) : io(i), handler(h), tls(t) {}
  asio::io_context& io;
  LinkHandler& handler;
  const TlsContexts* tls = nullptr;
  sip::Limits limits;
  static constexpr std::size_t kReadBufferSize = 65536;
  std::unique_ptr<char[]> readBuffer{new char[kReadBufferSize]};
  sip::Message scratch;
  // WebSocket: the upgrade request's target, Host and Origin (empty: no Origin header).
  std::string wsPath = "/", wsHost, wsOrigin;
  std::uint64_t wsRandom = 0x9e3779b97f4a7c15ULL;  ///< xorshift state for keys and masks (seeded per run)
  std::uint64_t wsPings = 0, wsPongs = 0;  ///< pings answered, unsolicited pongs
  /// Release the write buffer after every complete write (many idle connections: no buffer kept).
  bool lean = false;
  int socketBuffer = 4 * 1024 * 1024;  ///< SO_SNDBUF/SO_RCVBUF of UDP sockets, as SIPp -buff_size
  bool coalesce = false;  ///< streams: one write per turn of the event loop instead of one per message
};

class Link : public std::enable_shared_from_this<Link> {
 public:
  virtual ~Link() = default;
  /// Queues `bytes` to the server (stream: this connection; UDP: the server's address). False when
  /// the link is closed or the datagram could not be sent.
  virtual bool send(std::string_view bytes) = 0;
  /// Answers a message that arrived on this link (`from`: its sender on UDP).
  virtual bool reply(std::string_view bytes, const udp::endpoint* from) = 0;
  /// Closes the link without reporting onClosed (TLS: close_notify first).
  virtual void close() = 0;
  [[nodiscard]] virtual bool ready() const = 0;
  [[nodiscard]] virtual bool closed() const = 0;
  [[nodiscard]] std::uint16_t localPort() const { return localPort_; }
  [[nodiscard]] Transport transport() const { return transport_; }

  /// For the owner: which call uses this link (connection per call), or which slot it fills.
  std::uint64_t ownerTag = 0;
  Clock::time_point opened{};  ///< when the connection was started
  Clock::time_point readyAt{};  ///< when it became ready

 protected:
  explicit Link(Transport t) : transport_(t) {}
  Transport transport_;
  std::uint16_t localPort_ = 0;
};

/// One TCP or TLS connection.
class StreamLink final : public Link {
 public:
  /// An outgoing connection to `remote` (from `localIp`, an ephemeral port); start with connect().
  StreamLink(LinkShared& shared, Transport t, tcp::socket socket);
  ~StreamLink() override;

  void connect(const tcp::endpoint& remote);
  /// As connect(), from `local` (port 0: the kernel picks the port when connecting,
  /// IP_BIND_ADDRESS_NO_PORT, so that one source address serves many servers' ports).
  void connectFrom(const asio::ip::address& local, const tcp::endpoint& remote);
  /// An accepted connection: handshake (TLS), then read.
  void startAccepted();

  bool send(std::string_view bytes) override;
  bool reply(std::string_view bytes, const udp::endpoint*) override { return send(bytes); }
  void close() override;
  [[nodiscard]] bool ready() const override { return ready_; }
  [[nodiscard]] bool closed() const override { return closed_; }

 private:
  void fail(std::string reason);
  void pump();
  bool handshake();
  bool flush();
  void readAvailable();
  bool onBytes(std::string_view bytes);
  void waitRead();
  void waitWrite();
  void scheduleFlush();
  void becomeReady();

  // WebSocket (RFC 6455, client side).
  struct WsState;
  void wsStartUpgrade();
  bool wsOnBytes(std::string_view bytes);
  bool wsFrames(std::string_view data, std::size_t& pos);
  void wsDeliver(std::string_view message);
  void wsSendFrame(unsigned opcode, std::string_view payload);
  void wsProtocolError(std::uint16_t code, const std::string& why);
  std::uint32_t wsMask();

  LinkShared& shared_;
  tcp::socket socket_;
  sip::StreamFramer framer_;
  std::unique_ptr<WsState> ws_;  ///< WS/WSS only
  SSL* ssl_ = nullptr;
  std::string out_;  ///< bytes not yet written, from outOffset_
  std::size_t outOffset_ = 0;
  bool connecting_ = false;
  bool ready_ = false;
  bool closed_ = false;
  bool waitingRead_ = false;
  bool waitingWrite_ = false;
  bool flushPosted_ = false;
};

/// One UDP socket: a client's (to the server) or the uas's (bound to its port).
class UdpLink final : public Link {
 public:
  /// Binds localIp:localPort (0: any free port). Throws boost::system::system_error.
  UdpLink(LinkShared& shared, const udp::endpoint& local, const udp::endpoint& server);
  void start();

  bool send(std::string_view bytes) override;
  bool reply(std::string_view bytes, const udp::endpoint* from) override;
  void close() override;
  [[nodiscard]] bool ready() const override { return !closed_; }
  [[nodiscard]] bool closed() const override { return closed_; }
  std::uint64_t sendErrors = 0;

 private:
  void receive();
  void onDatagram(std::size_t n);

  LinkShared& shared_;
  udp::socket socket_;
  udp::endpoint server_;
  udp::endpoint sender_;
  std::unique_ptr<char[]> buffer_{new char[65536]};
  bool closed_ = false;
};

}  // namespace sipwarden::loadclient
