"""Per-domain security modes (the Exchange UM guide's Unsecured / SIP Secured / Secured) and peer
gateways admitted by certificate, on one server with 5060 (UDP/TCP) and TLS side by side:
- example.test is unsecured, tls.test is sip-secured, srtp.test is secured;
- a UDP REGISTER into tls.test → 403 that says why; over TLS it registers;
- a call from UDP into tls.test → 403; a tls.test caller to a UDP callee → 403 (not reachable over TLS);
- a plain-RTP INVITE into srtp.test over TLS → 488 with a Warning; SRTP (RTP/SAVP + a=crypto) over
  TLS → proxied to the callee;
- the answer is held to the same rule: a plain-RTP answer in a 2xx is not passed on (the caller gets
  488 with a Warning, the callee ACK and BYE); in a 183 it is not passed on and the branch is
  cancelled; an SRTP answer, and an SRTP offer in the 2xx to an INVITE without SDP, go through;
- gw.example.net is an allow-listed gateway: with its certificate (our CA, SAN gw.example.net) its
  INVITE is proxied without a digest; the same name over UDP, or in a certificate from another CA,
  or a certificate of ours that names something else, is refused."""
import shutil
import socket
import ssl
import subprocess
import tempfile
import unittest
import uuid

from harness import DOMAIN, Server, SipClient
from proxy_ua import UA
from tls_fixtures import Pki

PLAIN_SDP = ("v=0\r\no=- 1 1 IN IP4 127.0.0.1\r\ns=-\r\nc=IN IP4 127.0.0.1\r\nt=0 0\r\n"
             "m=audio 40000 RTP/AVP 0\r\na=rtpmap:0 PCMU/8000\r\n")
SRTP_SDP = ("v=0\r\no=- 1 1 IN IP4 127.0.0.1\r\ns=-\r\nc=IN IP4 127.0.0.1\r\nt=0 0\r\n"
            "m=audio 40000 RTP/SAVP 0\r\na=rtpmap:0 PCMU/8000\r\n"
            "a=crypto:1 AES_CM_128_HMAC_SHA1_80 inline:PS1uQCVeeCFCanVmcjkpPywjNWhcYD0mXXtxaVBR|2^20|1:32\r\n")


class SecurityModes(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.pki_dir = tempfile.mkdtemp(prefix="sipwarden-pki-")
        cls.pki = Pki(cls.pki_dir)
        config = ('[[domain]]\nname = "tls.test"\nsecurity = "sip-secured"\n'
                  '[[domain]]\nname = "srtp.test"\nsecurity = "secured"\n'
                  '[[gateway]]\nname = "gw.example.net"\n'
                  '[tls]\ncertificate = "%s"\nprivate_key = "%s"\nca_file = "%s"\nclient_certificates = "optional"\n'
                  % (cls.pki.path("server-chain.crt"), cls.pki.path("server.key"), cls.pki.path("ca-chain.crt")))
        cls.server = Server(config, tls=True)
        for user, domain in (("carol", "tls.test"), ("dave", "tls.test"), ("erin", "srtp.test"),
                             ("frank", "srtp.test")):
            cls.server.cli("user", "add", "%s@%s" % (user, domain), "--password", "pw-" + user, check=True)
        cls.server.start()

    @classmethod
    def tearDownClass(cls):
        rc = cls.server.stop()
        log = cls.server.read_log()
        cls.server.cleanup()
        shutil.rmtree(cls.pki_dir, ignore_errors=True)
        if rc != 0:
            raise AssertionError("server exited with %d:\n%s" % (rc, log))
        # The rejections of the tests above are counted (403 arrival x2 with REGISTER, departure,
        # 488, gateway 403s are not security-mode ones).
        import re
        m = re.search(r"(\d+) refused by a domain security mode", log)
        if not m or int(m.group(1)) < 4:
            raise AssertionError("security rejections not counted:\n" + log[-2000:])

    def tls_client(self, cert=None):
        ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
        ctx.load_verify_locations(self.pki.path("root-ca.crt"))
        if cert:
            ctx.load_cert_chain(self.pki.path(cert + "-chain.crt"), self.pki.path(cert + ".key"))
        return SipClient("tls", self.server.tls_port, ssl_context=ctx)

    def ua(self, user, domain, transport="tls", cert=None):
        client = self.tls_client(cert) if transport == "tls" else SipClient(transport, self.server.port)
        u = UA(transport, self.server.port, user, "pw-" + user, domain=domain, client=client)
        self.addCleanup(u.close)
        return u

    def test_udp_register_into_a_sip_secured_domain_is_refused_and_says_why(self):
        u = self.ua("carol", "tls.test", transport="udp")
        r = u.reg.send(contact=u.contact, authorize=False)
        self.assertEqual(r.status, 403, r.raw)
        self.assertIn("TLS Required", r.raw.split("\r\n")[0])
        t = self.ua("carol", "tls.test")
        self.assertEqual(t.register().status, 200)
        t.register(expires=0)

    def test_call_arriving_over_udp_into_a_sip_secured_domain_is_refused(self):
        dave = self.ua("dave", "tls.test")
        dave.register()
        self.addCleanup(dave.register, 0)
        alice = self.ua("alice", DOMAIN, transport="udp")
        alice.password = "secret-a"
        r, _, _ = alice.send_authenticated("MESSAGE", "dave", "hello", target_domain="tls.test")
        self.assertEqual(r.status, 403, r.raw)
        self.assertIn("TLS Required By Callee Domain Security Mode", r.raw.split("\r\n")[0])

    def test_sip_secured_caller_to_a_udp_callee_is_refused(self):
        bob = self.ua("bob", DOMAIN, transport="udp")
        bob.password = "secret-b"
        bob.reg.password = "secret-b"
        bob.register()
        self.addCleanup(bob.register, 0)
        carol = self.ua("carol", "tls.test")
        r, _, _ = carol.send_authenticated("MESSAGE", "bob", "over udp?", target_domain=DOMAIN)
        self.assertEqual(r.status, 403, r.raw)
        self.assertIn("Not Reachable Over TLS", r.raw.split("\r\n")[0])

    def test_an_offline_message_from_a_sip_secured_domain_waits_for_a_tls_binding(self):
        """Carol (tls.test, sip-secured) writes to Bob while he is offline: stored. Its delivery is
        held to the rule a live MESSAGE is: not over Bob's UDP binding, only once he has one over
        TLS."""
        carol = self.ua("carol", "tls.test")
        r, _, _ = carol.send_authenticated("MESSAGE", "bob", "only over tls", target_domain=DOMAIN)
        self.assertEqual(r.status, 202, r.raw)
        # A message from an unsecured domain after it is not held back by it.
        alice = self.ua("alice", DOMAIN, transport="udp")
        alice.password = "secret-a"
        r, _, _ = alice.send_authenticated("MESSAGE", "bob", "any transport")
        self.assertEqual(r.status, 202, r.raw)
        bob_udp = self.ua("bob", DOMAIN, transport="udp")
        bob_udp.password = bob_udp.reg.password = "secret-b"
        bob_udp.register()
        self.addCleanup(bob_udp.register, 0)
        m = bob_udp.expect_request("MESSAGE")
        self.assertEqual(m.body, "any transport")
        bob_udp.reply(m, 200)
        with self.assertRaises(socket.timeout):
            while True:  # retransmissions of the one delivered may cross the 200; nothing else comes
                self.assertEqual(bob_udp.expect_request("MESSAGE", timeout=1.5).body, "any transport")
        self.assertIn("offline message for bob@%s kept: its domain security mode needs TLS" % DOMAIN,
                      self.server.read_log())
        bob_tls = self.ua("bob", DOMAIN)
        bob_tls.password = bob_tls.reg.password = "secret-b"
        bob_tls.register()
        self.addCleanup(bob_tls.register, 0)
        m = bob_tls.expect_request("MESSAGE")
        self.assertEqual(m.body, "only over tls")
        self.assertIn("SIP/2.0/TLS", m.get("via"))
        bob_tls.reply(m, 200)

    def test_plain_rtp_into_a_secured_domain_gets_488_with_a_warning(self):
        frank = self.ua("frank", "srtp.test")
        frank.register()
        self.addCleanup(frank.register, 0)
        erin = self.ua("erin", "srtp.test")
        r, _, _ = erin.send_authenticated("INVITE", "frank", PLAIN_SDP, content_type="application/sdp",
                                          target_domain="srtp.test")
        self.assertEqual(r.status, 488, r.raw)
        warning = r.get("warning")
        self.assertTrue(warning and warning.startswith("302 "), r.raw)
        self.assertIn("RTP/AVP", warning)

    def test_srtp_over_tls_into_a_secured_domain_is_proxied(self):
        erin, frank, invite = self.secured_call(SRTP_SDP)
        self.assertIn("a=crypto:1 AES_CM_128_HMAC_SHA1_80", invite.body)
        self.assertIn("SIP/2.0/TLS", invite.get("via"))
        frank.reply(invite, 486)
        self.assertEqual(erin.c.recv_final().status, 486)

    def secured_call(self, offer):
        frank = self.ua("frank", "srtp.test")
        frank.register()
        self.addCleanup(frank.register, 0)
        erin = self.ua("erin", "srtp.test")
        erin.send_authenticated("INVITE", "frank", offer, content_type="application/sdp", wait=False,
                                target_domain="srtp.test")
        invite = frank.expect_request("INVITE")
        return erin, frank, invite

    def test_plain_rtp_answer_in_a_2xx_is_refused_and_the_callee_gets_ack_and_bye(self):
        erin, frank, invite = self.secured_call(SRTP_SDP)
        frank.reply(invite, 200, headers=["Content-Type: application/sdp"], body=PLAIN_SDP, to_tag="frank-2xx")
        r = erin.c.recv_final()
        self.assertEqual(r.status, 488, r.raw)
        warning = r.get("warning")
        self.assertTrue(warning and warning.startswith("302 "), r.raw)
        self.assertIn("RTP/AVP", warning)
        self.assertNotIn("RTP/AVP", r.body or "")
        # The callee's dialog is ended by the proxy: ACK for its 2xx, then BYE, in that dialog.
        ack = frank.expect_request("ACK")
        self.assertIn("tag=frank-2xx", ack.get("to"))
        self.assertEqual(ack.get("call-id"), invite.get("call-id"))
        self.assertEqual(ack.get("cseq").split()[0], invite.get("cseq").split()[0])
        bye = frank.expect_request("BYE")
        self.assertIn("tag=frank-2xx", bye.get("to"))
        self.assertEqual(int(bye.get("cseq").split()[0]), int(invite.get("cseq").split()[0]) + 1)
        self.assertIn("cause=488", bye.get("reason"))
        self.assertTrue(bye.uri.startswith("sip:frank@"), bye.uri)
        frank.reply(bye, 200)
        # A retransmission of the refused 2xx is ACKed again and never reaches the caller.
        frank.reply(invite, 200, headers=["Content-Type: application/sdp"], body=PLAIN_SDP, to_tag="frank-2xx")
        again = frank.expect_request("ACK")
        self.assertIn("tag=frank-2xx", again.get("to"))
        with self.assertRaises(TimeoutError):
            erin.c.recv(1.0)

    def test_plain_rtp_answer_in_a_183_is_not_passed_on_and_the_branch_is_cancelled(self):
        erin, frank, invite = self.secured_call(SRTP_SDP)
        frank.reply(invite, 183, "Session Progress", headers=["Content-Type: application/sdp"], body=PLAIN_SDP,
                    to_tag="frank-183")
        cancel = frank.expect_request("CANCEL")
        self.assertEqual(cancel.get("call-id"), invite.get("call-id"))
        frank.reply(cancel, 200)
        frank.reply(invite, 487, "Request Terminated", to_tag="frank-183")
        seen = []
        while True:
            r = erin.c.recv()
            seen.append(r.status)
            if r.status >= 200:
                break
        self.assertEqual(r.status, 488, r.raw)
        self.assertIn("RTP/AVP", r.get("warning") or "")
        self.assertNotIn(183, seen)

    def test_an_srtp_answer_goes_through(self):
        erin, frank, invite = self.secured_call(SRTP_SDP)
        frank.reply(invite, 200, headers=["Content-Type: application/sdp"], body=SRTP_SDP)
        r = erin.c.recv_final()
        self.assertEqual(r.status, 200, r.raw)
        self.assertIn("RTP/SAVP", r.body)

    def test_sdp_in_a_200_to_options_is_not_an_answer(self):
        frank = self.ua("frank", "srtp.test")
        frank.register()
        self.addCleanup(frank.register, 0)
        erin = self.ua("erin", "srtp.test")
        erin.send_authenticated("OPTIONS", "frank", wait=False, target_domain="srtp.test")
        options = frank.expect_request("OPTIONS")
        frank.reply(options, 200, headers=["Content-Type: application/sdp"], body=PLAIN_SDP)
        r = erin.c.recv_final()
        self.assertEqual(r.status, 200, r.raw)

    def test_a_plain_rtp_offer_in_the_2xx_to_an_invite_without_sdp_is_refused(self):
        erin2, frank2, invite2 = self.secured_call("")
        frank2.reply(invite2, 200, headers=["Content-Type: application/sdp"], body=PLAIN_SDP, to_tag="late")
        r2 = erin2.c.recv_final()
        self.assertEqual(r2.status, 488, r2.raw)
        self.assertEqual(frank2.expect_request("BYE").get("call-id"), invite2.get("call-id"))

    def late_offer_call(self, to_tag):
        """erin INVITEs frank without SDP; frank offers SRTP in the 200; erin has the 200."""
        frank = self.ua("frank", "srtp.test")
        frank.register()
        self.addCleanup(frank.register, 0)
        erin = self.ua("erin", "srtp.test")
        _, invite_text, _ = erin.send_authenticated("INVITE", "frank", "", wait=False, target_domain="srtp.test")
        invite = frank.expect_request("INVITE")
        frank.reply(invite, 200, headers=["Content-Type: application/sdp"], body=SRTP_SDP, to_tag=to_tag)
        ok = erin.c.recv_final()
        self.assertEqual(ok.status, 200, ok.raw)
        return erin, frank, invite, erin.uac_dialog(ok, invite_text)

    def test_a_plain_rtp_answer_in_the_ack_is_not_forwarded_and_the_callee_gets_bye(self):
        erin, frank, invite, dialog = self.late_offer_call("late-ack")
        erin.send_in_dialog(dialog, "ACK", body=PLAIN_SDP, headers=["Content-Type: application/sdp"])
        bye = frank.expect_request("BYE")
        self.assertNotIn("ACK", [m.method for m in frank.skipped], "the refused ACK reached the callee")
        self.assertEqual(bye.get("call-id"), invite.get("call-id"))
        self.assertIn("tag=late-ack", bye.get("to"))
        self.assertEqual(int(bye.get("cseq").split()[0]), int(invite.get("cseq").split()[0]) + 1)
        self.assertIn("cause=488", bye.get("reason"))
        self.assertTrue(bye.uri.startswith("sip:frank@"), bye.uri)
        frank.reply(bye, 200)
        self.assertIn("SDP answer is refused", self.server.wait_log("SDP answer is refused"))
        # The caller sends the ACK again (as it does for each retransmission of the 2xx): it is
        # not forwarded either, and the dialog, ended once, gets no second BYE.
        erin.send_in_dialog(dialog, "ACK", body=PLAIN_SDP, headers=["Content-Type: application/sdp"])
        with self.assertRaises(TimeoutError):
            frank.expect_request("BYE", timeout=1.0)
        self.assertEqual([m.method for m in frank.skipped if m.method], [], "the ACK again reached the callee")
        self.assertIn("the callee's dialog is already ended", self.server.wait_log("already ended"))

    def test_an_srtp_answer_in_the_ack_is_forwarded(self):
        erin, frank, invite, dialog = self.late_offer_call("late-ok")
        erin.send_in_dialog(dialog, "ACK", body=SRTP_SDP, headers=["Content-Type: application/sdp"])
        ack = frank.expect_request("ACK")
        self.assertEqual(ack.get("call-id"), invite.get("call-id"))
        self.assertIn("RTP/SAVP", ack.body)
        with self.assertRaises(TimeoutError):
            frank.expect_request("BYE", timeout=1.0)

    def gateway_invite(self, client, from_host="gw.example.net"):
        call_id = uuid.uuid4().hex
        branch = "z9hG4bK" + uuid.uuid4().hex
        msg = ("INVITE sip:bob@%s SIP/2.0\r\nVia: SIP/2.0/%s 127.0.0.1:%d;branch=%s;rport\r\nMax-Forwards: 70\r\n"
               "From: <sip:+15551234@%s>;tag=gw1\r\nTo: <sip:bob@%s>\r\nCall-ID: %s\r\nCSeq: 1 INVITE\r\n"
               "Contact: <sip:+15551234@127.0.0.1:%d;transport=%s>\r\nContent-Type: application/sdp\r\n"
               "Content-Length: %d\r\n\r\n%s") % (DOMAIN, client.transport.upper(), client.local_port, branch,
                                                 from_host, DOMAIN, call_id, client.local_port, client.transport,
                                                 len(PLAIN_SDP), PLAIN_SDP)
        client.send_raw(msg)
        return client.recv_final()

    def test_allow_listed_gateway_with_its_certificate_is_proxied_without_digest(self):
        bob = self.ua("bob", DOMAIN, transport="udp")
        bob.password = bob.reg.password = "secret-b"
        bob.register()
        self.addCleanup(bob.register, 0)
        gw = self.tls_client("gateway")
        self.addCleanup(gw.close)
        call_id = uuid.uuid4().hex
        gw.send_raw(("INVITE sip:bob@%s SIP/2.0\r\nVia: SIP/2.0/TLS 127.0.0.1:%d;branch=z9hG4bK%s;rport\r\n"
                     "Max-Forwards: 70\r\nFrom: <sip:+15551234@gw.example.net>;tag=gw1\r\nTo: <sip:bob@%s>\r\n"
                     "Call-ID: %s\r\nCSeq: 1 INVITE\r\nContact: <sip:gw@127.0.0.1:%d;transport=tls>\r\n"
                     "Content-Length: 0\r\n\r\n") % (DOMAIN, gw.local_port, uuid.uuid4().hex, DOMAIN, call_id,
                                                   gw.local_port))
        invite = bob.expect_request("INVITE")
        self.assertIn("gw.example.net", invite.get("from"))
        bob.reply(invite, 486)
        self.assertEqual(gw.recv_final().status, 486)

    def test_the_gateway_name_over_udp_is_refused(self):
        c = SipClient("udp", self.server.port)
        self.addCleanup(c.close)
        r = self.gateway_invite(c)
        self.assertEqual(r.status, 403, r.raw)
        self.assertIn("Gateway Not Authenticated", r.raw.split("\r\n")[0])

    def test_the_gateway_name_with_another_certificate_of_ours_is_refused(self):
        c = self.tls_client("alice")
        self.addCleanup(c.close)
        r = self.gateway_invite(c)
        self.assertEqual(r.status, 403, r.raw)

    def test_the_gateway_name_in_a_certificate_from_another_ca_is_refused(self):
        ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
        ctx.load_verify_locations(self.pki.path("root-ca.crt"))
        ctx.load_cert_chain(self.pki.path("stranger.crt"), self.pki.path("stranger.key"))
        with self.assertRaises((ssl.SSLError, ConnectionError, OSError)):
            c = SipClient("tls", self.server.tls_port, ssl_context=ctx)
            try:
                self.gateway_invite(c)
            finally:
                c.close()


if __name__ == "__main__":
    unittest.main()
