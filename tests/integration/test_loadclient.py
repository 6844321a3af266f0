"""The project's own load client (bench/loadclient: sipwarden-load, the TLS load tool of issue 5)
against a real sipwarden, with small counts: REGISTER with digest over UDP, TCP and TLS (one
persistent connection, and a new TLS connection per call), MESSAGE and INVITE calls through the
proxy to the client's own uas over each transport, idle TLS connections, and failures counted when
the password is wrong. Every run must report exactly the calls it made.

The client binary: SIPWARDEN_LOAD_BIN, else sipwarden-load beside SIPWARDEN_BIN (both land in the
build directory). The test is skipped when this build configuration does not build the client."""
import json
import os
import shutil
import signal
import subprocess
import tempfile
import time
import unittest

from harness import BIN, DOMAIN, Server, free_port
from tls_fixtures import Pki

LOAD_BIN = os.environ.get("SIPWARDEN_LOAD_BIN") or os.path.join(os.path.dirname(os.path.abspath(BIN)),
                                                               "sipwarden-load")
# Users N with password pw-N, as the Kamailio harness. sipwarden keeps several bindings per user, so
# each group of tests registers its own users: a callee registered by an earlier test (its Contact
# gone) would get a branch of every later call.
USERS = {"register": (1000, 20), "udp": (1020, 10), "tcp": (1030, 10), "tls": (1040, 10), "idle": (1050, 30)}
PKI_DIR = None
PKI = None


def setUpModule():
    global PKI_DIR, PKI
    if not os.path.exists(LOAD_BIN):
        return
    PKI_DIR = tempfile.mkdtemp(prefix="sipwarden-pki-")
    PKI = Pki(PKI_DIR)


def tearDownModule():
    if PKI_DIR:
        shutil.rmtree(PKI_DIR, ignore_errors=True)


def last_json(text):
    lines = [l for l in text.splitlines() if l.startswith("{")]
    if not lines:
        raise AssertionError("no JSON line in the client's output:\n" + text)
    return json.loads(lines[-1])


@unittest.skipUnless(os.path.exists(LOAD_BIN),
                     "sipwarden-load is not built in this configuration (looked for %s; it is built with "
                     "bench/, or set SIPWARDEN_LOAD_BIN)" % LOAD_BIN)
class LoadClientAgainstSipwarden(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        config = ('[tls]\ncertificate = "%s"\nprivate_key = "%s"\nca_file = "%s"\n' % (
            PKI.path("server-chain.crt"), PKI.path("server.key"), PKI.path("root-ca.crt")))
        cls.server = Server(config, users=(), tls=True)
        users = os.path.join(cls.server.tmp, "users.txt")
        with open(users, "w") as f:
            for n in range(1000, 1080):
                f.write("%d@%s pw-%d\n" % (n, DOMAIN, n))
        cls.server.cli("user", "import", users, check=True)
        cls.server.start()

    @classmethod
    def tearDownClass(cls):
        rc = cls.server.stop()
        log = cls.server.read_log()
        cls.server.cleanup()
        if rc != 0:
            raise AssertionError("server exited with %d:\n%s" % (rc, log))

    def port(self, transport):
        return self.server.tls_port if transport == "tls" else self.server.port

    def common(self, transport, group):
        first, count = USERS[group]
        args = ["--transport", transport, "--server", "127.0.0.1:%d" % self.port(transport),
                "--users", "%d-%d" % (first, first + count - 1), "--call-timeout", "8"]
        if transport == "tls":
            args += ["--tls-ca", PKI.path("root-ca.crt")]  # the chain and the name (example.test) are verified
        return args

    def load(self, mode, transport, rate, calls, extra=(), group="register", expect_failures=False):
        """Runs the client; exit status 0 (passed) or 1 (a call failed, or the achieved rate fell
        below 95% of the offered one, which a slow or busy machine may cause in a one-second run:
        the tests check the counts, not the rate). 2 would be bad options or a failed set-up."""
        cmd = [LOAD_BIN, mode] + self.common(transport, group) + ["--rate", str(rate), "--calls", str(calls)] + list(extra)
        r = subprocess.run(cmd, capture_output=True, text=True, timeout=120)
        self.assertIn(r.returncode, (0, 1), "%s\n%s\n%s\nserver log:\n%s" % (
            " ".join(cmd), r.stdout, r.stderr, self.server.read_log()[-3000:]))
        result = last_json(r.stdout)
        if result.get("failures") and not expect_failures:
            print("%s: %s\nserver log:\n%s" % (" ".join(cmd), r.stderr, self.server.read_log()[-3000:]))
        self.assertEqual(r.returncode, 0 if result["verdict"] == "PASS" else 1, result)
        return result

    def assert_all_succeeded(self, result, calls):
        self.assertEqual(result["calls"], calls, result)
        self.assertEqual(result["started"], calls, result)
        self.assertEqual(result["succeeded"], calls, result)
        self.assertEqual(result["failed"] + result["not_started"] + result["unfinished"], 0, result)
        self.assertEqual(result["failures"], {}, result)
        self.assertEqual(result["failed_pct"], 0, result)
        self.assertGreater(result["p50_ms"], 0, result)
        self.assertGreaterEqual(result["p99_ms"], result["p50_ms"], result)

    def start_uas(self, transport):
        """The client's uas: registers every user with itself as the Contact, then answers."""
        port = free_port()
        ready = os.path.join(self.server.tmp, "uas-%s.ready" % transport)
        cmd = [LOAD_BIN, "uas"] + self.common(transport, transport) + ["--local-port", str(port), "--register-rate", "200",
                                                           "--ready-file", ready, "--hold", "60"]
        if transport == "tls":
            cmd += ["--tls-cert", PKI.path("server-chain.crt"), "--tls-key", PKI.path("server.key")]
        p = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        deadline = time.time() + 30
        while time.time() < deadline and not os.path.exists(ready) and p.poll() is None:
            time.sleep(0.05)
        if not os.path.exists(ready):
            p.kill()
            out, err = p.communicate(timeout=10)
            raise AssertionError("uas not ready:\n%s\n%s\nserver log:\n%s" % (out, err, self.server.read_log()[-3000:]))
        return p

    def stop_uas(self, p, transport):
        p.send_signal(signal.SIGTERM)
        out, err = p.communicate(timeout=30)
        self.assertEqual(p.returncode, 0, out + err)
        lines = [json.loads(l) for l in out.splitlines() if l.startswith("{")]
        self.assertEqual(lines[0]["phase"], "uas-register")
        self.assertEqual(lines[0]["succeeded"], USERS[transport][1], lines[0])
        return lines[-1]

    # ---- REGISTER ----

    def test_register_over_udp(self):
        r = self.load("register", "udp", 40, 40)
        self.assert_all_succeeded(r, 40)
        self.assertEqual(r["transport"], "udp")

    def test_register_over_tcp_one_connection(self):
        r = self.load("register", "tcp", 40, 40)
        self.assert_all_succeeded(r, 40)
        self.assertEqual(r["connections"], "1")
        self.assertEqual(r["connections_lost"], 0)

    def test_register_over_tls_one_connection_md5_and_sha256(self):
        for alg in ("SHA-256", "MD5"):
            r = self.load("register", "tls", 40, 40, ["--algorithm", alg])
            self.assert_all_succeeded(r, 40)
            self.assertEqual(r["connections_lost"], 0)

    def test_register_over_tls_a_handshake_per_call(self):
        r = self.load("register", "tls", 20, 20, ["--connection-per-call", "--tls-version", "1.3"])
        self.assert_all_succeeded(r, 20)
        self.assertEqual(r["connections"], "per-call")
        self.assertEqual(r["connections_opened"], 20)
        self.assertIn("setup_p50_ms", r)

    def test_register_over_tls_with_two_threads_and_four_connections(self):
        r = self.load("register", "tls", 40, 40, ["--threads", "2", "--connections", "4"])
        self.assert_all_succeeded(r, 40)

    def test_a_wrong_password_is_counted_as_failed_calls(self):
        r = self.load("register", "tcp", 20, 10, ["--password-prefix", "wrong-"], expect_failures=True)
        self.assertEqual(r["succeeded"], 0, r)
        self.assertEqual(r["failed"], 10, r)
        self.assertEqual(r["verdict"], "FAIL")
        self.assertEqual(sum(r["failures"].values()), 10, r)
        (reason,) = r["failures"].keys()
        self.assertRegex(reason, r"^40[13] .* to REGISTER with credentials$")

    # ---- MESSAGE and INVITE through the proxy to the client's uas ----

    def calls_through_proxy(self, transport):
        uas = self.start_uas(transport)
        try:
            m = self.load("message", transport, 20, 20, group=transport)
            self.assert_all_succeeded(m, 20)
            i = self.load("invite", transport, 10, 10, group=transport)
            self.assert_all_succeeded(i, 10)
        finally:
            summary = self.stop_uas(uas, transport)
        self.assertEqual(summary["requests"].get("MESSAGE"), 20, summary)
        self.assertEqual(summary["requests"].get("INVITE"), 10, summary)
        self.assertEqual(summary["requests"].get("BYE"), 10, summary)
        self.assertEqual(summary["requests"].get("ACK"), 10, summary)
        return summary

    def test_message_and_invite_over_udp(self):
        self.calls_through_proxy("udp")

    def test_message_and_invite_over_tcp(self):
        self.calls_through_proxy("tcp")

    def test_message_and_invite_over_tls(self):
        summary = self.calls_through_proxy("tls")
        # The callee's binding is its registration connection (the flow): nothing connects to its port.
        self.assertEqual(summary["connections_lost"], 0, summary)

    # ---- idle connections ----

    def test_idle_tls_connections_are_opened_registered_and_held(self):
        r = self.load("idle", "tls", 30, 30, ["--hold", "1"], group="idle")
        self.assert_all_succeeded(r, 30)
        self.assertEqual(r["held"], 30, r)
        self.assertEqual(r["lost_during_hold"], 0, r)


if __name__ == "__main__":
    unittest.main()
