// Logging set-up (spdlog): a text format for people, a JSON-lines format for collectors.
#pragma once

#include <string_view>

namespace sipwarden::server {

/// `level`: trace, debug, info, warn, error, critical, off; `format`: text or json.
/// Logs go to standard error. May be called again (SIGHUP) to change them.
void configureLogging(std::string_view level, std::string_view format);

}  // namespace sipwarden::server
