#include "links.hpp"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/ssl.h>
#include <openssl/x509v3.h>

#include <algorithm>
#include <cstring>
#include <stdexcept>

namespace sipwarden::loadclient {

std::string lastTlsError() {
  unsigned long e = ERR_get_error();
  std::string out;
  while (e != 0) {
    char buf[256];
    ERR_error_string_n(e, buf, sizeof buf);
    const char* reason = ERR_reason_error_string(e);
    out = reason != nullptr ? reason : buf;  // the last one is usually the most specific
    e = ERR_get_error();
  }
  return out;
}

namespace {

void setVersions(SSL_CTX* ctx, const std::string& v) {
  int lo = TLS1_2_VERSION, hi = 0;
  if (v == "1.2") hi = TLS1_2_VERSION;
  if (v == "1.3") lo = hi = TLS1_3_VERSION;
  SSL_CTX_set_min_proto_version(ctx, lo);
  SSL_CTX_set_max_proto_version(ctx, hi);
}

[[noreturn]] void fail(const std::string& what) {
  std::string why = lastTlsError();
  throw std::runtime_error(what + (why.empty() ? "" : ": " + why));
}

}  // namespace

TlsContexts::TlsContexts(const Options& o) : serverName_(o.tlsServerName), verify_(!o.tlsCa.empty()) {
  client_ = SSL_CTX_new(TLS_client_method());
  if (client_ == nullptr) fail("SSL_CTX_new");
  setVersions(client_, o.tlsVersion);
  SSL_CTX_set_mode(client_, SSL_MODE_RELEASE_BUFFERS | SSL_MODE_ENABLE_PARTIAL_WRITE |
                                SSL_MODE_ACCEPT_MOVING_WRITE_BUFFER);
  SSL_CTX_set_options(client_, SSL_OP_NO_TICKET | SSL_OP_NO_COMPRESSION | SSL_OP_NO_RENEGOTIATION);
  SSL_CTX_set_session_cache_mode(client_, SSL_SESS_CACHE_OFF);
  SSL_CTX_set_read_ahead(client_, 1);  // one read() per burst, not two per record (as the server)
  if (verify_) {
    if (SSL_CTX_load_verify_locations(client_, o.tlsCa.c_str(), nullptr) != 1) fail("--tls-ca " + o.tlsCa);
    SSL_CTX_set_verify(client_, SSL_VERIFY_PEER, nullptr);
  } else {
    SSL_CTX_set_verify(client_, SSL_VERIFY_NONE, nullptr);
  }
  bool clientCert = o.mode != Mode::Uas && !o.tlsCert.empty();
  if (clientCert || o.mode == Mode::Uas) {
    SSL_CTX* ctx = nullptr;
    if (o.mode == Mode::Uas) {
      server_ = SSL_CTX_new(TLS_server_method());
      if (server_ == nullptr) fail("SSL_CTX_new");
      setVersions(server_, "any");
      SSL_CTX_set_mode(server_, SSL_MODE_RELEASE_BUFFERS | SSL_MODE_ENABLE_PARTIAL_WRITE |
                                    SSL_MODE_ACCEPT_MOVING_WRITE_BUFFER);
      SSL_CTX_set_options(server_, SSL_OP_NO_TICKET | SSL_OP_NO_COMPRESSION | SSL_OP_NO_RENEGOTIATION);
      SSL_CTX_set_session_cache_mode(server_, SSL_SESS_CACHE_OFF);
      SSL_CTX_set_read_ahead(server_, 1);
      ctx = server_;
    } else {
      ctx = client_;
    }
    if (!o.tlsCert.empty()) {
      if (SSL_CTX_use_certificate_chain_file(ctx, o.tlsCert.c_str()) != 1) fail("--tls-cert " + o.tlsCert);
      if (SSL_CTX_use_PrivateKey_file(ctx, o.tlsKey.c_str(), SSL_FILETYPE_PEM) != 1) fail("--tls-key " + o.tlsKey);
      if (SSL_CTX_check_private_key(ctx) != 1) fail("--tls-key does not match --tls-cert");
    }
  }
}

TlsContexts::~TlsContexts() {
  SSL_CTX_free(client_);
  SSL_CTX_free(server_);
}

SSL* TlsContexts::newClient() const {
  SSL* ssl = SSL_new(client_);
  if (ssl == nullptr) return nullptr;
  in_addr a4{};
  in6_addr a6{};
  bool numeric = inet_pton(AF_INET, serverName_.c_str(), &a4) == 1 || inet_pton(AF_INET6, serverName_.c_str(), &a6) == 1;
  if (!numeric) SSL_set_tlsext_host_name(ssl, serverName_.c_str());  // RFC 6066: no IP literals in SNI
  if (verify_) {
    X509_VERIFY_PARAM* p = SSL_get0_param(ssl);
    if (numeric) {
      X509_VERIFY_PARAM_set1_ip_asc(p, serverName_.c_str());
    } else {
      X509_VERIFY_PARAM_set_hostflags(p, X509_CHECK_FLAG_NO_PARTIAL_WILDCARDS);
      X509_VERIFY_PARAM_set1_host(p, serverName_.c_str(), 0);
    }
  }
  return ssl;
}

SSL* TlsContexts::newServer() const { return server_ != nullptr ? SSL_new(server_) : nullptr; }

// ---------------------------------------------------------------------------------------------
// StreamLink

struct StreamLink::WsState {
  std::string key;      ///< Sec-WebSocket-Key while the upgrade is in progress
  std::string in;       ///< bytes of an incomplete frame (or of the 101's head)
  std::string message;  ///< the fragments of a message not yet complete
  bool requestSent = false, upgraded = false, closeSent = false, inMessage = false;
};

namespace {

constexpr std::size_t kWsMaxMessage = 64 * 1024;  // as sip::Limits::maxMessageSize
constexpr std::size_t kWsMaxHead = 16 * 1024;     // the 101's header section

std::string base64(const unsigned char* data, std::size_t n) {
  std::string out(4 * ((n + 2) / 3) + 1, '\0');
  int len = EVP_EncodeBlock(reinterpret_cast<unsigned char*>(out.data()), data, static_cast<int>(n));
  out.resize(static_cast<std::size_t>(std::max(len, 0)));
  return out;
}

/// RFC 6455 §4.2.2: base64(SHA-1(key + GUID)).
std::string wsAcceptFor(std::string_view key) {
  std::string in(key);
  in += "258EAFA5-E914-47DA-95CA-C5AB0DC85B11";
  unsigned char md[EVP_MAX_MD_SIZE];
  unsigned int len = 0;
  EVP_Digest(in.data(), in.size(), md, &len, EVP_sha1(), nullptr);
  return base64(md, len);
}

bool iequals(std::string_view a, std::string_view b) {
  return a.size() == b.size() && std::equal(a.begin(), a.end(), b.begin(), [](char x, char y) {
           return std::tolower(static_cast<unsigned char>(x)) == std::tolower(static_cast<unsigned char>(y));
         });
}

/// Whether the comma-separated `list` holds `token` (case-insensitive).
bool hasToken(std::string_view list, std::string_view token) {
  while (!list.empty()) {
    auto comma = list.find(',');
    std::string_view item = list.substr(0, comma);
    while (!item.empty() && (item.front() == ' ' || item.front() == '\t')) item.remove_prefix(1);
    while (!item.empty() && (item.back() == ' ' || item.back() == '\t')) item.remove_suffix(1);
    if (iequals(item, token)) return true;
    if (comma == std::string_view::npos) break;
    list.remove_prefix(comma + 1);
  }
  return false;
}

/// Checks the server's answer to the upgrade (RFC 6455 §4.1, the client's checks; RFC 7118 §4.1:
/// the server must have selected "sip"). "" when it is right, else why not.
std::string checkUpgradeResponse(std::string_view head, std::string_view key) {
  auto eol = head.find("\r\n");
  std::string_view status = head.substr(0, eol);
  if (status.size() < 12 || status.substr(0, 5) != "HTTP/" || status.substr(8, 4) != " 101") {
    return "HTTP answer \"" + std::string(status.substr(0, 120)) + "\" instead of 101";
  }
  bool upgrade = false, connection = false, protocol = false;
  std::string accept;
  std::string_view rest = head.substr(eol + 2);
  while (!rest.empty()) {
    auto e = rest.find("\r\n");
    std::string_view line = rest.substr(0, e);
    rest = e == std::string_view::npos ? std::string_view{} : rest.substr(e + 2);
    auto colon = line.find(':');
    if (colon == std::string_view::npos) continue;
    std::string_view name = line.substr(0, colon), value = line.substr(colon + 1);
    while (!value.empty() && (value.front() == ' ' || value.front() == '\t')) value.remove_prefix(1);
    while (!value.empty() && (value.back() == ' ' || value.back() == '\t')) value.remove_suffix(1);
    if (iequals(name, "Upgrade")) upgrade = iequals(value, "websocket");
    else if (iequals(name, "Connection")) connection = hasToken(value, "upgrade");
    else if (iequals(name, "Sec-WebSocket-Accept")) accept = value;
    else if (iequals(name, "Sec-WebSocket-Protocol")) protocol = value == "sip";
  }
  if (!upgrade) return "101 without Upgrade: websocket";
  if (!connection) return "101 without Connection: Upgrade";
  if (accept != wsAcceptFor(key)) return "101 with a wrong Sec-WebSocket-Accept";
  if (!protocol) return "101 without Sec-WebSocket-Protocol: sip";
  return {};
}

}  // namespace

StreamLink::StreamLink(LinkShared& shared, Transport t, tcp::socket socket)
    : Link(t), shared_(shared), socket_(std::move(socket)), framer_(shared.limits) {
  opened = Clock::now();
  if (isWebSocket(t)) ws_ = std::make_unique<WsState>();
}

StreamLink::~StreamLink() {
  if (ssl_ != nullptr) SSL_free(ssl_);
}

void StreamLink::connect(const tcp::endpoint& remote) {
  connecting_ = true;
  socket_.async_connect(remote, [self = std::static_pointer_cast<StreamLink>(shared_from_this())](
                                    const boost::system::error_code& ec) {
    self->connecting_ = false;
    if (self->closed_) return;
    if (ec) {
      self->fail("connect: " + ec.message());
      return;
    }
    boost::system::error_code rec;
    self->socket_.set_option(tcp::no_delay(true), rec);
    self->socket_.non_blocking(true, rec);
    auto local = self->socket_.local_endpoint(rec);
    if (!rec) self->localPort_ = local.port();
    if (usesTls(self->transport_)) {
      self->ssl_ = self->shared_.tls->newClient();
      if (self->ssl_ == nullptr) {
        self->fail("SSL_new: " + lastTlsError());
        return;
      }
      SSL_set_fd(self->ssl_, static_cast<int>(self->socket_.native_handle()));
      SSL_set_connect_state(self->ssl_);
    }
    self->pump();
  });
}

void StreamLink::connectFrom(const asio::ip::address& local, const tcp::endpoint& remote) {
  boost::system::error_code ec;
  int one = 1;
  // The port is chosen at connect(), per destination, instead of at bind(): without this every
  // source address would give at most one ephemeral port range of connections in all.
  ::setsockopt(static_cast<int>(socket_.native_handle()), IPPROTO_IP, IP_BIND_ADDRESS_NO_PORT, &one, sizeof one);
  socket_.bind(tcp::endpoint(local, 0), ec);
  if (ec) {
    auto self = shared_from_this();
    asio::post(shared_.io, [self, why = "bind " + local.to_string() + ": " + ec.message()] {
      std::static_pointer_cast<StreamLink>(self)->fail(why);
    });
    return;
  }
  connect(remote);
}

void StreamLink::startAccepted() {
  boost::system::error_code ec;
  socket_.set_option(tcp::no_delay(true), ec);
  socket_.non_blocking(true, ec);
  auto local = socket_.local_endpoint(ec);
  if (!ec) localPort_ = local.port();
  if (usesTls(transport_)) {
    ssl_ = shared_.tls->newServer();
    if (ssl_ == nullptr) {
      fail("SSL_new: " + lastTlsError());
      return;
    }
    SSL_set_fd(ssl_, static_cast<int>(socket_.native_handle()));
    SSL_set_accept_state(ssl_);
  }
  pump();
}

bool StreamLink::send(std::string_view bytes) {
  if (closed_) return false;
  if (ws_) {
    if (!ws_->upgraded) return false;
    wsSendFrame(0x1, bytes);  // one SIP message, one text frame (RFC 7118 §5.2)
  } else {
    out_.append(bytes);
  }
  if (!shared_.coalesce && ready_ && !waitingWrite_ && !flushPosted_) {
    // A failed write closes and reports the link, and its owner may drop it: keep it alive here.
    auto self = shared_from_this();
    flush();
    return true;
  }
  scheduleFlush();
  return true;
}

void StreamLink::scheduleFlush() {
  if (!ready_ || waitingWrite_ || flushPosted_ || closed_) return;
  flushPosted_ = true;
  asio::post(shared_.io, [self = std::static_pointer_cast<StreamLink>(shared_from_this())] {
    self->flushPosted_ = false;
    if (!self->closed_ && !self->waitingWrite_) self->flush();
  });
}

void StreamLink::close() {
  if (closed_) return;
  closed_ = true;
  ready_ = false;
  if (ws_ && ws_->upgraded && !ws_->closeSent) {
    // RFC 6455 §5.5.1: a close frame (1000, normal closure) before the TCP close; best effort,
    // after whatever is still queued, without waiting for the server's close frame.
    ws_->closeSent = true;
    wsSendFrame(0x8, std::string_view("\x03\xe8", 2));
    flush();  // closed_ is set: a failure here reports nothing and waits for nothing
  }
  if (ssl_ != nullptr && SSL_is_init_finished(ssl_)) {
    SSL_shutdown(ssl_);  // close_notify, best effort; not waiting for the peer's
  }
  ERR_clear_error();
  boost::system::error_code ec;
  socket_.shutdown(tcp::socket::shutdown_both, ec);
  socket_.close(ec);
  out_.clear();
  out_.shrink_to_fit();
}

void StreamLink::fail(std::string reason) {
  if (closed_) return;
  close();
  shared_.handler.onClosed(*this, reason);
}

void StreamLink::becomeReady() {
  ready_ = true;
  readyAt = Clock::now();
  shared_.handler.onReady(*this);
}

void StreamLink::pump() {
  if (closed_ || connecting_) return;
  if (!ready_) {
    if (ssl_ != nullptr && !handshake()) return;
    if (ws_ && !ws_->upgraded) {
      if (!ws_->requestSent) wsStartUpgrade();
      flush();
      if (closed_) return;
      readAvailable();  // the 101 makes the link ready (wsOnBytes)
      return;
    }
    becomeReady();
    if (closed_) return;
  }
  // Read even while a write waits for room: a client that stops reading because the server is
  // slow to read deadlocks with a server that stops reading while its answers cannot be written.
  flush();
  if (closed_) return;
  readAvailable();
}

bool StreamLink::handshake() {
  ERR_clear_error();
  int r = SSL_do_handshake(ssl_);
  if (r == 1) return true;
  int err = SSL_get_error(ssl_, r);
  if (err == SSL_ERROR_WANT_READ) {
    waitRead();
  } else if (err == SSL_ERROR_WANT_WRITE) {
    waitWrite();
  } else {
    std::string why = lastTlsError();
    if (why.empty()) why = (err == SSL_ERROR_SYSCALL || err == SSL_ERROR_ZERO_RETURN) ? "connection closed" : "failed";
    fail("TLS handshake: " + why);
  }
  return false;
}

bool StreamLink::flush() {
  while (outOffset_ < out_.size()) {
    std::size_t n = 0;
    std::size_t len = out_.size() - outOffset_;
    if (ssl_ != nullptr) {
      ERR_clear_error();
      int r = SSL_write(ssl_, out_.data() + outOffset_, static_cast<int>(std::min<std::size_t>(len, 1 << 20)));
      if (r <= 0) {
        int err = SSL_get_error(ssl_, r);
        if (err == SSL_ERROR_WANT_WRITE) {
          waitWrite();
        } else if (err == SSL_ERROR_WANT_READ) {
          waitRead();
        } else {
          std::string why = lastTlsError();
          fail("TLS write: " + (why.empty() ? std::string("connection closed") : why));
        }
        return false;
      }
      n = static_cast<std::size_t>(r);
    } else {
      boost::system::error_code ec;
      n = socket_.write_some(asio::buffer(out_.data() + outOffset_, len), ec);
      if (ec == asio::error::would_block || ec == asio::error::try_again) {
        waitWrite();
        return false;
      }
      if (ec) {
        fail("write: " + ec.message());
        return false;
      }
    }
    outOffset_ += n;
  }
  if (shared_.lean) {
    std::string().swap(out_);
  } else {
    out_.clear();
  }
  outOffset_ = 0;
  return true;
}

void StreamLink::readAvailable() {
  char* buf = shared_.readBuffer.get();
  for (int round = 0; round < 16; ++round) {
    std::size_t n = 0;
    if (ssl_ != nullptr) {
      ERR_clear_error();
      int r = SSL_read(ssl_, buf, static_cast<int>(LinkShared::kReadBufferSize));
      if (r <= 0) {
        int err = SSL_get_error(ssl_, r);
        if (err == SSL_ERROR_WANT_READ) {
          waitRead();
        } else if (err == SSL_ERROR_WANT_WRITE) {
          waitWrite();
        } else if (err == SSL_ERROR_ZERO_RETURN) {
          fail("closed by the server (close_notify)");
        } else {
          std::string why = lastTlsError();
          fail(why.empty() ? "closed by the server" : "TLS read: " + why);
        }
        return;
      }
      n = static_cast<std::size_t>(r);
    } else {
      boost::system::error_code ec;
      n = socket_.read_some(asio::buffer(buf, LinkShared::kReadBufferSize), ec);
      if (ec == asio::error::would_block || ec == asio::error::try_again) {
        waitRead();
        return;
      }
      if (ec) {
        fail(ec == asio::error::eof ? "closed by the server" : "read: " + ec.message());
        return;
      }
    }
    if (!onBytes(std::string_view(buf, n))) return;
  }
  asio::post(shared_.io, [self = std::static_pointer_cast<StreamLink>(shared_from_this())] { self->pump(); });
}

bool StreamLink::onBytes(std::string_view bytes) {
  if (ws_) return wsOnBytes(bytes);
  framer_.feed(bytes);
  sip::Message& msg = shared_.scratch;
  auto self = shared_from_this();  // the handler may drop its reference to this link
  while (!closed_) {
    sip::StreamFramer::Result r = framer_.next(msg);
    switch (r.status) {
      case sip::StreamFramer::Status::Message:
        shared_.handler.onMessage(*this, msg, nullptr);
        continue;
      case sip::StreamFramer::Status::Invalid:
        shared_.handler.onInvalid(*this, r.error.reasonPhrase());
        continue;
      case sip::StreamFramer::Status::KeepAlive:
        send("\r\n");  // RFC 5626 §4.4.1 pong
        continue;
      case sip::StreamFramer::Status::NeedMore:
        break;
      case sip::StreamFramer::Status::Fatal:
        msg.clear();
        fail("unframeable stream: " + r.error.reasonPhrase());
        return false;
    }
    break;
  }
  msg.clear();
  framer_.releaseIfEmpty();
  return !closed_;
}

void StreamLink::waitRead() {
  if (waitingRead_ || closed_) return;
  waitingRead_ = true;
  socket_.async_wait(tcp::socket::wait_read, [self = std::static_pointer_cast<StreamLink>(shared_from_this())](
                                                 const boost::system::error_code& ec) {
    self->waitingRead_ = false;
    if (self->closed_) return;
    if (ec) {
      if (ec != asio::error::operation_aborted) self->fail("wait: " + ec.message());
      return;
    }
    self->pump();
  });
}

void StreamLink::waitWrite() {
  if (waitingWrite_ || closed_) return;
  waitingWrite_ = true;
  socket_.async_wait(tcp::socket::wait_write, [self = std::static_pointer_cast<StreamLink>(shared_from_this())](
                                                  const boost::system::error_code& ec) {
    self->waitingWrite_ = false;
    if (self->closed_) return;
    if (ec) {
      if (ec != asio::error::operation_aborted) self->fail("wait: " + ec.message());
      return;
    }
    self->pump();
  });
}

// ---------------------------------------------------------------------------------------------
// WebSocket, client side (RFC 6455)

std::uint32_t StreamLink::wsMask() {
  // xorshift64*: masks need only be unpredictable to a browser's script (RFC 6455 §10.3), which
  // a load client does not run; a cheap generator seeded per run is enough here.
  std::uint64_t& x = shared_.wsRandom;
  x ^= x >> 12;
  x ^= x << 25;
  x ^= x >> 27;
  return static_cast<std::uint32_t>((x * 0x2545F4914F6CDD1DULL) >> 32);
}

void StreamLink::wsStartUpgrade() {
  ws_->requestSent = true;
  unsigned char nonce[16];
  for (int i = 0; i < 16; i += 4) {
    std::uint32_t m = wsMask();
    std::memcpy(nonce + i, &m, 4);
  }
  ws_->key = base64(nonce, sizeof nonce);
  out_.append("GET ").append(shared_.wsPath).append(" HTTP/1.1\r\nHost: ").append(shared_.wsHost);
  out_.append("\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Key: ").append(ws_->key);
  out_.append("\r\nSec-WebSocket-Version: 13\r\nSec-WebSocket-Protocol: sip\r\n");
  if (!shared_.wsOrigin.empty()) out_.append("Origin: ").append(shared_.wsOrigin).append("\r\n");
  out_.append("User-Agent: sipwarden-load\r\n\r\n");
}

void StreamLink::wsSendFrame(unsigned opcode, std::string_view payload) {
  // RFC 6455 §5.2: FIN, opcode; MASK and the length (7 bits, 16 or 64); the masking key; the
  // payload XORed with it.
  out_.push_back(static_cast<char>(0x80 | opcode));
  std::size_t n = payload.size();
  if (n < 126) {
    out_.push_back(static_cast<char>(0x80 | n));
  } else if (n < 65536) {
    out_.push_back(static_cast<char>(0x80 | 126));
    out_.push_back(static_cast<char>(n >> 8));
    out_.push_back(static_cast<char>(n & 0xff));
  } else {
    out_.push_back(static_cast<char>(0x80 | 127));
    for (int i = 7; i >= 0; --i) out_.push_back(static_cast<char>((static_cast<std::uint64_t>(n) >> (8 * i)) & 0xff));
  }
  std::uint32_t m = wsMask();
  char key[4] = {static_cast<char>(m >> 24), static_cast<char>(m >> 16), static_cast<char>(m >> 8), static_cast<char>(m)};
  out_.append(key, 4);
  std::size_t base = out_.size();
  out_.append(payload);
  for (std::size_t i = 0; i < n; ++i) out_[base + i] = static_cast<char>(out_[base + i] ^ key[i & 3]);
}

void StreamLink::wsProtocolError(std::uint16_t code, const std::string& why) {
  if (ws_->upgraded && !ws_->closeSent) {
    ws_->closeSent = true;
    char c[2] = {static_cast<char>(code >> 8), static_cast<char>(code & 0xff)};
    wsSendFrame(0x8, std::string_view(c, 2));
    flush();
  }
  fail("WebSocket: " + why + " (closed with " + std::to_string(code) + ")");
}

void StreamLink::wsDeliver(std::string_view message) {
  sip::Message& msg = shared_.scratch;
  msg.clear();
  sip::ParseError e = sip::parseMessage(message, msg, shared_.limits, sip::Framing::Datagram);
  if (e) {
    shared_.handler.onInvalid(*this, e.reasonPhrase());
  } else {
    shared_.handler.onMessage(*this, msg, nullptr);
  }
  msg.clear();
}

bool StreamLink::wsOnBytes(std::string_view bytes) {
  auto self = shared_from_this();  // the handler may drop its reference to this link
  WsState& w = *ws_;
  bool buffered = !w.in.empty();
  if (buffered) w.in.append(bytes);
  std::string_view data = buffered ? std::string_view(w.in) : bytes;
  std::size_t pos = 0;
  if (!w.upgraded) {
    auto end = data.find("\r\n\r\n");
    if (end == std::string_view::npos) {
      if (data.size() > kWsMaxHead) {
        fail("WebSocket handshake: no end of the HTTP answer within " + std::to_string(kWsMaxHead) + " bytes");
        return false;
      }
      if (!buffered) w.in.assign(bytes);
      return true;
    }
    std::string why = checkUpgradeResponse(data.substr(0, end + 4), w.key);
    if (!why.empty()) {
      fail("WebSocket handshake: " + why);
      return false;
    }
    w.upgraded = true;
    std::string().swap(w.key);
    pos = end + 4;
    becomeReady();
    if (closed_) return false;
  }
  bool ok = wsFrames(data, pos);
  if (closed_ || !ok) return false;
  if (buffered) {
    w.in.erase(0, pos);
  } else if (pos < data.size()) {
    w.in.assign(data.substr(pos));
  }
  if (w.in.empty()) std::string().swap(w.in);
  return true;
}

bool StreamLink::wsFrames(std::string_view data, std::size_t& pos) {
  WsState& w = *ws_;
  while (!closed_) {
    std::string_view f = data.substr(pos);
    if (f.size() < 2) return true;
    auto b0 = static_cast<unsigned char>(f[0]), b1 = static_cast<unsigned char>(f[1]);
    bool fin = (b0 & 0x80) != 0;
    unsigned opcode = b0 & 0x0f;
    std::size_t head = 2;
    std::uint64_t len = b1 & 0x7f;
    if (len == 126) {
      if (f.size() < 4) return true;
      len = (std::uint64_t{static_cast<unsigned char>(f[2])} << 8) | static_cast<unsigned char>(f[3]);
      head = 4;
    } else if (len == 127) {
      if (f.size() < 10) return true;
      len = 0;
      for (int i = 0; i < 8; ++i) len = (len << 8) | static_cast<unsigned char>(f[2 + i]);
      head = 10;
    }
    if ((b0 & 0x70) != 0) {
      wsProtocolError(1002, "a frame with RSV bits set (no extension was negotiated)");
      return false;
    }
    if ((b1 & 0x80) != 0) {
      wsProtocolError(1002, "a masked frame from the server (RFC 6455 §5.1)");
      return false;
    }
    if (len > kWsMaxMessage || w.message.size() + len > kWsMaxMessage) {
      wsProtocolError(1009, "a message over " + std::to_string(kWsMaxMessage) + " bytes");
      return false;
    }
    if (f.size() < head + len) return true;
    std::string_view payload = f.substr(head, static_cast<std::size_t>(len));
    pos += head + static_cast<std::size_t>(len);
    switch (opcode) {
      case 0x0:  // continuation
        if (!w.inMessage) {
          wsProtocolError(1002, "a continuation frame outside a message");
          return false;
        }
        w.message.append(payload);
        if (fin) {
          w.inMessage = false;
          std::string m;
          m.swap(w.message);
          wsDeliver(m);
        }
        break;
      case 0x1:  // text
      case 0x2:  // binary: RFC 7118 allows both
        if (w.inMessage) {
          wsProtocolError(1002, "a new message inside a fragmented one");
          return false;
        }
        if (fin) {
          wsDeliver(payload);
        } else {
          w.inMessage = true;
          w.message.assign(payload);
        }
        break;
      case 0x8: {  // close: answered with the same code, then the link is gone
        std::uint16_t code = payload.size() >= 2 ? static_cast<std::uint16_t>(
                                                       (static_cast<unsigned char>(payload[0]) << 8) |
                                                       static_cast<unsigned char>(payload[1]))
                                                 : 1005;
        std::string reason(payload.size() > 2 ? payload.substr(2, 100) : std::string_view{});
        if (!w.closeSent) {
          w.closeSent = true;
          char c[2] = {static_cast<char>(code >> 8), static_cast<char>(code & 0xff)};
          wsSendFrame(0x8, payload.size() >= 2 ? std::string_view(c, 2) : std::string_view{});
          flush();
        }
        fail("WebSocket close " + std::to_string(code) + (reason.empty() ? "" : " \"" + reason + "\"") +
             " from the server");
        return false;
      }
      case 0x9:  // ping: a pong with the same payload (RFC 6455 §5.5.2)
        if (!fin || len > 125) {
          wsProtocolError(1002, "a fragmented or oversized ping");
          return false;
        }
        ++shared_.wsPings;
        wsSendFrame(0xA, payload);
        scheduleFlush();
        break;
      case 0xA:
        ++shared_.wsPongs;
        break;
      default:
        wsProtocolError(1002, "opcode " + std::to_string(opcode));
        return false;
    }
  }
  return false;
}

// ---------------------------------------------------------------------------------------------
// UdpLink

UdpLink::UdpLink(LinkShared& shared, const udp::endpoint& local, const udp::endpoint& server)
    : Link(Transport::Udp), shared_(shared), socket_(shared.io), server_(server) {
  socket_.open(local.protocol());
  socket_.set_option(asio::socket_base::receive_buffer_size(shared.socketBuffer));
  socket_.set_option(asio::socket_base::send_buffer_size(shared.socketBuffer));
  socket_.bind(local);
  socket_.non_blocking(true);
  localPort_ = socket_.local_endpoint().port();
  opened = readyAt = Clock::now();
}

void UdpLink::start() { receive(); }

bool UdpLink::send(std::string_view bytes) { return reply(bytes, &server_); }

bool UdpLink::reply(std::string_view bytes, const udp::endpoint* to) {
  if (closed_) return false;
  boost::system::error_code ec;
  socket_.send_to(asio::buffer(bytes.data(), bytes.size()), to != nullptr ? *to : server_, 0, ec);
  if (ec) {
    ++sendErrors;
    return false;
  }
  return true;
}

void UdpLink::close() {
  if (closed_) return;
  closed_ = true;
  boost::system::error_code ec;
  socket_.close(ec);
}

void UdpLink::receive() {
  if (closed_) return;
  socket_.async_receive_from(asio::buffer(buffer_.get(), 65536), sender_,
                             [self = std::static_pointer_cast<UdpLink>(shared_from_this())](
                                 const boost::system::error_code& ec, std::size_t n) {
                               if (self->closed_) return;
                               if (!ec) self->onDatagram(n);
                               // Drain what has queued up before waiting again (bounded).
                               for (int i = 0; i < 64 && !self->closed_; ++i) {
                                 boost::system::error_code rec;
                                 std::size_t m = self->socket_.receive_from(asio::buffer(self->buffer_.get(), 65536),
                                                                            self->sender_, 0, rec);
                                 if (rec) break;
                                 self->onDatagram(m);
                               }
                               self->receive();
                             });
}

void UdpLink::onDatagram(std::size_t n) {
  std::string_view bytes(buffer_.get(), n);
  if (bytes.find_first_not_of("\r\n") == std::string_view::npos) return;  // keep-alive
  sip::Message& msg = shared_.scratch;
  msg.clear();
  sip::ParseError e = sip::parseMessage(bytes, msg, shared_.limits, sip::Framing::Datagram);
  if (e) {
    shared_.handler.onInvalid(*this, e.reasonPhrase());
  } else {
    udp::endpoint from = sender_;
    shared_.handler.onMessage(*this, msg, &from);
  }
  msg.clear();
}

}  // namespace sipwarden::loadclient
