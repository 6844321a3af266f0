// What sipwarden knows about one X.509 certificate, as plain C++ values (no OpenSSL types), so the
// wiring, the admin API and the CLI can log and show certificates without including OpenSSL.
#pragma once

#include <chrono>
#include <optional>
#include <stdexcept>
#include <string>
#include <string_view>
#include <vector>

namespace sipwarden::tls {

/// A certificate, key or PKI file that cannot be used. what() names the file and the reason
/// (OpenSSL's, when it has one). Thrown at start-up and by the PKI helper, never on the data plane.
struct CertificateError : std::runtime_error {
  using std::runtime_error::runtime_error;
};

struct CertificateInfo {
  std::string subject;     ///< one-line RFC 2253 form, most specific RDN first: "CN=a.example,O=Example"
  std::string issuer;      ///< same form
  std::string serial;      ///< upper-case hex, as `openssl x509 -serial` prints it
  std::string sha1;        ///< SHA-1 thumbprint of the DER, colon-separated upper-case hex
  std::string sha256;      ///< SHA-256 fingerprint of the DER, same form
  std::string commonName;  ///< the subject's (last) CN, empty when it has none
  std::chrono::system_clock::time_point notBefore, notAfter;
  std::vector<std::string> dnsNames, uris, emails;  ///< subjectAltName entries (RFC 5280 §4.2.1.6)
  std::vector<std::string> ipAddresses;             ///< subjectAltName iPAddress entries, textual
  /// issuer == subject and the signature verifies with the certificate's own public key.
  bool selfSigned = false;
  bool isCa = false;  ///< basicConstraints cA = TRUE (RFC 5280 §4.2.1.9)
  /// Usable for TLS server / client authentication by extendedKeyUsage (RFC 5280 §4.2.1.12): true
  /// when the extension lists the purpose or anyExtendedKeyUsage, or is absent (no restriction).
  bool serverAuth = false, clientAuth = false;
};

/// One line for the server's log, returned by the certificate code instead of logging (the caller
/// owns the logger and its format).
struct LogLine {
  enum class Level { Info, Warn, Error } level = Level::Info;
  std::string text;
};

/// The log lines that identify a certificate (the Exchange guide's "issuer, serial number,
/// thumbprint", plus subject, SHA-256 fingerprint and validity, ISO 8601 UTC):
///   subject: ..., issuer: ..., serial: ..., SHA-1 thumbprint: ..., SHA-256 fingerprint: ...,
///   not before: ..., not after: ...
std::vector<std::string> describe(const CertificateInfo& info);

/// Whether `name` (a host name or an IP address literal) is one the certificate was issued for,
/// case-insensitively: an iPAddress SAN for addresses; else a DNS SAN, where "*.example.com"
/// stands for exactly one left-most label; the subject CN only when there is no DNS SAN
/// (RFC 6125 §6.4.3, §6.4.4).
bool certificateMatchesName(const CertificateInfo& info, std::string_view name);

/// Canonical text of an IP address literal ("::1", "192.0.2.1"; brackets allowed around IPv6),
/// or nullopt when `text` is not one.
std::optional<std::string> canonicalIpAddress(std::string_view text);

}  // namespace sipwarden::tls
