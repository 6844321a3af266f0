// SIP methods (RFC 3261 §7.1 and the extension RFCs) and response status codes (§21).
#pragma once

#include <cstdint>
#include <string_view>

namespace sipwarden::sip {

enum class Method : std::uint8_t {
  Extension,  ///< a valid token that is not one of the methods below
  Invite,
  Ack,
  Bye,
  Cancel,
  Register,
  Options,
  Message,    // RFC 3428
  Subscribe,  // RFC 6665
  Notify,     // RFC 6665
  Publish,    // RFC 3903
  Info,       // RFC 6086
  Prack,      // RFC 3262
  Update,     // RFC 3311
  Refer,      // RFC 3515
};

/// Method names are case-sensitive (RFC 3261 §7.1): "invite" is an extension method.
Method methodFromName(std::string_view name);
std::string_view methodName(Method m);

/// The default reason phrase for a status code ("" when unknown).
std::string_view reasonPhrase(int status);

}  // namespace sipwarden::sip
