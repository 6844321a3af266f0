// Globally Routable User agent URIs (RFC 5627): the registrar hands each registered instance
// (+sip.instance) a public GRUU, "sip:alice@example.com;gr=urn:uuid:...", and a temporary one,
// "sip:tgruu.<token>@example.com;gr", that reaches the same instance without revealing the
// address-of-record or the instance. Both route to that instance's bindings only.
//
//   token = base64url( nonce(12) | AES-256-GCM(key, nonce, "aor\ninstance") | tag(16) )
//   key   = HMAC-SHA256(server secret, "sipwarden temp-gruu")
//
// Temporary GRUUs need no storage: a new one is minted with every REGISTER 200 OK, and every one
// ever minted stays valid for as long as its instance is registered (RFC 5627 §3.2 allows this).
// Thread-safety: immutable after construction; each call uses its own cipher context.
#pragma once

#include <cstdint>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <vector>

namespace sipwarden::registrar {

class GruuCodec {
 public:
  /// `secret` keys the temporary GRUUs (at least 16 bytes, else std::invalid_argument).
  explicit GruuCodec(std::span<const std::uint8_t> secret);

  /// `aor` "user@domain" (user unescaped), `instance` the +sip.instance value without quotes
  /// ("<urn:uuid:...>"). "sip:alice@example.com;gr=urn:uuid:...".
  [[nodiscard]] static std::string publicGruu(std::string_view aor, std::string_view instance);
  /// "sip:tgruu.<token>@domain;gr"; a different one on every call.
  [[nodiscard]] std::string temporaryGruu(std::string_view aor, std::string_view instance) const;

  struct Target {
    std::string aor;       ///< "user@domain"
    std::string instance;  ///< as stored in bindings ("<urn:uuid:...>")
  };
  /// The instance a GRUU names: `user` is the Request-URI's user (unescaped), `domain` its host,
  /// `gr` the value of its gr parameter ("" when the parameter has no value). nullopt: not a
  /// GRUU of ours (a forged or damaged temporary GRUU, a temporary GRUU for another domain).
  [[nodiscard]] std::optional<Target> resolve(std::string_view user, std::string_view domain, std::string_view gr) const;

 private:
  std::vector<std::uint8_t> key_;
};

/// The instance URN inside a +sip.instance value: "<urn:uuid:x>" -> "urn:uuid:x".
std::string_view instanceUrn(std::string_view instance);

}  // namespace sipwarden::registrar
