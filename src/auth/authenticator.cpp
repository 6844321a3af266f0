#include "auth/authenticator.hpp"

#include <algorithm>
#include <stdexcept>

#include "sip/chars.hpp"
#include "sip/header_values.hpp"
#include "sip/text.hpp"
#include "sip/uri.hpp"

namespace sipwarden::auth {

namespace {

/// The value of a quoted-string with its quoted-pairs resolved (AuthValue keeps them escaped).
/// Returns `s` itself when there is nothing to resolve, else a view of `storage`.
std::string_view unquote(std::string_view s, std::string& storage) {
  if (s.find('\\') == std::string_view::npos) return s;
  storage.clear();
  storage.reserve(s.size());
  for (std::size_t i = 0; i < s.size(); ++i) {
    if (s[i] == '\\' && i + 1 < s.size()) ++i;
    storage.push_back(s[i]);
  }
  return storage;
}

/// nc = 8LHEX (RFC 7616 §3.4). Upper-case hex digits are accepted too.
bool parseNonceCount(std::string_view text, std::uint32_t& out) {
  if (text.size() != 8) return false;
  std::uint32_t v = 0;
  for (char c : text) {
    if (!sip::chars::isHex(c)) return false;
    char l = sip::chars::toLower(c);
    v = (v << 4) | static_cast<std::uint32_t>(l <= '9' ? l - '0' : l - 'a' + 10);
  }
  out = v;
  return true;
}

/// `s` in lower case: `s` itself when it has no upper-case letter (stored HA1s and the responses
/// of most clients), else a lower-cased copy in `storage`.
std::string_view lowerCase(std::string_view s, std::string& storage) {
  if (std::none_of(s.begin(), s.end(), [](char c) { return c >= 'A' && c <= 'Z'; })) return s;
  storage.assign(s);
  for (char& c : storage) c = sip::chars::toLower(c);
  return storage;
}

/// Appends `s` as a quoted-string, escaping '"' and '\'.
void appendQuoted(std::string& out, std::string_view s) {
  out.push_back('"');
  for (char c : s) {
    if (c == '"' || c == '\\') out.push_back('\\');
    out.push_back(c);
  }
  out.push_back('"');
}

AuthResult result(AuthOutcome outcome, std::string_view user, std::string reason) {
  return AuthResult{outcome, std::string(user), std::move(reason)};
}

}  // namespace

std::string_view outcomeName(AuthOutcome outcome) {
  switch (outcome) {
    case AuthOutcome::Authenticated: return "Authenticated";
    case AuthOutcome::NoCredentials: return "NoCredentials";
    case AuthOutcome::Stale: return "Stale";
    case AuthOutcome::Rejected: return "Rejected";
    case AuthOutcome::Forbidden: return "Forbidden";
    case AuthOutcome::Malformed: return "Malformed";
  }
  return "Unknown";
}

Authenticator::Authenticator(AuthSettings settings, std::span<const std::uint8_t> secret)
    : settings_(std::move(settings)), nonces_(secret, settings_.nonceLifetime), counter_(settings_.nonceSlots) {
  if (settings_.offered.empty()) throw std::invalid_argument("no digest algorithm offered");
}

AuthResult Authenticator::verify(const sip::Message& request, sip::HeaderId header, std::string_view realm,
                                 std::string_view requiredUser, const CredentialLookup& lookup,
                                 WallClock::time_point now) {
  // The reason of a 400, "Bad Authorization: ...", built only when there is one to give.
  auto bad = [header](std::string_view why) {
    std::string reason = "Bad ";
    reason += sip::headerName(header);
    reason += ": ";
    reason += why;
    return reason;
  };
  std::string realmStorage;

  // RFC 3261 §22.3: a request may carry credentials for several realms (one per proxy); ours is
  // the Digest one whose realm is `realm`.
  sip::AuthValue a;
  bool found = false;
  std::string malformed;  // why an unreadable Digest header that may have been ours failed
  for (const sip::HeaderField& h : request.headers()) {
    if (h.id != header) continue;
    sip::AuthValue v;
    sip::Why why = sip::parseAuth(h.value, v);
    if (!v.isDigest()) continue;
    if (!v.realm.empty() && unquote(v.realm, realmStorage) != realm) continue;
    if (why != nullptr || v.realm.empty()) {
      if (malformed.empty()) malformed = bad(why != nullptr ? why : "missing realm");
      continue;
    }
    a = v;
    found = true;
    break;
  }
  if (!found) {
    if (!malformed.empty()) return result(AuthOutcome::Malformed, {}, std::move(malformed));
    return result(AuthOutcome::NoCredentials, {}, "no credentials for realm");
  }

  // ---- syntax: 400 ----
  std::string userStorage;
  std::string_view user = unquote(a.username, userStorage);
  if (a.username.empty()) return result(AuthOutcome::Malformed, {}, bad("missing username"));
  if (a.nonce.empty()) return result(AuthOutcome::Malformed, user, bad("missing nonce"));
  if (a.uri.empty()) return result(AuthOutcome::Malformed, user, bad("missing uri"));
  if (a.response.empty()) return result(AuthOutcome::Malformed, user, bad("missing response"));
  if (!a.qop.empty()) {
    if (a.nc.empty()) return result(AuthOutcome::Malformed, user, bad("qop without nc"));
    if (a.cnonce.empty()) return result(AuthOutcome::Malformed, user, bad("qop without cnonce"));
  }
  std::uint32_t nc = 0;
  if (!a.nc.empty() && !parseNonceCount(a.nc, nc)) {
    return result(AuthOutcome::Malformed, user, bad("nc is not 8 hex digits"));
  }
  std::string uriStorage;
  std::string_view digestUri = unquote(a.uri, uriStorage);
  if (digestUri != request.requestUriText()) {
    sip::Uri parsed;
    if (sip::parseUri(digestUri, parsed) != nullptr ||
        !(sip::uriEquals(parsed, request.requestUri()) ||
          (settings_.alsoAcceptUri && settings_.alsoAcceptUri(parsed, request)))) {
      return result(AuthOutcome::Malformed, user, bad("uri does not match the Request-URI"));
    }
  }

  // ---- parameters we do not accept: new challenge ----
  DigestAlgorithm algorithm = DigestAlgorithm::Md5;  // RFC 7616 §3.3: absent means MD5
  if (!a.algorithm.empty()) {
    auto parsedAlgorithm = parseAlgorithm(a.algorithm);
    if (!parsedAlgorithm) return result(AuthOutcome::Rejected, user, "unsupported algorithm");
    algorithm = *parsedAlgorithm;
  }
  if (std::find(settings_.offered.begin(), settings_.offered.end(), algorithm) == settings_.offered.end()) {
    return result(AuthOutcome::Rejected, user, "algorithm not offered");
  }
  // RFC 3261 §22.4 allows RFC 2069 credentials without qop; we always offer qop="auth" and require
  // it, since nc (replay protection) comes with it.
  if (a.qop.empty()) return result(AuthOutcome::Rejected, user, "missing qop");
  if (!sip::iequals(a.qop, "auth")) return result(AuthOutcome::Rejected, user, "unsupported qop");
  if (sip::iequals(a.userhash, "true")) {  // parseAuth took the quotes off
    return result(AuthOutcome::Rejected, user, "userhash not supported");
  }
  if (!a.opaque.empty() && a.opaque != nonces_.opaque()) return result(AuthOutcome::Rejected, user, "wrong opaque");
  const NonceService::Inspection nonce = nonces_.inspect(a.nonce, now);
  if (nonce.verdict == NonceService::Verdict::Invalid) return result(AuthOutcome::Rejected, user, "invalid nonce");

  // ---- the response ----
  const Ha1Ref ha1s = lookup(user, realm);
  if (!ha1s) return result(AuthOutcome::Rejected, user, "unknown user");
  const std::string& ha1 = ha1s->forAlgorithm(algorithm);
  if (ha1.empty()) return result(AuthOutcome::Rejected, user, "no credentials for this algorithm");
  std::string cnonceStorage, ha1Storage, responseStorage;
  const HexDigest expected = computeResponseHex(algorithm, lowerCase(ha1, ha1Storage), request.methodText(), digestUri,
                                                a.nonce, a.nc, unquote(a.cnonce, cnonceStorage), a.qop);
  if (expected.size == 0 || !equalsConstantTime(expected.view(), lowerCase(a.response, responseStorage))) {
    return result(AuthOutcome::Rejected, user, "wrong response");
  }

  // ---- freshness and replay ----
  if (nonce.verdict == NonceService::Verdict::Stale) return result(AuthOutcome::Stale, user, "stale nonce");
  switch (counter_.accept(nonce.serial, nc)) {
    case NonceCounter::Verdict::Accepted: break;
    case NonceCounter::Verdict::Replayed: return result(AuthOutcome::Rejected, user, "replayed nc");
    case NonceCounter::Verdict::Overtaken:
      // So many nonces were issued since this one that its counts are forgotten: ask again.
      return result(AuthOutcome::Stale, user, "nonce overtaken");
  }

  // ---- authorization (RFC 3261 §10.3 step 6 for REGISTER) ----
  if (!requiredUser.empty() && user != requiredUser) {
    return result(AuthOutcome::Forbidden, user, "username does not match the To user");
  }
  return result(AuthOutcome::Authenticated, user, {});
}

std::vector<std::string> Authenticator::challenges(std::string_view realm, bool stale,
                                                   WallClock::time_point now) const {
  std::vector<std::string> out;
  challenges(realm, stale, now, out);
  return out;
}

void Authenticator::challenges(std::string_view realm, bool stale, WallClock::time_point now,
                               std::vector<std::string>& out) const {
  thread_local std::string nonce;
  nonces_.issue(now, nonce);
  const std::string& opaque = nonces_.opaque();
  out.resize(settings_.offered.size());
  for (std::size_t i = 0; i < settings_.offered.size(); ++i) {
    std::string& v = out[i];
    v.assign("Digest realm=");
    appendQuoted(v, realm);
    v += ", nonce=\"";
    v += nonce;
    v += "\", opaque=\"";
    v += opaque;
    v += "\", algorithm=";
    v += algorithmName(settings_.offered[i]);
    v += ", qop=\"auth\"";
    if (stale) v += ", stale=true";
  }
}

}  // namespace sipwarden::auth
