// TLS contexts for the TLS listeners and for outgoing TLS connections (OpenSSL 3), built from
// files, immutable once built, and swapped as a whole on reload: a connection keeps the context
// set it was opened with, so a reload never touches a live connection, and a broken new file
// leaves the old set serving.
//
// Thread-safety: a TlsContextSet is immutable and shared by all workers; TlsContextHolder swaps
// the current set under a mutex.
#pragma once

#include <cstdint>
#include <memory>
#include <mutex>
#include <stdexcept>
#include <string>
#include <string_view>
#include <vector>

typedef struct ssl_st SSL;
typedef struct ssl_ctx_st SSL_CTX;
typedef struct x509_st X509;

namespace sipwarden::transport {

/// A TLS file or setting that cannot be used. what() names the file or key and OpenSSL's reason.
struct TlsError : std::runtime_error {
  using std::runtime_error::runtime_error;
};

/// Whether a TLS listener asks for a client certificate.
enum class ClientCertMode : std::uint8_t { None, Optional, Required };

/// A certificate chain (PEM, leaf first) with its key, and the names it serves by SNI.
struct TlsCredential {
  std::string certificateFile;
  std::string keyFile;
  std::vector<std::string> names;  ///< lower-case host names chosen for this certificate
};

struct TlsSettings {
  std::vector<TlsCredential> credentials;  ///< [0] serves clients without SNI or with an unknown name
  std::string caFile, caDir, crlFile;      ///< trust anchors and revocation lists
  unsigned verifyDepth = 4;
  bool partialChain = false;  ///< a trusted intermediate may end the chain
  std::string minVersion = "1.2";
  std::string ciphers;       ///< TLS 1.2; empty: ECDHE with AES-GCM or ChaCha20 only
  std::string ciphersuites;  ///< TLS 1.3; empty: OpenSSL's default
  bool verifyServerName = true;
};

/// What a verified (or merely presented) peer certificate says, kept per connection.
struct TlsPeerIdentity {
  bool verified = false;  ///< the chain verified against our trust anchors
  std::string subject;    ///< RFC 2253 one-line
  std::string commonName;
  std::string issuer;
  std::vector<std::string> dnsNames, uris, emails;
  std::string sha256;  ///< fingerprint of the certificate, colon hex
};

class TlsContextSet {
 public:
  /// Builds the server and client contexts. Throws TlsError naming the bad file.
  static std::shared_ptr<const TlsContextSet> build(const TlsSettings& settings);
  ~TlsContextSet();
  TlsContextSet(const TlsContextSet&) = delete;
  TlsContextSet& operator=(const TlsContextSet&) = delete;

  /// A new server-side session; SNI selects the credential during the handshake. The caller owns
  /// the SSL and must keep this set alive until it is freed.
  SSL* newServerSession(ClientCertMode mode) const;
  /// A new client-side session for `serverName` (SNI and, if verifyServerName, RFC 5922 name
  /// checks after the handshake; an empty name: the peer's IP address is checked instead).
  SSL* newClientSession(std::string_view serverName) const;

  /// After a client handshake: does the server's certificate match `serverName` (RFC 5922 §7.1:
  /// a SIP URI or DNS subjectAltName equal to the domain, no wildcards; the CN only when there is
  /// no subjectAltName) or, for a numeric target, an IP subjectAltName? Empty string on success,
  /// else why not.
  std::string checkServerName(SSL* ssl, std::string_view serverName, std::string_view ipLiteral) const;
  bool verifyServerName() const { return settings_.verifyServerName; }

  /// For an established server-side session whose client certificate verified: does it still,
  /// against this set's trust anchors, CRLs, depth and flags, for the clientAuth purpose, now?
  /// Empty string when it does (or when there is nothing to check), else OpenSSL's reason
  /// ("certificate revoked", "certificate has expired", ...).
  std::string recheckClient(SSL* ssl) const;

  const TlsSettings& settings() const { return settings_; }

  /// What a handshake sends after the certificate of one credential (same order as
  /// settings().credentials).
  struct SentChain {
    std::size_t caCertificates = 0;  ///< CA certificates sent after the leaf
    bool fromStore = false;          ///< completed from ca_file/ca_dir (the file held the leaf only)
    bool rootLeftOut = false;        ///< the completed chain's self-signed root is not sent
  };
  const std::vector<SentChain>& sentChains() const { return sentChains_; }

 private:
  explicit TlsContextSet(TlsSettings settings) : settings_(std::move(settings)) {}
  static int onServerName(SSL* ssl, int* alert, void* arg);

  TlsSettings settings_;
  std::vector<SSL_CTX*> server_;  ///< one per credential
  std::vector<SentChain> sentChains_;
  SSL_CTX* client_ = nullptr;
};

/// The identity in the peer certificate of an established session (nullptr: none was sent).
std::unique_ptr<TlsPeerIdentity> peerIdentity(SSL* ssl);
/// OpenSSL's reason for the last failure on this thread, and why verification failed if it did.
std::string lastTlsError(SSL* ssl = nullptr);

/// The context set in use; reloads replace it.
class TlsContextHolder {
 public:
  std::shared_ptr<const TlsContextSet> get() const {
    std::lock_guard lock(mutex_);
    return current_;
  }
  void set(std::shared_ptr<const TlsContextSet> s) {
    std::lock_guard lock(mutex_);
    current_ = std::move(s);
  }

 private:
  mutable std::mutex mutex_;
  std::shared_ptr<const TlsContextSet> current_;
};

}  // namespace sipwarden::transport
