#include "server/server.hpp"

#include <fcntl.h>
#include <ifaddrs.h>
#include <malloc.h>
#include <net/if.h>
#include <openssl/hmac.h>
#include <pthread.h>
#include <spdlog/pattern_formatter.h>
#include <spdlog/sinks/stdout_color_sinks.h>
#include <spdlog/spdlog.h>
#include <sys/file.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <boost/asio.hpp>
#include <csignal>
#include <fstream>
#include <iostream>
#include <set>
#include <thread>

#include "auth/authenticator.hpp"
#include "auth/digest.hpp"
#include "auth/nonce.hpp"
#include "registrar/location_service.hpp"
#include "registrar/registrar.hpp"
#include "server/logging.hpp"
#include "server/services.hpp"
#include "server/tls_setup.hpp"
#include "server/wall_clock.hpp"
#include "server/worker_core.hpp"
#include "storage/sqlite_store.hpp"

namespace sipwarden::server {

namespace asio = boost::asio;
namespace fs = std::filesystem;

std::vector<std::uint8_t> loadOrCreateSecret(const fs::path& dataDir) {
  const fs::path file = dataDir / "secret";
  std::vector<std::uint8_t> secret;
  if (std::ifstream in(file, std::ios::binary); in) {
    secret.assign(std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>());
    if (secret.size() >= 32) return secret;
    throw std::runtime_error(file.string() + ": too short (" + std::to_string(secret.size()) +
                             " bytes); delete it to have a new secret generated");
  }
  secret = auth::NonceService::randomSecret();
  int fd = ::open(file.c_str(), O_WRONLY | O_CREAT | O_EXCL, 0600);
  if (fd < 0) throw std::runtime_error(file.string() + ": cannot create: " + std::strerror(errno));
  bool ok = ::write(fd, secret.data(), secret.size()) == static_cast<ssize_t>(secret.size()) && ::fsync(fd) == 0;
  ::close(fd);
  if (!ok) throw std::runtime_error(file.string() + ": cannot write");
  return secret;
}

std::string demoPassword(const std::vector<std::uint8_t>& secret) {
  unsigned char mac[EVP_MAX_MD_SIZE];
  unsigned int len = 0;
  static constexpr std::string_view kLabel = "sipwarden demo user";
  HMAC(EVP_sha256(), secret.data(), static_cast<int>(secret.size()),
       reinterpret_cast<const unsigned char*>(kLabel.data()), kLabel.size(), mac, &len);
  static constexpr char kAlphabet[] = "abcdefghijkmnpqrstuvwxyz23456789";  // no look-alikes
  std::string pw;
  for (unsigned i = 0; i < 14; ++i) pw += kAlphabet[mac[i] % 32];
  return pw;
}

namespace {

std::vector<auth::DigestAlgorithm> algorithms(const config::Config& c) {
  std::vector<auth::DigestAlgorithm> out;
  for (const std::string& a : c.auth.algorithms) {
    if (auto alg = auth::parseAlgorithm(a)) out.push_back(*alg);
  }
  return out;
}

/// Host names and addresses that mean "this server": requests to them go to the default domain.
std::vector<std::string> localAliases(const config::Config& c) {
  std::set<std::string> names{"localhost", "127.0.0.1", "::1", config::hostName()};
  bool wildcard = false;
  for (const config::ListenerConfig& l : c.listeners) {
    if (l.address == "0.0.0.0" || l.address == "::") {
      wildcard = true;
    } else {
      names.insert(l.address);
    }
  }
  if (wildcard) {
    ifaddrs* list = nullptr;
    if (getifaddrs(&list) == 0) {
      for (ifaddrs* i = list; i != nullptr; i = i->ifa_next) {
        if (i->ifa_addr == nullptr) continue;
        auto family = i->ifa_addr->sa_family;
        if (family != AF_INET && family != AF_INET6) continue;
        char buf[INET6_ADDRSTRLEN] = {};
        const void* src = family == AF_INET
                              ? static_cast<const void*>(&reinterpret_cast<sockaddr_in*>(i->ifa_addr)->sin_addr)
                              : static_cast<const void*>(&reinterpret_cast<sockaddr_in6*>(i->ifa_addr)->sin6_addr);
        if (inet_ntop(family, src, buf, sizeof buf) != nullptr) names.insert(buf);
      }
      freeifaddrs(list);
    }
  }
  return {names.begin(), names.end()};
}

void ensureDataDir(const fs::path& dir) {
  std::error_code ec;
  fs::create_directories(dir, ec);
  if (ec) throw std::runtime_error("data directory " + dir.string() + ": cannot create: " + ec.message());
  if (!fs::is_directory(dir)) throw std::runtime_error("data directory " + dir.string() + ": not a directory");
  ::chmod(dir.c_str(), 0700);
}

struct Worker {
  asio::io_context io{1};
  std::unique_ptr<WorkerCore> core;
  std::thread thread;
};

}  // namespace

int runServer(ServeOptions options) {
  // A peer that closes while we write must give EPIPE, not kill the process (OpenSSL writes to
  // the socket with write(2), which raises SIGPIPE).
  ::signal(SIGPIPE, SIG_IGN);
  config::Config& cfg = options.config;
  config::applyDefaults(cfg);
  configureLogging(cfg.logLevel, cfg.logFormat);

  ensureDataDir(cfg.dataDir);
  // One server per data directory: a second one would share the store but not the in-memory
  // location service, and answer with stale bindings.
  const fs::path lockFile = cfg.dataDir / "sipwarden.pid";
  int lockFd = ::open(lockFile.c_str(), O_RDWR | O_CREAT | O_CLOEXEC, 0600);
  if (lockFd < 0 || ::flock(lockFd, LOCK_EX | LOCK_NB) != 0) {
    if (lockFd >= 0) ::close(lockFd);
    throw std::runtime_error("data directory " + fs::absolute(cfg.dataDir).string() +
                             " is in use by another sipwarden (" + lockFile.string() +
                             " is locked); stop it or give another --data-dir");
  }
  if (::ftruncate(lockFd, 0) == 0) {
    std::string pid = std::to_string(::getpid()) + "\n";
    (void)!::write(lockFd, pid.data(), pid.size());
  }
  const std::vector<std::uint8_t> secret = loadOrCreateSecret(cfg.dataDir);
  storage::StoreSettings storeSettings;
  storeSettings.syncEveryCommit = cfg.store.synchronous == "full";
  // Before the store: the store's last callbacks (run by its destructor) may still reach it.
  registrar::LocationService location;
  storage::SqliteStore store(cfg.dataDir / "sipwarden.db", storeSettings);
  UserDirectory users(store);

  if (options.demoUser) {
    // Two users with one password, so that a newcomer can call from one phone (or browser tab) to
    // the other at once.
    const config::DomainConfig& d = cfg.domains.front();
    const std::string pw = demoPassword(secret);
    bool created = false;
    for (const char* name : {"demo", "demo2"}) {
      storage::UserRecord u;
      u.user = name;
      u.domain = d.name;
      u.realm = d.realm;
      auth::Ha1Set h = auth::computeHa1Set(u.user, u.realm, pw);
      u.ha1Md5 = h.md5;
      u.ha1Sha256 = h.sha256;
      u.ha1Sha512_256 = h.sha512_256;
      u.createdAt = u.updatedAt = unixSeconds();
      if (store.addUser(u)) {
        created = true;
      } else {
        // Keep the demo password working even if the realm changed since the first run.
        auto existing = store.findUser(u.user, u.domain);
        if (existing && existing->ha1Md5 != u.ha1Md5) store.updateUser(u);
      }
    }
    std::cout << "\n  demo user   sip:demo@" << d.name << "\n  and         sip:demo2@" << d.name << "\n  password    "
              << pw << " (both)\n  realm       " << d.realm
              << (created ? "\n  (created now; the password is derived from " : "\n  (derived from ")
              << (cfg.dataDir / "secret").string() << ")\n";
    for (const config::ListenerConfig& l : cfg.listeners) {
      if (l.transport != transport::TransportKind::Wss || !cfg.web.enabled) continue;
      std::string host = l.address == "0.0.0.0" || l.address == "::" ? "localhost" : l.address;
      if (l.v6 && host != "localhost") host = "[" + host + "]";
      std::cout << "  web phone   https://" << host << ":" << l.port
                << "/  (open it in two tabs, sign in as demo and demo2, and call)\n";
      break;
    }
    std::cout << "\n" << std::flush;
  }

  std::size_t userCount = users.reload();
  // Bindings that expired while the server was down are deleted, not only left out: the
  // housekeeping purge works on the location table, which never holds them.
  std::size_t expiredCount = store.purgeExpired(unixSeconds());
  std::vector<registrar::Binding> restored = store.loadBindings(unixSeconds());
  std::size_t restoredCount = restored.size();
  location.load(std::move(restored));

  auth::AuthSettings authSettings;
  authSettings.nonceLifetime = cfg.auth.nonceLifetime;
  authSettings.offered = algorithms(cfg);
  // A digest uri naming this server (one of our domains or addresses, no user part) is as good as
  // the Request-URI: SIPp and some phones send the server's address there.
  std::shared_ptr<const std::vector<std::string>> ourNames;
  {
    std::vector<std::string> names = localAliases(cfg);
    for (const config::DomainConfig& d : cfg.domains) names.push_back(d.name);
    ourNames = std::make_shared<const std::vector<std::string>>(std::move(names));
  }
  authSettings.alsoAcceptUri = [ourNames](const sip::Uri& uri, const sip::Message&) {
    if (!uri.isSip() || uri.hasUserInfo) return false;
    std::string_view host = uri.hostBare();
    return std::any_of(ourNames->begin(), ourNames->end(), [&](const std::string& n) { return sip::iequals(n, host); });
  };
  auth::Authenticator authenticator(authSettings, secret);

  registrar::RegistrarSettings regSettings;
  regSettings.minExpires = cfg.registrar.minExpires;
  regSettings.maxExpires = cfg.registrar.maxExpires;
  regSettings.defaultExpires = cfg.registrar.defaultExpires;
  regSettings.maxContactsPerAor = cfg.registrar.maxContacts;
  registrar::Registrar registrar(regSettings, location);

  Stats stats;
  CoreSettings coreSettings;
  for (const config::DomainConfig& d : cfg.domains) coreSettings.domains.push_back({d.name, d.realm});
  coreSettings.localAliases = localAliases(cfg);
  coreSettings.serverHeader = "sipwarden/" SIPWARDEN_VERSION_STRING;
  coreSettings.ringTimeout = cfg.proxy.ringTimeout;
  coreSettings.relay = cfg.proxy.relay;
  coreSettings.maxMessageBody = cfg.messages.maxBody;
  using Identity = CoreSettings::CertificateIdentity;
  coreSettings.certificateIdentity = cfg.tls.identity == "san"         ? Identity::San
                                     : cfg.tls.identity == "cn"        ? Identity::Cn
                                     : cfg.tls.identity == "san-or-cn" ? Identity::SanOrCn
                                                                       : Identity::None;
  proxy::FlowTokens flowTokens(secret);
  proxy::StatelessTags statelessTags(secret);
  registrar::GruuCodec gruus(secret);
  im::OfflineMessages offline(store, im::OfflineSettings{.maxPerUser = cfg.messages.offlineMaxPerUser,
                                                         .expiry = cfg.messages.offlineExpiry});
  security::SecuritySettings securitySettings;
  for (const config::DomainConfig& d : cfg.domains) {
    security::SecurityMode mode = security::SecurityMode::Unsecured;
    security::parseSecurityMode(d.security, mode);
    securitySettings.domains.push_back({d.name, mode});
  }
  for (const config::GatewayConfig& g : cfg.gateways) securitySettings.gatewayNames.push_back(g.name);
  securitySettings.warnAgent = cfg.domains.front().name;
  std::unique_ptr<security::SecurityPolicy> securityPolicy;
  try {
    securityPolicy = std::make_unique<security::SecurityPolicy>(securitySettings);
  } catch (const std::invalid_argument& e) {
    throw config::ConfigError(std::string("security settings: ") + e.what());
  }
  transport::DnsSettings dnsSettings;
  for (const std::string& spec : cfg.dns.servers) {
    std::size_t colon = spec.find(':');
    transport::IpAddress ip;
    transport::IpAddress::parse(spec.substr(0, colon), ip);
    std::uint16_t port = colon == std::string::npos ? 53 : static_cast<std::uint16_t>(std::stoi(spec.substr(colon + 1)));
    dnsSettings.servers.emplace_back(ip, port);
  }
  dnsSettings.timeout = std::chrono::seconds(cfg.dns.timeout);
  dnsSettings.attempts = static_cast<int>(cfg.dns.attempts);
  transport::DnsResolver dns(dnsSettings);
  Services services{coreSettings, authenticator, location,        registrar, store, users,        stats,
                    flowTokens,   offline,       *securityPolicy, dns,       gruus, statelessTags};

  transport::TlsContextHolder tlsContexts;
  TlsSetup tls(tlsContexts);
  if (TlsSetup::needed(cfg)) tls.start(cfg);

  transport::TransportSettings ts;
  ts.tls = &tlsContexts;
  for (const config::ListenerConfig& l : cfg.listeners) {
    transport::ListenerSpec spec;
    spec.transport = l.transport;
    transport::IpAddress::parse(l.address, spec.address);
    spec.port = l.port;
    config::ClientCertificates cc = l.clientCertificates.value_or(cfg.tls.clientCertificates);
    spec.clientCertificates = cc == config::ClientCertificates::Required   ? transport::ClientCertMode::Required
                              : cc == config::ClientCertificates::Optional ? transport::ClientCertMode::Optional
                                                                           : transport::ClientCertMode::None;
    spec.proxyProtocol = l.proxyProtocol;
    ts.listeners.push_back(spec);
  }
  ts.websocket.allowedOrigins = cfg.websocket.allowedOrigins;
  ts.websocket.idleTimeout = cfg.websocket.idleTimeout;
  ts.websocket.serverHeader = coreSettings.serverHeader;
  ts.websocket.ownNames = localAliases(cfg);
  for (const config::DomainConfig& d : cfg.domains) ts.websocket.ownNames.push_back(d.name);
  if (cfg.web.enabled) ts.websocket.webRoot = cfg.web.root.empty() ? fs::path(SIPWARDEN_WEB_ROOT) : fs::path(cfg.web.root);
  ts.tcpIdleTimeout = cfg.transport.tcpIdleTimeout;
  ts.maxConnectionsPerAddress = cfg.transport.maxConnectionsPerAddress;
  ts.limits.maxMessageSize = cfg.transport.maxMessageSize;
  ts.udpMtu = cfg.transport.udpMtu;

  transaction::TimerSettings timers;
  timers.t1 = cfg.timers.t1;
  timers.t2 = cfg.timers.t2;
  timers.t4 = cfg.timers.t4;

  transport::ConnectionRegistry registry;
  std::vector<std::unique_ptr<Worker>> workers;
  for (unsigned i = 0; i < cfg.workers; ++i) {
    auto w = std::make_unique<Worker>();
    w->core = std::make_unique<WorkerCore>(w->io, services, ts, registry, timers);
    if (i == 0) {
      // Port 0 picks a free port: the other workers bind the same one.
      for (std::size_t l = 0; l < ts.listeners.size(); ++l) ts.listeners[l].port = w->core->transport().localPort(l);
    }
    workers.push_back(std::move(w));
  }

  {
    std::vector<WorkerCore*> all;
    for (auto& w : workers) all.push_back(w->core.get());
    for (unsigned i = 0; i < all.size(); ++i) all[i]->setSiblings(all, i);
  }

  // Every connection is a file descriptor: take all the kernel allows this process.
  rlimit files{};
  if (::getrlimit(RLIMIT_NOFILE, &files) == 0 && files.rlim_cur < files.rlim_max) {
    files.rlim_cur = files.rlim_max;
    ::setrlimit(RLIMIT_NOFILE, &files);
    ::getrlimit(RLIMIT_NOFILE, &files);
  }
  spdlog::info("sipwarden {} starting: {} worker(s), data dir {}, up to {} open files", SIPWARDEN_VERSION_STRING,
               cfg.workers, fs::absolute(cfg.dataDir).string(), static_cast<std::uint64_t>(files.rlim_cur));
  for (std::size_t l = 0; l < ts.listeners.size(); ++l) {
    config::ListenerConfig shown = cfg.listeners[l];
    shown.port = ts.listeners[l].port;
    spdlog::info("listening on {}", shown.toString());
  }
  for (const config::DomainConfig& d : cfg.domains) spdlog::info("domain {} (realm \"{}\")", d.name, d.realm);
  // JsSIP answers MD5 only, and only the last challenge of a response: browsers cannot sign in
  // unless MD5 comes last.
  const bool webSockets = std::any_of(cfg.listeners.begin(), cfg.listeners.end(), [](const config::ListenerConfig& l) {
    return l.transport == transport::TransportKind::Ws || l.transport == transport::TransportKind::Wss;
  });
  if (webSockets && (cfg.auth.algorithms.empty() || cfg.auth.algorithms.back() != "MD5")) {
    spdlog::warn("auth.algorithms does not end with \"MD5\": browser phones on JsSIP (the web phone among them) "
                 "answer only the last challenge and only MD5, so they will fail to sign in; use e.g. "
                 "algorithms = [\"SHA-256\", \"MD5\"]");
  }
  spdlog::info(
      "{} user(s), {} binding(s) restored from {} ({} expired while stopped, deleted); offline messages waiting for "
      "{} user(s)",
      userCount, restoredCount, (cfg.dataDir / "sipwarden.db").string(), expiredCount, offline.recipientsWaiting());
  if (const std::string mode = store.synchronousMode(); mode == "full") {
    spdlog::info("store: synchronous = full (every commit is synced to the disk before its answer)");
  } else {
    spdlog::info(
        "store: synchronous = {}: a commit survives a crash of the server, but the last ones may be lost "
        "if the machine loses power or its kernel crashes",
        mode);
  }

  for (std::size_t i = 0; i < workers.size(); ++i) {
    Worker& w = *workers[i];
    w.core->start();
    w.thread = std::thread([&io = w.io, i] {
      // Named for top -H, ps -L and perf: "sw-worker-0"... (15 characters at most).
      ::pthread_setname_np(::pthread_self(), ("sw-worker-" + std::to_string(i)).c_str());
      io.run();
    });
  }

  // The control loop: signals and housekeeping, on the main thread.
  asio::io_context control;
  asio::signal_set signals(control, SIGINT, SIGTERM, SIGHUP);
  asio::steady_timer housekeeping(control);
  bool stopping = false;
  int tickCount = 0;
  config::Config tlsConfig = cfg;  ///< what TLS reloads build from: the [tls] of the latest good config

  // After a reload, the open connections' client certificates are checked against the new CAs and
  // CRLs: a revoked (or no longer trusted) client does not stay connected until it reconnects.
  auto reloadTls = [&](const std::string& why) {
    if (!tls.reload(tlsConfig, why)) return;
    std::shared_ptr<const transport::TlsContextSet> set = tlsContexts.get();
    for (auto& w : workers) {
      asio::post(w->io, [core = w->core.get(), set] { core->transport().recheckClientCertificates(set); });
    }
  };

  std::function<void()> scheduleHousekeeping = [&] {
    housekeeping.expires_after(std::chrono::seconds(1));
    housekeeping.async_wait([&](const boost::system::error_code& ec) {
      if (ec || stopping) return;
      if (store.changedByOthers()) spdlog::info("users reloaded: {} user(s)", users.reload());
      if (cfg.tls.reloadCheckInterval != 0 && tickCount % static_cast<int>(cfg.tls.reloadCheckInterval) == 0 &&
          tls.filesChanged()) {
        reloadTls("a certificate, key, CA or CRL file changed");
      }
      if (TlsSetup::needed(cfg)) tls.checkExpiry(std::chrono::system_clock::now());
      if (++tickCount % 10 == 0) {
        std::int64_t now = unixSeconds();
        location.purgeExpired(now, [&](const std::string& aor, const std::vector<registrar::Binding>& remaining) {
          store.replaceBindings(aor, remaining, [](bool) {});
        });
        // Give freed heap back to the system (after a burst of TLS handshakes or connections, the
        // allocator otherwise keeps the peak: issue 5's benchmark saw 108 MiB kept with no
        // connection left).
        if (tickCount % 60 == 0) ::malloc_trim(0);
        if (tickCount % 600 == 0) offline.purgeExpired();
      }
      scheduleHousekeeping();
    });
  };
  scheduleHousekeeping();

  // A graceful stop (SIGTERM, SIGINT), bounded by shutdown_grace: first the work in progress ends
  // (REGISTERs waiting for the store, requests being forwarded, offline deliveries, queued
  // writes) while new requests get 503; then the connections close (WebSockets with 1001, going
  // away) and their closing handshakes get up to a second. The workers report what is left
  // (reportUnfinished) about every 10 ms.
  asio::steady_timer drainTimer(control);
  std::chrono::steady_clock::time_point drainDeadline;
  std::chrono::steady_clock::time_point closeDeadline;
  bool closing = false;
  // Each question has its number, so that an answer still queued from before the connections
  // were closed is not taken for one from after. Quiet means two answers in a row found nothing
  // left: work handed from one worker to another in between is seen by one of the two.
  std::uint32_t round = 0;
  int quietRounds = 0;
  auto askWorkers = [&] {
    ++round;
    for (auto& w : workers) asio::post(w->io, [core = w->core.get(), r = round] { core->reportUnfinished(r); });
  };
  std::function<void()> waitDrained = [&] {
    const auto now = std::chrono::steady_clock::now();
    const bool answered = std::all_of(workers.begin(), workers.end(),
                                      [&](const auto& w) { return w->core->unfinishedAt(round) != SIZE_MAX; });
    if (answered) {
      const bool nothingLeft =
          services.pendingWrites.load() <= 0 &&
          std::all_of(workers.begin(), workers.end(), [&](const auto& w) { return w->core->unfinishedAt(round) == 0; });
      quietRounds = nothingLeft ? quietRounds + 1 : 0;
    }
    const bool quiet = quietRounds >= 2;
    if (now >= drainDeadline || (closing && (quiet || now >= closeDeadline))) {
      if (!quiet && cfg.shutdownGrace.count() > 0)
        spdlog::warn("stopping with work unfinished at the end of shutdown_grace");
      control.stop();
      return;
    }
    if (quiet) {
      closing = true;
      quietRounds = 0;
      closeDeadline = std::min(drainDeadline, now + std::chrono::seconds(1));
      for (auto& w : workers) asio::post(w->io, [core = w->core.get()] { core->closeForShutdown(); });
    }
    if (answered || quiet) askWorkers();
    drainTimer.expires_after(std::chrono::milliseconds(10));
    drainTimer.async_wait([&](const boost::system::error_code&) { waitDrained(); });
  };

  std::function<void()> waitSignal = [&] {
    signals.async_wait([&](const boost::system::error_code& ec, int signo) {
      if (ec) return;
      if (signo == SIGHUP) {
        spdlog::info("SIGHUP: reloading");
        if (options.configFile) {
          try {
            config::Config fresh = config::loadConfigFile(*options.configFile);
            configureLogging(fresh.logLevel, fresh.logFormat);
            spdlog::info("log level {}; TLS files re-read; other settings apply at the next start", fresh.logLevel);
            tlsConfig.tls = fresh.tls;
          } catch (const std::exception& e) {
            spdlog::error("reload failed, keeping the running configuration: {}", e.what());
          }
        }
        spdlog::info("users reloaded: {} user(s)", users.reload());
        if (TlsSetup::needed(cfg)) reloadTls("SIGHUP");
        waitSignal();
        return;
      }
      spdlog::info("{}: shutting down (grace {} s)", signo == SIGINT ? "SIGINT" : "SIGTERM", cfg.shutdownGrace.count());
      stopping = true;
      housekeeping.cancel();
      services.draining = true;
      for (auto& w : workers) asio::post(w->io, [core = w->core.get()] { core->stopAccepting(); });
      drainDeadline = std::chrono::steady_clock::now() + cfg.shutdownGrace;
      askWorkers();
      waitDrained();
    });
  };
  waitSignal();
  control.run();

  store.flush();
  for (auto& w : workers) w->io.stop();
  for (auto& w : workers) {
    if (w->thread.joinable()) w->thread.join();
  }
  // A worker may have queued store work after the flush above (the read-back after a failed
  // write): it runs now, while everything its callback touches is alive.
  store.flush();
  // No DNS answer, and no answer of the offline-message store (a REGISTER's delivery lookup, a
  // MESSAGE's store), may be posted to a worker's io_context once the workers are gone.
  dns.stop();
  offline.stop();
  for (auto& w : workers) w->core->closeAll();
  if (services.pendingWrites.load() > 0) {
    spdlog::warn("{} REGISTER(s) still waiting for the store at the deadline", services.pendingWrites.load());
  }
  spdlog::info("stopped: {} requests, {} invalid, {} registrations, {} rejections, {} auth failures",
               stats.requests.load(), stats.invalidMessages.load(), stats.registrations.load(), stats.rejections(),
               stats.authFailures.load());
  proxy::ProxyStats proxied;
  for (auto& w : workers) proxied += w->core->proxyStats();
  spdlog::info(
      "proxy: {} requests forwarded on {} branches, {} CANCELs sent, {} ring timeouts, {} loops, {} branches "
      "failed with their connection, {} answered calls ended for the security policy, {} late 2xx passed on; "
      "{} ACKs of stateless refusals dropped; {} offline MESSAGEs stored, {} delivered, {} refused by the "
      "recipient and dropped",
      proxied.forwarded, proxied.branches, proxied.cancelled, proxied.ringTimeouts, proxied.loops, proxied.flowFailures,
      proxied.refusedDialogs, proxied.late2xx, stats.statelessAcks.load(), stats.offlineStored.load(),
      stats.offlineDelivered.load(), stats.offlineRefused.load());
  spdlog::info("TLS: {} handshakes, {} failed; {} PROXY protocol refusals; {} requests let in by a client "
               "certificate; {} refused by a domain security mode; {} connections closed when their client "
               "certificate no longer verified after a reload",
               stats.transport.tlsHandshakes.load(), stats.transport.tlsHandshakeFailures.load(),
               stats.transport.proxyHeaderFailures.load(), stats.certificateAuthentications.load(),
               stats.securityRejections.load(), stats.transport.clientCertificatesRevoked.load());
  spdlog::info("WebSocket: {} opened, {} handshakes refused (subprotocol or Origin); {} HTTP requests",
               stats.transport.webSocketsOpened.load(), stats.transport.webSocketsRefused.load(),
               stats.transport.httpRequests.load());
  spdlog::default_logger()->flush();
  ::close(lockFd);
  return 0;
}

}  // namespace sipwarden::server
