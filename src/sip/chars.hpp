// Character classes of the SIP grammar (RFC 3261 §25.1) as constexpr lookup tables.
#pragma once

#include <array>
#include <cstdint>
#include <string_view>

namespace sipwarden::sip::chars {

enum Class : std::uint16_t {
  kAlnum = 1 << 0,
  kToken = 1 << 1,        // token: alphanum / "-" / "." / "!" / "%" / "*" / "_" / "+" / "`" / "'" / "~"
  kWord = 1 << 2,         // word (Call-ID): token chars plus ( ) < > : \ " / [ ] ? { }
  kUnreserved = 1 << 3,   // alphanum / mark
  kUserExtra = 1 << 4,    // user-unreserved: & = + $ , ; ? /
  kPassExtra = 1 << 5,    // password: & = + $ ,
  kParamExtra = 1 << 6,   // param-unreserved: [ ] / : & + $
  kHeaderExtra = 1 << 7,  // hnv-unreserved: [ ] / ? : + $
  kHex = 1 << 8,
  kHost = 1 << 9,          // alphanum / "-" / "." (hostname), plus ":" and "[" "]" handled separately
  kWsp = 1 << 10,          // SP / HTAB
  kLws = 1 << 11,          // SP / HTAB / CR / LF: inside an already delimited header value, folding is whitespace
  kReserved = 1 << 12,     // ; / ? : @ & = + $ ,
  kListSpecial = 1 << 13,  // what a comma-list splitter must look at: DQUOTE , < > backslash
  kGenValue = 1 << 14,     // gen-value of a header parameter: token / host (adds : [ ])
  kAddrSpec = 1 << 15,     // continues an addr-spec URI outside <>: not ; , ? < > DQUOTE or LWS
};

constexpr std::array<std::uint16_t, 256> makeTable() {
  std::array<std::uint16_t, 256> t{};
  auto add = [&t](std::string_view set, std::uint16_t cls) {
    for (char c : set) t[static_cast<unsigned char>(c)] |= cls;
  };
  for (int c = '0'; c <= '9'; ++c) t[c] |= kAlnum | kHex;
  for (int c = 'a'; c <= 'z'; ++c) t[c] |= kAlnum;
  for (int c = 'A'; c <= 'Z'; ++c) t[c] |= kAlnum;
  for (int c = 'a'; c <= 'f'; ++c) t[c] |= kHex;
  for (int c = 'A'; c <= 'F'; ++c) t[c] |= kHex;
  for (int c = 0; c < 256; ++c) {
    if (t[c] & kAlnum) t[c] |= kToken | kWord | kUnreserved | kHost;
  }
  add("-.!%*_+`'~", kToken | kWord);
  add("()<>:\\\"/[]?{}", kWord);
  add("-_.!~*'()", kUnreserved);
  add("&=+$,;?/", kUserExtra);
  add("&=+$,", kPassExtra);
  add("[]/:&+$", kParamExtra);
  add("[]/?:+$", kHeaderExtra);
  add("-.", kHost);
  add(" \t", kWsp | kLws);
  add("\r\n", kLws);
  add(";/?:@&=+$,", kReserved);
  add("\",<>\\", kListSpecial);
  for (int c = 0; c < 256; ++c) {
    if (t[c] & kToken) t[c] |= kGenValue;
  }
  add(":[]", kGenValue);
  for (int c = 0; c < 256; ++c) {
    if (std::string_view(";,?<>\" \t\r\n").find(static_cast<char>(c)) == std::string_view::npos) t[c] |= kAddrSpec;
  }
  return t;
}

inline constexpr std::array<std::uint16_t, 256> kTable = makeTable();

constexpr bool is(char c, std::uint16_t cls) { return (kTable[static_cast<unsigned char>(c)] & cls) != 0; }
constexpr bool isToken(char c) { return is(c, kToken); }
constexpr bool isWord(char c) { return is(c, kWord); }
constexpr bool isAlnum(char c) { return is(c, kAlnum); }
constexpr bool isDigit(char c) { return c >= '0' && c <= '9'; }
constexpr bool isHex(char c) { return is(c, kHex); }
constexpr bool isWsp(char c) { return c == ' ' || c == '\t'; }
constexpr bool isLws(char c) { return is(c, kLws); }
constexpr bool isAlpha(char c) { return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z'); }
constexpr char toLower(char c) { return (c >= 'A' && c <= 'Z') ? static_cast<char>(c + 32) : c; }
constexpr int hexValue(char c) {
  if (c >= '0' && c <= '9') return c - '0';
  if (c >= 'a' && c <= 'f') return c - 'a' + 10;
  if (c >= 'A' && c <= 'F') return c - 'A' + 10;
  return -1;
}

/// True when every character of `s` is in `cls`; '%' HEX HEX escapes are accepted when
/// `allowEscapes` is set (and a lone '%' is rejected).
constexpr bool allOf(std::string_view s, std::uint16_t cls, bool allowEscapes = false) {
  if (!allowEscapes) {
    // Unrolled by four (Call-ID, branch and tag values are checked on every message).
    const char* p = s.data();
    const char* const end = p + s.size();
    for (; end - p >= 4; p += 4) {
      if (!is(p[0], cls) || !is(p[1], cls) || !is(p[2], cls) || !is(p[3], cls)) return false;
    }
    for (; p != end; ++p) {
      if (!is(*p, cls)) return false;
    }
    return true;
  }
  for (std::size_t i = 0; i < s.size(); ++i) {
    char c = s[i];
    if (allowEscapes && c == '%') {
      if (i + 2 >= s.size() || !isHex(s[i + 1]) || !isHex(s[i + 2])) return false;
      i += 2;
      continue;
    }
    if (!is(c, cls)) return false;
  }
  return true;
}

constexpr bool isTokenString(std::string_view s) { return !s.empty() && allOf(s, kToken); }

}  // namespace sipwarden::sip::chars
