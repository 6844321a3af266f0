"""TLS listeners against real TLS clients: `openssl s_client` (the EMQX guide's checks: one-way,
then mutual TLS with a root and an intermediate CA) and Python's ssl module driving SIP.

The PKI is made with the openssl command line (tls_fixtures.py). Each case says what a client
sees and, for refused handshakes, what the server logs."""
import json
import os
import shutil
import signal
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
    for f in (p.stdin, p.stdout, p.stderr):
        try:
            f.close()
        except BrokenPipeError:
            pass
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


class ChainFromTheCaStore(unittest.TestCase):
    """A certificate file with the leaf only: the chain is completed from ca_file once, when the
    certificates load (not in every handshake), and a client that trusts only the root still
    verifies the server."""

    def start(self, config):
        server = Server(config, tls=True)
        server.start()
        self.addCleanup(server.cleanup)
        self.addCleanup(server.stop)
        return server

    def test_the_intermediate_comes_from_ca_file(self):
        ca = os.path.join(PKI_DIR, "intermediate-and-root.crt")
        with open(ca, "w") as f:
            for name in ("intermediate-ca.crt", "root-ca.crt"):
                with open(PKI.path(name)) as part:
                    f.write(part.read())
        server = self.start('[tls]\ncertificate = "%s"\nprivate_key = "%s"\nca_file = "%s"\n' % (
            PKI.path("server.crt"), PKI.path("server.key"), ca))
        self.assertRegex(server.read_log(), r"TLS certificate \S*server\.crt: sent with 1 CA certificate "
                                            r"\(chain completed from the CA store; its root is left out: clients hold it\)")
        for _ in range(3):  # several handshakes on the one built chain
            out, err, _ = s_client(server.tls_port, ["-brief"], send=options_request())
            self.assertIn("Verification: OK", err)
            self.assertIn("SIP/2.0 200 OK", out)
        out, _, _ = s_client(server.tls_port, ["-showcerts"], send=options_request())
        # The leaf and the intermediate; the root (self-signed, held by every client that can
        # trust the chain) is not sent.
        self.assertEqual(out.count("-----BEGIN CERTIFICATE-----"), 2, out)
        self.assertRegex(out, r" 1 s:CN = sipwarden test intermediate CA")
        self.assertNotRegex(out, r" 2 s:")

    def test_a_chain_in_the_certificate_file_is_sent_as_it_is(self):
        server = self.start(tls_config())
        self.assertRegex(server.read_log(), r"TLS certificate \S*server-chain\.crt: sent with 1 CA certificate\n")

    def test_without_ca_file_a_leaf_only_file_sends_the_leaf_alone(self):
        server = self.start('[tls]\ncertificate = "%s"\nprivate_key = "%s"\n' % (PKI.path("server.crt"),
                                                                                 PKI.path("server.key")))
        self.assertRegex(server.read_log(), r"TLS certificate \S*server\.crt: sent with 0 CA certificates\n")
        out, err, _ = s_client(server.tls_port, ["-brief"], send=options_request())
        self.assertNotIn("SIP/2.0", out)
        self.assertIn("unable to get local issuer certificate", err)


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

    def test_the_alert_reaches_a_client_that_writes_after_the_refusal(self):
        # With TLS 1.3 the client's handshake is done before the server has checked its
        # certificate, and the server refuses on the (empty) Certificate message, before it has
        # read the client's Finished. Were the socket closed with the Finished unread, the kernel
        # would reset the connection: the client's first request would fail with "connection
        # reset" and it would never learn why it was refused.
        ctx = ssl.create_default_context(cafile=PKI.path("root-ca.crt"))
        ctx.minimum_version = ssl.TLSVersion.TLSv1_3
        with socket.create_connection(("127.0.0.1", self.mtls_port), timeout=5) as raw:
            with ctx.wrap_socket(raw, server_hostname="localhost") as tls:
                time.sleep(0.5)  # the server has refused by now
                tls.sendall(options_request().encode())
                with self.assertRaises(ssl.SSLError) as refused:
                    while tls.recv(4096):
                        pass
        self.assertIn("CERTIFICATE_REQUIRED", str(refused.exception))

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

    def test_a_session_of_the_one_way_listener_does_not_resume_on_the_mutual_one(self):
        """Both listeners share the server's TLS context. A session resumed there skips the
        certificate exchange, so a session (ticket) from the one-way port must not open the mutual
        TLS port without a certificate, in TLS 1.2 or 1.3; on its own port it still resumes."""
        d = tempfile.mkdtemp(prefix="sipwarden-sess-")
        self.addCleanup(shutil.rmtree, d, True)
        for version in ("-tls1_2", "-tls1_3"):
            session = os.path.join(d, "session" + version)
            out, err, _ = s_client(self.server.tls_port, [version, "-sess_out", session], send=options_request())
            self.assertIn("SIP/2.0 200 OK", out, err)
            out, err, _ = s_client(self.mtls_port, [version, "-sess_in", session], send=options_request())
            self.assertNotIn("SIP/2.0", out, version + ": " + err)
            self.assertNotIn("Reused,", out, version)
            out, err, _ = s_client(self.server.tls_port, [version, "-sess_in", session], send=options_request())
            self.assertIn("Reused,", out, version + ": " + err)
            self.assertIn("SIP/2.0 200 OK", out)

    def test_the_one_way_listener_beside_it_still_needs_no_certificate(self):
        out, _, _ = s_client(self.server.tls_port, ["-brief"], send=options_request())
        self.assertIn("SIP/2.0 200 OK", out)


def serial_of(port):
    """The serial number of the certificate the server presents on a new connection."""
    ctx = ssl.create_default_context(cafile=PKI.path("root-ca.crt"))
    with socket.create_connection(("127.0.0.1", port), timeout=5) as raw:
        with ctx.wrap_socket(raw, server_hostname="localhost") as s:
            der = s.getpeercert(binary_form=True)
    r = subprocess.run(["openssl", "x509", "-inform", "DER", "-noout", "-serial"], input=der, capture_output=True,
                       check=True)
    return r.stdout.decode().strip().split("=", 1)[1]


def file_serial(path):
    r = subprocess.run(["openssl", "x509", "-in", path, "-noout", "-serial"], capture_output=True, check=True, text=True)
    return r.stdout.strip().split("=", 1)[1]


def replace_file(src, dst):
    """Atomically, as a deployment tool would (write beside, then rename)."""
    tmp = dst + ".new"
    shutil.copyfile(src, tmp)
    os.replace(tmp, dst)


class RevokedWhileConnected(unittest.TestCase):
    """A client certificate revoked while its connections (TLS and WSS) are open: when the server
    reloads the CRL, it checks the open connections' client certificates again and closes the
    revoked one's; the other connections stay."""

    def test_a_revoked_client_is_disconnected_at_the_reload(self):
        d = tempfile.mkdtemp(prefix="sipwarden-revoke-")
        self.addCleanup(shutil.rmtree, d, True)
        PKI.issue("soon-revoked", "soon-revoked", "client_ext")
        crl = os.path.join(d, "intermediate.crl")
        shutil.copyfile(PKI.path("intermediate.crl"), crl)
        server = Server(tls_config('ca_file = "%s"\ncrl_file = "%s"\nreload_check_interval = 1\n'
                                   % (PKI.path("root-ca.crt"), crl)), tls=True)
        self.addCleanup(server.cleanup)
        from harness import free_port
        port, wss_port = free_port(), free_port()
        with open(server.config_path, "a") as f:
            f.write('[[listener]]\nlisten = "tls:127.0.0.1:%d"\nclient_certificates = "required"\n' % port)
            f.write('[[listener]]\nlisten = "wss:127.0.0.1:%d"\nclient_certificates = "required"\n' % wss_port)
        server.start()
        doomed = SipClient("tls", port, ssl_context=client_context("soon-revoked.crt", "soon-revoked.key",
                                                                  chain="soon-revoked-chain.crt"))
        self.addCleanup(doomed.close)
        doomed_ws = SipClient("wss", wss_port, ssl_context=client_context("soon-revoked.crt", "soon-revoked.key",
                                                                         chain="soon-revoked-chain.crt"))
        self.addCleanup(doomed_ws.close)
        self.assertEqual(doomed_ws.request("OPTIONS", "sip:%s" % DOMAIN).status, 200)
        kept = SipClient("tls", port, ssl_context=client_context("alice.crt", "alice.key", chain="alice-chain.crt"))
        self.addCleanup(kept.close)
        self.assertEqual(doomed.request("OPTIONS", "sip:%s" % DOMAIN).status, 200)
        self.assertEqual(kept.request("OPTIONS", "sip:%s" % DOMAIN).status, 200)

        PKI.revoke("soon-revoked")
        shutil.copyfile(PKI.path("intermediate.crl"), crl)
        deadline = time.time() + 10
        while time.time() < deadline and "no longer verifies" not in server.read_log():
            time.sleep(0.1)
        log = server.read_log()
        self.assertIn("TLS reloaded", log)
        self.assertIn("CN=soon-revoked", log)
        self.assertIn("no longer verifies after the TLS reload: certificate revoked", log)
        # The server closed it: the next read sees the end of the stream.
        with self.assertRaises((ConnectionError, ssl.SSLError, OSError)):
            doomed.request("OPTIONS", "sip:%s" % DOMAIN)
        import ws_client
        # The WebSocket says why in its close frame: 1008, policy violation (RFC 6455 §7.4.1).
        with self.assertRaises(ws_client.Closed) as closed:
            doomed_ws.ws.recv_message(timeout=5)
        self.assertEqual(closed.exception.code, 1008)
        self.assertIn("client certificate", closed.exception.reason)
        self.assertEqual(kept.request("OPTIONS", "sip:%s" % DOMAIN).status, 200)
        self.assertEqual(server.stop(), 0)
        self.assertRegex(server.read_log(), r"\b2 connections closed when their client certificate no longer verified")


class HotReload(unittest.TestCase):
    """The certificate files change under a running server: new handshakes get the new
    certificate, open connections stay up, a broken file is refused and the last good one keeps
    serving; a bounded REGISTER load over new TLS connections runs through the swap without a
    failure."""

    def setUp(self):
        self.dir = tempfile.mkdtemp(prefix="sipwarden-reload-")
        self.addCleanup(shutil.rmtree, self.dir, True)
        self.cert = os.path.join(self.dir, "server-chain.crt")
        self.key = os.path.join(self.dir, "server.key")
        shutil.copyfile(PKI.path("server-chain.crt"), self.cert)
        shutil.copyfile(PKI.path("server.key"), self.key)
        config = '[tls]\ncertificate = "%s"\nprivate_key = "%s"\nreload_check_interval = 1\n' % (self.cert, self.key)
        self.server = Server(config, tls=True)
        self.addCleanup(self.server.cleanup)
        self.server.start()

    def wait_log(self, text, count=1, timeout=10):
        deadline = time.time() + timeout
        while time.time() < deadline:
            if self.server.read_log().count(text) >= count:
                return
            time.sleep(0.1)
        self.fail("%r not logged %d time(s):\n%s" % (text, count, self.server.read_log()))

    def new_server_certificate(self, name):
        PKI.issue(name, "localhost", "server_ext")
        return PKI.path(name + "-chain.crt"), PKI.path(name + ".key")

    def test_file_change_swaps_the_certificate_and_keeps_open_connections(self):
        old = serial_of(self.server.tls_port)
        self.assertEqual(old, file_serial(PKI.path("server.crt")))
        held = SipClient("tls", self.server.tls_port, ssl_context=client_context())
        self.addCleanup(held.close)
        self.assertEqual(held.request("OPTIONS", "sip:%s" % DOMAIN).status, 200)

        chain, key = self.new_server_certificate("renewed")
        replace_file(key, self.key)
        replace_file(chain, self.cert)
        self.wait_log("TLS reloaded (a certificate, key, CA or CRL file changed)")
        deadline = time.time() + 5
        while time.time() < deadline and serial_of(self.server.tls_port) == old:
            time.sleep(0.2)
        self.assertEqual(serial_of(self.server.tls_port), file_serial(PKI.path("renewed.crt")))
        # The connection opened before the reload is still served.
        self.assertEqual(held.request("OPTIONS", "sip:%s" % DOMAIN).status, 200)

        # A broken certificate is refused; the renewed one keeps serving.
        with open(self.cert + ".new", "w") as f:
            f.write("-----BEGIN CERTIFICATE-----\nnot base64 at all\n-----END CERTIFICATE-----\n")
        os.replace(self.cert + ".new", self.cert)
        self.wait_log("refused, the running certificates stay in use")
        self.assertEqual(serial_of(self.server.tls_port), file_serial(PKI.path("renewed.crt")))
        self.assertEqual(self.server.stop(), 0, self.server.read_log())

    def test_sighup_rereads_the_files(self):
        chain, key = self.new_server_certificate("hup")
        # The file watcher may see the change first; the SIGHUP path logs its own line either way.
        replace_file(key, self.key)
        replace_file(chain, self.cert)
        self.server.proc.send_signal(signal.SIGHUP)
        self.wait_log("TLS reloaded (SIGHUP)")
        self.assertEqual(serial_of(self.server.tls_port), file_serial(PKI.path("hup.crt")))
        self.assertEqual(self.server.stop(), 0, self.server.read_log())

    def test_no_failed_registration_while_the_certificate_changes(self):
        stop = threading.Event()
        results = {"ok": 0, "failed": []}
        lock = threading.Lock()

        def load(user, password):
            deadline = time.time() + 30  # bounded even if the main thread never says stop
            while not stop.is_set() and time.time() < deadline:
                try:
                    c = SipClient("tls", self.server.tls_port, ssl_context=client_context())
                    try:
                        contact = "<sip:%s@127.0.0.1:5999;transport=tls>" % user
                        status = Registration(c, user, password, contact=contact).register(expires=60).status
                    finally:
                        c.close()
                    with lock:
                        if status == 200:
                            results["ok"] += 1
                        else:
                            results["failed"].append(status)
                except (OSError, ssl.SSLError) as e:
                    with lock:
                        results["failed"].append(repr(e))

        threads = [threading.Thread(target=load, args=u) for u in (("alice", "secret-a"), ("bob", "secret-b"))]
        for t in threads:
            t.start()
        time.sleep(1.0)
        chain, key = self.new_server_certificate("underload")
        replace_file(key, self.key)
        replace_file(chain, self.cert)
        self.wait_log("TLS reloaded (a certificate, key, CA or CRL file changed)")
        time.sleep(1.5)
        stop.set()
        for t in threads:
            t.join(40)
        self.assertEqual(results["failed"], [])
        self.assertGreater(results["ok"], 10)
        self.assertEqual(serial_of(self.server.tls_port), file_serial(PKI.path("underload.crt")))
        self.assertEqual(self.server.stop(), 0, self.server.read_log())


class OutgoingTls(unittest.TestCase):
    """A contact registered with transport=tls: the proxy opens the TLS connection itself, checks
    the callee's chain and that its certificate names the target (an IP subjectAltName for a
    numeric target), and refuses a certificate that does not."""

    @classmethod
    def setUpClass(cls):
        config = tls_config('ca_file = "%s"\n' % PKI.path("ca-chain.crt"))
        cls.server = Server(config, tls=True)
        cls.server.start()

    @classmethod
    def tearDownClass(cls):
        rc = cls.server.stop()
        log = cls.server.read_log()
        cls.server.cleanup()
        if rc != 0:
            raise AssertionError("server exited with %d:\n%s" % (rc, log))

    def callee(self, chain, key):
        """A TLS listener for bob, registered over UDP with a transport=tls contact."""
        from proxy_ua import UA
        ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        ctx.load_cert_chain(PKI.path(chain), PKI.path(key))
        listener = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        listener.bind(("127.0.0.1", 0))
        listener.listen(4)
        listener.settimeout(5)
        self.addCleanup(listener.close)
        b = UA("udp", self.server.port, "bob", "secret-b")
        self.addCleanup(b.close)
        b.contact = "<sip:bob@127.0.0.1:%d;transport=tls>" % listener.getsockname()[1]
        self.assertEqual(b.register().status, 200)
        return ctx, listener

    def test_message_over_a_new_tls_connection_to_a_certificate_naming_the_address(self):
        from proxy_ua import UA
        ctx, listener = self.callee("server-chain.crt", "server.key")
        a = UA("udp", self.server.port, "alice", "secret-a")
        self.addCleanup(a.close)
        a.send_authenticated("MESSAGE", "bob", "over tls", wait=False)
        raw, _ = listener.accept()
        conn = ctx.wrap_socket(raw, server_side=True)
        self.addCleanup(conn.close)
        conn.settimeout(5)
        data = b""
        while b"over tls" not in data:
            chunk = conn.recv(65536)
            self.assertTrue(chunk, "connection closed before the MESSAGE arrived")
            data += chunk
        self.assertTrue(data.startswith(b"MESSAGE sip:bob@127.0.0.1:"), data[:200])
        self.assertIn(b"SIP/2.0/TLS", data)

    def test_a_silent_tls_peer_gets_the_whole_handshake_time_after_the_connect(self):
        """The connect has its 5 s deadline; once connected, the handshake gets its 10 s from
        then, as the log line says (it used to inherit the connect's 5 s)."""
        from proxy_ua import UA
        _, listener = self.callee("server-chain.crt", "server.key")
        a = UA("udp", self.server.port, "alice", "secret-a")
        self.addCleanup(a.close)
        a.send_authenticated("MESSAGE", "bob", "to a peer that never answers", wait=False)
        raw, _ = listener.accept()  # connected at once on loopback; no TLS byte is ever sent back
        self.addCleanup(raw.close)
        start = time.time()
        raw.settimeout(20)
        try:
            while raw.recv(65536):  # the ClientHello, then EOF when the server gives up
                pass
        except OSError:
            pass
        waited = time.time() - start
        self.assertGreater(waited, 9.0, "the handshake was given up after %.1f s" % waited)
        self.assertLess(waited, 15.0)
        self.assertIn("TLS handshake not finished within 10 s with tls:127.0.0.1:%d" % listener.getsockname()[1],
                      self.server.read_log())

    def test_a_certificate_that_does_not_name_the_target_is_refused(self):
        from proxy_ua import UA
        # serveronly.crt chains to our CA and is meant for servers, but names no address: the proxy
        # must not send to it.
        ctx, listener = self.callee("serveronly-chain.crt", "serveronly.key")
        a = UA("udp", self.server.port, "alice", "secret-a")
        self.addCleanup(a.close)
        a.send_authenticated("MESSAGE", "bob", "must not arrive", wait=False)
        raw, _ = listener.accept()
        raw.settimeout(5)
        got = b""
        try:
            conn = ctx.wrap_socket(raw, server_side=True)
            conn.settimeout(3)
            while True:
                chunk = conn.recv(65536)
                if not chunk:
                    break
                got += chunk
        except (ssl.SSLError, OSError):
            pass
        finally:
            raw.close()
        self.assertNotIn(b"must not arrive", got)
        deadline = time.time() + 5
        while time.time() < deadline and "does not name" not in self.server.read_log():
            time.sleep(0.1)
        self.assertIn("the certificate has no IP subjectAltName 127.0.0.1", self.server.read_log())


class CertificateIdentity(unittest.TestCase):
    """[tls] identity: a verified client certificate names the user, who then needs no digest;
    it names nobody else."""

    def start(self, identity):
        config = tls_config('ca_file = "%s"\nclient_certificates = "required"\nidentity = "%s"\n' % (
            PKI.path("ca-chain.crt"), identity))
        server = Server(config, tls=True)
        self.addCleanup(server.cleanup)
        server.start()
        return server

    def client(self, server, name):
        c = SipClient("tls", server.tls_port, ssl_context=client_context(name + ".crt", name + ".key",
                                                                        chain=name + "-chain.crt"))
        self.addCleanup(c.close)
        return c

    def test_cn_names_the_user_no_digest_for_register_and_message(self):
        server = self.start("cn")
        c = self.client(server, "alice")
        r = Registration(c, "alice", "wrong password on purpose")
        resp = r.send(authorize=False)
        self.assertEqual(resp.status, 200, resp.raw)
        # MESSAGE from alice to bob (not registered: stored) is not challenged either.
        m = c.request("MESSAGE", "sip:bob@%s" % DOMAIN, headers=["Content-Type: text/plain"], body="hi",
                      to="<sip:bob@%s>" % DOMAIN)
        self.assertEqual(m.status, 202, m.raw)
        # Registering bob over alice's certificate still needs bob's password.
        other = Registration(c, "bob", "secret-b")
        self.assertEqual(other.send(authorize=False).status, 401)
        self.assertEqual(other.register().status, 200)
        self.assertEqual(server.stop(), 0, server.read_log())

    def test_san_uri_names_the_user_and_cn_is_not_used(self):
        server = self.start("san")
        c = self.client(server, "bob-uri")
        self.assertEqual(Registration(c, "bob", "x").send(authorize=False).status, 200)
        c2 = self.client(server, "alice")  # CN=alice, no subjectAltName: with "san" that names nobody
        self.assertEqual(Registration(c2, "alice", "x").send(authorize=False).status, 401)
        self.assertEqual(server.stop(), 0, server.read_log())

    def test_identity_off_by_default(self):
        config = tls_config('ca_file = "%s"\nclient_certificates = "required"\n' % PKI.path("ca-chain.crt"))
        server = Server(config, tls=True)
        self.addCleanup(server.cleanup)
        server.start()
        c = self.client(server, "alice")
        self.assertEqual(Registration(c, "alice", "x").send(authorize=False).status, 401)
        self.assertEqual(server.stop(), 0, server.read_log())


def presented(port, server_name="localhost"):
    """The certificate the server presents for `server_name` (SNI), as `openssl x509 -text`."""
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    ctx.check_hostname = False
    ctx.verify_mode = ssl.CERT_NONE
    with socket.create_connection(("127.0.0.1", port), timeout=5) as raw:
        with ctx.wrap_socket(raw, server_hostname=server_name) as s:
            der = s.getpeercert(binary_form=True)
    r = subprocess.run(["openssl", "x509", "-inform", "DER", "-noout", "-subject", "-serial", "-fingerprint",
                        "-sha256", "-ext", "subjectAltName"], input=der, capture_output=True, check=True)
    return r.stdout.decode()


class CertificateSelection(unittest.TestCase):
    """The Exchange guide's behaviour at the listener: a self-signed certificate when nothing is
    configured (kept across restarts), CA-issued before self-signed, one certificate per domain by
    SNI, the certificate in use logged, and the expiry warning."""

    def server(self, config, domains=()):
        srv = Server(config, tls=True)
        with open(srv.config_path, "a") as f:
            for d in domains:
                f.write('[[domain]]\nname = "%s"\n' % d)
        self.addCleanup(srv.cleanup)
        return srv

    def test_no_certificate_configured_generates_a_self_signed_one_and_keeps_it(self):
        srv = self.server("")
        srv.start()
        first = presented(srv.tls_port)
        self.assertIn("DNS:%s" % DOMAIN, first)
        cert_file = os.path.join(srv.data_dir, "tls", "self-signed.crt")
        self.assertTrue(os.path.exists(cert_file))
        self.assertEqual(os.stat(os.path.join(srv.data_dir, "tls", "self-signed.key")).st_mode & 0o777, 0o600)
        log = srv.read_log()
        self.assertIn("self-signed", log)
        for label in ("subject", "issuer", "serial", "SHA-1 thumbprint", "SHA-256 fingerprint", "not before",
                      "not after"):
            self.assertIn(label, log)
        fingerprint = [l for l in first.splitlines() if "Fingerprint" in l][0].split("=", 1)[1]
        self.assertIn(fingerprint, log)
        self.assertEqual(srv.stop(), 0, log)
        srv.start()
        self.assertEqual(presented(srv.tls_port), first)  # the same certificate after a restart
        self.assertEqual(srv.stop(), 0, srv.read_log())

    def test_ca_issued_before_self_signed_and_one_certificate_per_domain(self):
        d = tempfile.mkdtemp(prefix="sipwarden-certs-")
        self.addCleanup(shutil.rmtree, d, True)
        # A self-signed certificate for example.test that lasts longer than the CA-issued one.
        subprocess.run(["openssl", "req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256", "-nodes",
                        "-keyout", os.path.join(d, "selfie.key"), "-out", os.path.join(d, "selfie.crt"), "-days",
                        "3650", "-subj", "/CN=example.test", "-addext", "subjectAltName=DNS:example.test"],
                       check=True, capture_output=True)
        shutil.copyfile(PKI.path("server-chain.crt"), os.path.join(d, "main-chain.crt"))
        shutil.copyfile(PKI.path("server.key"), os.path.join(d, "main.key"))
        # other.test has its own CA-issued certificate (SNI).
        PKI.issue("other", "other.test", "server_ext")
        subprocess.run(["openssl", "ca", "-batch", "-config", os.path.join(PKI.dir, "intermediate-ca.db", "ca.conf"),
                        "-extensions", "other_ext", "-extfile", self.other_ext(d), "-notext", "-in",
                        PKI.path("other.csr"), "-out", os.path.join(d, "other.crt")], check=True, capture_output=True)
        shutil.copyfile(PKI.path("other.key"), os.path.join(d, "other.key"))
        srv = self.server('[tls]\ncertificates_dir = "%s"\n' % d, domains=["other.test"])
        srv.start()
        main = presented(srv.tls_port, "example.test")
        self.assertIn("serial=%s" % file_serial(PKI.path("server.crt")), main)
        other = presented(srv.tls_port, "other.test")
        self.assertIn("DNS:other.test", other)
        self.assertNotIn("DNS:example.test", other)
        # No SNI, or a name nobody serves: the default (the best certificate overall).
        self.assertIn("serial=%s" % file_serial(PKI.path("server.crt")), presented(srv.tls_port, "unknown.invalid"))
        self.assertEqual(srv.stop(), 0, srv.read_log())

    @staticmethod
    def other_ext(d):
        path = os.path.join(d, "other.ext")
        with open(path, "w") as f:
            f.write("[other_ext]\nbasicConstraints=critical,CA:FALSE\nkeyUsage=critical,digitalSignature\n"
                    "extendedKeyUsage=serverAuth\nsubjectAltName=DNS:other.test\n")
        return path

    def test_a_certificate_close_to_expiry_is_warned_about_at_start(self):
        end = time.strftime("%Y%m%d%H%M%SZ", time.gmtime(time.time() + 10 * 86400 + 3600))
        start = time.strftime("%Y%m%d%H%M%SZ", time.gmtime(time.time() - 86400))
        PKI.issue("shortlived", "localhost", "server_ext", start=start, end=end)
        srv = self.server('[tls]\ncertificate = "%s"\nprivate_key = "%s"\n' % (PKI.path("shortlived-chain.crt"),
                                                                                PKI.path("shortlived.key")))
        srv.start()
        log = srv.read_log()
        self.assertRegex(log, r"warning .*expires in 1[01] days")
        r = srv.cli("cert", "status", "--json")
        self.assertEqual(r.returncode, 1, r.stdout + r.stderr)
        self.assertEqual(srv.stop(), 0, log)


class SecureWebSocket(unittest.TestCase):
    """WSS shares what TLS has: the configured chain (verified against our root), hot reload, mutual
    TLS per listener, and client certificates that name the user."""

    def test_configured_certificate_and_hot_reload(self):
        import ws_client
        directory = tempfile.mkdtemp(prefix="sipwarden-wss-")
        self.addCleanup(shutil.rmtree, directory, True)
        cert, key = os.path.join(directory, "chain.crt"), os.path.join(directory, "server.key")
        shutil.copyfile(PKI.path("server-chain.crt"), cert)
        shutil.copyfile(PKI.path("server.key"), key)
        server = Server('[tls]\ncertificate = "%s"\nprivate_key = "%s"\nreload_check_interval = 1\n' % (cert, key),
                        wss=True)
        self.addCleanup(server.cleanup)
        server.start()
        self.assertEqual(serial_of(server.wss_port), file_serial(PKI.path("server.crt")))
        held = SipClient("wss", server.wss_port, ssl_context=client_context())  # verifies the chain
        self.addCleanup(held.close)
        self.assertEqual(held.request("OPTIONS", "sip:%s" % DOMAIN).status, 200)
        PKI.issue("wss-renewed", "localhost", "server_ext")
        replace_file(PKI.path("wss-renewed.key"), key)
        replace_file(PKI.path("wss-renewed-chain.crt"), cert)
        deadline = time.time() + 10
        while time.time() < deadline and serial_of(server.wss_port) != file_serial(PKI.path("wss-renewed.crt")):
            time.sleep(0.2)
        self.assertEqual(serial_of(server.wss_port), file_serial(PKI.path("wss-renewed.crt")))
        # The WebSocket opened before the reload keeps working.
        self.assertEqual(held.request("OPTIONS", "sip:%s" % DOMAIN).status, 200)
        self.assertEqual(server.stop(), 0, server.read_log())

    def test_required_client_certificate_and_identity(self):
        import ws_client
        from harness import free_port
        port = free_port()
        config = tls_config('ca_file = "%s"\nidentity = "cn"\n' % PKI.path("ca-chain.crt"))
        config += '[[listener]]\nlisten = "wss:127.0.0.1:%d"\nclient_certificates = "required"\n' % port
        server = Server(config)
        self.addCleanup(server.cleanup)
        server.start()
        # No certificate: the handshake fails (TLS 1.3 may report it only on the first read).
        with self.assertRaises((ssl.SSLError, ConnectionError, OSError, ws_client.Closed)):
            ws = ws_client.WebSocket(port, tls=True, ssl_context=client_context())
            ws.recv_message(timeout=3)
        # Alice's certificate: in, and it names her, so her REGISTER needs no digest.
        c = SipClient("wss", port, ssl_context=client_context("alice.crt", "alice.key", chain="alice-chain.crt"))
        self.addCleanup(c.close)
        r = Registration(c, "alice", "wrong password on purpose").send(authorize=False)
        self.assertEqual(r.status, 200, r.raw)
        self.assertEqual(Registration(c, "bob", "secret-b").send(authorize=False).status, 401)
        self.assertEqual(server.stop(), 0, server.read_log())


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
                         "does not belong to the certificate")

    def test_a_missing_certificate_file_names_the_file(self):
        missing = os.path.join(PKI_DIR, "nope.crt")
        self.start_fails('[tls]\ncertificate = "%s"\nprivate_key = "%s"\n' % (missing, PKI.path("server.key")),
                         missing)

    def test_certificate_without_key_is_a_config_error(self):
        self.start_fails('[tls]\ncertificate = "%s"\n' % PKI.path("server-chain.crt"),
                         "tls.certificate and tls.private_key go together")


if __name__ == "__main__":
    unittest.main()
