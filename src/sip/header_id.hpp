// Known SIP header names (RFC 3261 §20 and extensions), compact forms included (§7.3.3).
// Generated table; names compare case-insensitively.
#pragma once

#include <cstdint>
#include <string_view>

namespace sipwarden::sip {

enum class HeaderId : std::uint8_t {
  Unknown,
  Accept,
  AcceptContact,
  AcceptEncoding,
  AcceptLanguage,
  AlertInfo,
  Allow,
  AllowEvents,
  AuthenticationInfo,
  Authorization,
  CallId,
  CallInfo,
  Contact,
  ContentDisposition,
  ContentEncoding,
  ContentLanguage,
  ContentLength,
  ContentType,
  CSeq,
  Date,
  ErrorInfo,
  Event,
  Expires,
  From,
  Identity,
  InReplyTo,
  MaxForwards,
  MimeVersion,
  MinExpires,
  MinSE,
  Organization,
  Path,
  Priority,
  ProxyAuthenticate,
  ProxyAuthorization,
  ProxyRequire,
  RAck,
  RSeq,
  Reason,
  RecordRoute,
  ReferTo,
  ReferredBy,
  RejectContact,
  Replaces,
  ReplyTo,
  RequestDisposition,
  Require,
  RetryAfter,
  Route,
  Server,
  ServiceRoute,
  SessionExpires,
  SipETag,
  SipIfMatch,
  Subject,
  SubscriptionState,
  Supported,
  Timestamp,
  To,
  Unsupported,
  UserAgent,
  Via,
  Warning,
  WwwAuthenticate,
  Count_,
};

/// Maps a header name as written (any case, long or compact form) to its id; Unknown otherwise.
/// Precondition: `name` consists of token characters (the parser only passes tokens).
HeaderId headerIdFromName(std::string_view name);

/// The canonical long name, e.g. "Call-ID" for HeaderId::CallId; "" for Unknown.
std::string_view headerName(HeaderId id);

/// The compact form (RFC 3261 §7.3.3 and the extension registry), or '\0' when there is none.
char compactForm(HeaderId id);

/// Headers whose values are comma-separated lists that may be split across header lines
/// (RFC 3261 §7.3.1). Authorization-type headers and free-text headers are not.
bool isListHeader(HeaderId id);

}  // namespace sipwarden::sip
