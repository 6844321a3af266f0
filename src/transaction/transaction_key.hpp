// Transaction keys: the compact strings under which the layer files its transactions, built so
// that two messages match exactly when RFC 3261 says they belong to the same transaction.
// Each function clears `out` and writes the key there; callers reuse one buffer, so building a
// key for a lookup allocates nothing once the buffer has grown.
#pragma once

#include <string>
#include <string_view>

#include "sip/message.hpp"

namespace sipwarden::transaction::detail {

/// Server transaction key of `request` (RFC 3261 §17.2.3) as if its method were `method` (ACK and
/// CANCEL look up the INVITE they refer to with "INVITE"; a CANCEL's own transaction uses "CANCEL").
/// RFC 3261 branch: branch, sent-by host:port and method. RFC 2543 request (no magic cookie):
/// Request-URI, `toTag`, From tag, Call-ID, CSeq number, top Via and method. `toTag` is explicit
/// because an ACK is matched first by its own To tag and then by the tag of the response the
/// server transaction sent. Branches, tags, hosts and the Via compare case-insensitively
/// (§7.3.1); Call-ID and method case-sensitively (§8.1.1.4, §7.1).
/// Precondition: request.canBuildResponse().
void serverKey(const sip::Message& request, std::string_view method, std::string_view toTag, std::string& out);

/// Client transaction key (RFC 3261 §17.1.3): the branch of the top Via and the CSeq method.
void clientKey(std::string_view branch, std::string_view cseqMethod, std::string& out);

/// Whether a server key was built by the RFC 2543 rules (its transaction then remembers To tags).
bool isRfc2543Key(std::string_view key);

}  // namespace sipwarden::transaction::detail
