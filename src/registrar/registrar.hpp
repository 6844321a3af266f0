// The registrar's handling of REGISTER (RFC 3261 §10.3 steps 5-8), with Path (RFC 3327) and the
// instance and reg-id of outbound (RFC 5626 §6). Steps 1-4 (domain, Require, authentication,
// authorization of the To AOR) are the caller's: it hands over an authorized, canonical AOR.
// No storage and no Asio here: the caller persists through a callback and builds the response.
#pragma once

#include <cstddef>
#include <cstdint>
#include <functional>
#include <string>
#include <vector>

#include "registrar/binding.hpp"
#include "registrar/gruu.hpp"
#include "registrar/location_service.hpp"
#include "sip/message.hpp"
#include "sip/uri.hpp"
#include "transport/peer.hpp"

namespace sipwarden::registrar {

struct RegistrarSettings {
  std::uint32_t minExpires = 60;        ///< shorter non-zero expiries get 423 (RFC 3261 §10.3 step 7)
  std::uint32_t maxExpires = 3600;      ///< longer ones are shortened to this
  std::uint32_t defaultExpires = 3600;  ///< when neither the contact nor the request says
  std::size_t maxContactsPerAor = 10;   ///< a REGISTER may not grow an AOR beyond this (403)
};

struct RegisterResult {
  /// 200; 400 (bad Contact or Expires, Contact: * misuse); 423 (see minExpires); 500 (out-of-order
  /// CSeq, §10.3 step 7); 403 (too many contacts).
  int status = 200;
  /// Reason phrase for a non-200: "Interval Too Brief", "Bad Contact: ...", "Out of order CSeq",
  /// "Too many contacts".
  std::string reason;
  std::uint32_t minExpires = 0;  ///< for 423: the Min-Expires header value
  /// For 200: every unexpired binding of the AOR after the change, most preferred first (the 200 OK
  /// lists them all, see addContacts).
  std::vector<Binding> current;
  bool changed = false;  ///< the bindings changed and persist was called
};

/// Called with the AOR's whole new binding set after a change (empty: the AOR has none left),
/// under the AOR's lock: calls for one AOR arrive in the order the changes were applied. It must
/// not block on I/O (queue the write, e.g. storage::SqliteStore::replaceBindings) and must not
/// call back into the LocationService.
using PersistFn = std::function<void(const std::string& aor, const std::vector<Binding>& bindings)>;

/// Thread-safe: process() may run on every worker at once (the LocationService serialises each AOR).
class Registrar {
 public:
  /// `location` must outlive the Registrar.
  Registrar(RegistrarSettings settings, LocationService& location);

  /// Applies the REGISTER `request` (parsed; its Contact, Expires, Call-ID, CSeq, Path and
  /// User-Agent are read) to `aor`, received from `source` at `nowUnix`.
  /// - No Contact: a query; returns the current bindings.
  /// - Contact: * needs Expires: 0 and no other Contact (else 400); removes every binding.
  /// - Per contact: its expires parameter, else the Expires header, else defaultExpires; 0 removes
  ///   the binding; 0 < e < minExpires gives 423 with minExpires; e > maxExpires is shortened.
  /// - The same contact is a binding whose URI is equal (RFC 3261 §19.1.4), or, when both carry
  ///   +sip.instance and reg-id, one with the same pair (RFC 5626 §6). A contact listed twice in
  ///   one request: the last one counts.
  /// - §10.3 step 7: a binding with the same Call-ID and a CSeq not lower than the request's gives
  ///   500 "Out of order CSeq"; with another Call-ID it is updated.
  /// - Stores Path (comma-joined, RFC 3327), +sip.instance, reg-id, User-Agent and `source`.
  /// Everything is validated before anything is applied: a request is applied whole or not at
  /// all. The change is made under the AOR's lock and `persist(aor, newSet)` is called while it
  /// is held, only when something changed.
  RegisterResult process(const sip::Message& request, const std::string& aor, const transport::Peer& source,
                         std::int64_t nowUnix, const PersistFn& persist);

  /// Adds one Contact header per binding to a 200 OK (RFC 3261 §10.3 step 8):
  /// <uri>;expires=<remaining>[;q=0.5][;+sip.instance="..."][;reg-id=N], remaining >= 0.
  /// With `gruus` (the UA said Supported: gruu), a binding with a +sip.instance also gets its
  /// pub-gruu and a new temp-gruu (RFC 5627 §5.2).
  static void addContacts(sip::Message& response, const std::vector<Binding>& bindings, std::int64_t nowUnix,
                          const GruuCodec* gruus = nullptr);

  /// "user@domain" from a To/From URI: the user %-unescaped, the host lower-case, no port or
  /// parameters. Empty for a non-sip/sips URI or one without a user.
  static std::string canonicalAor(const sip::Uri& uri);

  [[nodiscard]] const RegistrarSettings& settings() const { return settings_; }

 private:
  RegistrarSettings settings_;
  LocationService& location_;
};

}  // namespace sipwarden::registrar
