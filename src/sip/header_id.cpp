#include "sip/header_id.hpp"

#include <cstdint>
#include <cstring>

#include "sip/chars.hpp"
#include "sip/text.hpp"

namespace sipwarden::sip {
namespace {

template <typename T>
inline T loadWord(const char* p) {
  T v;
  std::memcpy(&v, p, sizeof v);
  return v;
}

// Compares `n` bytes (n >= sizeof(T)) a word at a time, the last word overlapping the one before.
template <typename T>
inline bool equalsLowerWords(const char* name, const char* lower, std::size_t n) {
  const auto k = static_cast<T>(0x2020202020202020ULL);
  for (std::size_t i = 0; i + sizeof(T) < n; i += sizeof(T)) {
    if (static_cast<T>(loadWord<T>(name + i) | k) != loadWord<T>(lower + i)) return false;
  }
  return static_cast<T>(loadWord<T>(name + n - sizeof(T)) | k) == loadWord<T>(lower + n - sizeof(T));
}

// `name` (token characters only, as long as the literal) equals the lower-case literal, ignoring
// case. For token characters, c | 0x20 lowers letters and maps no other token character onto a
// character of a header name, so whole words are compared at once.
inline bool equalsLower(std::string_view name, std::string_view lower) {
  const std::size_t n = lower.size();
  if (n >= 8) return equalsLowerWords<std::uint64_t>(name.data(), lower.data(), n);
  if (n >= 4) return equalsLowerWords<std::uint32_t>(name.data(), lower.data(), n);
  if (n >= 2) return equalsLowerWords<std::uint16_t>(name.data(), lower.data(), n);
  return n == 0 || (name[0] | 0x20) == lower[0];
}

}  // namespace

HeaderId headerIdFromName(std::string_view name) {
  switch (name.size()) {
    case 1:
      switch (chars::toLower(name[0])) {
        case 'a': return HeaderId::AcceptContact;
        case 'b': return HeaderId::ReferredBy;
        case 'c': return HeaderId::ContentType;
        case 'd': return HeaderId::RequestDisposition;
        case 'e': return HeaderId::ContentEncoding;
        case 'f': return HeaderId::From;
        case 'i': return HeaderId::CallId;
        case 'j': return HeaderId::RejectContact;
        case 'k': return HeaderId::Supported;
        case 'l': return HeaderId::ContentLength;
        case 'm': return HeaderId::Contact;
        case 'o': return HeaderId::Event;
        case 'r': return HeaderId::ReferTo;
        case 's': return HeaderId::Subject;
        case 't': return HeaderId::To;
        case 'u': return HeaderId::AllowEvents;
        case 'v': return HeaderId::Via;
        case 'x': return HeaderId::SessionExpires;
        case 'y': return HeaderId::Identity;
        default: return HeaderId::Unknown;
      }
    case 2:
      switch (chars::toLower(name[0])) {
        case 't':
          if (equalsLower(name, "to")) return HeaderId::To;
          return HeaderId::Unknown;
        default: return HeaderId::Unknown;
      }
    case 3:
      switch (chars::toLower(name[0])) {
        case 'v':
          if (equalsLower(name, "via")) return HeaderId::Via;
          return HeaderId::Unknown;
        default: return HeaderId::Unknown;
      }
    case 4:
      switch (chars::toLower(name[0])) {
        case 'c':
          if (equalsLower(name, "cseq")) return HeaderId::CSeq;
          return HeaderId::Unknown;
        case 'd':
          if (equalsLower(name, "date")) return HeaderId::Date;
          return HeaderId::Unknown;
        case 'f':
          if (equalsLower(name, "from")) return HeaderId::From;
          return HeaderId::Unknown;
        case 'p':
          if (equalsLower(name, "path")) return HeaderId::Path;
          return HeaderId::Unknown;
        case 'r':
          if (equalsLower(name, "rack")) return HeaderId::RAck;
          if (equalsLower(name, "rseq")) return HeaderId::RSeq;
          return HeaderId::Unknown;
        default: return HeaderId::Unknown;
      }
    case 5:
      switch (chars::toLower(name[0])) {
        case 'a':
          if (equalsLower(name, "allow")) return HeaderId::Allow;
          return HeaderId::Unknown;
        case 'e':
          if (equalsLower(name, "event")) return HeaderId::Event;
          return HeaderId::Unknown;
        case 'r':
          if (equalsLower(name, "route")) return HeaderId::Route;
          return HeaderId::Unknown;
        default: return HeaderId::Unknown;
      }
    case 6:
      switch (chars::toLower(name[0])) {
        case 'a':
          if (equalsLower(name, "accept")) return HeaderId::Accept;
          return HeaderId::Unknown;
        case 'm':
          if (equalsLower(name, "min-se")) return HeaderId::MinSE;
          return HeaderId::Unknown;
        case 'r':
          if (equalsLower(name, "reason")) return HeaderId::Reason;
          return HeaderId::Unknown;
        case 's':
          if (equalsLower(name, "server")) return HeaderId::Server;
          return HeaderId::Unknown;
        default: return HeaderId::Unknown;
      }
    case 7:
      switch (chars::toLower(name[0])) {
        case 'c':
          if (equalsLower(name, "call-id")) return HeaderId::CallId;
          if (equalsLower(name, "contact")) return HeaderId::Contact;
          return HeaderId::Unknown;
        case 'e':
          if (equalsLower(name, "expires")) return HeaderId::Expires;
          return HeaderId::Unknown;
        case 'r':
          if (equalsLower(name, "require")) return HeaderId::Require;
          return HeaderId::Unknown;
        case 's':
          if (equalsLower(name, "subject")) return HeaderId::Subject;
          return HeaderId::Unknown;
        case 'w':
          if (equalsLower(name, "warning")) return HeaderId::Warning;
          return HeaderId::Unknown;
        default: return HeaderId::Unknown;
      }
    case 8:
      switch (chars::toLower(name[0])) {
        case 'i':
          if (equalsLower(name, "identity")) return HeaderId::Identity;
          return HeaderId::Unknown;
        case 'p':
          if (equalsLower(name, "priority")) return HeaderId::Priority;
          return HeaderId::Unknown;
        case 'r':
          if (equalsLower(name, "refer-to")) return HeaderId::ReferTo;
          if (equalsLower(name, "replaces")) return HeaderId::Replaces;
          if (equalsLower(name, "reply-to")) return HeaderId::ReplyTo;
          return HeaderId::Unknown;
        case 's':
          if (equalsLower(name, "sip-etag")) return HeaderId::SipETag;
          return HeaderId::Unknown;
        default: return HeaderId::Unknown;
      }
    case 9:
      switch (chars::toLower(name[0])) {
        case 'c':
          if (equalsLower(name, "call-info")) return HeaderId::CallInfo;
          return HeaderId::Unknown;
        case 's':
          if (equalsLower(name, "supported")) return HeaderId::Supported;
          return HeaderId::Unknown;
        case 't':
          if (equalsLower(name, "timestamp")) return HeaderId::Timestamp;
          return HeaderId::Unknown;
        default: return HeaderId::Unknown;
      }
    case 10:
      switch (chars::toLower(name[0])) {
        case 'a':
          if (equalsLower(name, "alert-info")) return HeaderId::AlertInfo;
          return HeaderId::Unknown;
        case 'e':
          if (equalsLower(name, "error-info")) return HeaderId::ErrorInfo;
          return HeaderId::Unknown;
        case 'u':
          if (equalsLower(name, "user-agent")) return HeaderId::UserAgent;
          return HeaderId::Unknown;
        default: return HeaderId::Unknown;
      }
    case 11:
      switch (chars::toLower(name[0])) {
        case 'i':
          if (equalsLower(name, "in-reply-to")) return HeaderId::InReplyTo;
          return HeaderId::Unknown;
        case 'm':
          if (equalsLower(name, "min-expires")) return HeaderId::MinExpires;
          return HeaderId::Unknown;
        case 'r':
          if (equalsLower(name, "referred-by")) return HeaderId::ReferredBy;
          if (equalsLower(name, "retry-after")) return HeaderId::RetryAfter;
          return HeaderId::Unknown;
        case 'u':
          if (equalsLower(name, "unsupported")) return HeaderId::Unsupported;
          return HeaderId::Unknown;
        default: return HeaderId::Unknown;
      }
    case 12:
      switch (chars::toLower(name[0])) {
        case 'a':
          if (equalsLower(name, "allow-events")) return HeaderId::AllowEvents;
          return HeaderId::Unknown;
        case 'c':
          if (equalsLower(name, "content-type")) return HeaderId::ContentType;
          return HeaderId::Unknown;
        case 'm':
          if (equalsLower(name, "max-forwards")) return HeaderId::MaxForwards;
          if (equalsLower(name, "mime-version")) return HeaderId::MimeVersion;
          return HeaderId::Unknown;
        case 'o':
          if (equalsLower(name, "organization")) return HeaderId::Organization;
          return HeaderId::Unknown;
        case 'r':
          if (equalsLower(name, "record-route")) return HeaderId::RecordRoute;
          return HeaderId::Unknown;
        case 's':
          if (equalsLower(name, "sip-if-match")) return HeaderId::SipIfMatch;
          return HeaderId::Unknown;
        default: return HeaderId::Unknown;
      }
    case 13:
      switch (chars::toLower(name[0])) {
        case 'a':
          if (equalsLower(name, "authorization")) return HeaderId::Authorization;
          return HeaderId::Unknown;
        case 'p':
          if (equalsLower(name, "proxy-require")) return HeaderId::ProxyRequire;
          return HeaderId::Unknown;
        case 's':
          if (equalsLower(name, "service-route")) return HeaderId::ServiceRoute;
          return HeaderId::Unknown;
        default: return HeaderId::Unknown;
      }
    case 14:
      switch (chars::toLower(name[0])) {
        case 'a':
          if (equalsLower(name, "accept-contact")) return HeaderId::AcceptContact;
          return HeaderId::Unknown;
        case 'c':
          if (equalsLower(name, "content-length")) return HeaderId::ContentLength;
          return HeaderId::Unknown;
        case 'r':
          if (equalsLower(name, "reject-contact")) return HeaderId::RejectContact;
          return HeaderId::Unknown;
        default: return HeaderId::Unknown;
      }
    case 15:
      switch (chars::toLower(name[0])) {
        case 'a':
          if (equalsLower(name, "accept-encoding")) return HeaderId::AcceptEncoding;
          if (equalsLower(name, "accept-language")) return HeaderId::AcceptLanguage;
          return HeaderId::Unknown;
        case 's':
          if (equalsLower(name, "session-expires")) return HeaderId::SessionExpires;
          return HeaderId::Unknown;
        default: return HeaderId::Unknown;
      }
    case 16:
      switch (chars::toLower(name[0])) {
        case 'c':
          if (equalsLower(name, "content-encoding")) return HeaderId::ContentEncoding;
          if (equalsLower(name, "content-language")) return HeaderId::ContentLanguage;
          return HeaderId::Unknown;
        case 'w':
          if (equalsLower(name, "www-authenticate")) return HeaderId::WwwAuthenticate;
          return HeaderId::Unknown;
        default: return HeaderId::Unknown;
      }
    case 18:
      switch (chars::toLower(name[0])) {
        case 'p':
          if (equalsLower(name, "proxy-authenticate")) return HeaderId::ProxyAuthenticate;
          return HeaderId::Unknown;
        case 's':
          if (equalsLower(name, "subscription-state")) return HeaderId::SubscriptionState;
          return HeaderId::Unknown;
        default: return HeaderId::Unknown;
      }
    case 19:
      switch (chars::toLower(name[0])) {
        case 'a':
          if (equalsLower(name, "authentication-info")) return HeaderId::AuthenticationInfo;
          return HeaderId::Unknown;
        case 'c':
          if (equalsLower(name, "content-disposition")) return HeaderId::ContentDisposition;
          return HeaderId::Unknown;
        case 'p':
          if (equalsLower(name, "proxy-authorization")) return HeaderId::ProxyAuthorization;
          return HeaderId::Unknown;
        case 'r':
          if (equalsLower(name, "request-disposition")) return HeaderId::RequestDisposition;
          return HeaderId::Unknown;
        default: return HeaderId::Unknown;
      }
    default: return HeaderId::Unknown;
  }
}

std::string_view headerName(HeaderId id) {
  switch (id) {
    case HeaderId::Accept: return "Accept";
    case HeaderId::AcceptContact: return "Accept-Contact";
    case HeaderId::AcceptEncoding: return "Accept-Encoding";
    case HeaderId::AcceptLanguage: return "Accept-Language";
    case HeaderId::AlertInfo: return "Alert-Info";
    case HeaderId::Allow: return "Allow";
    case HeaderId::AllowEvents: return "Allow-Events";
    case HeaderId::AuthenticationInfo: return "Authentication-Info";
    case HeaderId::Authorization: return "Authorization";
    case HeaderId::CallId: return "Call-ID";
    case HeaderId::CallInfo: return "Call-Info";
    case HeaderId::Contact: return "Contact";
    case HeaderId::ContentDisposition: return "Content-Disposition";
    case HeaderId::ContentEncoding: return "Content-Encoding";
    case HeaderId::ContentLanguage: return "Content-Language";
    case HeaderId::ContentLength: return "Content-Length";
    case HeaderId::ContentType: return "Content-Type";
    case HeaderId::CSeq: return "CSeq";
    case HeaderId::Date: return "Date";
    case HeaderId::ErrorInfo: return "Error-Info";
    case HeaderId::Event: return "Event";
    case HeaderId::Expires: return "Expires";
    case HeaderId::From: return "From";
    case HeaderId::Identity: return "Identity";
    case HeaderId::InReplyTo: return "In-Reply-To";
    case HeaderId::MaxForwards: return "Max-Forwards";
    case HeaderId::MimeVersion: return "MIME-Version";
    case HeaderId::MinExpires: return "Min-Expires";
    case HeaderId::MinSE: return "Min-SE";
    case HeaderId::Organization: return "Organization";
    case HeaderId::Path: return "Path";
    case HeaderId::Priority: return "Priority";
    case HeaderId::ProxyAuthenticate: return "Proxy-Authenticate";
    case HeaderId::ProxyAuthorization: return "Proxy-Authorization";
    case HeaderId::ProxyRequire: return "Proxy-Require";
    case HeaderId::RAck: return "RAck";
    case HeaderId::RSeq: return "RSeq";
    case HeaderId::Reason: return "Reason";
    case HeaderId::RecordRoute: return "Record-Route";
    case HeaderId::ReferTo: return "Refer-To";
    case HeaderId::ReferredBy: return "Referred-By";
    case HeaderId::RejectContact: return "Reject-Contact";
    case HeaderId::Replaces: return "Replaces";
    case HeaderId::ReplyTo: return "Reply-To";
    case HeaderId::RequestDisposition: return "Request-Disposition";
    case HeaderId::Require: return "Require";
    case HeaderId::RetryAfter: return "Retry-After";
    case HeaderId::Route: return "Route";
    case HeaderId::Server: return "Server";
    case HeaderId::ServiceRoute: return "Service-Route";
    case HeaderId::SessionExpires: return "Session-Expires";
    case HeaderId::SipETag: return "SIP-ETag";
    case HeaderId::SipIfMatch: return "SIP-If-Match";
    case HeaderId::Subject: return "Subject";
    case HeaderId::SubscriptionState: return "Subscription-State";
    case HeaderId::Supported: return "Supported";
    case HeaderId::Timestamp: return "Timestamp";
    case HeaderId::To: return "To";
    case HeaderId::Unsupported: return "Unsupported";
    case HeaderId::UserAgent: return "User-Agent";
    case HeaderId::Via: return "Via";
    case HeaderId::Warning: return "Warning";
    case HeaderId::WwwAuthenticate: return "WWW-Authenticate";
    case HeaderId::Unknown:
    case HeaderId::Count_: break;
  }
  return "";
}

char compactForm(HeaderId id) {
  switch (id) {
    case HeaderId::AcceptContact: return 'a';
    case HeaderId::AllowEvents: return 'u';
    case HeaderId::CallId: return 'i';
    case HeaderId::Contact: return 'm';
    case HeaderId::ContentEncoding: return 'e';
    case HeaderId::ContentLength: return 'l';
    case HeaderId::ContentType: return 'c';
    case HeaderId::Event: return 'o';
    case HeaderId::From: return 'f';
    case HeaderId::Identity: return 'y';
    case HeaderId::ReferTo: return 'r';
    case HeaderId::ReferredBy: return 'b';
    case HeaderId::RejectContact: return 'j';
    case HeaderId::RequestDisposition: return 'd';
    case HeaderId::SessionExpires: return 'x';
    case HeaderId::Subject: return 's';
    case HeaderId::Supported: return 'k';
    case HeaderId::To: return 't';
    case HeaderId::Via: return 'v';
    default: return '\0';
  }
}

bool isListHeader(HeaderId id) {
  switch (id) {
    case HeaderId::Accept:
    case HeaderId::AcceptContact:
    case HeaderId::AcceptEncoding:
    case HeaderId::AcceptLanguage:
    case HeaderId::AlertInfo:
    case HeaderId::Allow:
    case HeaderId::AllowEvents:
    case HeaderId::CallInfo:
    case HeaderId::Contact:
    case HeaderId::ContentEncoding:
    case HeaderId::ContentLanguage:
    case HeaderId::ErrorInfo:
    case HeaderId::InReplyTo:
    case HeaderId::Path:
    case HeaderId::ProxyRequire:
    case HeaderId::Reason:
    case HeaderId::RecordRoute:
    case HeaderId::RejectContact:
    case HeaderId::RequestDisposition:
    case HeaderId::Require:
    case HeaderId::Route:
    case HeaderId::ServiceRoute:
    case HeaderId::Supported:
    case HeaderId::Unsupported:
    case HeaderId::Via:
    case HeaderId::Warning: return true;
    default: return false;
  }
}

}  // namespace sipwarden::sip
