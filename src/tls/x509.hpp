// OpenSSL 3 X.509 plumbing for the tls/ layer: owning handles, PEM loading and writing, the
// CertificateInfo of an X509, and building certificates and CRLs. This header includes OpenSSL;
// the rest of the server uses the plain-C++ headers (certificate_store.hpp, pki.hpp, expiry.hpp).
//
// Every function here throws CertificateError naming the file (or the object) and OpenSSL's
// reason; none keeps state, so all are safe to call from any thread.
#pragma once

#include <openssl/evp.h>
#include <openssl/x509.h>
#include <sys/types.h>

#include <chrono>
#include <filesystem>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "tls/certificate_info.hpp"

namespace sipwarden::tls {

struct X509Deleter {
  void operator()(X509* p) const noexcept { X509_free(p); }
};
struct EvpPkeyDeleter {
  void operator()(EVP_PKEY* p) const noexcept { EVP_PKEY_free(p); }
};
struct X509CrlDeleter {
  void operator()(X509_CRL* p) const noexcept { X509_CRL_free(p); }
};
struct BioDeleter {
  void operator()(BIO* p) const noexcept { BIO_free_all(p); }
};
struct X509StackDeleter {
  void operator()(STACK_OF(X509) * p) const noexcept { sk_X509_pop_free(p, X509_free); }
};

using X509Ptr = std::unique_ptr<X509, X509Deleter>;
using EvpPkeyPtr = std::unique_ptr<EVP_PKEY, EvpPkeyDeleter>;
using X509CrlPtr = std::unique_ptr<X509_CRL, X509CrlDeleter>;
using BioPtr = std::unique_ptr<BIO, BioDeleter>;
using X509StackPtr = std::unique_ptr<STACK_OF(X509), X509StackDeleter>;

/// OpenSSL's error queue as one line ("" when empty); the queue is cleared.
std::string takeOpenSslErrors();

/// The whole file; throws CertificateError naming it when it cannot be read.
std::string readFile(const std::filesystem::path& file);

/// Every CERTIFICATE block of a PEM text, in order (a chain file: leaf first). `origin` names the
/// text in errors. Throws when the text holds no certificate or a block does not parse.
std::vector<X509Ptr> parseCertificateChain(std::string_view pem, const std::string& origin);
std::vector<X509Ptr> loadCertificateChain(const std::filesystem::path& file);

/// Whether the PEM text holds a private key block (PRIVATE KEY, EC/RSA PRIVATE KEY, ENCRYPTED ...).
bool containsPrivateKey(std::string_view pem);
/// The first private key of a PEM text (it may follow certificates, as in a combined file).
/// Encrypted keys are refused (the server cannot ask for a pass phrase).
EvpPkeyPtr parsePrivateKey(std::string_view pem, const std::string& origin);
EvpPkeyPtr loadPrivateKey(const std::filesystem::path& file);

/// The certificate's public key is the key's (the pair can be used together).
bool keyMatchesCertificate(X509* certificate, EVP_PKEY* key);

/// Subject, issuer, serial, fingerprints, validity, subjectAltNames, CA and usage flags.
CertificateInfo certificateInfo(X509* certificate);

/// "AB:CD:..." digest of the certificate's DER.
std::string fingerprint(X509* certificate, const EVP_MD* digest);

std::chrono::system_clock::time_point toTimePoint(const ASN1_TIME* t);

std::string toPem(X509* certificate);
std::string toPem(X509_CRL* crl);
/// PKCS#8, unencrypted (the file is protected by its mode, 0600).
std::string privateKeyToPem(EVP_PKEY* key);

X509CrlPtr loadCrl(const std::filesystem::path& file);

/// A new EC P-256 key (RFC 5480 secp256r1).
EvpPkeyPtr generateEcKey();

/// What goes into a certificate built by issueCertificate().
struct CertificateProfile {
  std::string commonName;
  std::string organization;  ///< O= of the subject; empty: none
  /// subjectAltName: DNS names, IP addresses (textual, IPv4 or IPv6), URIs, email addresses.
  std::vector<std::string> dnsNames, ipAddresses, uris, emails;
  bool ca = false;
  std::optional<int> pathLength;  ///< CA only: pathLenConstraint
  bool serverAuth = false, clientAuth = false;
  std::chrono::system_clock::time_point notBefore, notAfter;
};

/// Builds and signs (ECDSA with SHA-256) a v3 certificate for `subjectKey`. With issuer == nullptr
/// it is self-signed with `subjectKey`; else it is signed by `issuerKey` under `issuer`'s name.
/// Extensions (RFC 5280 §4.2.1): subjectKeyIdentifier, authorityKeyIdentifier, basicConstraints
/// (critical), keyUsage (critical), extendedKeyUsage and subjectAltName when the profile has them.
/// The serial number is random, 128 bits, positive (§4.1.2.2).
X509Ptr issueCertificate(const CertificateProfile& profile, EVP_PKEY* subjectKey, X509* issuer, EVP_PKEY* issuerKey);

/// Writes `content` to a temporary file beside `file` with `mode`, flushes it to disk and renames
/// it over `file`, so a reader sees the old file or the new one, never half of one.
void writeFileAtomically(const std::filesystem::path& file, std::string_view content, mode_t mode);

}  // namespace sipwarden::tls
