// REGISTER processing (RFC 3261 §10.3 steps 5-8, RFC 3327 Path, RFC 5626 instance and reg-id)
// on real messages parsed with sip::parseMessage.
#include "registrar/registrar.hpp"

#include <gtest/gtest.h>

#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "sip/parser.hpp"
#include "sip/serializer.hpp"

namespace sipwarden::registrar {
namespace {

constexpr std::int64_t kNow = 1'700'000'000;
const std::string kAor = "alice@example.com";

std::string crlf(std::string_view text) {
  std::string out;
  for (char c : text) {
    if (c == '\n') out += '\r';
    out += c;
  }
  return out;
}

/// A parsed REGISTER that owns its bytes. `headers` are extra header lines ending in '\n'.
struct Register {
  Register(std::string_view headers, std::string_view callId = "reg-1@192.0.2.10", std::uint32_t cseq = 1,
           bool mustParse = true) {
    bytes = crlf(std::string("REGISTER sip:example.com SIP/2.0\n"
                             "Via: SIP/2.0/UDP 192.0.2.10:5060;branch=z9hG4bK-") +
                 std::to_string(cseq) +
                 "\n"
                 "Max-Forwards: 70\n"
                 "To: <sip:alice@example.com>\n"
                 "From: <sip:alice@example.com>;tag=76ff7a07\n"
                 "Call-ID: " +
                 std::string(callId) + "\nCSeq: " + std::to_string(cseq) + " REGISTER\n" + std::string(headers) +
                 "Content-Length: 0\n\n");
    sip::ParseError err = sip::parseMessage(bytes, msg);
    if (mustParse) {
      EXPECT_TRUE(err.ok()) << err.reasonPhrase() << "\n" << bytes;
    }
  }
  Register(const Register&) = delete;
  std::string bytes;
  sip::Message msg;
};

class RegistrarTest : public ::testing::Test {
 protected:
  RegistrarTest() {
    source.port = 5060;
    transport::IpAddress::parse("192.0.2.10", source.address);
  }

  RegisterResult process(std::string_view headers, std::string_view callId = "reg-1@192.0.2.10", std::uint32_t cseq = 1,
                         std::int64_t now = kNow) {
    Register r(headers, callId, cseq);
    return registrar.process(r.msg, kAor, source, now, persist);
  }

  LocationService location{8};
  Registrar registrar{RegistrarSettings{}, location};
  transport::Peer source;
  std::vector<std::pair<std::string, std::vector<Binding>>> persisted;
  PersistFn persist = [this](const std::string& aor, const std::vector<Binding>& bindings) {
    persisted.emplace_back(aor, bindings);
  };
};

TEST_F(RegistrarTest, AddsBinding) {
  RegisterResult r = process(
      "Contact: \"Alice\" <sip:alice@192.0.2.10:5060;transport=udp>\nExpires: 600\n"
      "User-Agent: Softphone/2.1\n");
  ASSERT_EQ(r.status, 200) << r.reason;
  EXPECT_TRUE(r.changed);
  ASSERT_EQ(r.current.size(), 1u);
  const Binding& b = r.current[0];
  EXPECT_EQ(b.aor, kAor);
  EXPECT_EQ(b.contact, "sip:alice@192.0.2.10:5060;transport=udp");
  EXPECT_EQ(b.callId, "reg-1@192.0.2.10");
  EXPECT_EQ(b.cseq, 1u);
  EXPECT_EQ(b.expiresAt, kNow + 600);
  EXPECT_EQ(b.q, -1);
  EXPECT_EQ(b.userAgent, "Softphone/2.1");
  EXPECT_EQ(b.received, source);
  EXPECT_EQ(b.updatedAt, kNow);
  EXPECT_EQ(b.path, "");
  ASSERT_EQ(persisted.size(), 1u);
  EXPECT_EQ(persisted[0].first, kAor);
  EXPECT_EQ(persisted[0].second, r.current);
  EXPECT_EQ(location.lookup(kAor, kNow), r.current);
}

TEST_F(RegistrarTest, RefreshUpdatesTheSameBinding) {
  ASSERT_EQ(process("Contact: <sip:alice@192.0.2.10>\nExpires: 600\n").status, 200);
  RegisterResult r = process("Contact: <sip:alice@192.0.2.10>\nExpires: 900\n", "reg-1@192.0.2.10", 2, kNow + 100);
  ASSERT_EQ(r.status, 200) << r.reason;
  ASSERT_EQ(r.current.size(), 1u);
  EXPECT_EQ(r.current[0].expiresAt, kNow + 100 + 900);
  EXPECT_EQ(r.current[0].cseq, 2u);
  EXPECT_EQ(r.current[0].updatedAt, kNow + 100);
  ASSERT_EQ(process("Contact: <sip:alice@EXAMPLE-PC.example.com>\nExpires: 900\n", "reg-1@192.0.2.10", 3).status, 200);
  // The same contact written differently (RFC 3261 §19.1.4: hosts compare case-insensitively).
  r = process("Contact: <sip:alice@example-pc.EXAMPLE.com>\nExpires: 300\n", "reg-1@192.0.2.10", 4);
  ASSERT_EQ(r.status, 200) << r.reason;
  ASSERT_EQ(r.current.size(), 2u);
  EXPECT_EQ(persisted.size(), 4u);
  std::vector<Binding> found = location.lookup(kAor, kNow);
  ASSERT_EQ(found.size(), 2u);
  EXPECT_EQ(found[0].contact, "sip:alice@192.0.2.10");              // updated last (at kNow + 100)
  EXPECT_EQ(found[1].contact, "sip:alice@example-pc.EXAMPLE.com");  // the latest text is kept
  EXPECT_EQ(found[1].expiresAt, kNow + 300);
}

TEST_F(RegistrarTest, RemovesWithExpiresZero) {
  ASSERT_EQ(process("Contact: <sip:alice@192.0.2.10>, <sip:alice@192.0.2.11>\n").status, 200);
  RegisterResult r = process("Contact: <sip:alice@192.0.2.10>;expires=0\n", "reg-1@192.0.2.10", 2);
  ASSERT_EQ(r.status, 200) << r.reason;
  EXPECT_TRUE(r.changed);
  ASSERT_EQ(r.current.size(), 1u);
  EXPECT_EQ(r.current[0].contact, "sip:alice@192.0.2.11");

  r = process("Contact: <sip:alice@192.0.2.11>\nExpires: 0\n", "reg-1@192.0.2.10", 3);
  ASSERT_EQ(r.status, 200) << r.reason;
  EXPECT_TRUE(r.current.empty());
  EXPECT_EQ(location.aorCount(), 0u);
  ASSERT_EQ(persisted.size(), 3u);
  EXPECT_TRUE(persisted.back().second.empty());
}

TEST_F(RegistrarTest, RemovingAnUnknownContactChangesNothing) {
  RegisterResult r = process("Contact: <sip:nobody@192.0.2.99>;expires=0\n");
  EXPECT_EQ(r.status, 200);
  EXPECT_FALSE(r.changed);
  EXPECT_TRUE(r.current.empty());
  EXPECT_TRUE(persisted.empty());
  EXPECT_EQ(location.aorCount(), 0u);
}

TEST_F(RegistrarTest, StarRemovesAll) {
  ASSERT_EQ(process("Contact: <sip:a@192.0.2.10>, <sip:b@192.0.2.11>\n").status, 200);
  ASSERT_EQ(process("Contact: <sip:c@192.0.2.12>\n", "other-call@192.0.2.12", 1).status, 200);
  EXPECT_EQ(location.lookup(kAor, kNow).size(), 3u);
  RegisterResult r = process("Contact: *\nExpires: 0\n", "reg-1@192.0.2.10", 2);
  ASSERT_EQ(r.status, 200) << r.reason;
  EXPECT_TRUE(r.changed);
  EXPECT_TRUE(r.current.empty());
  EXPECT_EQ(location.aorCount(), 0u);
  EXPECT_TRUE(persisted.back().second.empty());
  // Again: nothing left to remove.
  r = process("Contact: *\nExpires: 0\n", "reg-1@192.0.2.10", 3);
  EXPECT_EQ(r.status, 200);
  EXPECT_FALSE(r.changed);
}

TEST_F(RegistrarTest, StarNeedsExpiresZero) {
  ASSERT_EQ(process("Contact: <sip:a@192.0.2.10>\n").status, 200);
  RegisterResult r = process("Contact: *\nExpires: 60\n", "reg-1@192.0.2.10", 2);
  EXPECT_EQ(r.status, 400);
  EXPECT_NE(r.reason.find("Bad Contact"), std::string::npos) << r.reason;
  r = process("Contact: *\n", "reg-1@192.0.2.10", 3);  // no Expires at all
  EXPECT_EQ(r.status, 400);
  EXPECT_EQ(location.lookup(kAor, kNow).size(), 1u);
}

TEST_F(RegistrarTest, StarWithOtherContactsIsRejected) {
  ASSERT_EQ(process("Contact: <sip:a@192.0.2.10>\n").status, 200);
  // The parser refuses "*" beside other contacts; a message assembled by edits reaches the
  // registrar, which checks too.
  Register req("Contact: *\nExpires: 0\n", "reg-1@192.0.2.10", 2);
  req.msg.addHeader("Contact", "<sip:b@192.0.2.11>");
  RegisterResult r = registrar.process(req.msg, kAor, source, kNow, persist);
  EXPECT_EQ(r.status, 400);
  EXPECT_NE(r.reason.find("Bad Contact"), std::string::npos) << r.reason;
  EXPECT_EQ(location.lookup(kAor, kNow).size(), 1u);
  EXPECT_EQ(persisted.size(), 1u);
}

TEST_F(RegistrarTest, StarWithStaleCSeqIsOutOfOrder) {
  ASSERT_EQ(process("Contact: <sip:a@192.0.2.10>\n", "reg-1@192.0.2.10", 5).status, 200);
  RegisterResult r = process("Contact: *\nExpires: 0\n", "reg-1@192.0.2.10", 5);
  EXPECT_EQ(r.status, 500);
  EXPECT_EQ(r.reason, "Out of order CSeq");
  EXPECT_EQ(location.lookup(kAor, kNow).size(), 1u);
}

TEST_F(RegistrarTest, SeveralContacts) {
  RegisterResult r = process(
      "Contact: <sip:a@192.0.2.10>, \"B\" <sip:b@192.0.2.11;transport=tcp>;q=0.7\n"
      "Contact: sip:c@192.0.2.12\n");
  ASSERT_EQ(r.status, 200) << r.reason;
  ASSERT_EQ(r.current.size(), 3u);
  EXPECT_EQ(persisted.size(), 1u);  // one change, one write
  EXPECT_EQ(location.bindingCount(), 3u);
}

TEST_F(RegistrarTest, ContactParameterBeatsExpiresHeaderWhichBeatsDefault) {
  RegisterResult r = process("Contact: <sip:a@192.0.2.10>;expires=300, <sip:b@192.0.2.11>\nExpires: 600\n");
  ASSERT_EQ(r.status, 200) << r.reason;
  ASSERT_EQ(r.current.size(), 2u);
  for (const Binding& b : r.current) {
    EXPECT_EQ(b.expiresAt, kNow + (b.contact == "sip:a@192.0.2.10" ? 300 : 600)) << b.contact;
  }
  r = process("Contact: <sip:c@192.0.2.12>\n", "reg-1@192.0.2.10", 2);
  ASSERT_EQ(r.status, 200) << r.reason;
  for (const Binding& b : r.current) {
    if (b.contact == "sip:c@192.0.2.12") {
      EXPECT_EQ(b.expiresAt, kNow + 3600);  // defaultExpires
    }
  }
}

TEST_F(RegistrarTest, TooBriefIsRejectedWithMinExpiresAndNothingApplied) {
  RegisterResult r = process("Contact: <sip:a@192.0.2.10>, <sip:b@192.0.2.11>;expires=30\nExpires: 600\n");
  EXPECT_EQ(r.status, 423);
  EXPECT_EQ(r.reason, "Interval Too Brief");
  EXPECT_EQ(r.minExpires, 60u);
  EXPECT_TRUE(r.current.empty());
  EXPECT_FALSE(r.changed);
  EXPECT_TRUE(persisted.empty());
  EXPECT_EQ(location.aorCount(), 0u);
  // The Expires header below the minimum counts the same; exactly the minimum is accepted.
  EXPECT_EQ(process("Contact: <sip:a@192.0.2.10>\nExpires: 59\n").status, 423);
  EXPECT_EQ(process("Contact: <sip:a@192.0.2.10>\nExpires: 60\n").status, 200);
}

TEST_F(RegistrarTest, LongExpiresIsCappedAtMaximum) {
  RegisterResult r = process(
      "Contact: <sip:a@192.0.2.10>;expires=7200, <sip:b@192.0.2.11>\n"
      "Expires: 99999999999\n");  // overlarge: saturates, then capped
  ASSERT_EQ(r.status, 200) << r.reason;
  ASSERT_EQ(r.current.size(), 2u);
  EXPECT_EQ(r.current[0].expiresAt, kNow + 3600);
  EXPECT_EQ(r.current[1].expiresAt, kNow + 3600);
}

TEST_F(RegistrarTest, QValuesOrderTheBindings) {
  RegisterResult r = process(
      "Contact: <sip:low@192.0.2.10>;q=0.1, <sip:none@192.0.2.11>, <sip:half@192.0.2.12>;q=0.5, "
      "<sip:one@192.0.2.13>;q=1.0\n");
  ASSERT_EQ(r.status, 200) << r.reason;
  ASSERT_EQ(r.current.size(), 4u);
  EXPECT_EQ(r.current[0].q, -1);  // no q counts as 1.0; same q, same time: by contact text
  EXPECT_EQ(r.current[0].contact, "sip:none@192.0.2.11");
  EXPECT_EQ(r.current[1].q, 1000);
  EXPECT_EQ(r.current[2].q, 500);
  EXPECT_EQ(r.current[3].q, 100);
  // At equal q, the most recently updated comes first.
  r = process("Contact: <sip:half2@192.0.2.14>;q=0.5\n", "other@192.0.2.14", 1, kNow + 10);
  ASSERT_EQ(r.status, 200) << r.reason;
  std::vector<Binding> found = location.lookup(kAor, kNow + 10);
  ASSERT_EQ(found.size(), 5u);
  EXPECT_EQ(found[2].contact, "sip:half2@192.0.2.14");
  EXPECT_EQ(found[3].contact, "sip:half@192.0.2.12");
  EXPECT_EQ(found, r.current);
}

TEST_F(RegistrarTest, QueryWithoutContactReturnsBindings) {
  ASSERT_EQ(process("Contact: <sip:a@192.0.2.10>\nExpires: 120\n").status, 200);
  RegisterResult r = process("", "query@192.0.2.10", 1, kNow + 20);
  ASSERT_EQ(r.status, 200) << r.reason;
  EXPECT_FALSE(r.changed);
  ASSERT_EQ(r.current.size(), 1u);
  EXPECT_EQ(persisted.size(), 1u);
  // Expired bindings are not listed.
  EXPECT_TRUE(process("", "query@192.0.2.10", 2, kNow + 120).current.empty());
}

TEST_F(RegistrarTest, CallIdAndCSeqOrdering) {
  ASSERT_EQ(process("Contact: <sip:a@192.0.2.10>\n", "call-A", 10).status, 200);
  // §10.3 step 7: the same Call-ID with a CSeq not higher fails, and nothing changes.
  RegisterResult r = process("Contact: <sip:a@192.0.2.10>\nExpires: 300\n", "call-A", 9);
  EXPECT_EQ(r.status, 500);
  EXPECT_EQ(r.reason, "Out of order CSeq");
  r = process("Contact: <sip:a@192.0.2.10>\nExpires: 300\n", "call-A", 10);
  EXPECT_EQ(r.status, 500);
  r = process("Contact: <sip:a@192.0.2.10>;expires=0\n", "call-A", 10);  // a removal too
  EXPECT_EQ(r.status, 500);
  std::vector<Binding> found = location.lookup(kAor, kNow);
  ASSERT_EQ(found.size(), 1u);
  EXPECT_EQ(found[0].expiresAt, kNow + 3600);
  EXPECT_EQ(persisted.size(), 1u);

  r = process("Contact: <sip:a@192.0.2.10>\nExpires: 300\n", "call-A", 11);
  ASSERT_EQ(r.status, 200) << r.reason;
  EXPECT_EQ(r.current[0].expiresAt, kNow + 300);
  // Another Call-ID updates whatever its CSeq (the UA rebooted).
  r = process("Contact: <sip:a@192.0.2.10>\nExpires: 200\n", "call-B", 1);
  ASSERT_EQ(r.status, 200) << r.reason;
  ASSERT_EQ(r.current.size(), 1u);
  EXPECT_EQ(r.current[0].callId, "call-B");
  EXPECT_EQ(r.current[0].cseq, 1u);
  EXPECT_EQ(r.current[0].expiresAt, kNow + 200);
}

TEST_F(RegistrarTest, OutOfOrderCSeqOnOneContactAbortsTheWholeRequest) {
  ASSERT_EQ(process("Contact: <sip:a@192.0.2.10>\n", "call-A", 10).status, 200);
  RegisterResult r = process("Contact: <sip:new@192.0.2.20>, <sip:a@192.0.2.10>\n", "call-A", 3);
  EXPECT_EQ(r.status, 500);
  EXPECT_EQ(location.lookup(kAor, kNow).size(), 1u);
}

TEST_F(RegistrarTest, ExpiredBindingDoesNotTakePartInOrdering) {
  ASSERT_EQ(process("Contact: <sip:a@192.0.2.10>\nExpires: 60\n", "call-A", 10).status, 200);
  RegisterResult r = process("Contact: <sip:a@192.0.2.10>\nExpires: 60\n", "call-A", 5, kNow + 61);
  ASSERT_EQ(r.status, 200) << r.reason;
  ASSERT_EQ(r.current.size(), 1u);
  EXPECT_EQ(r.current[0].cseq, 5u);
}

TEST_F(RegistrarTest, StoresPathInstanceRegIdAndUserAgent) {
  RegisterResult r = process(
      "Path: <sip:edge1.example.com;lr>, <sip:edge2.example.com;lr>\n"
      "Path: <sip:core.example.com;lr>\n"
      "Supported: path, outbound\n"
      "User-Agent: Desk Phone 7.2\n"
      "Contact: "
      "<sip:alice@192.0.2.10;ob>;+sip.instance=\"<urn:uuid:00000000-0000-1000-8000-000A95A0E128>\";reg-id=1\n");
  ASSERT_EQ(r.status, 200) << r.reason;
  ASSERT_EQ(r.current.size(), 1u);
  const Binding& b = r.current[0];
  EXPECT_EQ(b.path, "<sip:edge1.example.com;lr>,<sip:edge2.example.com;lr>,<sip:core.example.com;lr>");
  EXPECT_EQ(b.instance, "<urn:uuid:00000000-0000-1000-8000-000A95A0E128>");
  EXPECT_EQ(b.regId, 1u);
  EXPECT_EQ(b.userAgent, "Desk Phone 7.2");
  EXPECT_EQ(b.contact, "sip:alice@192.0.2.10;ob");
}

TEST_F(RegistrarTest, OutboundFlowIsMatchedByInstanceAndRegId) {
  const std::string instance = ";+sip.instance=\"<urn:uuid:00000000-0000-1000-8000-000A95A0E128>\"";
  ASSERT_EQ(process("Contact: <sip:alice@192.0.2.10:5060;ob>" + instance + ";reg-id=1\n").status, 200);
  ASSERT_EQ(process("Contact: <sip:alice@192.0.2.10:5062;ob>" + instance + ";reg-id=2\n", "reg-1@192.0.2.10", 2).status,
            200);
  // The UA's first flow comes back through a new NAT binding: another URI, same instance and reg-id.
  source.port = 40000;
  RegisterResult r =
      process("Contact: <sip:alice@198.51.100.7:40000;ob>" + instance + ";reg-id=1\n", "reg-1@192.0.2.10", 3);
  ASSERT_EQ(r.status, 200) << r.reason;
  ASSERT_EQ(r.current.size(), 2u);
  bool sawNew = false;
  for (const Binding& b : r.current) {
    EXPECT_NE(b.contact, "sip:alice@192.0.2.10:5060;ob");
    if (b.regId == 1) {
      sawNew = true;
      EXPECT_EQ(b.contact, "sip:alice@198.51.100.7:40000;ob");
      EXPECT_EQ(b.received.port, 40000);
    }
  }
  EXPECT_TRUE(sawNew);
}

TEST_F(RegistrarTest, BadContactInAListAppliesNothing) {
  ASSERT_EQ(process("Contact: <sip:a@192.0.2.10>\n").status, 200);
  Register req("Contact: <sip:new@192.0.2.20>\nContact: <sip:a@192.0.2.10>;expires=0\n", "reg-1@192.0.2.10", 2);
  req.msg.addHeader("Contact", "<sip:b@192.0.2.11>;expires=soon");
  RegisterResult r = registrar.process(req.msg, kAor, source, kNow, persist);
  EXPECT_EQ(r.status, 400);
  EXPECT_EQ(r.reason.rfind("Bad Contact: ", 0), 0u) << r.reason;
  std::vector<Binding> found = location.lookup(kAor, kNow);
  ASSERT_EQ(found.size(), 1u);
  EXPECT_EQ(found[0].contact, "sip:a@192.0.2.10");
  EXPECT_EQ(persisted.size(), 1u);
}

TEST_F(RegistrarTest, TooManyContacts) {
  RegistrarSettings settings;
  settings.maxContactsPerAor = 2;
  Registrar small(settings, location);
  auto run = [&](std::string_view headers, std::uint32_t cseq) {
    Register req(headers, "reg-1@192.0.2.10", cseq);
    return small.process(req.msg, kAor, source, kNow, persist);
  };
  ASSERT_EQ(run("Contact: <sip:a@192.0.2.10>, <sip:b@192.0.2.11>\n", 1).status, 200);
  RegisterResult r = run("Contact: <sip:a@192.0.2.10>, <sip:c@192.0.2.12>\n", 2);
  EXPECT_EQ(r.status, 403);
  EXPECT_EQ(r.reason, "Too many contacts");
  EXPECT_EQ(location.lookup(kAor, kNow).size(), 2u);
  EXPECT_EQ(persisted.size(), 1u);
  // Replacing one by another in the same request stays within the limit.
  r = run("Contact: <sip:a@192.0.2.10>;expires=0, <sip:c@192.0.2.12>\n", 3);
  ASSERT_EQ(r.status, 200) << r.reason;
  ASSERT_EQ(r.current.size(), 2u);
  // Three new ones at once: 403 even on an empty AOR.
  EXPECT_EQ(run("Contact: *\nExpires: 0\n", 4).status, 200);
  EXPECT_EQ(run("Contact: <sip:x@192.0.2.1>, <sip:y@192.0.2.2>, <sip:z@192.0.2.3>\n", 5).status, 403);
  EXPECT_EQ(location.aorCount(), 0u);
}

TEST_F(RegistrarTest, ContactListedTwiceCountsOnce) {
  RegisterResult r = process("Contact: <sip:a@192.0.2.10>;expires=100, <sip:a@192.0.2.10>;expires=200\n");
  ASSERT_EQ(r.status, 200) << r.reason;
  ASSERT_EQ(r.current.size(), 1u);
  EXPECT_EQ(r.current[0].expiresAt, kNow + 200);
}

TEST_F(RegistrarTest, CanonicalAor) {
  auto aorOf = [](std::string_view text) {
    sip::Uri uri;
    EXPECT_EQ(sip::parseUri(text, uri), nullptr) << text;
    return Registrar::canonicalAor(uri);
  };
  EXPECT_EQ(aorOf("sip:alice@example.com"), "alice@example.com");
  EXPECT_EQ(aorOf("sip:%61lice@EXAMPLE.Com:5070;transport=tcp?subject=x"), "alice@example.com");
  EXPECT_EQ(aorOf("sips:Alice@Example.COM"), "Alice@example.com");  // the user keeps its case
  EXPECT_EQ(aorOf("sip:j%40doe@example.com"), "j@doe@example.com");
  EXPECT_EQ(aorOf("sip:alice@[2001:DB8::1]"), "alice@[2001:db8::1]");
  EXPECT_EQ(aorOf("sip:example.com"), "");
  EXPECT_EQ(aorOf("tel:+15551234567"), "");
  EXPECT_EQ(aorOf("mailto:alice@example.com"), "");
}

TEST_F(RegistrarTest, AddContactsOutputParsesBack) {
  Register req(
      "Contact: <sip:a@192.0.2.10;transport=tcp>;q=0.5;expires=600, <sip:b@192.0.2.11>;q=0.05, "
      "<sip:c@192.0.2.12;ob>;+sip.instance=\"<urn:uuid:1>\";reg-id=3;q=1\n");
  RegisterResult r = registrar.process(req.msg, kAor, source, kNow, persist);
  ASSERT_EQ(r.status, 200) << r.reason;
  ASSERT_EQ(r.current.size(), 3u);
  // One binding already expired by the time the response is built: expires=0, never negative.
  r.current.push_back(r.current[0]);
  r.current.back().contact = "sip:old@192.0.2.99";
  r.current.back().expiresAt = kNow - 5;

  sip::Message response = sip::Message::responseTo(req.msg, 200, "OK", "reg-tag");
  Registrar::addContacts(response, r.current, kNow + 100);
  std::string wire = sip::toWire(response);
  sip::Message parsed;
  ASSERT_TRUE(sip::parseMessage(wire, parsed).ok()) << wire;
  std::vector<sip::Contact> contacts = parsed.contacts();
  ASSERT_EQ(contacts.size(), 4u) << wire;
  EXPECT_EQ(parsed.count(sip::HeaderId::Contact), 4u);  // one header per binding

  EXPECT_EQ(contacts[0].address.uri.raw, "sip:c@192.0.2.12;ob");
  EXPECT_EQ(contacts[0].expires, 3500u);
  EXPECT_EQ(contacts[0].qThousandths, 1000);
  EXPECT_EQ(contacts[0].instance, "<urn:uuid:1>");
  EXPECT_EQ(contacts[0].regId, 3u);

  EXPECT_EQ(contacts[1].address.uri.raw, "sip:a@192.0.2.10;transport=tcp");
  EXPECT_EQ(contacts[1].expires, 500u);
  EXPECT_EQ(contacts[1].qThousandths, 500);
  EXPECT_FALSE(contacts[1].instance);
  EXPECT_FALSE(contacts[1].regId);

  EXPECT_EQ(contacts[2].address.uri.raw, "sip:b@192.0.2.11");
  EXPECT_EQ(contacts[2].qThousandths, 50);

  EXPECT_EQ(contacts[3].address.uri.raw, "sip:old@192.0.2.99");
  EXPECT_EQ(contacts[3].expires, 0u);
}

TEST_F(RegistrarTest, PersistIsOptional) {
  Register req("Contact: <sip:a@192.0.2.10>\n");
  RegisterResult r = registrar.process(req.msg, kAor, source, kNow, PersistFn());
  EXPECT_EQ(r.status, 200);
  EXPECT_TRUE(r.changed);
}

}  // namespace
}  // namespace sipwarden::registrar
