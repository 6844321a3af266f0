"""TLS listeners against real TLS clients: `openssl s_client` (the EMQX guide's checks: one-way,
then mutual TLS with a root and an intermediate CA) and Python's ssl module driving SIP.

The PKI is made with the openssl command line (tls_fixtures.py). Each case says what a client
sees and, for refused handshakes, what the server logs."""
import json
import os
import shutil
import socket
import ssl
import subprocess
import tempfile
import threading
import time
import unittest

from harness import DOMAIN, Registration, Server, SipClient
from tls_fixtures import Pki

PKI_DIR = None
PKI = None


def setUpModule():
    global PKI_DIR, PKI
    PKI_DIR = tempfile.mkdtemp(prefix="sipwarden-pki-")
    PKI = Pki(PKI_DIR)


def tearDownModule():
    shutil.rmtree(PKI_DIR, ignore_errors=True)


def options_request(transport="TLS"):
    return ("OPTIONS sip:%s SIP/2.0\r\n"
            "Via: SIP/2.0/%s 127.0.0.1:5999;branch=z9hG4bK%s\r\n"
            "Max-Forwards: 70\r\nFrom: <sip:probe@%s>;tag=p1\r\nTo: <sip:%s>\r\n"
            "Call-ID: %s\r\nCSeq: 1 OPTIONS\r\nContent-Length: 0\r\n\r\n") % (
                DOMAIN, transport, os.urandom(6).hex(), DOMAIN, DOMAIN, os.urandom(6).hex())


def s_client(port, args, send=None, wait_for="SIP/2.0 ", timeout=8):
    """Runs openssl s_client against 127.0.0.1:port, sends `send` once connected and reads until
    `wait_for` shows up on stdout (or the client ends). Returns (stdout, stderr, exit code or None
    when it was still running and had to be stopped)."""
    cmd = ["openssl", "s_client", "-connect", "127.0.0.1:%d" % port, "-CAfile", PKI.path("root-ca.crt"),
           "-verify_return_error", "-servername", "localhost"] + list(args)
    p = subprocess.Popen(cmd, stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    out = []

    def reader():
        for line in iter(p.stdout.readline, b""):
            out.append(line.decode("utf-8", "replace"))

    t = threading.Thread(target=reader, daemon=True)
    t.start()
    try:
        if send:
            p.stdin.write(send.encode())
            p.stdin.flush()
    except BrokenPipeError:
        pass
    deadline = time.time() + timeout
    while time.time() < deadline and p.poll() is None and not any(wait_for in l for l in out):
        time.sleep(0.05)
    rc = p.poll()
    if rc is None:
        p.terminate()
        p.wait(5)
    t.join(5)
    err = p.stderr.read().decode("utf-8", "replace")
    return "".join(out), err, rc


def client_context(cert=None, key=None, chain=None, ca="root-ca.crt"):
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    ctx.load_verify_locations(PKI.path(ca))
    if cert:
        # Python loads the client's chain from one file: leaf first, then the intermediate.
        ctx.load_cert_chain(PKI.path(chain or cert), PKI.path(key))
    return ctx


def tls_config(extra=""):
    return ('[tls]\ncertificate = "%s"\nprivate_key = "%s"\n' % (PKI.path("server-chain.crt"), PKI.path("server.key")) +
            extra)


class OneWayTls(unittest.TestCase):
    """The server proves itself; clients need no certificate (the guide's one-way TLS)."""

    @classmethod
    def setUpClass(cls):
        cls.server = Server(tls_config(), tls=True)
        cls.server.start()

    @classmethod
    def tearDownClass(cls):
        rc = cls.server.stop()
        log = cls.server.read_log()
        cls.server.cleanup()
        if rc != 0:
            raise AssertionError("server exited with %d:\n%s" % (rc, log))

    def test_s_client_handshake_verifies_the_chain_and_options_is_answered(self):
        out, err, _ = s_client(self.server.tls_port, ["-brief"], send=options_request())
        self.assertIn("Verification: OK", err)
        self.assertIn("SIP/2.0 200 OK", out)
        self.assertRegex(err, r"Protocol version: TLSv1\.[23]")

    def test_tls_1_2_is_accepted_with_an_ecdhe_cipher(self):
        out, err, _ = s_client(self.server.tls_port, ["-brief", "-tls1_2"], send=options_request())
        self.assertIn("Protocol version: TLSv1.2", err)
        self.assertRegex(err, r"Ciphersuite: ECDHE-")
        self.assertIn("SIP/2.0 200 OK", out)

    def test_a_client_that_trusts_another_ca_refuses_the_server(self):
        out, err, rc = s_client(self.server.tls_port, ["-brief", "-CAfile", PKI.path("other-ca.crt")],
                                send=options_request())
        self.assertNotIn("SIP/2.0", out)
        self.assertIn("unable to get local issuer certificate", err)
        self.assertNotEqual(rc, 0)

    def test_register_with_digest_over_tls_and_the_binding_says_tls(self):
        c = SipClient("tls", self.server.tls_port, ssl_context=client_context())
        try:
            r = Registration(c, "alice", "secret-a", contact="<sip:alice@127.0.0.1:%d;transport=tls>" % c.local_port)
            resp = r.register()
            self.assertEqual(resp.status, 200, resp.raw)
            self.assertIn("SIP/2.0/TLS", resp.get("via"))
            listing = self.server.cli("registrations", "--json", check=True)
            bindings = json.loads(listing.stdout)
            mine = [b for b in bindings if b["aor"] == "alice@%s" % DOMAIN]
            self.assertTrue(mine, listing.stdout)
            self.assertEqual(mine[0]["received"].split(":")[0].lower(), "tls", mine[0])
            r.register(expires=0)
        finally:
            c.close()

    def test_plain_tcp_bytes_on_the_tls_port_do_not_hurt_the_server(self):
        s = socket.create_connection(("127.0.0.1", self.server.tls_port), timeout=5)
        s.sendall(options_request("TCP").encode())
        try:
            data = s.recv(4096)
        except (ConnectionResetError, socket.timeout):
            data = b""
        s.close()
        self.assertNotIn(b"SIP/2.0 200", data)
        out, _, _ = s_client(self.server.tls_port, ["-brief"], send=options_request())
        self.assertIn("SIP/2.0 200 OK", out)
        self.assertIn("TLS handshake with", self.server.read_log())


class MutualTls(unittest.TestCase):
    """client_certificates = "required" on one listener: only a certificate that chains to the
    root through the intermediate, is valid, is not revoked and is meant for clients gets in. The
    server trusts the root only, so a client must send its intermediate (the guide's chain)."""

    @classmethod
    def setUpClass(cls):
        cls.mtls_port = None
        config = tls_config('ca_file = "%s"\ncrl_file = "%s"\n' % (PKI.path("root-ca.crt"), PKI.path("intermediate.crl")))
        cls.server = Server(config, tls=True)
        # The mutual-TLS listener is a second TLS listener, so one-way TLS keeps working beside it.
        from harness import free_port
        cls.mtls_port = free_port()
        with open(cls.server.config_path, "a") as f:
            f.write('[[listener]]\nlisten = "tls:127.0.0.1:%d"\nclient_certificates = "required"\n' % cls.mtls_port)
        cls.server.start()

    @classmethod
    def tearDownClass(cls):
        rc = cls.server.stop()
        log = cls.server.read_log()
        cls.server.cleanup()
        if rc != 0:
            raise AssertionError("server exited with %d:\n%s" % (rc, log))

    def refused(self, args, log_reason):
        out, err, _ = s_client(self.mtls_port, ["-brief"] + args, send=options_request())
        self.assertNotIn("SIP/2.0", out, err)
        deadline = time.time() + 5
        while time.time() < deadline and log_reason not in self.server.read_log():
            time.sleep(0.1)
        self.assertIn(log_reason, self.server.read_log())
        return err

    def test_no_client_certificate_is_refused(self):
        err = self.refused([], "peer did not return a certificate")
        self.assertIn("certificate required", err)

    def test_a_certificate_from_an_untrusted_ca_is_refused(self):
        err = self.refused(["-cert", PKI.path("stranger.crt"), "-key", PKI.path("stranger.key")],
                           "unable to get local issuer certificate")
        self.assertIn("unknown ca", err)

    def test_the_leaf_without_its_intermediate_is_refused(self):
        self.refused(["-cert", PKI.path("alice.crt"), "-key", PKI.path("alice.key")],
                     "unable to get local issuer certificate")

    def test_an_expired_certificate_is_refused(self):
        err = self.refused(["-cert", PKI.path("expired.crt"), "-key", PKI.path("expired.key"), "-cert_chain",
                            PKI.path("intermediate-ca.crt")], "certificate has expired")
        self.assertIn("certificate expired", err)

    def test_a_revoked_certificate_is_refused(self):
        err = self.refused(["-cert", PKI.path("revoked.crt"), "-key", PKI.path("revoked.key"), "-cert_chain",
                            PKI.path("intermediate-ca.crt")], "certificate revoked")
        self.assertIn("certificate revoked", err)

    def test_a_certificate_without_client_auth_usage_is_refused(self):
        self.refused(["-cert", PKI.path("serveronly.crt"), "-key", PKI.path("serveronly.key"), "-cert_chain",
                      PKI.path("intermediate-ca.crt")], "unsuitable certificate purpose")

    def test_the_intermediate_issued_certificate_with_its_chain_gets_in(self):
        out, err, _ = s_client(self.mtls_port, ["-brief", "-cert", PKI.path("alice.crt"), "-key", PKI.path("alice.key"),
                                                "-cert_chain", PKI.path("intermediate-ca.crt")],
                               send=options_request())
        self.assertIn("SIP/2.0 200 OK", out, err)

    def test_register_over_the_mutual_tls_connection(self):
        ctx = client_context("alice.crt", "alice.key", chain="alice-chain.crt")
        c = SipClient("tls", self.mtls_port, ssl_context=ctx)
        try:
            r = Registration(c, "alice", "secret-a", contact="<sip:alice@127.0.0.1:%d;transport=tls>" % c.local_port)
            self.assertEqual(r.register().status, 200)
            self.assertEqual(r.register(expires=0).status, 200)
        finally:
            c.close()

    def test_the_one_way_listener_beside_it_still_needs_no_certificate(self):
        out, _, _ = s_client(self.server.tls_port, ["-brief"], send=options_request())
        self.assertIn("SIP/2.0 200 OK", out)


class TlsConfigErrors(unittest.TestCase):
    def start_fails(self, config, expected):
        srv = Server(config, tls=True, users=())
        try:
            srv.start(wait=False)
            rc = srv.proc.wait(30)
            srv.proc = None
            srv.log.close()
            self.assertEqual(rc, 2, srv.read_log())
            self.assertIn(expected, srv.read_log())
        finally:
            srv.cleanup()

    def test_a_key_that_does_not_match_the_certificate_stops_the_start(self):
        self.start_fails('[tls]\ncertificate = "%s"\nprivate_key = "%s"\n' % (PKI.path("server-chain.crt"),
                                                                             PKI.path("alice.key")),
                         "does not match certificate")

    def test_a_missing_certificate_file_names_the_file(self):
        missing = os.path.join(PKI_DIR, "nope.crt")
        self.start_fails('[tls]\ncertificate = "%s"\nprivate_key = "%s"\n' % (missing, PKI.path("server.key")),
                         missing)

    def test_certificate_without_key_is_a_config_error(self):
        self.start_fails('[tls]\ncertificate = "%s"\n' % PKI.path("server-chain.crt"),
                         "tls.certificate and tls.private_key go together")


if __name__ == "__main__":
    unittest.main()
