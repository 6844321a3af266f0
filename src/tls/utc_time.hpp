// ISO 8601 UTC times for certificate validity: what the log prints and what --not-before /
// --not-after accept.
#pragma once

#include <chrono>
#include <optional>
#include <string>
#include <string_view>

namespace sipwarden::tls {

/// "2026-03-01T12:00:00Z" (whole seconds).
std::string formatUtc(std::chrono::system_clock::time_point t);

/// "2026-03-01T12:00:00Z", "2026-03-01T12:00:00" (taken as UTC) or "2026-03-01" (midnight UTC);
/// nullopt for anything else, including out-of-range fields.
std::optional<std::chrono::system_clock::time_point> parseUtc(std::string_view text);

}  // namespace sipwarden::tls
