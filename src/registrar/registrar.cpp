#include "registrar/registrar.hpp"

#include <algorithm>
#include <charconv>
#include <limits>

#include "sip/inline_vector.hpp"
#include "sip/text.hpp"

namespace sipwarden::registrar {

namespace {

/// One Contact of the request with what validation decided for it. Views into the request.
struct Item {
  sip::Contact contact;
  std::uint32_t expires = 0;   ///< after the default and the cap; 0 = remove
  bool superseded = false;     ///< the same contact appears later in the request
  std::ptrdiff_t target = -1;  ///< index of the matching existing binding, -1 for a new one
};
// Four contacts inline: a REGISTER rarely has more, so parsing them allocates nothing.
using Items = sip::InlineVector<Item, 4>;

bool sameFlow(const sip::Contact& a, std::string_view instance, std::uint32_t regId) {
  return a.instance && a.regId && regId != 0 && !instance.empty() && *a.regId == regId && *a.instance == instance;
}

/// The request's contact `c` designates the existing binding `b`: equal URIs (§19.1.4; the stored
/// text is compared first, which settles the usual refresh without parsing), or the same
/// instance and reg-id (RFC 5626 §6).
bool matches(const sip::Contact& c, const Binding& b) {
  if (c.address.uri.raw == b.contact) return true;
  if (sameFlow(c, b.instance, b.regId)) return true;
  sip::Uri stored;
  if (sip::parseUri(b.contact, stored) != nullptr) return false;
  return sip::uriEquals(c.address.uri, stored);
}

bool sameContact(const sip::Contact& a, const sip::Contact& b) {
  if (a.instance && a.regId && sameFlow(b, *a.instance, *a.regId)) return true;
  return sip::uriEquals(a.address.uri, b.address.uri);
}

RegisterResult failure(int status, std::string reason) {
  RegisterResult r;
  r.status = status;
  r.reason = std::move(reason);
  return r;
}

void appendNumber(std::string& out, std::uint64_t v) {
  char buf[24];
  auto [end, ec] = std::to_chars(buf, buf + sizeof buf, v);
  (void)ec;
  out.append(buf, end);
}

/// q-value (RFC 3261 §25.1 qvalue) from thousandths: 1000 -> "1", 500 -> "0.5", 50 -> "0.05".
void appendQ(std::string& out, int thousandths) {
  if (thousandths >= 1000) {
    out += '1';
    return;
  }
  out += '0';
  if (thousandths <= 0) return;
  char digits[3] = {static_cast<char>('0' + thousandths / 100), static_cast<char>('0' + thousandths / 10 % 10),
                    static_cast<char>('0' + thousandths % 10)};
  std::size_t n = 3;
  while (digits[n - 1] == '0') --n;
  out += '.';
  out.append(digits, n);
}

}  // namespace

Registrar::Registrar(RegistrarSettings settings, LocationService& location)
    : settings_(settings), location_(location) {}

RegisterResult Registrar::process(const sip::Message& request, const std::string& aor, const transport::Peer& source,
                                  std::int64_t nowUnix, const PersistFn& persist) {
  // ---- validation: nothing is locked or applied yet
  Items items;
  sip::Why bad = nullptr;
  bool star = false;
  request.forEachValue(sip::HeaderId::Contact, [&](std::string_view value) {
    Item item;
    if ((bad = sip::parseContact(value, item.contact)) != nullptr) return false;
    star = star || item.contact.star;
    items.push_back(item);
    return true;
  });
  if (bad != nullptr) return failure(400, std::string("Bad Contact: ") + bad);
  if (request.find(sip::HeaderId::Expires) != nullptr && !request.expires()) {
    return failure(400, "Bad Expires");  // a message edited after parsing; the parser rejects it
  }

  if (items.size() == 0) {  // a query (§10.3 step 6 does not apply)
    RegisterResult r;
    r.current = location_.lookup(aor, nowUnix);
    return r;
  }

  const std::string_view callId = request.callId();
  const std::uint32_t cseq = request.cseq().number;
  // §10.3 step 7: "the same Call-ID and a CSeq not higher" aborts the whole request.
  auto outOfOrder = [&](const Binding& b) { return b.callId == callId && cseq <= b.cseq; };

  if (star) {
    // §10.3 step 6: "*" is valid only alone and with Expires: 0.
    if (items.size() != 1) return failure(400, "Bad Contact: '*' must be the only Contact");
    if (request.expires() != 0u) return failure(400, "Bad Contact: '*' requires Expires: 0");
    return location_.update(aor, [&](std::vector<Binding>& bindings) {
      RegisterResult r;
      for (const Binding& b : bindings) {
        if (b.expiresAt > nowUnix && outOfOrder(b)) return failure(500, "Out of order CSeq");
      }
      if (!bindings.empty()) {
        bindings.clear();
        r.changed = true;
        if (persist) persist(aor, bindings);
      }
      return r;
    });
  }

  const std::uint32_t requestExpires = request.expires().value_or(settings_.defaultExpires);
  for (Item& item : items) {
    std::uint32_t e = item.contact.expires.value_or(requestExpires);
    if (e != 0 && e < settings_.minExpires) {
      RegisterResult r = failure(423, "Interval Too Brief");
      r.minExpires = settings_.minExpires;
      return r;
    }
    item.expires = std::min(e, settings_.maxExpires);
  }
  for (std::size_t i = 0; i < items.size(); ++i) {
    for (std::size_t j = i + 1; j < items.size() && !items[i].superseded; ++j) {
      items[i].superseded = sameContact(items[i].contact, items[j].contact);
    }
  }

  // What every binding of this request records besides its contact (RFC 3327 Path, User-Agent).
  std::string path;
  request.forEachValue(sip::HeaderId::Path, [&](std::string_view value) {
    if (!path.empty()) path += ',';
    path += sip::trimLws(value);
    return true;
  });
  std::string_view userAgent;
  if (const sip::HeaderField* ua = request.find(sip::HeaderId::UserAgent)) userAgent = ua->value;

  // ---- under the AOR's lock: the ordering check, then the change
  return location_.update(aor, [&](std::vector<Binding>& bindings) {
    for (Item& item : items) {
      if (item.superseded) continue;
      item.target = -1;
      for (std::size_t k = 0; k < bindings.size(); ++k) {
        if (bindings[k].expiresAt > nowUnix && matches(item.contact, bindings[k])) {
          item.target = static_cast<std::ptrdiff_t>(k);
          break;
        }
      }
      if (item.target >= 0 && outOfOrder(bindings[static_cast<std::size_t>(item.target)])) {
        return failure(500, "Out of order CSeq");
      }
    }
    // Two different contacts of the request may designate one binding (one by URI, the other by
    // instance and reg-id): the later one counts, as for a contact listed twice.
    for (std::size_t i = 1; i < items.size(); ++i) {
      if (items[i].superseded || items[i].target < 0) continue;
      for (std::size_t j = 0; j < i; ++j) {
        if (items[j].target == items[i].target) items[j].superseded = true;
      }
    }
    std::size_t live = 0;
    for (const Binding& b : bindings) live += b.expiresAt > nowUnix ? 1 : 0;
    std::size_t after = live;
    for (const Item& item : items) {
      if (item.superseded) continue;
      if (item.target >= 0 && item.expires == 0) --after;
      if (item.target < 0 && item.expires != 0) ++after;
    }
    // Refreshing an AOR that is over the limit (the limit was lowered) is allowed; growing is not.
    if (after > settings_.maxContactsPerAor && after > live) return failure(403, "Too many contacts");

    RegisterResult r;
    for (const Item& item : items) {
      if (item.superseded || (item.target < 0 && item.expires == 0)) continue;
      Binding* b = nullptr;
      if (item.target >= 0) {
        b = &bindings[static_cast<std::size_t>(item.target)];
      } else {
        b = &bindings.emplace_back();
        b->aor = aor;
      }
      r.changed = true;
      if (item.expires == 0) {
        b->expiresAt = nowUnix;  // erased below with the expired ones
        continue;
      }
      const sip::Contact& c = item.contact;
      b->contact.assign(c.address.uri.raw);
      b->callId.assign(callId);
      b->cseq = cseq;
      b->expiresAt = nowUnix + item.expires;
      b->q = c.qThousandths;
      b->path = path;
      b->instance.assign(c.instance.value_or(std::string_view()));
      b->regId = c.regId.value_or(0);
      b->userAgent.assign(userAgent);
      b->received = source;
      b->updatedAt = nowUnix;
    }
    if (std::erase_if(bindings, [&](const Binding& b) { return b.expiresAt <= nowUnix; }) != 0) r.changed = true;
    if (r.changed) {
      std::sort(bindings.begin(), bindings.end(), morePreferred);
      if (persist) persist(aor, bindings);
    }
    r.current = bindings;
    return r;
  });
}

void Registrar::addContacts(sip::Message& response, const std::vector<Binding>& bindings, std::int64_t nowUnix,
                            const GruuCodec* gruus) {
  thread_local std::string value;  // addHeader copies it; the buffer is reused from call to call
  for (const Binding& b : bindings) {
    value.clear();
    value += '<';
    value += b.contact;
    value += ">;expires=";
    std::int64_t remaining =
        std::clamp<std::int64_t>(b.expiresAt - nowUnix, 0, std::numeric_limits<std::uint32_t>::max());
    appendNumber(value, static_cast<std::uint64_t>(remaining));
    if (b.q >= 0) {
      value += ";q=";
      appendQ(value, b.q);
    }
    // RFC 5626 §4.2.1: the UA finds its flow's binding in the 200 OK by instance and reg-id.
    if (!b.instance.empty()) {
      value += ";+sip.instance=\"";
      value += b.instance;
      value += '"';
    }
    if (b.regId != 0) {
      value += ";reg-id=";
      appendNumber(value, b.regId);
    }
    if (gruus != nullptr && !b.instance.empty()) {
      value += ";pub-gruu=\"";
      value += GruuCodec::publicGruu(b.aor, b.instance);
      value += "\";temp-gruu=\"";
      value += gruus->temporaryGruu(b.aor, b.instance);
      value += '"';
    }
    response.addHeader("Contact", value);
  }
}

std::string Registrar::canonicalAor(const sip::Uri& uri) {
  if (!uri.isSip() || uri.user.empty()) return {};
  std::string aor = uri.userUnescaped();
  aor.reserve(aor.size() + 1 + uri.host.size());
  aor += '@';
  for (char c : uri.host) aor += sip::chars::toLower(c);
  return aor;
}

}  // namespace sipwarden::registrar
