"""Real SIP user agents from Debian (sipsak 0.9.8.1, baresip 1.0.0 on libre 1.1.0) register with a
password against the live server, over UDP and TCP, and their bindings show in
`sipwarden registrations --json`.

Interop facts these tests pin down (checked against the installed packages):
- Neither UA can answer a SHA-256 challenge, and neither falls back to the MD5 challenge that the
  server sends alongside it by default (SHA-256 first, then MD5, RFC 8760 order):
  * sipsak reads only the first WWW-Authenticate header and, built without OpenSSL (Debian's build
    says INTERNAL_MD5 in `sipsak -V`, no OPENSSL_SHA1), rejects SHA-256 with
    "unsupported authentication algorithm" and exit code 2.
  * libre 1.1.0 (baresip's SIP stack) stops at the first challenge it cannot handle: the
    registration fails with "Function not implemented" (ENOSYS).
  So the registering tests run a server configured with `[auth] algorithms = ["MD5"]`, and the
  `test_default_challenges_*` tests record the failure with the default set.
- sipsak needs `-u USER` for the digest username: without it this version sends username="alice@".
- sipsak resolves the host of `-s` unless an outbound proxy and port are already set, so `-p`
  (and `-E`) must come before `-s`; example.test need not resolve then.
- baresip unregisters (Contact expires=0, answering a fresh challenge) when it gets SIGTERM.
"""
import json
import os
import re
import shutil
import signal
import subprocess
import tempfile
import time
import unittest

from harness import DOMAIN, Server, ServerPerClass

USERS = (("alice", "secret-a"), ("bob", "secret-b"), ("carol", "secret-c"), ("dave", "secret-d"),
         ("erin", "secret-e"), ("frank", "secret-f"), ("grace", "secret-g"), ("heidi", "secret-h"))
MD5_ONLY = '[auth]\nalgorithms = ["MD5"]\n'


def registrations(server):
    return json.loads(server.cli("registrations", "--json", check=True).stdout)


def bindings_of(server, user):
    return [b for b in registrations(server) if b["aor"] == "%s@%s" % (user, DOMAIN)]


def wait_for(predicate, timeout):
    """Polls predicate until it returns something truthy or timeout seconds pass; returns the last value."""
    deadline = time.time() + timeout
    while True:
        value = predicate()
        if value or time.time() >= deadline:
            return value
        time.sleep(0.1)


def start_server(test, config):
    server = Server(config, users=USERS)
    test.addCleanup(server.cleanup)
    server.start()
    return server


def stop_server(test, server):
    rc = server.stop()
    test.assertEqual(rc, 0, "server exited with %s:\n%s" % (rc, server.read_log()))


class MD5ServerPerClass(ServerPerClass, unittest.TestCase):
    server_config = MD5_ONLY
    server_users = USERS


# ---------------------------------------------------------------------------------------------- sipsak

def sipsak_available():
    return shutil.which("sipsak") is not None


def run_sipsak(test, port, user, password, transport="udp", expires=300, contact=None, timeout=20):
    """One sipsak usrloc run (REGISTER, answering the digest challenge); returns (exit code, output)."""
    # Order matters: -E and -p before -s, so that sipsak does not try to resolve example.test.
    cmd = ["sipsak", "-E", transport, "-p", "127.0.0.1:%d" % port, "-U", "-s", "sip:%s@%s" % (user, DOMAIN),
           "-u", user, "-a", password, "-x", str(expires), "-i", "-vv"]
    if contact:
        cmd += ["-C", contact]
    proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    test.addCleanup(kill, proc)
    try:
        out, _ = proc.communicate(timeout=timeout)
    except subprocess.TimeoutExpired:
        proc.kill()
        out, _ = proc.communicate()
        test.fail("sipsak did not finish within %d s:\n%s" % (timeout, out))
    return proc.returncode, "%s\n%s" % (" ".join(cmd), out)


def kill(proc):
    if proc.poll() is None:
        proc.kill()
    proc.wait()
    for stream in (proc.stdout, proc.stderr):
        if stream:
            stream.close()


def sipsak_has_sha256():
    if not sipsak_available():
        return False
    r = subprocess.run(["sipsak", "-V"], capture_output=True, text=True, timeout=10)
    return "OPENSSL_SHA1" in r.stdout + r.stderr


@unittest.skipUnless(sipsak_available(), "sipsak (Debian package sipsak) is not installed")
class SipsakTest(MD5ServerPerClass):
    """sipsak against a server offering MD5 only (sipsak cannot answer the default SHA-256 challenge)."""

    def check_register(self, user, password, transport):
        rc, out = run_sipsak(self, self.server.port, user, password, transport)
        self.assertEqual(rc, 0, out)
        seen = bindings_of(self.server, user)
        self.assertEqual(len(seen), 1, seen)
        b = seen[0]
        self.assertRegex(b["user_agent"], r"^sipsak \d")
        self.assertRegex(b["contact"], r"^sip:%s@127\.0\.0\.1:\d+$" % user)
        self.assertTrue(b["received"].startswith("%s:127.0.0.1:" % transport), b)
        self.assertGreater(b["expires_in"], 250)
        self.assertLessEqual(b["expires_in"], 300)

    def test_register_udp(self):
        self.check_register("alice", "secret-a", "udp")

    def test_register_tcp(self):
        self.check_register("bob", "secret-b", "tcp")

    def check_wrong_password(self, user, transport):
        rc, out = run_sipsak(self, self.server.port, user, "not-the-password", transport)
        self.assertNotEqual(rc, 0, out)
        self.assertIn("401", out)
        self.assertEqual(bindings_of(self.server, user), [])

    def test_wrong_password_udp(self):
        self.check_wrong_password("carol", "udp")

    def test_wrong_password_tcp(self):
        self.check_wrong_password("dave", "tcp")

    def test_register_then_unregister_explicit_contact(self):
        contact = "sip:erin@127.0.0.1:5999"
        rc, out = run_sipsak(self, self.server.port, "erin", "secret-e", contact=contact)
        self.assertEqual(rc, 0, out)
        self.assertEqual([b["contact"] for b in bindings_of(self.server, "erin")], [contact])
        rc, out = run_sipsak(self, self.server.port, "erin", "secret-e", contact=contact, expires=0)
        self.assertEqual(rc, 0, out)
        self.assertEqual(bindings_of(self.server, "erin"), [])


@unittest.skipUnless(sipsak_available(), "sipsak (Debian package sipsak) is not installed")
class SipsakDefaultChallengesTest(unittest.TestCase):
    """The default challenge set (SHA-256, then MD5): sipsak uses only the first header."""

    def test_default_challenges_udp(self):
        server = start_server(self, "")
        rc, out = run_sipsak(self, server.port, "alice", "secret-a")
        if sipsak_has_sha256():
            self.assertEqual(rc, 0, out)
            self.assertEqual(len(bindings_of(server, "alice")), 1)
        else:
            # This build cannot do SHA-256 and does not fall back to the MD5 challenge.
            self.assertNotEqual(rc, 0, out)
            self.assertIn("unsupported authentication algorithm", out)
            self.assertEqual(bindings_of(server, "alice"), [])
        stop_server(self, server)


# --------------------------------------------------------------------------------------------- baresip

BARESIP_MODULES = "/usr/lib/baresip/modules"


def baresip_available():
    return shutil.which("baresip") is not None and os.path.isdir(BARESIP_MODULES)


class Baresip:
    """A headless baresip with its own config directory: no audio or video devices, no console UI,
    SIP on an ephemeral loopback port, one account routed to the test server."""

    def __init__(self, test, port, user, password, transport):
        self.dir = tempfile.mkdtemp(prefix="baresip-")
        test.addCleanup(shutil.rmtree, self.dir, True)
        with open(os.path.join(self.dir, "config"), "w") as f:
            f.write("poll_method epoll\n"
                    "module_path %s\n"
                    "sip_listen 127.0.0.1:0\n"
                    "module g711.so\n"
                    "module_tmp uuid.so\n"
                    "module_tmp account.so\n" % BARESIP_MODULES)
        with open(os.path.join(self.dir, "accounts"), "w") as f:
            f.write('<sip:%s@%s;transport=%s>;auth_pass=%s;outbound="sip:127.0.0.1:%d;transport=%s";'
                    'regint=60;mwi=no\n' % (user, DOMAIN, transport, password, port, transport))
        self.log_path = os.path.join(self.dir, "baresip.log")
        self.log = open(self.log_path, "wb")
        test.addCleanup(self.log.close)
        # -s: SIP trace into the log; -t: a safety net, baresip quits by itself after 40 s.
        self.proc = subprocess.Popen(["baresip", "-f", self.dir, "-s", "-t", "40"], stdin=subprocess.DEVNULL,
                                     stdout=self.log, stderr=subprocess.STDOUT)
        test.addCleanup(kill, self.proc)

    def output(self):
        with open(self.log_path, "rb") as f:
            return re.sub(r"\x1b\[[0-9;]*m", "", f.read().decode("utf-8", "replace"))

    def uuid(self):
        with open(os.path.join(self.dir, "uuid")) as f:
            return f.read().strip()

    def terminate(self, timeout=10):
        self.proc.send_signal(signal.SIGTERM)
        return self.proc.wait(timeout=timeout)


@unittest.skipUnless(baresip_available(), "baresip (Debian package baresip-core) is not installed")
class BaresipTest(MD5ServerPerClass):
    """baresip against a server offering MD5 only (libre 1.1.0 cannot answer SHA-256)."""

    def check_register_and_unregister(self, user, password, transport):
        ua = Baresip(self, self.server.port, user, password, transport)
        seen = wait_for(lambda: bindings_of(self.server, user), 15)
        self.assertEqual(len(seen), 1, "%s\n%s" % (seen, ua.output()))
        b = seen[0]
        self.assertTrue(b["user_agent"].startswith("baresip v"), b)
        suffix = ";transport=tcp" if transport == "tcp" else ""
        self.assertRegex(b["contact"], r"^sip:%s-[^@]+@127\.0\.0\.1:\d+%s$" % (user, re.escape(suffix)))
        self.assertEqual(b["instance"], "<urn:uuid:%s>" % ua.uuid())
        self.assertTrue(b["received"].startswith("%s:127.0.0.1:" % transport), b)
        self.assertLessEqual(b["expires_in"], 60)
        self.assertIn("200 OK", ua.output())
        # SIGTERM: baresip sends REGISTER with expires=0 for its contact, then exits.
        self.assertEqual(ua.terminate(), 0, ua.output())
        self.assertRegex(ua.output(), r"Contact: <[^>]*>;expires=0")
        self.assertEqual(bindings_of(self.server, user), [], ua.output())

    def test_register_udp_then_unregister_on_sigterm(self):
        self.check_register_and_unregister("alice", "secret-a", "udp")

    def test_register_tcp_then_unregister_on_sigterm(self):
        self.check_register_and_unregister("bob", "secret-b", "tcp")

    def check_wrong_password(self, user, transport):
        ua = Baresip(self, self.server.port, user, "not-the-password", transport)
        failed = wait_for(lambda: re.search(r"reg: sip:%s@%s: 401 Unauthorized" % (user, re.escape(DOMAIN)),
                                            ua.output()), 15)
        self.assertTrue(failed, ua.output())
        self.assertEqual(bindings_of(self.server, user), [])

    def test_wrong_password_udp(self):
        self.check_wrong_password("carol", "udp")

    def test_wrong_password_tcp(self):
        self.check_wrong_password("dave", "tcp")


@unittest.skipUnless(baresip_available(), "baresip (Debian package baresip-core) is not installed")
class BaresipDefaultChallengesTest(unittest.TestCase):
    """The default challenge set (SHA-256, then MD5): libre 1.1.0 gives up at the SHA-256 one."""

    def test_default_challenges_udp(self):
        server = start_server(self, "")
        ua = Baresip(self, server.port, "alice", "secret-a", "udp")
        outcome = wait_for(lambda: bindings_of(server, "alice") or
                           re.search(r"reg: sip:alice@\S+: .*", ua.output()), 15)
        self.assertTrue(outcome, ua.output())
        self.assertNotIsInstance(outcome, list,
                                 "baresip now answers the SHA-256 challenge: the other baresip tests can use the "
                                 "default challenge set")
        self.assertIn("Function not implemented", outcome.group(0), ua.output())
        self.assertEqual(bindings_of(server, "alice"), [])
        ua.terminate()
        stop_server(self, server)


if __name__ == "__main__":
    unittest.main()
