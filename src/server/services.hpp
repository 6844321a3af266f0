// What every worker shares: the thread-safe services built once from the configuration.
#pragma once

#include <atomic>
#include <chrono>
#include <string>
#include <vector>

#include "auth/authenticator.hpp"
#include "im/offline_messages.hpp"
#include "proxy/flow_token.hpp"
#include "security/security_policy.hpp"
#include "transport/dns_resolver.hpp"
#include "registrar/gruu.hpp"
#include "registrar/location_service.hpp"
#include "registrar/registrar.hpp"
#include "server/stats.hpp"
#include "server/user_directory.hpp"
#include "storage/sqlite_store.hpp"

namespace sipwarden::proxy {
class StatelessTags;
}

namespace sipwarden::server {

struct Domain {
  std::string name;  ///< lower-case
  std::string realm;
};

struct CoreSettings {
  std::vector<Domain> domains;            ///< the first is the default
  std::vector<std::string> localAliases;  ///< our host names and addresses: they mean the default domain
  std::string serverHeader = "sipwarden";
  std::chrono::milliseconds ringTimeout{std::chrono::seconds(120)};
  bool relay = false;  ///< forward requests for other domains
  std::size_t maxMessageBody = 65000;  ///< MESSAGE body over TCP (RFC 3428 §7: 1300 over UDP)
  /// Which part of a verified TLS client certificate names a user (that user needs no digest).
  enum class CertificateIdentity { None, San, Cn, SanOrCn } certificateIdentity = CertificateIdentity::None;
};

struct Services {
  CoreSettings settings;
  auth::Authenticator& authenticator;
  registrar::LocationService& location;
  registrar::Registrar& registrar;
  storage::SqliteStore& store;
  UserDirectory& users;
  Stats& stats;
  const proxy::FlowTokens& flowTokens;
  im::OfflineMessages& offline;
  const security::SecurityPolicy& security;
  transport::DnsResolver& dns;
  const registrar::GruuCodec& gruus;
  const proxy::StatelessTags& statelessTags;
  std::atomic<bool> draining{false};           ///< shutting down: new requests get 503
  std::atomic<std::int64_t> pendingWrites{0};  ///< REGISTERs waiting for their store commit

  /// The configured domain `host` names (or the default domain for a local alias); nullptr when
  /// the host is not ours.
  [[nodiscard]] const Domain* domainFor(std::string_view host) const;
};

}  // namespace sipwarden::server
