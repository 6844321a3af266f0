#include "server/tls_setup.hpp"

#include <spdlog/spdlog.h>
#include <sys/stat.h>

#include <algorithm>

namespace sipwarden::server {

bool TlsSetup::needed(const config::Config& c) {
  return std::any_of(c.listeners.begin(), c.listeners.end(),
                     [](const config::ListenerConfig& l) { return l.transport == transport::TransportKind::Tls; });
}

transport::TlsSettings TlsSetup::settingsFor(const config::Config& c) {
  transport::TlsSettings s;
  if (c.tls.certificate.empty()) {
    throw config::ConfigError(
        "a TLS listener needs a certificate: set [tls] certificate and private_key (PEM files; "
        "`sipwarden pki init` makes a CA and a server certificate)");
  }
  transport::TlsCredential cred;
  cred.certificateFile = c.tls.certificate;
  cred.keyFile = c.tls.privateKey;
  for (const config::DomainConfig& d : c.domains) cred.names.push_back(d.name);
  s.credentials.push_back(cred);
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
  for (const std::string& f : {s.caFile, s.crlFile}) {
    if (!f.empty()) watched_.push_back(f);
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

void TlsSetup::start(const config::Config& c) {
  transport::TlsSettings s = settingsFor(c);
  stamps_ = fingerprintFiles();
  try {
    holder_.set(transport::TlsContextSet::build(s));
  } catch (const transport::TlsError& e) {
    throw config::ConfigError(std::string("TLS: ") + e.what());
  }
  for (const transport::TlsCredential& cr : s.credentials) {
    spdlog::info("TLS certificate {} (key {})", cr.certificateFile, cr.keyFile);
  }
}

bool TlsSetup::reload(const config::Config& c, const std::string& why) {
  try {
    transport::TlsSettings s = settingsFor(c);
    stamps_ = fingerprintFiles();
    holder_.set(transport::TlsContextSet::build(s));
    spdlog::info("TLS reloaded ({}): new connections use the new certificates; open ones keep theirs", why);
    for (const transport::TlsCredential& cr : s.credentials) {
      spdlog::info("TLS certificate {} (key {})", cr.certificateFile, cr.keyFile);
    }
    return true;
  } catch (const std::exception& e) {
    spdlog::error("TLS reload ({}) refused, the running certificates stay in use: {}", why, e.what());
    return false;
  }
}

bool TlsSetup::filesChanged() const { return !watched_.empty() && fingerprintFiles() != stamps_; }

}  // namespace sipwarden::server
