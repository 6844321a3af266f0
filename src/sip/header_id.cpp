#include "sip/header_id.hpp"

#include "sip/chars.hpp"
#include "sip/text.hpp"

namespace sipwarden::sip {

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
          if (iequals(name, "To")) return HeaderId::To;
          return HeaderId::Unknown;
        default: return HeaderId::Unknown;
      }
    case 3:
      switch (chars::toLower(name[0])) {
        case 'v':
          if (iequals(name, "Via")) return HeaderId::Via;
          return HeaderId::Unknown;
        default: return HeaderId::Unknown;
      }
    case 4:
      switch (chars::toLower(name[0])) {
        case 'c':
          if (iequals(name, "CSeq")) return HeaderId::CSeq;
          return HeaderId::Unknown;
        case 'd':
          if (iequals(name, "Date")) return HeaderId::Date;
          return HeaderId::Unknown;
        case 'f':
          if (iequals(name, "From")) return HeaderId::From;
          return HeaderId::Unknown;
        case 'p':
          if (iequals(name, "Path")) return HeaderId::Path;
          return HeaderId::Unknown;
        case 'r':
          if (iequals(name, "RAck")) return HeaderId::RAck;
          if (iequals(name, "RSeq")) return HeaderId::RSeq;
          return HeaderId::Unknown;
        default: return HeaderId::Unknown;
      }
    case 5:
      switch (chars::toLower(name[0])) {
        case 'a':
          if (iequals(name, "Allow")) return HeaderId::Allow;
          return HeaderId::Unknown;
        case 'e':
          if (iequals(name, "Event")) return HeaderId::Event;
          return HeaderId::Unknown;
        case 'r':
          if (iequals(name, "Route")) return HeaderId::Route;
          return HeaderId::Unknown;
        default: return HeaderId::Unknown;
      }
    case 6:
      switch (chars::toLower(name[0])) {
        case 'a':
          if (iequals(name, "Accept")) return HeaderId::Accept;
          return HeaderId::Unknown;
        case 'm':
          if (iequals(name, "Min-SE")) return HeaderId::MinSE;
          return HeaderId::Unknown;
        case 'r':
          if (iequals(name, "Reason")) return HeaderId::Reason;
          return HeaderId::Unknown;
        case 's':
          if (iequals(name, "Server")) return HeaderId::Server;
          return HeaderId::Unknown;
        default: return HeaderId::Unknown;
      }
    case 7:
      switch (chars::toLower(name[0])) {
        case 'c':
          if (iequals(name, "Call-ID")) return HeaderId::CallId;
          if (iequals(name, "Contact")) return HeaderId::Contact;
          return HeaderId::Unknown;
        case 'e':
          if (iequals(name, "Expires")) return HeaderId::Expires;
          return HeaderId::Unknown;
        case 'r':
          if (iequals(name, "Require")) return HeaderId::Require;
          return HeaderId::Unknown;
        case 's':
          if (iequals(name, "Subject")) return HeaderId::Subject;
          return HeaderId::Unknown;
        case 'w':
          if (iequals(name, "Warning")) return HeaderId::Warning;
          return HeaderId::Unknown;
        default: return HeaderId::Unknown;
      }
    case 8:
      switch (chars::toLower(name[0])) {
        case 'i':
          if (iequals(name, "Identity")) return HeaderId::Identity;
          return HeaderId::Unknown;
        case 'p':
          if (iequals(name, "Priority")) return HeaderId::Priority;
          return HeaderId::Unknown;
        case 'r':
          if (iequals(name, "Refer-To")) return HeaderId::ReferTo;
          if (iequals(name, "Replaces")) return HeaderId::Replaces;
          if (iequals(name, "Reply-To")) return HeaderId::ReplyTo;
          return HeaderId::Unknown;
        case 's':
          if (iequals(name, "SIP-ETag")) return HeaderId::SipETag;
          return HeaderId::Unknown;
        default: return HeaderId::Unknown;
      }
    case 9:
      switch (chars::toLower(name[0])) {
        case 'c':
          if (iequals(name, "Call-Info")) return HeaderId::CallInfo;
          return HeaderId::Unknown;
        case 's':
          if (iequals(name, "Supported")) return HeaderId::Supported;
          return HeaderId::Unknown;
        case 't':
          if (iequals(name, "Timestamp")) return HeaderId::Timestamp;
          return HeaderId::Unknown;
        default: return HeaderId::Unknown;
      }
    case 10:
      switch (chars::toLower(name[0])) {
        case 'a':
          if (iequals(name, "Alert-Info")) return HeaderId::AlertInfo;
          return HeaderId::Unknown;
        case 'e':
          if (iequals(name, "Error-Info")) return HeaderId::ErrorInfo;
          return HeaderId::Unknown;
        case 'u':
          if (iequals(name, "User-Agent")) return HeaderId::UserAgent;
          return HeaderId::Unknown;
        default: return HeaderId::Unknown;
      }
    case 11:
      switch (chars::toLower(name[0])) {
        case 'i':
          if (iequals(name, "In-Reply-To")) return HeaderId::InReplyTo;
          return HeaderId::Unknown;
        case 'm':
          if (iequals(name, "Min-Expires")) return HeaderId::MinExpires;
          return HeaderId::Unknown;
        case 'r':
          if (iequals(name, "Referred-By")) return HeaderId::ReferredBy;
          if (iequals(name, "Retry-After")) return HeaderId::RetryAfter;
          return HeaderId::Unknown;
        case 'u':
          if (iequals(name, "Unsupported")) return HeaderId::Unsupported;
          return HeaderId::Unknown;
        default: return HeaderId::Unknown;
      }
    case 12:
      switch (chars::toLower(name[0])) {
        case 'a':
          if (iequals(name, "Allow-Events")) return HeaderId::AllowEvents;
          return HeaderId::Unknown;
        case 'c':
          if (iequals(name, "Content-Type")) return HeaderId::ContentType;
          return HeaderId::Unknown;
        case 'm':
          if (iequals(name, "Max-Forwards")) return HeaderId::MaxForwards;
          if (iequals(name, "MIME-Version")) return HeaderId::MimeVersion;
          return HeaderId::Unknown;
        case 'o':
          if (iequals(name, "Organization")) return HeaderId::Organization;
          return HeaderId::Unknown;
        case 'r':
          if (iequals(name, "Record-Route")) return HeaderId::RecordRoute;
          return HeaderId::Unknown;
        case 's':
          if (iequals(name, "SIP-If-Match")) return HeaderId::SipIfMatch;
          return HeaderId::Unknown;
        default: return HeaderId::Unknown;
      }
    case 13:
      switch (chars::toLower(name[0])) {
        case 'a':
          if (iequals(name, "Authorization")) return HeaderId::Authorization;
          return HeaderId::Unknown;
        case 'p':
          if (iequals(name, "Proxy-Require")) return HeaderId::ProxyRequire;
          return HeaderId::Unknown;
        case 's':
          if (iequals(name, "Service-Route")) return HeaderId::ServiceRoute;
          return HeaderId::Unknown;
        default: return HeaderId::Unknown;
      }
    case 14:
      switch (chars::toLower(name[0])) {
        case 'a':
          if (iequals(name, "Accept-Contact")) return HeaderId::AcceptContact;
          return HeaderId::Unknown;
        case 'c':
          if (iequals(name, "Content-Length")) return HeaderId::ContentLength;
          return HeaderId::Unknown;
        case 'r':
          if (iequals(name, "Reject-Contact")) return HeaderId::RejectContact;
          return HeaderId::Unknown;
        default: return HeaderId::Unknown;
      }
    case 15:
      switch (chars::toLower(name[0])) {
        case 'a':
          if (iequals(name, "Accept-Encoding")) return HeaderId::AcceptEncoding;
          if (iequals(name, "Accept-Language")) return HeaderId::AcceptLanguage;
          return HeaderId::Unknown;
        case 's':
          if (iequals(name, "Session-Expires")) return HeaderId::SessionExpires;
          return HeaderId::Unknown;
        default: return HeaderId::Unknown;
      }
    case 16:
      switch (chars::toLower(name[0])) {
        case 'c':
          if (iequals(name, "Content-Encoding")) return HeaderId::ContentEncoding;
          if (iequals(name, "Content-Language")) return HeaderId::ContentLanguage;
          return HeaderId::Unknown;
        case 'w':
          if (iequals(name, "WWW-Authenticate")) return HeaderId::WwwAuthenticate;
          return HeaderId::Unknown;
        default: return HeaderId::Unknown;
      }
    case 18:
      switch (chars::toLower(name[0])) {
        case 'p':
          if (iequals(name, "Proxy-Authenticate")) return HeaderId::ProxyAuthenticate;
          return HeaderId::Unknown;
        case 's':
          if (iequals(name, "Subscription-State")) return HeaderId::SubscriptionState;
          return HeaderId::Unknown;
        default: return HeaderId::Unknown;
      }
    case 19:
      switch (chars::toLower(name[0])) {
        case 'a':
          if (iequals(name, "Authentication-Info")) return HeaderId::AuthenticationInfo;
          return HeaderId::Unknown;
        case 'c':
          if (iequals(name, "Content-Disposition")) return HeaderId::ContentDisposition;
          return HeaderId::Unknown;
        case 'p':
          if (iequals(name, "Proxy-Authorization")) return HeaderId::ProxyAuthorization;
          return HeaderId::Unknown;
        case 'r':
          if (iequals(name, "Request-Disposition")) return HeaderId::RequestDisposition;
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
