"""PROXY protocol (v1 and v2) on a TCP and a TLS listener behind a load balancer: the client's
address from the header is the one the registrar records; a connection without the header is
refused; the listeners without the option are unchanged."""
import json
import shutil
import socket
import ssl
import struct
import tempfile
import time
import unittest

from harness import DOMAIN, Registration, Server, SipClient, free_port
from tls_fixtures import Pki


def v2_header(src, sport, dst="127.0.0.1", dport=5060):
    block = socket.inet_aton(src) + socket.inet_aton(dst) + struct.pack("!HH", sport, dport)
    return b"\r\n\r\n\x00\r\nQUIT\n" + bytes([0x21, 0x11]) + struct.pack("!H", len(block)) + block


class ProxyProtocol(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.pki_dir = tempfile.mkdtemp(prefix="sipwarden-pki-")
        cls.pki = Pki(cls.pki_dir)
        cls.tcp_pp = free_port()
        cls.tls_pp = free_port()
        config = '[tls]\ncertificate = "%s"\nprivate_key = "%s"\n' % (cls.pki.path("server-chain.crt"),
                                                                       cls.pki.path("server.key"))
        cls.server = Server(config, tls=True)
        with open(cls.server.config_path, "a") as f:
            f.write('[[listener]]\nlisten = "tcp:127.0.0.1:%d"\nproxy_protocol = true\n' % cls.tcp_pp)
            f.write('[[listener]]\nlisten = "tls:127.0.0.1:%d"\nproxy_protocol = true\n' % cls.tls_pp)
        cls.server.start()

    @classmethod
    def tearDownClass(cls):
        rc = cls.server.stop()
        log = cls.server.read_log()
        cls.server.cleanup()
        shutil.rmtree(cls.pki_dir, ignore_errors=True)
        if rc != 0:
            raise AssertionError("server exited with %d:\n%s" % (rc, log))

    def received_of(self, user):
        regs = json.loads(self.server.cli("registrations", "--json", check=True).stdout)
        mine = [b for b in regs if b["aor"] == "%s@%s" % (user, DOMAIN)]
        return mine[0]["received"] if mine else None

    def client_after_header(self, port, header, tls=False):
        raw = socket.create_connection(("127.0.0.1", port), timeout=5)
        raw.sendall(header)
        c = SipClient.__new__(SipClient)
        c.transport = "tls" if tls else "tcp"
        c.server = ("127.0.0.1", port)
        c.timeout = 5
        if tls:
            ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
            ctx.load_verify_locations(self.pki.path("root-ca.crt"))
            raw = ctx.wrap_socket(raw, server_hostname="localhost")
        c.sock = raw
        c.local_port = raw.getsockname()[1]
        c.buf = b""
        c.cseq = 0
        c.call_id = "pp-" + str(time.time())
        c.tag = "pp"
        self.addCleanup(c.close)
        return c

    def test_v1_on_tcp_records_the_client_address_from_the_header(self):
        c = self.client_after_header(self.tcp_pp, b"PROXY TCP4 203.0.113.7 127.0.0.1 40000 %d\r\n" % self.tcp_pp)
        r = Registration(c, "alice", "secret-a", contact="<sip:alice@203.0.113.7:40000;transport=tcp>")
        self.assertEqual(r.register().status, 200)
        self.assertEqual(self.received_of("alice"), "tcp:203.0.113.7:40000")
        self.assertEqual(r.register(expires=0).status, 200)

    def test_v2_on_tls_records_the_client_address_from_the_header(self):
        c = self.client_after_header(self.tls_pp, v2_header("198.51.100.9", 41000, dport=self.tls_pp), tls=True)
        r = Registration(c, "bob", "secret-b", contact="<sip:bob@198.51.100.9:41000;transport=tls>")
        self.assertEqual(r.register().status, 200)
        self.assertEqual(self.received_of("bob"), "tls:198.51.100.9:41000")
        self.assertEqual(r.register(expires=0).status, 200)

    def test_a_connection_without_the_header_is_refused(self):
        s = socket.create_connection(("127.0.0.1", self.tcp_pp), timeout=5)
        self.addCleanup(s.close)
        s.sendall(b"OPTIONS sip:%s SIP/2.0\r\nVia: SIP/2.0/TCP 127.0.0.1:9;branch=z9hG4bKpp1\r\n"
                  b"Max-Forwards: 70\r\nFrom: <sip:x@%s>;tag=1\r\nTo: <sip:%s>\r\nCall-ID: pp1\r\n"
                  b"CSeq: 1 OPTIONS\r\nContent-Length: 0\r\n\r\n" % (DOMAIN.encode(), DOMAIN.encode(), DOMAIN.encode()))
        try:
            data = s.recv(4096)
        except ConnectionResetError:
            data = b""
        self.assertEqual(data, b"")
        deadline = time.time() + 5
        while time.time() < deadline and "requires the PROXY protocol" not in self.server.read_log():
            time.sleep(0.1)
        self.assertIn("requires the PROXY protocol", self.server.read_log())

    def test_the_plain_listeners_do_not_expect_the_header(self):
        c = SipClient("tcp", self.server.port)
        self.addCleanup(c.close)
        self.assertEqual(c.request("OPTIONS", "sip:%s" % DOMAIN).status, 200)


if __name__ == "__main__":
    unittest.main()
