#include "transport/tls_context.hpp"

#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/ssl.h>
#include <openssl/x509.h>
#include <openssl/x509v3.h>

#include <algorithm>
#include <cstdio>

namespace sipwarden::transport {

namespace {

std::string errorQueue() {
  std::string out;
  unsigned long e;
  while ((e = ERR_get_error()) != 0) {
    char buf[256];
    ERR_error_string_n(e, buf, sizeof buf);
    if (!out.empty()) out += "; ";
    out += buf;
  }
  return out.empty() ? "no detail from OpenSSL" : out;
}

[[noreturn]] void fail(const std::string& what) { throw TlsError(what + ": " + errorQueue()); }

std::string lower(std::string_view s) {
  std::string out(s);
  for (char& c : out) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  return out;
}

bool iequals(std::string_view a, std::string_view b) {
  return a.size() == b.size() && std::equal(a.begin(), a.end(), b.begin(), [](char x, char y) {
           return std::tolower(static_cast<unsigned char>(x)) == std::tolower(static_cast<unsigned char>(y));
         });
}

std::string asn1String(const ASN1_STRING* s) {
  const unsigned char* data = ASN1_STRING_get0_data(s);
  return std::string(reinterpret_cast<const char*>(data), static_cast<std::size_t>(ASN1_STRING_length(s)));
}

std::string nameLine(const X509_NAME* name) {
  BIO* bio = BIO_new(BIO_s_mem());
  X509_NAME_print_ex(bio, name, 0, XN_FLAG_RFC2253);
  char* data = nullptr;
  long n = BIO_get_mem_data(bio, &data);
  std::string out(data, static_cast<std::size_t>(n));
  BIO_free(bio);
  return out;
}

/// The "host" of a SIP or SIPS URI in a subjectAltName (RFC 5922 §7.1 uses the whole URI's host
/// part and ignores URIs with a user part).
std::string sipUriHost(std::string_view uri) {
  std::size_t colon = uri.find(':');
  if (colon == std::string_view::npos) return {};
  std::string_view scheme = uri.substr(0, colon);
  if (!iequals(scheme, "sip") && !iequals(scheme, "sips")) return {};
  std::string_view rest = uri.substr(colon + 1);
  if (rest.find('@') != std::string_view::npos) return {};
  std::size_t end = rest.find_first_of(":;?");
  return std::string(rest.substr(0, end));
}

void configureCommon(SSL_CTX* ctx, const TlsSettings& s) {
  int minVersion = s.minVersion == "1.3" ? TLS1_3_VERSION : TLS1_2_VERSION;
  if (SSL_CTX_set_min_proto_version(ctx, minVersion) != 1) fail("tls.min_version " + s.minVersion);
  // Idle connections give their read and write buffers back (the per-connection memory target).
  SSL_CTX_set_mode(ctx, SSL_MODE_RELEASE_BUFFERS | SSL_MODE_ENABLE_PARTIAL_WRITE |
                            SSL_MODE_ACCEPT_MOVING_WRITE_BUFFER);
  SSL_CTX_set_options(ctx, SSL_OP_NO_COMPRESSION | SSL_OP_NO_RENEGOTIATION | SSL_OP_CIPHER_SERVER_PREFERENCE);
  // Read what the socket holds at once rather than each record's 5-byte header and then its
  // body: a handshake flight or a burst of requests is one read() instead of two per record.
  // Bytes read ahead stay in OpenSSL's buffer; a connection reads with SSL_read until it wants
  // more from the socket, so nothing waits there for a readiness event that will not come.
  SSL_CTX_set_read_ahead(ctx, 1);
  const std::string ciphers = s.ciphers.empty() ? "ECDHE+AESGCM:ECDHE+CHACHA20:!aNULL" : s.ciphers;
  if (SSL_CTX_set_cipher_list(ctx, ciphers.c_str()) != 1) fail("tls.ciphers \"" + ciphers + "\"");
  if (!s.ciphersuites.empty() && SSL_CTX_set_ciphersuites(ctx, s.ciphersuites.c_str()) != 1) {
    fail("tls.ciphersuites \"" + s.ciphersuites + "\"");
  }
  if (!s.caFile.empty() || !s.caDir.empty()) {
    if (SSL_CTX_load_verify_locations(ctx, s.caFile.empty() ? nullptr : s.caFile.c_str(),
                                      s.caDir.empty() ? nullptr : s.caDir.c_str()) != 1) {
      fail("tls.ca_file/ca_dir \"" + (s.caFile.empty() ? s.caDir : s.caFile) + "\"");
    }
  }
  X509_STORE* store = SSL_CTX_get_cert_store(ctx);
  unsigned long flags = 0;
  if (!s.crlFile.empty()) {
    X509_LOOKUP* lookup = X509_STORE_add_lookup(store, X509_LOOKUP_file());
    if (lookup == nullptr || X509_load_crl_file(lookup, s.crlFile.c_str(), X509_FILETYPE_PEM) <= 0) {
      fail("tls.crl_file \"" + s.crlFile + "\"");
    }
    flags |= X509_V_FLAG_CRL_CHECK;  // the leaf's issuer must have a CRL, and the leaf must not be in it
  }
  if (s.partialChain) flags |= X509_V_FLAG_PARTIAL_CHAIN;
  if (flags != 0) X509_STORE_set_flags(store, flags);
  SSL_CTX_set_verify_depth(ctx, static_cast<int>(s.verifyDepth));
}

/// Builds the chain a handshake sends once, now. A certificate file with the leaf only leaves
/// OpenSSL to complete the chain from the verify store (ca_file/ca_dir) in every handshake: an
/// X509_verify_cert with a signature check each time, about 14% of the server's CPU per new
/// TLS connection. Built here, the same certificates go out without that work. A chain from the
/// file is kept as it is; when nothing can be built, OpenSSL keeps its per-handshake behaviour.
///
/// The completed chain leaves out its self-signed root (RFC 5246 §7.4.2, RFC 8446 §4.4.2 allow
/// it): a client can only trust a root it already holds, and every certificate sent costs the
/// client a decode (in OpenSSL 3.0, with a key decoder set up per certificate: about a fifth of
/// a client's CPU per handshake) and the handshake about 500 bytes.
TlsContextSet::SentChain buildSentChain(SSL_CTX* ctx) {
  TlsContextSet::SentChain out;
  STACK_OF(X509)* chain = nullptr;
  SSL_CTX_get0_chain_certs(ctx, &chain);
  if (chain == nullptr || sk_X509_num(chain) == 0) {
    if (SSL_CTX_build_cert_chain(ctx, SSL_BUILD_CHAIN_FLAG_IGNORE_ERROR | SSL_BUILD_CHAIN_FLAG_CLEAR_ERROR) > 0) {
      out.fromStore = true;
    }
    ERR_clear_error();
    chain = nullptr;
    SSL_CTX_get0_chain_certs(ctx, &chain);
    const int n = chain == nullptr ? 0 : sk_X509_num(chain);
    if (out.fromStore && n > 0 && (X509_get_extension_flags(sk_X509_value(chain, n - 1)) & EXFLAG_SS) != 0) {
      STACK_OF(X509)* withoutRoot = sk_X509_dup(chain);
      if (withoutRoot != nullptr) {
        sk_X509_pop(withoutRoot);
        if (SSL_CTX_set1_chain(ctx, withoutRoot) == 1) out.rootLeftOut = true;
        sk_X509_free(withoutRoot);
      }
      ERR_clear_error();
      chain = nullptr;
      SSL_CTX_get0_chain_certs(ctx, &chain);
    }
  }
  out.caCertificates = chain == nullptr ? 0 : static_cast<std::size_t>(sk_X509_num(chain));
  if (out.caCertificates == 0 && !out.rootLeftOut) out.fromStore = false;
  return out;
}

}  // namespace

std::string lastTlsError(SSL* ssl) {
  std::string out;
  if (ssl != nullptr) {
    long v = SSL_get_verify_result(ssl);
    if (v != X509_V_OK) out = std::string("certificate verify failed: ") + X509_verify_cert_error_string(v);
  }
  unsigned long e;
  while ((e = ERR_get_error()) != 0) {
    char buf[256];
    ERR_error_string_n(e, buf, sizeof buf);
    if (!out.empty()) out += "; ";
    out += buf;
  }
  return out;
}

std::shared_ptr<const TlsContextSet> TlsContextSet::build(const TlsSettings& settings) {
  ERR_clear_error();
  std::shared_ptr<TlsContextSet> set(new TlsContextSet(settings));
  if (settings.credentials.empty()) throw TlsError("no certificate for the TLS listeners");
  for (const TlsCredential& c : settings.credentials) {
    SSL_CTX* ctx = SSL_CTX_new(TLS_server_method());
    if (ctx == nullptr) fail("SSL_CTX_new");
    set->server_.push_back(ctx);
    configureCommon(ctx, settings);
    if (SSL_CTX_use_certificate_chain_file(ctx, c.certificateFile.c_str()) != 1) {
      fail("certificate \"" + c.certificateFile + "\"");
    }
    if (SSL_CTX_use_PrivateKey_file(ctx, c.keyFile.c_str(), SSL_FILETYPE_PEM) != 1) {
      if (ERR_GET_REASON(ERR_peek_last_error()) == X509_R_KEY_VALUES_MISMATCH) {
        fail("private key \"" + c.keyFile + "\" does not match certificate \"" + c.certificateFile + "\"");
      }
      fail("private key \"" + c.keyFile + "\"");
    }
    if (SSL_CTX_check_private_key(ctx) != 1) {
      fail("private key \"" + c.keyFile + "\" does not match certificate \"" + c.certificateFile + "\"");
    }
    set->sentChains_.push_back(buildSentChain(ctx));
    // Client certificates are checked for the clientAuth purpose (RFC 5280 §4.2.1.12).
    SSL_CTX_set_purpose(ctx, X509_PURPOSE_SSL_CLIENT);
    if (!settings.caFile.empty()) {
      // The CA names sent in CertificateRequest help a client pick its certificate.
      if (STACK_OF(X509_NAME)* names = SSL_load_client_CA_file(settings.caFile.c_str())) {
        SSL_CTX_set_client_CA_list(ctx, names);
      }
      ERR_clear_error();
    }
    static const unsigned char kSessionContext[] = "sipwarden";
    SSL_CTX_set_session_id_context(ctx, kSessionContext, sizeof kSessionContext - 1);
    // Resumption by session ID (a server-side cache) is off; tickets resume one-way TLS sessions.
    // A session that verified a client certificate is never resumed (newServerSession).
    SSL_CTX_set_session_cache_mode(ctx, SSL_SESS_CACHE_OFF);
    SSL_CTX_set_tlsext_servername_callback(ctx, &TlsContextSet::onServerName);
    SSL_CTX_set_tlsext_servername_arg(ctx, set.get());
  }
  set->client_ = SSL_CTX_new(TLS_client_method());
  if (set->client_ == nullptr) fail("SSL_CTX_new");
  configureCommon(set->client_, settings);
  if (settings.caFile.empty() && settings.caDir.empty()) SSL_CTX_set_default_verify_paths(set->client_);
  SSL_CTX_set_purpose(set->client_, X509_PURPOSE_SSL_SERVER);
  SSL_CTX_set_verify(set->client_, SSL_VERIFY_PEER, nullptr);
  // As a client we present our first certificate (peers that require mutual TLS ask for it).
  const TlsCredential& own = settings.credentials.front();
  if (SSL_CTX_use_certificate_chain_file(set->client_, own.certificateFile.c_str()) != 1 ||
      SSL_CTX_use_PrivateKey_file(set->client_, own.keyFile.c_str(), SSL_FILETYPE_PEM) != 1) {
    fail("certificate \"" + own.certificateFile + "\" for outgoing TLS");
  }
  buildSentChain(set->client_);
  return set;
}

TlsContextSet::~TlsContextSet() {
  for (SSL_CTX* c : server_) SSL_CTX_free(c);
  if (client_ != nullptr) SSL_CTX_free(client_);
}

int TlsContextSet::onServerName(SSL* ssl, int* /*alert*/, void* arg) {
  const auto* self = static_cast<const TlsContextSet*>(arg);
  const char* name = SSL_get_servername(ssl, TLSEXT_NAMETYPE_host_name);
  if (name == nullptr) return SSL_TLSEXT_ERR_NOACK;
  for (std::size_t i = 0; i < self->settings_.credentials.size(); ++i) {
    for (const std::string& n : self->settings_.credentials[i].names) {
      if (iequals(n, name)) {
        if (i != 0) SSL_set_SSL_CTX(ssl, self->server_[i]);
        return SSL_TLSEXT_ERR_OK;
      }
    }
  }
  return SSL_TLSEXT_ERR_OK;  // unknown name: the default certificate answers
}

SSL* TlsContextSet::newServerSession(ClientCertMode mode) const {
  SSL* ssl = SSL_new(server_.front());
  if (ssl == nullptr) return nullptr;
  int verify = SSL_VERIFY_NONE;
  if (mode == ClientCertMode::Optional) verify = SSL_VERIFY_PEER;
  if (mode == ClientCertMode::Required) verify = SSL_VERIFY_PEER | SSL_VERIFY_FAIL_IF_NO_PEER_CERT;
  SSL_set_verify(ssl, verify, nullptr);
  if (mode != ClientCertMode::None) {
    // A resumed session skips the certificate exchange. So a listener that asks for client
    // certificates must not resume a session of a listener that does not (a ticket from the
    // one-way port would let a client in without a certificate: the session ID context differs
    // per mode, and OpenSSL resumes only within one), and it resumes none of its own either: each
    // connection shows and verifies its chain, which a reload's re-check needs (a resumed session
    // keeps the leaf only).
    static const unsigned char kOptional[] = "sipwarden/cc-optional";  // at most SSL_MAX_SID_CTX_LENGTH (32)
    static const unsigned char kRequired[] = "sipwarden/cc-required";
    static_assert(sizeof kOptional - 1 <= SSL_MAX_SID_CTX_LENGTH && sizeof kRequired - 1 <= SSL_MAX_SID_CTX_LENGTH);
    const bool named = mode == ClientCertMode::Optional
                           ? SSL_set_session_id_context(ssl, kOptional, sizeof kOptional - 1) == 1
                           : SSL_set_session_id_context(ssl, kRequired, sizeof kRequired - 1) == 1;
    if (!named || SSL_set_num_tickets(ssl, 0) != 1) {
      SSL_free(ssl);
      return nullptr;
    }
    SSL_set_options(ssl, SSL_OP_NO_TICKET);
  }
  return ssl;
}

SSL* TlsContextSet::newClientSession(std::string_view serverName) const {
  SSL* ssl = SSL_new(client_);
  if (ssl == nullptr) return nullptr;
  if (!serverName.empty()) {
    std::string name(serverName);
    SSL_set_tlsext_host_name(ssl, name.c_str());
  }
  return ssl;
}

std::string TlsContextSet::checkServerName(SSL* ssl, std::string_view serverName, std::string_view ipLiteral) const {
  X509* cert = SSL_get0_peer_certificate(ssl);
  if (cert == nullptr) return "the server sent no certificate";
  if (serverName.empty()) {
    std::string ip(ipLiteral);
    if (X509_check_ip_asc(cert, ip.c_str(), 0) == 1) return {};
    return "the certificate has no IP subjectAltName " + ip;
  }
  // RFC 5922 §7.1: SIP URIs and DNS names in subjectAltName, compared whole (no wildcards, §7.2);
  // the subject CN only when the certificate has no subjectAltName at all.
  auto* names = static_cast<GENERAL_NAMES*>(X509_get_ext_d2i(cert, NID_subject_alt_name, nullptr, nullptr));
  bool anySan = false;
  bool match = false;
  for (int i = 0; names != nullptr && i < sk_GENERAL_NAME_num(names); ++i) {
    const GENERAL_NAME* g = sk_GENERAL_NAME_value(names, i);
    if (g->type == GEN_DNS) {
      anySan = true;
      if (iequals(asn1String(g->d.dNSName), serverName)) match = true;
    } else if (g->type == GEN_URI) {
      anySan = true;
      if (iequals(sipUriHost(asn1String(g->d.uniformResourceIdentifier)), serverName)) match = true;
    } else if (g->type == GEN_IPADD) {
      anySan = true;
    }
  }
  if (names != nullptr) GENERAL_NAMES_free(names);
  if (match) return {};
  if (!anySan) {
    const X509_NAME* subject = X509_get_subject_name(cert);
    int idx = X509_NAME_get_index_by_NID(subject, NID_commonName, -1);
    if (idx >= 0) {
      std::string cn = asn1String(X509_NAME_ENTRY_get_data(X509_NAME_get_entry(subject, idx)));
      if (iequals(cn, serverName)) return {};
    }
  }
  return "the certificate does not name " + lower(serverName) + " (RFC 5922: subjectAltName SIP URI or DNS name)";
}

std::string TlsContextSet::recheckClient(SSL* ssl) const {
  if (ssl == nullptr || server_.empty()) return {};
  X509* leaf = SSL_get0_peer_certificate(ssl);
  if (leaf == nullptr) return {};
  // On the server side the peer chain excludes the leaf: the untrusted intermediates it sent.
  STACK_OF(X509)* sent = SSL_get_peer_cert_chain(ssl);
  X509_STORE* store = SSL_CTX_get_cert_store(server_.front());
  std::unique_ptr<X509_STORE_CTX, decltype(&X509_STORE_CTX_free)> ctx(X509_STORE_CTX_new(), &X509_STORE_CTX_free);
  if (!ctx || X509_STORE_CTX_init(ctx.get(), store, leaf, sent) != 1) return {};
  X509_STORE_CTX_set_purpose(ctx.get(), X509_PURPOSE_SSL_CLIENT);
  X509_STORE_CTX_set_depth(ctx.get(), static_cast<int>(settings_.verifyDepth));
  if (X509_verify_cert(ctx.get()) == 1) return {};
  const int err = X509_STORE_CTX_get_error(ctx.get());
  ERR_clear_error();
  return X509_verify_cert_error_string(err);
}

std::unique_ptr<TlsPeerIdentity> peerIdentity(SSL* ssl) {
  X509* cert = SSL_get0_peer_certificate(ssl);
  if (cert == nullptr) return nullptr;
  auto id = std::make_unique<TlsPeerIdentity>();
  id->verified = SSL_get_verify_result(ssl) == X509_V_OK;
  id->subject = nameLine(X509_get_subject_name(cert));
  id->issuer = nameLine(X509_get_issuer_name(cert));
  const X509_NAME* subject = X509_get_subject_name(cert);
  int idx = X509_NAME_get_index_by_NID(subject, NID_commonName, -1);
  if (idx >= 0) id->commonName = asn1String(X509_NAME_ENTRY_get_data(X509_NAME_get_entry(subject, idx)));
  auto* names = static_cast<GENERAL_NAMES*>(X509_get_ext_d2i(cert, NID_subject_alt_name, nullptr, nullptr));
  for (int i = 0; names != nullptr && i < sk_GENERAL_NAME_num(names); ++i) {
    const GENERAL_NAME* g = sk_GENERAL_NAME_value(names, i);
    if (g->type == GEN_DNS) id->dnsNames.push_back(lower(asn1String(g->d.dNSName)));
    if (g->type == GEN_URI) id->uris.push_back(asn1String(g->d.uniformResourceIdentifier));
    if (g->type == GEN_EMAIL) id->emails.push_back(asn1String(g->d.rfc822Name));
  }
  if (names != nullptr) GENERAL_NAMES_free(names);
  unsigned char md[EVP_MAX_MD_SIZE];
  unsigned int len = 0;
  if (X509_digest(cert, EVP_sha256(), md, &len) == 1) {
    static const char* kHex = "0123456789ABCDEF";
    for (unsigned int i = 0; i < len; ++i) {
      if (i != 0) id->sha256 += ':';
      id->sha256 += kHex[md[i] >> 4];
      id->sha256 += kHex[md[i] & 15];
    }
  }
  return id;
}

}  // namespace sipwarden::transport
