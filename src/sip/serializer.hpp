// Writing a Message in wire format (RFC 3261 §7). Content-Length always states the body size.
#pragma once

#include <string>

#include "sip/message.hpp"

namespace sipwarden::sip {

/// Appends the wire form of `m` to `out`. Header names are written as they were read (or added);
/// a Content-Length header is rewritten with the body size, or added when absent.
void serialize(const Message& m, std::string& out);

/// Convenience wrapper around serialize().
std::string toWire(const Message& m);

}  // namespace sipwarden::sip
