// Stream framing (RFC 3261 §18.3; keep-alives RFC 5626 §4.4.1): byte-at-a-time delivery,
// several messages per read, keep-alives, and the limits that stop a peer from growing the buffer.
#include <gtest/gtest.h>

#include <algorithm>
#include <string>
#include <vector>

#include "sip/serializer.hpp"
#include "sip/stream_framer.hpp"

namespace sipwarden::sip {
namespace {

std::string message(std::string_view callId, std::string_view body = "") {
  std::string m =
      "MESSAGE sip:bob@example.com SIP/2.0\r\n"
      "Via: SIP/2.0/TCP client.example.com;branch=z9hG4bK";
  m += callId;
  m += "\r\nMax-Forwards: 70\r\nFrom: <sip:alice@example.com>;tag=a1\r\nTo: <sip:bob@example.com>\r\nCall-ID: ";
  m += callId;
  m += "\r\nCSeq: 1 MESSAGE\r\nContent-Type: text/plain\r\nContent-Length: ";
  m += std::to_string(body.size());
  m += "\r\n\r\n";
  m += body;
  return m;
}

struct Event {
  StreamFramer::Status status;
  std::string callId;
  std::string body;
  int errorStatus = 0;
};

// Drains the framer, copying out what each message says (views die at the next call).
void drain(StreamFramer& f, std::vector<Event>& out) {
  while (true) {
    Message m;
    StreamFramer::Result r = f.next(m);
    if (r.status == StreamFramer::Status::NeedMore) return;
    Event e{r.status, {}, {}, r.error.status()};
    if (r.status == StreamFramer::Status::Message || r.status == StreamFramer::Status::Invalid) {
      e.callId = std::string(m.callId());
      e.body = std::string(m.body());
    }
    out.push_back(e);
    if (r.status == StreamFramer::Status::Fatal) return;
  }
}

TEST(StreamFramer, OneByteAtATime) {
  std::string stream = message("one", "hello") + "\r\n\r\n" + message("two", "") + message("three", "x\r\n\r\ny");
  StreamFramer f;
  std::vector<Event> events;
  for (char c : stream) {
    f.feed(std::string_view(&c, 1));
    drain(f, events);
  }
  ASSERT_EQ(events.size(), 4u);
  EXPECT_EQ(events[0].status, StreamFramer::Status::Message);
  EXPECT_EQ(events[0].callId, "one");
  EXPECT_EQ(events[0].body, "hello");
  EXPECT_EQ(events[1].status, StreamFramer::Status::KeepAlive);
  EXPECT_EQ(events[2].callId, "two");
  EXPECT_EQ(events[2].body, "");
  EXPECT_EQ(events[3].callId, "three");
  EXPECT_EQ(events[3].body, "x\r\n\r\ny");  // a CRLFCRLF inside a body is body, not framing
  EXPECT_EQ(f.buffered(), 0u);
}

TEST(StreamFramer, SeveralMessagesInOneRead) {
  std::string stream;
  for (int i = 0; i < 50; ++i)
    stream += message("m" + std::to_string(i), std::string(static_cast<std::size_t>(i), 'b'));
  StreamFramer f;
  f.feed(stream);
  std::vector<Event> events;
  drain(f, events);
  ASSERT_EQ(events.size(), 50u);
  for (int i = 0; i < 50; ++i) {
    EXPECT_EQ(events[static_cast<std::size_t>(i)].status, StreamFramer::Status::Message);
    EXPECT_EQ(events[static_cast<std::size_t>(i)].callId, "m" + std::to_string(i));
    EXPECT_EQ(events[static_cast<std::size_t>(i)].body.size(), static_cast<std::size_t>(i));
  }
}

TEST(StreamFramer, SplitAtEveryPosition) {
  std::string stream = message("a", "body-a") + message("b", "body-b");
  for (std::size_t cut = 1; cut < stream.size(); ++cut) {
    StreamFramer f;
    std::vector<Event> events;
    f.feed(std::string_view(stream).substr(0, cut));
    drain(f, events);
    f.feed(std::string_view(stream).substr(cut));
    drain(f, events);
    ASSERT_EQ(events.size(), 2u) << "cut at " << cut;
    EXPECT_EQ(events[0].body, "body-a");
    EXPECT_EQ(events[1].body, "body-b");
  }
}

TEST(StreamFramer, KeepAlives) {
  StreamFramer f;
  std::vector<Event> events;
  f.feed("\r\n\r\n\r\n\r\n");  // two pings
  drain(f, events);
  ASSERT_EQ(events.size(), 2u);
  EXPECT_EQ(events[0].status, StreamFramer::Status::KeepAlive);
  EXPECT_EQ(events[1].status, StreamFramer::Status::KeepAlive);
  // A lone CRLF (a pong) before a message is skipped silently.
  f.feed("\r\n" + message("after-pong"));
  events.clear();
  drain(f, events);
  ASSERT_EQ(events.size(), 1u);
  EXPECT_EQ(events[0].callId, "after-pong");
  // Half a ping waits for the rest.
  f.feed("\r\n");
  events.clear();
  drain(f, events);
  EXPECT_TRUE(events.empty());
  f.feed("\r\n");
  drain(f, events);
  ASSERT_EQ(events.size(), 1u);
  EXPECT_EQ(events[0].status, StreamFramer::Status::KeepAlive);
}

TEST(StreamFramer, MissingContentLengthIsFatal) {
  StreamFramer f;
  f.feed(
      "OPTIONS sip:b@d SIP/2.0\r\nVia: SIP/2.0/TCP h;branch=z9hG4bK1\r\nFrom: <sip:a@d>;tag=1\r\n"
      "To: <sip:b@d>\r\nCall-ID: c\r\nCSeq: 1 OPTIONS\r\n\r\n");
  Message m;
  StreamFramer::Result r = f.next(m);
  EXPECT_EQ(r.status, StreamFramer::Status::Fatal);
  EXPECT_EQ(r.error.kind, ParseErrorKind::BadContentLength);
  EXPECT_NE(r.error.reasonPhrase().find("required on stream transports"), std::string::npos);
  // Once framing is lost, the stream stays broken.
  f.feed(message("later"));
  EXPECT_EQ(f.next(m).status, StreamFramer::Status::Fatal);
}

TEST(StreamFramer, BadAndConflictingContentLength) {
  for (std::string_view header : {"Content-Length: -5", "Content-Length: abc", "l: 5\r\nContent-Length: 6"}) {
    StreamFramer f;
    std::string text = "OPTIONS sip:b@d SIP/2.0\r\nVia: SIP/2.0/TCP h;branch=z9hG4bK1\r\n";
    text += header;
    text += "\r\n\r\n";
    f.feed(text);
    Message m;
    StreamFramer::Result r = f.next(m);
    EXPECT_EQ(r.status, StreamFramer::Status::Fatal) << header;
    EXPECT_EQ(r.error.header, HeaderId::ContentLength) << header;
  }
}

TEST(StreamFramer, FoldedContentLength) {
  StreamFramer f;
  std::string m1 = message("folded", "abc");
  m1.replace(m1.find("Content-Length: 3"), 17, "Content-Length:\r\n 3");
  f.feed(m1);
  std::vector<Event> events;
  drain(f, events);
  ASSERT_EQ(events.size(), 1u);
  EXPECT_EQ(events[0].status, StreamFramer::Status::Message);
  EXPECT_EQ(events[0].body, "abc");
}

TEST(StreamFramer, InvalidMessageDoesNotBreakTheStream) {
  std::string bad = message("bad");
  bad.replace(bad.find("CSeq: 1 MESSAGE"), 15, "CSeq: x MESSAGE");
  StreamFramer f;
  f.feed(bad + message("good"));
  std::vector<Event> events;
  drain(f, events);
  ASSERT_EQ(events.size(), 2u);
  EXPECT_EQ(events[0].status, StreamFramer::Status::Invalid);
  EXPECT_EQ(events[0].errorStatus, 400);
  EXPECT_EQ(events[0].callId, "bad");  // still known, so the 400 can be sent back
  EXPECT_EQ(events[1].status, StreamFramer::Status::Message);
  EXPECT_EQ(events[1].callId, "good");
}

TEST(StreamFramer, HeaderSectionOverTheSizeLimit) {
  Limits limits;
  limits.maxMessageSize = 1024;
  limits.maxLineLength = 4096;
  StreamFramer f(limits);
  std::string text = "OPTIONS sip:b@d SIP/2.0\r\n";
  Message m;
  for (int i = 0; i < 100; ++i) text += "X-Filler: 0123456789\r\n";
  f.feed(text);
  StreamFramer::Result r = f.next(m);
  EXPECT_EQ(r.status, StreamFramer::Status::Fatal);
  EXPECT_EQ(r.error.status(), 413);
}

TEST(StreamFramer, DeclaredBodyOverTheSizeLimit) {
  Limits limits;
  limits.maxMessageSize = 2048;
  StreamFramer f(limits);
  std::string text = message("big");
  text.replace(text.find("Content-Length: 0"), 17, "Content-Length: 100000");
  f.feed(text);
  Message m;
  StreamFramer::Result r = f.next(m);
  EXPECT_EQ(r.status, StreamFramer::Status::Fatal);
  EXPECT_EQ(r.error.status(), 413);  // refused before the body arrives
}

TEST(StreamFramer, EndlessLineIsRefused) {
  Limits limits;
  limits.maxLineLength = 256;
  StreamFramer f(limits);
  f.feed("OPTIONS sip:b@d SIP/2.0\r\nX-Endless: ");
  Message m;
  EXPECT_EQ(f.next(m).status, StreamFramer::Status::NeedMore);
  f.feed(std::string(300, 'z'));
  StreamFramer::Result r = f.next(m);
  EXPECT_EQ(r.status, StreamFramer::Status::Fatal);
  EXPECT_EQ(r.error.kind, ParseErrorKind::LineTooLong);
}

// Found by fuzz_framer: a Message reused across next() calls kept views into compacted bytes.
TEST(StreamFramer, ReusedMessageIsClearedWhenNoMessageComes) {
  StreamFramer f;
  Message m;
  f.feed(message("first") + "\r\n\r\n");
  ASSERT_EQ(f.next(m).status, StreamFramer::Status::Message);
  EXPECT_EQ(m.callId(), "first");
  f.feed("x");  // compacts the buffer the previous message pointed into
  ASSERT_EQ(f.next(m).status, StreamFramer::Status::KeepAlive);
  EXPECT_TRUE(m.callId().empty());
  EXPECT_TRUE(m.headers().empty());
  EXPECT_EQ(f.next(m).status, StreamFramer::Status::NeedMore);
  EXPECT_TRUE(m.headers().empty());
}

// A connection lends each read (its worker's read buffer) and settles before the next: cut at
// every position, pings included, and with the lent buffer overwritten after each settle (as the
// next read does), the same messages come out as with feed(); nothing stays allocated between
// reads that end on a message boundary.
TEST(StreamFramer, LentReadsFrameLikeCopiedOnes) {
  const std::string stream = message("a", "body-a") + "\r\n\r\n" + message("b", "body-b") + message("c", "");
  for (std::size_t cut1 = 1; cut1 < stream.size(); cut1 += 3) {
    for (std::size_t cut2 : {cut1, (cut1 + stream.size()) / 2, stream.size()}) {
      StreamFramer f;
      std::vector<Event> events;
      std::string readBuffer;  // reused for every read, as the worker's
      std::size_t boundaryCapacity = 0;
      for (auto [from, to] : {std::pair{std::size_t{0}, cut1}, std::pair{cut1, cut2}, std::pair{cut2, stream.size()}}) {
        if (from >= to) continue;
        readBuffer.assign(stream, from, to - from);
        f.lend(readBuffer);
        drain(f, events);
        f.settle();
        std::fill(readBuffer.begin(), readBuffer.end(), '#');
        if (to == stream.size()) boundaryCapacity = f.capacity();
      }
      ASSERT_EQ(events.size(), 4u) << cut1 << " " << cut2;
      EXPECT_EQ(events[0].body, "body-a");
      EXPECT_EQ(events[1].status, StreamFramer::Status::KeepAlive);
      EXPECT_EQ(events[2].body, "body-b");
      EXPECT_EQ(events[3].callId, "c");
      EXPECT_EQ(f.buffered(), 0u);
      EXPECT_EQ(boundaryCapacity, std::string().capacity()) << "settled at a message boundary: no buffer kept";
    }
  }
  // Whole messages in one read are framed from the lent bytes: nothing is copied.
  StreamFramer f;
  f.lend(stream);
  std::vector<Event> events;
  drain(f, events);
  EXPECT_EQ(events.size(), 4u);
  EXPECT_EQ(f.capacity(), std::string().capacity());
  f.settle();
  EXPECT_EQ(f.capacity(), std::string().capacity());
  // A lend after a feed that left half a message appends to the buffer.
  StreamFramer g;
  g.feed(std::string_view(stream).substr(0, 10));
  g.lend(std::string_view(stream).substr(10));
  events.clear();
  drain(g, events);
  g.settle();
  EXPECT_EQ(events.size(), 4u);
  EXPECT_EQ(g.buffered(), 0u);
}

TEST(StreamFramer, SerializedMessagesFrameBack) {
  // What the serializer writes, the framer reads: the TCP send path and receive path agree.
  Message built = Message::request("OPTIONS", "sip:server.example.com");
  ASSERT_EQ(built.addHeader("Via", "SIP/2.0/TCP c.example.com;branch=z9hG4bKopt"), nullptr);
  ASSERT_EQ(built.addHeader("From", "<sip:a@example.com>;tag=9"), nullptr);
  ASSERT_EQ(built.addHeader("To", "<sip:server.example.com>"), nullptr);
  ASSERT_EQ(built.addHeader("Call-ID", "opt-1"), nullptr);
  ASSERT_EQ(built.addHeader("CSeq", "1 OPTIONS"), nullptr);
  built.setBody("probe", "text/plain");
  std::string wire = toWire(built) + toWire(built);
  StreamFramer f;
  f.feed(wire);
  std::vector<Event> events;
  drain(f, events);
  ASSERT_EQ(events.size(), 2u);
  EXPECT_EQ(events[1].callId, "opt-1");
  EXPECT_EQ(events[1].body, "probe");
}

}  // namespace
}  // namespace sipwarden::sip
