// SDP inspection (RFC 8866): what a proxy needs to know about an offer or answer without taking
// part in the negotiation: the m= lines (media, port, proto, formats) and the attributes of the
// session and of each media section (a=crypto, a=fingerprint, a=setup, a=mid, a=group...).
// Everything is a view into the body; parsing a typical description allocates nothing. Also finds
// the SDP inside multipart/mixed and multipart/alternative bodies (RFC 2046 §5.1, RFC 5621).
#pragma once

#include <cstddef>
#include <cstdint>
#include <iterator>
#include <optional>
#include <string>
#include <string_view>

#include "sip/inline_vector.hpp"
#include "sip/params.hpp"

namespace sipwarden::sip {

/// Bounds on what one description may cost. A body comes from a stranger; the defaults are far
/// above what browsers and phones send (a WebRTC offer with audio, video and data is 5-8 KiB) and
/// far below what would make the proxy work hard.
struct SdpLimits {
  std::size_t maxBytes = 64 * 1024;
  std::size_t maxLines = 2000;
  std::size_t maxMedia = 64;
};

enum class SdpErrorKind : std::uint8_t {
  None,
  Empty,           ///< no bytes, or only line ends
  TooLarge,        ///< over SdpLimits::maxBytes
  TooManyLines,    ///< over SdpLimits::maxLines
  TooManyMedia,    ///< over SdpLimits::maxMedia m= lines
  BadLine,         ///< not `<type>=<value>`, an empty line, a NUL or a bare CR
  UnknownType,     ///< a type letter RFC 8866 §5 does not define
  MissingVersion,  ///< the first line is not v=
  BadVersion,      ///< v= other than 0
  MissingField,    ///< o=, s= or t= absent, or an m= before them
  MisplacedField,  ///< a session-level field (v, o, s, t, r, z, u, e, p) twice or inside a media section
  BadField,        ///< an o= without its six fields, a t= that is not two numbers
  BadMedia,        ///< an m= line without media, port, proto or format, or with a bad port
  BadAttribute,    ///< an a= line without a valid attribute name
};

struct SdpError {
  SdpErrorKind kind = SdpErrorKind::None;
  std::size_t line = 0;     ///< 1-based line of the problem; 0 when it concerns the whole description
  const char* detail = "";  ///< static text, e.g. "m= line without a format"

  [[nodiscard]] bool ok() const { return kind == SdpErrorKind::None; }
  explicit operator bool() const { return !ok(); }
  /// "line 7: m= line without a format" (or just the detail when no line applies).
  [[nodiscard]] std::string describe() const;
};

/// One a= line (RFC 8866 §5.13): `a=<name>` or `a=<name>:<value>`.
struct SdpAttribute {
  std::string_view name;
  std::string_view value;  ///< "" for a property attribute
  bool hasValue = false;
};

/// The a= lines among a run of description lines (the session part or one media section). A view:
/// iterating re-scans the text, so it never allocates. The text was validated by parseSdp; the
/// iterator assumes valid text.
class SdpAttributes {
 public:
  SdpAttributes() = default;
  explicit SdpAttributes(std::string_view lines) : lines_(lines) {}

  class Iterator {
   public:
    using iterator_category = std::forward_iterator_tag;
    using value_type = SdpAttribute;
    using difference_type = std::ptrdiff_t;
    using pointer = const SdpAttribute*;
    using reference = const SdpAttribute&;

    Iterator() = default;
    explicit Iterator(std::string_view rest) : rest_(rest), done_(false) { advance(); }
    const SdpAttribute& operator*() const { return current_; }
    const SdpAttribute* operator->() const { return &current_; }
    Iterator& operator++() {
      advance();
      return *this;
    }
    Iterator operator++(int) {
      Iterator old = *this;
      advance();
      return old;
    }
    bool operator==(const Iterator& o) const { return done_ == o.done_ && (done_ || rest_.data() == o.rest_.data()); }

   private:
    void advance();
    std::string_view rest_;
    SdpAttribute current_;
    bool done_ = true;
  };

  [[nodiscard]] Iterator begin() const { return Iterator(lines_); }
  [[nodiscard]] Iterator end() const { return Iterator(); }

  /// The first attribute called `name` (attribute names compare exactly, RFC 8866 §5.13).
  [[nodiscard]] std::optional<SdpAttribute> find(std::string_view name) const;
  [[nodiscard]] bool has(std::string_view name) const { return find(name).has_value(); }
  [[nodiscard]] std::size_t count(std::string_view name) const;
  [[nodiscard]] std::string_view text() const { return lines_; }

 private:
  std::string_view lines_;
};

/// The words of a space-separated list: the fmt list of an m= line, the tags of a=group.
/// Runs of spaces count as one separator.
class SdpWords {
 public:
  class Iterator {
   public:
    using iterator_category = std::forward_iterator_tag;
    using value_type = std::string_view;
    using difference_type = std::ptrdiff_t;
    using pointer = const std::string_view*;
    using reference = const std::string_view&;

    Iterator() = default;
    explicit Iterator(std::string_view rest) : rest_(rest) { advance(); }
    const std::string_view& operator*() const { return current_; }
    const std::string_view* operator->() const { return &current_; }
    Iterator& operator++() {
      advance();
      return *this;
    }
    Iterator operator++(int) {
      Iterator old = *this;
      advance();
      return old;
    }
    bool operator==(const Iterator& o) const {
      return current_.data() == o.current_.data() && current_.size() == o.current_.size();
    }

   private:
    void advance();
    std::string_view rest_;
    std::string_view current_;
  };

  SdpWords() = default;
  explicit SdpWords(std::string_view text) : text_(text) {}
  [[nodiscard]] Iterator begin() const { return Iterator(text_); }
  [[nodiscard]] Iterator end() const { return Iterator(); }
  [[nodiscard]] bool contains(std::string_view word) const;

 private:
  std::string_view text_;
};

/// One media description: its m= line (RFC 8866 §5.14) and the lines after it up to the next m=.
struct SdpMedia {
  std::string_view media;       ///< "audio", "video", "application", "image"...
  std::uint16_t port = 0;       ///< 0: the stream is rejected or disabled (RFC 3264 §6, §8.2)
  std::uint16_t portCount = 1;  ///< the "/<number of ports>" suffix, 1 when absent
  std::string_view proto;       ///< "RTP/AVP", "RTP/SAVP", "UDP/TLS/RTP/SAVPF", "UDP/DTLS/SCTP"...
  std::string_view formats;     ///< the fmt list as written, e.g. "0 8 101"
  std::uint32_t formatCount = 0;
  std::uint32_t line = 0;  ///< 1-based line number of the m= line
  std::string_view body;   ///< the lines after the m= line (c=, b=, a=...), with their line ends

  [[nodiscard]] SdpAttributes attributes() const { return SdpAttributes(body); }
  [[nodiscard]] SdpWords formatList() const { return SdpWords(formats); }
};

/// A parsed session description. Views into the text given to parseSdp, which must outlive it.
struct SdpSession {
  std::string_view origin;       ///< the o= value
  std::string_view sessionName;  ///< the s= value (may be empty: RFC 4317 examples write "s=")
  std::string_view sessionBody;  ///< the session-level lines after v= up to the first m=
  InlineVector<SdpMedia, 4> media;

  [[nodiscard]] SdpAttributes attributes() const { return SdpAttributes(sessionBody); }
};

/// Parses an SDP body. Lines end with CRLF or a lone LF (RFC 8866 §5: parsers SHOULD accept
/// both); the last line may lack its line end, and empty lines after the last one are ignored.
/// Checked: v=0 first; o=, s= and at least one t= before any m= (§5's mandatory fields); each
/// session-level field where §5 puts it; no type letter outside the fifteen of §5 (an SDP parser
/// "MUST completely ignore any session description that contains a type letter that it does not
/// understand"); no NUL or bare CR (§5 text fields exclude them); m= lines per §5.14; attribute
/// names are tokens (§9). The order of the optional fields is not checked.
/// On error `out` holds what was parsed up to the bad line.
SdpError parseSdp(std::string_view text, SdpSession& out, const SdpLimits& limits = {});

/// An a=crypto value (RFC 4568 §9.1):
///   tag 1*WSP crypto-suite 1*WSP key-params *(1*WSP session-param)
struct SdpCrypto {
  std::uint32_t tag = 0;
  std::string_view suite;          ///< "AES_CM_128_HMAC_SHA1_80", "AEAD_AES_256_GCM"...
  std::string_view keyParams;      ///< "inline:<key||salt>|2^20|1:4" (several joined by ';')
  std::string_view sessionParams;  ///< "FEC_ORDER=FEC_SRTP ..." or empty
  std::uint32_t inlineKeys = 0;    ///< key-params with the "inline" method (RFC 4568 §6.1)
};
Why parseSdpCrypto(std::string_view value, SdpCrypto& out);

/// An a=fingerprint value (RFC 8122 §5): hash-func SP 2HEX *(":" 2HEX). Lower-case hex is
/// accepted although the grammar says UHEX: it names the same bytes.
struct SdpFingerprint {
  std::string_view hashFunction;  ///< "sha-256", "sha-1"...
  std::string_view value;         ///< "4A:AD:B9:..."
  std::size_t bytes = 0;
};
Why parseSdpFingerprint(std::string_view value, SdpFingerprint& out);

/// The SDP bodies of a message: the whole body for application/sdp, or every application/sdp part
/// of a multipart body, nested multiparts included. Usually one.
using SdpBodies = InlineVector<std::string_view, 2>;

/// Fills `out` with the SDP carried by a body whose Content-Type header value is `contentType`
/// (RFC 3261 §20.15). Returns nullptr on success (`out` may be empty: no SDP, e.g. text/plain, or
/// an empty body) or a short reason. Multipart bodies (RFC 2046 §5.1.1) are split on their
/// boundary, CRLF or LF line ends; a part without Content-Type is text/plain (§5.1); nesting is
/// followed three levels deep. Errors: an unparsable Content-Type, a non-empty body without one,
/// a multipart without boundary or closing delimiter, a part header without a colon, an SDP part
/// with a Content-Transfer-Encoding other than 7bit/8bit/binary (it could not be inspected), too
/// many parts. The views in `out` point into `body`.
Why findSdpBodies(std::string_view contentType, std::string_view body, SdpBodies& out);

}  // namespace sipwarden::sip
