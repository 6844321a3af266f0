"""Requests for other domains, relayed after RFC 3263 resolution against a real DNS server (a
test one on loopback, named by [dns] servers): NAPTR → SRV → A, SRV for a transport parameter, A
with an explicit port, NXDOMAIN → 404; and over TLS the callee's certificate must name the URI's
domain (RFC 5922), else nothing is sent."""
import os
import re
import shutil
import socket
import ssl
import subprocess
import tempfile
import time
import unittest

from dns_server import DnsServer
from harness import Server
from proxy_ua import UA
from tls_fixtures import Pki

SDP = ("v=0\r\no=- 1 1 IN IP4 127.0.0.1\r\ns=-\r\nc=IN IP4 127.0.0.1\r\nt=0 0\r\n"
       "m=audio 4000 RTP/AVP 0\r\n")


class DnsRelay(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.pki_dir = tempfile.mkdtemp(prefix="sipwarden-pki-")
        cls.pki = Pki(cls.pki_dir)
        for name, san in (("far", "DNS:secure.far.test"), ("wrongname", "DNS:elsewhere.test")):
            ext = cls.pki.path(name + ".ext")
            with open(ext, "w") as f:
                f.write("[e]\nbasicConstraints=critical,CA:FALSE\nkeyUsage=critical,digitalSignature\n"
                        "extendedKeyUsage=serverAuth\nsubjectAltName=%s\n" % san)
            subprocess.run(["openssl", "ecparam", "-name", "prime256v1", "-genkey", "-noout", "-out",
                            cls.pki.path(name + ".key")], check=True, capture_output=True)
            subprocess.run(["openssl", "req", "-new", "-key", cls.pki.path(name + ".key"), "-subj", "/CN=" + name,
                            "-out", cls.pki.path(name + ".csr")], check=True, capture_output=True)
            subprocess.run(["openssl", "ca", "-batch", "-config",
                            os.path.join(cls.pki_dir, "intermediate-ca.db", "ca.conf"), "-extfile", ext,
                            "-extensions", "e", "-notext", "-in", cls.pki.path(name + ".csr"), "-out",
                            cls.pki.path(name + ".crt")], check=True, capture_output=True)
            with open(cls.pki.path(name + "-chain.crt"), "w") as out:
                for n in (name + ".crt", "intermediate-ca.crt"):
                    with open(cls.pki.path(n)) as f:
                        out.write(f.read())
        # Callees: a UDP socket for far.test (NAPTR/SRV), one for the explicit-port case, and TLS
        # listeners for secure.far.test (right name) and wrong.far.test (certificate names another).
        cls.udp = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        cls.udp.bind(("127.0.0.1", 0))
        cls.udp.settimeout(5)
        cls.tls_right = cls.tls_listener()
        cls.tls_wrong = cls.tls_listener()
        udp_port = cls.udp.getsockname()[1]
        cls.dns = DnsServer({
            ("far.test", "NAPTR"): [(10, 10, "s", "SIP+D2U", "", "_sip._udp.far.test"),
                                    (20, 10, "s", "SIP+D2X", "", "_sip._xyz.far.test")],
            ("_sip._udp.far.test", "SRV"): [(0, 5, udp_port, "host1.far.test")],
            ("host1.far.test", "A"): [("127.0.0.1",)],
            ("secure.far.test", "A"): [("127.0.0.1",)],
            ("_sips._tcp.secure.far.test", "SRV"): [(0, 0, cls.tls_right.getsockname()[1], "host1.far.test")],
            ("_sips._tcp.wrong.far.test", "SRV"): [(0, 0, cls.tls_wrong.getsockname()[1], "host1.far.test")],
            ("wrong.far.test", "A"): [("127.0.0.1",)],
            ("plain.far.test", "A"): [("127.0.0.1",)],
            ("slow.far.test", "A"): [("127.0.0.1",)],
        }, slow={"slow.far.test"}, delay=0.6)
        config = ('[proxy]\nrelay = true\n[dns]\nservers = ["127.0.0.1:%d"]\ntimeout = 1\nattempts = 1\n'
                  '[tls]\ncertificate = "%s"\nprivate_key = "%s"\nca_file = "%s"\n' % (
                      cls.dns.port, cls.pki.path("server-chain.crt"), cls.pki.path("server.key"),
                      cls.pki.path("ca-chain.crt")))
        cls.server = Server(config, tls=True)
        cls.server.start()

    @classmethod
    def tls_listener(cls):
        s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        s.bind(("127.0.0.1", 0))
        s.listen(4)
        s.settimeout(5)
        return s

    @classmethod
    def tearDownClass(cls):
        rc = cls.server.stop()
        log = cls.server.read_log()
        cls.server.cleanup()
        cls.dns.close()
        for s in (cls.udp, cls.tls_right, cls.tls_wrong):
            s.close()
        shutil.rmtree(cls.pki_dir, ignore_errors=True)
        if rc != 0:
            raise AssertionError("server exited with %d:\n%s" % (rc, log))

    def alice(self):
        a = UA("udp", self.server.port, "alice", "secret-a")
        self.addCleanup(a.close)
        return a

    def test_naptr_srv_a_over_udp(self):
        a = self.alice()
        a.send_authenticated("MESSAGE", "carol", "via naptr", target_domain="far.test", wait=False)
        data, addr = self.udp.recvfrom(65536)
        text = data.decode()
        self.assertTrue(text.startswith("MESSAGE sip:carol@far.test SIP/2.0"), text[:200])
        self.assertIn("via naptr", text)
        self.assertIn(("far.test", "NAPTR"), self.dns.queries)
        self.assertIn(("_sip._udp.far.test", "SRV"), self.dns.queries)
        # The callee answers; alice gets the 200 back through the proxy.
        lines = text.split("\r\n")
        head = [l for l in lines if l.split(":")[0].lower() in ("via", "from", "to", "call-id", "cseq")]
        self.udp.sendto(("SIP/2.0 200 OK\r\n" + "\r\n".join(head) + "\r\nContent-Length: 0\r\n\r\n").encode(), addr)
        self.assertEqual(a.c.recv_final().status, 200)

    def test_a_record_with_an_explicit_port(self):
        a = self.alice()
        a.send_authenticated("MESSAGE", "carol", "explicit port", target_domain="plain.far.test:%d" %
                             self.udp.getsockname()[1], wait=False)
        data, _ = self.udp.recvfrom(65536)
        self.assertIn(b"explicit port", data)

    def test_an_ack_whose_next_hop_is_a_name_is_resolved_and_forwarded(self):
        """The ACK for a 2xx after our Route goes where the dialog's route set leads: here a
        downstream proxy known by name (its Record-Route). It is resolved like a request's
        next hop, not dropped."""
        a = self.alice()
        port = self.udp.getsockname()[1]
        uri = "sip:carol@192.0.2.77"
        text, _ = a.build_request("ACK", uri, "<sip:carol@far.test>;tag=callee-1",
                                  ["Route: <sip:127.0.0.1:%d;lr>" % self.server.port,
                                   "Route: <sip:plain.far.test:%d;lr>" % port], call_id="ack-by-name", cseq=1)
        a.c.send_raw(text)
        data, _ = self.udp.recvfrom(65536)
        got = data.decode()
        self.assertTrue(got.startswith("ACK %s SIP/2.0" % uri), got[:200])
        self.assertIn("Call-ID: ack-by-name", got)
        self.assertIn(("plain.far.test", "A"), self.dns.queries)

    def test_unknown_domain_gets_404(self):
        a = self.alice()
        r, _, _ = a.send_authenticated("MESSAGE", "carol", "nowhere", target_domain="nowhere.test")
        self.assertEqual(r.status, 404, r.raw)

    def test_cancel_while_the_lookup_is_under_way(self):
        # The INVITE waits for the DNS answer (0.6 s late) when its CANCEL comes: nothing has been
        # forwarded yet, so the CANCEL gets 200, the INVITE 487 (§9.2), and the late answer must
        # not send the cancelled INVITE on to the callee.
        a = self.alice()
        target = "slow.far.test:%d" % self.udp.getsockname()[1]
        _, text, call_id = a.send_authenticated("INVITE", "carol", SDP, content_type="application/sdp",
                                                target_domain=target, wait=False)
        branch = re.search(r"branch=([^;\s]+)", text).group(1)
        cseq = int(re.search(r"CSeq: (\d+)", text).group(1))
        uri = "sip:carol@%s" % target
        cancel, _ = a.build_request("CANCEL", uri, "<%s>" % uri, (), call_id=call_id, branch=branch, cseq=cseq)
        a.c.send_raw(cancel)
        finals = {}
        while len(finals) < 2:
            r = a.c.recv(3)
            if r.status >= 200:
                finals[r.get("cseq").split()[1]] = r
        self.assertEqual(finals["CANCEL"].status, 200, finals["CANCEL"].raw)
        self.assertEqual(finals["INVITE"].status, 487, finals["INVITE"].raw)
        ack, _ = a.build_request("ACK", uri, finals["INVITE"].get("to"), (), call_id=call_id, branch=branch, cseq=cseq)
        a.c.send_raw(ack)
        # (The socket is shared: another test's unanswered MESSAGE may still be retransmitted to it.)
        deadline = time.time() + 1.5
        try:
            while time.time() < deadline:
                self.udp.settimeout(max(0.01, deadline - time.time()))
                try:
                    data, _ = self.udp.recvfrom(65536)
                except socket.timeout:
                    break
                self.assertFalse(data.startswith(b"INVITE"), "the cancelled INVITE reached the callee: %r" % data[:200])
        finally:
            self.udp.settimeout(5)
        self.assertIn(("slow.far.test", "A"), self.dns.queries)

    def tls_accept(self, listener, name):
        ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        ctx.load_cert_chain(self.pki.path(name + "-chain.crt"), self.pki.path(name + ".key"))
        raw, _ = listener.accept()
        got = b""
        try:
            conn = ctx.wrap_socket(raw, server_side=True)
            conn.settimeout(3)
            while b"\r\n\r\n" not in got or len(got) < 50:
                chunk = conn.recv(65536)
                if not chunk:
                    break
                got += chunk
        except (ssl.SSLError, OSError):
            pass
        finally:
            raw.close()
        return got

    def test_tls_by_srv_with_the_domain_in_the_certificate(self):
        a = self.alice()
        a.send_authenticated("MESSAGE", "carol", "secret text", target_domain="secure.far.test;transport=tls",
                             wait=False)
        got = self.tls_accept(self.tls_right, "far")
        self.assertTrue(got.startswith(b"MESSAGE sip:carol@secure.far.test"), got[:200])

    def test_tls_to_a_certificate_that_names_another_domain_sends_nothing(self):
        a = self.alice()
        a.send_authenticated("MESSAGE", "carol", "must not leak", target_domain="wrong.far.test;transport=tls",
                             wait=False)
        got = self.tls_accept(self.tls_wrong, "wrongname")
        self.assertNotIn(b"must not leak", got)
        deadline = time.time() + 5
        while time.time() < deadline and "does not name wrong.far.test" not in self.server.read_log():
            time.sleep(0.1)
        self.assertIn("does not name wrong.far.test", self.server.read_log())


if __name__ == "__main__":
    unittest.main()
