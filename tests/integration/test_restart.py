"""Bindings survive restarts: a 200 OK to REGISTER is sent only after the binding is durable, so
neither a graceful stop (SIGTERM) nor kill -9 loses one; expired ones do not come back."""
import json
import os
import signal
import sqlite3
import time
import unittest

from harness import DOMAIN, Registration, Server, SipClient

CONFIG = "[registrar]\nmin_expires = 1\n"


class RestartTest(unittest.TestCase):
    def setUp(self):
        self.server = Server(CONFIG)
        self.addCleanup(self.server.cleanup)

    def registrations(self):
        return json.loads(self.server.cli("registrations", "--json", check=True).stdout)

    def register_some(self):
        udp = SipClient("udp", self.server.port)
        tcp = SipClient("tcp", self.server.port)
        self.addCleanup(udp.close)
        self.addCleanup(tcp.close)
        alice = Registration(udp, "alice", "secret-a")
        for i in range(3):
            r = alice.register(3600, contact="<sip:alice-%d@192.0.2.1:5060>" % i)
            self.assertEqual(r.status, 200)
        bob = Registration(tcp, "bob", "secret-b")
        self.assertEqual(bob.register(3600).status, 200)
        short = Registration(udp, "bob", "secret-b")
        self.assertEqual(short.register(2, contact="<sip:bob-short@192.0.2.2>").status, 200)
        return udp

    def check_restored(self, expect_short):
        self.server.start()
        contacts = sorted(b["contact"] for b in self.registrations())
        expected = ["sip:alice-0@192.0.2.1:5060", "sip:alice-1@192.0.2.1:5060", "sip:alice-2@192.0.2.1:5060"]
        self.assertEqual([c for c in contacts if c.startswith("sip:alice")], expected)
        self.assertEqual(len([c for c in contacts if c.startswith("sip:bob@127.0.0.1")]), 1, contacts)
        self.assertEqual(any("bob-short" in c for c in contacts), expect_short, contacts)
        # The restored bindings are live in the server, not only in the file: a query lists them.
        c = SipClient("udp", self.server.port)
        self.addCleanup(c.close)
        r = Registration(c, "alice", "secret-a").register(None, contact="")
        self.assertEqual(r.status, 200)
        self.assertEqual(len([v for v in r.all("contact") if "alice-" in v]), 3, r.all("contact"))
        self.assertEqual(self.server.stop(), 0, self.server.read_log())

    def test_graceful_restart(self):
        self.server.start()
        self.register_some()
        self.assertEqual(self.server.stop(signal.SIGTERM), 0, self.server.read_log())
        self.assertIn("SIGTERM: shutting down", self.server.read_log())
        self.check_restored(expect_short=True)

    def test_kill_9_loses_nothing_acknowledged(self):
        self.server.start()
        self.register_some()
        self.server.stop(signal.SIGKILL)
        self.check_restored(expect_short=True)

    def stored_contacts(self):
        db = sqlite3.connect("file:%s?mode=ro" % os.path.join(self.server.data_dir, "sipwarden.db"), uri=True)
        try:
            return sorted(row[0] for row in db.execute("SELECT contact FROM bindings"))
        finally:
            db.close()

    def test_expired_bindings_do_not_come_back(self):
        self.server.start()
        self.register_some()
        self.server.stop(signal.SIGKILL)
        self.assertIn("sip:bob-short@192.0.2.2", self.stored_contacts())
        time.sleep(2.5)
        self.check_restored(expect_short=False)
        # Deleted from the file at the start, not only left out of the location table.
        self.assertIn("4 binding(s) restored from", self.server.read_log())
        self.assertIn("(1 expired while stopped, deleted)", self.server.read_log())
        stored = self.stored_contacts()
        self.assertEqual(len(stored), 4, stored)
        self.assertNotIn("sip:bob-short@192.0.2.2", stored)

    def test_second_server_on_the_same_data_dir_is_refused(self):
        self.server.start()
        import subprocess
        from harness import BIN
        r = subprocess.run([BIN, "serve", "--data-dir", self.server.data_dir, "--listen", "udp:127.0.0.1:0"],
                           capture_output=True, text=True, timeout=30)
        self.assertEqual(r.returncode, 1)
        self.assertIn("in use by another sipwarden", r.stderr)
        self.assertEqual(self.server.stop(), 0)



class RestartWithoutSyncPerCommitTest(RestartTest):
    """[store] synchronous = "normal" gives up the sync per commit (a power loss may lose the last
    commits), not durability against a crash of the server: kill -9 still loses nothing that was
    acknowledged. Every test of RestartTest runs again in this mode."""

    def setUp(self):
        self.server = Server(CONFIG + '[store]\nsynchronous = "normal"\n')
        self.addCleanup(self.server.cleanup)

    def test_the_start_says_which_mode_is_in_force(self):
        self.server.start()
        self.assertIn("store: synchronous = normal", self.server.read_log())
        self.assertEqual(self.server.stop(), 0)
        default = Server(CONFIG)
        self.addCleanup(default.cleanup)
        default.start()
        self.assertIn("store: synchronous = full", default.read_log())
        self.assertEqual(default.stop(), 0)


class ReplayAfterRestartTest(unittest.TestCase):
    """The nonce counts that stop a replayed request live in the server's memory: a request
    captured before a restart, sent again after it with its Proxy-Authorization, must not be
    accepted by the new process (its nonce is from another start: stale, asked again)."""

    def test_a_captured_request_is_not_accepted_after_a_restart(self):
        import re
        import uuid
        from proxy_ua import UA
        server = Server(CONFIG)
        self.addCleanup(server.cleanup)
        server.start()
        a = UA("udp", server.port, "alice", "secret-a")
        self.addCleanup(a.close)
        r, text, _ = a.send_authenticated("MESSAGE", "carol-nobody", "captured")
        self.assertEqual(r.status, 404, r.raw)  # authenticated, then: no such user
        self.assertEqual(server.stop(signal.SIGTERM), 0, server.read_log())
        server.start()
        replay = re.sub(r"branch=[^;\r\n]+", "branch=z9hG4bK" + uuid.uuid4().hex, text)
        replay = re.sub(r"CSeq: (\d+)", lambda m: "CSeq: %d" % (int(m.group(1)) + 1), replay)
        a.c.send_raw(replay)
        r = a.c.recv_final()
        self.assertEqual(r.status, 407, r.raw)
        self.assertTrue(any("stale=true" in v.replace(" ", "").lower() for v in r.all("proxy-authenticate")), r.raw)
        self.assertEqual(server.stop(), 0)


class StoreFailureTest(unittest.TestCase):
    """A REGISTER whose write fails is answered 500 and changes nothing: not on the disk, and not
    in the server's memory either (a call would otherwise reach a contact the phone was told is
    not registered, or miss one it still has)."""

    def test_a_register_answered_500_leaves_the_bindings_as_they_were(self):
        server = Server(CONFIG)
        self.addCleanup(server.cleanup)
        server.start()
        c = SipClient("tcp", server.port, timeout=15)
        self.addCleanup(c.close)
        alice = Registration(c, "alice", "secret-a")
        self.assertEqual(alice.register(3600, contact="<sip:alice-kept@192.0.2.1>").status, 200)

        # Another process holds the database's write lock past the server's busy timeout (5 s).
        other = sqlite3.connect(os.path.join(server.data_dir, "sipwarden.db"), isolation_level=None)
        self.addCleanup(other.close)
        other.execute("BEGIN IMMEDIATE")
        r = alice.register(3600, contact="<sip:alice-refused@192.0.2.1>, <sip:alice-kept@192.0.2.1>;expires=0")
        other.execute("ROLLBACK")
        self.assertEqual(r.status, 500, r.raw)
        self.assertEqual(r.get("retry-after"), "5")

        # A query (no Contact) answers from memory: the kept contact is still there, the refused
        # one never came.
        deadline = time.time() + 5
        while True:
            q = alice.register(None, contact="")
            self.assertEqual(q.status, 200)
            contacts = q.all("contact")
            if any("alice-kept" in v for v in contacts) or time.time() > deadline:
                break
            time.sleep(0.1)
        self.assertTrue(any("alice-kept" in v for v in contacts), contacts)
        self.assertFalse(any("alice-refused" in v for v in contacts), contacts)
        self.assertIn("bindings of alice@%s set back to the stored ones after the failed write" % DOMAIN,
                      server.read_log())
        self.assertEqual(server.stop(), 0, server.read_log())
        server.start()
        contacts = [b["contact"] for b in json.loads(server.cli("registrations", "--json", check=True).stdout)]
        self.assertEqual(contacts, ["sip:alice-kept@192.0.2.1"])
        self.assertEqual(server.stop(), 0)


if __name__ == "__main__":
    unittest.main()
