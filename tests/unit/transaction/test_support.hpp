// Test doubles for the transaction layer's own interfaces (a Sender and a TransactionUser that
// record everything), a fixture on simulated time, and builders of real SIP messages that are
// parsed with sip::parseMessage from CRLF text, as the transport would hand them over.
#pragma once

#include <gtest/gtest.h>

#include <chrono>
#include <functional>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "sip/parser.hpp"
#include "sip/serializer.hpp"
#include "transaction/transaction_layer.hpp"

namespace sipwarden::transaction::test {

using namespace std::chrono_literals;
using std::chrono::milliseconds;

/// Test text is written with '\n'; the wire uses CRLF.
inline std::string crlf(std::string_view text) {
  std::string out;
  for (char c : text) {
    if (c == '\n' && (out.empty() || out.back() != '\r')) out += '\r';
    out += c;
  }
  return out;
}

/// Parses wire bytes into a message that owns its copy of them.
inline sip::Message parseWire(std::string_view bytes) {
  sip::Message m;
  auto error = sip::parseMessage(m.adoptCopy(bytes), m);
  EXPECT_TRUE(error.ok()) << bytes;
  return m;
}

inline sip::Message parse(std::string_view text) { return parseWire(crlf(text)); }

inline transport::Peer peer(std::string_view address, std::uint16_t port,
                            transport::TransportKind kind = transport::TransportKind::Udp,
                            std::uint64_t connection = 0) {
  transport::Peer p;
  p.transport = kind;
  transport::IpAddress::parse(address, p.address);
  p.port = port;
  p.connectionId = connection;
  return p;
}

/// The first line of a wire message ("SIP/2.0 200 OK", "ACK sip:... SIP/2.0").
inline std::string firstLine(std::string_view bytes) { return std::string(bytes.substr(0, bytes.find("\r\n"))); }

// ---- message builders (the fields a test varies; everything else fixed) ----

struct RequestSpec {
  std::string method = "INVITE";
  std::string branch = "z9hG4bK776asdhds";  ///< "" writes a Via without branch (RFC 2543)
  std::string transport = "UDP";
  std::string sentBy = "pc33.atlanta.example.com:5060";
  std::string requestUri = "sip:bob@biloxi.example.com";
  std::string toTag;
  std::string fromTag = "1928301774";
  std::string callId = "a84b4c76e66710@pc33.atlanta.example.com";
  std::uint32_t cseq = 314159;
  std::string cseqMethod;    ///< defaults to `method`
  std::string extraHeaders;  ///< whole lines with '\n'
};

inline std::string requestText(const RequestSpec& s) {
  std::string t = s.method + " " + s.requestUri + " SIP/2.0\n";
  t += "Via: SIP/2.0/" + s.transport + " " + s.sentBy + (s.branch.empty() ? "" : ";branch=" + s.branch) + "\n";
  t += "Max-Forwards: 70\n";
  t += "To: Bob <sip:bob@biloxi.example.com>" + (s.toTag.empty() ? std::string() : ";tag=" + s.toTag) + "\n";
  t += "From: Alice <sip:alice@atlanta.example.com>;tag=" + s.fromTag + "\n";
  t += "Call-ID: " + s.callId + "\n";
  t += "CSeq: " + std::to_string(s.cseq) + " " + (s.cseqMethod.empty() ? s.method : s.cseqMethod) + "\n";
  t += s.extraHeaders;
  t += "Content-Length: 0\n\n";
  return crlf(t);
}

/// A spec with `method` and `branch`; `edit(RequestSpec&)` changes any other field. (Designated
/// initializers that skip members warn under -Wextra with g++ 12.)
inline RequestSpec makeSpec(std::string method, std::string branch) {
  RequestSpec s;
  s.method = std::move(method);
  s.branch = std::move(branch);
  return s;
}
template <typename Edit>
RequestSpec makeSpec(std::string method, std::string branch, Edit&& edit) {
  RequestSpec s = makeSpec(std::move(method), std::move(branch));
  edit(s);
  return s;
}

inline sip::Message request(const RequestSpec& s) { return parseWire(requestText(s)); }

/// A response as a downstream element would send it for `s` (our Via on top).
inline std::string responseText(const RequestSpec& s, int status, std::string_view toTag = "a6c85cf") {
  sip::Message req = request(s);
  sip::Message resp = sip::Message::responseTo(req, status, {}, status == 100 ? std::string_view() : toTag);
  return sip::toWire(resp);
}

// ---- test doubles ----

struct SentMessage {
  transport::Peer to;
  std::string bytes;
  TimePoint at;
  [[nodiscard]] std::string line() const { return firstLine(bytes); }
};

class RecordingSender : public Sender {
 public:
  explicit RecordingSender(const TimePoint& clock) : clock_(clock) {}
  bool send(const transport::Peer& to, std::string_view bytes) override {
    if (failing || (failingKind && to.transport == *failingKind)) return false;
    sent.push_back(SentMessage{to, std::string(bytes), clock_});
    return true;
  }
  std::vector<SentMessage> sent;
  bool failing = false;
  std::optional<transport::TransportKind> failingKind;  ///< sends over this transport fail

 private:
  const TimePoint& clock_;
};

struct UserEvent {
  enum Type { Request, Cancel, Ack, Response, Stray, ClientFailure, ServerFailure } type;
  TransactionId id = 0;
  TransactionId inviteId = 0;
  bool timeout = false;
  int status = 0;
  std::string wire;
  transport::Peer from;
};

class RecordingUser : public TransactionUser {
 public:
  void onRequest(TransactionId id, sip::Message& request, const transport::Peer& from) override {
    events.push_back({UserEvent::Request, id, 0, false, 0, sip::toWire(request), from});
    if (requestHook) requestHook(id, request);
  }
  void onCancel(TransactionId cancelId, TransactionId inviteId, sip::Message& cancel,
                const transport::Peer& from) override {
    events.push_back({UserEvent::Cancel, cancelId, inviteId, false, 0, sip::toWire(cancel), from});
  }
  void onAck(sip::Message& ack, const transport::Peer& from) override {
    events.push_back({UserEvent::Ack, 0, 0, false, 0, sip::toWire(ack), from});
  }
  void onResponse(TransactionId id, sip::Message& response) override {
    events.push_back({UserEvent::Response, id, 0, false, response.statusCode(), sip::toWire(response), {}});
  }
  void onStrayResponse(sip::Message& response, const transport::Peer& from) override {
    events.push_back({UserEvent::Stray, 0, 0, false, response.statusCode(), sip::toWire(response), from});
  }
  void onClientFailure(TransactionId id, bool timeout) override {
    events.push_back({UserEvent::ClientFailure, id, 0, timeout, 0, {}, {}});
  }
  void onServerFailure(TransactionId id, bool timeout) override {
    events.push_back({UserEvent::ServerFailure, id, 0, timeout, 0, {}, {}});
  }

  [[nodiscard]] std::size_t count(UserEvent::Type type) const {
    std::size_t n = 0;
    for (const UserEvent& e : events) n += e.type == type ? 1 : 0;
    return n;
  }
  [[nodiscard]] const UserEvent* last(UserEvent::Type type) const {
    for (auto it = events.rbegin(); it != events.rend(); ++it) {
      if (it->type == type) return &*it;
    }
    return nullptr;
  }

  std::vector<UserEvent> events;
  std::function<void(TransactionId, sip::Message&)> requestHook;
};

/// A layer on simulated time: `now` starts at an arbitrary point; at(ms) moves it and fires timers.
class LayerTest : public ::testing::Test {
 protected:
  explicit LayerTest(TimerSettings timers = {}) : layer(sender, tu, timers) {}

  void at(milliseconds offset) {
    now = start + offset;
    layer.advance(now);
  }
  /// Runs every timer until `offset`, one due time after another (as an event loop would).
  void runUntil(milliseconds offset) {
    TimePoint end = start + offset;
    while (auto next = layer.nextTimer()) {
      if (*next > end) break;
      now = *next;
      layer.advance(now);
    }
    now = end;
    layer.advance(now);
  }
  void deliver(std::string_view wire, const transport::Peer& from) {
    sip::Message m = parseWire(wire);
    layer.receive(m, from, now);
  }
  bool respond(TransactionId id, const sip::Message& req, int status, std::string_view toTag = "srv1") {
    sip::Message resp = sip::Message::responseTo(req, status, {}, status == 100 ? std::string_view() : toTag);
    return layer.respond(id, resp, now);
  }
  /// Offsets from `start` of the messages sent whose first line starts with `prefix`.
  [[nodiscard]] std::vector<milliseconds> sendTimes(std::string_view prefix) const {
    std::vector<milliseconds> out;
    for (const SentMessage& s : sender.sent) {
      if (s.line().rfind(prefix, 0) == 0) out.push_back(std::chrono::duration_cast<milliseconds>(s.at - start));
    }
    return out;
  }
  [[nodiscard]] std::size_t sentCount(std::string_view prefix) const { return sendTimes(prefix).size(); }

  const TimePoint start = TimePoint{} + std::chrono::hours(1000);
  TimePoint now = start;
  RecordingSender sender{now};
  RecordingUser tu;
  TransactionLayer layer;
  const transport::Peer uac = peer("192.0.2.10", 5060);
  const transport::Peer uas = peer("192.0.2.20", 5060);
  const transport::Peer uacTcp = peer("192.0.2.10", 40123, transport::TransportKind::Tcp, 7);
  const transport::Peer uasTcp = peer("192.0.2.20", 5060, transport::TransportKind::Tcp, 9);
};

}  // namespace sipwarden::transaction::test
