// The decisions of the WebSocket listeners that need no socket: whether a browser's Origin may
// open a SIP WebSocket (against cross-site WebSocket hijacking), which file a web request names,
// its Content-Type, and whether an outgoing SIP message can go in a text frame.
//
// Thread-safety: free functions on their arguments.
#pragma once

#include <cstdint>
#include <filesystem>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace sipwarden::transport {

/// The parts of an Origin header (RFC 6454 §7): "https://example.com:8443".
struct Origin {
  std::string scheme;  ///< lower-case
  std::string host;    ///< lower-case, without brackets for IPv6
  std::uint16_t port = 0;  ///< 0 when absent
};
/// Parses an Origin serialisation; nullopt for "null" and anything malformed.
std::optional<Origin> parseOrigin(std::string_view text);

/// Whether `origin` (the header's value) may open a WebSocket.
/// - `allowed` empty: the default, an http or https origin whose host is one of `ownNames` (the
///   served domains, the host name, the listeners' addresses, localhost).
/// - otherwise each entry is "*" (any origin), a full origin ("https://app.example.com:8443",
///   compared as scheme, host and port, the port defaulting by scheme), or a bare host name
///   ("app.example.com", any scheme and port).
/// A request without an Origin is not from a browser page and is allowed (cross-site hijacking
/// needs a browser); "null" is allowed only by "*" or an explicit "null" entry.
bool originAllowed(std::string_view origin, const std::vector<std::string>& allowed,
                   const std::vector<std::string>& ownNames);

/// The file under `root` that an HTTP request target names ("/", "/index.html?x=1",
/// "/vendor/jssip.min.js"): percent-decoded, "/" and directories mapped to index.html. nullopt for
/// a target that escapes the root ("..", an encoded NUL or slash trickery) or is not
/// origin-form.
std::optional<std::filesystem::path> staticFilePath(const std::filesystem::path& root, std::string_view target);

/// The Content-Type for a file name by its extension ("application/octet-stream" when unknown).
std::string_view contentTypeFor(const std::filesystem::path& file);

/// Whether `bytes` is well-formed UTF-8 (a WebSocket text frame must be, RFC 6455 §5.6).
bool isUtf8(std::string_view bytes);

}  // namespace sipwarden::transport
