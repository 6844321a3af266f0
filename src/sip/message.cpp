#include "sip/message.hpp"

#include <charconv>
#include <cstring>
#include <functional>
#include <utility>

namespace sipwarden::sip {
namespace {

std::string_view formatNumber(Arena& arena, std::uint64_t n) {
  char buf[24];
  auto [end, ec] = std::to_chars(buf, buf + sizeof buf, n);
  (void)ec;
  return arena.store(std::string_view(buf, static_cast<std::size_t>(end - buf)));
}

// Removes the first element of a list header value at `index`; erases the header when it was the
// only one. Returns false when `index` is npos.
template <typename Headers>
bool popFirstListElement(Headers& headers, std::size_t index) {
  if (index == static_cast<std::size_t>(-1)) return false;
  ListSplitter split(headers[index].value);
  std::string_view element;
  bool unbalanced = false;
  split.next(element, unbalanced);
  std::string_view rest = trimLws(split.rest());
  if (rest.empty()) {
    headers.erase(index);
  } else {
    headers[index].value = rest;
  }
  return true;
}

// Moves every view into `from` to the same offset in `to`, a byte-identical copy of it: a typed
// value parsed from a header value then describes the copy, without parsing it again. Views
// elsewhere (static text) are left as they are. Each struct's views are listed here; the size
// checks make a new member a compile error until it is added.
class Rebase {
 public:
  Rebase(std::string_view from, const char* to) : from_(from), to_(to) {}

  void operator()(std::string_view& v) const {
    const std::less_equal<const char*> le;
    if (v.data() != nullptr && le(from_.data(), v.data()) && le(v.data() + v.size(), from_.data() + from_.size())) {
      v = std::string_view(to_ + (v.data() - from_.data()), v.size());
    }
  }
  void operator()(std::optional<std::string_view>& v) const {
    if (v) (*this)(*v);
  }
  void operator()(ParamList& p) const {
    std::string_view text = p.text();
    (*this)(text);
    p = ParamList(text, p.syntax());
  }
  void operator()(Uri& u) const {
    static_assert(sizeof(Uri) == 152, "a member of Uri was added or removed: rebase its views here");
    for (std::string_view* v : {&u.raw, &u.schemeText, &u.user, &u.password, &u.host, &u.headers, &u.opaque})
      (*this)(*v);
    (*this)(u.params);
  }
  void operator()(NameAddr& a) const {
    static_assert(sizeof(NameAddr) == 216, "a member of NameAddr was added or removed: rebase its views here");
    (*this)(a.raw);
    (*this)(a.displayName);
    (*this)(a.uri);
    (*this)(a.params);
  }
  void operator()(Via& v) const {
    static_assert(sizeof(Via) == 216, "a member of Via was added or removed: rebase its views here");
    for (std::string_view* f : {&v.raw, &v.protocolName, &v.protocolVersion, &v.transport, &v.host}) (*this)(*f);
    (*this)(v.params);
    for (std::optional<std::string_view>* f : {&v.branch, &v.received, &v.rport, &v.maddr}) (*this)(*f);
  }
  void operator()(CSeq& c) const {
    static_assert(sizeof(CSeq) == 32, "a member of CSeq was added or removed: rebase its views here");
    (*this)(c.methodText);
  }

 private:
  std::string_view from_;
  const char* to_;
};

}  // namespace

Message Message::request(std::string_view method, std::string_view requestUri) {
  Message m;
  m.isRequest_ = true;
  m.methodText_ = m.store(method);
  m.method_ = methodFromName(method);
  m.setRequestUri(requestUri);
  return m;
}

Message Message::responseTo(const Message& req, int status, std::string_view reason, std::string_view toTag) {
  Message m;
  m.assignResponseTo(req, status, reason, toTag);
  return m;
}

void Message::assignResponseTo(const Message& req, int status, std::string_view reason, std::string_view toTag) {
  clear();
  isRequest_ = false;
  setStatus(status, reason);
  // The tag goes onto the first To as it is copied (setToTag's rules: only when it has none), so
  // that each typed value below is parsed once.
  bool tagTo = !toTag.empty() && req.hasTo_ && !req.to_.tag() && chars::isTokenString(toTag);
  // The request's typed values were parsed from the first header of each name; the copies of
  // those headers take them over, moved onto the copy (Rebase), instead of parsing them again.
  bool firstVia = true, firstFrom = true, firstTo = true, firstCallId = true, firstCSeq = true;
  auto takeOver = [&](HeaderId id, std::string_view value, std::string_view copy) {
    const Rebase rebase(value, copy.data());
    auto take = [&rebase](bool& first, bool present, auto& mine, const auto& theirs, bool* has) {
      if (!std::exchange(first, false) || !present) return;
      mine = theirs;
      rebase(mine);
      if (has != nullptr) *has = true;
    };
    switch (id) {
      case HeaderId::Via: take(firstVia, req.hasVia_, topVia_, req.topVia_, &hasVia_); break;
      case HeaderId::From: take(firstFrom, req.hasFrom_, from_, req.from_, &hasFrom_); break;
      case HeaderId::To: take(firstTo, req.hasTo_, to_, req.to_, &hasTo_); break;
      case HeaderId::CallId: take(firstCallId, !req.callId_.empty(), callId_, req.callId_, nullptr); break;
      case HeaderId::CSeq: take(firstCSeq, req.hasCSeq_, cseq_, req.cseq_, &hasCSeq_); break;
      default: break;
    }
  };
  for (const HeaderField& h : req.headers_) {
    switch (h.id) {
      case HeaderId::Via:
      case HeaderId::From:
      case HeaderId::CallId:
      case HeaderId::CSeq: {
        std::string_view value = trimLws(h.value);
        std::string_view copy = store(value);
        headers_.push_back(HeaderField{h.id, headerName(h.id), copy});
        takeOver(h.id, value, copy);
        break;
      }
      case HeaderId::To: {
        std::string_view value = trimLws(h.value);
        if (tagTo) {
          constexpr std::string_view kTag = ";tag=";
          char* p = arena_.allocate(value.size() + kTag.size() + toTag.size());
          std::memcpy(p, value.data(), value.size());
          std::memcpy(p + value.size(), kTag.data(), kTag.size());
          std::memcpy(p + value.size() + kTag.size(), toTag.data(), toTag.size());
          headers_.push_back(HeaderField{h.id, headerName(h.id), {p, value.size() + kTag.size() + toTag.size()}});
          tagTo = false;
          firstTo = false;
          // The tagged To is new text: parsed (a parameter more than the request's).
          if (parseNameAddr(headers_.back().value, to_) == nullptr) hasTo_ = true;
        } else {
          std::string_view copy = store(value);
          headers_.push_back(HeaderField{h.id, headerName(h.id), copy});
          takeOver(h.id, value, copy);
        }
        break;
      }
      default: break;
    }
  }
}

const HeaderField* Message::find(HeaderId id) const {
  for (const HeaderField& h : headers_) {
    if (h.id == id) return &h;
  }
  return nullptr;
}

std::optional<std::string_view> Message::header(std::string_view name) const {
  if (!chars::isTokenString(name)) return std::nullopt;  // no header has such a name
  HeaderId id = headerIdFromName(name);
  for (const HeaderField& h : headers_) {
    if (id != HeaderId::Unknown ? h.id == id : iequals(h.name, name)) return h.value;
  }
  return std::nullopt;
}

std::size_t Message::count(HeaderId id) const {
  std::size_t n = 0;
  for (const HeaderField& h : headers_) n += h.id == id ? 1 : 0;
  return n;
}

std::size_t Message::firstIndexOf(HeaderId id) const {
  for (std::size_t i = 0; i < headers_.size(); ++i) {
    if (headers_[i].id == id) return i;
  }
  return static_cast<std::size_t>(-1);
}

std::size_t Message::viaCount() const {
  std::size_t n = 0;
  forEachValue(HeaderId::Via, [&](std::string_view) {
    ++n;
    return true;
  });
  return n;
}

std::vector<Via> Message::vias() const {
  std::vector<Via> out;
  forEachValue(HeaderId::Via, [&](std::string_view v) {
    Via via;
    if (parseVia(v, via) == nullptr) out.push_back(via);
    return true;
  });
  return out;
}

std::vector<Contact> Message::contacts() const {
  std::vector<Contact> out;
  forEachValue(HeaderId::Contact, [&](std::string_view v) {
    Contact c;
    if (parseContact(v, c) == nullptr) out.push_back(c);
    return true;
  });
  return out;
}

std::vector<NameAddr> Message::routeSet(HeaderId id) const {
  std::vector<NameAddr> out;
  forEachValue(id, [&](std::string_view v) {
    NameAddr na;
    if (parseNameAddr(v, na, true) == nullptr) out.push_back(na);
    return true;
  });
  return out;
}

Why Message::refreshTyped(HeaderId id) {
  std::size_t i = firstIndexOf(id);
  if (i != static_cast<std::size_t>(-1)) return parseTyped(id, headers_[i].value);
  switch (id) {
    case HeaderId::Via: hasVia_ = false; break;
    case HeaderId::From: hasFrom_ = false; break;
    case HeaderId::To: hasTo_ = false; break;
    case HeaderId::CallId: callId_ = {}; break;
    case HeaderId::CSeq: hasCSeq_ = false; break;
    case HeaderId::MaxForwards: maxForwards_.reset(); break;
    case HeaderId::Expires: expires_.reset(); break;
    case HeaderId::ContentLength: hasContentLength_ = false; break;
    default: break;
  }
  return nullptr;
}

Why Message::parseTyped(HeaderId id, std::string_view value) {
  switch (id) {
    case HeaderId::Via: {
      hasVia_ = false;
      ListSplitter split(value);
      std::string_view first;
      bool unbalanced = false;
      if (!split.next(first, unbalanced)) return "empty Via";
      if (Why w = parseVia(first, topVia_)) return w;
      hasVia_ = true;
      return nullptr;
    }
    case HeaderId::From:
      hasFrom_ = false;
      if (Why w = parseNameAddr(value, from_)) return w;
      hasFrom_ = true;
      return nullptr;
    case HeaderId::To:
      hasTo_ = false;
      if (Why w = parseNameAddr(value, to_)) return w;
      hasTo_ = true;
      return nullptr;
    case HeaderId::CallId:
      callId_ = {};
      if (Why w = parseCallId(value)) return w;
      callId_ = value;
      return nullptr;
    case HeaderId::CSeq:
      hasCSeq_ = false;
      if (Why w = parseCSeq(value, cseq_)) return w;
      hasCSeq_ = true;
      return nullptr;
    case HeaderId::MaxForwards: {
      maxForwards_.reset();
      std::uint64_t n = 0;
      if (Why w = parseNumber(value, 255, n)) return w;
      maxForwards_ = static_cast<std::uint32_t>(n);
      return nullptr;
    }
    case HeaderId::Expires: {
      expires_.reset();
      std::uint32_t n = 0;
      if (Why w = parseDeltaSeconds(value, n)) return w;
      expires_ = n;
      return nullptr;
    }
    case HeaderId::ContentLength: {
      hasContentLength_ = false;
      std::uint64_t n = 0;
      if (Why w = parseNumber(value, 0xffffffffULL, n)) return w;
      contentLength_ = static_cast<std::size_t>(n);
      hasContentLength_ = true;
      return nullptr;
    }
    default: return nullptr;
  }
}

Why Message::pushVia(std::string_view value) {
  // Parsed once, from the stored copy: the new Via is the top one, so its parse is the typed value.
  // (A value that fails leaves its bytes unused in the arena.)
  std::string_view stored = store(value);
  Via parsed;
  if (Why w = parseVia(stored, parsed)) return w;
  std::size_t i = firstIndexOf(HeaderId::Via);
  headers_.insert(i == static_cast<std::size_t>(-1) ? 0 : i, HeaderField{HeaderId::Via, "Via", stored});
  topVia_ = parsed;
  hasVia_ = true;
  return nullptr;
}

bool Message::popVia() {
  if (!popFirstListElement(headers_, firstIndexOf(HeaderId::Via))) return false;
  refreshTyped(HeaderId::Via);
  return true;
}

Why Message::addRecordRoute(std::string_view value) {
  NameAddr check;
  if (Why w = parseNameAddr(value, check, true)) return w;
  std::size_t i = firstIndexOf(HeaderId::RecordRoute);
  if (i == static_cast<std::size_t>(-1)) {
    // No Record-Route yet: place it after the Via block, where readers expect routing headers.
    i = 0;
    for (std::size_t k = 0; k < headers_.size(); ++k) {
      if (headers_[k].id == HeaderId::Via) i = k + 1;
    }
  }
  headers_.insert(i, HeaderField{HeaderId::RecordRoute, "Record-Route", store(value)});
  return nullptr;
}

bool Message::popRoute() { return popFirstListElement(headers_, firstIndexOf(HeaderId::Route)); }

std::uint32_t Message::decrementMaxForwards() {
  std::uint32_t next = 70;
  if (maxForwards_) next = *maxForwards_ == 0 ? 0 : *maxForwards_ - 1;
  setHeader(HeaderId::MaxForwards, formatNumber(arena_, next));
  return next;
}

Why Message::setToTag(std::string_view tag) {
  std::size_t i = firstIndexOf(HeaderId::To);
  if (i == static_cast<std::size_t>(-1)) return "no To header";
  if (to_.tag()) return "To already has a tag";
  if (!chars::isTokenString(tag)) return "tag is not a token";
  std::string_view old = headers_[i].value;
  constexpr std::string_view kTag = ";tag=";
  char* p = arena_.allocate(old.size() + kTag.size() + tag.size());
  std::memcpy(p, old.data(), old.size());
  std::memcpy(p + old.size(), kTag.data(), kTag.size());
  std::memcpy(p + old.size() + kTag.size(), tag.data(), tag.size());
  headers_[i].value = std::string_view(p, old.size() + kTag.size() + tag.size());
  return refreshTyped(HeaderId::To);
}

void Message::setBody(std::string_view body, std::string_view contentType) {
  body_ = store(body);
  setHeader(HeaderId::ContentLength, formatNumber(arena_, body.size()));
  if (!contentType.empty()) setHeader(HeaderId::ContentType, contentType);
}

void Message::setRequestUri(std::string_view uri) {
  requestUriText_ = store(uri);
  parseUri(requestUriText_, requestUri_);
}

void Message::setStatus(int status, std::string_view reason) {
  status_ = status;
  reason_ = store(reason.empty() ? reasonPhrase(status) : reason);
}

Why Message::addHeader(std::string_view name, std::string_view value) {
  HeaderId id = headerIdFromName(name);
  std::string_view stored = store(trimLws(value));
  // A known header written with its usual name needs no copy of the name: headerName's is static.
  std::string_view canonical = id != HeaderId::Unknown ? headerName(id) : std::string_view();
  headers_.push_back(HeaderField{id, !canonical.empty() && canonical == name ? canonical : store(name), stored});
  return refreshTyped(id);
}

Why Message::setHeader(HeaderId id, std::string_view value) {
  std::size_t at = firstIndexOf(id);
  removeHeader(id);
  HeaderField h{id, headerName(id), store(trimLws(value))};
  if (at == static_cast<std::size_t>(-1)) {
    headers_.push_back(h);
  } else {
    headers_.insert(at, h);
  }
  return refreshTyped(id);
}

std::size_t Message::removeHeader(HeaderId id) {
  std::size_t removed = 0;
  for (std::size_t i = headers_.size(); i-- > 0;) {
    if (headers_[i].id == id) {
      headers_.erase(i);
      ++removed;
    }
  }
  if (removed != 0) refreshTyped(id);
  return removed;
}

std::string_view Message::adoptCopy(std::string_view bytes) {
  owned_ = std::make_unique<char[]>(bytes.size() + 1);
  std::memcpy(owned_.get(), bytes.data(), bytes.size());
  return {owned_.get(), bytes.size()};
}

void Message::ownText() {
  static_assert(sizeof(Message) == 2360, "a member of Message was added or removed: rebase its views here");
  const std::string_view text = parsedFrom_;
  if (text.empty()) return;  // built rather than parsed: its text is in the arena
  auto copy = std::make_unique<char[]>(text.size() + 1);
  std::memcpy(copy.get(), text.data(), text.size());
  const Rebase rebase(text, copy.get());
  for (std::string_view* v : {&methodText_, &requestUriText_, &reason_, &version_, &body_, &callId_}) rebase(*v);
  rebase(requestUri_);
  for (HeaderField& h : headers_) {
    rebase(h.name);
    rebase(h.value);
  }
  rebase(topVia_);
  rebase(from_);
  rebase(to_);
  rebase(cseq_);
  parsedFrom_ = std::string_view(copy.get(), text.size());
  owned_ = std::move(copy);  // frees an earlier copy (adoptCopy), whose views were all in `text`
}

void Message::viewOf(const Message& base) {
  clear();
  owned_.reset();
  // Every member but the storage (owned_, arena_): keep in step with the members in message.hpp.
  isRequest_ = base.isRequest_;
  method_ = base.method_;
  methodText_ = base.methodText_;
  requestUriText_ = base.requestUriText_;
  requestUri_ = base.requestUri_;
  status_ = base.status_;
  reason_ = base.reason_;
  version_ = base.version_;
  headers_ = base.headers_;
  body_ = base.body_;
  hasVia_ = base.hasVia_;
  hasFrom_ = base.hasFrom_;
  hasTo_ = base.hasTo_;
  hasCSeq_ = base.hasCSeq_;
  hasContentLength_ = base.hasContentLength_;
  topVia_ = base.topVia_;
  from_ = base.from_;
  to_ = base.to_;
  callId_ = base.callId_;
  cseq_ = base.cseq_;
  maxForwards_ = base.maxForwards_;
  expires_ = base.expires_;
  contentLength_ = base.contentLength_;
  parsedFrom_ = base.parsedFrom_;
}

void Message::clear() {
  isRequest_ = true;
  method_ = Method::Extension;
  methodText_ = requestUriText_ = reason_ = {};
  requestUri_ = Uri{};
  status_ = 0;
  version_ = "SIP/2.0";
  headers_.clear();
  body_ = {};
  hasVia_ = hasFrom_ = hasTo_ = hasCSeq_ = hasContentLength_ = false;
  callId_ = {};
  maxForwards_.reset();
  expires_.reset();
  contentLength_ = 0;
  parsedFrom_ = {};
  arena_.clear();
}

}  // namespace sipwarden::sip
