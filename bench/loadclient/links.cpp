#include "links.hpp"

#include <arpa/inet.h>
#include <openssl/err.h>
#include <openssl/ssl.h>
#include <openssl/x509v3.h>

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

StreamLink::StreamLink(LinkShared& shared, Transport t, tcp::socket socket)
    : Link(t), shared_(shared), socket_(std::move(socket)), framer_(shared.limits) {
  opened = Clock::now();
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
    if (self->transport_ == Transport::Tls) {
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

void StreamLink::startAccepted() {
  boost::system::error_code ec;
  socket_.set_option(tcp::no_delay(true), ec);
  socket_.non_blocking(true, ec);
  auto local = socket_.local_endpoint(ec);
  if (!ec) localPort_ = local.port();
  if (transport_ == Transport::Tls) {
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
  out_.append(bytes);
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

void StreamLink::pump() {
  if (closed_ || connecting_) return;
  if (!ready_) {
    if (ssl_ != nullptr && !handshake()) return;
    ready_ = true;
    readyAt = Clock::now();
    shared_.handler.onReady(*this);
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
  out_.clear();
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
