// Digest authentication of SIP requests (RFC 3261 §22, RFC 7616, RFC 8760): checks the
// credentials of a request and writes challenges. Knows nothing of transports or of where
// credentials are stored: the caller passes a lookup and maps the outcome to 401/407/400/403.
#pragma once

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "auth/digest.hpp"
#include "auth/nonce.hpp"
#include "auth/nonce_counter.hpp"
#include "sip/message.hpp"

namespace sipwarden::auth {

struct AuthSettings {
  std::chrono::seconds nonceLifetime{300};
  /// Algorithms offered in challenges, in challenge order (RFC 8760 §2.4: the preferred first).
  /// Credentials with an algorithm not in this list are rejected, so leaving MD5 out refuses it.
  std::vector<DigestAlgorithm> offered{DigestAlgorithm::Sha256, DigestAlgorithm::Md5};
  /// Slots of the replay table (NonceCounter, 8 bytes each): a nonce's counts are kept until this
  /// many later nonces have been issued; after that it is treated as stale.
  std::size_t nonceSlots = 1 << 20;
  /// A digest uri that differs from the Request-URI is still accepted when this returns true.
  /// RFC 7616 §3.4.6 makes the match a SHOULD; user agents such as SIPp put the server's address
  /// there instead of the REGISTER's domain, so the server accepts a uri that names itself.
  std::function<bool(const sip::Uri& digestUri, const sip::Message& request)> alsoAcceptUri;
};

enum class AuthOutcome {
  Authenticated,  ///< credentials valid, fresh nonce, nc not replayed
  NoCredentials,  ///< no credentials for this realm (or only non-Digest ones) -> challenge
  Stale,          ///< right response but expired (or overtaken) nonce -> challenge with stale=true
  Rejected,       ///< wrong response, unknown user, forged nonce, wrong opaque, replayed nc, missing qop,
                  ///< unsupported or not offered algorithm, userhash -> new challenge (caller counts it)
  Forbidden,      ///< authenticated, but as another user than the caller requires (REGISTER's To user) -> 403
  Malformed       ///< Digest credentials missing username/realm/nonce/uri/response, qop without nc/cnonce,
                  ///< nc not 8 hex digits, uri not the Request-URI, bad syntax -> 400
};

/// "Authenticated", "NoCredentials", ... for logs.
std::string_view outcomeName(AuthOutcome outcome);

struct AuthResult {
  AuthOutcome outcome = AuthOutcome::NoCredentials;
  std::string user;    ///< the credentials' username when they had one (also on failure, for logs)
  std::string reason;  ///< short text for logs and 400/403 reason phrases; never a password or HA1
};

/// The HA1s a CredentialLookup found, shared instead of copied (a user directory hands out a view
/// into its immutable snapshot, which this keeps alive); empty for an unknown user. Converts from
/// std::optional<Ha1Set> for lookups that compute the hashes.
class Ha1Ref {
 public:
  // Implicit on purpose: a lookup returns std::nullopt, a shared Ha1Set, or a computed one.
  Ha1Ref() = default;
  Ha1Ref(std::nullopt_t) {}
  Ha1Ref(std::shared_ptr<const Ha1Set> set) : set_(std::move(set)) {}
  Ha1Ref(std::optional<Ha1Set> set) : set_(set ? std::make_shared<const Ha1Set>(std::move(*set)) : nullptr) {}
  Ha1Ref(Ha1Set set) : set_(std::make_shared<const Ha1Set>(std::move(set))) {}

  /// As std::optional's, which this replaced (callers test has_value()).
  [[nodiscard]] bool has_value() const { return set_ != nullptr; }
  explicit operator bool() const { return set_ != nullptr; }
  /// Precondition: has_value().
  const Ha1Set& operator*() const { return *set_; }
  const Ha1Set* operator->() const { return set_.get(); }

 private:
  std::shared_ptr<const Ha1Set> set_;
};

/// Returns the HA1s of `user` in `realm`, or an empty Ha1Ref (std::nullopt) for an unknown user.
/// Called on worker threads, possibly concurrently; it must not throw.
using CredentialLookup = std::function<Ha1Ref(std::string_view user, std::string_view realm)>;

/// Thread-safety: every member may be called concurrently (settings and nonce service are immutable,
/// the nonce counter locks internally).
class Authenticator {
 public:
  /// Throws std::invalid_argument (start-up) when `secret` is shorter than 16 bytes, the lifetime is
  /// not positive, or no algorithm is offered.
  Authenticator(AuthSettings settings, std::span<const std::uint8_t> secret);

  /// Verifies the credentials in `header` (sip::HeaderId::Authorization or ProxyAuthorization) of
  /// `request` for `realm`. Among several such headers the first Digest one whose realm equals
  /// `realm` counts; other schemes and realms are ignored (they belong to other servers).
  /// When `requiredUser` is not empty, the credentials' username (unquoted) must equal it byte for
  /// byte, else Forbidden; pass the To URI's user unescaped. The uri parameter must equal the
  /// Request-URI compared as URIs (RFC 3261 §22.4, RFC 7616 §3.4.6) or satisfy
  /// settings.alsoAcceptUri, else Malformed.
  /// Order: syntax (Malformed) -> algorithm/qop/opaque/nonce MAC (Rejected) -> lookup and response
  /// (Rejected) -> expiry (Stale) -> nc replay (Rejected) -> requiredUser (Forbidden).
  /// An absent opaque is tolerated (RFC 2617-era clients omit it); a different one is Rejected.
  /// Never throws (but for std::bad_alloc).
  AuthResult verify(const sip::Message& request, sip::HeaderId header, std::string_view realm,
                    std::string_view requiredUser, const CredentialLookup& lookup, WallClock::time_point now);

  /// Challenge header values (for WWW-Authenticate or Proxy-Authenticate), one per offered algorithm
  /// in order, all with the same fresh nonce:
  ///   Digest realm="r", nonce="n", opaque="o", algorithm=SHA-256, qop="auth"[, stale=true]
  std::vector<std::string> challenges(std::string_view realm, bool stale, WallClock::time_point now) const;
  /// The same values into `out` (resized to one per algorithm), reusing its strings' storage.
  void challenges(std::string_view realm, bool stale, WallClock::time_point now, std::vector<std::string>& out) const;

  const AuthSettings& settings() const { return settings_; }
  const NonceService& nonces() const { return nonces_; }

 private:
  AuthSettings settings_;
  NonceService nonces_;
  NonceCounter counter_;
};

}  // namespace sipwarden::auth
