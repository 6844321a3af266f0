// The SIP message model (RFC 3261 §7): a start line, header fields in wire order, and a body, all
// held as views. A parsed message points into the caller's buffer (or its own copy, see
// adoptCopy); text added by edits lives in the message's arena. Typed values of the headers a
// proxy and registrar read on every request (top Via, From, To, Call-ID, CSeq, Max-Forwards,
// Content-Length, Expires) are parsed once and cached.
//
// Thread-safety: none; a Message belongs to one worker at a time.
#pragma once

#include <cstdint>
#include <memory>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "sip/arena.hpp"
#include "sip/header_id.hpp"
#include "sip/header_values.hpp"
#include "sip/inline_vector.hpp"
#include "sip/method.hpp"
#include "sip/parse_error.hpp"
#include "sip/text.hpp"
#include "sip/uri.hpp"

namespace sipwarden::sip {

struct HeaderField {
  HeaderId id = HeaderId::Unknown;
  std::string_view name;   ///< as written (long or compact form, any case)
  std::string_view value;  ///< without surrounding white space; folded lines keep their CR LF SP
};

class Message {
 public:
  Message() = default;
  Message(const Message&) = delete;
  Message& operator=(const Message&) = delete;
  Message(Message&&) noexcept = default;
  Message& operator=(Message&&) noexcept = default;

  /// Builds a request with the given start line; add headers with addHeader().
  static Message request(std::string_view method, std::string_view requestUri);
  /// Builds a response to `req` per RFC 3261 §8.2.6: Via, From, To, Call-ID and CSeq copied;
  /// `toTag` is added to To when it has none (pass "" to leave To alone).
  static Message responseTo(const Message& req, int status, std::string_view reason = {}, std::string_view toTag = {});
  /// responseTo into this message (cleared first, its storage reused).
  void assignResponseTo(const Message& req, int status, std::string_view reason = {}, std::string_view toTag = {});

  // ---- start line ----
  [[nodiscard]] bool isRequest() const { return isRequest_; }
  [[nodiscard]] bool isResponse() const { return !isRequest_; }
  [[nodiscard]] Method method() const { return method_; }
  [[nodiscard]] std::string_view methodText() const { return methodText_; }
  [[nodiscard]] std::string_view requestUriText() const { return requestUriText_; }
  [[nodiscard]] const Uri& requestUri() const { return requestUri_; }
  [[nodiscard]] int statusCode() const { return status_; }
  [[nodiscard]] std::string_view reason() const { return reason_; }
  [[nodiscard]] std::string_view version() const { return version_; }

  // ---- headers ----
  [[nodiscard]] std::span<const HeaderField> headers() const { return {headers_.data(), headers_.size()}; }
  [[nodiscard]] const HeaderField* find(HeaderId id) const;
  /// First header with this name (case-insensitive; compact forms of known headers match too).
  [[nodiscard]] std::optional<std::string_view> header(std::string_view name) const;
  [[nodiscard]] std::size_t count(HeaderId id) const;
  /// Calls f(std::string_view value) for every value of `id`, splitting comma lists of list headers
  /// (RFC 3261 §7.3.1). Stops early when f returns false.
  template <typename F>
  void forEachValue(HeaderId id, F&& f) const;

  // ---- typed values (valid after a successful parse or once set) ----
  [[nodiscard]] bool hasVia() const { return hasVia_; }
  [[nodiscard]] const Via& topVia() const { return topVia_; }
  [[nodiscard]] std::size_t viaCount() const;
  [[nodiscard]] std::vector<Via> vias() const;
  [[nodiscard]] const NameAddr& from() const { return from_; }
  [[nodiscard]] const NameAddr& to() const { return to_; }
  [[nodiscard]] std::string_view callId() const { return callId_; }
  [[nodiscard]] const CSeq& cseq() const { return cseq_; }
  [[nodiscard]] std::optional<std::uint32_t> maxForwards() const { return maxForwards_; }
  [[nodiscard]] std::optional<std::uint32_t> expires() const { return expires_; }
  [[nodiscard]] std::vector<Contact> contacts() const;
  [[nodiscard]] std::vector<NameAddr> routeSet(HeaderId id) const;  ///< Route, Record-Route, Path
  [[nodiscard]] std::string_view body() const { return body_; }
  [[nodiscard]] bool hasContentLength() const { return hasContentLength_; }
  [[nodiscard]] std::size_t contentLength() const { return contentLength_; }
  /// Via, From, To, Call-ID and CSeq parsed: a response can be built (RFC 3261 §8.2.6).
  [[nodiscard]] bool canBuildResponse() const { return hasVia_ && hasFrom_ && hasTo_ && !callId_.empty() && hasCSeq_; }

  // ---- edits (text is copied into the message) ----
  /// Adds a Via on top (a proxy's own, RFC 3261 §16.6 step 8). Fails on an invalid value.
  Why pushVia(std::string_view value);
  /// Removes the top Via value (RFC 3261 §16.7 step 3); false when there is none.
  bool popVia();
  /// Adds a Record-Route value at the top of the Record-Route set (§16.6 step 4).
  Why addRecordRoute(std::string_view value);
  /// Removes the first Route value (loose routing, §16.4); false when there is none.
  bool popRoute();
  /// Decrements Max-Forwards, or adds it with 70 when absent (§16.6 step 3). Returns the new value.
  std::uint32_t decrementMaxForwards();
  /// Adds ;tag= to To (a UAS's tag, §8.2.6.2). Fails if To already has a tag.
  Why setToTag(std::string_view tag);
  /// Replaces the body; sets Content-Type when `contentType` is not empty.
  void setBody(std::string_view body, std::string_view contentType = {});
  void setRequestUri(std::string_view uri);
  void setStatus(int status, std::string_view reason = {});
  /// Appends a header (before the body). Known headers are re-parsed into the typed cache.
  Why addHeader(std::string_view name, std::string_view value);
  /// Replaces every header `id` with one value (appended when absent).
  Why setHeader(HeaderId id, std::string_view value);
  /// Removes every header `id`; returns how many were removed.
  std::size_t removeHeader(HeaderId id);

  /// Copies `bytes` into storage owned by the message; returns the copy (parse that to own it).
  std::string_view adoptCopy(std::string_view bytes);

  /// Makes a parsed message independent of the buffer it was parsed from (which its caller is
  /// about to reuse): copies that text into storage the message owns and moves every view onto
  /// the copy, without parsing again. The message can then be moved to another thread. Text
  /// added by edits is in the arena, which moves with the message.
  void ownText();

  /// Makes this message a copy of `base` that shares base's text instead of parsing it again: the
  /// start line, header fields, body and typed values are base's views; later edits go to this
  /// message's own arena. `base` must outlive this message and not change while it lives (a
  /// proxy's branch requests, each an edited copy of the one request it keeps).
  void viewOf(const Message& base);

  /// Resets to an empty message, keeping capacity.
  void clear();

 private:
  friend class MessageParser;
  friend void serialize(const Message& m, std::string& out);

  std::size_t firstIndexOf(HeaderId id) const;
  /// Re-reads the typed cache of `id` from its first header (or clears it when there is none).
  Why refreshTyped(HeaderId id);
  /// Parses `value` into the typed cache of `id` (for ids that have one; others: nothing).
  Why parseTyped(HeaderId id, std::string_view value);
  std::string_view store(std::string_view s) { return arena_.store(s); }

  bool isRequest_ = true;
  Method method_ = Method::Extension;
  std::string_view methodText_;
  std::string_view requestUriText_;
  Uri requestUri_;
  int status_ = 0;
  std::string_view reason_;
  std::string_view version_ = "SIP/2.0";

  InlineVector<HeaderField, 32> headers_;
  std::string_view body_;

  bool hasVia_ = false;
  bool hasFrom_ = false;
  bool hasTo_ = false;
  bool hasCSeq_ = false;
  bool hasContentLength_ = false;
  Via topVia_;
  NameAddr from_;
  NameAddr to_;
  std::string_view callId_;
  CSeq cseq_;
  std::optional<std::uint32_t> maxForwards_;
  std::optional<std::uint32_t> expires_;
  std::size_t contentLength_ = 0;

  std::string_view parsedFrom_;  ///< the text the parser read (ownText copies it)
  std::unique_ptr<char[]> owned_;
  Arena arena_;
};

template <typename F>
void Message::forEachValue(HeaderId id, F&& f) const {
  bool list = isListHeader(id);
  for (const HeaderField& h : headers_) {
    if (h.id != id) continue;
    if (!list) {
      if (!f(h.value)) return;
      continue;
    }
    ListSplitter split(h.value);
    std::string_view element;
    bool unbalanced = false;
    while (split.next(element, unbalanced)) {
      if (!f(element)) return;
    }
  }
}

}  // namespace sipwarden::sip
