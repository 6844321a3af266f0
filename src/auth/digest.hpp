// Digest arithmetic (RFC 7616 §3.4.1-§3.4.3, RFC 8760 for SHA-256 and SHA-512-256 in SIP):
// HA1, the response, and the hash algorithms. Pure functions over strings; OpenSSL stays in
// digest.cpp.
//
// Thread-safety: every function is reentrant.
#pragma once

#include <array>
#include <cstddef>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

namespace sipwarden::auth {

/// The algorithms RFC 8760 §2 allows in SIP. The "-sess" variants are not supported (RFC 8760 §2.5
/// leaves them to HTTP).
enum class DigestAlgorithm : std::uint8_t { Md5, Sha256, Sha512_256 };

/// "MD5", "SHA-256", "SHA-512-256", case-insensitively; anything else (the "-sess" variants
/// included) gives nullopt.
std::optional<DigestAlgorithm> parseAlgorithm(std::string_view name);

/// "MD5", "SHA-256", "SHA-512-256": the token written in the algorithm parameter.
std::string_view algorithmName(DigestAlgorithm algorithm);

/// The digest of `data` in lower-case hex (32, 64 or 64 characters). SHA-512-256 is SHA-512/256
/// of FIPS 180-4, not a truncated SHA-512 (RFC 7616 §3.2). Empty only if OpenSSL fails.
std::string digestHex(DigestAlgorithm algorithm, std::string_view data);

/// A digest in lower-case hex held inline, so that the hot path does not allocate: 32 characters for
/// MD5, 64 for SHA-256 and SHA-512-256. Empty (size 0) only if OpenSSL fails.
struct HexDigest {
  std::array<char, 64> text{};
  std::size_t size = 0;
  [[nodiscard]] std::string_view view() const { return {text.data(), size}; }
};

/// HA1 = H(username ":" realm ":" password) (RFC 7616 §3.4.2, non-"-sess" form).
std::string computeHa1(DigestAlgorithm algorithm, std::string_view username, std::string_view realm,
                       std::string_view password);

/// RFC 7616 §3.4.1 with qop="auth": H(HA1:nonce:nc:cnonce:qop:H(method:uri)); with an empty qop the
/// RFC 2069 form H(HA1:nonce:H(method:uri)). `ha1` is hex as computeHa1 returns it; `digestUri` is
/// the uri parameter exactly as sent (RFC 7616 §3.4.6).
std::string computeResponse(DigestAlgorithm algorithm, std::string_view ha1, std::string_view method,
                            std::string_view digestUri, std::string_view nonce, std::string_view nc,
                            std::string_view cnonce, std::string_view qop);

/// computeResponse into an inline buffer (no allocation).
HexDigest computeResponseHex(DigestAlgorithm algorithm, std::string_view ha1, std::string_view method,
                             std::string_view digestUri, std::string_view nonce, std::string_view nc,
                             std::string_view cnonce, std::string_view qop);

/// The HA1 of one user for every algorithm, as a credential store keeps them (so that passwords
/// need not be stored). Lower-case hex; an empty string means "not available for that algorithm".
struct Ha1Set {
  std::string md5, sha256, sha512_256;

  /// The HA1 for `algorithm` (empty when not available).
  [[nodiscard]] const std::string& forAlgorithm(DigestAlgorithm algorithm) const;
};

/// All three HA1s of username/realm/password.
Ha1Set computeHa1Set(std::string_view username, std::string_view realm, std::string_view password);

/// Compares two hex strings in time independent of where they differ (CRYPTO_memcmp); only the
/// lengths, which are public, leak. Used for responses so that a client cannot learn a valid
/// response byte by byte.
bool equalsConstantTime(std::string_view a, std::string_view b);

}  // namespace sipwarden::auth
