#include "tls/certificate_store.hpp"

#include <sys/stat.h>

#include <algorithm>
#include <cstdio>
#include <optional>

#include "tls/pki.hpp"
#include "tls/utc_time.hpp"
#include "tls/x509.hpp"

namespace sipwarden::tls {

namespace {

namespace fs = std::filesystem;
using TimePoint = std::chrono::system_clock::time_point;
using Level = LogLine::Level;

enum class Origin { Explicit, Directory, Generated };

struct Candidate {
  fs::path certificateFile, keyFile;
  CertificateInfo info;
  std::size_t chainLength = 1;
  Origin origin = Origin::Directory;
};

std::string normalizeName(const std::string& name) {
  if (auto ip = canonicalIpAddress(name)) return *ip;
  std::string s = name;
  for (char& c : s) {
    if (c >= 'A' && c <= 'Z') c = static_cast<char>(c - 'A' + 'a');
  }
  if (!s.empty() && s.back() == '.') s.pop_back();
  return s;
}

std::string joined(const std::vector<std::string>& v) {
  std::string r;
  for (const std::string& s : v) r += (r.empty() ? "" : ", ") + s;
  return r;
}

/// Whether the candidate may be presented by a server at `now`; logs why not.
bool usable(const Candidate& c, TimePoint now, std::vector<LogLine>& log) {
  const std::string file = c.certificateFile.string();
  if (c.info.isCa) {
    log.push_back({c.origin == Origin::Explicit ? Level::Warn : Level::Info,
                   file + ": a CA certificate (basicConstraints CA:TRUE), not a server certificate (skipped)"});
    return false;
  }
  if (!c.info.serverAuth) {
    log.push_back({Level::Warn, file + ": its extendedKeyUsage does not allow TLS servers (no serverAuth) (skipped)"});
    return false;
  }
  // RFC 5280 §4.1.2.5: valid from notBefore through notAfter inclusive.
  if (now < c.info.notBefore) {
    log.push_back({Level::Warn, file + ": not valid before " + formatUtc(c.info.notBefore) + " (skipped)"});
    return false;
  }
  if (now > c.info.notAfter) {
    log.push_back({Level::Warn, file + ": expired on " + formatUtc(c.info.notAfter) + " (skipped)"});
    return false;
  }
  return true;
}

Candidate explicitCandidate(const CertificateStoreSettings& s) {
  if (s.certificateFile.empty() || s.keyFile.empty()) {
    throw CertificateError("tls.certificate and tls.private_key go together; set both (or neither)");
  }
  auto chain = loadCertificateChain(s.certificateFile);
  EvpPkeyPtr key = loadPrivateKey(s.keyFile);
  if (!keyMatchesCertificate(chain.front().get(), key.get())) {
    throw CertificateError(s.keyFile.string() + ": this private key does not belong to the certificate " +
                           s.certificateFile.string() + " (their public keys differ)");
  }
  return {s.certificateFile, s.keyFile, certificateInfo(chain.front().get()), chain.size(), Origin::Explicit};
}

/// One file of the certificates directory: a candidate when it holds a certificate whose key is
/// found and matches; otherwise nothing, with a log line (none for a file holding only a key).
std::optional<Candidate> directoryCandidate(const fs::path& file, std::vector<LogLine>& log) {
  std::string text;
  try {
    text = readFile(file);
  } catch (const CertificateError& e) {
    log.push_back({Level::Warn, std::string(e.what()) + " (skipped)"});
    return std::nullopt;
  }
  if (text.find("-----BEGIN CERTIFICATE-----") == std::string::npos) {
    if (!containsPrivateKey(text)) log.push_back({Level::Warn, file.string() + ": no PEM certificate in it (skipped)"});
    return std::nullopt;
  }
  Candidate c;
  c.certificateFile = file;
  c.origin = Origin::Directory;
  EvpPkeyPtr key;
  try {
    auto chain = parseCertificateChain(text, file.string());
    c.info = certificateInfo(chain.front().get());
    c.chainLength = chain.size();
    if (c.info.isCa) {
      usable(c, TimePoint{}, log);  // logs the skip
      return std::nullopt;
    }
    if (containsPrivateKey(text)) {
      c.keyFile = file;
      key = parsePrivateKey(text, file.string());
    } else {
      std::string stem = file.stem().string();
      std::vector<fs::path> keyFiles{file.parent_path() / (stem + ".key")};
      if (stem.size() > 6 && stem.ends_with("-chain")) {
        keyFiles.push_back(file.parent_path() / (stem.substr(0, stem.size() - 6) + ".key"));
      }
      for (const fs::path& k : keyFiles) {
        std::error_code ec;
        if (fs::is_regular_file(k, ec)) {
          c.keyFile = k;
          break;
        }
      }
      if (c.keyFile.empty()) {
        std::string names;
        for (const fs::path& k : keyFiles) names += (names.empty() ? "" : " or ") + k.filename().string();
        log.push_back({Level::Warn, file.string() + ": no private key, neither in the file nor in " + names +
                                        " beside it (skipped)"});
        return std::nullopt;
      }
      key = loadPrivateKey(c.keyFile);
    }
    if (!keyMatchesCertificate(chain.front().get(), key.get())) {
      log.push_back({Level::Warn, file.string() + ": the private key in " + c.keyFile.string() +
                                      " does not belong to this certificate (skipped)"});
      return std::nullopt;
    }
  } catch (const CertificateError& e) {
    log.push_back({Level::Warn, std::string(e.what()) + " (skipped)"});
    return std::nullopt;
  }
  return c;
}

std::vector<Candidate> directoryCandidates(const fs::path& dir, std::vector<LogLine>& log) {
  std::error_code ec;
  if (!fs::is_directory(dir, ec)) {
    throw CertificateError(dir.string() + ": tls.certificates_dir is not a directory" +
                           (ec ? " (" + ec.message() + ")" : std::string()));
  }
  std::vector<fs::path> files;
  for (fs::directory_iterator it(dir, ec), end; !ec && it != end; it.increment(ec)) {
    const fs::path& p = it->path();
    std::string ext = p.extension().string();
    std::error_code fec;
    if ((ext == ".crt" || ext == ".pem") && fs::is_regular_file(p, fec)) files.push_back(p);
  }
  if (ec) throw CertificateError(dir.string() + ": cannot list tls.certificates_dir: " + ec.message());
  std::sort(files.begin(), files.end());
  std::vector<Candidate> out;
  for (const fs::path& f : files) {
    if (auto c = directoryCandidate(f, log)) out.push_back(std::move(*c));
  }
  return out;
}

/// The kept self-signed certificate, when it can serve again: readable, its key matches, valid at
/// `now` and naming every configured name. Otherwise nullopt and `why` says what is wrong.
std::optional<Candidate> reusableSelfSigned(const fs::path& dataDir, const std::vector<std::string>& names,
                                            TimePoint now, std::string& why) {
  if (dataDir.empty()) return std::nullopt;
  fs::path crt = selfSignedCertificateFile(dataDir), key = selfSignedKeyFile(dataDir);
  std::error_code ec;
  if (!fs::exists(crt, ec) && !fs::exists(key, ec)) return std::nullopt;
  try {
    auto chain = loadCertificateChain(crt);
    EvpPkeyPtr k = loadPrivateKey(key);
    if (!keyMatchesCertificate(chain.front().get(), k.get())) {
      why = key.string() + " does not belong to " + crt.string();
      return std::nullopt;
    }
    Candidate c{crt, key, certificateInfo(chain.front().get()), chain.size(), Origin::Generated};
    if (now > c.info.notAfter) {
      why = crt.string() + " expired on " + formatUtc(c.info.notAfter);
      return std::nullopt;
    }
    if (now < c.info.notBefore) {
      why = crt.string() + " is not valid before " + formatUtc(c.info.notBefore);
      return std::nullopt;
    }
    std::vector<std::string> missing;
    for (const std::string& n : names) {
      if (!certificateMatchesName(c.info, n)) missing.push_back(n);
    }
    if (!missing.empty()) {
      why = crt.string() + " does not name " + joined(missing);
      return std::nullopt;
    }
    return c;
  } catch (const CertificateError& e) {
    why = e.what();
    return std::nullopt;
  }
}

/// mode & 077 on a key in use: anyone on the machine who can read it can impersonate the server.
void checkKeyMode(const fs::path& key, std::vector<LogLine>& log) {
  struct stat st {};
  if (::stat(key.c_str(), &st) == 0 && (st.st_mode & 077) != 0) {
    char mode[8];
    std::snprintf(mode, sizeof mode, "%04o", static_cast<unsigned>(st.st_mode & 07777));
    log.push_back({Level::Warn, key.string() + ": the private key is readable by other users (mode " + mode +
                                    "); chmod 600 " + key.string()});
  }
}

}  // namespace

fs::path selfSignedCertificateFile(const fs::path& dataDir) { return dataDir / "tls" / "self-signed.crt"; }
fs::path selfSignedKeyFile(const fs::path& dataDir) { return dataDir / "tls" / "self-signed.key"; }

Selection selectCertificates(const CertificateStoreSettings& settings, TimePoint now) {
  Selection out;
  std::vector<std::string> names;
  std::size_t domains = 0;  // names[0, domains) are served domains
  for (std::size_t i = 0; i < settings.names.size(); ++i) {
    std::string name = normalizeName(settings.names[i]);
    if (name.empty() || std::find(names.begin(), names.end(), name) != names.end()) continue;
    names.push_back(name);
    if (i < settings.domainNames) domains = names.size();
  }

  std::vector<Candidate> candidates;
  if (!settings.certificateFile.empty() || !settings.keyFile.empty()) candidates.push_back(explicitCandidate(settings));
  if (!settings.directory.empty()) {
    for (Candidate& c : directoryCandidates(settings.directory, out.log)) candidates.push_back(std::move(c));
  }
  bool anyConfigured = !settings.certificateFile.empty() || !settings.directory.empty();

  // The same leaf twice (server.crt and server-chain.crt, or the explicit pair also in the
  // directory): keep the file with the longer chain, then the explicit one.
  std::vector<Candidate> usableOnes;
  for (Candidate& c : candidates) {
    auto same = std::find_if(usableOnes.begin(), usableOnes.end(),
                             [&](const Candidate& u) { return u.info.sha256 == c.info.sha256; });
    if (same != usableOnes.end()) {
      if (c.chainLength > same->chainLength) *same = std::move(c);
      continue;
    }
    if (usable(c, now, out.log)) usableOnes.push_back(std::move(c));
  }

  if (usableOnes.empty()) {
    // A name that cannot be a subjectAltName (a host name with '_') stays out of the certificate.
    // The kept certificate must still name every served domain; the host name may have changed
    // (containers get a new one on each start) without a new certificate that peers must learn.
    std::vector<std::string> certNames, requiredNames;
    for (std::size_t i = 0; i < names.size(); ++i) {
      const std::string& n = names[i];
      if (isValidCertificateName(n)) {
        certNames.push_back(n);
        if (i < domains) requiredNames.push_back(n);
      } else {
        out.log.push_back({Level::Warn, "\"" + n +
                                            "\" is neither a DNS name nor an IP address: a self-signed "
                                            "certificate cannot name it"});
      }
    }
    std::string why;
    if (auto kept = reusableSelfSigned(settings.dataDir, requiredNames, now, why)) {
      if (anyConfigured)
        out.log.push_back({Level::Warn, "no configured certificate is usable; using the self-signed one"});
      usableOnes.push_back(std::move(*kept));
    } else if (settings.generateIfNone) {
      if (certNames.empty()) throw CertificateError("no names to put in a self-signed certificate");
      if (settings.dataDir.empty()) throw CertificateError("no data directory to keep a self-signed certificate in");
      Candidate c{
          selfSignedCertificateFile(settings.dataDir), selfSignedKeyFile(settings.dataDir), {}, 1, Origin::Generated};
      c.info = writeSelfSignedCertificate(
          {certNames, c.certificateFile, c.keyFile, now - std::chrono::minutes(5), now + kSelfSignedValidity});
      out.generated = true;
      std::string what = "generated a self-signed certificate (EC P-256, valid for 1 year, until " +
                         formatUtc(c.info.notAfter) + ") for " + joined(certNames) + ": " + c.certificateFile.string();
      if (!why.empty()) {
        out.log.push_back({Level::Warn, what + "; it replaces the previous one: " + why});
      } else {
        out.log.push_back({anyConfigured ? Level::Warn : Level::Info,
                           what + (anyConfigured ? " (no configured certificate is usable)" : "")});
      }
      usableOnes.push_back(std::move(c));
    } else {
      out.log.push_back(
          {anyConfigured ? Level::Warn : Level::Info,
           std::string(anyConfigured ? "no configured certificate is usable" : "no certificate is configured") +
               (why.empty() ? "" : " and the kept self-signed one cannot serve (" + why + ")") +
               ": the server will generate a self-signed certificate at start"});
      return out;
    }
  }

  // Exchange order: CA-issued before self-signed, then the longest remaining validity; the
  // explicit pair, then file names, break ties so that the choice is stable.
  std::stable_sort(usableOnes.begin(), usableOnes.end(), [](const Candidate& a, const Candidate& b) {
    if (a.info.selfSigned != b.info.selfSigned) return !a.info.selfSigned;
    if (a.info.notAfter != b.info.notAfter) return a.info.notAfter > b.info.notAfter;
    if (a.origin != b.origin) return a.origin < b.origin;
    return a.certificateFile < b.certificateFile;
  });

  // One certificate per name (SNI): the best that names it. [0], the default for clients without
  // SNI or asking for a name nobody serves, is the best for the first served domain (the primary
  // domain), else the best overall.
  std::size_t defaultIndex = 0;
  if (!names.empty() && domains > 0) {
    auto primary = std::find_if(usableOnes.begin(), usableOnes.end(),
                                [&](const Candidate& c) { return certificateMatchesName(c.info, names.front()); });
    if (primary != usableOnes.end()) defaultIndex = static_cast<std::size_t>(primary - usableOnes.begin());
  }
  std::vector<std::size_t> chosen{defaultIndex};
  std::vector<std::vector<std::string>> serves(1);
  for (std::size_t n = 0; n < names.size(); ++n) {
    const std::string& name = names[n];
    auto match = std::find_if(usableOnes.begin(), usableOnes.end(),
                              [&](const Candidate& c) { return certificateMatchesName(c.info, name); });
    if (match == usableOnes.end()) {
      out.log.push_back(
          {n < domains ? Level::Warn : Level::Info, "no usable certificate names " + name +
                                                        ": clients asking for it get the default certificate (" +
                                                        usableOnes[defaultIndex].info.subject + "), which they may reject"});
      continue;
    }
    std::size_t index = static_cast<std::size_t>(match - usableOnes.begin());
    auto at = std::find(chosen.begin(), chosen.end(), index);
    if (at == chosen.end()) {
      chosen.push_back(index);
      serves.emplace_back();
      at = chosen.end() - 1;
    }
    serves[static_cast<std::size_t>(at - chosen.begin())].push_back(name);
  }

  for (std::size_t i = 0; i < chosen.size(); ++i) {
    Candidate& c = usableOnes[chosen[i]];
    std::string head = "TLS certificate in use";
    if (!serves[i].empty()) head += " for " + joined(serves[i]);
    if (i == 0) head += serves[i].empty() ? " by default" : " (default)";
    head += ": " + c.certificateFile.string();
    if (c.keyFile != c.certificateFile) head += ", key " + c.keyFile.string();
    head += c.info.selfSigned ? " (self-signed: peers must be given this certificate to trust it)" : " (CA-issued)";
    out.log.push_back({Level::Info, head});
    for (std::string& line : describe(c.info)) out.log.push_back({Level::Info, std::move(line)});
    checkKeyMode(c.keyFile, out.log);
    out.certificates.push_back({c.certificateFile, c.keyFile, c.info, serves[i]});
  }
  return out;
}

}  // namespace sipwarden::tls
