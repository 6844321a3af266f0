#include "tls/pki.hpp"

#include <openssl/x509v3.h>

#include <algorithm>

#include "tls/utc_time.hpp"
#include "tls/x509.hpp"

namespace sipwarden::tls {

namespace {

namespace fs = std::filesystem;
using std::chrono::days;
using TimePoint = std::chrono::system_clock::time_point;

constexpr const char* kOrganization = "sipwarden";
constexpr auto kClockSkew = std::chrono::minutes(5);
constexpr mode_t kKeyMode = 0600;
constexpr mode_t kPublicMode = 0644;

struct Asn1IntegerDeleter {
  void operator()(ASN1_INTEGER* p) const noexcept { ASN1_INTEGER_free(p); }
};
struct RevokedDeleter {
  void operator()(X509_REVOKED* p) const noexcept { X509_REVOKED_free(p); }
};
struct AuthorityKeyIdDeleter {
  void operator()(AUTHORITY_KEYID* p) const noexcept { AUTHORITY_KEYID_free(p); }
};
struct Asn1TimeDeleter {
  void operator()(ASN1_TIME* p) const noexcept { ASN1_TIME_free(p); }
};
using RevokedPtr = std::unique_ptr<X509_REVOKED, RevokedDeleter>;

[[noreturn]] void fail(const std::string& what) {
  std::string reason = takeOpenSslErrors();
  throw CertificateError(reason.empty() ? what : what + " (" + reason + ")");
}

std::string lowerCase(std::string s) {
  for (char& c : s) {
    if (c >= 'A' && c <= 'Z') c = static_cast<char>(c - 'A' + 'a');
  }
  return s;
}

/// Splits certificate names into DNS names and IP addresses, checking each: a DNS name is
/// letters, digits and hyphens in labels of 1 to 63 characters (RFC 1035 §2.3.1, as RFC 5280
/// §4.2.1.6 asks for dNSName), at most 253 in all, optionally with a "*." wildcard label first.
void splitNames(const std::vector<std::string>& names, std::vector<std::string>& dns, std::vector<std::string>& ips) {
  for (const std::string& raw : names) {
    if (auto ip = canonicalIpAddress(raw)) {
      ips.push_back(*ip);
      continue;
    }
    std::string name = lowerCase(raw);
    if (!name.empty() && name.back() == '.') name.pop_back();
    std::string_view rest = name;
    if (rest.substr(0, 2) == "*.") rest.remove_prefix(2);
    bool ok = !rest.empty() && name.size() <= 253;
    std::size_t labels = 0;
    while (ok && !rest.empty()) {
      std::size_t dot = rest.find('.');
      std::string_view label = rest.substr(0, dot);
      ok = !label.empty() && label.size() <= 63 && label.front() != '-' && label.back() != '-' &&
           std::all_of(label.begin(), label.end(),
                       [](char c) { return (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '-'; });
      ++labels;
      rest = dot == std::string_view::npos ? std::string_view() : rest.substr(dot + 1);
      if (dot != std::string_view::npos && rest.empty()) ok = false;
    }
    if (ok && name.substr(0, 2) == "*." && labels < 2) ok = false;  // "*.com"
    if (!ok) {
      throw CertificateError("\"" + raw +
                             "\" is neither a DNS name (labels of letters, digits and hyphens, "
                             "e.g. sip.example.com or *.example.com) nor an IP address");
    }
    if (std::find(dns.begin(), dns.end(), name) == dns.end()) dns.push_back(name);
  }
}

/// A CA's CN: "<name> Root CA", the name shortened to keep within ub-common-name (64).
std::string caName(const std::string& name, const std::string& suffix) {
  return name.substr(0, std::min(name.size(), 64 - suffix.size())) + suffix;
}

void refuseExisting(const std::vector<fs::path>& files, bool force) {
  if (force) return;
  std::string existing;
  for (const fs::path& f : files) {
    std::error_code ec;
    if (fs::exists(f, ec) || fs::is_symlink(f, ec)) existing += (existing.empty() ? "" : ", ") + f.string();
  }
  if (!existing.empty()) {
    throw CertificateError("refusing to overwrite " + existing + " (nothing was written; --force replaces them)");
  }
}

void createDirectory(const fs::path& dir) {
  if (dir.empty()) return;
  std::error_code ec;
  fs::create_directories(dir, ec);
  if (ec) throw CertificateError(dir.string() + ": cannot create the directory: " + ec.message());
}

std::unique_ptr<ASN1_TIME, Asn1TimeDeleter> asn1Time(TimePoint t) {
  std::unique_ptr<ASN1_TIME, Asn1TimeDeleter> r(
      ASN1_TIME_set(nullptr, std::chrono::system_clock::to_time_t(std::chrono::floor<std::chrono::seconds>(t))));
  if (!r) fail("cannot encode a time");
  return r;
}

/// The intermediate CA of a PKI directory, its key checked against it.
struct IssuingCa {
  X509Ptr certificate;
  EvpPkeyPtr key;
  CertificateInfo info;
};

IssuingCa loadIntermediate(const fs::path& caDir) {
  fs::path certFile = caDir / kIntermediateCaCertificate, keyFile = caDir / kIntermediateCaKey;
  std::error_code ec;
  if (!fs::exists(certFile, ec)) {
    throw CertificateError(certFile.string() + ": not found; is " + caDir.string() +
                           " a directory made by `sipwarden pki init`?");
  }
  IssuingCa ca;
  auto chain = loadCertificateChain(certFile);
  ca.certificate = std::move(chain.front());
  ca.key = loadPrivateKey(keyFile);
  if (!keyMatchesCertificate(ca.certificate.get(), ca.key.get())) {
    throw CertificateError(keyFile.string() + ": this key does not belong to " + certFile.string());
  }
  ca.info = certificateInfo(ca.certificate.get());
  if (!ca.info.isCa) throw CertificateError(certFile.string() + ": not a CA certificate (basicConstraints CA:FALSE)");
  return ca;
}

/// Builds and signs a v2 CRL (RFC 5280 §5.1) with the given entries: issuer, thisUpdate = now,
/// nextUpdate (§5.1.2.5: conforming CAs MUST include it), cRLNumber (§5.2.3, MUST) and
/// authorityKeyIdentifier (§5.2.1, MUST).
X509CrlPtr buildCrl(X509* caCertificate, EVP_PKEY* caKey, const std::vector<RevokedPtr>& entries, long number,
                    TimePoint now) {
  X509CrlPtr crl(X509_CRL_new());
  if (!crl || X509_CRL_set_version(crl.get(), X509_CRL_VERSION_2) != 1 ||
      X509_CRL_set_issuer_name(crl.get(), X509_get_subject_name(caCertificate)) != 1 ||
      X509_CRL_set1_lastUpdate(crl.get(), asn1Time(now).get()) != 1 ||
      X509_CRL_set1_nextUpdate(crl.get(), asn1Time(now + days(kCrlValidityDays)).get()) != 1) {
    fail("cannot build the CRL");
  }
  for (const RevokedPtr& e : entries) {
    X509_REVOKED* copy = X509_REVOKED_dup(e.get());
    if (!copy || X509_CRL_add0_revoked(crl.get(), copy) != 1) {
      X509_REVOKED_free(copy);
      fail("cannot add a CRL entry");
    }
  }
  std::unique_ptr<ASN1_INTEGER, Asn1IntegerDeleter> crlNumber(ASN1_INTEGER_new());
  if (!crlNumber || ASN1_INTEGER_set(crlNumber.get(), number) != 1 ||
      X509_CRL_add1_ext_i2d(crl.get(), NID_crl_number, crlNumber.get(), 0, X509V3_ADD_DEFAULT) != 1) {
    fail("cannot add the CRL number");
  }
  std::unique_ptr<AUTHORITY_KEYID, AuthorityKeyIdDeleter> akid(AUTHORITY_KEYID_new());
  const ASN1_OCTET_STRING* ski = X509_get0_subject_key_id(caCertificate);
  if (!akid || !ski || !(akid->keyid = ASN1_OCTET_STRING_dup(ski)) ||
      X509_CRL_add1_ext_i2d(crl.get(), NID_authority_key_identifier, akid.get(), 0, X509V3_ADD_DEFAULT) != 1) {
    fail("cannot add the CRL's authorityKeyIdentifier (the CA certificate needs a subjectKeyIdentifier)");
  }
  if (X509_CRL_sort(crl.get()) != 1 || X509_CRL_sign(crl.get(), caKey, EVP_sha256()) <= 0) {
    fail("cannot sign the CRL");
  }
  return crl;
}

/// The entries and number of the CA's current CRL (none and 0 when there is no file), after
/// checking that the CA signed it.
std::vector<RevokedPtr> readCrl(const IssuingCa& ca, const fs::path& file, long& number) {
  std::vector<RevokedPtr> entries;
  number = 0;
  std::error_code ec;
  if (!fs::exists(file, ec)) return entries;
  X509CrlPtr crl = loadCrl(file);
  if (X509_NAME_cmp(X509_CRL_get_issuer(crl.get()), X509_get_subject_name(ca.certificate.get())) != 0 ||
      X509_CRL_verify(crl.get(), X509_get0_pubkey(ca.certificate.get())) != 1) {
    takeOpenSslErrors();
    throw CertificateError(file.string() +
                           ": not signed by the intermediate CA beside it; move it away to start a "
                           "new CRL");
  }
  std::unique_ptr<ASN1_INTEGER, Asn1IntegerDeleter> n(
      static_cast<ASN1_INTEGER*>(X509_CRL_get_ext_d2i(crl.get(), NID_crl_number, nullptr, nullptr)));
  if (n) number = ASN1_INTEGER_get(n.get());
  STACK_OF(X509_REVOKED)* revoked = X509_CRL_get_REVOKED(crl.get());
  for (int i = 0; revoked && i < sk_X509_REVOKED_num(revoked); ++i) {
    RevokedPtr copy(X509_REVOKED_dup(sk_X509_REVOKED_value(revoked, i)));
    if (!copy) fail("out of memory");
    entries.push_back(std::move(copy));
  }
  return entries;
}

}  // namespace

bool isValidCertificateName(std::string_view name) {
  std::vector<std::string> dns, ips;
  try {
    splitNames({std::string(name)}, dns, ips);
  } catch (const CertificateError&) {
    return false;
  }
  return true;
}

std::pair<TimePoint, TimePoint> resolveValidity(const ValiditySpec& spec, TimePoint now) {
  if (spec.days < -36500 || spec.days > 36500) throw CertificateError("--days must be within ±36500 (100 years)");
  TimePoint notAfter = spec.notAfter.value_or(now + days(spec.days));
  TimePoint notBefore = spec.notBefore.value_or(std::min(now - kClockSkew, notAfter - days(1)));
  if (notAfter <= notBefore)
    throw CertificateError("the validity period is empty: not-after must come after not-before");
  return {notBefore, notAfter};
}

IssuedFiles initPki(const PkiInitOptions& options, TimePoint now) {
  if (options.names.empty())
    throw CertificateError("at least one name (--domain) is needed for the server certificate");
  CertificateProfile server;
  splitNames(options.names, server.dnsNames, server.ipAddresses);
  std::string first = canonicalIpAddress(options.names.front()).value_or(lowerCase(options.names.front()));
  if (!first.empty() && first.back() == '.') first.pop_back();
  server.commonName = first;
  server.serverAuth = true;
  server.clientAuth = true;  // a server presents it as a client to peers it connects to (mutual TLS)
  std::tie(server.notBefore, server.notAfter) = resolveValidity(options.server, now);

  // The CAs outlive what they sign: 5 years (intermediate), 10 years (root), longer when needed.
  CertificateProfile intermediate, root;
  root.organization = intermediate.organization = kOrganization;
  root.commonName = caName(first, " Root CA");
  intermediate.commonName = caName(first, " Intermediate CA");
  root.ca = intermediate.ca = true;
  intermediate.pathLength = 0;  // it issues end-entity certificates only (RFC 5280 §4.2.1.9)
  intermediate.notBefore = root.notBefore = std::min(now - kClockSkew, server.notBefore);
  intermediate.notAfter = std::max(now + days(5 * 365), server.notAfter + days(1));
  root.notAfter = std::max(now + days(10 * 365), intermediate.notAfter + days(1));

  const fs::path& dir = options.outDir;
  std::vector<fs::path> files{dir / kRootCaKey,         dir / kIntermediateCaKey,         dir / kServerKey,
                              dir / kRootCaCertificate, dir / kIntermediateCaCertificate, dir / kIntermediateCaCrl,
                              dir / kCaChain,           dir / kServerCertificate,         dir / kServerChain};
  refuseExisting(files, options.force);

  EvpPkeyPtr rootKey = generateEcKey(), intermediateKey = generateEcKey(), serverKey = generateEcKey();
  X509Ptr rootCert = issueCertificate(root, rootKey.get(), nullptr, nullptr);
  X509Ptr intermediateCert = issueCertificate(intermediate, intermediateKey.get(), rootCert.get(), rootKey.get());
  X509Ptr serverCert = issueCertificate(server, serverKey.get(), intermediateCert.get(), intermediateKey.get());
  X509CrlPtr crl = buildCrl(intermediateCert.get(), intermediateKey.get(), {}, 1, now);

  createDirectory(dir);
  std::vector<std::string> contents{privateKeyToPem(rootKey.get()),
                                    privateKeyToPem(intermediateKey.get()),
                                    privateKeyToPem(serverKey.get()),
                                    toPem(rootCert.get()),
                                    toPem(intermediateCert.get()),
                                    toPem(crl.get()),
                                    toPem(intermediateCert.get()) + toPem(rootCert.get()),
                                    toPem(serverCert.get()),
                                    toPem(serverCert.get()) + toPem(intermediateCert.get())};
  IssuedFiles out;
  for (std::size_t i = 0; i < files.size(); ++i) {
    writeFileAtomically(files[i], contents[i], i < 3 ? kKeyMode : kPublicMode);
    out.written.push_back(files[i]);
  }
  out.certificate = certificateInfo(serverCert.get());
  return out;
}

IssuedFiles issueClientCertificate(const ClientCertificateOptions& options, TimePoint now) {
  const std::string& name = options.name;
  bool safe = !name.empty() && name.size() <= 64 && name.front() != '.' && name.front() != '-' &&
              std::all_of(name.begin(), name.end(), [](char c) {
                return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '.' ||
                       c == '-' || c == '_' || c == '@';
              });
  if (!safe) {
    throw CertificateError("\"" + name +
                           "\": a client name is 1 to 64 letters, digits, '.', '-', '_' or '@' (it "
                           "names the files), not starting with '.' or '-'");
  }
  for (const char* reserved : {"root-ca", "intermediate-ca", "ca-chain", "server", "server-chain"}) {
    if (name == reserved)
      throw CertificateError("\"" + name + "\" names a file of the PKI itself; choose another name");
  }
  CertificateProfile client;
  client.commonName = name;
  client.clientAuth = true;
  for (const std::string& e : options.emails) {
    std::size_t at = e.find('@');
    if (at == 0 || at == std::string::npos || at + 1 == e.size()) {
      throw CertificateError("\"" + e + "\" is not an email address (local@domain)");
    }
    client.emails.push_back(e);
  }
  for (const std::string& u : options.uris) {
    std::string scheme = lowerCase(u.substr(0, u.find(':')));
    if (u.find(':') == std::string::npos || (scheme != "sip" && scheme != "sips") || u.size() <= scheme.size() + 1) {
      throw CertificateError("\"" + u + "\" is not a SIP URI (sip:user@domain or sips:user@domain)");
    }
    client.uris.push_back(u);
  }
  std::tie(client.notBefore, client.notAfter) = resolveValidity(options.validity, now);

  IssuingCa ca = loadIntermediate(options.caDir);
  if (client.notAfter > ca.info.notAfter) {
    throw CertificateError("the certificate would outlive its issuer " +
                           (options.caDir / kIntermediateCaCertificate).string() + " (not after " +
                           formatUtc(ca.info.notAfter) + "); ask for fewer --days");
  }
  fs::path dir = options.outDir.empty() ? options.caDir : options.outDir;
  std::vector<fs::path> files{dir / (name + ".key"), dir / (name + ".crt"), dir / (name + "-chain.crt")};
  refuseExisting(files, options.force);

  EvpPkeyPtr key = generateEcKey();
  X509Ptr cert = issueCertificate(client, key.get(), ca.certificate.get(), ca.key.get());
  createDirectory(dir);
  std::vector<std::string> contents{privateKeyToPem(key.get()), toPem(cert.get()),
                                    toPem(cert.get()) + toPem(ca.certificate.get())};
  IssuedFiles out;
  for (std::size_t i = 0; i < files.size(); ++i) {
    writeFileAtomically(files[i], contents[i], i == 0 ? kKeyMode : kPublicMode);
    out.written.push_back(files[i]);
  }
  out.certificate = certificateInfo(cert.get());
  return out;
}

RevokeResult revokeCertificate(const std::string& certificate, const fs::path& caDir, TimePoint now) {
  bool isPath =
      certificate.find('/') != std::string::npos || certificate.ends_with(".crt") || certificate.ends_with(".pem");
  fs::path file = isPath ? fs::path(certificate) : caDir / (certificate + ".crt");
  std::error_code ec;
  if (!fs::exists(file, ec)) {
    throw CertificateError(file.string() + ": not found (give NAME for " + (caDir / "NAME.crt").string() +
                           ", or the certificate's file)");
  }
  IssuingCa ca = loadIntermediate(caDir);
  auto chain = loadCertificateChain(file);
  X509* leaf = chain.front().get();
  if (X509_check_issued(ca.certificate.get(), leaf) != X509_V_OK ||
      X509_verify(leaf, X509_get0_pubkey(ca.certificate.get())) != 1) {
    takeOpenSslErrors();
    throw CertificateError(file.string() + ": not issued by " + (caDir / kIntermediateCaCertificate).string() +
                           "; only that CA's CRL is kept here");
  }

  RevokeResult result;
  result.crlFile = caDir / kIntermediateCaCrl;
  result.serial = certificateInfo(leaf).serial;
  long number = 0;
  std::vector<RevokedPtr> entries = readCrl(ca, result.crlFile, number);
  const ASN1_INTEGER* serial = X509_get0_serialNumber(leaf);
  for (const RevokedPtr& e : entries) {
    if (ASN1_INTEGER_cmp(X509_REVOKED_get0_serialNumber(e.get()), serial) == 0) result.alreadyRevoked = true;
  }
  if (!result.alreadyRevoked) {
    // RFC 5280 §5.3.1: no reasonCode entry extension (the reason is "unspecified").
    RevokedPtr entry(X509_REVOKED_new());
    if (!entry || X509_REVOKED_set_serialNumber(entry.get(), const_cast<ASN1_INTEGER*>(serial)) != 1 ||
        X509_REVOKED_set_revocationDate(entry.get(), asn1Time(now).get()) != 1) {
      fail("cannot build the CRL entry");
    }
    entries.push_back(std::move(entry));
  }
  X509CrlPtr crl = buildCrl(ca.certificate.get(), ca.key.get(), entries, number + 1, now);
  writeFileAtomically(result.crlFile, toPem(crl.get()), kPublicMode);
  result.revokedCount = entries.size();
  result.nextUpdate = toTimePoint(X509_CRL_get0_nextUpdate(crl.get()));
  return result;
}

RevokeResult refreshCrl(const fs::path& caDir, TimePoint now) {
  IssuingCa ca = loadIntermediate(caDir);
  RevokeResult result;
  result.crlFile = caDir / kIntermediateCaCrl;
  long number = 0;
  std::vector<RevokedPtr> entries = readCrl(ca, result.crlFile, number);
  X509CrlPtr crl = buildCrl(ca.certificate.get(), ca.key.get(), entries, number + 1, now);
  writeFileAtomically(result.crlFile, toPem(crl.get()), kPublicMode);
  result.revokedCount = entries.size();
  result.nextUpdate = toTimePoint(X509_CRL_get0_nextUpdate(crl.get()));
  return result;
}

CertificateInfo writeSelfSignedCertificate(const SelfSignedOptions& options) {
  if (options.names.empty()) throw CertificateError("a self-signed certificate needs at least one name");
  CertificateProfile profile;
  splitNames(options.names, profile.dnsNames, profile.ipAddresses);
  profile.commonName = canonicalIpAddress(options.names.front()).value_or(lowerCase(options.names.front()));
  profile.serverAuth = profile.clientAuth = true;
  profile.notBefore = options.notBefore;
  profile.notAfter = options.notAfter;
  EvpPkeyPtr key = generateEcKey();
  X509Ptr cert = issueCertificate(profile, key.get(), nullptr, nullptr);
  createDirectory(options.certificateFile.parent_path());
  createDirectory(options.keyFile.parent_path());
  writeFileAtomically(options.keyFile, privateKeyToPem(key.get()), kKeyMode);
  writeFileAtomically(options.certificateFile, toPem(cert.get()), kPublicMode);
  return certificateInfo(cert.get());
}

}  // namespace sipwarden::tls
