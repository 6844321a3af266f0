// RFC 4475 "SIP Torture Test Messages": every message of the RFC, byte-exact from
// shared/conformance/rfc4475/*.dat, run through the SIP message layer.
//
// What each message must produce comes from the RFC section cited on each test (the expectations
// table is kExpectations below). Where RFC 4475 lets an element be liberal (§3.1.2.9, §3.1.2.10,
// §3.1.2.11, §3.1.2.12, §3.1.2.13, §3.1.2.14) the tests pin the behaviour sipwarden chose, and say so.
//
// The suite runs under ASan+UBSan in CI: whole files and every prefix are parsed from heap buffers
// of exactly their size, so that an overread is reported rather than hidden by std::string's
// terminating NUL.

#include <gtest/gtest.h>

#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <memory>
#include <optional>
#include <set>
#include <string>
#include <string_view>
#include <vector>

#include "sip/header_id.hpp"
#include "sip/header_values.hpp"
#include "sip/message.hpp"
#include "sip/method.hpp"
#include "sip/params.hpp"
#include "sip/parse_error.hpp"
#include "sip/parser.hpp"
#include "sip/serializer.hpp"
#include "sip/stream_framer.hpp"
#include "sip/uri.hpp"

namespace sipwarden::sip {
namespace {

namespace fs = std::filesystem;

// ---------------------------------------------------------------------------------------------
// The expectations table: one row per RFC 4475 message.
// ---------------------------------------------------------------------------------------------

/// What a file produces. `kind`/`header`/`status` describe parseMessage() in Datagram framing (the
/// RFC's scenario: each message arrived in one UDP datagram). `stream` is the first result of a
/// StreamFramer fed the whole file, and `streamKind` its error kind when it is not a message.
struct Expectation {
  std::string_view file;
  std::string_view section;
  ParseErrorKind kind;  ///< None: the message parses
  HeaderId header;      ///< the header the error names (Unknown for start-line errors)
  int status;           ///< ParseError::status(); 0 when the message parses
  StreamFramer::Status stream;
  ParseErrorKind streamKind;
};

using K = ParseErrorKind;
using H = HeaderId;
using S = StreamFramer::Status;

// clang-format off
constexpr Expectation kExpectations[] = {
    // §3.1.1 valid messages: parse, and frame on a stream.
    {"wsinv.dat",      "3.1.1.1",  K::None, H::Unknown, 0, S::Message, K::None},
    {"intmeth.dat",    "3.1.1.2",  K::None, H::Unknown, 0, S::Message, K::None},
    {"esc01.dat",      "3.1.1.3",  K::None, H::Unknown, 0, S::Message, K::None},
    {"escnull.dat",    "3.1.1.4",  K::None, H::Unknown, 0, S::Message, K::None},
    {"esc02.dat",      "3.1.1.5",  K::None, H::Unknown, 0, S::Message, K::None},
    {"lwsdisp.dat",    "3.1.1.6",  K::None, H::Unknown, 0, S::Message, K::None},
    {"longreq.dat",    "3.1.1.7",  K::None, H::Unknown, 0, S::Message, K::None},
    {"dblreq.dat",     "3.1.1.8",  K::None, H::Unknown, 0, S::Message, K::None},
    {"semiuri.dat",    "3.1.1.9",  K::None, H::Unknown, 0, S::Message, K::None},
    {"transports.dat", "3.1.1.10", K::None, H::Unknown, 0, S::Message, K::None},
    {"mpart01.dat",    "3.1.1.11", K::None, H::Unknown, 0, S::Message, K::None},
    {"unreason.dat",   "3.1.1.12", K::None, H::Unknown, 0, S::Message, K::None},
    {"noreason.dat",   "3.1.1.13", K::None, H::Unknown, 0, S::Message, K::None},
    // §3.1.2 invalid messages.
    {"badinv01.dat",   "3.1.2.1",  K::BadHeaderValue,   H::Via,           400, S::Invalid,  K::BadHeaderValue},
    // Over a stream a Content-Length beyond the data means "wait for more" (§3.1.2.2).
    {"clerr.dat",      "3.1.2.2",  K::BadContentLength, H::ContentLength, 400, S::NeedMore, K::None},
    // A negative Content-Length loses the stream framing: close the connection (§3.1.2.3).
    {"ncl.dat",        "3.1.2.3",  K::BadContentLength, H::ContentLength, 400, S::Fatal,    K::BadContentLength},
    {"scalar02.dat",   "3.1.2.4",  K::BadHeaderValue,   H::CSeq,          400, S::Invalid,  K::BadHeaderValue},
    {"scalarlg.dat",   "3.1.2.5",  K::BadHeaderValue,   H::CSeq,          400, S::Invalid,  K::BadHeaderValue},
    {"quotbal.dat",    "3.1.2.6",  K::BadHeaderValue,   H::To,            400, S::Invalid,  K::BadHeaderValue},
    {"ltgtruri.dat",   "3.1.2.7",  K::BadRequestUri,    H::Unknown,       400, S::Invalid,  K::BadRequestUri},
    {"lwsruri.dat",    "3.1.2.8",  K::BadRequestUri,    H::Unknown,       400, S::Invalid,  K::BadRequestUri},
    {"lwsstart.dat",   "3.1.2.9",  K::BadStartLine,     H::Unknown,       400, S::Invalid,  K::BadStartLine},
    {"trws.dat",       "3.1.2.10", K::BadStartLine,     H::Unknown,       400, S::Invalid,  K::BadStartLine},
    {"escruri.dat",    "3.1.2.11", K::BadRequestUri,    H::Unknown,       400, S::Invalid,  K::BadRequestUri},
    // Date is parsed lazily: the message is accepted (§3.1.2.12 allows it).
    {"baddate.dat",    "3.1.2.12", K::None,             H::Unknown,         0, S::Message,  K::None},
    {"regbadct.dat",   "3.1.2.13", K::BadHeaderValue,   H::Contact,       400, S::Invalid,  K::BadHeaderValue},
    {"badaspec.dat",   "3.1.2.14", K::BadHeaderValue,   H::To,            400, S::Invalid,  K::BadHeaderValue},
    // baddn.dat has no empty line after its headers: a stream never sees the end of the header section.
    {"baddn.dat",      "3.1.2.15", K::BadHeaderValue,   H::From,          400, S::NeedMore, K::None},
    {"badvers.dat",    "3.1.2.16", K::BadVersion,       H::Unknown,       505, S::Invalid,  K::BadVersion},
    {"mismatch01.dat", "3.1.2.17", K::CSeqMismatch,     H::CSeq,          400, S::Invalid,  K::CSeqMismatch},
    {"mismatch02.dat", "3.1.2.18", K::UnknownMethodMismatch, H::CSeq,     501, S::Invalid,  K::UnknownMethodMismatch},
    {"bigcode.dat",    "3.1.2.19", K::BadStartLine,     H::Unknown,       400, S::Invalid,  K::BadStartLine},
    // §3.2 transaction layer.
    {"badbranch.dat",  "3.2.1",    K::None,             H::Unknown,         0, S::Message,  K::None},
    // §3.3 application layer.
    {"insuf.dat",      "3.3.1",    K::MissingHeader,    H::From,          400, S::Invalid,  K::MissingHeader},
    {"unkscm.dat",     "3.3.2",    K::UnsupportedScheme, H::Unknown,      416, S::Invalid,  K::UnsupportedScheme},
    {"novelsc.dat",    "3.3.3",    K::UnsupportedScheme, H::Unknown,      416, S::Invalid,  K::UnsupportedScheme},
    {"unksm2.dat",     "3.3.4",    K::None,             H::Unknown,         0, S::Message,  K::None},
    {"bext01.dat",     "3.3.5",    K::None,             H::Unknown,         0, S::Message,  K::None},
    {"invut.dat",      "3.3.6",    K::None,             H::Unknown,         0, S::Message,  K::None},
    {"regaut01.dat",   "3.3.7",    K::None,             H::Unknown,         0, S::Message,  K::None},
    {"multi01.dat",    "3.3.8",    K::DuplicateHeader,  H::CSeq,          400, S::Invalid,  K::DuplicateHeader},
    // Conflicting Content-Lengths lose the stream framing (§3.3.9).
    {"mcl01.dat",      "3.3.9",    K::DuplicateHeader,  H::ContentLength, 400, S::Fatal,    K::BadContentLength},
    {"bcast.dat",      "3.3.10",   K::None,             H::Unknown,         0, S::Message,  K::None},
    {"zeromf.dat",     "3.3.11",   K::None,             H::Unknown,         0, S::Message,  K::None},
    {"cparam01.dat",   "3.3.12",   K::None,             H::Unknown,         0, S::Message,  K::None},
    {"cparam02.dat",   "3.3.13",   K::None,             H::Unknown,         0, S::Message,  K::None},
    {"regescrt.dat",   "3.3.14",   K::None,             H::Unknown,         0, S::Message,  K::None},
    {"sdp01.dat",      "3.3.15",   K::None,             H::Unknown,         0, S::Message,  K::None},
    // §3.4 backward compatibility. No Content-Length: fine in a datagram, fatal on a stream
    // (RFC 3261 §18.3).
    {"inv2543.dat",    "3.4.1",    K::None,             H::Unknown,         0, S::Fatal,    K::BadContentLength},
};
// clang-format on

const Expectation* findExpectation(std::string_view file) {
  for (const Expectation& e : kExpectations) {
    if (e.file == file) return &e;
  }
  return nullptr;
}

// ---------------------------------------------------------------------------------------------
// Helpers
// ---------------------------------------------------------------------------------------------

const char* kindName(ParseErrorKind k) {
  switch (k) {
    case K::None: return "None";
    case K::NeedMore: return "NeedMore";
    case K::TooLarge: return "TooLarge";
    case K::TooManyHeaders: return "TooManyHeaders";
    case K::LineTooLong: return "LineTooLong";
    case K::BadStartLine: return "BadStartLine";
    case K::BadVersion: return "BadVersion";
    case K::BadHeaderLine: return "BadHeaderLine";
    case K::BadHeaderValue: return "BadHeaderValue";
    case K::DuplicateHeader: return "DuplicateHeader";
    case K::MissingHeader: return "MissingHeader";
    case K::BadRequestUri: return "BadRequestUri";
    case K::UnsupportedScheme: return "UnsupportedScheme";
    case K::CSeqMismatch: return "CSeqMismatch";
    case K::UnknownMethodMismatch: return "UnknownMethodMismatch";
    case K::BadContentLength: return "BadContentLength";
  }
  return "?";
}

const char* statusName(StreamFramer::Status s) {
  switch (s) {
    case S::Message: return "Message";
    case S::NeedMore: return "NeedMore";
    case S::KeepAlive: return "KeepAlive";
    case S::Invalid: return "Invalid";
    case S::Fatal: return "Fatal";
  }
  return "?";
}

std::string describe(const ParseError& e) {
  std::string s = kindName(e.kind);
  s += " header=";
  s += e.header == H::Unknown ? std::string(e.headerName) : std::string(headerName(e.header));
  s += " status=" + std::to_string(e.status()) + " reason=\"" + e.reasonPhrase() + "\"";
  return s;
}

bool contains(std::string_view haystack, std::string_view needle) {
  return haystack.find(needle) != std::string_view::npos;
}

std::string datPath(std::string_view file) { return (fs::path(SIPWARDEN_RFC4475_DIR) / std::string(file)).string(); }

/// The file's bytes, read in binary mode; nullopt when it cannot be read.
std::optional<std::string> readDat(std::string_view file) {
  std::ifstream in(datPath(file), std::ios::binary);
  if (!in) return std::nullopt;
  return std::string(std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>());
}

/// `s` repeated `n` times (the long values of longreq.dat).
std::string rep(std::string_view s, int n) {
  std::string out;
  for (int i = 0; i < n; ++i) out.append(s);
  return out;
}

/// Bytes from a hex dump ("3d 20 32 ..."; white space ignored).
std::string fromHex(std::string_view hex) {
  std::string out;
  int hi = -1;
  for (char c : hex) {
    int v = -1;
    if (c >= '0' && c <= '9') v = c - '0';
    if (c >= 'a' && c <= 'f') v = c - 'a' + 10;
    if (c >= 'A' && c <= 'F') v = c - 'A' + 10;
    if (v < 0) continue;
    if (hi < 0) {
      hi = v;
    } else {
      out.push_back(static_cast<char>(hi * 16 + v));
      hi = -1;
    }
  }
  return out;
}

/// A parsed file. Held by unique_ptr so that the message's views into `bytes` stay valid.
struct Parsed {
  bool loaded = false;
  std::string bytes;
  Message msg;
  ParseError err;
};

std::unique_ptr<Parsed> parseFile(std::string_view file, Framing framing = Framing::Datagram) {
  auto p = std::make_unique<Parsed>();
  if (auto bytes = readDat(file)) {
    p->loaded = true;
    p->bytes = std::move(*bytes);
    p->err = parseMessage(p->bytes, p->msg, Limits{}, framing);
  }
  return p;
}

/// A parsed URI together with the text it points into.
struct OwnedUri {
  std::string text;
  Uri uri;
  Why why = nullptr;
};
std::unique_ptr<OwnedUri> uriOf(std::string_view text) {
  auto u = std::make_unique<OwnedUri>();
  u->text = std::string(text);
  u->why = parseUri(u->text, u->uri);
  return u;
}

std::vector<Param> paramsOf(const ParamList& list) { return {list.begin(), list.end()}; }

/// Checks the error of a message that must be rejected: its kind, the status a server answers with,
/// and that the error (and the reason phrase a server would send) names the offending header.
void expectRejected(const ParseError& e, ParseErrorKind kind, HeaderId header, int status) {
  EXPECT_FALSE(e.ok());
  EXPECT_EQ(e.kind, kind) << "got " << describe(e) << ", want " << kindName(kind);
  EXPECT_EQ(e.header, header) << "got " << describe(e) << ", want header " << headerName(header);
  EXPECT_EQ(e.status(), status) << describe(e);
  if (header != H::Unknown) {
    EXPECT_EQ(e.headerName, headerName(header)) << describe(e);
    EXPECT_TRUE(contains(e.reasonPhrase(), headerName(header)))
        << "reason phrase \"" << e.reasonPhrase() << "\" should name " << headerName(header);
  }
}

// ---- stream framing ----

struct StreamRun {
  std::vector<StreamFramer::Result> results;  ///< every result until NeedMore or Fatal (included)
  std::vector<std::string> methods;           ///< method text (or status code) of framed messages
};

/// Feeds all of `bytes` at once and calls next() until the framer wants more or gives up.
StreamRun streamWhole(std::string_view bytes) {
  StreamRun run;
  StreamFramer framer;
  framer.feed(bytes);
  for (int i = 0; i < 16; ++i) {
    Message out;
    StreamFramer::Result r = framer.next(out);
    run.results.push_back(r);
    if (r.status == S::Message || r.status == S::Invalid) {
      run.methods.push_back(out.isRequest() ? std::string(out.methodText()) : std::to_string(out.statusCode()));
      (void)toWire(out);  // touch every view while the framer's buffer is alive
    }
    if (r.status == S::NeedMore || r.status == S::Fatal) break;
  }
  return run;
}

/// Feeds `bytes` one octet at a time; returns the first result that is not NeedMore (or NeedMore
/// when the whole input never completes a message).
StreamFramer::Result streamByteByByte(std::string_view bytes) {
  StreamFramer framer;
  for (char c : bytes) {
    framer.feed(std::string_view(&c, 1));
    Message out;
    StreamFramer::Result r = framer.next(out);
    if (r.status != S::NeedMore) return r;
  }
  return StreamFramer::Result{};
}

/// Parses `bytes` from a heap buffer of exactly that size (ASan then sees any overread).
ParseError parseExact(std::string_view bytes, Message& out, Framing framing = Framing::Datagram) {
  std::unique_ptr<char[]> buf(new char[bytes.size() == 0 ? 1 : bytes.size()]);
  if (!bytes.empty()) std::memcpy(buf.get(), bytes.data(), bytes.size());
  ParseError e = parseMessage(std::string_view(buf.get(), bytes.size()), out, Limits{}, framing);
  // Exercise every accessor while the buffer is alive.
  (void)out.vias();
  (void)out.contacts();
  (void)out.routeSet(H::Route);
  (void)out.routeSet(H::RecordRoute);
  (void)toWire(out);
  (void)e.reasonPhrase();
  out.clear();
  return e;
}

// ---- round trip (STYLE.md: parse -> serialize -> parse gives the same message) ----

void expectRoundTrip(const Message& m1, std::string_view file) {
  SCOPED_TRACE(std::string("round trip of ") + std::string(file));
  const std::string w1 = toWire(m1);
  Message m2;
  ParseError e2 = parseMessage(w1, m2, Limits{}, Framing::Datagram);
  ASSERT_TRUE(e2.ok()) << describe(e2) << "\n" << w1;
  const std::string w2 = toWire(m2);
  EXPECT_EQ(w1, w2) << "serialization is not idempotent";

  // The serializer adds Content-Length when the message had none (inv2543.dat).
  const std::size_t added = m1.find(H::ContentLength) == nullptr ? 1 : 0;
  EXPECT_EQ(m2.headers().size(), m1.headers().size() + added);
  EXPECT_EQ(m2.isRequest(), m1.isRequest());
  EXPECT_EQ(m2.method(), m1.method());
  EXPECT_EQ(m2.methodText(), m1.methodText());
  EXPECT_EQ(m2.requestUriText(), m1.requestUriText());
  if (m1.isRequest()) {
    EXPECT_TRUE(uriEquals(m2.requestUri(), m1.requestUri()));
  }
  EXPECT_EQ(m2.statusCode(), m1.statusCode());
  EXPECT_EQ(m2.reason(), m1.reason());
  EXPECT_EQ(m2.version(), m1.version());
  EXPECT_EQ(m2.callId(), m1.callId());
  EXPECT_EQ(m2.cseq().number, m1.cseq().number);
  EXPECT_EQ(m2.cseq().methodText, m1.cseq().methodText);
  EXPECT_EQ(m2.from().tag(), m1.from().tag());
  EXPECT_EQ(m2.to().tag(), m1.to().tag());
  EXPECT_EQ(m2.viaCount(), m1.viaCount());
  EXPECT_EQ(m2.maxForwards(), m1.maxForwards());
  EXPECT_EQ(m2.body(), m1.body());
  EXPECT_EQ(m2.contentLength(), m1.body().size());

  // The serialized form is framable on a stream too (it always states Content-Length).
  Message m3;
  ParseError e3 = parseMessage(w1, m3, Limits{}, Framing::Stream);
  EXPECT_TRUE(e3.ok()) << describe(e3);
  EXPECT_EQ(toWire(m3), w1);
}

// ---------------------------------------------------------------------------------------------
// Every file: in the table, parses without crashing, frames on a stream as documented.
// ---------------------------------------------------------------------------------------------

// RFC 4475 §3 (all sections): a new .dat file cannot go untested, and every row of the table
// still has its file.
TEST(Rfc4475, EveryFileHasAnExpectationAndMeetsIt) {
  std::set<std::string> onDisk;
  for (const fs::directory_entry& entry : fs::directory_iterator(SIPWARDEN_RFC4475_DIR)) {
    if (entry.is_regular_file() && entry.path().extension() == ".dat") onDisk.insert(entry.path().filename().string());
  }
  EXPECT_EQ(onDisk.size(), std::size(kExpectations)) << "RFC 4475 has 49 torture messages";
  for (const Expectation& e : kExpectations) {
    EXPECT_EQ(onDisk.count(std::string(e.file)), 1U)
        << e.file << " is in the table but not in " << SIPWARDEN_RFC4475_DIR;
  }

  for (const std::string& file : onDisk) {
    SCOPED_TRACE(file);
    const Expectation* exp = findExpectation(file);
    if (exp == nullptr) {
      ADD_FAILURE() << file << " has no row in kExpectations: add one (and a test) for it";
      continue;
    }
    SCOPED_TRACE(std::string("RFC 4475 §") + std::string(exp->section));
    auto bytes = readDat(file);
    ASSERT_TRUE(bytes.has_value()) << "cannot read " << datPath(file);
    ASSERT_FALSE(bytes->empty());

    // Datagram framing (the RFC's scenario).
    Message m;
    ParseError err = parseExact(*bytes, m, Framing::Datagram);
    EXPECT_EQ(err.kind, exp->kind) << "datagram: got " << describe(err) << ", want " << kindName(exp->kind);
    EXPECT_EQ(err.status(), exp->status) << describe(err);
    if (exp->kind != K::None) {
      EXPECT_EQ(err.header, exp->header) << describe(err);
    }

    // The same bytes on a stream, in one piece and one octet at a time.
    StreamRun run = streamWhole(*bytes);
    ASSERT_FALSE(run.results.empty());
    const StreamFramer::Result& first = run.results.front();
    EXPECT_EQ(first.status, exp->stream) << "stream: got " << statusName(first.status) << " (" << describe(first.error)
                                         << "), want " << statusName(exp->stream);
    EXPECT_EQ(first.error.kind, exp->streamKind) << "stream: " << describe(first.error);
    if (exp->stream == S::Message || exp->stream == S::Invalid) {
      // Framed by Content-Length, the message parses exactly as the datagram did.
      EXPECT_EQ(first.error.kind, exp->kind) << describe(first.error);
    }
    StreamFramer::Result slow = streamByteByByte(*bytes);
    EXPECT_EQ(slow.status, exp->stream) << "byte-by-byte stream: got " << statusName(slow.status);
    EXPECT_EQ(slow.error.kind, exp->streamKind) << "byte-by-byte stream: " << describe(slow.error);
  }
}

// RFC 4475 §3 (all sections): no prefix of any message makes the parser read out of bounds or
// crash, in either framing.
TEST(Rfc4475, EveryPrefixOfEveryFileParsesWithoutCrashing) {
  for (const Expectation& e : kExpectations) {
    SCOPED_TRACE(e.file);
    auto bytes = readDat(e.file);
    ASSERT_TRUE(bytes.has_value());
    Message m;
    for (std::size_t n = 0; n <= bytes->size(); ++n) {
      std::string_view prefix(bytes->data(), n);
      ParseError d = parseExact(prefix, m, Framing::Datagram);
      ParseError s = parseExact(prefix, m, Framing::Stream);
      if (n == 0) {
        EXPECT_FALSE(d.ok());
        EXPECT_FALSE(s.ok());
      }
    }
  }
}

// RFC 4475 §3.1.1, §3.2.1, §3.3, §3.4.1 and the STYLE.md round-trip property: every message that
// parses survives serialize -> parse -> serialize unchanged.
TEST(Rfc4475, RoundTripIsIdempotentForEveryMessageThatParses) {
  int tried = 0;
  for (const Expectation& e : kExpectations) {
    if (e.kind != K::None) continue;
    SCOPED_TRACE(e.file);
    auto p = parseFile(e.file);
    ASSERT_TRUE(p->loaded);
    ASSERT_TRUE(p->err.ok()) << describe(p->err);
    expectRoundTrip(p->msg, e.file);
    ++tried;
  }
  EXPECT_EQ(tried, 26);
}

// ---------------------------------------------------------------------------------------------
// §3.1.1 Valid messages
// ---------------------------------------------------------------------------------------------

// RFC 4475 §3.1.1.1 A Short Tortuous INVITE: folding, odd case and spacing, compact forms,
// leading zeros, unknown headers. "All elements should treat this as a well-formed request."
TEST(Rfc4475, WsinvShortTortuousInvite) {
  auto p = parseFile("wsinv.dat");
  ASSERT_TRUE(p->loaded);
  ASSERT_TRUE(p->err.ok()) << describe(p->err);
  const Message& m = p->msg;
  ASSERT_EQ(p->bytes.size(), 1001U);

  // Request-Line
  EXPECT_TRUE(m.isRequest());
  EXPECT_EQ(m.method(), Method::Invite);
  EXPECT_EQ(m.methodText(), "INVITE");
  EXPECT_EQ(m.version(), "SIP/2.0");
  EXPECT_EQ(m.requestUriText(), "sip:vivekg@chair-dnrc.example.com;unknownparam");
  const Uri& ruri = m.requestUri();
  EXPECT_EQ(ruri.scheme, UriScheme::Sip);
  EXPECT_EQ(ruri.user, "vivekg");
  EXPECT_EQ(ruri.host, "chair-dnrc.example.com");
  EXPECT_EQ(ruri.hostKind, HostKind::Name);
  EXPECT_FALSE(ruri.hasPort);
  ASSERT_TRUE(ruri.params.find("unknownparam").has_value());
  EXPECT_FALSE(ruri.params.find("unknownparam")->hasValue);
  EXPECT_EQ(ruri.params.size(), 1U);

  // 14 header lines: TO, from, MaX-fOrWaRdS, Call-ID, Content-Length, cseq, Via, s,
  // NewFangledHeader, UnknownHeaderWithUnusualValue, Content-Type, Route, v, m.
  EXPECT_EQ(m.headers().size(), 14U);

  // Top Via: "SIP  /   2.0" CRLF " /UDP" CRLF "    192.0.2.2;branch=390skdjuw"
  ASSERT_TRUE(m.hasVia());
  const Via& top = m.topVia();
  EXPECT_EQ(top.protocolName, "SIP");
  EXPECT_EQ(top.protocolVersion, "2.0");
  EXPECT_EQ(top.transport, "UDP");
  EXPECT_EQ(top.host, "192.0.2.2");
  EXPECT_EQ(top.hostKind, HostKind::IPv4);
  ASSERT_TRUE(top.branch.has_value());
  EXPECT_EQ(*top.branch, "390skdjuw");
  EXPECT_FALSE(top.isRfc3261Branch()) << "no z9hG4bK cookie: RFC 2543 matching applies";

  // All three Via values, in order (the compact "v:" line holds two).
  EXPECT_EQ(m.viaCount(), 3U);
  std::vector<Via> vias = m.vias();
  ASSERT_EQ(vias.size(), 3U);
  EXPECT_EQ(vias[0].transport, "UDP");
  EXPECT_EQ(vias[0].host, "192.0.2.2");
  EXPECT_EQ(vias[0].branch, std::optional<std::string_view>("390skdjuw"));
  EXPECT_EQ(vias[1].transport, "TCP");
  EXPECT_EQ(vias[1].host, "spindle.example.com");
  EXPECT_EQ(vias[1].branch, std::optional<std::string_view>("z9hG4bK9ikj8"));
  EXPECT_TRUE(vias[1].isRfc3261Branch());
  EXPECT_EQ(vias[2].transport, "UDP");
  EXPECT_EQ(vias[2].host, "192.168.255.111");
  EXPECT_EQ(vias[2].branch, std::optional<std::string_view>("z9hG4bK30239"));  // folded after "branch="
  EXPECT_TRUE(vias[2].isRfc3261Branch());

  // From: display name is the quoted-string "J Rosenberg \\\"" (kept escaped), tag on folded lines.
  EXPECT_TRUE(m.from().displayQuoted);
  EXPECT_EQ(m.from().displayName, R"(J Rosenberg \\\")");
  EXPECT_TRUE(m.from().angleBrackets);
  EXPECT_EQ(m.from().uri.user, "jdrosen");
  EXPECT_EQ(m.from().uri.host, "example.com");
  EXPECT_EQ(m.from().tag(), std::optional<std::string_view>("98asjd8"));

  // To: addr-spec on a folded line, white space around '=' of the tag.
  EXPECT_FALSE(m.to().angleBrackets);
  EXPECT_TRUE(m.to().displayName.empty());
  EXPECT_EQ(m.to().uri.user, "vivekg");
  EXPECT_EQ(m.to().uri.host, "chair-dnrc.example.com");
  EXPECT_EQ(m.to().tag(), std::optional<std::string_view>("1918181833n"));

  EXPECT_EQ(m.callId(), "wsinv.ndaksdj@192.0.2.1");
  EXPECT_EQ(m.cseq().number, 9U);  // "0009" folded before "INVITE"
  EXPECT_EQ(m.cseq().method, Method::Invite);
  EXPECT_EQ(m.cseq().methodText, "INVITE");
  EXPECT_EQ(m.maxForwards(), std::optional<std::uint32_t>(68));  // "0068"
  EXPECT_TRUE(m.hasContentLength());
  EXPECT_EQ(m.contentLength(), 150U);
  EXPECT_EQ(m.body().size(), 150U);
  EXPECT_EQ(m.body(), std::string_view(p->bytes).substr(851));

  // Contact (compact m:): q=0.33 and two extension parameters split over folded lines.
  std::vector<Contact> contacts = m.contacts();
  ASSERT_EQ(contacts.size(), 1U);
  const Contact& c = contacts[0];
  EXPECT_FALSE(c.star);
  EXPECT_TRUE(c.address.displayQuoted);
  EXPECT_EQ(c.address.displayName, R"(Quoted string \"\")");
  EXPECT_EQ(c.address.uri.user, "jdrosen");
  EXPECT_EQ(c.address.uri.host, "example.com");
  EXPECT_EQ(c.qThousandths, 330);
  EXPECT_EQ(c.address.param("newparam"), std::optional<std::string_view>("newvalue"));
  ASSERT_TRUE(c.address.params.find("secondparam").has_value());
  EXPECT_FALSE(c.address.params.find("secondparam")->hasValue);
  EXPECT_EQ(c.address.params.size(), 3U);

  // Route (value on a folded line).
  std::vector<NameAddr> routes = m.routeSet(H::Route);
  ASSERT_EQ(routes.size(), 1U);
  EXPECT_EQ(routes[0].uri.host, "services.example.com");
  EXPECT_EQ(routes[0].uri.param("lr"), std::optional<std::string_view>(""));
  EXPECT_EQ(routes[0].uri.param("unknownwith"), std::optional<std::string_view>("value"));
  ASSERT_TRUE(routes[0].uri.params.find("unknown-no-value").has_value());
  EXPECT_FALSE(routes[0].uri.params.find("unknown-no-value")->hasValue);

  // Unknown headers, by name, case-insensitively; their values are opaque (never split).
  ASSERT_TRUE(m.header("NewFangledHeader").has_value());
  EXPECT_EQ(*m.header("NewFangledHeader"), "newfangled value\r\n continued newfangled value");
  EXPECT_EQ(m.header("newfangledheader"), m.header("NewFangledHeader"));
  EXPECT_EQ(m.header("UnknownHeaderWithUnusualValue"), std::optional<std::string_view>(";;,,;;,;"));
  EXPECT_FALSE(m.header("NoSuchHeader").has_value());

  // Subject (compact "s :") is present and empty.
  ASSERT_TRUE(m.header("Subject").has_value());
  EXPECT_TRUE(m.header("Subject")->empty());
  ASSERT_NE(m.find(H::Subject), nullptr);
  EXPECT_EQ(m.find(H::Subject)->name, "s");

  MediaType ct;
  ASSERT_TRUE(m.header("Content-Type").has_value());
  ASSERT_EQ(parseMediaType(*m.header("Content-Type"), ct), nullptr);
  EXPECT_EQ(ct.type, "application");
  EXPECT_EQ(ct.subtype, "sdp");

  // URI comparison (RFC 3261 §19.1.4): unknownparam appears in one URI only and is ignored.
  EXPECT_TRUE(uriEquals(m.requestUri(), m.to().uri));
  EXPECT_TRUE(uriEquals(c.address.uri, m.from().uri));
  EXPECT_FALSE(uriEquals(m.requestUri(), m.from().uri));
}

// RFC 4475 §3.1.1.2 Wide Range of Valid Characters: "%" is not an escape in a method, NUL in a
// quoted display name, every token character in names, UTF-8 in values.
TEST(Rfc4475, IntmethWideRangeOfValidCharacters) {
  auto p = parseFile("intmeth.dat");
  ASSERT_TRUE(p->loaded);
  ASSERT_TRUE(p->err.ok()) << describe(p->err);
  const Message& m = p->msg;

  constexpr std::string_view kMethod = R"(!interesting-Method0123456789_*+`.%indeed'~)";
  constexpr std::string_view kUser = R"(1_unusual.URI~(to-be!sure)&isn't+it$/crazy?,/;;*)";
  constexpr std::string_view kPassword = R"(&it+has=1,weird!*pas$wo~d_too.(doesn't-it))";
  static_assert(kMethod.size() == 43 && kUser.size() == 48 && kPassword.size() == 42);

  EXPECT_EQ(m.methodText(), kMethod);
  EXPECT_EQ(m.method(), Method::Extension);
  const Uri& ruri = m.requestUri();
  EXPECT_EQ(ruri.scheme, UriScheme::Sip);
  EXPECT_EQ(ruri.user, kUser);  // ';' and '?' inside userinfo are not params or headers
  EXPECT_EQ(ruri.password, kPassword);
  EXPECT_EQ(ruri.host, "example.com");
  EXPECT_TRUE(ruri.params.empty());
  EXPECT_TRUE(ruri.headers.empty());

  EXPECT_EQ(m.topVia().transport, "TCP");
  EXPECT_EQ(m.topVia().host, "host1.example.com");
  EXPECT_EQ(m.topVia().branch, std::optional<std::string_view>(R"(z9hG4bK-.!%66*_+`'~)"));
  EXPECT_TRUE(m.topVia().isRfc3261Branch());

  // To: quoted display name with escaped BEL, NUL and DEL (20 raw bytes; strings carry lengths).
  const std::string kToDisplay = std::string("BEL:\\") + '\x07' + " NUL:\\" + '\0' + " DEL:\\" + '\x7f';
  ASSERT_EQ(kToDisplay.size(), 20U);
  EXPECT_TRUE(m.to().displayQuoted);
  EXPECT_EQ(std::string(m.to().displayName), kToDisplay);
  EXPECT_EQ(m.to().uri.user, kUser);
  EXPECT_TRUE(m.to().uri.password.empty());
  EXPECT_FALSE(m.to().tag().has_value());

  // From: a display name of tokens, an odd parameter name with a UTF-8 quoted value, an odd tag.
  EXPECT_FALSE(m.from().displayQuoted);
  EXPECT_EQ(m.from().displayName, R"(token1~` token2'+_ token3*%!.-)");
  EXPECT_EQ(m.from().uri.user, "mundane");
  EXPECT_EQ(m.from().uri.host, "example.com");
  auto fromParam = m.from().params.find(R"(fromParam''~+*_!.-%)");
  ASSERT_TRUE(fromParam.has_value());
  EXPECT_TRUE(fromParam->quoted);
  EXPECT_EQ(std::string(fromParam->value), fromHex("D1 80 D0 B0 D0 B1 D0 BE D1 82 D0 B0 D1 8E D1 89 D0 B8 D0 B9"));
  EXPECT_EQ(m.from().tag(), std::optional<std::string_view>(R"(_token~1'+`*%!-.)"));

  // Call-ID: every "word" character, including a backslash and a double quote.
  constexpr std::string_view kCallId = R"(intmeth.word%ZK-!.*_+'@word`~)(><:\/"][?}{)";
  static_assert(kCallId.size() == 42);
  EXPECT_EQ(m.callId(), kCallId);

  EXPECT_EQ(m.cseq().number, 139122385U);
  EXPECT_EQ(m.cseq().methodText, kMethod);
  EXPECT_EQ(m.cseq().method, Method::Extension);
  EXPECT_EQ(m.maxForwards(), std::optional<std::uint32_t>(255));
  EXPECT_EQ(m.contentLength(), 0U);
  EXPECT_TRUE(m.body().empty());

  // Extension header: a name made of token characters, no space after the colon, UTF-8 value.
  constexpr std::string_view kExtName = R"(extensionHeader-!.%*+_`'~)";
  EXPECT_EQ(headerIdFromName(kExtName), H::Unknown);
  ASSERT_TRUE(m.header(kExtName).has_value());
  EXPECT_EQ(std::string(*m.header(kExtName)), fromHex("EF BB BF E5 A4 A7 E5 81 9C E9 9B BB"));

  // The To URI has the same user but no password: not the same URI (RFC 3261 §19.1.4).
  EXPECT_FALSE(uriEquals(m.requestUri(), m.to().uri));
  auto same = uriOf(std::string("sip:") + std::string(kUser) + ":" + std::string(kPassword) + "@EXAMPLE.COM");
  ASSERT_EQ(same->why, nullptr) << same->why;
  EXPECT_TRUE(uriEquals(m.requestUri(), same->uri));
}

// RFC 4475 §3.1.1.3 Valid Use of the % Escaping Mechanism: %HEX HEX expansions are equivalent to
// the character encoded, and unescaping is never recursive ("value%41" is not "valueA").
TEST(Rfc4475, Esc01ValidPercentEscaping) {
  auto p = parseFile("esc01.dat");
  ASSERT_TRUE(p->loaded);
  ASSERT_TRUE(p->err.ok()) << describe(p->err);
  const Message& m = p->msg;

  EXPECT_EQ(m.method(), Method::Invite);
  const Uri& ruri = m.requestUri();
  EXPECT_EQ(ruri.user, "sips%3Auser%40example.com");
  EXPECT_EQ(ruri.userUnescaped(), "sips:user@example.com");
  EXPECT_EQ(ruri.userUnescaped().size(), 21U);
  EXPECT_EQ(ruri.host, "example.net");
  EXPECT_TRUE(ruri.params.empty());

  EXPECT_EQ(m.to().uri.user, "%75se%72");
  EXPECT_EQ(m.to().uri.userUnescaped(), "user");
  EXPECT_EQ(m.from().uri.userUnescaped(), "I have spaces");
  EXPECT_EQ(m.from().uri.host, "example.net");
  EXPECT_EQ(m.from().tag(), std::optional<std::string_view>("938"));

  // Contact (folded): escaped user, escaped parameter names and values.
  std::vector<Contact> contacts = m.contacts();
  ASSERT_EQ(contacts.size(), 1U);
  const Uri& cu = contacts[0].address.uri;
  EXPECT_EQ(cu.user, "cal%6Cer");
  EXPECT_EQ(cu.userUnescaped(), "caller");
  EXPECT_EQ(cu.host, "host5.example.net");
  std::vector<Param> params = paramsOf(cu.params);
  ASSERT_EQ(params.size(), 2U);
  EXPECT_EQ(params[0].name, "%6C%72");
  EXPECT_FALSE(params[0].hasValue);
  EXPECT_EQ(unescape(params[0].name), "lr");
  EXPECT_EQ(params[1].name, "n%61me");
  EXPECT_EQ(unescape(params[1].name), "name");
  EXPECT_TRUE(params[1].hasValue);
  EXPECT_EQ(params[1].value, "v%61lue%25%34%31");    // raw value
  EXPECT_EQ(unescape(params[1].value), "value%41");  // decoded once, never recursively
  EXPECT_NE(unescape(params[1].value), "valueA");

  EXPECT_EQ(m.callId(), "esc01.239409asdfakjkn23onasd0-3234");
  EXPECT_EQ(m.find(H::CallId)->name, "i");
  EXPECT_EQ(m.cseq().number, 234234U);
  EXPECT_EQ(m.cseq().method, Method::Invite);
  EXPECT_EQ(m.maxForwards(), std::optional<std::uint32_t>(87));
  EXPECT_EQ(m.header("Content-Type"), std::optional<std::string_view>("application/sdp"));
  EXPECT_EQ(m.find(H::ContentType)->name, "C");
  EXPECT_EQ(m.topVia().transport, "UDP");
  EXPECT_EQ(m.topVia().host, "host5.example.net");
  EXPECT_EQ(m.topVia().branch, std::optional<std::string_view>("z9hG4bKkdjuw"));
  EXPECT_EQ(m.contentLength(), 150U);
  EXPECT_EQ(m.body().size(), 150U);

  // URI comparison (RFC 3261 §19.1.4): an escaped unreserved character equals the character.
  auto user = uriOf("sip:user@example.com");
  EXPECT_TRUE(uriEquals(m.to().uri, user->uri));
  auto lowerHex = uriOf("sip:sips%3auser%40example.com@example.net");
  EXPECT_TRUE(uriEquals(m.requestUri(), lowerHex->uri));
  // The Contact URI is <sip:caller@host5.example.net;lr;name=value%41> once decoded: its "name"
  // parameter (written n%61me) appears in both URIs below and must match (§19.1.4 "Any
  // uri-parameter appearing in both URIs must match").
  auto decoded = uriOf("sip:caller@host5.example.net;lr;name=value%2541");
  ASSERT_EQ(decoded->why, nullptr);
  EXPECT_TRUE(uriEquals(cu, decoded->uri));
  auto recursive = uriOf("sip:caller@host5.example.net;lr;name=valueA");
  ASSERT_EQ(recursive->why, nullptr);
  EXPECT_FALSE(uriEquals(cu, recursive->uri)) << "name=v%61lue%25%34%31 is value%41, not valueA";
}

// RFC 4475 §3.1.1.4 Escaped Nulls in URIs: "take care ... so as to not prematurely shorten the
// username"; the request registers two distinct contacts.
TEST(Rfc4475, EscnullEscapedNullsInUris) {
  auto p = parseFile("escnull.dat");
  ASSERT_TRUE(p->loaded);
  ASSERT_TRUE(p->err.ok()) << describe(p->err);
  const Message& m = p->msg;

  EXPECT_EQ(m.method(), Method::Register);
  EXPECT_EQ(m.requestUriText(), "sip:example.com");
  const std::string kAor("null-\0-null", 11);
  EXPECT_EQ(m.to().uri.user, "null-%00-null");
  EXPECT_EQ(m.to().uri.userUnescaped(), kAor);
  EXPECT_EQ(m.to().uri.userUnescaped().size(), 11U);
  EXPECT_EQ(m.from().uri.userUnescaped(), kAor);
  EXPECT_EQ(m.from().tag(), std::optional<std::string_view>("839923423"));
  EXPECT_FALSE(m.to().tag().has_value());
  EXPECT_TRUE(uriEquals(m.to().uri, m.from().uri));

  std::vector<Contact> contacts = m.contacts();
  ASSERT_EQ(contacts.size(), 2U);
  EXPECT_EQ(contacts[0].address.uri.user, "%00");
  EXPECT_EQ(contacts[0].address.uri.userUnescaped(), std::string("\0", 1));
  EXPECT_EQ(contacts[1].address.uri.user, "%00%00");
  EXPECT_EQ(contacts[1].address.uri.userUnescaped(), std::string("\0\0", 2));
  EXPECT_EQ(contacts[0].address.uri.host, "host5.example.com");
  EXPECT_EQ(contacts[1].address.uri.host, "host5.example.com");
  EXPECT_FALSE(uriEquals(contacts[0].address.uri, contacts[1].address.uri)) << "two distinct bindings";

  EXPECT_EQ(m.callId(), "escnull.39203ndfvkjdasfkq3w4otrq0adsfdfnavd");
  EXPECT_EQ(m.cseq().number, 14398234U);
  EXPECT_EQ(m.cseq().method, Method::Register);
  EXPECT_EQ(m.maxForwards(), std::optional<std::uint32_t>(70));
  ASSERT_NE(m.find(H::ContentLength), nullptr);
  EXPECT_EQ(m.find(H::ContentLength)->name, "L");  // "L:0"
  EXPECT_TRUE(m.hasContentLength());
  EXPECT_EQ(m.contentLength(), 0U);
}

// RFC 4475 §3.1.1.5 Use of % When It Is Not an Escape: the method RE%47IST%45R is unknown and NOT
// REGISTER; "C%6Fntact" is an extension header, so there are two Contact values, not three.
TEST(Rfc4475, Esc02PercentThatIsNotAnEscape) {
  auto p = parseFile("esc02.dat");
  ASSERT_TRUE(p->loaded);
  ASSERT_TRUE(p->err.ok()) << describe(p->err);
  const Message& m = p->msg;

  EXPECT_EQ(m.methodText(), "RE%47IST%45R");
  EXPECT_EQ(m.method(), Method::Extension);
  EXPECT_NE(m.method(), Method::Register);
  EXPECT_EQ(m.cseq().number, 29344U);
  EXPECT_EQ(m.cseq().methodText, "RE%47IST%45R");
  EXPECT_EQ(m.cseq().method, Method::Extension);
  EXPECT_EQ(m.requestUriText(), "sip:registrar.example.com");
  EXPECT_EQ(m.requestUri().host, "registrar.example.com");

  EXPECT_TRUE(m.to().displayQuoted);
  EXPECT_EQ(m.to().displayName, "%Z%45");
  EXPECT_EQ(m.from().displayName, "%Z%45");
  EXPECT_EQ(m.from().uri.user, "resource");
  EXPECT_EQ(m.from().tag(), std::optional<std::string_view>("f232jadfj23"));
  EXPECT_TRUE(uriEquals(m.to().uri, m.from().uri));

  EXPECT_EQ(m.topVia().transport, "TCP");
  EXPECT_EQ(m.topVia().host, "host.example.com");
  EXPECT_EQ(m.topVia().branch, std::optional<std::string_view>("z9hG4bK209%fzsnel234"));

  EXPECT_EQ(m.count(H::Contact), 2U);
  std::vector<Contact> contacts = m.contacts();
  ASSERT_EQ(contacts.size(), 2U);
  EXPECT_EQ(contacts[0].address.uri.host, "host1.example.com");
  EXPECT_EQ(contacts[1].address.uri.host, "host3.example.com");
  EXPECT_EQ(headerIdFromName("C%6Fntact"), H::Unknown);
  EXPECT_EQ(m.header("C%6Fntact"), std::optional<std::string_view>("<sip:alias2@host2.example.com>"));

  EXPECT_EQ(m.callId(), "esc02.asdfnqwo34rq23i34jrjasdcnl23nrlknsdf");
  EXPECT_EQ(m.maxForwards(), std::optional<std::uint32_t>(70));
  EXPECT_EQ(m.contentLength(), 0U);
}

// RFC 4475 §3.1.1.6 No LWS between Display Name and <: "Elements should accept this request as
// well formed."
TEST(Rfc4475, LwsdispNoSpaceBeforeLeftAngle) {
  auto p = parseFile("lwsdisp.dat");
  ASSERT_TRUE(p->loaded);
  ASSERT_TRUE(p->err.ok()) << describe(p->err);
  const Message& m = p->msg;

  EXPECT_EQ(m.method(), Method::Options);
  EXPECT_EQ(m.requestUriText(), "sip:user@example.com");
  EXPECT_EQ(m.from().displayName, "caller");
  EXPECT_FALSE(m.from().displayQuoted);
  EXPECT_TRUE(m.from().angleBrackets);
  EXPECT_EQ(m.from().uri.user, "caller");
  EXPECT_EQ(m.from().uri.host, "example.com");
  EXPECT_EQ(m.from().tag(), std::optional<std::string_view>("323"));
  EXPECT_FALSE(m.to().tag().has_value());
  EXPECT_TRUE(uriEquals(m.to().uri, m.requestUri()));
  EXPECT_EQ(m.callId(), "lwsdisp.1234abcd@funky.example.com");
  EXPECT_EQ(m.cseq().number, 60U);
  EXPECT_EQ(m.cseq().method, Method::Options);
  EXPECT_EQ(m.maxForwards(), std::optional<std::uint32_t>(70));
  EXPECT_EQ(m.topVia().host, "funky.example.com");
  EXPECT_EQ(m.topVia().branch, std::optional<std::string_view>("z9hG4bKkdjuw"));
  EXPECT_EQ(m.contentLength(), 0U);
}

// RFC 4475 §3.1.1.7 Long Values in Header Fields: many values and very long ones; no small fixed
// limits.
TEST(Rfc4475, LongreqLongValuesInHeaderFields) {
  auto p = parseFile("longreq.dat");
  ASSERT_TRUE(p->loaded);
  ASSERT_TRUE(p->err.ok()) << describe(p->err);
  const Message& m = p->msg;
  ASSERT_EQ(p->bytes.size(), 3515U);

  // To: 103-character quoted display name, port 6000, three long URI parameters, no tag.
  const std::string kDisplay = "I have a user name of " + rep("extreme", 10) + " proportion";
  ASSERT_EQ(kDisplay.size(), 103U);
  EXPECT_TRUE(m.to().displayQuoted);
  EXPECT_EQ(m.to().displayName, kDisplay);
  EXPECT_EQ(m.to().uri.user, "user");
  EXPECT_EQ(m.to().uri.host, "example.com");
  EXPECT_TRUE(m.to().uri.hasPort);
  EXPECT_EQ(m.to().uri.port, 6000);
  EXPECT_FALSE(m.to().tag().has_value());
  const std::string kP1Value = "verylong" + rep("long", 19) + "value";
  const std::string kP2Name = "longparam" + rep("name", 25);
  const std::string kP3Name = "verylong" + rep("long", 24) + "ParameterNameWithNoValue";
  ASSERT_EQ(kP1Value.size(), 89U);
  ASSERT_EQ(kP2Name.size(), 109U);
  ASSERT_EQ(kP3Name.size(), 128U);
  EXPECT_EQ(m.to().uri.params.size(), 3U);
  EXPECT_EQ(m.to().uri.param("unknownparam1"), std::optional<std::string_view>(kP1Value));
  EXPECT_EQ(m.to().uri.param(kP2Name), std::optional<std::string_view>("shortvalue"));
  ASSERT_TRUE(m.to().uri.params.find(kP3Name).has_value());
  EXPECT_FALSE(m.to().uri.params.find(kP3Name)->hasValue);

  // From (compact F:): 115-character user, 155-character tag, two long header parameters.
  const std::string kUser = rep("amazinglylongcallername", 5);
  const std::string kTag = "12" + rep("982", 50) + "424";
  const std::string kFromParamName = "unknownheaderparam" + rep("name", 20);
  const std::string kFromParamValue = "unknowheaderparam" + rep("value", 15);
  const std::string kValueless = "unknownValueless" + rep("paramname", 10);
  ASSERT_EQ(kUser.size(), 115U);
  ASSERT_EQ(kTag.size(), 155U);
  ASSERT_EQ(kFromParamName.size(), 98U);
  ASSERT_EQ(kFromParamValue.size(), 92U);
  ASSERT_EQ(kValueless.size(), 106U);
  EXPECT_EQ(m.find(H::From)->name, "F");
  EXPECT_EQ(m.from().uri.user, kUser);
  EXPECT_EQ(m.from().uri.host, "example.net");
  EXPECT_EQ(m.from().tag(), std::optional<std::string_view>(kTag));
  EXPECT_EQ(m.from().param(kFromParamName), std::optional<std::string_view>(kFromParamValue));
  ASSERT_TRUE(m.from().params.find(kValueless).has_value());
  EXPECT_FALSE(m.from().params.find(kValueless)->hasValue);
  EXPECT_EQ(m.from().params.size(), 3U);

  const std::string kCallId = "longreq.one" + rep("really", 20) + "longcallid";
  ASSERT_EQ(kCallId.size(), 141U);
  EXPECT_EQ(m.callId(), kCallId);
  EXPECT_EQ(m.cseq().number, 3882340U);
  EXPECT_EQ(m.cseq().method, Method::Invite);
  EXPECT_EQ(m.maxForwards(), std::optional<std::uint32_t>(70));

  // Unknown header: 93-character name, 306-character value.
  const std::string kUnknownName = "Unknown-" + rep("Long", 20) + "-Name";
  const std::string kUnknownValue = "unknown-" + rep("long", 20) + "-value; unknown-" + rep("long", 20) +
                                    "-parameter-name = unknown-" + rep("long", 20) + "-parameter-value";
  ASSERT_EQ(kUnknownName.size(), 93U);
  ASSERT_EQ(kUnknownValue.size(), 306U);
  EXPECT_EQ(m.header(kUnknownName), std::optional<std::string_view>(kUnknownValue));

  // 34 Via header lines, one value each, written in every case and spacing form.
  EXPECT_EQ(m.count(H::Via), 34U);
  EXPECT_EQ(m.viaCount(), 34U);
  std::vector<Via> vias = m.vias();
  ASSERT_EQ(vias.size(), 34U);
  for (int i = 0; i < 33; ++i) {
    SCOPED_TRACE(i);
    EXPECT_EQ(vias[i].transport, "TCP");
    EXPECT_EQ(vias[i].host, "sip" + std::to_string(33 - i) + ".example.com");
    EXPECT_FALSE(vias[i].branch.has_value());
  }
  const std::string kBranch = "verylong" + rep("long", 49) + "branchvalue";
  ASSERT_EQ(kBranch.size(), 215U);
  EXPECT_EQ(vias[33].host, "host.example.com");
  EXPECT_EQ(vias[33].received, std::optional<std::string_view>("192.0.2.5"));
  EXPECT_EQ(vias[33].branch, std::optional<std::string_view>(kBranch));
  EXPECT_FALSE(vias[33].isRfc3261Branch());
  EXPECT_FALSE(m.topVia().branch.has_value());
  EXPECT_EQ(m.topVia().host, "sip33.example.com");

  std::vector<Contact> contacts = m.contacts();
  ASSERT_EQ(contacts.size(), 1U);
  EXPECT_EQ(contacts[0].address.uri.user, kUser);
  EXPECT_EQ(contacts[0].address.uri.host, "host5.example.net");

  EXPECT_EQ(m.contentLength(), 150U);
  EXPECT_EQ(m.body(), std::string_view(p->bytes).substr(3365));

  // The To URI has a port the Request-URI lacks: different URIs (RFC 3261 §19.1.4).
  EXPECT_FALSE(uriEquals(m.to().uri, m.requestUri()));
}

// RFC 4475 §3.1.1.8 Extra Trailing Octets in a UDP Datagram: the octets after Content-Length bytes
// of body "are just spurious noise that must be ignored" (RFC 3261 §18.3), and a proxy forwarding
// the REGISTER must not include them.
TEST(Rfc4475, DblreqTrailingOctetsInDatagramAreIgnored) {
  auto p = parseFile("dblreq.dat");
  ASSERT_TRUE(p->loaded);
  ASSERT_TRUE(p->err.ok()) << describe(p->err);
  const Message& m = p->msg;
  ASSERT_EQ(p->bytes.size(), 750U);

  EXPECT_EQ(m.method(), Method::Register);
  EXPECT_EQ(m.requestUriText(), "sip:example.com");
  EXPECT_TRUE(m.hasContentLength());
  EXPECT_EQ(m.contentLength(), 0U);
  EXPECT_TRUE(m.body().empty());
  EXPECT_EQ(m.callId(), "dblreq.0ha0isndaksdj99sdfafnl3lk233412");
  EXPECT_EQ(m.find(H::CallId)->name, "I");
  EXPECT_EQ(m.cseq().number, 8U);
  EXPECT_EQ(m.cseq().method, Method::Register);
  EXPECT_EQ(m.maxForwards(), std::optional<std::uint32_t>(8));
  EXPECT_EQ(m.from().tag(), std::optional<std::string_view>("43251j3j324"));
  EXPECT_EQ(m.to().uri.user, "j.user");
  std::vector<Contact> contacts = m.contacts();
  ASSERT_EQ(contacts.size(), 1U);
  EXPECT_EQ(contacts[0].address.uri.host, "host.example.com");
  EXPECT_EQ(m.topVia().host, "192.0.2.125");
  EXPECT_EQ(m.topVia().branch, std::optional<std::string_view>("z9hG4bKkdjuw23492"));

  // Nothing of the trailing INVITE leaks into the message: its wire form is exactly the first 300
  // octets of the datagram (every header line there is already "Name: value").
  const std::string wire = toWire(m);
  EXPECT_EQ(wire, p->bytes.substr(0, 300));
  EXPECT_FALSE(contains(wire, "INVITE"));

  // On a stream (not the RFC scenario) the REGISTER is framed first, by its Content-Length.
  StreamFramer framer;
  framer.feed(p->bytes);
  Message out;
  StreamFramer::Result r = framer.next(out);
  ASSERT_EQ(r.status, S::Message) << describe(r.error);
  EXPECT_EQ(out.method(), Method::Register);
  EXPECT_TRUE(out.body().empty());
  EXPECT_EQ(framer.buffered(), 450U);
}

// RFC 4475 §3.1.1.9 Semicolon-Separated Parameters in URI User Part: "The Request-URI will parse so
// that the user part is 'user;par=u@example.net'."
TEST(Rfc4475, SemiuriSemicolonInUserPart) {
  auto p = parseFile("semiuri.dat");
  ASSERT_TRUE(p->loaded);
  ASSERT_TRUE(p->err.ok()) << describe(p->err);
  const Message& m = p->msg;

  const Uri& ruri = m.requestUri();
  EXPECT_EQ(ruri.user, "user;par=u%40example.net");
  EXPECT_EQ(ruri.userUnescaped(), "user;par=u@example.net");
  EXPECT_EQ(ruri.userUnescaped().size(), 22U);
  EXPECT_EQ(ruri.host, "example.com");
  EXPECT_TRUE(ruri.params.empty());
  EXPECT_FALSE(ruri.param("par").has_value());

  EXPECT_EQ(m.to().uri.user, "j_user");
  EXPECT_EQ(m.from().uri.host, "example.org");
  EXPECT_EQ(m.from().tag(), std::optional<std::string_view>("33242"));
  EXPECT_EQ(m.maxForwards(), std::optional<std::uint32_t>(3));
  EXPECT_EQ(m.callId(), "semiuri.0ha0isndaksdj");
  EXPECT_EQ(m.cseq().number, 8U);
  EXPECT_EQ(m.cseq().method, Method::Options);
  EXPECT_EQ(m.topVia().branch, std::optional<std::string_view>("z9hG4bKkdjuw"));

  // Accept, folded over three lines: six media ranges.
  std::vector<std::string> accept;
  m.forEachValue(H::Accept, [&](std::string_view v) {
    accept.emplace_back(v);
    return true;
  });
  const std::vector<std::string> kAccept = {"application/sdp", "application/pkcs7-mime",
                                            "multipart/mixed", "multipart/signed",
                                            "message/sip",     "message/sipfrag"};
  EXPECT_EQ(accept, kAccept);
  for (const std::string& a : accept) {
    MediaType mt;
    EXPECT_EQ(parseMediaType(a, mt), nullptr) << a;
  }

  // URI comparison: the host compares case-insensitively, the user part case-sensitively.
  auto upperHost = uriOf("sip:user;par=u%40example.net@EXAMPLE.COM");
  EXPECT_TRUE(uriEquals(ruri, upperHost->uri));
  auto upperUser = uriOf("sip:USER;par=u%40example.net@example.com");
  EXPECT_FALSE(uriEquals(ruri, upperUser->uri));
}

// RFC 4475 §3.1.1.10 Varied and Unknown Transport Types: "Parsers must accept this message as well
// formed."
TEST(Rfc4475, TransportsVariedAndUnknownTransports) {
  auto p = parseFile("transports.dat");
  ASSERT_TRUE(p->loaded);
  ASSERT_TRUE(p->err.ok()) << describe(p->err);
  const Message& m = p->msg;

  struct Hop {
    std::string_view transport, host, branch;
  };
  constexpr Hop kHops[] = {
      {"UDP", "t1.example.com", "z9hG4bKkdjuw"},     {"SCTP", "t2.example.com", "z9hG4bKklasjdhf"},
      {"TLS", "t3.example.com", "z9hG4bK2980unddj"}, {"UNKNOWN", "t4.example.com", "z9hG4bKasd0f3en"},
      {"TCP", "t5.example.com", "z9hG4bK0a9idfnee"},
  };
  std::vector<Via> vias = m.vias();
  ASSERT_EQ(vias.size(), std::size(kHops));
  for (std::size_t i = 0; i < vias.size(); ++i) {
    SCOPED_TRACE(i);
    EXPECT_EQ(vias[i].protocolName, "SIP");
    EXPECT_EQ(vias[i].protocolVersion, "2.0");
    EXPECT_EQ(vias[i].transport, kHops[i].transport);
    EXPECT_EQ(vias[i].host, kHops[i].host);
    EXPECT_EQ(vias[i].branch, std::optional<std::string_view>(kHops[i].branch));
  }
  EXPECT_EQ(m.callId(), "transports.kijh4akdnaqjkwendsasfdj");  // two spaces after the colon
  EXPECT_EQ(m.from().tag(), std::optional<std::string_view>("323"));
  EXPECT_EQ(m.cseq().number, 60U);
  EXPECT_EQ(m.cseq().method, Method::Options);
  EXPECT_EQ(m.header("Accept"), std::optional<std::string_view>("application/sdp"));
  EXPECT_EQ(m.maxForwards(), std::optional<std::uint32_t>(70));
}

// RFC 4475 §3.1.1.11 Multipart MIME Message: a binary part with NUL octets; "Receivers must take
// care to frame the received message properly."
TEST(Rfc4475, Mpart01MultipartBodyWithBinaryPart) {
  auto p = parseFile("mpart01.dat");
  ASSERT_TRUE(p->loaded);
  ASSERT_TRUE(p->err.ok()) << describe(p->err);
  const Message& m = p->msg;
  ASSERT_EQ(p->bytes.size(), 1290U);

  EXPECT_EQ(m.method(), Method::Message);
  EXPECT_EQ(m.requestUriText(), "sip:kumiko@example.org");
  EXPECT_EQ(m.topVia().host, "127.0.0.1");
  EXPECT_TRUE(m.topVia().hasPort);
  EXPECT_EQ(m.topVia().port, 5070);
  EXPECT_EQ(m.topVia().branch, std::optional<std::string_view>("z9hG4bK-d87543-4dade06d0bdb11ee-1--d87543-"));
  EXPECT_EQ(m.topVia().rport, std::optional<std::string_view>(""));  // present without a value

  ASSERT_TRUE(m.header("Content-Type").has_value());
  MediaType ct;
  ASSERT_EQ(parseMediaType(*m.header("Content-Type"), ct), nullptr);
  EXPECT_EQ(ct.type, "multipart");
  EXPECT_EQ(ct.subtype, "mixed");
  EXPECT_EQ(ct.params.value("boundary"), std::optional<std::string_view>("7a9cbec02ceef655"));

  EXPECT_EQ(m.header("Content-Transfer-Encoding"), std::optional<std::string_view>("binary"));
  std::vector<NameAddr> routes = m.routeSet(H::Route);
  ASSERT_EQ(routes.size(), 1U);
  EXPECT_EQ(routes[0].uri.host, "127.0.0.1");
  EXPECT_EQ(routes[0].uri.port, 5080);
  EXPECT_EQ(m.from().tag(), std::optional<std::string_view>("2fb0dcc9"));
  EXPECT_EQ(m.callId(), "3d9485ad0c49859b@Zmx1ZmZ5LW1hYy0xNi5sb2NhbA..");
  EXPECT_EQ(m.cseq().number, 1U);
  EXPECT_EQ(m.cseq().method, Method::Message);
  EXPECT_EQ(m.header("User-Agent"), std::optional<std::string_view>("SIPimp.org/0.2.5 (curses)"));
  ASSERT_TRUE(m.header("Identity").has_value());
  EXPECT_EQ(m.header("Identity")->size(), 172U);
  EXPECT_EQ(m.header("Identity")->substr(0, 16), "r5mwreLuyDRYBi/0");
  std::int64_t when = 0;
  ASSERT_TRUE(m.header("Date").has_value());
  EXPECT_EQ(parseDate(*m.header("Date"), when), nullptr);
  EXPECT_EQ(when, 1129351496);  // Sat, 15 Oct 2005 04:44:56 GMT

  // The body is framed by Content-Length only: 553 octets with two NULs and bare CR/LF.
  EXPECT_EQ(m.contentLength(), 553U);
  ASSERT_EQ(m.body().size(), 553U);
  EXPECT_EQ(m.body(), std::string_view(p->bytes).substr(737));
  EXPECT_EQ(std::count(m.body().begin(), m.body().end(), '\0'), 2);
  EXPECT_EQ(m.body().substr(0, 18), "--7a9cbec02ceef655");
  EXPECT_EQ(m.body().substr(531), "--7a9cbec02ceef655--\r\n");

  // The same on a stream.
  StreamFramer framer;
  framer.feed(p->bytes);
  Message out;
  StreamFramer::Result r = framer.next(out);
  ASSERT_EQ(r.status, S::Message) << describe(r.error);
  EXPECT_EQ(out.body(), m.body());
  EXPECT_EQ(framer.buffered(), 0U);
}

// RFC 4475 §3.1.1.12 Unusual Reason Phrase: unreserved and non-ASCII UTF-8 characters; "A parser
// must accept this message."
TEST(Rfc4475, UnreasonUtf8ReasonPhrase) {
  auto p = parseFile("unreason.dat");
  ASSERT_TRUE(p->loaded);
  ASSERT_TRUE(p->err.ok()) << describe(p->err);
  const Message& m = p->msg;

  EXPECT_TRUE(m.isResponse());
  EXPECT_EQ(m.statusCode(), 200);
  const std::string kReason = fromHex(
      "3d 20 32 2a 2a 33 20 2a 20 35 2a 2a 32 20 d0 bd d0 be 20 d1 81 d1 82 d0 be 20 d0 b4 d0 b5 d0 b2"
      "d1 8f d0 bd d0 be d1 81 d1 82 d0 be 20 d0 b4 d0 b5 d0 b2 d1 8f d1 82 d1 8c 20 2d 20 d0 bf d1 80"
      "d0 be d1 81 d1 82 d0 be d0 b5");
  ASSERT_EQ(kReason.size(), 74U);
  EXPECT_EQ(std::string(m.reason()), kReason);

  EXPECT_EQ(m.topVia().host, "192.0.2.198");
  EXPECT_EQ(m.topVia().branch, std::optional<std::string_view>("z9hG4bK1324923"));
  EXPECT_EQ(m.callId(), "unreason.1234ksdfak3j2erwedfsASdf");
  EXPECT_EQ(m.cseq().number, 35U);
  EXPECT_EQ(m.cseq().method, Method::Invite);
  EXPECT_EQ(m.from().tag(), std::optional<std::string_view>("11141343"));
  EXPECT_EQ(m.to().tag(), std::optional<std::string_view>("2229"));
  EXPECT_EQ(m.contentLength(), 154U);
  EXPECT_EQ(m.body().size(), 154U);
  std::vector<Contact> contacts = m.contacts();
  ASSERT_EQ(contacts.size(), 1U);
  EXPECT_EQ(contacts[0].address.uri.host, "host198.example.com");
}

// RFC 4475 §3.1.1.13 Empty Reason Phrase: "The space character after the reason code is required."
TEST(Rfc4475, NoreasonEmptyReasonPhrase) {
  auto p = parseFile("noreason.dat");
  ASSERT_TRUE(p->loaded);
  ASSERT_TRUE(p->err.ok()) << describe(p->err);
  const Message& m = p->msg;
  ASSERT_EQ(p->bytes.substr(0, 14), "SIP/2.0 100 \r\n");

  EXPECT_TRUE(m.isResponse());
  EXPECT_EQ(m.statusCode(), 100);
  EXPECT_TRUE(m.reason().empty());
  EXPECT_EQ(m.version(), "SIP/2.0");
  EXPECT_EQ(m.topVia().host, "192.0.2.105");
  EXPECT_EQ(m.topVia().branch, std::optional<std::string_view>("z9hG4bK2398ndaoe"));
  EXPECT_EQ(m.callId(), "noreason.asndj203insdf99223ndf");
  EXPECT_EQ(m.cseq().number, 35U);
  EXPECT_EQ(m.from().tag(), std::optional<std::string_view>("39ansfi3"));
  EXPECT_EQ(m.to().tag(), std::optional<std::string_view>("902jndnke3"));
  EXPECT_EQ(m.contentLength(), 0U);
  // Re-serialized with the required SP before the empty reason.
  EXPECT_EQ(toWire(m).substr(0, 14), "SIP/2.0 100 \r\n");
}

// ---------------------------------------------------------------------------------------------
// §3.1.2 Invalid messages
// ---------------------------------------------------------------------------------------------

// RFC 4475 §3.1.2.1 Extraneous Header Field Separators: "An element receiving this request should
// respond with a 400 Bad Request error." Via is the first bad header (empty params and values).
TEST(Rfc4475, Badinv01ExtraneousSeparatorsRejectedNamingVia) {
  auto p = parseFile("badinv01.dat");
  ASSERT_TRUE(p->loaded);
  expectRejected(p->err, K::BadHeaderValue, H::Via, 400);
  // The Contact ";;;;" is invalid on its own too.
  ASSERT_TRUE(p->msg.header("Contact").has_value());
  Contact c;
  EXPECT_NE(parseContact(*p->msg.header("Contact"), c), nullptr);
  // Contrast (wsinv.dat): the same separators in an unknown header are a valid opaque value.
  EXPECT_EQ(p->msg.callId(), "badinv01.0ha0isndaksdjasdf3234nas");
}

// RFC 4475 §3.1.2.2 Content Length Larger Than Message: over UDP "respond with a 400 Bad Request";
// over TCP wait for more data.
TEST(Rfc4475, ClerrContentLengthLargerThanMessage) {
  auto p = parseFile("clerr.dat");
  ASSERT_TRUE(p->loaded);
  expectRejected(p->err, K::BadContentLength, H::ContentLength, 400);
  EXPECT_TRUE(p->msg.canBuildResponse()) << "the 400 can be built";
  EXPECT_EQ(p->msg.contentLength(), 9999U);

  StreamFramer framer;
  framer.feed(p->bytes);
  Message out;
  StreamFramer::Result r = framer.next(out);
  EXPECT_EQ(r.status, S::NeedMore) << statusName(r.status) << " " << describe(r.error);
  EXPECT_EQ(framer.buffered(), p->bytes.size());
}

// RFC 4475 §3.1.2.3 Negative Content-Length: "respond with an error"; over UDP discard the rest,
// over TCP close the connection. The value must never be used as a length.
TEST(Rfc4475, NclNegativeContentLength) {
  auto p = parseFile("ncl.dat");
  ASSERT_TRUE(p->loaded);
  expectRejected(p->err, K::BadContentLength, H::ContentLength, 400);
  EXPECT_FALSE(p->msg.hasContentLength());
  EXPECT_LE(p->msg.body().size(), p->bytes.size());
  EXPECT_TRUE(p->msg.canBuildResponse());

  StreamFramer framer;
  framer.feed(p->bytes);
  Message out;
  StreamFramer::Result r = framer.next(out);
  EXPECT_EQ(r.status, S::Fatal);
  EXPECT_EQ(r.error.kind, K::BadContentLength);
  EXPECT_EQ(r.error.header, H::ContentLength);
  // The framing is lost for good.
  EXPECT_EQ(framer.next(out).status, S::Fatal);
}

// RFC 4475 §3.1.2.4 Request Scalar Fields with Overlarge Values: "respond with a 400 Bad Request due
// to the CSeq error" (CSeq is 2^65).
TEST(Rfc4475, Scalar02OverlargeCSeqRejected) {
  auto p = parseFile("scalar02.dat");
  ASSERT_TRUE(p->loaded);
  expectRejected(p->err, K::BadHeaderValue, H::CSeq, 400);
  EXPECT_EQ(p->msg.method(), Method::Register);
}

// RFC 4475 §3.1.2.5 Response Scalar Fields with Overlarge Values: "An element receiving this
// response will simply discard it." The CSeq (> 2^64) is the error.
TEST(Rfc4475, ScalarlgOverlargeResponseScalarsRejected) {
  auto p = parseFile("scalarlg.dat");
  ASSERT_TRUE(p->loaded);
  EXPECT_FALSE(p->err.ok());
  EXPECT_EQ(p->err.kind, K::BadHeaderValue) << describe(p->err);
  EXPECT_EQ(p->err.header, H::CSeq) << describe(p->err);
  EXPECT_TRUE(contains(p->err.reasonPhrase(), "CSeq"));
  // A response: the caller discards it instead of answering.
  EXPECT_TRUE(p->msg.isResponse());
  EXPECT_EQ(p->msg.statusCode(), 503);
}

// RFC 4475 §3.1.2.6 Unterminated Quoted String in Display Name: "return a 400 Bad Request".
TEST(Rfc4475, QuotbalUnterminatedQuotedStringRejectedNamingTo) {
  auto p = parseFile("quotbal.dat");
  ASSERT_TRUE(p->loaded);
  expectRejected(p->err, K::BadHeaderValue, H::To, 400);
  // The quoted string stops at the end of the To line: the following headers are intact.
  EXPECT_EQ(p->msg.from().tag(), std::optional<std::string_view>("93334"));
  EXPECT_EQ(p->msg.callId(), "quotbal.aksdj");
  EXPECT_EQ(p->msg.headers().size(), 9U);
}

// RFC 4475 §3.1.2.7 <> Enclosing Request-URI: "reasonable always to reject ... with a 400".
TEST(Rfc4475, LtgtruriAngleBracketsAroundRequestUriRejected) {
  auto p = parseFile("ltgtruri.dat");
  ASSERT_TRUE(p->loaded);
  expectRejected(p->err, K::BadRequestUri, H::Unknown, 400);
  EXPECT_TRUE(contains(p->err.reasonPhrase(), "Request-URI")) << p->err.reasonPhrase();
  EXPECT_TRUE(p->msg.canBuildResponse());
}

// RFC 4475 §3.1.2.8 Malformed SIP Request-URI (embedded LWS): "respond with a 400 Bad Request".
TEST(Rfc4475, LwsruriWhiteSpaceInRequestUriRejected) {
  auto p = parseFile("lwsruri.dat");
  ASSERT_TRUE(p->loaded);
  expectRejected(p->err, K::BadRequestUri, H::Unknown, 400);
  EXPECT_TRUE(contains(p->err.reasonPhrase(), "Request-URI")) << p->err.reasonPhrase();
  EXPECT_TRUE(p->msg.canBuildResponse());
}

// RFC 4475 §3.1.2.9 Multiple SP Separating Request-Line Elements: rejecting is acceptable (being
// liberal is allowed); sipwarden rejects with 400.
TEST(Rfc4475, LwsstartMultipleSpacesInRequestLineRejected) {
  auto p = parseFile("lwsstart.dat");
  ASSERT_TRUE(p->loaded);
  expectRejected(p->err, K::BadStartLine, H::Unknown, 400);
  EXPECT_TRUE(contains(p->err.reasonPhrase(), "Request-Line")) << p->err.reasonPhrase();
  EXPECT_TRUE(p->msg.canBuildResponse());
}

// RFC 4475 §3.1.2.10 SP Characters at End of Request-Line: rejecting is acceptable; sipwarden
// rejects with 400.
TEST(Rfc4475, TrwsTrailingSpacesInRequestLineRejected) {
  auto p = parseFile("trws.dat");
  ASSERT_TRUE(p->loaded);
  expectRejected(p->err, K::BadStartLine, H::Unknown, 400);
  EXPECT_TRUE(contains(p->err.reasonPhrase(), "Request-Line")) << p->err.reasonPhrase();
  EXPECT_TRUE(p->msg.canBuildResponse());
}

// RFC 4475 §3.1.2.11 Escaped Headers in SIP Request-URI: rejecting with 400 is acceptable
// (RFC 3261 §19.1.1: headers are not allowed in a Request-URI); sipwarden rejects.
TEST(Rfc4475, EscruriHeadersInRequestUriRejected) {
  auto p = parseFile("escruri.dat");
  ASSERT_TRUE(p->loaded);
  expectRejected(p->err, K::BadRequestUri, H::Unknown, 400);
  EXPECT_TRUE(contains(p->err.reasonPhrase(), "Request-URI")) << p->err.reasonPhrase();
  EXPECT_TRUE(p->msg.canBuildResponse());
}

// RFC 4475 §3.1.2.12 Invalid Time Zone in Date Header Field: an element "shouldn't" reject unless
// Date matters to it. sipwarden parses Date lazily: the message is accepted, and the strict Date
// parser rejects the value, naming GMT.
TEST(Rfc4475, BaddateAcceptedAndDateParsedLazily) {
  auto p = parseFile("baddate.dat");
  ASSERT_TRUE(p->loaded);
  ASSERT_TRUE(p->err.ok()) << describe(p->err);
  const Message& m = p->msg;
  EXPECT_EQ(m.method(), Method::Invite);
  EXPECT_EQ(m.callId(), "baddate.239423mnsadf3j23lj42--sedfnm234");
  EXPECT_EQ(m.body().size(), 150U);

  ASSERT_TRUE(m.header("Date").has_value());
  EXPECT_EQ(*m.header("Date"), "Fri, 01 Jan 2010 16:00:00 EST");
  std::int64_t when = -1;
  Why why = parseDate(*m.header("Date"), when);
  ASSERT_NE(why, nullptr);
  EXPECT_TRUE(contains(why, "GMT")) << why;

  // The same parser accepts a valid SIP-date (RFC 3261 §20.17).
  std::int64_t ok = 0;
  EXPECT_EQ(parseDate("Sat, 13 Nov 2010 23:29:00 GMT", ok), nullptr);
  EXPECT_EQ(ok, 1289690940);
  // "UT", "UTC" and "UCT" are not GMT either (§3.1.2.12).
  EXPECT_NE(parseDate("Sat, 13 Nov 2010 23:29:00 UTC", ok), nullptr);
}

// RFC 4475 §3.1.2.13 Failure to Enclose name-addr URI in <>: a Contact URI with an escaped header
// must use <>; "reasonable ... to respond with a 400 Bad Request". sipwarden rejects.
TEST(Rfc4475, RegbadctContactUriWithHeaderNotInAngleBracketsRejected) {
  auto p = parseFile("regbadct.dat");
  ASSERT_TRUE(p->loaded);
  expectRejected(p->err, K::BadHeaderValue, H::Contact, 400);
  EXPECT_TRUE(p->msg.canBuildResponse());
}

// RFC 4475 §3.1.2.14 Spaces within addr-spec: "reasonable to reject this request with a 400";
// sipwarden rejects, naming To.
TEST(Rfc4475, BadaspecSpacesInsideAngleBracketsRejectedNamingTo) {
  auto p = parseFile("badaspec.dat");
  ASSERT_TRUE(p->loaded);
  expectRejected(p->err, K::BadHeaderValue, H::To, 400);
  // The quoted "Bell, Alexander" in From is fine.
  EXPECT_EQ(p->msg.from().displayName, "Bell, Alexander");
  EXPECT_EQ(p->msg.from().tag(), std::optional<std::string_view>("433423"));
}

// RFC 4475 §3.1.2.15 Non-token Characters in Display Name: "reasonable always to reject this kind of
// error with a 400 Bad Request". From comes first. The file has no empty line after its headers.
TEST(Rfc4475, BaddnUnquotedNonTokenDisplayNameRejectedNamingFrom) {
  auto p = parseFile("baddn.dat");
  ASSERT_TRUE(p->loaded);
  ASSERT_EQ(p->bytes.size(), 331U);
  ASSERT_EQ(p->bytes.find("\r\n\r\n"), std::string::npos);
  // The datagram boundary ends the header section; the error is the display name, not framing.
  expectRejected(p->err, K::BadHeaderValue, H::From, 400);

  // With the missing empty line added, the same error.
  Message m2;
  const std::string completed = p->bytes + "\r\n";
  ParseError e2 = parseMessage(completed, m2);
  expectRejected(e2, K::BadHeaderValue, H::From, 400);
  // To is just as bad.
  ASSERT_TRUE(m2.header("To").has_value());
  NameAddr to;
  EXPECT_NE(parseNameAddr(*m2.header("To"), to), nullptr);

  // On a stream the header section never ends: the framer waits (and does not report a 400).
  StreamFramer framer;
  framer.feed(p->bytes);
  Message out;
  EXPECT_EQ(framer.next(out).status, S::NeedMore);
}

// RFC 4475 §3.1.2.16 Unknown Protocol Version: "respond to the request with a 505 Version Not
// Supported error".
TEST(Rfc4475, BadversUnknownVersionGets505) {
  auto p = parseFile("badvers.dat");
  ASSERT_TRUE(p->loaded);
  expectRejected(p->err, K::BadVersion, H::Unknown, 505);
  EXPECT_EQ(p->msg.version(), "SIP/7.0");
  EXPECT_TRUE(contains(p->err.reasonPhrase(), "Version")) << p->err.reasonPhrase();
  EXPECT_TRUE(p->msg.canBuildResponse()) << "the 505 can be built";
}

// RFC 4475 §3.1.2.17 Start Line and CSeq Method Mismatch: "Any element receiving this request will
// respond with a 400 Bad Request."
TEST(Rfc4475, Mismatch01CSeqMethodMismatchGets400) {
  auto p = parseFile("mismatch01.dat");
  ASSERT_TRUE(p->loaded);
  expectRejected(p->err, K::CSeqMismatch, H::CSeq, 400);
  EXPECT_EQ(p->msg.method(), Method::Options);
  EXPECT_EQ(p->msg.cseq().method, Method::Invite);
  EXPECT_TRUE(p->msg.canBuildResponse());
}

// RFC 4475 §3.1.2.18 Unknown Method with CSeq Method Mismatch: "should respond with a 501 Not
// Implemented. A 400 Bad Request is also acceptable"; sipwarden answers 501.
TEST(Rfc4475, Mismatch02UnknownMethodWithCSeqMismatchGets501) {
  auto p = parseFile("mismatch02.dat");
  ASSERT_TRUE(p->loaded);
  expectRejected(p->err, K::UnknownMethodMismatch, H::CSeq, 501);
  EXPECT_EQ(p->msg.methodText(), "NEWMETHOD");
  EXPECT_EQ(p->msg.method(), Method::Extension);
  EXPECT_TRUE(p->msg.canBuildResponse());
  EXPECT_EQ(p->msg.body().size(), 138U);
}

// RFC 4475 §3.1.2.19 Overlarge Response Code: "An element receiving this response should simply
// drop it." 4294967301 = 2^32 + 5 must not wrap to 5.
TEST(Rfc4475, BigcodeOverlargeStatusCodeRejected) {
  auto p = parseFile("bigcode.dat");
  ASSERT_TRUE(p->loaded);
  EXPECT_EQ(p->err.kind, K::BadStartLine) << describe(p->err);
  EXPECT_EQ(p->err.header, H::Unknown);
  EXPECT_TRUE(p->msg.isResponse()) << "a response: dropped, never answered";
  EXPECT_NE(p->msg.statusCode(), 5) << "status code wrapped around 2^32";
  EXPECT_FALSE(p->msg.statusCode() >= 100 && p->msg.statusCode() <= 699);
}

// ---------------------------------------------------------------------------------------------
// §3.2 Transaction layer
// ---------------------------------------------------------------------------------------------

// RFC 4475 §3.2.1 Missing Transaction Identifier: "A parser must not break"; the branch is the bare
// magic cookie, which is not an RFC 3261 transaction id.
TEST(Rfc4475, BadbranchBareMagicCookieIsNotAnRfc3261Branch) {
  auto p = parseFile("badbranch.dat");
  ASSERT_TRUE(p->loaded);
  ASSERT_TRUE(p->err.ok()) << describe(p->err);
  const Message& m = p->msg;
  EXPECT_EQ(m.method(), Method::Options);
  EXPECT_EQ(m.topVia().host, "192.0.2.1");
  EXPECT_EQ(m.topVia().branch, std::optional<std::string_view>("z9hG4bK"));
  EXPECT_FALSE(m.topVia().isRfc3261Branch());
  EXPECT_EQ(m.from().tag(), std::optional<std::string_view>("33242"));
  EXPECT_EQ(m.maxForwards(), std::optional<std::uint32_t>(3));
  EXPECT_EQ(m.callId(), "badbranch.sadonfo23i420jv0as0derf3j3n");
  EXPECT_EQ(m.cseq().number, 8U);
  EXPECT_EQ(m.cseq().method, Method::Options);
  EXPECT_EQ(m.header("Accept"), std::optional<std::string_view>("application/sdp"));
}

// ---------------------------------------------------------------------------------------------
// §3.3 Application layer
// ---------------------------------------------------------------------------------------------

// RFC 4475 §3.3.1 Missing Required Header Fields: no Call-ID, From or To; "Ideally, it will respond
// with a 400 Bad Request error." The first missing one (From) is named.
TEST(Rfc4475, InsufMissingRequiredHeadersRejectedNamingFrom) {
  auto p = parseFile("insuf.dat");
  ASSERT_TRUE(p->loaded);
  expectRejected(p->err, K::MissingHeader, H::From, 400);
  const Message& m = p->msg;
  EXPECT_FALSE(m.canBuildResponse());
  EXPECT_EQ(m.find(H::From), nullptr);
  EXPECT_EQ(m.find(H::To), nullptr);
  EXPECT_EQ(m.find(H::CallId), nullptr);
  EXPECT_TRUE(m.hasVia());
  EXPECT_EQ(m.topVia().branch, std::optional<std::string_view>("z9hG4bKkdj.insuf"));
  EXPECT_EQ(m.cseq().number, 193942U);
  EXPECT_EQ(m.body().size(), 152U);
}

// RFC 4475 §3.3.2 Request-URI with Unknown Scheme: "An element receiving this request will reject it
// with a 416 Unsupported URI Scheme response."
TEST(Rfc4475, UnkscmUnknownRequestUriSchemeGets416) {
  auto p = parseFile("unkscm.dat");
  ASSERT_TRUE(p->loaded);
  expectRejected(p->err, K::UnsupportedScheme, H::Unknown, 416);
  EXPECT_TRUE(p->msg.canBuildResponse());
  const Uri& ruri = p->msg.requestUri();
  EXPECT_EQ(ruri.scheme, UriScheme::Other);
  EXPECT_EQ(ruri.schemeText, "nobodyKnowsThisScheme");
  EXPECT_EQ(ruri.opaque, "totallyopaquecontent");
  EXPECT_EQ(p->msg.to().uri.scheme, UriScheme::Sip);
  EXPECT_EQ(p->msg.cseq().number, 3923423U);
  EXPECT_EQ(p->msg.maxForwards(), std::optional<std::uint32_t>(3));
  // Other schemes compare as text, with a case-insensitive scheme name.
  auto upperScheme = uriOf("NOBODYKNOWSTHISSCHEME:totallyopaquecontent");
  EXPECT_TRUE(uriEquals(ruri, upperScheme->uri));
  auto otherCase = uriOf("nobodyKnowsThisScheme:TotallyOpaqueContent");
  EXPECT_FALSE(uriEquals(ruri, otherCase->uri));
}

// RFC 4475 §3.3.3 Request-URI with Known but Atypical Scheme: "appropriate to treat it as unknown and
// return a 416".
TEST(Rfc4475, NovelscAtypicalRequestUriSchemeGets416) {
  auto p = parseFile("novelsc.dat");
  ASSERT_TRUE(p->loaded);
  expectRejected(p->err, K::UnsupportedScheme, H::Unknown, 416);
  EXPECT_TRUE(p->msg.canBuildResponse());
  EXPECT_EQ(p->msg.requestUri().scheme, UriScheme::Other);
  EXPECT_EQ(p->msg.requestUri().schemeText, "soap.beep");
  EXPECT_EQ(p->msg.requestUri().opaque, "//192.0.2.103:3002");
}

// RFC 4475 §3.3.4 Unknown URI Schemes in Header Fields: "syntactically valid. Parsers must not fail";
// a registrar rejects it (To must be a SIP or SIPS AOR).
TEST(Rfc4475, Unksm2UnknownSchemesInHeaderFieldsParse) {
  auto p = parseFile("unksm2.dat");
  ASSERT_TRUE(p->loaded);
  ASSERT_TRUE(p->err.ok()) << describe(p->err);
  const Message& m = p->msg;
  EXPECT_EQ(m.method(), Method::Register);
  EXPECT_EQ(m.requestUri().scheme, UriScheme::Sip);

  EXPECT_EQ(m.to().uri.scheme, UriScheme::Other);
  EXPECT_FALSE(m.to().uri.isSip()) << "what a registrar checks before answering 400";
  EXPECT_EQ(m.to().uri.schemeText, "isbn");
  EXPECT_EQ(m.to().uri.opaque, "2983792873");
  EXPECT_FALSE(m.to().angleBrackets);
  EXPECT_FALSE(m.to().tag().has_value());

  EXPECT_EQ(m.from().uri.scheme, UriScheme::Other);
  EXPECT_EQ(m.from().uri.schemeText, "http");
  EXPECT_EQ(m.from().tag(), std::optional<std::string_view>("3234233"));

  std::vector<Contact> contacts = m.contacts();
  ASSERT_EQ(contacts.size(), 1U);
  EXPECT_EQ(contacts[0].address.uri.scheme, UriScheme::Other);
  EXPECT_EQ(contacts[0].address.uri.schemeText, "name");
  EXPECT_EQ(contacts[0].address.uri.opaque, "John_Smith");

  EXPECT_EQ(m.cseq().number, 234902U);
  EXPECT_EQ(m.topVia().host, "192.0.2.21");
  EXPECT_EQ(m.topVia().port, 5060);
  EXPECT_EQ(m.topVia().branch, std::optional<std::string_view>("z9hG4bKkdjuw"));
}

// RFC 4475 §3.3.5 Proxy-Require and Require: the 420 lists the option tags of Proxy-Require (proxy)
// or Require (UAS), so both must be readable one tag at a time.
TEST(Rfc4475, Bext01RequireAndProxyRequireOptionTags) {
  auto p = parseFile("bext01.dat");
  ASSERT_TRUE(p->loaded);
  ASSERT_TRUE(p->err.ok()) << describe(p->err);
  const Message& m = p->msg;

  auto tags = [&](HeaderId id) {
    std::vector<std::string> out;
    m.forEachValue(id, [&](std::string_view v) {
      out.emplace_back(v);
      return true;
    });
    return out;
  };
  EXPECT_EQ(tags(H::Require), (std::vector<std::string>{"nothingSupportsThis", "nothingSupportsThisEither"}));
  EXPECT_EQ(tags(H::ProxyRequire), (std::vector<std::string>{"noProxiesSupportThis", "norDoAnyProxiesSupportThis"}));
  EXPECT_EQ(m.topVia().transport, "TLS");
  EXPECT_EQ(m.topVia().host, "fold-and-staple.example.com");
  EXPECT_EQ(m.cseq().number, 8U);
  EXPECT_EQ(m.cseq().method, Method::Options);
}

// RFC 4475 §3.3.6 Unknown Content-Type: "A parser must not fail"; a UAS answers 415.
TEST(Rfc4475, InvutUnknownContentTypeParses) {
  auto p = parseFile("invut.dat");
  ASSERT_TRUE(p->loaded);
  ASSERT_TRUE(p->err.ok()) << describe(p->err);
  const Message& m = p->msg;
  ASSERT_TRUE(m.header("Content-Type").has_value());
  MediaType ct;
  ASSERT_EQ(parseMediaType(*m.header("Content-Type"), ct), nullptr);
  EXPECT_EQ(ct.type, "application");
  EXPECT_EQ(ct.subtype, "unknownformat");
  EXPECT_EQ(m.contentLength(), 40U);
  EXPECT_EQ(m.body(), "<audio>\r\n <pcmu port=\"443\"/>\r\n</audio>\r\n");
  EXPECT_EQ(m.cseq().number, 235448U);
  EXPECT_EQ(m.cseq().method, Method::Invite);
  EXPECT_EQ(m.from().tag(), std::optional<std::string_view>("8392034"));
}

// RFC 4475 §3.3.7 Unknown Authorization Scheme: "The request is well formed. A parser must not fail";
// a registrar that cares answers 401 with a scheme it understands.
TEST(Rfc4475, Regaut01UnknownAuthorizationScheme) {
  auto p = parseFile("regaut01.dat");
  ASSERT_TRUE(p->loaded);
  ASSERT_TRUE(p->err.ok()) << describe(p->err);
  const Message& m = p->msg;
  EXPECT_EQ(m.method(), Method::Register);

  ASSERT_TRUE(m.header("Authorization").has_value());
  AuthValue auth;
  ASSERT_EQ(parseAuth(*m.header("Authorization"), auth), nullptr);
  EXPECT_EQ(auth.scheme, "NoOneKnowsThisScheme");
  EXPECT_FALSE(auth.isDigest());
  EXPECT_EQ(auth.param("opaque-data"), std::optional<std::string_view>("here"));
  EXPECT_TRUE(auth.username.empty());

  EXPECT_EQ(m.contentLength(), 0U);  // "Content-Length:0"
  EXPECT_EQ(m.cseq().number, 9338U);
  EXPECT_EQ(m.from().tag(), std::optional<std::string_view>("87321hj23128"));
  EXPECT_EQ(m.topVia().transport, "TCP");
  EXPECT_EQ(m.topVia().host, "192.0.2.253");
}

// RFC 4475 §3.3.8 Multiple Values in Single Value Required Fields: "respond with a 400 Bad Request".
// Duplicates are reported at their second occurrence; CSeq's comes first in the file.
TEST(Rfc4475, Multi01DuplicateSingleValueHeadersRejected) {
  auto p = parseFile("multi01.dat");
  ASSERT_TRUE(p->loaded);
  expectRejected(p->err, K::DuplicateHeader, H::CSeq, 400);
  EXPECT_EQ(p->msg.count(H::CSeq), 2U);
  EXPECT_EQ(p->msg.count(H::CallId), 2U);
  EXPECT_EQ(p->msg.count(H::From), 2U);
  EXPECT_EQ(p->msg.count(H::To), 2U);
  EXPECT_EQ(p->msg.count(H::MaxForwards), 2U);
  // Two Contact headers are legal.
  EXPECT_EQ(p->msg.contacts().size(), 2U);
}

// RFC 4475 §3.3.9 Multiple Content-Length Values: "equivalent to an invalid Content-Length value";
// respond with an error (UDP), close the connection (TCP). Never pick one of the values.
TEST(Rfc4475, Mcl01ConflictingContentLengthsRejected) {
  auto p = parseFile("mcl01.dat");
  ASSERT_TRUE(p->loaded);
  expectRejected(p->err, K::DuplicateHeader, H::ContentLength, 400);
  EXPECT_EQ(p->msg.count(H::ContentLength), 2U);

  StreamFramer framer;
  framer.feed(p->bytes);
  Message out;
  StreamFramer::Result r = framer.next(out);
  EXPECT_EQ(r.status, S::Fatal);
  EXPECT_EQ(r.error.kind, K::BadContentLength);
  EXPECT_EQ(r.error.header, H::ContentLength);
}

// RFC 4475 §3.3.10 200 OK Response with Broadcast Via Header Field Value: "parsers must not fail";
// proxies drop it, which needs the second Via's sent-by.
TEST(Rfc4475, BcastBroadcastViaInResponse) {
  auto p = parseFile("bcast.dat");
  ASSERT_TRUE(p->loaded);
  ASSERT_TRUE(p->err.ok()) << describe(p->err);
  const Message& m = p->msg;
  EXPECT_TRUE(m.isResponse());
  EXPECT_EQ(m.statusCode(), 200);
  EXPECT_EQ(m.reason(), "OK");
  std::vector<Via> vias = m.vias();
  ASSERT_EQ(vias.size(), 2U);
  EXPECT_EQ(vias[0].host, "192.0.2.198");
  EXPECT_EQ(vias[0].branch, std::optional<std::string_view>("z9hG4bK1324923"));
  EXPECT_EQ(vias[1].transport, "UDP");
  EXPECT_EQ(vias[1].host, "255.255.255.255");
  EXPECT_EQ(vias[1].hostKind, HostKind::IPv4);
  EXPECT_EQ(vias[1].branch, std::optional<std::string_view>("z9hG4bK1saber23"));
  EXPECT_EQ(m.callId(), "bcast.0384840201234ksdfak3j2erwedfsASdf");
  EXPECT_EQ(m.cseq().number, 35U);
  EXPECT_EQ(m.contentLength(), 154U);
  EXPECT_EQ(m.body().size(), 154U);
}

// RFC 4475 §3.3.11 Max-Forwards of Zero: "a legal SIP request"; a proxy answers 483, an endpoint
// processes it. Zero must parse as zero, not as absent.
TEST(Rfc4475, ZeromfMaxForwardsZero) {
  auto p = parseFile("zeromf.dat");
  ASSERT_TRUE(p->loaded);
  ASSERT_TRUE(p->err.ok()) << describe(p->err);
  const Message& m = p->msg;
  EXPECT_EQ(m.method(), Method::Options);
  EXPECT_EQ(m.requestUriText(), "sip:user@example.com");
  ASSERT_TRUE(m.maxForwards().has_value());
  EXPECT_EQ(*m.maxForwards(), 0U);
  EXPECT_EQ(m.cseq().number, 39234321U);
  EXPECT_EQ(m.topVia().branch, std::optional<std::string_view>("z9hG4bKkdjuw2349i"));
}

// RFC 4475 §3.3.12 REGISTER with a Contact Header Parameter: "'unknownparam' must be interpreted as a
// contact-param and not a url-param."
TEST(Rfc4475, Cparam01UnknownParamIsContactParam) {
  auto p = parseFile("cparam01.dat");
  ASSERT_TRUE(p->loaded);
  ASSERT_TRUE(p->err.ok()) << describe(p->err);
  std::vector<Contact> contacts = p->msg.contacts();
  ASSERT_EQ(contacts.size(), 1U);
  const NameAddr& a = contacts[0].address;
  EXPECT_FALSE(a.angleBrackets);
  EXPECT_EQ(a.uri.user, "+19725552222");
  EXPECT_EQ(a.uri.host, "gw1.example.net");
  EXPECT_TRUE(a.uri.params.empty()) << "not a url-parameter";
  ASSERT_TRUE(a.params.find("unknownparam").has_value());
  EXPECT_FALSE(a.params.find("unknownparam")->hasValue);
  EXPECT_EQ(a.params.size(), 1U);
  EXPECT_EQ(p->msg.from().tag(), std::optional<std::string_view>("DkfVgjkrtMwaerKKpe"));
  EXPECT_EQ(p->msg.cseq().number, 2U);
  EXPECT_EQ(p->msg.topVia().host, "saturn.example.com");
  EXPECT_EQ(p->msg.topVia().port, 5060);
}

// RFC 4475 §3.3.13 REGISTER with a url-parameter: "a subsequent retrieval of the registration must
// include 'unknownparam' as a url-parameter." The exact counterpart of cparam01.
TEST(Rfc4475, Cparam02UnknownParamIsUriParam) {
  auto p = parseFile("cparam02.dat");
  ASSERT_TRUE(p->loaded);
  ASSERT_TRUE(p->err.ok()) << describe(p->err);
  std::vector<Contact> contacts = p->msg.contacts();
  ASSERT_EQ(contacts.size(), 1U);
  const NameAddr& a = contacts[0].address;
  EXPECT_TRUE(a.angleBrackets);
  EXPECT_EQ(a.uri.user, "+19725552222");
  EXPECT_EQ(a.uri.host, "gw1.example.net");
  ASSERT_TRUE(a.uri.params.find("unknownparam").has_value());
  EXPECT_FALSE(a.uri.params.find("unknownparam")->hasValue);
  EXPECT_EQ(a.uri.params.size(), 1U);
  EXPECT_TRUE(a.params.empty()) << "no contact-params";
  EXPECT_EQ(p->msg.from().tag(), std::optional<std::string_view>("838293"));
  EXPECT_EQ(p->msg.cseq().number, 3U);

  // Compared with cparam01's Contact URI, unknownparam appears in one URI only and is ignored by
  // RFC 3261 §19.1.4 comparison: the two bindings are the same URI.
  auto c1 = parseFile("cparam01.dat");
  ASSERT_TRUE(c1->err.ok());
  std::vector<Contact> contacts1 = c1->msg.contacts();
  ASSERT_EQ(contacts1.size(), 1U);
  EXPECT_TRUE(uriEquals(a.uri, contacts1[0].address.uri));
}

// RFC 4475 §3.3.14 REGISTER with a URL Escaped Header: the registration "must include the escaped
// Route header in the contact URI".
TEST(Rfc4475, RegescrtContactUriHeaderKept) {
  auto p = parseFile("regescrt.dat");
  ASSERT_TRUE(p->loaded);
  ASSERT_TRUE(p->err.ok()) << describe(p->err);
  const Message& m = p->msg;
  EXPECT_EQ(m.find(H::Contact)->name, "M");
  std::vector<Contact> contacts = m.contacts();
  ASSERT_EQ(contacts.size(), 1U);
  const Uri& u = contacts[0].address.uri;
  EXPECT_EQ(u.user, "user");
  EXPECT_EQ(u.host, "example.com");
  EXPECT_EQ(u.headers, "Route=%3Csip:sip.example.com%3E");
  const std::size_t eq = u.headers.find('=');
  ASSERT_NE(eq, std::string_view::npos);
  EXPECT_EQ(u.headers.substr(0, eq), "Route");
  EXPECT_EQ(unescape(u.headers.substr(eq + 1)), "<sip:sip.example.com>");
  EXPECT_EQ(m.contentLength(), 0U);  // "L:0"
  EXPECT_EQ(m.from().tag(), std::optional<std::string_view>("8"));
  EXPECT_EQ(m.cseq().number, 14398234U);
  EXPECT_EQ(m.cseq().method, Method::Register);

  // URI headers are never ignored in comparisons (RFC 3261 §19.1.4).
  auto bare = uriOf("sip:user@example.com");
  EXPECT_FALSE(uriEquals(u, bare->uri));
  auto same = uriOf("sip:user@example.com?Route=%3csip:sip.example.com%3e");
  EXPECT_TRUE(uriEquals(u, same->uri));
}

// RFC 4475 §3.3.15 Unacceptable Accept Offering: the UAS answers 406 (or 400) since Accept lacks
// application/sdp.
TEST(Rfc4475, Sdp01AcceptWithoutSdp) {
  auto p = parseFile("sdp01.dat");
  ASSERT_TRUE(p->loaded);
  ASSERT_TRUE(p->err.ok()) << describe(p->err);
  const Message& m = p->msg;
  std::vector<std::string> accept;
  m.forEachValue(H::Accept, [&](std::string_view v) {
    accept.emplace_back(v);
    return true;
  });
  ASSERT_EQ(accept.size(), 1U);
  MediaType mt;
  ASSERT_EQ(parseMediaType(accept[0], mt), nullptr);
  EXPECT_EQ(mt.type, "text");
  EXPECT_EQ(mt.subtype, "nobodyKnowsThis");
  EXPECT_EQ(m.header("Content-Type"), std::optional<std::string_view>("application/sdp"));
  EXPECT_EQ(m.contentLength(), 150U);
  EXPECT_EQ(m.body().size(), 150U);
  EXPECT_EQ(m.cseq().number, 8U);
  EXPECT_EQ(m.cseq().method, Method::Invite);
  EXPECT_EQ(m.from().tag(), std::optional<std::string_view>("234"));
}

// ---------------------------------------------------------------------------------------------
// §3.4 Backward compatibility
// ---------------------------------------------------------------------------------------------

// RFC 4475 §3.4.1 INVITE with RFC 2543 Syntax: "should be accepted by RFC 3261 elements that want to
// maintain backwards compatibility". No branch, no From tag, no Max-Forwards, no Content-Length
// ("The body is assumed to be all octets in the datagram after the null-line").
TEST(Rfc4475, Inv2543Rfc2543SyntaxAccepted) {
  auto p = parseFile("inv2543.dat");
  ASSERT_TRUE(p->loaded);
  ASSERT_TRUE(p->err.ok()) << describe(p->err);
  const Message& m = p->msg;

  EXPECT_EQ(m.method(), Method::Invite);
  EXPECT_EQ(m.requestUriText(), "sip:UserB@example.com");
  ASSERT_TRUE(m.hasVia());
  EXPECT_EQ(m.topVia().host, "iftgw.example.com");
  EXPECT_FALSE(m.topVia().branch.has_value());
  EXPECT_FALSE(m.topVia().isRfc3261Branch());

  EXPECT_TRUE(m.from().angleBrackets);
  EXPECT_FALSE(m.from().tag().has_value());
  EXPECT_EQ(m.from().uri.user, "+13035551111");
  EXPECT_EQ(m.from().uri.param("user"), std::optional<std::string_view>("phone"));  // URI param in <>
  EXPECT_TRUE(m.from().params.empty());

  // To is an addr-spec: ";user=phone" is a header parameter under RFC 3261.
  EXPECT_FALSE(m.to().angleBrackets);
  EXPECT_FALSE(m.to().tag().has_value());
  EXPECT_EQ(m.to().uri.user, "+16505552222");
  EXPECT_TRUE(m.to().uri.params.empty());
  EXPECT_EQ(m.to().param("user"), std::optional<std::string_view>("phone"));

  EXPECT_FALSE(m.maxForwards().has_value());
  EXPECT_FALSE(m.hasContentLength());
  EXPECT_EQ(m.find(H::ContentLength), nullptr);
  const std::string kBody =
      "v=0\r\no=mhandley 29739 7272939 IN IP4 192.0.2.5\r\ns=-\r\nc=IN IP4 192.0.2.5\r\nt=0 0\r\n"
      "m=audio 49217 RTP/AVP 0\r\n";
  ASSERT_EQ(kBody.size(), 105U);
  EXPECT_EQ(m.body(), kBody);

  std::vector<NameAddr> rr = m.routeSet(H::RecordRoute);
  ASSERT_EQ(rr.size(), 1U);
  EXPECT_EQ(rr[0].uri.user, "UserB");
  EXPECT_EQ(rr[0].uri.param("maddr"), std::optional<std::string_view>("ss1.example.com"));

  EXPECT_EQ(m.callId(), "inv2543.1717@ift.client.example.com");
  EXPECT_EQ(m.cseq().number, 56U);
  EXPECT_EQ(m.cseq().method, Method::Invite);
  EXPECT_EQ(m.header("Content-Type"), std::optional<std::string_view>("application/sdp"));

  // URI comparison (RFC 3261 §19.1.4): a "user" parameter present in one URI only makes them differ.
  auto noUserParam = uriOf("sip:+13035551111@ift.client.example.net");
  EXPECT_FALSE(uriEquals(m.from().uri, noUserParam->uri));
  auto toUri = uriOf("sip:+16505552222@ss1.example.net");
  EXPECT_TRUE(uriEquals(m.to().uri, toUri->uri));

  // On a stream Content-Length is mandatory (RFC 3261 §18.3): the same bytes are not framable.
  auto s = parseFile("inv2543.dat", Framing::Stream);
  EXPECT_EQ(s->err.kind, K::BadContentLength) << describe(s->err);
  EXPECT_EQ(s->err.header, H::ContentLength);
}

}  // namespace
}  // namespace sipwarden::sip
