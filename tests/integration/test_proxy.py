"""The stateful proxy against the live server: the seed's pager model (MESSAGE, steps 1-4) and
session model (INVITE / 100 / 180 / 200 / ACK / BYE, steps 1-23) between two registered users,
over UDP and over TCP, checking what the seed shows: Via stacking and removal, Max-Forwards
70 -> 69, To tags, CSeq, and our Record-Route. Also authentication (407, From must be the
authenticated user), 404/480, CANCEL, a 486, forking to two devices, the ring timeout, loops."""
import os
import re
import signal
import socket
import time
import unittest

from harness import DOMAIN, Response, Server, ServerPerClass
from proxy_ua import UA, header_lines, uri_of

SDP = ("v=0\r\no=- 1 1 IN IP4 127.0.0.1\r\ns=-\r\nc=IN IP4 127.0.0.1\r\nt=0 0\r\n"
       "m=audio 40000 RTP/AVP 0\r\na=rtpmap:0 PCMU/8000\r\n")


class ProxyFlows(ServerPerClass, unittest.TestCase):
    transport = "udp"
    server_users = (("alice", "secret-a"), ("bob", "secret-b"), ("carol", "secret-c"), ("dave", "secret-d"),
                    ("erin", "secret-e"), ("frank", "secret-f"), ("grace", "secret-g"), ("heidi", "secret-h"))
    server_config = "[proxy]\nring_timeout = 5\n[messages]\noffline_max_per_user = 3\nmax_body = 2000\n"

    def ua(self, user, password, transport=None):
        """A user agent whose binding is removed when the test ends (tests share one server)."""
        u = UA(transport or self.transport, self.server.port, user, password)

        def cleanup():
            try:
                if u.reg.challenge is not None:
                    u.register(expires=0)
            finally:
                u.close()
        self.addCleanup(cleanup)
        return u

    def pair(self):
        a = self.ua("alice", "secret-a")
        b = self.ua("bob", "secret-b")
        a.register()
        b.register()
        return a, b

    def test_message_pager_model(self):
        a, b = self.pair()
        # Steps 1-2: the proxy challenges the sender, then forwards the MESSAGE to Bob's contact.
        a.c.cseq += 1
        first, _ = a.build_request("MESSAGE", "sip:bob@%s" % DOMAIN, "<sip:bob@%s>" % DOMAIN,
                                   ["Content-Type: text/plain"], "hi", cseq=a.c.cseq)
        a.c.send_raw(first)
        r = a.c.recv_final()
        self.assertEqual(r.status, 407, r.raw)
        self.assertTrue(any("algorithm=SHA-256" in v for v in r.all("proxy-authenticate")), r.raw)
        a.pick_proxy_challenge(r)
        a.c.cseq += 1
        text, _ = a.build_request("MESSAGE", "sip:bob@%s" % DOMAIN, "<sip:bob@%s>" % DOMAIN,
                                  ["Content-Type: text/plain", a.proxy_authorization("MESSAGE", "sip:bob@%s" % DOMAIN)],
                                  "Watson, come here.", cseq=a.c.cseq)
        a.c.send_raw(text)
        m = b.expect_request("MESSAGE")
        # Step 2 as the seed shows it: the proxy's Via on top of the sender's, which got received
        # and rport; Max-Forwards one less; the Request-URI is Bob's contact; the body unchanged.
        vias = header_lines(m, "via")
        self.assertEqual(len(vias), 2, m.raw)
        self.assertIn("SIP/2.0/%s 127.0.0.1:%d;branch=z9hG4bK" % (self.transport.upper(), self.server.port), vias[0])
        self.assertIn("127.0.0.1:%d" % a.c.local_port, vias[1])
        self.assertIn("rport=%d" % a.c.local_port, vias[1])
        self.assertEqual(m.get("max-forwards"), "69")
        self.assertEqual(m.uri, "sip:bob@127.0.0.1:%d;transport=%s" % (b.c.local_port, self.transport))
        self.assertEqual(m.body, "Watson, come here.")
        self.assertIsNone(m.get("proxy-authorization"), "the proxy consumes its own credentials (RFC 3261 §22.3)")
        self.assertEqual(len(header_lines(m, "record-route")), 2, m.raw)
        # Steps 3-4: Bob's 200 goes back with the proxy's Via removed.
        b.reply(m, 200)
        ok = a.c.recv_final()
        self.assertEqual(ok.status, 200, ok.raw)
        self.assertEqual(len(header_lines(ok, "via")), 1, ok.raw)
        self.assertIn("127.0.0.1:%d" % a.c.local_port, header_lines(ok, "via")[0])
        self.assertEqual(ok.get("cseq"), "%d MESSAGE" % a.c.cseq)

    def test_invite_session_model(self):
        a, b = self.pair()
        r, invite_text, call_id = a.send_authenticated("INVITE", "bob", SDP, content_type="application/sdp",
                                                       expect_final=False)
        # The stateful proxy answers 100 Trying itself (step 2).
        self.assertEqual(r.status, 100, r.raw)
        inv = b.expect_request("INVITE")
        self.assertEqual(inv.get("max-forwards"), "69")
        self.assertEqual(len(header_lines(inv, "via")), 2)
        rr = header_lines(inv, "record-route")
        self.assertEqual(len(rr), 2, inv.raw)
        for v in rr:
            self.assertRegex(v, r"^<sip:[0-9a-f]+@127\.0\.0\.1:%d(;transport=tcp)?;lr>$" % self.server.port)
        b.reply(inv, 100, "Trying")  # hop-by-hop: must not reach the caller
        b.reply(inv, 180, "Ringing", to_tag="bobtag")
        ringing = a.c.recv()
        self.assertEqual(ringing.status, 180, ringing.raw)
        self.assertIn("tag=bobtag", ringing.get("to"))
        self.assertEqual(len(header_lines(ringing, "via")), 1)
        b.reply(inv, 200, "OK", body=SDP, headers=["Content-Type: application/sdp"], to_tag="bobtag")
        ok = a.c.recv_final()
        self.assertEqual(ok.status, 200, ok.raw)
        self.assertEqual(len(header_lines(ok, "record-route")), 2)
        # ACK for the 2xx goes end to end through the route set (step 13-17).
        dialog = a.uac_dialog(ok, invite_text)
        a.send_in_dialog(dialog, "ACK")
        ack = b.expect_request("ACK")
        self.assertEqual(ack.get("call-id"), call_id)
        self.assertEqual(ack.get("route"), None, "the proxy removes its own Route entries")
        # Bob hangs up (steps 18-23): BYE through the proxy to Alice, 200 back.
        bd = b.uas_dialog(inv, local_tag="bobtag")
        b.send_in_dialog(bd, "BYE")
        bye = a.expect_request("BYE")
        self.assertEqual(bye.get("max-forwards"), "69")
        self.assertEqual(len(header_lines(bye, "via")), 2)
        a.reply(bye, 200)
        done = b.c.recv_final()
        self.assertEqual(done.status, 200, done.raw)
        self.assertEqual(done.get("cseq"), "1 BYE")

    def test_wrong_identity_is_forbidden(self):
        a = self.ua("alice", "secret-a")
        b = self.ua("bob", "secret-b")
        b.register()
        uri = "sip:bob@%s" % DOMAIN
        a.c.cseq += 1
        text, _ = a.build_request("MESSAGE", uri, "<%s>" % uri, [], "", cseq=a.c.cseq)
        a.c.send_raw(text)
        r = a.c.recv_final()
        a.pick_proxy_challenge(r)
        # Valid credentials of bob (whose password Alice knows here) but From alice: 403, nobody
        # sends as somebody else.
        a.user, a.password = "bob", "secret-b"
        a.c.cseq += 1
        text, _ = a.build_request("MESSAGE", uri, "<%s>" % uri, [a.proxy_authorization("MESSAGE", uri)], "",
                                  cseq=a.c.cseq)
        text = text.replace("From: <sip:bob@", "From: <sip:alice@")
        a.c.send_raw(text)
        r = a.c.recv_final()
        self.assertEqual(r.status, 403, r.raw)

    def test_unknown_user_404_and_unregistered_480(self):
        a = self.ua("alice", "secret-a")
        r, _, _ = a.send_authenticated("INVITE", "nobody", SDP, content_type="application/sdp")
        self.assertEqual(r.status, 404, r.raw)
        r, _, _ = a.send_authenticated("INVITE", "carol", SDP, content_type="application/sdp")
        self.assertEqual(r.status, 480, r.raw)

    def test_busy_reaches_the_caller(self):
        a, b = self.pair()
        r, _, _ = a.send_authenticated("INVITE", "bob", SDP, content_type="application/sdp", expect_final=False)
        inv = b.expect_request("INVITE")
        b.reply(inv, 486, "Busy Here")
        final = a.c.recv_final()
        self.assertEqual(final.status, 486, final.raw)
        # The proxy's client transaction ACKs the 486 hop by hop (§17.1.1.3).
        ack = b.expect_request("ACK")
        self.assertEqual(ack.get("cseq").split()[1], "ACK")

    def test_cancel_before_answer(self):
        a, b = self.pair()
        r, invite_text, call_id = a.send_authenticated("INVITE", "bob", SDP, content_type="application/sdp",
                                                       expect_final=False)
        inv = b.expect_request("INVITE")
        b.reply(inv, 180, "Ringing", to_tag="t180")
        self.assertEqual(a.c.recv().status, 180)
        # CANCEL: same Via branch, Call-ID, From, To, CSeq number as the INVITE (§9.1).
        lines = invite_text.split("\r\n")
        via = [l for l in lines if l.startswith("Via:")][0]
        cseq = int([l for l in lines if l.startswith("CSeq:")][0].split()[1])
        cancel = "\r\n".join(["CANCEL sip:bob@%s SIP/2.0" % DOMAIN, via, "Max-Forwards: 70",
                              [l for l in lines if l.startswith("From:")][0],
                              [l for l in lines if l.startswith("To:")][0], "Call-ID: %s" % call_id,
                              "CSeq: %d CANCEL" % cseq, "Content-Length: 0"]) + "\r\n\r\n"
        a.c.send_raw(cancel)
        got = b.expect_request("CANCEL")
        b.reply(got, 200)
        b.reply(inv, 487, "Request Terminated", to_tag="t180")
        seen = []
        deadline = time.time() + 5
        while time.time() < deadline and 487 not in seen:
            seen.append(a.c.recv().status)
        self.assertIn(200, seen)   # the proxy's 200 to the CANCEL
        self.assertIn(487, seen)   # the INVITE's final answer

    def test_forking_first_200_wins_other_branch_cancelled(self):
        a = self.ua("alice", "secret-a")
        a.register()
        b1 = self.ua("bob", "secret-b")
        b2 = self.ua("bob", "secret-b")
        b1.register()
        b2.register()
        a.send_authenticated("INVITE", "bob", SDP, content_type="application/sdp", expect_final=False)
        i1 = b1.expect_request("INVITE")
        i2 = b2.expect_request("INVITE")
        b1.reply(i1, 180, "Ringing", to_tag="one")
        b2.reply(i2, 180, "Ringing", to_tag="two")
        b1.reply(i1, 200, "OK", body=SDP, headers=["Content-Type: application/sdp"], to_tag="one")
        cancel = b2.expect_request("CANCEL")
        b2.reply(cancel, 200)
        b2.reply(i2, 487, "Request Terminated", to_tag="two")
        finals = []
        deadline = time.time() + 5
        while time.time() < deadline:
            try:
                m = a.c.recv(1.0)
            except socket.timeout:
                break
            if m.status >= 200:
                finals.append(m)
        self.assertEqual([m.status for m in finals], [200], finals)
        self.assertIn("tag=one", finals[0].get("to"))

    def test_ring_timeout(self):
        a, b = self.pair()
        a.send_authenticated("INVITE", "bob", SDP, content_type="application/sdp", expect_final=False)
        inv = b.expect_request("INVITE")
        b.reply(inv, 180, "Ringing", to_tag="slow")
        started = time.time()
        cancel = b.expect_request("CANCEL", timeout=10)
        self.assertGreaterEqual(time.time() - started, 3.5)  # ring_timeout = 5 s from the INVITE
        b.reply(cancel, 200)
        final = a.c.recv_final(timeout=5)
        self.assertEqual(final.status, 480, final.raw)
        b.reply(inv, 487, "Request Terminated", to_tag="slow")

    def test_an_answer_that_crosses_the_ring_timeout_still_reaches_the_caller(self):
        # §16.7 step 10: a 2xx to INVITE always goes on, even after the proxy's own 480. Here the
        # caller has ACKed the 480 first, so its server transaction is Confirmed (UDP) or gone (TCP).
        a, b = self.pair()
        _, invite_text, call_id = a.send_authenticated("INVITE", "bob", SDP, content_type="application/sdp",
                                                       expect_final=False)
        inv = b.expect_request("INVITE")
        b.reply(inv, 180, "Ringing", to_tag="late")
        cancel = b.expect_request("CANCEL", timeout=10)
        final = a.c.recv_final(timeout=5)
        self.assertEqual(final.status, 480, final.raw)
        branch = re.search(r"branch=([^;\r\n]+)", [l for l in invite_text.split("\r\n")
                                                   if l.startswith("Via:")][0]).group(1)
        ack, _ = a.build_request("ACK", "sip:bob@%s" % DOMAIN, final.get("to"), call_id=call_id, branch=branch,
                                 cseq=a.c.cseq)
        a.c.send_raw(ack)
        time.sleep(0.3)
        # Bob answered before the CANCEL reached him: 200 to the CANCEL, 200 to the INVITE.
        b.reply(cancel, 200)
        b.reply(inv, 200, "OK", body=SDP, headers=["Content-Type: application/sdp"], to_tag="late")
        ok = a.c.recv_final(timeout=5)
        while ok.status == 480:  # a retransmission of the 480 (UDP, Timer G) may come first
            ok = a.c.recv_final(timeout=5)
        self.assertEqual(ok.status, 200, ok.raw)
        self.assertIn("tag=late", ok.get("to"))
        self.assertEqual(ok.get("cseq").split()[1], "INVITE")
        self.assertEqual(len(header_lines(ok, "via")), 1)
        self.assertEqual(len(header_lines(ok, "record-route")), 2)
        # The caller does not want the call any more: ACK and BYE, end to end through the route set.
        dialog = a.uac_dialog(ok, invite_text)
        a.send_in_dialog(dialog, "ACK")
        self.assertEqual(b.expect_request("ACK").get("call-id"), call_id)
        a.send_in_dialog(dialog, "BYE")
        bye = b.expect_request("BYE")
        b.reply(bye, 200)
        done = a.c.recv_final()
        while done.get("cseq").split()[1] != "BYE":
            done = a.c.recv_final()
        self.assertEqual(done.status, 200, done.raw)

    @staticmethod
    def everything_within(ua, seconds):
        """Every message `ua` receives in the next `seconds`."""
        got = []
        deadline = time.time() + seconds
        while time.time() < deadline:
            try:
                got.append(ua.c.recv(max(0.05, deadline - time.time())))
            except socket.timeout:
                break
        return got

    def test_a_refused_invite_is_answered_once_and_its_ack_goes_nowhere(self):
        # RFC 3261 §8.2.7: our refusals of INVITE are sent statelessly. Kept in a transaction over
        # UDP, Timer G would send one again at 0.5 s, 1.5 s, 3.5 s... to whatever address the
        # INVITE claimed to come from. Here: 403, relaying to an address that is not ours; then
        # the same for the 407 of an INVITE without credentials.
        if self.transport != "udp":
            self.skipTest("UDP only: nothing is retransmitted over TCP")
        a, b = self.pair()
        # Addressed to Bob's contact through a preloaded Route to us: an ACK so addressed would be
        # forwarded (as an ACK for a 2xx is) were it not recognised by the refusal's To tag.
        uri = uri_of(b.contact)
        route = "Route: <sip:127.0.0.1:%d;lr>" % self.server.port
        text, branch = a.build_request("INVITE", uri, "<sip:bob@%s>" % DOMAIN, [route, "Contact: %s" % a.contact,
                                                                     "Content-Type: application/sdp"],
                                       SDP, call_id="refused-once", cseq=1)
        a.c.send_raw(text)
        got = self.everything_within(a, 2.5)
        self.assertEqual([m.status for m in got], [403], [m.raw for m in got])
        tag = re.search(r"tag=([^;>\s]+)", got[0].get("to")).group(1)
        self.assertTrue(tag.startswith("sl."), got[0].raw)
        # The caller's ACK for it (§17.1.1.3: the INVITE's branch and Route, the 403's To tag)
        # matches no transaction; it must not travel on to Bob.
        ack, _ = a.build_request("ACK", uri, got[0].get("to"), [route], call_id="refused-once", branch=branch, cseq=1)
        a.c.send_raw(ack)
        with self.assertRaises(socket.timeout):
            m = b.c.recv(1.5)
            self.fail("Bob got %s" % m.raw)
        # An INVITE to Bob's address-of-record without credentials: one 407.
        aor = "sip:bob@%s" % DOMAIN
        text, branch = a.build_request("INVITE", aor, "<%s>" % aor, ["Contact: %s" % a.contact,
                                                                     "Content-Type: application/sdp"],
                                       SDP, call_id="challenged-once", cseq=1)
        a.c.send_raw(text)
        got = self.everything_within(a, 2.5)
        self.assertEqual([m.status for m in got], [407], [m.raw for m in got])
        self.assertTrue(re.search(r"tag=sl\.", got[0].get("to")), got[0].raw)

    def test_a_resent_invite_gets_the_same_answer(self):
        # RFC 3261 §8.2.7: a stateless answer must be the same for the same request, To tag
        # included. Without credentials: the same 407 (same tag) for the INVITE sent twice.
        a = self.ua("alice", "secret-a")  # Bob: a known user, not registered in this test (480)
        a.register()
        replays = self.server.read_log().count("replayed nc")
        aor = "sip:bob@%s" % DOMAIN
        text, branch = a.build_request("INVITE", aor, "<%s>" % aor, ["Contact: %s" % a.contact,
                                                                     "Content-Type: application/sdp"],
                                       SDP, call_id="sent-twice", cseq=1)
        tags = []
        for _ in range(2):
            a.c.send_raw(text)
            r = a.c.recv_final()
            self.assertEqual(r.status, 407, r.raw)
            tags.append(re.search(r"tag=([^;>\s]+)", r.get("to")).group(1))
        self.assertTrue(tags[0].startswith("sl."), tags)
        self.assertEqual(tags[0], tags[1])
        # With credentials, refused after they were checked (480: Bob has no binding): the same
        # request again is the nonce count again. It must get the 480 again, kept by the
        # transaction, not a 407 for a replay.
        r, text, call_id = a.send_authenticated("INVITE", "bob", SDP, content_type="application/sdp")
        self.assertEqual(r.status, 480, r.raw)
        to = r.get("to")
        self.assertFalse(re.search(r"tag=sl\.", to), r.raw)  # kept in its transaction
        a.c.send_raw(text)
        again = a.c.recv_final()
        self.assertEqual(again.status, 480, again.raw)
        self.assertEqual(again.get("to"), to)
        branch = re.search(r"branch=([^;\s]+)", text).group(1)
        ack, _ = a.build_request("ACK", "sip:bob@%s" % DOMAIN, to, (), call_id=call_id, branch=branch,
                                 cseq=int(re.search(r"CSeq: (\d+)", text).group(1)))
        a.c.send_raw(ack)
        self.assertEqual(self.server.read_log().count("replayed nc"), replays, self.server.read_log())

    def test_loop_detected(self):
        # Dave registers (over UDP: over TCP his connection is the way to him) a contact that is
        # the proxy itself: the request would come back, again and again.
        c = self.ua("dave", "secret-d", transport="udp")
        c.contact = "<sip:dave@127.0.0.1:%d>" % self.server.port
        c.register()
        a = self.ua("alice", "secret-a")
        r, _, _ = a.send_authenticated("MESSAGE", "dave", "loop?")
        self.assertEqual(r.status, 482, r.raw)


    def test_offline_message_delivered_on_register_in_order(self):
        a = self.ua("alice", "secret-a")
        for text in ("first", "second"):
            r, _, _ = a.send_authenticated("MESSAGE", "frank", text)
            self.assertEqual(r.status, 202, r.raw)
            self.assertRegex(r.get("to"), r";tag=")
        f = self.ua("frank", "secret-f")
        f.register()
        got = []
        for expected in ("first", "second"):
            m = f.expect_request("MESSAGE")
            self.assertEqual(m.body, expected)
            self.assertIn("sip:alice@%s" % DOMAIN, m.get("from"))
            self.assertRegex(m.get("date") or "", r"^\w{3}, \d{2} \w{3} \d{4} \d{2}:\d{2}:\d{2} GMT$")
            got.append(m.body)
            f.reply(m, 200)
        self.assertEqual(got, ["first", "second"])
        # Removed after the 2xx: a refresh delivers nothing more.
        f.register()
        with self.assertRaises(socket.timeout):
            f.expect_request("MESSAGE", timeout=1.0)

    def test_a_to_tag_does_not_open_a_relay(self):
        """An INVITE with a To tag (in-dialog in appearance) and a Route set that names another
        host, not us: the server does not relay, so 403, and nothing reaches that host."""
        elsewhere = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        elsewhere.bind(("127.0.0.1", 0))
        self.addCleanup(elsewhere.close)
        target = "sip:+19005550100@127.0.0.1:%d" % elsewhere.getsockname()[1]
        us = "Route: <sip:127.0.0.1:%d;lr>" % self.server.port
        there = "Route: <sip:127.0.0.1:%d;lr>" % elsewhere.getsockname()[1]
        a = self.ua("carol", "secret-c")
        # The next hop named at once; behind a Route naming us (anyone can write one); and only
        # a Route naming us, the Request-URI leading elsewhere.
        for i, routes in enumerate(([there], [us, there], [us])):
            text, _ = a.build_request("INVITE", target, "<%s>;tag=made-up" % target,
                                      routes + ["Contact: %s" % a.contact, "Content-Type: application/sdp"],
                                      SDP, call_id="toll-fraud-%d" % i, cseq=1)
            a.c.send_raw(text)
            r = a.c.recv_final()
            self.assertEqual(r.status, 403, "%s: %s" % (routes, r.raw))
            self.assertIn("Relaying Denied", r.raw.split("\r\n")[0])
        elsewhere.settimeout(1.0)
        with self.assertRaises(socket.timeout):
            data = elsewhere.recv(65536)
            self.fail("forwarded: %r" % data[:200])

    def test_no_way_around_the_senders_authentication(self):
        """Alice's name without Alice's password: with a made-up To tag; with a Via branch that
        looks like one of ours sent from 127.0.0.1 (a spiral is recognised by a signed branch,
        not by its look); and with the domain alone as From, which no user's credentials match."""
        b = self.ua("bob", "secret-b")
        b.register()
        a = self.ua("alice", "secret-a")
        uri = "sip:bob@%s" % DOMAIN
        for i, (to, branch) in enumerate((("<%s>;tag=made-up" % uri, None), ("<%s>" % uri, "z9hG4bKsw00abc"))):
            text, _ = a.build_request("MESSAGE", uri, to, ["Content-Type: text/plain"], "forged %d" % i,
                                      call_id="forged-%d" % i, branch=branch, cseq=1)
            a.c.send_raw(text)
            r = a.c.recv_final()
            self.assertEqual(r.status, 407, r.raw)
        with self.assertRaises(socket.timeout):
            m = b.c.recv(1.0)
            self.fail("Bob got %s" % m.raw)
        # The domain alone as From: refused at once, before any credentials.
        text, _ = a.build_request("MESSAGE", uri, "<%s>" % uri, ["Content-Type: text/plain"], "no user",
                                  call_id="no-user", cseq=1)
        text = text.replace("From: <sip:alice@%s>" % DOMAIN, "From: <sip:%s>" % DOMAIN)
        a.c.send_raw(text)
        r = a.c.recv_final()
        self.assertEqual(r.status, 403, r.raw)
        self.assertIn("From Names No User", r.raw.split("\r\n")[0])

    def test_a_final_response_without_the_callers_via_still_ends_the_request(self):
        """Bob answers with our Via only (the caller's is missing): nothing can be passed on, but
        the branch is over: the caller gets a final (500) instead of waiting for ever."""
        a, b = self.pair()
        r, _, _ = a.send_authenticated("MESSAGE", "bob", "a broken answer", wait=False)
        m = b.expect_request("MESSAGE")
        ours = m.all("via")[0]
        lines = ["SIP/2.0 486 Busy Here", "Via: %s" % ours, "From: %s" % m.get("from"),
                 "To: %s;tag=broken" % m.get("to"), "Call-ID: %s" % m.get("call-id"), "CSeq: %s" % m.get("cseq"),
                 "Content-Length: 0"]
        b.c.send_raw("\r\n".join(lines) + "\r\n\r\n")
        final = a.c.recv_final()
        self.assertEqual(final.status, 500, final.raw)

    def test_a_refused_offline_message_is_dropped_and_the_next_one_delivered(self):
        """A recipient that refuses a stored message for good (415) would refuse it at every
        registration: it is dropped, and the messages after it are not held back. Each goes out
        with the sender's own Call-ID and CSeq."""
        a = self.ua("alice", "secret-a")
        sent = []
        for text in ("unwanted", "not implemented", "wanted"):
            r, req, call_id = a.send_authenticated("MESSAGE", "grace", text)
            self.assertEqual(r.status, 202, r.raw)
            sent.append(("%s MESSAGE" % re.search(r"CSeq: (\d+)", req).group(1), call_id))
        g = self.ua("grace", "secret-g")
        g.register()
        previous = None
        for i, (text, status) in enumerate((("unwanted", 415), ("not implemented", 501), ("wanted", 200))):
            m = g.expect_request("MESSAGE")
            while m.body == previous:  # a retransmission that crossed the refusal (UDP)
                m = g.expect_request("MESSAGE")
            self.assertEqual(m.body, text)
            self.assertEqual((m.get("cseq"), m.get("call-id")), sent[i])
            g.reply(m, status, "OK" if status == 200 else "Refused")
            previous = text
        g.register()
        with self.assertRaises(socket.timeout):
            g.expect_request("MESSAGE", timeout=1.0)
        self.assertIn("offline message for grace@%s from sip:alice@%s refused with 415 by the recipient; dropped"
                      % (DOMAIN, DOMAIN), self.server.read_log())

    def test_a_message_stored_while_a_delivery_is_under_way_follows_it(self):
        """Heidi registers and gets her waiting message; before she answers it her binding goes,
        a second message is stored, and she registers again. The delivery under way ends with her
        200: the second message must follow then, not wait for her next registration."""
        a = self.ua("alice", "secret-a")
        r, _, _ = a.send_authenticated("MESSAGE", "heidi", "one")
        self.assertEqual(r.status, 202, r.raw)
        h = self.ua("heidi", "secret-h")
        h.register()
        first = h.expect_request("MESSAGE")
        self.assertEqual(first.body, "one")
        h.register(expires=0)
        r, _, _ = a.send_authenticated("MESSAGE", "heidi", "two")
        self.assertEqual(r.status, 202, r.raw)
        h.register()
        h.reply(first, 200)
        m = h.expect_request("MESSAGE")
        while m.body == "one":  # retransmissions of the first (UDP)
            m = h.expect_request("MESSAGE")
        self.assertEqual(m.body, "two")
        h.reply(m, 200)

    def test_offline_store_cap(self):
        a = self.ua("alice", "secret-a")
        for i in range(3):
            r, _, _ = a.send_authenticated("MESSAGE", "erin", "m%d" % i)
            self.assertEqual(r.status, 202, r.raw)
        r, _, _ = a.send_authenticated("MESSAGE", "erin", "one too many")
        self.assertEqual(r.status, 486, r.raw)
        self.assertIn("full", r.reason)

    def test_message_body_limit(self):
        a, b = self.pair()
        big = "x" * 1400
        r, _, _ = a.send_authenticated("MESSAGE", "bob", big, wait=self.transport == "udp")
        if self.transport == "udp":
            # RFC 3428 §7: 1300 bytes over UDP.
            self.assertEqual(r.status, 413, r.raw)
            return
        m = b.expect_request("MESSAGE")  # over TCP the limit is the configured max_body
        self.assertEqual(m.body, big)
        b.reply(m, 200)
        self.assertEqual(a.c.recv_final().status, 200)
        r, _, _ = a.send_authenticated("MESSAGE", "bob", "y" * 2001)  # [messages] max_body = 2000
        self.assertEqual(r.status, 413, r.raw)


class OutboundTcp(ServerPerClass, unittest.TestCase):
    """A contact with transport=tcp registered over UDP: the proxy opens the TCP connection."""

    def test_message_over_a_new_tcp_connection(self):
        listener = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        listener.bind(("127.0.0.1", 0))
        listener.listen(1)
        listener.settimeout(5)
        self.addCleanup(listener.close)
        b = UA("udp", self.server.port, "bob", "secret-b")
        self.addCleanup(b.close)
        b.contact = "<sip:bob@127.0.0.1:%d;transport=tcp>" % listener.getsockname()[1]
        b.register()
        a = UA("udp", self.server.port, "alice", "secret-a")
        self.addCleanup(a.close)
        a.send_authenticated("MESSAGE", "bob", "over tcp", wait=False)
        conn, _ = listener.accept()
        self.addCleanup(conn.close)
        conn.settimeout(5)
        data = b""
        while b"over tcp" not in data:
            chunk = conn.recv(65536)
            self.assertTrue(chunk, "connection closed before the MESSAGE arrived")
            data += chunk
        self.assertTrue(data.startswith(b"MESSAGE sip:bob@127.0.0.1:"), data[:200])
        self.assertIn(b"SIP/2.0/TCP", data)


    def alice_and_bob_at_tcp_port(self, port):
        """bob registered over UDP with a transport=tcp Contact on `port`; returns alice."""
        b = UA("udp", self.server.port, "bob", "secret-b")
        self.addCleanup(b.close)
        b.contact = "<sip:bob@127.0.0.1:%d;transport=tcp>" % port
        b.register()
        self.addCleanup(b.register, 0)
        a = UA("udp", self.server.port, "alice", "secret-a")
        self.addCleanup(a.close)
        return a

    def test_a_refused_tcp_contact_fails_at_once(self):
        # Nothing listens there: the connect is refused, and the branch fails now (§17.1.4)
        # instead of at Timer F 32 s later.
        closed = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        closed.bind(("127.0.0.1", 0))
        port = closed.getsockname()[1]
        closed.close()
        a = self.alice_and_bob_at_tcp_port(port)
        started = time.monotonic()
        r, _, _ = a.send_authenticated("MESSAGE", "bob", "nobody there")
        self.assertGreaterEqual(r.status, 500, r.raw)
        self.assertLess(time.monotonic() - started, 5.0)

    def test_a_tcp_contact_that_never_answers_fails_at_the_connect_deadline(self):
        # A listener whose accept queue is full drops further SYNs (Linux: the queue of a
        # backlog-0 listener holds one connection), so the server's connect neither succeeds nor
        # is refused. The connect deadline (5 s) ends the branch, well before Timer F (32 s).
        stuck = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        stuck.bind(("127.0.0.1", 0))
        stuck.listen(0)
        self.addCleanup(stuck.close)
        port = stuck.getsockname()[1]
        fillers = []
        for _ in range(2):
            f = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
            f.setblocking(False)
            f.connect_ex(("127.0.0.1", port))
            fillers.append(f)
            self.addCleanup(f.close)
        # The queue is full: one more connect from here does not complete.
        probe = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        probe.settimeout(1.0)
        self.addCleanup(probe.close)
        with self.assertRaises(socket.timeout):
            probe.connect(("127.0.0.1", port))
        a = self.alice_and_bob_at_tcp_port(port)
        started = time.monotonic()
        _, _, _ = a.send_authenticated("MESSAGE", "bob", "is anybody there", wait=False)
        r = a.c.recv_final(timeout=30)
        elapsed = time.monotonic() - started
        self.assertGreaterEqual(r.status, 500, r.raw)
        self.assertGreaterEqual(elapsed, 4.5)
        self.assertLess(elapsed, 12.0)
        self.assertRegex(self.server.read_log(), r"TCP connect to \S*127\.0\.0\.1:%d\S* not finished within 5 s" % port)


class FlowLostInFlight(ServerPerClass, unittest.TestCase):
    """The callee's TCP connection (its registered flow) closes while a request to it waits for
    the answer: the branch fails at once with 430 Flow Failed (RFC 5626 §5.3), because no
    response can come back that way, instead of at Timer F (32 s) or, for a ringing INVITE,
    never (only the ring timeout would end it)."""
    server_config = "[proxy]\nring_timeout = 60\n"

    def callee_and_caller(self):
        b = UA("tcp", self.server.port, "bob", "secret-b")
        self.addCleanup(b.close)
        b.register()
        a = UA("udp", self.server.port, "alice", "secret-a")
        self.addCleanup(a.close)
        return a, b

    def test_a_message_whose_flow_closes_before_the_answer_fails_at_once(self):
        a, b = self.callee_and_caller()
        a.send_authenticated("MESSAGE", "bob", "then gone", wait=False)
        b.expect_request("MESSAGE")
        started = time.monotonic()
        b.close()
        r = a.c.recv_final(timeout=10)
        self.assertEqual(r.status, 430, r.raw)
        self.assertLess(time.monotonic() - started, 3.0)

    def test_a_ringing_invite_whose_flow_closes_fails_at_once(self):
        a, b = self.callee_and_caller()
        a.send_authenticated("INVITE", "bob", SDP, content_type="application/sdp", wait=False)
        inv = b.expect_request("INVITE")
        b.reply(inv, 180, "Ringing", to_tag="bobtag")
        started = time.monotonic()
        b.close()
        r = a.c.recv_final(timeout=10)
        self.assertEqual(r.status, 430, r.raw)
        self.assertLess(time.monotonic() - started, 3.0)


class LargeRequests(ServerPerClass, unittest.TestCase):
    """RFC 3261 §18.1.1: a request over 1300 bytes for a UDP contact goes over TCP to the same
    address and port, its top Via saying TCP; when TCP is refused there it goes over UDP."""

    def read_request(self, conn):
        data = b""
        while True:
            end = data.find(b"\r\n\r\n")
            if end >= 0:
                m = re.search(rb"(?im)^content-length\s*:\s*(\d+)", data[:end])
                if m and len(data) >= end + 4 + int(m.group(1)):
                    return Response(data[:end + 4 + int(m.group(1))].decode())
            chunk = conn.recv(65536)
            self.assertTrue(chunk, "connection closed before the request arrived")
            data += chunk

    def bob_with_a_tcp_listener(self, contact=None):
        """bob registered over UDP, and a TCP listener on the same port number as his socket."""
        b = UA("udp", self.server.port, "bob", "secret-b")
        self.addCleanup(b.close)
        listener = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        listener.bind(("127.0.0.1", b.c.local_port))
        listener.listen(1)
        listener.settimeout(5)
        self.addCleanup(listener.close)
        if contact:
            b.contact = contact
        b.register()
        self.addCleanup(b.register, 0)
        a = UA("tcp", self.server.port, "alice", "secret-a")
        self.addCleanup(a.close)
        return a, b, listener

    def test_a_large_message_to_a_udp_contact_goes_over_tcp(self):
        a, b, listener = self.bob_with_a_tcp_listener()
        body = "z" * 1400
        a.send_authenticated("MESSAGE", "bob", body, wait=False)
        conn, _ = listener.accept()
        self.addCleanup(conn.close)
        conn.settimeout(5)
        m = self.read_request(conn)
        self.assertEqual(m.method, "MESSAGE")
        self.assertEqual(m.body, body)
        self.assertTrue(m.get("via").startswith("SIP/2.0/TCP "), m.get("via"))
        lines = ["SIP/2.0 200 OK"] + ["Via: %s" % v for v in m.all("via")]
        lines += ["From: %s" % m.get("from"), "To: %s;tag=b1" % m.get("to"), "Call-ID: %s" % m.get("call-id"),
                  "CSeq: %s" % m.get("cseq"), "Content-Length: 0"]
        conn.sendall(("\r\n".join(lines) + "\r\n\r\n").encode())
        self.assertEqual(a.c.recv_final().status, 200)

    def test_a_large_message_to_a_contact_behind_a_nat_stays_on_udp(self):
        # A private contact that is not where the REGISTER came from: a phone behind a NAT, which
        # no TCP connection from outside reaches.
        a, b, listener = self.bob_with_a_tcp_listener(contact="<sip:bob@10.11.12.13:5060>")
        body = "n" * 1400
        a.send_authenticated("MESSAGE", "bob", body, wait=False)
        m = b.expect_request("MESSAGE", timeout=3.0)
        self.assertEqual(m.body, body)
        self.assertTrue(m.get("via").startswith("SIP/2.0/UDP "), m.get("via"))
        b.reply(m, 200)
        self.assertEqual(a.c.recv_final().status, 200)
        listener.settimeout(0.5)
        with self.assertRaises(socket.timeout):
            listener.accept()

    def test_when_tcp_is_refused_it_goes_over_udp(self):
        b = UA("udp", self.server.port, "bob", "secret-b")
        self.addCleanup(b.close)
        b.register()  # nothing listens on TCP at its port
        self.addCleanup(b.register, 0)
        a = UA("tcp", self.server.port, "alice", "secret-a")
        self.addCleanup(a.close)
        body = "q" * 1400
        started = time.monotonic()
        a.send_authenticated("MESSAGE", "bob", body, wait=False)
        m = b.expect_request("MESSAGE", timeout=5.0)
        self.assertLess(time.monotonic() - started, 3.0, "the refused connect must not wait for a timer")
        self.assertEqual(m.body, body)
        self.assertTrue(m.get("via").startswith("SIP/2.0/UDP "), m.get("via"))
        b.reply(m, 200)
        self.assertEqual(a.c.recv_final().status, 200)


class OfflineAcrossKill9(unittest.TestCase):
    """A 202 means stored: kill -9 right after it, restart, the recipient registers and gets the
    message exactly once."""

    def test_kill_9_then_delivered_once(self):
        server = Server("", users=(("alice", "secret-a"), ("bob", "secret-b")))
        self.addCleanup(server.cleanup)
        server.start()
        a = UA("udp", server.port, "alice", "secret-a")
        self.addCleanup(a.close)
        r, _, _ = a.send_authenticated("MESSAGE", "bob", "survives kill -9")
        self.assertEqual(r.status, 202, r.raw)
        server.stop(signal.SIGKILL)
        server.start()
        b = UA("udp", server.port, "bob", "secret-b")
        self.addCleanup(b.close)
        b.register()
        m = b.expect_request("MESSAGE")
        self.assertEqual(m.body, "survives kill -9")
        b.reply(m, 200)
        b.register()
        with self.assertRaises(socket.timeout):
            b.expect_request("MESSAGE", timeout=1.0)
        self.assertEqual(server.stop(), 0, server.read_log())


class OfflineDeleteFails(unittest.TestCase):
    """A delivered offline message whose delete fails (another process holds the database's write
    lock past the 5 s busy timeout) stays stored: it may come once more at the next registration,
    but it is not sent again and again meanwhile."""

    def test_a_message_that_could_not_be_deleted_is_not_resent_at_once(self):
        import sqlite3
        server = Server("", users=(("alice", "secret-a"), ("bob", "secret-b")))
        self.addCleanup(server.cleanup)
        server.start()
        a = UA("tcp", server.port, "alice", "secret-a")
        self.addCleanup(a.close)
        r, _, _ = a.send_authenticated("MESSAGE", "bob", "once")
        self.assertEqual(r.status, 202, r.raw)
        b = UA("tcp", server.port, "bob", "secret-b")
        self.addCleanup(b.close)
        b.register()
        m = b.expect_request("MESSAGE")
        self.assertEqual(m.body, "once")
        other = sqlite3.connect(os.path.join(server.data_dir, "sipwarden.db"), isolation_level=None)
        self.addCleanup(other.close)
        other.execute("BEGIN IMMEDIATE")
        try:
            b.reply(m, 200)
            with self.assertRaises(socket.timeout):  # the delete fails after 5 s; no copy follows
                again = b.expect_request("MESSAGE", timeout=8.0)
                self.fail("delivered again: %s" % again.body)
        finally:
            other.execute("ROLLBACK")
        self.assertIn("not removed", server.read_log())
        self.assertEqual(server.stop(), 0, server.read_log())


class ShutdownSummary(unittest.TestCase):
    """The proxy's counters, summed over the workers, are in the log when the server stops."""

    def test_the_stop_logs_what_the_proxy_did(self):
        server = Server("", users=(("alice", "secret-a"), ("bob", "secret-b")))
        self.addCleanup(server.cleanup)
        server.start()
        a = UA("udp", server.port, "alice", "secret-a")
        b = UA("udp", server.port, "bob", "secret-b")
        self.addCleanup(a.close)
        self.addCleanup(b.close)
        b.register()
        r, _, _ = a.send_authenticated("MESSAGE", "bob", "counted", wait=False)
        m = b.expect_request("MESSAGE")
        b.reply(m, 200)
        self.assertEqual(a.c.recv_final().status, 200)
        # The INVITE's 407 is stateless; send_authenticated ACKs it (dropped by the server), then
        # the authenticated INVITE to a user we do not have gets 404.
        r, _, _ = a.send_authenticated("INVITE", "nobody", SDP, content_type="application/sdp")
        self.assertEqual(r.status, 404, r.raw)
        self.assertEqual(server.stop(), 0, server.read_log())
        log = server.read_log()
        self.assertIn("proxy: 1 requests forwarded on 1 branches, 0 CANCELs sent", log)
        self.assertIn("1 ACKs of stateless refusals dropped", log)


class ProxyFlowsTcp(ProxyFlows):
    transport = "tcp"


if __name__ == "__main__":
    unittest.main()
