"""SIPp (Debian's sip-tester), a real SIP user agent, against the live server over UDP and TCP:
digest REGISTER with MD5, a wrong password, unregistration, and a small load of distinct users."""
import json
import os
import subprocess
import threading
import time
import unittest

from harness import DOMAIN, ServerPerClass, run_sipp, sipp_available

HERE = os.path.dirname(os.path.abspath(__file__))
SCENARIOS = os.path.join(HERE, "sipp")
USERS = [("u%d" % i, "pw-%d" % i) for i in range(1000, 1050)]


@unittest.skipUnless(sipp_available(), "sipp (Debian package sip-tester) is not installed")
class SippTests(ServerPerClass):
    transport = None  # SIPp -t value

    # SIPp answers a challenge with MD5 only: offer MD5 (the RFC 8760 order, SHA-256 first, is
    # tested with the Python driver).
    server_config = '[auth]\nalgorithms = ["MD5"]\n'
    server_users = USERS

    def inject(self, users, hold_ms=0):
        lines = ["SEQUENTIAL"] + ["%s;%s;%s;%d" % (u, p, DOMAIN, hold_ms) for u, p in users]
        return "\n".join(lines) + "\n"

    def registrations(self):
        return json.loads(self.server.cli("registrations", "--json", check=True).stdout)

    def test_register_binding_visible_then_removed(self):
        user = USERS[0]
        result = {}

        def sipp():
            result["rc"], result["out"] = run_sipp(os.path.join(SCENARIOS, "register_auth.xml"), self.server.port,
                                                   self.transport, inject=self.inject([user], hold_ms=3000))

        t = threading.Thread(target=sipp)
        t.start()
        seen = []
        deadline = time.time() + 20
        while time.time() < deadline and not seen:
            seen = [b for b in self.registrations() if b["aor"] == "%s@%s" % (user[0], DOMAIN)]
            time.sleep(0.2)
        t.join()
        self.assertEqual(result["rc"], 0, result["out"])
        self.assertEqual(len(seen), 1, seen)
        self.assertIn("%s-sipp@127.0.0.1" % user[0], seen[0]["contact"])
        self.assertEqual(seen[0]["user_agent"], "SIPp")
        self.assertEqual([b for b in self.registrations() if b["aor"] == "%s@%s" % (user[0], DOMAIN)], [])

    def test_wrong_password(self):
        rc, out = run_sipp(os.path.join(SCENARIOS, "register_wrong_password.xml"), self.server.port, self.transport,
                           inject=self.inject([USERS[1]]))
        self.assertEqual(rc, 0, out)
        self.assertFalse(any(b["aor"].startswith(USERS[1][0] + "@") for b in self.registrations()))

    def test_many_users(self):
        users = USERS[2:]
        rc, out = run_sipp(os.path.join(SCENARIOS, "register_auth.xml"), self.server.port, self.transport,
                           calls=len(users), inject=self.inject(users))
        self.assertEqual(rc, 0, out)


class SippUdpTest(SippTests, unittest.TestCase):
    transport = "u1"


class SippTcpTest(SippTests, unittest.TestCase):
    transport = "t1"


if __name__ == "__main__":
    unittest.main()
