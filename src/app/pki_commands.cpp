// `sipwarden pki ...` (a small CA for deployments and tests) and `sipwarden cert status` (what
// the TLS listeners would present, and for how long). The work is in src/tls; this file turns
// options into tls settings and results into text or JSON.
#include <algorithm>
#include <chrono>
#include <iostream>
#include <nlohmann/json.hpp>

#include "app/commands.hpp"
#include "server/tls_setup.hpp"
#include "tls/certificate_store.hpp"
#include "tls/expiry.hpp"
#include "tls/pki.hpp"
#include "tls/utc_time.hpp"

namespace sipwarden::app {

namespace {

using Clock = std::chrono::system_clock;

/// Fills a ValiditySpec; false (reported) on a time that does not parse.
bool toValiditySpec(const ValidityArgs& a, tls::ValiditySpec& spec, const char* cmd) {
  if (a.days) spec.days = *a.days;
  for (auto [text, out, flag] : {std::tuple{&a.notBefore, &spec.notBefore, "--not-before"},
                                 std::tuple{&a.notAfter, &spec.notAfter, "--not-after"}}) {
    if (!*text) continue;
    *out = tls::parseUtc(**text);
    if (!*out) {
      std::cerr << "sipwarden " << cmd << ": " << flag << " \"" << **text
                << "\": expected an ISO 8601 UTC time, 2026-03-01T12:00:00Z or 2026-03-01\n";
      return false;
    }
  }
  if (a.days && a.notAfter) {
    std::cerr << "sipwarden " << cmd << ": give --days or --not-after, not both\n";
    return false;
  }
  return true;
}

void printWritten(const std::vector<std::filesystem::path>& files) {
  for (const auto& f : files) {
    bool key = f.extension() == ".key";
    std::cout << "  " << f.string() << (key ? "  (private key, mode 0600)" : "") << "\n";
  }
}

void printCertificate(const tls::CertificateInfo& info, const char* indent) {
  for (const std::string& line : tls::describe(info)) std::cout << indent << line << "\n";
  std::string names;
  for (const auto* list : {&info.dnsNames, &info.ipAddresses, &info.uris, &info.emails}) {
    for (const std::string& n : *list) names += (names.empty() ? "" : ", ") + n;
  }
  if (!names.empty()) std::cout << indent << "names: " << names << "\n";
}

const char* levelName(tls::LogLine::Level l) {
  switch (l) {
    case tls::LogLine::Level::Info: return "info";
    case tls::LogLine::Level::Warn: return "warning";
    case tls::LogLine::Level::Error: return "error";
  }
  return "info";
}

/// The certificate settings the server derives from its configuration (the same function, so
/// `cert status` shows what `serve` would use).
tls::CertificateStoreSettings storeSettings(const config::Config& c) { return server::certificateStoreSettings(c); }

nlohmann::json certificateJson(const tls::CertificateInfo& info) {
  return {{"subject", info.subject},
          {"issuer", info.issuer},
          {"serial", info.serial},
          {"sha1", info.sha1},
          {"sha256", info.sha256},
          {"common_name", info.commonName},
          {"not_before", tls::formatUtc(info.notBefore)},
          {"not_after", tls::formatUtc(info.notAfter)},
          {"dns_names", info.dnsNames},
          {"ip_addresses", info.ipAddresses},
          {"uris", info.uris},
          {"emails", info.emails},
          {"self_signed", info.selfSigned},
          {"server_auth", info.serverAuth},
          {"client_auth", info.clientAuth}};
}

}  // namespace

int cmdPkiInit(const PkiInitArgs& a) {
  tls::PkiInitOptions o;
  o.names = a.domains;
  o.outDir = a.outDir;
  o.force = a.force;
  if (!toValiditySpec(a.validity, o.server, "pki init")) return 2;
  try {
    tls::IssuedFiles f = tls::initPki(o, Clock::now());
    std::cout << "wrote a PKI in " << a.outDir << ":\n";
    printWritten(f.written);
    std::cout << "server certificate:\n";
    printCertificate(f.certificate, "  ");
    std::filesystem::path dir = std::filesystem::absolute(a.outDir);
    std::cout << "use it with:\n  [tls]\n  certificate = \"" << (dir / tls::kServerChain).string()
              << "\"\n  private_key = \"" << (dir / tls::kServerKey).string() << "\"\n"
              << "peers trust " << (dir / tls::kCaChain).string() << " (or " << tls::kRootCaCertificate
              << " alone); keep " << tls::kRootCaKey << " offline once the PKI is set up\n";
    return 0;
  } catch (const tls::CertificateError& e) {
    std::cerr << "sipwarden pki init: " << e.what() << "\n";
    return 1;
  }
}

int cmdPkiClient(const PkiClientArgs& a) {
  tls::ClientCertificateOptions o;
  o.name = a.name;
  o.caDir = a.caDir;
  if (a.outDir) o.outDir = *a.outDir;
  o.emails = a.emails;
  o.uris = a.sipUris;
  o.force = a.force;
  if (!toValiditySpec(a.validity, o.validity, "pki client")) return 2;
  try {
    tls::IssuedFiles f = tls::issueClientCertificate(o, Clock::now());
    std::cout << "issued a client certificate for " << a.name << ":\n";
    printWritten(f.written);
    printCertificate(f.certificate, "  ");
    return 0;
  } catch (const tls::CertificateError& e) {
    std::cerr << "sipwarden pki client: " << e.what() << "\n";
    return 1;
  }
}

int cmdPkiRevoke(const std::string& certificate, const std::string& caDir) {
  try {
    tls::RevokeResult r = tls::revokeCertificate(certificate, caDir, Clock::now());
    std::cout << (r.alreadyRevoked ? "already revoked: serial " : "revoked serial ") << r.serial << "\n"
              << r.crlFile.string() << ": " << r.revokedCount << " revoked certificate(s), next update "
              << tls::formatUtc(r.nextUpdate) << " (re-issue it before then: sipwarden pki crl --ca-dir " << caDir
              << ")\n";
    return 0;
  } catch (const tls::CertificateError& e) {
    std::cerr << "sipwarden pki revoke: " << e.what() << "\n";
    return 1;
  }
}

int cmdPkiCrl(const std::string& caDir) {
  try {
    tls::RevokeResult r = tls::refreshCrl(caDir, Clock::now());
    std::cout << r.crlFile.string() << ": " << r.revokedCount << " revoked certificate(s), next update "
              << tls::formatUtc(r.nextUpdate) << "\n";
    return 0;
  } catch (const tls::CertificateError& e) {
    std::cerr << "sipwarden pki crl: " << e.what() << "\n";
    return 1;
  }
}

int cmdCertStatus(const AdminContext& ctx, bool json) {
  config::Config c = ctx.load();
  tls::CertificateStoreSettings settings = storeSettings(c);
  settings.generateIfNone = false;
  Clock::time_point now = Clock::now();
  tls::Selection sel;
  try {
    sel = tls::selectCertificates(settings, now);
  } catch (const tls::CertificateError& e) {
    std::cerr << "sipwarden cert status: " << e.what() << "\n";
    return 2;
  }
  const unsigned window = c.tls.expiryWarningDays;
  bool configured = !c.tls.certificate.empty() || !c.tls.certificatesDir.empty();
  int exitCode = 0;
  // Nothing configured is usable: the server falls back to a self-signed certificate, which
  // peers will not trust unless given it; something to fix.
  bool generate = sel.certificates.empty();
  if (generate && configured) exitCode = 1;

  nlohmann::json certs = nlohmann::json::array();
  for (std::size_t i = 0; i < sel.certificates.size(); ++i) {
    const tls::SelectedCertificate& s = sel.certificates[i];
    tls::ExpiryStatus st = tls::expiryStatus(s.info, now, window);
    tls::LogLine line = tls::expiryLogLine(s.info, st);
    if (st.state != tls::ExpiryState::Ok) exitCode = 1;
    if (json) {
      nlohmann::json j = certificateJson(s.info);
      j["certificate_file"] = s.certificateFile.string();
      j["key_file"] = s.keyFile.string();
      j["default"] = i == 0;
      j["serves"] = s.servesNames;
      j["status"] = tls::toString(st.state);
      j["days"] = st.days;
      j["message"] = line.text;
      certs.push_back(std::move(j));
      continue;
    }
    std::cout << "certificate " << (i + 1) << " of " << sel.certificates.size();
    if (i == 0) std::cout << " (default)";
    if (!s.servesNames.empty()) {
      std::cout << ", for";
      for (const std::string& n : s.servesNames) std::cout << " " << n;
    }
    std::cout << ":\n  file: " << s.certificateFile.string() << "\n  key: " << s.keyFile.string() << "\n";
    printCertificate(s.info, "  ");
    std::cout << "  status: " << tls::toString(st.state) << ": " << line.text << "\n";
  }

  if (json) {
    nlohmann::json log = nlohmann::json::array();
    for (const tls::LogLine& l : sel.log) log.push_back({{"level", levelName(l.level)}, {"text", l.text}});
    nlohmann::json out = {{"certificates", certs},
                          {"will_generate_self_signed", generate},
                          {"expiry_warning_days", window},
                          {"log", log}};
    std::cout << out.dump(2) << "\n";
    return exitCode;
  }
  if (generate) {
    std::cout << (configured ? "no usable certificate among those configured" : "no certificate is configured")
              << ": the server will generate a self-signed certificate at start ("
              << tls::selfSignedCertificateFile(c.dataDir).string() << ")\n";
  }
  // What was skipped and why (the in-use lines are shown above already).
  for (const tls::LogLine& l : sel.log) {
    if (l.level != tls::LogLine::Level::Info) std::cout << levelName(l.level) << ": " << l.text << "\n";
  }
  return exitCode;
}

}  // namespace sipwarden::app
