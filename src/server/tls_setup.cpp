#include "server/tls_setup.hpp"

#include <spdlog/spdlog.h>
#include <sys/stat.h>

#include <algorithm>

#include "tls/expiry.hpp"

namespace sipwarden::server {

bool TlsSetup::needed(const config::Config& c) {
  return std::any_of(c.listeners.begin(), c.listeners.end(),
                     [](const config::ListenerConfig& l) {
                       return l.transport == transport::TransportKind::Tls || l.transport == transport::TransportKind::Wss;
                     });
}

namespace {

void log(const tls::LogLine& line) {
  switch (line.level) {
    case tls::LogLine::Level::Info: spdlog::info("{}", line.text); break;
    case tls::LogLine::Level::Warn: spdlog::warn("{}", line.text); break;
    case tls::LogLine::Level::Error: spdlog::error("{}", line.text); break;
  }
}

}  // namespace

tls::CertificateStoreSettings certificateStoreSettings(const config::Config& c) {
  tls::CertificateStoreSettings s;
  s.certificateFile = c.tls.certificate;
  s.keyFile = c.tls.privateKey;
  s.directory = c.tls.certificatesDir;
  s.dataDir = c.dataDir;
  for (const config::DomainConfig& d : c.domains) s.names.push_back(d.name);
  s.domainNames = s.names.size();
  std::string host = config::hostName();
  if (std::find(s.names.begin(), s.names.end(), host) == s.names.end()) s.names.push_back(host);
  return s;
}

transport::TlsSettings TlsSetup::settingsFor(const config::Config& c, std::vector<tls::CertificateInfo>& infos) {
  transport::TlsSettings s;
  // The Exchange guide's selection: configured pair and directory, CA-issued before self-signed,
  // longest validity, one per SNI name; a self-signed certificate when nothing is usable.
  tls::Selection selection = tls::selectCertificates(certificateStoreSettings(c), std::chrono::system_clock::now());
  for (const tls::LogLine& line : selection.log) log(line);
  for (const tls::SelectedCertificate& sel : selection.certificates) {
    transport::TlsCredential cred;
    cred.certificateFile = sel.certificateFile.string();
    cred.keyFile = sel.keyFile.string();
    cred.names = sel.servesNames;
    s.credentials.push_back(cred);
    infos.push_back(sel.info);
  }
  s.caFile = c.tls.caFile;
  s.caDir = c.tls.caDir;
  s.crlFile = c.tls.crlFile;
  s.verifyDepth = c.tls.verifyDepth;
  s.partialChain = c.tls.partialChain;
  s.minVersion = c.tls.minVersion;
  s.ciphers = c.tls.ciphers;
  s.ciphersuites = c.tls.ciphersuites;
  s.verifyServerName = c.tls.verifyServerName;
  watched_.clear();
  for (const transport::TlsCredential& cr : s.credentials) {
    watched_.push_back(cr.certificateFile);
    watched_.push_back(cr.keyFile);
  }
  for (const std::string& f : {s.caFile, s.caDir, s.crlFile, c.tls.certificatesDir}) {
    if (!f.empty()) watched_.push_back(f);  // a directory's mtime changes when a file comes or goes
  }
  return s;
}

std::map<std::string, std::string> TlsSetup::fingerprintFiles() const {
  std::map<std::string, std::string> out;
  for (const std::string& f : watched_) {
    struct stat st {};
    if (::stat(f.c_str(), &st) != 0) {
      out[f] = "missing";
      continue;
    }
    out[f] = std::to_string(st.st_ino) + "/" + std::to_string(st.st_size) + "/" + std::to_string(st.st_mtim.tv_sec) +
             "." + std::to_string(st.st_mtim.tv_nsec);
  }
  return out;
}

void TlsSetup::logSentChains(const transport::TlsContextSet& set) {
  const auto& chains = set.sentChains();
  const auto& creds = set.settings().credentials;
  for (std::size_t i = 0; i < chains.size() && i < creds.size(); ++i) {
    const auto& c = chains[i];
    const char* how = !c.fromStore    ? ""
                      : c.rootLeftOut ? " (chain completed from the CA store; its root is left out: clients hold it)"
                                      : " (chain completed from the CA store)";
    spdlog::info("TLS certificate {}: sent with {} CA certificate{}{}", creds[i].certificateFile, c.caCertificates,
                 c.caCertificates == 1 ? "" : "s", how);
  }
}

void TlsSetup::start(const config::Config& c) {
  try {
    std::vector<tls::CertificateInfo> infos;
    transport::TlsSettings s = settingsFor(c, infos);
    stamps_ = fingerprintFiles();
    auto set = transport::TlsContextSet::build(s);
    logSentChains(*set);
    holder_.set(std::move(set));
    inUse_ = std::move(infos);
    warningDays_ = c.tls.expiryWarningDays;
  } catch (const transport::TlsError& e) {
    throw config::ConfigError(std::string("TLS: ") + e.what());
  } catch (const tls::CertificateError& e) {
    throw config::ConfigError(std::string("TLS: ") + e.what());
  }
  checkExpiry(std::chrono::system_clock::now());
}

void TlsSetup::checkExpiry(std::chrono::system_clock::time_point now) {
  if (inUse_.empty() || now < nextExpiryCheck_) return;
  std::chrono::system_clock::time_point next = now + std::chrono::hours(24);
  for (const tls::CertificateInfo& info : inUse_) {
    tls::ExpiryStatus status = tls::expiryStatus(info, now, warningDays_);
    if (status.state != tls::ExpiryState::Ok) log(tls::expiryLogLine(info, status));
    next = std::min(next, tls::nextExpiryCheck(info, now, warningDays_));
  }
  nextExpiryCheck_ = next;
}

bool TlsSetup::reload(const config::Config& c, const std::string& why) {
  try {
    std::vector<tls::CertificateInfo> infos;
    transport::TlsSettings s = settingsFor(c, infos);
    stamps_ = fingerprintFiles();
    auto set = transport::TlsContextSet::build(s);
    logSentChains(*set);
    holder_.set(std::move(set));
    inUse_ = std::move(infos);
    warningDays_ = c.tls.expiryWarningDays;
    nextExpiryCheck_ = {};
    spdlog::info("TLS reloaded ({}): new connections use the new certificates; open ones keep theirs, and their "
                 "client certificates are checked again", why);
    checkExpiry(std::chrono::system_clock::now());
    return true;
  } catch (const std::exception& e) {
    spdlog::error("TLS reload ({}) refused, the running certificates stay in use: {}", why, e.what());
    return false;
  }
}

bool TlsSetup::filesChanged() const { return !watched_.empty() && fingerprintFiles() != stamps_; }

}  // namespace sipwarden::server
