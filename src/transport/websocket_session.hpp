// WS and WSS connections (RFC 6455, SIP over WebSocket per RFC 7118), on Boost.Beast.
//
// A connection accepted on a WS/WSS listener goes through:
//   TLS handshake (WSS) -> HTTP request(s) -> WebSocket upgrade -> SIP messages, one per
//   WebSocket message, text or binary.
// A plain HTTP GET/HEAD on the same listener is answered from the web root (the web softphone),
// so that the page and its WebSocket share one origin and one certificate. The upgrade needs the
// "sip" subprotocol and an allowed Origin; Beast enforces the frame rules, the message size limit
// (close 1009) and answers pings; our side pings after half the idle timeout and closes a silent
// connection.
//
// This header is private to the two translation units that instantiate WsConnection, one per
// stream type (websocket_ws.cpp for WS, websocket_wss.cpp for WSS), so that the two Beast
// instantiations compile in parallel.
#pragma once

#include <boost/asio/compose.hpp>
#include <boost/asio/ssl/error.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/http.hpp>
#include <boost/beast/websocket.hpp>

#include <openssl/err.h>
#include <openssl/ssl.h>

#include <climits>

#include <optional>
#include <type_traits>

#include "transport/websocket_policy.hpp"
#include "transport/worker_transport.hpp"

namespace sipwarden::transport {

namespace asio = boost::asio;
namespace beast = boost::beast;
namespace http = beast::http;
namespace websocket = beast::websocket;
using asio::ip::tcp;

// ---------------------------------------------------------------------------------------------
// FdTlsStream: the TLS layer under Beast for WSS. OpenSSL runs directly on the socket's descriptor
// (SSL_set_fd) and a would-block becomes a readiness wait, as in StreamConnection: with
// SSL_MODE_RELEASE_BUFFERS an idle connection holds no TLS record buffers. (asio::ssl::stream keeps
// two 17 KiB buffers and a BIO pair per connection: about 60 KB more per idle WSS client.)
// Beast may have one read and one write outstanding at once; both run on the worker's thread, and
// each retries its own SSL call when the socket is ready.

class FdTlsStream {
 public:
  using executor_type = tcp::socket::executor_type;
  using next_layer_type = tcp::socket;

  /// Adopts `ssl` (freed with the stream).
  FdTlsStream(tcp::socket socket, SSL* ssl) : socket_(std::move(socket)), ssl_(ssl) {
    boost::system::error_code ec;
    socket_.non_blocking(true, ec);
    SSL_set_fd(ssl_, static_cast<int>(socket_.native_handle()));
    SSL_set_accept_state(ssl_);
  }
  ~FdTlsStream() { SSL_free(ssl_); }
  FdTlsStream(const FdTlsStream&) = delete;
  FdTlsStream& operator=(const FdTlsStream&) = delete;

  executor_type get_executor() noexcept { return socket_.get_executor(); }
  tcp::socket& next_layer() noexcept { return socket_; }
  SSL* native_handle() noexcept { return ssl_; }

  /// Sends close_notify (best effort, never waits) and closes the socket.
  void shutdownNow() {
    if (handshakeDone_ && socket_.is_open()) {
      ERR_clear_error();
      SSL_shutdown(ssl_);
      ERR_clear_error();
    }
    boost::system::error_code ec;
    socket_.shutdown(tcp::socket::shutdown_both, ec);
    socket_.close(ec);
  }

  template <class Handler>
  auto async_handshake(Handler&& handler) {
    return asio::async_compose<Handler, void(beast::error_code)>(HandshakeOp(*this), handler, socket_);
  }
  template <class Buffers, class Handler>
  auto async_read_some(const Buffers& buffers, Handler&& handler) {
    return asio::async_compose<Handler, void(beast::error_code, std::size_t)>(IoOp<Buffers, true>(*this, buffers),
                                                                               handler, socket_);
  }
  template <class Buffers, class Handler>
  auto async_write_some(const Buffers& buffers, Handler&& handler) {
    return asio::async_compose<Handler, void(beast::error_code, std::size_t)>(IoOp<Buffers, false>(*this, buffers),
                                                                               handler, socket_);
  }

 private:
  /// What an SSL call's failure means: wait for the socket (true, `wait` set) or an error.
  bool wouldBlock(int result, tcp::socket::wait_type& wait, beast::error_code& ec) const {
    int err = SSL_get_error(ssl_, result);
    if (err == SSL_ERROR_WANT_READ) {
      wait = tcp::socket::wait_read;
      return true;
    }
    if (err == SSL_ERROR_WANT_WRITE) {
      wait = tcp::socket::wait_write;
      return true;
    }
    if (err == SSL_ERROR_ZERO_RETURN) {
      ec = asio::error::eof;  // close_notify
    } else if (err == SSL_ERROR_SYSCALL && ERR_peek_error() == 0) {
      ec = errno != 0 && errno != EAGAIN ? beast::error_code(errno, boost::system::system_category())
                                         : beast::error_code(asio::ssl::error::stream_truncated);
    } else {
      unsigned long e = ERR_get_error();
      ec = e != 0 ? beast::error_code(static_cast<int>(e), asio::error::get_ssl_category())
                  : beast::error_code(asio::ssl::error::stream_truncated);
    }
    ERR_clear_error();
    return false;
  }

  // An operation that finishes on its first attempt must not call its handler from inside the
  // initiating function: it posts itself once and completes then.
  struct HandshakeOp {
    explicit HandshakeOp(FdTlsStream& stream) : s(stream) {}
    FdTlsStream& s;
    bool waited = false;
    bool finished = false;
    beast::error_code result;
    template <class Self>
    void operator()(Self& self, beast::error_code ec = {}) {
      if (finished) {
        self.complete(result);
        return;
      }
      if (ec) {
        self.complete(ec);
        return;
      }
      if (!s.socket_.is_open()) {  // closed under us: its descriptor number may belong to another socket now
        result = asio::error::bad_descriptor;
      } else {
        ERR_clear_error();
        int r = SSL_do_handshake(s.ssl_);
        tcp::socket::wait_type wait{};
        if (r != 1 && s.wouldBlock(r, wait, result)) {
          waited = true;
          s.socket_.async_wait(wait, std::move(self));
          return;
        }
        if (r == 1) s.handshakeDone_ = true;
      }
      if (waited) {
        self.complete(result);
        return;
      }
      finished = true;
      asio::post(s.socket_.get_executor(), std::move(self));
    }
  };

  template <class Buffers, bool Read>
  struct IoOp {
    IoOp(FdTlsStream& stream, const Buffers& b) : s(stream), buffers(b) {}
    FdTlsStream& s;
    Buffers buffers;
    bool waited = false;
    bool finished = false;
    beast::error_code result;
    std::size_t transferred = 0;
    template <class Self>
    void operator()(Self& self, beast::error_code ec = {}) {
      if (finished) {
        self.complete(result, transferred);
        return;
      }
      if (ec) {
        self.complete(ec, 0);
        return;
      }
      if (!s.socket_.is_open()) {  // closed under us: its descriptor number may belong to another socket now
        result = asio::error::bad_descriptor;
        if (waited) {
          self.complete(result, 0);
          return;
        }
        finished = true;
        asio::post(s.socket_.get_executor(), std::move(self));
        return;
      }
      // The first non-empty buffer of the sequence (SSL_read / SSL_write take one).
      void* data = nullptr;
      std::size_t size = 0;
      for (auto it = asio::buffer_sequence_begin(buffers); it != asio::buffer_sequence_end(buffers); ++it) {
        auto b = *it;
        if (b.size() != 0) {
          data = const_cast<void*>(static_cast<const void*>(b.data()));
          size = std::min<std::size_t>(b.size(), INT_MAX);
          break;
        }
      }
      if (size != 0) {
        ERR_clear_error();
        int r = Read ? SSL_read(s.ssl_, data, static_cast<int>(size)) : SSL_write(s.ssl_, data, static_cast<int>(size));
        tcp::socket::wait_type wait{};
        if (r > 0) {
          transferred = static_cast<std::size_t>(r);
        } else if (s.wouldBlock(r, wait, result)) {
          waited = true;
          s.socket_.async_wait(wait, std::move(self));
          return;
        }
      }
      if (waited) {
        self.complete(result, transferred);
        return;
      }
      finished = true;
      asio::post(s.socket_.get_executor(), std::move(self));
    }
  };

  tcp::socket socket_;
  SSL* ssl_;
  bool handshakeDone_ = false;
};

// Beast's closing handshake ends with a teardown of the layer below the WebSocket.
inline void teardown(beast::role_type, FdTlsStream& stream, beast::error_code& ec) {
  stream.shutdownNow();
  ec = {};
}

template <class TeardownHandler>
void async_teardown(beast::role_type, FdTlsStream& stream, TeardownHandler&& handler) {
  stream.shutdownNow();
  asio::post(stream.get_executor(), [h = std::forward<TeardownHandler>(handler)]() mutable { h(beast::error_code{}); });
}

using TlsSocket = FdTlsStream;

template <class NextLayer>
class WsConnection final : public Connection, public std::enable_shared_from_this<WsConnection<NextLayer>> {
  static constexpr bool kTls = std::is_same_v<NextLayer, TlsSocket>;

 public:
  template <class... Args>
  WsConnection(WorkerTransport& owner, Peer peer, std::shared_ptr<const TlsContextSet> contexts, Args&&... args)
      : owner_(owner),
        ws_(std::forward<Args>(args)...),
        deadline_(owner.io()),
        peer_(peer),
        contexts_(std::move(contexts)) {}

  void start() override {
    armDeadline(kHandshakeTimeout);
    if constexpr (kTls) {
      ws_.next_layer().async_handshake([self = this->shared_from_this()](const beast::error_code& ec) {
        self->onTlsHandshake(ec);
      });
    } else {
      readRequest();
    }
  }

  void write(std::string bytes) override {
    if (closed_ || !open_) return;
    if (queuedBytes_ + bytes.size() > kMaxQueuedBytes) {
      // A browser that does not read must not make the queue grow without bound.
      owner_.counters_.sendFailures++;
      close();
      return;
    }
    queuedBytes_ += bytes.size();
    queue_.push_back(std::move(bytes));
    if (!writing_) writeFront();
  }

  void close() override { closeWith(websocket::close_code::normal); }

  void closeForPolicy(std::string_view why) override {
    closeWith(websocket::close_reason(websocket::close_code::policy_error, why));
  }

  void closeForShutdown() override { closeWith(websocket::close_code::going_away); }

  bool writesPending() const override { return !closed_ && (writing_ || !queue_.empty()); }

  const TlsPeerIdentity* identity() const override { return identity_.get(); }
  const Peer& remote() const override { return peer_; }
  SSL* verifiedClientSession() override {
    if constexpr (kTls) {
      if (!closed_ && identity_ && identity_->verified) return ws_.next_layer().native_handle();
    }
    return nullptr;
  }

 private:
  static constexpr std::size_t kMaxQueuedBytes = 4 * 1024 * 1024;
  static constexpr auto kHandshakeTimeout = std::chrono::seconds(10);
  static constexpr auto kHttpIdleTimeout = std::chrono::seconds(30);
  static constexpr std::size_t kMaxFileSize = 16 * 1024 * 1024;

  void closeWith(const websocket::close_reason& reason) {
    if (closed_) return;
    closed_ = true;
    deadline_.cancel();
    owner_.connectionClosed(peer_.connectionId, peer_.address, opened_);
    if (open_) {
      // The closing handshake (1000, or 1008 for a peer no longer allowed), bounded by the
      // timeout option's handshake limit.
      ++owner_.webSocketsClosing_;
      ws_.async_close(reason, [self = this->shared_from_this()](const beast::error_code&) {
        --self->owner_.webSocketsClosing_;
        self->closeSocket();
      });
      return;
    }
    closeSocket();
  }

  void closeSocket() {
    beast::error_code ec;
    beast::get_lowest_layer(ws_).shutdown(tcp::socket::shutdown_both, ec);
    beast::get_lowest_layer(ws_).close(ec);
  }

  /// The deadline of the TLS handshake, of an HTTP request, and of an idle HTTP keep-alive
  /// connection. Once the WebSocket is open, Beast's own timeouts take over.
  void armDeadline(std::chrono::steady_clock::duration limit) {
    deadline_.expires_after(limit);
    deadline_.async_wait([self = this->shared_from_this()](const beast::error_code& ec) {
      if (ec || self->closed_ || self->open_) return;
      if (kTls && !self->tlsDone_) {
        self->owner_.counters_.tlsHandshakeFailures++;
        self->owner_.handler_.onTransportError(self->peer_, "TLS handshake not finished within 10 s with " +
                                                                self->peer_.toString());
      }
      self->close();
    });
  }

  void onTlsHandshake(const beast::error_code& ec) {
    if (closed_) return;
    if (ec) {
      owner_.counters_.tlsHandshakeFailures++;
      std::string why = ec.message();
      owner_.handler_.onTransportError(peer_, "TLS handshake with " + peer_.toString() + ": " + why);
      ERR_clear_error();
      close();
      return;
    }
    tlsDone_ = true;
    owner_.counters_.tlsHandshakes++;
    if constexpr (kTls) identity_ = peerIdentity(ws_.next_layer().native_handle());
    readRequest();
  }

  void readRequest() {
    parser_.emplace();
    parser_->header_limit(8 * 1024);
    parser_->body_limit(4 * 1024);
    http::async_read(ws_.next_layer(), httpBuffer_, *parser_,
                     [self = this->shared_from_this()](const beast::error_code& ec, std::size_t) {
                       self->onRequest(ec);
                     });
  }

  void onRequest(const beast::error_code& ec) {
    if (closed_) return;
    if (ec) {
      if (ec == http::error::header_limit || ec == http::error::body_limit || ec == http::error::buffer_overflow) {
        refuse(http::status::request_header_fields_too_large, "Request too large.\n");
      } else if (ec != http::error::end_of_stream && ec != asio::error::eof && ec != asio::error::operation_aborted &&
                 ec != asio::ssl::error::stream_truncated && ec != asio::error::connection_reset) {
        refuse(http::status::bad_request, "Malformed HTTP request.\n");
      } else {
        close();
      }
      return;
    }
    owner_.counters_.httpRequests++;
    http::request<http::string_body>& req = parser_->get();
    if (websocket::is_upgrade(req)) {
      upgrade(req);
    } else {
      serveFile(req);
    }
  }

  static bool offersSip(std::string_view header) {
    // Sec-WebSocket-Protocol: a comma-separated list of tokens (RFC 6455 §11.3.4).
    while (!header.empty()) {
      std::size_t comma = header.find(',');
      std::string_view token = header.substr(0, comma);
      while (!token.empty() && (token.front() == ' ' || token.front() == '\t')) token.remove_prefix(1);
      while (!token.empty() && (token.back() == ' ' || token.back() == '\t')) token.remove_suffix(1);
      if (token == "sip") return true;
      if (comma == std::string_view::npos) break;
      header.remove_prefix(comma + 1);
    }
    return false;
  }

  void upgrade(http::request<http::string_body>& req) {
    const WebSocketSettings& ws = owner_.settings_.websocket;
    if (!offersSip(req[http::field::sec_websocket_protocol])) {
      owner_.counters_.webSocketsRefused++;
      owner_.handler_.onTransportError(peer_, "WebSocket from " + peer_.toString() +
                                                  " refused: no \"sip\" subprotocol (RFC 7118)");
      refuse(http::status::bad_request,
             "This is a SIP WebSocket endpoint: the handshake must offer Sec-WebSocket-Protocol: sip (RFC 7118).\n");
      return;
    }
    std::string_view origin = req[http::field::origin];
    if (!originAllowed(origin, ws.allowedOrigins, ws.ownNames)) {
      owner_.counters_.webSocketsRefused++;
      owner_.handler_.onTransportError(peer_, "WebSocket from " + peer_.toString() + " refused: Origin \"" +
                                                  std::string(origin) +
                                                  "\" is not allowed (add it to [websocket] allowed_origins)");
      refuse(http::status::forbidden, "Origin not allowed.\n");
      return;
    }
    ws_.set_option(websocket::stream_base::decorator([server = ws.serverHeader](websocket::response_type& res) {
      res.set(http::field::sec_websocket_protocol, "sip");
      res.set(http::field::server, server);
    }));
    websocket::stream_base::timeout timeouts{};
    timeouts.handshake_timeout = kHandshakeTimeout;
    timeouts.idle_timeout = ws.idleTimeout;
    timeouts.keep_alive_pings = true;
    ws_.set_option(timeouts);
    ws_.read_message_max(owner_.settings_.limits.maxMessageSize);
    ws_.auto_fragment(false);
    deadline_.cancel();
    ws_.async_accept(req, [self = this->shared_from_this()](const beast::error_code& ec) { self->onAccepted(ec); });
  }

  void onAccepted(const beast::error_code& ec) {
    parser_.reset();
    httpBuffer_ = beast::flat_buffer(kHttpBufferLimit);
    if (closed_) return;
    if (ec) {
      close();
      return;
    }
    open_ = true;
    opened_ = true;
    owner_.counters_.webSocketsOpened++;
    read();
  }

  void read() {
    ws_.async_read(readBuffer_, [self = this->shared_from_this()](const beast::error_code& ec, std::size_t) {
      self->onRead(ec);
    });
  }

  void onRead(const beast::error_code& ec) {
    if (closed_) return;
    if (ec) {
      // The peer closed (or vanished, or went silent past the idle timeout), or broke the
      // protocol: Beast has already sent 1002 / 1009 where one was due.
      if (ec == websocket::error::message_too_big) owner_.counters_.invalid++;
      open_ = false;  // no closing handshake of our own
      close();
      return;
    }
    std::string_view bytes(static_cast<const char*>(readBuffer_.data().data()), readBuffer_.size());
    // RFC 7118 §5: each message is one SIP message; white space alone is a keep-alive.
    if (bytes.find_first_not_of("\r\n \t") != std::string_view::npos) {
      owner_.counters_.streamMessagesIn++;
      sip::Message& msg = owner_.scratch_;
      sip::ParseError err = sip::parseMessage(bytes, msg, owner_.settings_.limits, sip::Framing::Datagram);
      if (err) {
        owner_.counters_.invalid++;
        owner_.handler_.onInvalid(msg, err, peer_);
      } else {
        owner_.handler_.onMessage(msg, peer_);
      }
      msg.clear();
    }
    readBuffer_.consume(readBuffer_.size());
    if (readBuffer_.capacity() > 8192) readBuffer_.shrink_to_fit();  // an idle connection holds little
    if (!closed_) read();
  }

  void writeFront() {
    writing_ = true;
    const std::string& front = queue_.front();
    ws_.text(isUtf8(front));  // RFC 7118 §5: binary when the message is not valid UTF-8
    ws_.async_write(asio::buffer(front), [self = this->shared_from_this()](const beast::error_code& ec, std::size_t) {
      self->writing_ = false;
      if (self->queue_.empty()) return;
      self->queuedBytes_ -= self->queue_.front().size();
      self->queue_.pop_front();
      if (self->closed_) return;
      if (ec) {
        self->owner_.counters_.sendFailures++;
        self->open_ = false;
        self->close();
        return;
      }
      if (!self->queue_.empty()) self->writeFront();
    });
  }

  // ---- HTTP ------------------------------------------------------------------------------------

  template <class Body>
  void decorate(http::response<Body>& res) const {
    res.set(http::field::server, owner_.settings_.websocket.serverHeader);
    res.set("X-Content-Type-Options", "nosniff");
    res.set("X-Frame-Options", "DENY");
    res.set("Referrer-Policy", "no-referrer");
    res.set(http::field::cache_control, "no-cache");
  }

  /// Sends `res`; then reads the next request (keep-alive) or closes.
  template <class Body>
  void send(std::shared_ptr<http::response<Body>> res, bool keepAlive) {
    res->keep_alive(keepAlive);
    res->prepare_payload();
    armDeadline(kHttpIdleTimeout);
    http::async_write(ws_.next_layer(), *res,
                      [self = this->shared_from_this(), res, keepAlive](const beast::error_code& ec, std::size_t) {
                        if (self->closed_) return;
                        if (ec || !keepAlive) {
                          self->close();
                          return;
                        }
                        self->readRequest();
                      });
  }

  /// An error answer, and the connection closes after it.
  void refuse(http::status status, std::string_view text) {
    auto res = std::make_shared<http::response<http::string_body>>(status, 11);
    decorate(*res);
    res->set(http::field::content_type, "text/plain; charset=utf-8");
    res->body() = std::string(text);
    send(std::move(res), false);
  }

  void serveFile(const http::request<http::string_body>& req) {
    const WebSocketSettings& ws = owner_.settings_.websocket;
    const bool keepAlive = req.keep_alive();
    auto answer = [&](http::status status, std::string_view text) {
      auto res = std::make_shared<http::response<http::string_body>>(status, req.version());
      decorate(*res);
      res->set(http::field::content_type, "text/plain; charset=utf-8");
      if (status == http::status::method_not_allowed) res->set(http::field::allow, "GET, HEAD");
      if (status == http::status::upgrade_required) {
        res->set(http::field::upgrade, "websocket");
        res->set(http::field::connection, "Upgrade");
        res->set(http::field::sec_websocket_protocol, "sip");
      }
      if (req.method() != http::verb::head) res->body() = std::string(text);
      send(std::move(res), keepAlive);
    };
    if (req.method() != http::verb::get && req.method() != http::verb::head) {
      answer(http::status::method_not_allowed, "Only GET and HEAD.\n");
      return;
    }
    if (ws.webRoot.empty()) {
      answer(http::status::upgrade_required,
             "This is a SIP WebSocket endpoint (RFC 7118): open it with Sec-WebSocket-Protocol: sip.\n");
      return;
    }
    auto path = staticFilePath(ws.webRoot, req.target());
    if (!path) {
      answer(http::status::not_found, "Not found.\n");
      return;
    }
    beast::error_code ec;
    http::file_body::value_type file;
    std::error_code fsEc;
    if (std::filesystem::is_directory(*path, fsEc)) *path /= "index.html";
    file.open(path->c_str(), beast::file_mode::scan, ec);
    if (ec || file.size() > kMaxFileSize) {
      answer(http::status::not_found, "Not found.\n");
      return;
    }
    if (req.method() == http::verb::head) {
      auto res = std::make_shared<http::response<http::empty_body>>(http::status::ok, req.version());
      decorate(*res);
      res->set(http::field::content_type, contentTypeFor(*path));
      res->content_length(file.size());
      res->keep_alive(keepAlive);
      armDeadline(kHttpIdleTimeout);
      http::async_write(ws_.next_layer(), *res,
                        [self = this->shared_from_this(), res, keepAlive](const beast::error_code& wec, std::size_t) {
                          if (self->closed_) return;
                          if (wec || !keepAlive) {
                            self->close();
                            return;
                          }
                          self->readRequest();
                        });
      return;
    }
    auto res = std::make_shared<http::response<http::file_body>>(
        std::piecewise_construct, std::make_tuple(std::move(file)), std::make_tuple(http::status::ok, req.version()));
    decorate(*res);
    res->set(http::field::content_type, contentTypeFor(*path));
    send(std::move(res), keepAlive);
  }

  static constexpr std::size_t kHttpBufferLimit = 16 * 1024;

  WorkerTransport& owner_;
  websocket::stream<NextLayer> ws_;
  asio::steady_timer deadline_;
  Peer peer_;
  std::shared_ptr<const TlsContextSet> contexts_;  ///< keeps the SSL_CTX of a WSS connection alive
  std::unique_ptr<TlsPeerIdentity> identity_;
  beast::flat_buffer httpBuffer_{kHttpBufferLimit};
  std::optional<http::request_parser<http::string_body>> parser_;
  beast::flat_buffer readBuffer_;
  std::deque<std::string> queue_;
  std::size_t queuedBytes_ = 0;
  bool tlsDone_ = false;
  bool open_ = false;  ///< the WebSocket handshake is done and no close has been seen
  bool opened_ = false;  ///< the WebSocket handshake was done (it carried SIP)
  bool closed_ = false;
  bool writing_ = false;
};

/// A WS connection (websocket_ws.cpp).
std::shared_ptr<Connection> makeWsConnection(WorkerTransport& owner, const Peer& peer, tcp::socket socket);
/// A WSS connection; the stream adopts `ssl` (websocket_wss.cpp).
std::shared_ptr<Connection> makeWssConnection(WorkerTransport& owner, const Peer& peer, tcp::socket socket, SSL* ssl,
                                              std::shared_ptr<const TlsContextSet> contexts);

}  // namespace sipwarden::transport
