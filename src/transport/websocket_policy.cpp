#include "transport/websocket_policy.hpp"

#include <algorithm>
#include <cctype>

namespace sipwarden::transport {

namespace {

std::string lower(std::string_view s) {
  std::string out(s);
  std::transform(out.begin(), out.end(), out.begin(), [](unsigned char c) { return static_cast<char>(std::tolower(c)); });
  return out;
}

std::uint16_t defaultPort(std::string_view scheme) {
  if (scheme == "https" || scheme == "wss") return 443;
  if (scheme == "http" || scheme == "ws") return 80;
  return 0;
}

bool validHostChar(char c) {
  return std::isalnum(static_cast<unsigned char>(c)) || c == '-' || c == '.' || c == '_' || c == ':';
}

int hexValue(char c) {
  if (c >= '0' && c <= '9') return c - '0';
  if (c >= 'a' && c <= 'f') return c - 'a' + 10;
  if (c >= 'A' && c <= 'F') return c - 'A' + 10;
  return -1;
}

}  // namespace

std::optional<Origin> parseOrigin(std::string_view text) {
  std::size_t sep = text.find("://");
  if (sep == std::string_view::npos || sep == 0) return std::nullopt;
  Origin o;
  o.scheme = lower(text.substr(0, sep));
  if (!std::all_of(o.scheme.begin(), o.scheme.end(),
                   [](char c) { return std::isalnum(static_cast<unsigned char>(c)) || c == '+' || c == '-' || c == '.'; })) {
    return std::nullopt;
  }
  std::string_view rest = text.substr(sep + 3);
  if (!rest.empty() && rest.back() == '/') rest.remove_suffix(1);  // tolerated, not in RFC 6454
  std::string_view host = rest;
  std::string_view port;
  if (!rest.empty() && rest.front() == '[') {
    std::size_t close = rest.find(']');
    if (close == std::string_view::npos) return std::nullopt;
    host = rest.substr(1, close - 1);
    std::string_view after = rest.substr(close + 1);
    if (!after.empty()) {
      if (after.front() != ':') return std::nullopt;
      port = after.substr(1);
    }
  } else {
    std::size_t colon = rest.rfind(':');
    if (colon != std::string_view::npos) {
      host = rest.substr(0, colon);
      port = rest.substr(colon + 1);
    }
    if (host.find(':') != std::string_view::npos) return std::nullopt;
  }
  if (host.empty() || !std::all_of(host.begin(), host.end(), validHostChar)) return std::nullopt;
  o.host = lower(host);
  if (!port.empty()) {
    unsigned value = 0;
    for (char c : port) {
      if (c < '0' || c > '9') return std::nullopt;
      value = value * 10 + static_cast<unsigned>(c - '0');
      if (value > 65535) return std::nullopt;
    }
    o.port = static_cast<std::uint16_t>(value);
  } else if (rest.find(':') != std::string_view::npos && rest.front() != '[') {
    return std::nullopt;  // "https://host:" with an empty port
  }
  return o;
}

bool originAllowed(std::string_view origin, const std::vector<std::string>& allowed,
                   const std::vector<std::string>& ownNames) {
  if (origin.empty()) return true;
  const bool isNull = origin == "null";
  if (allowed.empty()) {
    if (isNull) return false;
    auto o = parseOrigin(origin);
    if (!o || (o->scheme != "http" && o->scheme != "https")) return false;
    return std::any_of(ownNames.begin(), ownNames.end(), [&](const std::string& n) { return lower(n) == o->host; });
  }
  auto o = isNull ? std::nullopt : parseOrigin(origin);
  for (const std::string& entry : allowed) {
    if (entry == "*") return true;
    if (entry == "null") {
      if (isNull) return true;
      continue;
    }
    if (!o) continue;
    if (entry.find("://") == std::string::npos) {
      if (lower(entry) == o->host) return true;
      continue;
    }
    auto want = parseOrigin(entry);
    if (!want || want->scheme != o->scheme || want->host != o->host) continue;
    std::uint16_t a = want->port != 0 ? want->port : defaultPort(want->scheme);
    std::uint16_t b = o->port != 0 ? o->port : defaultPort(o->scheme);
    if (a == b) return true;
  }
  return false;
}

std::optional<std::filesystem::path> staticFilePath(const std::filesystem::path& root, std::string_view target) {
  if (target.empty() || target.front() != '/') return std::nullopt;
  target = target.substr(0, target.find_first_of("?#"));
  std::string decoded;
  decoded.reserve(target.size());
  for (std::size_t i = 0; i < target.size(); ++i) {
    char c = target[i];
    if (c == '%') {
      if (i + 2 >= target.size()) return std::nullopt;
      int hi = hexValue(target[i + 1]);
      int lo = hexValue(target[i + 2]);
      if (hi < 0 || lo < 0) return std::nullopt;
      c = static_cast<char>(hi * 16 + lo);
      i += 2;
    }
    if (c == '\0' || c == '\\') return std::nullopt;
    decoded.push_back(c);
  }
  // Segment by segment (a trailing "/" ends the loop without an empty segment).
  std::filesystem::path rel;
  std::size_t start = 1;
  bool directory = decoded.size() == 1 || decoded.back() == '/';
  while (start < decoded.size()) {
    std::size_t end = decoded.find('/', start);
    if (end == std::string::npos) end = decoded.size();
    std::string_view seg(decoded.data() + start, end - start);
    // "//", "." and "..", and hidden files (".git", ".env").
    if (seg.empty() || seg.front() == '.') return std::nullopt;
    rel /= std::string(seg);
    start = end + 1;
  }
  std::filesystem::path full = root / rel;
  if (directory) full /= "index.html";
  return full;
}

std::string_view contentTypeFor(const std::filesystem::path& file) {
  std::string ext = lower(file.extension().string());
  if (ext == ".html" || ext == ".htm") return "text/html; charset=utf-8";
  if (ext == ".js" || ext == ".mjs") return "text/javascript; charset=utf-8";
  if (ext == ".css") return "text/css; charset=utf-8";
  if (ext == ".json" || ext == ".map") return "application/json";
  if (ext == ".svg") return "image/svg+xml";
  if (ext == ".png") return "image/png";
  if (ext == ".ico") return "image/x-icon";
  if (ext == ".wav") return "audio/wav";
  if (ext == ".ogg") return "audio/ogg";
  if (ext == ".mp3") return "audio/mpeg";
  if (ext == ".txt") return "text/plain; charset=utf-8";
  if (ext == ".webmanifest") return "application/manifest+json";
  return "application/octet-stream";
}

bool isUtf8(std::string_view bytes) {
  const auto* p = reinterpret_cast<const unsigned char*>(bytes.data());
  const auto* end = p + bytes.size();
  while (p < end) {
    unsigned char c = *p;
    if (c < 0x80) {
      ++p;
      continue;
    }
    int extra = 0;
    std::uint32_t cp = 0;
    if (c >= 0xC2 && c <= 0xDF) {
      extra = 1;
      cp = c & 0x1F;
    } else if (c >= 0xE0 && c <= 0xEF) {
      extra = 2;
      cp = c & 0x0F;
    } else if (c >= 0xF0 && c <= 0xF4) {
      extra = 3;
      cp = c & 0x07;
    } else {
      return false;
    }
    if (end - p <= extra) return false;
    for (int i = 1; i <= extra; ++i) {
      if ((p[i] & 0xC0) != 0x80) return false;
      cp = (cp << 6) | (p[i] & 0x3F);
    }
    if ((extra == 2 && (cp < 0x800 || (cp >= 0xD800 && cp <= 0xDFFF))) || (extra == 3 && (cp < 0x10000 || cp > 0x10FFFF))) {
      return false;
    }
    p += extra + 1;
  }
  return true;
}

}  // namespace sipwarden::transport
