// A binding of the location service (RFC 3261 §10): one contact registered for an
// address-of-record, with what the registrar must remember to refresh it (§10.3 step 7), to
// route to it through a proxy chain (Path, RFC 3327) and over the same flow (RFC 5626).
#pragma once

#include <cstdint>
#include <string>

#include "transport/peer.hpp"

namespace sipwarden::registrar {

struct Binding {
  std::string aor;         ///< canonical address-of-record "user@domain" (lower-case domain)
  std::string contact;     ///< the Contact URI as registered (no display name, no header params)
  std::string callId;      ///< Call-ID of the REGISTER that created or last refreshed it
  std::uint32_t cseq = 0;  ///< its CSeq number
  std::int64_t expiresAt = 0;  ///< wall-clock Unix seconds
  int q = -1;                  ///< q-value in thousandths (q=0.5 -> 500); -1 when not given
  std::string path;            ///< Path header values, comma-joined, in the order received ("" if none)
  std::string instance;        ///< +sip.instance without quotes ("" if none)
  std::uint32_t regId = 0;     ///< reg-id (0 if none)
  std::string userAgent;       ///< User-Agent of the REGISTER ("" if none)
  transport::Peer received;    ///< where the REGISTER came from (the flow to reach the contact)
  std::int64_t updatedAt = 0;  ///< wall-clock Unix seconds of the last change

  friend bool operator==(const Binding&, const Binding&) = default;
};

}  // namespace sipwarden::registrar
