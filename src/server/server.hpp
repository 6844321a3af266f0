// The running server: builds the shared services from the configuration, opens the data
// directory and its SQLite store, starts one worker thread per core (each with its own
// io_context, sockets, transaction layer and core), and handles signals: SIGTERM/SIGINT drain
// and stop, SIGHUP reloads what can be reloaded.
#pragma once

#include <filesystem>
#include <optional>
#include <string>

#include "config/config.hpp"

namespace sipwarden::server {

struct ServeOptions {
  config::Config config;
  std::optional<std::filesystem::path> configFile;  ///< re-read on SIGHUP
  bool demoUser = false;                            ///< create (first run) and print a demo user
};

/// Runs until SIGTERM/SIGINT. Returns the process exit code. Throws on start-up failures
/// (config::ConfigError, storage::StoreError, a listener that cannot bind).
int runServer(ServeOptions options);

/// The secret used for nonces (and the demo user's password): created on first use in
/// `dataDir`/secret with mode 0600.
std::vector<std::uint8_t> loadOrCreateSecret(const std::filesystem::path& dataDir);

/// The demo user's password, derived from the secret (so it is never stored, yet stable).
std::string demoPassword(const std::vector<std::uint8_t>& secret);

}  // namespace sipwarden::server
