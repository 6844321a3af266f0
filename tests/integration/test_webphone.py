"""The web softphone (web/public/) in real headless Chromium against the real server.

WebphoneTest: the server serves the page over HTTPS and SIP over WSS on one listener (and again
over HTTP and WS); two tabs sign in with digest authentication (a wrong password first), call each
other with WebRTC (Chromium's fake camera and microphone, ICE over loopback host candidates), stay
connected for two seconds with RTP flowing both ways, hold and resume (re-INVITEs), hang up (BYE),
reject a call (486) and cancel one (CANCEL), and exchange MESSAGEs. The browser side is tests/browser/webphone_e2e.js
(playwright-core from web/node_modules driving Debian's /usr/bin/chromium); this test starts the
server, runs it, and checks its verdict and the server's exit.

WebphoneBaresipTest: a tab on WSS and a baresip on UDP call each other through the proxy
(tests/browser/webphone_peer.js on the browser's side), with media both ways.

The test process first moves into a network namespace of its own with nothing but loopback
(unshare(CLONE_NEWNET), as root): the servers, Chromium and baresip it starts inherit it, so the
media cannot leave the machine, and the two-tab test requires the ICE pair in use to be loopback.
Where that is not permitted, the two-tab test runs on the machine's network and accepts any ICE
pair (and says so), and the baresip test is skipped.

scripts/setup.sh installs Chromium and web/node_modules and bundles JsSIP into
web/public/vendor/: the tests are skipped only on a machine where that did not run."""
import ctypes
import json
import os
import re
import shutil
import subprocess
import threading
import unittest

from harness import DOMAIN, Server
from test_baresip_call import Baresip, baresip_available, sip_messages, wait_for

ROOT = os.path.abspath(os.path.join(os.path.dirname(__file__), "..", ".."))
WEB_PUBLIC = os.path.join(ROOT, "web", "public")
E2E_SCRIPT = os.path.join(ROOT, "tests", "browser", "webphone_e2e.js")
PEER_SCRIPT = os.path.join(ROOT, "tests", "browser", "webphone_peer.js")
CHROMIUM = os.environ.get("CHROMIUM", "/usr/bin/chromium")
NODE = shutil.which("node")
USERS = (("alice", "secret-a"), ("bob", "secret-b"))


CLONE_NEWNET = 0x40000000
LOOPBACK_ONLY = False


def setUpModule():
    """Moves this process (so every process it starts) into a new network namespace whose only
    interface is loopback."""
    global LOOPBACK_ONLY
    if missing() is not None:
        return
    libc = ctypes.CDLL(None, use_errno=True)
    if libc.unshare(CLONE_NEWNET) != 0:
        print("test_webphone: no network namespace (%s): the media may use any local address"
              % os.strerror(ctypes.get_errno()))
        return
    subprocess.run(["ip", "link", "set", "lo", "up"], check=True)
    LOOPBACK_ONLY = True


def missing():
    """Why the browser test cannot run here (None when it can)."""
    if not os.path.exists(CHROMIUM):
        return "no Chromium at %s (Debian package chromium; run scripts/setup.sh)" % CHROMIUM
    if NODE is None:
        return "node is not on PATH (run scripts/setup.sh)"
    if not os.path.isdir(os.path.join(ROOT, "web", "node_modules", "playwright-core")):
        return "web/node_modules is not installed (run scripts/setup.sh)"
    if not os.path.exists(os.path.join(WEB_PUBLIC, "vendor", "jssip.min.js")):
        return "web/public/vendor/jssip.min.js is missing (run scripts/setup.sh)"
    return None


@unittest.skipIf(missing() is not None, missing())
class WebphoneTest(unittest.TestCase):
    def run_e2e(self, server, url):
        cmd = [NODE, E2E_SCRIPT, "--url", url, "--chromium", CHROMIUM,
               "--caller", "%s@%s" % (USERS[0][0], DOMAIN), "--caller-password", USERS[0][1],
               "--callee", "%s@%s" % (USERS[1][0], DOMAIN), "--callee-password", USERS[1][1]]
        if LOOPBACK_ONLY:
            cmd.append("--require-loopback")
        try:
            r = subprocess.run(cmd, capture_output=True, text=True, timeout=120, cwd=ROOT)
        except subprocess.TimeoutExpired as e:
            self.fail("the browser test did not end within 120 s (its own limit is 60 s):\n%s\n--- server log:\n%s"
                      % (e.stdout, server.read_log()[-8000:]))
        return r.returncode, r.stdout + r.stderr

    def check(self, transport, config="", **server_kwargs):
        server = Server(config, users=USERS, **server_kwargs)
        self.addCleanup(server.cleanup)
        server.start()
        if transport == "WSS":
            url = "https://127.0.0.1:%d/" % server.wss_port
        else:
            url = "http://127.0.0.1:%d/" % server.ws_port
        rc, out = self.run_e2e(server, url)
        print(out)
        detail = "%s\n--- server log (end):\n%s" % (out, server.read_log()[-8000:])
        self.assertEqual(rc, 0, detail)
        # Every step reported: a run that skipped one cannot pass.
        for step in ("two tabs loaded", "a wrong password is refused",
                     "registered over %s with digest authentication" % transport,
                     "sees an incoming call from alice@", "RTCPeerConnection 'connected' on both sides",
                     "put the call on hold and resumed it",
                     "callee sees the call ended by the other side", "caller sees \"Busy 486",
                     "callee sees it Canceled", "callee shows it in the conversation",
                     "caller shows \"Coming", "caller signed out"):
            self.assertIn(step, out, detail)
        if LOOPBACK_ONLY:
            self.assertRegex(out, r"ICE pair (127\.0\.0\.1|::1):\d+ ⇄ (127\.0\.0\.1|::1):", detail)
        self.assertIn("webphone: 13 passed, 0 failed", out, detail)
        self.assertEqual(server.stop(), 0, server.read_log())

    def test_wss_page_over_https(self):
        """The README's case: page and SIP from one WSS listener (the self-signed certificate),
        the page from the default [web] root (this checkout's web/public)."""
        self.check("WSS", wss=True)

    def test_ws_page_over_http(self):
        """A plain WS listener, the page from a configured [web] root: http://127.0.0.1 is a
        secure context, so WebRTC works there too."""
        self.check("WS", config='[web]\nroot = "%s"\n' % WEB_PUBLIC, ws=True)


# The media of the browser-to-baresip call: a veth pair inside the test's namespace. baresip's ICE
# gathers no loopback candidates, so both ends use this address; it exists only in the namespace.
MEDIA_LINK, MEDIA_ADDRESS = "swmedia0", "198.18.0.1"
BARESIP_WEBRTC_CONFIG = "rtcp_mux yes\nnet_interface %s\nmodule ice.so\nmodule dtls_srtp.so\n" % MEDIA_ADDRESS
CAROL = ("carol", "secret-c")


@unittest.skipIf(missing() is not None, missing())
@unittest.skipUnless(baresip_available(), "baresip (Debian package baresip-core) is not installed")
class WebphoneBaresipTest(unittest.TestCase):
    """A browser on WSS and a baresip on UDP call each other through the proxy, both ways: the
    transport changes at the proxy (Record-Route on both sides), and the media is WebRTC on the
    browser's side and baresip's ICE + DTLS-SRTP (PCMU, rtcp-mux) on the other, flowing between
    them. libre answers MD5 challenges only, so the server offers MD5 alone."""

    @classmethod
    def setUpClass(cls):
        if not LOOPBACK_ONLY:
            raise unittest.SkipTest("needs a network namespace of its own (root) for the media link")
        for cmd in (["ip", "link", "add", MEDIA_LINK, "type", "veth", "peer", "name", MEDIA_LINK + "p"],
                    ["ip", "addr", "add", MEDIA_ADDRESS + "/32", "dev", MEDIA_LINK],
                    ["ip", "link", "set", MEDIA_LINK, "up"], ["ip", "link", "set", MEDIA_LINK + "p", "up"]):
            subprocess.run(cmd, check=True)

    @classmethod
    def tearDownClass(cls):
        subprocess.run(["ip", "link", "del", MEDIA_LINK], check=False)

    def test_browser_and_baresip_on_udp_call_each_other(self):
        server = Server('[web]\nroot = "%s"\n[auth]\nalgorithms = ["MD5"]\n' % WEB_PUBLIC, users=(USERS[0], CAROL),
                        wss=True)
        self.addCleanup(server.cleanup)
        server.start()
        carol = Baresip(self, server, CAROL[0], CAROL[1], "udp", answer=True, extra_config=BARESIP_WEBRTC_CONFIG,
                        account_params=";medianat=ice;mediaenc=dtls_srtp")
        registered = wait_for(lambda: [b for b in json.loads(server.cli("registrations", "--json", check=True).stdout)
                                       if b["aor"] == "carol@%s" % DOMAIN], 15)
        self.assertTrue(registered, "baresip did not register:\n" + carol.output()[-4000:])
        ctrl = carol.connect()

        cmd = [NODE, PEER_SCRIPT, "--url", "https://127.0.0.1:%d/" % server.wss_port, "--chromium", CHROMIUM,
               "--user", "%s@%s" % (USERS[0][0], DOMAIN), "--password", USERS[0][1], "--peer", "carol@%s" % DOMAIN,
               "--media-prefix", MEDIA_ADDRESS, "--no-loopback-candidates"]
        node = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, cwd=ROOT)
        self.addCleanup(lambda: node.poll() is None and node.kill())
        lines = []
        reader = threading.Thread(target=lambda: lines.extend(iter(node.stdout.readline, "")), daemon=True)
        reader.start()

        def said(text, timeout):
            return wait_for(lambda: any(text in l for l in lines) or node.poll() is not None, timeout) and \
                any(text in l for l in lines)

        def detail():
            return "%s\n--- baresip:\n%s\n--- server log (end):\n%s" % (
                "".join(lines), carol.output()[-6000:], server.read_log()[-6000:])

        # The page calls carol (she answers by herself) and hangs up; then carol calls the page,
        # it answers, and carol hangs up once the page says the media flowed.
        if said("ready: waiting for a call from", 45):
            self.assertTrue(ctrl.command("dial", "sip:alice@%s" % DOMAIN).get("ok"), detail())
            if said("ready: waiting for the peer to hang up", 30):
                self.assertTrue(ctrl.command("hangup").get("ok"), detail())
        try:
            rc = node.wait(timeout=90)
        except subprocess.TimeoutExpired:
            node.kill()
            self.fail("the browser did not finish within 90 s:\n" + detail())
        reader.join(5)
        out = "".join(lines)
        print(out)
        self.assertEqual(rc, 0, detail())
        self.assertIn("webphone: 6 passed, 0 failed", out, detail())

        # What baresip saw: the browser's INVITE came through the proxy onto UDP with two
        # Record-Route entries (WSS side and UDP side), then its ACK and BYE by that route.
        trace = carol.output()
        invites = [m for m in sip_messages(trace, "INVITE ")
                   if any(l.lower().startswith("from:") and "sip:alice@" in l for l in m)]
        self.assertEqual(len(invites), 1, detail())
        rr = [l for l in invites[0] if l.lower().startswith("record-route:")]
        self.assertEqual(len(rr), 2, invites[0])
        self.assertEqual(len([l for l in rr if "transport=wss" in l]), 1, invites[0])
        self.assertTrue(sip_messages(trace, "ACK "), detail())
        self.assertTrue(sip_messages(trace, "BYE "), detail())
        # Both calls had their DTLS-SRTP handshake and RTP both ways on baresip's side too.
        self.assertEqual(trace.count("DTLS-SRTP complete"), 2, detail())
        # (baresip's statistics at the end of each call: "audio Transmit: Receive:" then packets)
        stats = re.findall(r"audio\s+Transmit:\s+Receive:\s*\npackets:\s+(\d+)\s+(\d+)", trace)
        self.assertEqual(len(stats), 2, detail())
        for sent, received in stats:
            self.assertGreaterEqual(int(received), 50, stats)
            self.assertGreaterEqual(int(sent), 50, stats)
        self.assertEqual(carol.terminate(), 0, detail())
        self.assertEqual(server.stop(), 0, server.read_log())


if __name__ == "__main__":
    unittest.main()
