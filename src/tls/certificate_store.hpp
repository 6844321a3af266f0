// Which certificates the TLS listeners present (the Exchange UM guide's selection): candidates
// are the configured pair and every certificate with its key in the certificates directory;
// unusable ones are skipped with a log line; CA-issued certificates come before self-signed ones,
// then the longest remaining validity; one certificate per served name (SNI); and when nothing
// is usable, a self-signed certificate is generated in the data directory and kept for the
// next start. Plain C++ (no OpenSSL types), so the wiring and the CLI use it directly.
#pragma once

#include <chrono>
#include <filesystem>
#include <limits>
#include <string>
#include <vector>

#include "tls/certificate_info.hpp"

namespace sipwarden::tls {

struct CertificateStoreSettings {
  /// The explicit pair ([tls] certificate / private_key): a PEM chain, leaf first, and its key.
  /// Both or neither. An unreadable file or a key that does not match is an error, not a skip.
  std::filesystem::path certificateFile, keyFile;
  /// [tls] certificates_dir: every NAME.crt / NAME.pem in it (not recursive) is a candidate, with
  /// its key in the same file or in NAME.key beside it (for NAME-chain.crt, also in NAME.key, the
  /// layout `sipwarden pki` writes). May be empty.
  std::filesystem::path directory;
  /// The generated self-signed certificate lives in dataDir/tls/self-signed.crt and .key.
  std::filesystem::path dataDir;
  /// The names clients may ask for: the served domains, then the host name. Lower-case; IP
  /// address literals allowed. The first names a generated certificate (CN).
  std::vector<std::string> names;
  /// How many of `names`, from the first, are served domains. A domain no usable certificate names
  /// is logged as a warning; the others (the host name) get the default certificate quietly, and
  /// a kept self-signed certificate is reused even when it does not name them.
  std::size_t domainNames = std::numeric_limits<std::size_t>::max();
  /// With nothing usable: generate (the server) or only report (`sipwarden cert status`).
  bool generateIfNone = true;
};

struct SelectedCertificate {
  std::filesystem::path certificateFile, keyFile;  ///< keyFile == certificateFile for a combined file
  CertificateInfo info;
  /// The configured names for which SNI picks this certificate (may be empty for the default).
  std::vector<std::string> servesNames;
};

struct Selection {
  /// [0] is the default, presented without SNI or for a name no certificate matches: the best
  /// certificate for the first served domain, else the best overall. Each certificate appears once. Empty only when nothing is usable and
  /// generateIfNone is false.
  std::vector<SelectedCertificate> certificates;
  /// What was skipped and why, what was generated, and the certificates in use (describe()).
  std::vector<LogLine> log;
  bool generated = false;  ///< a self-signed certificate was written by this call
};

/// Where the generated self-signed certificate lives.
std::filesystem::path selfSignedCertificateFile(const std::filesystem::path& dataDir);
std::filesystem::path selfSignedKeyFile(const std::filesystem::path& dataDir);

/// A generated certificate is valid for this long.
inline constexpr std::chrono::days kSelfSignedValidity{365};

/// Runs the selection at `now`. Reads files, and with generateIfNone may write
/// dataDir/tls/self-signed.{crt,key}. Throws CertificateError (naming the file) when the explicit
/// pair cannot be read or does not match, when certificates_dir is not a directory, or when a
/// certificate is needed and cannot be written. Not thread-safe against a concurrent call with the
/// same dataDir (the server calls it from one thread, at start and on reload).
Selection selectCertificates(const CertificateStoreSettings& settings, std::chrono::system_clock::time_point now);

}  // namespace sipwarden::tls
