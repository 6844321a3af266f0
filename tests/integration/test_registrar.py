"""The registrar and digest authentication, end to end over real UDP and TCP sockets
(issue: the server). Every test class runs once per transport."""
import json
import socket
import time
import unittest

from harness import DOMAIN, Registration, ServerPerClass, SipClient, parse_challenge

CONFIG = """
[registrar]
min_expires = 2
max_expires = 3600
default_expires = 600
[auth]
nonce_lifetime = 2
"""


class RegistrarTests(ServerPerClass):
    transport = None

    server_config = CONFIG

    def client(self):
        c = SipClient(self.transport, self.server.port)
        self.addCleanup(c.close)
        return c

    def registrations(self, aor):
        r = self.server.cli("registrations", "--json", "--aor", aor, check=True)
        return json.loads(r.stdout)

    def test_challenge_offers_sha256_then_md5(self):
        c = self.client()
        r = Registration(c, "alice", "secret-a").send(3600, authorize=False)
        self.assertEqual(r.status, 401)
        challenges = [parse_challenge(v) for v in r.all("www-authenticate")]
        self.assertEqual([p.get("algorithm") for p in challenges], ["SHA-256", "MD5"])
        for p in challenges:
            self.assertEqual(p["realm"], DOMAIN)
            self.assertEqual(p["qop"], "auth")
            self.assertTrue(p["nonce"])
            self.assertTrue(p["opaque"])
        self.assertIn("tag=", r.get("to"))

    def check_register(self, alg):
        c = self.client()
        reg = Registration(c, "alice", "secret-a", alg=alg)
        contact = "<sip:alice-%s@127.0.0.1:%d;transport=%s>" % (alg.lower(), c.local_port, self.transport)
        r = reg.register(600, contact=contact)
        self.assertEqual(r.status, 200, r.raw)
        contacts = r.all("contact")
        self.assertTrue(any("alice-%s@" % alg.lower() in v and "expires=" in v for v in contacts), contacts)
        self.assertIsNotNone(r.get("date"))
        found = [b for b in self.registrations("alice@" + DOMAIN) if "alice-%s@" % alg.lower() in b["contact"]]
        self.assertEqual(len(found), 1)
        self.assertGreater(found[0]["expires_in"], 590)
        self.assertTrue(found[0]["received"].startswith(self.transport + ":127.0.0.1:"))
        # Unregister that contact (expires=0): gone from the 200 and from the store.
        r = reg.register(0, contact=contact)
        self.assertEqual(r.status, 200)
        self.assertFalse(any("alice-%s@" % alg.lower() in v for v in r.all("contact")))
        self.assertEqual([b for b in self.registrations("alice@" + DOMAIN) if "alice-%s@" % alg.lower() in b["contact"]], [])

    def test_register_md5(self):
        self.check_register("MD5")

    def test_register_sha256(self):
        self.check_register("SHA-256")

    def test_wrong_password_is_challenged_again(self):
        c = self.client()
        contact = "<sip:alice-wrong@127.0.0.1:%d>" % c.local_port
        reg = Registration(c, "alice", "not-the-password")
        r = reg.register(600, contact=contact)
        self.assertEqual(r.status, 401)
        self.assertFalse(any("alice-wrong" in b["contact"] for b in self.registrations("alice@" + DOMAIN)))

    def test_unknown_user_looks_like_a_wrong_password(self):
        c = self.client()
        reg = Registration(c, "mallory", "whatever")
        self.assertEqual(reg.register(600).status, 401)

    def test_nonce_count_replay_is_rejected(self):
        c = self.client()
        reg = Registration(c, "bob", "secret-b")
        self.assertEqual(reg.register(600).status, 200)
        # The same nonce with a higher nc is fine (RFC 7616 §3.4.5)...
        self.assertEqual(reg.send(600, nc=5).status, 200)
        # ...a replayed (nonce, nc) is not.
        r = reg.send(600, nc=5)
        self.assertEqual(r.status, 401)
        r = reg.send(600, nc=3)
        self.assertEqual(r.status, 401)

    def test_stale_nonce(self):
        c = self.client()
        reg = Registration(c, "bob", "secret-b")
        r = reg.send(600, authorize=False)
        self.assertEqual(r.status, 401)
        reg.pick(r)
        time.sleep(3.2)  # nonce_lifetime = 2
        r = reg.send(600)
        self.assertEqual(r.status, 401)
        self.assertTrue(all(parse_challenge(v).get("stale", "").lower() == "true" for v in r.all("www-authenticate")),
                        r.all("www-authenticate"))
        reg.pick(r)
        self.assertEqual(reg.send(600).status, 200)

    def test_credentials_of_another_user_are_forbidden(self):
        c = self.client()
        reg = Registration(c, "alice", "secret-b")
        r = reg.send(600, authorize=False)
        reg.pick(r)
        r = reg.send(600, username="bob")  # bob's valid credentials, alice's To
        self.assertEqual(r.status, 403)

    def test_interval_too_brief_and_cap(self):
        c = self.client()
        reg = Registration(c, "alice", "secret-a")
        r = reg.register(1)
        self.assertEqual(r.status, 423)
        self.assertEqual(r.get("min-expires"), "2")
        contact = "<sip:alice-cap@127.0.0.1:%d>" % c.local_port
        r = reg.register(7200, contact=contact)
        self.assertEqual(r.status, 200)
        mine = [v for v in r.all("contact") if "alice-cap@" in v]
        self.assertEqual(len(mine), 1)
        self.assertIn("expires=3600", mine[0])
        reg.register(0, contact=contact)

    def test_expiry_refresh_and_star(self):
        c = self.client()
        reg = Registration(c, "bob", "secret-b")
        short = "<sip:bob-short@127.0.0.1:%d>" % c.local_port
        kept = "<sip:bob-kept@127.0.0.1:%d>" % c.local_port
        self.assertEqual(reg.register(2, contact=short).status, 200)
        self.assertEqual(reg.register(600, contact=kept).status, 200)
        time.sleep(1.2)
        # Refresh keeps it alive past its first expiry.
        self.assertEqual(reg.register(3, contact=short).status, 200)
        time.sleep(1.5)
        contacts = [b["contact"] for b in self.registrations("bob@" + DOMAIN)]
        self.assertTrue(any("bob-short" in x for x in contacts), contacts)
        time.sleep(2.5)
        contacts = [b["contact"] for b in self.registrations("bob@" + DOMAIN)]
        self.assertFalse(any("bob-short" in x for x in contacts), contacts)
        self.assertTrue(any("bob-kept" in x for x in contacts), contacts)
        # A query (no Contact) lists the current bindings.
        r = reg.register(None, contact="")
        self.assertEqual(r.status, 200)
        self.assertTrue(any("bob-kept" in v for v in r.all("contact")))
        # Contact: * with Expires: 0 removes every binding.
        r = reg.register(0, contact="*")
        self.assertEqual(r.status, 200, r.raw)
        self.assertEqual(r.all("contact"), [])
        self.assertEqual(self.registrations("bob@" + DOMAIN), [])
        # Contact: * with a non-zero Expires is a bad request (RFC 3261 §10.3 step 6).
        self.assertEqual(reg.register(60, contact="*").status, 400)

    def test_options_keepalive(self):
        c = self.client()
        r = c.request("OPTIONS", "sip:%s" % DOMAIN)
        self.assertEqual(r.status, 200)
        self.assertIn("REGISTER", r.get("allow"))
        self.assertIn("path", r.get("supported"))
        self.assertIsNotNone(r.get("accept"))

    def test_unknown_require_is_420(self):
        c = self.client()
        r = c.request("OPTIONS", "sip:%s" % DOMAIN, ["Require: 100rel, foo"])
        self.assertEqual(r.status, 420)
        self.assertEqual(r.get("unsupported"), "100rel, foo")

    def test_max_forwards_zero_is_483(self):
        c = self.client()
        msg = c.build("MESSAGE", "sip:bob@%s" % DOMAIN, ["Content-Type: text/plain"], "hi").replace(
            "Max-Forwards: 70", "Max-Forwards: 0")
        c.send_raw(msg)
        self.assertEqual(c.recv_final().status, 483)

    def test_bad_header_is_400_naming_it(self):
        c = self.client()
        msg = c.build("OPTIONS", "sip:%s" % DOMAIN).replace("Max-Forwards: 70", "Max-Forwards: seventy")
        c.send_raw(msg)
        r = c.recv_final()
        self.assertEqual(r.status, 400)
        self.assertIn("Max-Forwards", r.reason)
        # Even when the bad header is one a response copies (CSeq), the request gets its 400
        # (RFC 4475 §3.1.2.4), with the CSeq as written; and the server goes on answering.
        c.send_raw(c.build("OPTIONS", "sip:%s" % DOMAIN).replace("CSeq: ", "CSeq: x"))
        r = c.recv_final()
        self.assertEqual(r.status, 400)
        self.assertIn("CSeq", r.reason)
        self.assertTrue(r.get("cseq").startswith("x"), r.get("cseq"))
        self.assertEqual(c.request("OPTIONS", "sip:%s" % DOMAIN).status, 200)

    def test_request_to_unknown_and_unregistered_users(self):
        c = self.client()
        # From another domain: nothing to authenticate, the location service answers.
        outsider = "<sip:someone@elsewhere.example>"
        self.assertEqual(c.request("MESSAGE", "sip:nobody@%s" % DOMAIN, from_=outsider).status, 404)
        self.assertEqual(c.request("MESSAGE", "sip:nobody@elsewhere.example", from_=outsider).status, 403)
        # From a user of ours: the proxy wants credentials first (test_proxy goes on from there).
        self.assertEqual(c.request("MESSAGE", "sip:nobody@%s" % DOMAIN).status, 407)
        self.assertEqual(c.request("FOO", "sip:%s" % DOMAIN).status, 501)

class UdpRegistrarTest(RegistrarTests, unittest.TestCase):
    transport = "udp"

    def test_retransmission_is_answered_from_the_transaction(self):
        c = self.client()
        msg = c.build("OPTIONS", "sip:%s" % DOMAIN)
        c.send_raw(msg)
        first = c.recv_final()
        c.send_raw(msg)
        second = c.recv_final()
        self.assertEqual(first.raw, second.raw)  # the same bytes: the core never saw it twice

    def test_challenge_keeps_no_transaction(self):
        # RFC 3261 §8.2.7: the 401 is sent statelessly. The same unauthenticated REGISTER again is
        # a new request, answered with a fresh nonce, and either challenge can be answered.
        c = self.client()
        reg = Registration(c, "alice", "secret-a", alg="MD5")
        msg = c.build("REGISTER", "sip:%s" % DOMAIN, ["Contact: %s" % reg.contact, "Expires: 600"],
                      to=reg.aor(), from_=reg.aor())
        c.send_raw(msg)
        first = c.recv_final()
        c.send_raw(msg)
        second = c.recv_final()
        self.assertEqual((first.status, second.status), (401, 401))
        nonces = [parse_challenge(r.all("www-authenticate")[-1])["nonce"] for r in (first, second)]
        self.assertNotEqual(nonces[0], nonces[1])
        reg.pick(first)
        self.assertEqual(reg.send(600).status, 200)
        reg.pick(second)
        self.assertEqual(reg.send(0).status, 200)
        # An OPTIONS (answered 200) is still absorbed by its transaction: see the test above.

    def test_rport_and_received(self):
        c = self.client()
        msg = c.build("OPTIONS", "sip:%s" % DOMAIN, via_extra=";rport").replace(
            "Via: SIP/2.0/UDP 127.0.0.1:", "Via: SIP/2.0/UDP 192.0.2.9:")
        c.send_raw(msg)
        r = c.recv_final()
        via = r.get("via")
        self.assertIn("received=127.0.0.1", via)
        self.assertIn("rport=%d" % c.local_port, via)


class TcpRegistrarTest(RegistrarTests, unittest.TestCase):
    transport = "tcp"

    def test_pipelined_requests_on_one_connection(self):
        c = self.client()
        msgs = "".join(c.build("OPTIONS", "sip:%s" % DOMAIN) for _ in range(20))
        c.send_raw(msgs)
        for _ in range(20):
            self.assertEqual(c.recv_final().status, 200)

    def test_crlf_keepalive_pong(self):
        c = self.client()
        c.send_raw("\r\n\r\n")
        c.sock.settimeout(5)
        self.assertEqual(c.sock.recv(16), b"\r\n")

    def test_unframeable_stream_is_closed(self):
        c = self.client()
        c.send_raw("OPTIONS sip:%s SIP/2.0\r\nContent-Length: abc\r\n\r\n" % DOMAIN)
        c.sock.settimeout(5)
        data = b""
        closed = False
        try:
            while True:
                chunk = c.sock.recv(4096)
                if not chunk:
                    closed = True
                    break
                data += chunk
        except ConnectionResetError:
            closed = True
        except socket.timeout:
            pass
        self.assertTrue(closed, "the server kept an unframeable stream open")
        if data:
            self.assertTrue(data.startswith(b"SIP/2.0 4"), data)


if __name__ == "__main__":
    unittest.main()
