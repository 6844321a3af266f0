"""Two real phones through the proxy: baresip 1.0.0 (Debian package baresip-core) registers as
alice and as bob, alice calls bob, bob answers by himself, audio flows both ways, alice hangs up;
then alice sends bob a MESSAGE, which bob shows. Over UDP and over TCP (signalling; the media is
RTP over UDP), everything on 127.0.0.1.

How the phones are driven (checked against the installed package):
- No sound hardware: the audio source is the `ausine` module (a 440 Hz tone; it only does 48 kHz
  stereo, so ausrc_srate/ausrc_channels say so and baresip resamples to PCMU's 8 kHz), the player
  and the alert device are `aubridge` (a device nobody reads). PCMU only (audio_codecs=pcmu).
- `net_interface 127.0.0.1`: otherwise baresip puts its first non-loopback address in the SDP
  and the RTP leaves loopback. (`net_interface lo` does not work in this version.)
- Commands go over the `ctrl_tcp` module (JSON in netstrings on a TCP port of our choosing):
  `dial`, `hangup`, and `message` (from the `contact` module: it messages the current contact,
  the only one in the contacts file, bob). The same connection carries the call events
  (CALL_ESTABLISHED, CALL_CLOSED, ...).
- The `menu` module shows an incoming MESSAGE as `sip:alice@example.test: "text"`, through a UI
  module: `stdio` (it cannot set up a terminal on a pipe and says so, but prints).
- Whether RTP flowed: the call stays up until the status line shows a non-zero bit rate both ways
  and both sides have RTCP (ctrl_tcp CALL_RTCP events; the first report comes after about 5 s)
  counting at least a second's worth of packets (50 of 20 ms) sent and received. When the call
  ends, the `rtcpsummary` module prints
  `EX=BareSip;CS=..;CD=<seconds>;PR=<packets received>;PS=<packets sent>;...;IP=<local>,<remote>;`
  (or `EX=BareSip;ERROR=No RTCP stats collected;` without RTCP): PR and PS must be as large, and
  what one side received must match what the other sent.
- libre 1.1.0 answers MD5 challenges only (see test_real_ua.py): the server offers MD5 alone.
"""
import json
import os
import re
import shutil
import signal
import socket
import subprocess
import tempfile
import threading
import time
import unittest

from harness import DOMAIN, Server, free_port

BARESIP_MODULES = "/usr/lib/baresip/modules"
MD5_ONLY = '[auth]\nalgorithms = ["MD5"]\n'
TEXT = "Watson, come here."
MIN_PACKETS = 50  # one second of 20 ms PCMU packets


def baresip_available():
    return shutil.which("baresip") is not None and all(
        os.path.exists(os.path.join(BARESIP_MODULES, m + ".so"))
        for m in ("ausine", "aubridge", "ctrl_tcp", "rtcpsummary", "contact", "menu", "stdio", "g711"))


def wait_for(predicate, timeout, step=0.1):
    """Polls predicate until it returns something truthy or timeout seconds pass; returns the last value."""
    deadline = time.time() + timeout
    while True:
        value = predicate()
        if value or time.time() >= deadline:
            return value
        time.sleep(step)


class Control:
    """A ctrl_tcp connection: commands out, responses and events in (netstring-framed JSON)."""

    def __init__(self, port, timeout=10):
        deadline = time.time() + timeout
        while True:
            try:
                self.sock = socket.create_connection(("127.0.0.1", port), timeout=1)
                break
            except OSError:
                if time.time() >= deadline:
                    raise
                time.sleep(0.1)
        self.sock.settimeout(None)
        self.lock = threading.Lock()
        self.messages = []
        self.token = 0
        self.reader = threading.Thread(target=self.read_loop, daemon=True)
        self.reader.start()

    def read_loop(self):
        buf = b""
        while True:
            try:
                chunk = self.sock.recv(65536)
            except OSError:
                return
            if not chunk:
                return
            buf += chunk
            while True:
                colon = buf.find(b":")
                if colon < 0 or not buf[:colon].isdigit():
                    break
                length = int(buf[:colon])
                if len(buf) < colon + 1 + length + 1:
                    break
                payload = buf[colon + 1:colon + 1 + length]
                buf = buf[colon + 1 + length + 1:]
                with self.lock:
                    self.messages.append(json.loads(payload.decode("utf-8", "replace")))

    def close(self):
        try:
            self.sock.shutdown(socket.SHUT_RDWR)
        except OSError:
            pass
        self.sock.close()
        self.reader.join(5)

    def command(self, command, params="", timeout=10):
        """Sends a command; returns its response (a dict with ok and data)."""
        self.token += 1
        token = "t%d" % self.token
        body = json.dumps({"command": command, "params": params, "token": token}).encode()
        self.sock.sendall(b"%d:%s," % (len(body), body))
        response = wait_for(lambda: self.find(lambda m: m.get("response") and m.get("token") == token), timeout)
        if not response:
            raise AssertionError("no response to %s %r; got %s" % (command, params, self.messages))
        return response

    def find(self, predicate):
        with self.lock:
            for m in self.messages:
                if predicate(m):
                    return m
        return None

    def event(self, kind, timeout):
        return wait_for(lambda: self.find(lambda m: m.get("event") and m.get("type") == kind), timeout)

    def rtcp(self):
        """rtcp_stats of the last CALL_RTCP event: {"tx": {"sent": ...}, "rx": {"sent": ...}}."""
        with self.lock:
            found = [m for m in self.messages if m.get("event") and m.get("type") == "CALL_RTCP"]
        return found[-1].get("rtcp_stats") if found else None

    def events(self):
        with self.lock:
            return [m.get("type") for m in self.messages if m.get("event")]


class Baresip:
    """A headless baresip with its own config directory, one account routed to the test server."""

    def __init__(self, test, server, user, password, transport, answer=False, port=None, extra_config="",
                 account_params=""):
        self.user = user
        self.dir = tempfile.mkdtemp(prefix="baresip-%s-" % user)
        test.addCleanup(shutil.rmtree, self.dir, True)
        self.ctrl_port = free_port()
        with open(os.path.join(self.dir, "config"), "w") as f:
            f.write("poll_method epoll\n"
                    "module_path %s\n"
                    "net_interface 127.0.0.1\n"
                    "sip_listen 127.0.0.1:0\n"
                    "audio_source ausine,440\n"
                    "ausrc_srate 48000\n"
                    "ausrc_channels 2\n"
                    "audio_player aubridge,%s-speaker\n"
                    "audio_alert aubridge,%s-bell\n"
                    "rtp_stats yes\n"
                    "module stdio.so\n"
                    "module g711.so\n"
                    "module ausine.so\n"
                    "module aubridge.so\n"
                    "module_tmp uuid.so\n"
                    "module_tmp account.so\n"
                    "module_app menu.so\n"
                    "module_app contact.so\n"
                    "module_app rtcpsummary.so\n"
                    "module_app ctrl_tcp.so\n"
                    "ctrl_tcp_listen 127.0.0.1:%d\n" % (BARESIP_MODULES, user, user, self.ctrl_port) + extra_config)
        with open(os.path.join(self.dir, "accounts"), "w") as f:
            f.write('<sip:%s@%s;transport=%s>;auth_pass=%s;outbound="sip:127.0.0.1:%d;transport=%s";regint=60;'
                    'mwi=no;audio_codecs=pcmu%s%s\n' % (user, DOMAIN, transport, password, port or server.port, transport,
                                                       ";answermode=auto" if answer else "", account_params))
        with open(os.path.join(self.dir, "contacts"), "w") as f:
            f.write('"Bob" <sip:bob@%s>\n' % DOMAIN)
        self.log_path = os.path.join(self.dir, "baresip.log")
        self.log = open(self.log_path, "wb")
        test.addCleanup(self.log.close)
        # -s: SIP trace into the log; -t: a safety net, baresip quits by itself after 90 s.
        # stdin is a pipe nobody writes to: the stdio UI module reads it.
        self.proc = subprocess.Popen(["baresip", "-f", self.dir, "-s", "-t", "90"], stdin=subprocess.PIPE,
                                     stdout=self.log, stderr=subprocess.STDOUT)
        test.addCleanup(self.kill)
        self.ctrl = None

    def connect(self):
        self.ctrl = Control(self.ctrl_port)
        return self.ctrl

    def output(self):
        with open(self.log_path, "rb") as f:
            return re.sub(r"\x1b\[[0-9;]*m", "", f.read().decode("utf-8", "replace"))

    def terminate(self, timeout=10):
        if self.ctrl:
            self.ctrl.close()
            self.ctrl = None
        self.proc.send_signal(signal.SIGTERM)
        try:
            return self.proc.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            return None  # still running: the caller's assertion shows the phone's log (kill() ends it)

    def kill(self):
        if self.ctrl:
            self.ctrl.close()
        if self.proc.poll() is None:
            self.proc.kill()
        self.proc.wait()
        if self.proc.stdin:
            self.proc.stdin.close()


def rtcp_enough(ctrl):
    stats = ctrl.rtcp()
    return stats and stats["tx"]["sent"] >= MIN_PACKETS and stats["rx"]["sent"] >= MIN_PACKETS


def rtp_summary(text):
    """The rtcpsummary line of the last call: packets received and sent, and the media addresses."""
    found = re.findall(r"EX=BareSip;CS=\d+;CD=(\d+);PR=(\d+);PS=(\d+);.*?IP=([^,;]+),([^;]+);", text)
    if not found:
        return None
    cd, pr, ps, local, remote = found[-1]
    return {"seconds": int(cd), "received": int(pr), "sent": int(ps), "local": local, "remote": remote}


def sip_messages(text, start):
    """SIP messages of the -s trace whose first line starts with `start`, as lists of lines."""
    out = []
    lines = text.split("\n")
    for i, line in enumerate(lines):
        if line.startswith(start):
            msg = []
            for l in lines[i:]:
                if not l.strip():
                    break
                msg.append(l.rstrip("\r"))
            out.append(msg)
    return out


@unittest.skipUnless(baresip_available(), "baresip (Debian package baresip-core, with ausine/aubridge/ctrl_tcp) "
                                          "is not installed")
class BaresipCallTests:
    transport = None

    def setUp(self):
        self.server = Server(MD5_ONLY)
        self.addCleanup(self.server.cleanup)
        self.server.start()

    def registrations(self):
        return json.loads(self.server.cli("registrations", "--json", check=True).stdout)

    def bindings_of(self, user):
        return [b for b in self.registrations() if b["aor"] == "%s@%s" % (user, DOMAIN)]

    def diagnostics(self, *phones):
        return "\n".join("--- %s (events %s) ---\n%s" % (p.user, p.ctrl.events() if p.ctrl else "-",
                                                           p.output()[-12000:]) for p in phones)

    def test_call_with_audio_then_message(self):
        bob = Baresip(self, self.server, "bob", "secret-b", self.transport, answer=True)
        alice = Baresip(self, self.server, "alice", "secret-a", self.transport)
        for phone in (alice, bob):
            seen = wait_for(lambda: self.bindings_of(phone.user), 15)
            self.assertEqual(len(seen), 1, "%s did not register:\n%s" % (phone.user, self.diagnostics(phone)))
            self.assertTrue(seen[0]["received"].startswith(self.transport + ":127.0.0.1:"), seen)
        a = alice.connect()
        b = bob.connect()

        # alice calls bob; the proxy challenges the INVITE, baresip answers with MD5 credentials.
        r = a.command("dial", "sip:bob@%s" % DOMAIN)
        self.assertTrue(r.get("ok"), r)
        # bob answers by himself (answermode=auto: no CALL_INCOMING event in this version).
        for ctrl, direction, peer in ((a, "outgoing", "sip:bob@"), (b, "incoming", "sip:alice@")):
            established = ctrl.event("CALL_ESTABLISHED", 10)
            self.assertTrue(established, self.diagnostics(alice, bob))
            self.assertEqual(established.get("direction"), direction, established)
            self.assertTrue(established.get("peeruri", "").startswith(peer), established)

        # The INVITE reached bob through the proxy: its Via on top, Max-Forwards 69, two
        # Record-Route URIs of the proxy (double record-routing).
        invites = sip_messages(bob.output(), "INVITE ")
        self.assertEqual(len(invites), 1, self.diagnostics(bob))
        invite = invites[0]
        vias = [l for l in invite if l.lower().startswith("via:")]
        self.assertEqual(len(vias), 2, invite)
        self.assertIn("SIP/2.0/%s 127.0.0.1:%d;branch=z9hG4bK" % (self.transport.upper(), self.server.port), vias[0])
        self.assertIn("Max-Forwards: 69", invite)
        rr = [l for l in invite if l.lower().startswith("record-route:")]
        suffix = ";transport=tcp;lr>" if self.transport == "tcp" else ";lr>"
        self.assertEqual(len(rr), 2, invite)
        for value in rr:
            self.assertRegex(value, r"<sip:[0-9a-f]+@127\.0\.0\.1:%d%s$" % (self.server.port, re.escape(suffix)))

        # Audio both ways: both status lines show a bit rate in each direction, and both sides
        # got RTCP reports (every 5 s or so) counting at least a second's worth of packets.
        flowing = re.compile(r"audio=[1-9]\d*/[1-9]\d*")
        ok = wait_for(lambda: flowing.search(alice.output()) and flowing.search(bob.output()), 15, step=0.2)
        self.assertTrue(ok, "no audio bit rate shown:\n" + self.diagnostics(alice, bob))
        ok = wait_for(lambda: rtcp_enough(a) and rtcp_enough(b), 20, step=0.2)
        self.assertTrue(ok, "no RTCP report of %d packets each way: alice %s, bob %s" % (
            MIN_PACKETS, a.rtcp(), b.rtcp()))

        r = a.command("hangup")
        self.assertTrue(r.get("ok"), r)
        for ctrl in (a, b):
            self.assertTrue(ctrl.event("CALL_CLOSED", 10), self.diagnostics(alice, bob))
        # bob saw the BYE (routed by the route set through the proxy), not a timeout.
        closed = b.event("CALL_CLOSED", 1)
        self.assertIn("Connection reset by peer", closed.get("param", ""), closed)

        for phone in (alice, bob):
            stats = wait_for(lambda: rtp_summary(phone.output()), 5)
            self.assertTrue(stats, "no rtcpsummary line:\n" + self.diagnostics(phone))
            self.assertGreaterEqual(stats["received"], MIN_PACKETS, "%s: %s" % (phone.user, stats))
            self.assertGreaterEqual(stats["sent"], MIN_PACKETS, "%s: %s" % (phone.user, stats))
            self.assertTrue(stats["remote"].startswith("127.0.0.1:"), stats)
        # Each side received what the other sent (give or take the packets in flight at hang-up).
        sa, sb = rtp_summary(alice.output()), rtp_summary(bob.output())
        self.assertLessEqual(abs(sa["received"] - sb["sent"]), 10, (sa, sb))
        self.assertLessEqual(abs(sb["received"] - sa["sent"]), 10, (sa, sb))

        # The pager model: alice messages her only contact, bob; the proxy challenges, forwards.
        r = a.command("message", TEXT)
        self.assertTrue(r.get("ok"), r)
        shown = '%s: "%s"' % ("sip:alice@%s" % DOMAIN, TEXT)
        self.assertTrue(wait_for(lambda: shown in bob.output(), 10), self.diagnostics(alice, bob))
        messages = sip_messages(bob.output(), "MESSAGE ")
        self.assertEqual(len(messages), 1, messages)
        self.assertIn("Max-Forwards: 69", messages[0])
        # alice got the 200 (after the 407) for it. bob shows the text before his 200 has crossed
        # the proxy back to alice, so wait for it to reach her log.
        def message_answers():
            return [m[0] for m in sip_messages(alice.output(), "SIP/2.0 ") if any(
                l.startswith("CSeq:") and l.endswith(" MESSAGE") for l in m)]
        wait_for(lambda: message_answers()[-1:] == ["SIP/2.0 200 OK"], 5)
        answers = message_answers()
        self.assertEqual(answers[-1:], ["SIP/2.0 200 OK"], answers)
        self.assertIn("SIP/2.0 407 Proxy Authentication Required", answers)

        # SIGTERM: both unregister.
        for phone in (alice, bob):
            self.assertEqual(phone.terminate(), 0, self.diagnostics(phone))
        self.assertEqual(self.registrations(), [])

    def tearDown(self):
        rc = self.server.stop()
        self.assertEqual(rc, 0, "server exited with %s:\n%s" % (rc, self.server.read_log()))


@unittest.skipUnless(baresip_available(), "baresip (Debian package baresip-core) is not installed")
class BaresipTlsClientCertificateTest(unittest.TestCase):
    """alice's baresip registers over mutual TLS with a client certificate issued by the test PKI's
    intermediate CA (the listener requires one) and calls bob, a baresip on UDP: the INVITE changes
    transport at the proxy (TLS in, UDP out), audio flows, the BYE finds its way back over TLS."""

    @classmethod
    def setUpClass(cls):
        from tls_fixtures import Pki
        cls.pki_dir = tempfile.mkdtemp(prefix="sipwarden-pki-")
        cls.pki = Pki(cls.pki_dir)
        # baresip takes its certificate, chain and key from one PEM file.
        cls.alice_pem = os.path.join(cls.pki_dir, "alice-all.pem")
        with open(cls.alice_pem, "w") as out:
            for n in ("alice.crt", "intermediate-ca.crt", "alice.key"):
                with open(cls.pki.path(n)) as f:
                    out.write(f.read())

    @classmethod
    def tearDownClass(cls):
        shutil.rmtree(cls.pki_dir, ignore_errors=True)

    def test_tls_caller_with_certificate_calls_udp_callee(self):
        config = MD5_ONLY + ('[tls]\ncertificate = "%s"\nprivate_key = "%s"\nca_file = "%s"\n'
                             'client_certificates = "required"\n' % (
                                 self.pki.path("server-chain.crt"), self.pki.path("server.key"),
                                 self.pki.path("root-ca.crt")))
        server = Server(config, tls=True)
        self.addCleanup(server.cleanup)
        server.start()
        bob = Baresip(self, server, "bob", "secret-b", "udp", answer=True)
        alice = Baresip(self, server, "alice", "secret-a", "tls", port=server.tls_port,
                        extra_config="sip_certificate %s\nsip_cafile %s\n" % (self.alice_pem,
                                                                               self.pki.path("root-ca.crt")))

        def bindings(user):
            return [b for b in json.loads(server.cli("registrations", "--json", check=True).stdout)
                    if b["aor"] == "%s@%s" % (user, DOMAIN)]

        for phone, transport in ((alice, "tls"), (bob, "udp")):
            seen = wait_for(lambda: bindings(phone.user), 15)
            self.assertEqual(len(seen), 1, "%s did not register:\n%s\n%s" % (phone.user, phone.output()[-6000:],
                                                                            server.read_log()))
            self.assertTrue(seen[0]["received"].startswith(transport + ":127.0.0.1:"), seen)
        a = alice.connect()
        b = bob.connect()
        self.assertTrue(a.command("dial", "sip:bob@%s" % DOMAIN).get("ok"))
        for ctrl in (a, b):
            self.assertTrue(ctrl.event("CALL_ESTABLISHED", 10), alice.output()[-6000:] + bob.output()[-6000:])
        invite = sip_messages(bob.output(), "INVITE ")[0]
        rr = [l for l in invite if l.lower().startswith("record-route:")]
        # Double record-routing across the transport change: the caller-facing URI says TLS.
        self.assertEqual(len(rr), 2, invite)
        self.assertTrue(any(";transport=tls;lr>" in v and str(server.tls_port) in v for v in rr), rr)
        self.assertTrue(any(";transport" not in v and str(server.port) in v for v in rr), rr)
        ok = wait_for(lambda: rtcp_enough(a) and rtcp_enough(b), 20, step=0.2)
        self.assertTrue(ok, "no RTCP report of %d packets each way: alice %s, bob %s" % (MIN_PACKETS, a.rtcp(), b.rtcp()))
        self.assertTrue(a.command("hangup").get("ok"))
        for ctrl in (a, b):
            self.assertTrue(ctrl.event("CALL_CLOSED", 10))
        self.assertIn("Connection reset by peer", b.event("CALL_CLOSED", 1).get("param", ""))
        for phone in (alice, bob):
            self.assertEqual(phone.terminate(), 0)
        self.assertEqual(server.stop(), 0, server.read_log())


class BaresipCallUdpTest(BaresipCallTests, unittest.TestCase):
    transport = "udp"


class BaresipCallTcpTest(BaresipCallTests, unittest.TestCase):
    transport = "tcp"


if __name__ == "__main__":
    unittest.main()
