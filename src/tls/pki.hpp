// A small PKI for sipwarden deployments (the EMQX guide's layout): a root CA, an intermediate CA
// signed by it, server and client certificates from the intermediate, and a CRL. EC P-256 keys,
// ECDSA with SHA-256, extensions as RFC 5280 §4.2.1 asks (see issueCertificate in x509.hpp).
// Plain C++: no OpenSSL types here. Every function throws CertificateError naming the file.
#pragma once

#include <chrono>
#include <filesystem>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "tls/certificate_info.hpp"

namespace sipwarden::tls {

/// File names in a PKI directory.
inline constexpr const char* kRootCaCertificate = "root-ca.crt";
inline constexpr const char* kRootCaKey = "root-ca.key";
inline constexpr const char* kIntermediateCaCertificate = "intermediate-ca.crt";
inline constexpr const char* kIntermediateCaKey = "intermediate-ca.key";
inline constexpr const char* kIntermediateCaCrl = "intermediate-ca.crl";
inline constexpr const char* kCaChain = "ca-chain.crt";  ///< intermediate + root: what peers trust
inline constexpr const char* kServerCertificate = "server.crt";
inline constexpr const char* kServerChain = "server-chain.crt";  ///< leaf + intermediate: [tls] certificate
inline constexpr const char* kServerKey = "server.key";

/// A validity period: explicit times win; otherwise notAfter = now + days (negative: a
/// certificate that has already expired) and notBefore = the earlier of 5 minutes ago (clock
/// skew between peers) and one day before notAfter.
struct ValiditySpec {
  int days = 365;
  std::optional<std::chrono::system_clock::time_point> notBefore{}, notAfter{};
};

struct PkiInitOptions {
  /// DNS names (lower-cased; "*.example.com" allowed) or IP address literals for the server
  /// certificate's subjectAltName; the first is its CN and names the CAs.
  std::vector<std::string> names;
  std::filesystem::path outDir;
  ValiditySpec server;  ///< the server certificate; the CAs (10 and 5 years) are stretched to cover it
  bool force = false;   ///< replace existing files (else nothing is written when one exists)
};

struct IssuedFiles {
  std::vector<std::filesystem::path> written;
  CertificateInfo certificate;  ///< the server or client certificate issued
};

/// Writes root-ca.crt/.key, intermediate-ca.crt/.key, intermediate-ca.crl (empty), server.crt,
/// server-chain.crt, server.key and ca-chain.crt into outDir (created when missing). Keys 0600.
IssuedFiles initPki(const PkiInitOptions& options, std::chrono::system_clock::time_point now);

struct ClientCertificateOptions {
  std::string name;  ///< the CN and the file names NAME.crt, NAME-chain.crt, NAME.key
  std::filesystem::path caDir;
  std::filesystem::path outDir;  ///< empty: caDir
  ValiditySpec validity;
  std::vector<std::string> emails;  ///< subjectAltName rfc822Name
  std::vector<std::string> uris;    ///< subjectAltName URI, e.g. sip:alice@example.com
  bool force = false;
};

/// A certificate for TLS client authentication (extendedKeyUsage clientAuth) from the
/// intermediate CA in caDir. Refuses a validity that would outlast the intermediate.
IssuedFiles issueClientCertificate(const ClientCertificateOptions& options, std::chrono::system_clock::time_point now);

struct RevokeResult {
  std::filesystem::path crlFile;
  std::string serial;  ///< of the certificate revoked (upper-case hex)
  bool alreadyRevoked = false;
  std::size_t revokedCount = 0;  ///< entries in the CRL now
  std::chrono::system_clock::time_point nextUpdate;
};

/// Adds the certificate's serial to caDir/intermediate-ca.crl (a v2 CRL signed by the
/// intermediate, RFC 5280 §5; nextUpdate 30 days on) and re-signs it (also when the serial is on
/// it already: that only refreshes nextUpdate). `certificate` is a file name or NAME
/// (caDir/NAME.crt). The certificate must have been issued by that intermediate.
RevokeResult revokeCertificate(const std::string& certificate, const std::filesystem::path& caDir,
                               std::chrono::system_clock::time_point now);

/// Re-issues caDir/intermediate-ca.crl with the same entries and a new nextUpdate (30 days), as
/// relying parties reject a CRL past its nextUpdate.
RevokeResult refreshCrl(const std::filesystem::path& caDir, std::chrono::system_clock::time_point now);

/// Days a CRL is valid for (nextUpdate - thisUpdate).
inline constexpr int kCrlValidityDays = 30;

struct SelfSignedOptions {
  std::vector<std::string> names;  ///< DNS names or IP literals; [0] is the CN
  std::filesystem::path certificateFile, keyFile;
  std::chrono::system_clock::time_point notBefore, notAfter;
};

/// A self-signed EC P-256 certificate (CA:FALSE, digitalSignature, serverAuth + clientAuth) for
/// the names, written atomically: the key (0600) first, then the certificate (0644).
CertificateInfo writeSelfSignedCertificate(const SelfSignedOptions& options);

/// Whether `name` can go into a certificate's subjectAltName: an IP address literal, or a DNS
/// name (letters, digits, hyphens; labels of 1 to 63; "*." allowed as the first label).
bool isValidCertificateName(std::string_view name);

/// The validity period a spec gives at `now`; throws when it is empty.
std::pair<std::chrono::system_clock::time_point, std::chrono::system_clock::time_point> resolveValidity(
    const ValiditySpec& spec, std::chrono::system_clock::time_point now);

}  // namespace sipwarden::tls
