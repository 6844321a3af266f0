"""SIP over WebSocket (RFC 7118) and the WebSocket protocol rules of the WS/WSS listeners:
the "sip" subprotocol, the Origin allow-list, message size (1009), protocol errors (1002),
ping/pong and the idle timeout, an abrupt disconnect, and the web files served beside them."""
import os
import re
import shutil
import socket
import struct
import subprocess
import tempfile
import time
import unittest

import ws_client
from harness import BIN, DOMAIN, Registration, Server, ServerPerClass, SipClient
from proxy_ua import UA, header_lines


def sip_options(via_host, transport="WS"):
    return ("OPTIONS sip:%s SIP/2.0\r\n"
            "Via: SIP/2.0/%s %s;branch=z9hG4bK%s\r\n"
            "Max-Forwards: 70\r\nFrom: <sip:alice@%s>;tag=1\r\nTo: <sip:%s>\r\n"
            "Call-ID: %s\r\nCSeq: 1 OPTIONS\r\n\r\n") % (DOMAIN, transport, via_host, os.urandom(6).hex(), DOMAIN,
                                                        DOMAIN, os.urandom(8).hex())


class WebSocketHandshake(ServerPerClass, unittest.TestCase):
    server_ws = True
    server_wss = True

    def test_sip_subprotocol_is_accepted_and_echoed(self):
        ws = ws_client.WebSocket(self.server.ws_port)
        self.assertEqual(ws.status, 101)
        self.assertEqual(ws.protocol, "sip")
        ws.close()

    def test_offer_of_several_subprotocols_including_sip(self):
        ws = ws_client.WebSocket(self.server.ws_port, protocols=("chat", "sip"))
        self.assertEqual(ws.protocol, "sip")
        ws.close()

    def test_missing_subprotocol_is_refused(self):
        with self.assertRaises(ws_client.HandshakeRefused) as cm:
            ws_client.WebSocket(self.server.ws_port, protocols=())
        self.assertEqual(cm.exception.status, 400)
        self.assertIn("sip", cm.exception.body)

    def test_other_subprotocol_only_is_refused(self):
        with self.assertRaises(ws_client.HandshakeRefused) as cm:
            ws_client.WebSocket(self.server.ws_port, protocols=("chat",))
        self.assertEqual(cm.exception.status, 400)

    def test_foreign_origin_is_refused(self):
        with self.assertRaises(ws_client.HandshakeRefused) as cm:
            ws_client.WebSocket(self.server.ws_port, origin="https://evil.example.org")
        self.assertEqual(cm.exception.status, 403)
        self.assertIn("is not allowed", self.server.read_log())

    def test_null_origin_is_refused_by_default(self):
        with self.assertRaises(ws_client.HandshakeRefused) as cm:
            ws_client.WebSocket(self.server.ws_port, origin="null")
        self.assertEqual(cm.exception.status, 403)

    def test_own_names_are_allowed_origins(self):
        for origin in ("https://%s" % DOMAIN, "https://localhost:%d" % self.server.wss_port, "http://127.0.0.1:8080"):
            ws = ws_client.WebSocket(self.server.ws_port, origin=origin)
            self.assertEqual(ws.status, 101, origin)
            ws.close()

    def test_no_origin_is_allowed(self):
        # Not a browser page: cross-site hijacking needs a browser, which always sends Origin.
        ws = ws_client.WebSocket(self.server.ws_port, origin=None)
        self.assertEqual(ws.status, 101)
        ws.close()

    def test_wss_handshake_and_options(self):
        c = SipClient("wss", self.server.wss_port)
        r = c.request("OPTIONS", "sip:%s" % DOMAIN)
        self.assertEqual(r.status, 200)
        c.close()

    def test_response_comes_back_as_one_text_message_with_received(self):
        ws = ws_client.WebSocket(self.server.ws_port)
        ws.send_text(sip_options("abc123.invalid"))
        op, payload = ws.recv_message()
        self.assertEqual(op, ws_client.OP_TEXT)
        text = payload.decode()
        self.assertTrue(text.startswith("SIP/2.0 200"), text)
        self.assertRegex(text, r"Via: SIP/2.0/WS abc123\.invalid;branch=[^\r]*;received=127\.0\.0\.1")
        ws.close()

    def test_binary_message_is_accepted(self):
        ws = ws_client.WebSocket(self.server.ws_port)
        ws.send_frame(ws_client.OP_BINARY, sip_options("bin.invalid"))
        op, payload = ws.recv_message()
        self.assertTrue(payload.startswith(b"SIP/2.0 200"), payload[:80])
        ws.close()

    def test_fragmented_message_is_reassembled(self):
        ws = ws_client.WebSocket(self.server.ws_port)
        text = sip_options("frag.invalid").encode()
        ws.send_frame(ws_client.OP_TEXT, text[:40], fin=False)
        ws.send_frame(ws_client.OP_CONT, text[40:], fin=True)
        _, payload = ws.recv_message()
        self.assertTrue(payload.startswith(b"SIP/2.0 200"))
        ws.close()

    def test_malformed_sip_gets_400_and_connection_stays(self):
        ws = ws_client.WebSocket(self.server.ws_port)
        ws.send_text("OPTIONS sip:%s SIP/2.0\r\nVia: SIP/2.0/WS x.invalid;branch=z9hG4bKq\r\n"
                     "From: <sip:a@%s>;tag=1\r\nTo: <sip:%s>\r\nCall-ID: c1\r\nCSeq: banana\r\n\r\n"
                     % (DOMAIN, DOMAIN, DOMAIN))
        _, payload = ws.recv_message()
        self.assertTrue(payload.startswith(b"SIP/2.0 400"), payload[:80])
        ws.send_text(sip_options("again.invalid"))
        _, payload = ws.recv_message()
        self.assertTrue(payload.startswith(b"SIP/2.0 200"))
        ws.close()

    def test_unmasked_client_frame_is_a_protocol_error_1002(self):
        ws = ws_client.WebSocket(self.server.ws_port)
        ws.send_frame(ws_client.OP_TEXT, sip_options("nomask.invalid"), mask=False)
        with self.assertRaises(ws_client.Closed) as cm:
            ws.recv_message()
        self.assertEqual(cm.exception.code, 1002)

    def test_reserved_bits_are_a_protocol_error_1002(self):
        ws = ws_client.WebSocket(self.server.ws_port)
        ws.send_frame(ws_client.OP_TEXT, "x", rsv=0x4)
        with self.assertRaises(ws_client.Closed) as cm:
            ws.recv_message()
        self.assertEqual(cm.exception.code, 1002)

    def test_client_ping_gets_pong_with_its_payload(self):
        ws = ws_client.WebSocket(self.server.ws_port)
        ws.send_frame(ws_client.OP_PING, b"are-you-there")
        fin, op, payload = ws.recv_frame()
        self.assertEqual((op, payload), (ws_client.OP_PONG, b"are-you-there"))
        ws.close()

    def test_client_close_gets_close_1000(self):
        ws = ws_client.WebSocket(self.server.ws_port)
        ws.send_frame(ws_client.OP_CLOSE, struct.pack("!H", 1000))
        fin, op, payload = ws.recv_frame()
        self.assertEqual(op, ws_client.OP_CLOSE)
        self.assertEqual(struct.unpack("!H", payload[:2])[0], 1000)
        ws.sock.close()

    def test_plain_http_request_without_web_root_files_is_404(self):
        status, headers, body = ws_client.http_request(self.server.ws_port,
                                                       "GET /no-such-page.html HTTP/1.1\r\nHost: x\r\n\r\n")
        self.assertEqual(status, 404)

    def test_registered_over_ws_listed_with_ws_transport(self):
        c = SipClient("ws", self.server.ws_port)
        r = Registration(c, "alice", "secret-a").register(expires=300)
        self.assertEqual(r.status, 200, r.raw)
        self.assertIn(c.via_host, r.get("contact"))
        out = self.server.cli("registrations", "--json", check=True).stdout
        self.assertIn(c.via_host, out)
        self.assertIn("ws:", out.lower())
        Registration(c, "alice", "secret-a").register(expires=0)
        c.close()


class WebSocketCounters(unittest.TestCase):
    def test_stop_line_counts_websockets_and_refusals(self):
        s = Server(ws=True)
        try:
            s.start()
            ws_client.WebSocket(s.ws_port).close()
            with self.assertRaises(ws_client.HandshakeRefused):
                ws_client.WebSocket(s.ws_port, protocols=())
            self.assertEqual(s.stop(), 0)
            self.assertRegex(s.read_log(), r"WebSocket: 1 opened, 1 handshakes refused .*; 2 HTTP requests")
        finally:
            s.cleanup()


class JsSipDigestWarning(unittest.TestCase):
    def test_md5_not_last_is_warned_about_with_websocket_listeners(self):
        s = Server('[auth]\nalgorithms = ["MD5", "SHA-256"]\n', ws=True)
        try:
            s.start()
            self.assertEqual(s.stop(), 0)
            self.assertIn('auth.algorithms does not end with "MD5"', s.read_log())
        finally:
            s.cleanup()
        s = Server('[auth]\nalgorithms = ["MD5", "SHA-256"]\n')  # no WebSocket listener: no warning
        try:
            s.start()
            self.assertEqual(s.stop(), 0)
            self.assertNotIn("auth.algorithms does not end", s.read_log())
        finally:
            s.cleanup()


class WebSocketLimits(ServerPerClass, unittest.TestCase):
    server_ws = True
    server_config = '[transport]\nmax_message_size = 4096\n[websocket]\nidle_timeout = 10\n'

    def test_oversized_message_is_closed_with_1009(self):
        ws = ws_client.WebSocket(self.server.ws_port)
        ws.send_text(sip_options("big.invalid").replace("\r\n\r\n", "\r\nX-Pad: %s\r\n\r\n" % ("p" * 6000)))
        with self.assertRaises(ws_client.Closed) as cm:
            ws.recv_message()
        self.assertEqual(cm.exception.code, 1009)

    def test_message_under_the_limit_is_answered(self):
        ws = ws_client.WebSocket(self.server.ws_port)
        ws.send_text(sip_options("small.invalid").replace("\r\n\r\n", "\r\nX-Pad: %s\r\n\r\n" % ("p" * 3000)))
        _, payload = ws.recv_message()
        self.assertTrue(payload.startswith(b"SIP/2.0 200"))
        ws.close()

    def test_server_pings_and_closes_a_silent_client(self):
        # idle_timeout = 10: a ping after 5 s of silence; a client that answers nothing is closed
        # by 10 s. We read nothing for 12 s, then find the ping and the end of the connection.
        ws = ws_client.WebSocket(self.server.ws_port, timeout=20)
        time.sleep(12)
        frames = []
        try:
            while True:
                fin, op, payload = ws.recv_frame(timeout=5)
                frames.append(op)
        except (ws_client.Closed, ConnectionError, socket.timeout, OSError):
            pass
        self.assertIn(ws_client.OP_PING, frames)
        # After the ping, nothing but an end: a close frame or the dropped connection.
        with self.assertRaises((ws_client.Closed, ConnectionError, OSError)):
            ws.send_text(sip_options("late.invalid"))
            ws.recv_message(timeout=3)

    def test_client_answering_pings_stays_connected(self):
        ws = ws_client.WebSocket(self.server.ws_port, timeout=20)
        deadline = time.time() + 12
        while time.time() < deadline:
            try:
                ws.recv_message(timeout=1)  # answers the server's pings with pongs
            except socket.timeout:
                pass
        self.assertTrue(ws.pings, "the server sent no ping in 12 s with idle_timeout = 10")
        ws.send_text(sip_options("alive.invalid"))
        _, payload = ws.recv_message()
        self.assertTrue(payload.startswith(b"SIP/2.0 200"))
        ws.close()


class WebSocketConfiguredOrigins(ServerPerClass, unittest.TestCase):
    server_ws = True
    server_config = '[websocket]\nallowed_origins = ["https://app.example.net", "phone.example.org"]\n'

    def test_listed_origin_is_allowed(self):
        for origin in ("https://app.example.net", "https://app.example.net:443", "http://phone.example.org:8080"):
            ws = ws_client.WebSocket(self.server.ws_port, origin=origin)
            self.assertEqual(ws.status, 101, origin)
            ws.close()

    def test_unlisted_origins_are_refused_even_own_names(self):
        for origin in ("https://localhost", "http://app.example.net", "https://app.example.net:8443",
                       "https://evil.example.org"):
            with self.assertRaises(ws_client.HandshakeRefused, msg=origin) as cm:
                ws_client.WebSocket(self.server.ws_port, origin=origin)
            self.assertEqual(cm.exception.status, 403)


class WebSocketBadConfig(unittest.TestCase):
    def test_bad_origin_entry_names_the_key(self):
        s = Server('[websocket]\nallowed_origins = ["https://"]\n', ws=True, users=())
        try:
            r = subprocess.run([BIN, "check-config", s.config_path], capture_output=True, text=True, timeout=30)
            self.assertNotEqual(r.returncode, 0)
            self.assertIn("websocket.allowed_origins[0]", r.stdout + r.stderr)
        finally:
            s.cleanup()

    def test_client_certificates_on_a_ws_listener_is_an_error(self):
        s = Server('[[listener]]\nlisten = "ws:127.0.0.1:0"\nclient_certificates = "required"\n', users=())
        try:
            r = subprocess.run([BIN, "check-config", s.config_path], capture_output=True, text=True, timeout=30)
            self.assertNotEqual(r.returncode, 0)
            self.assertIn("client_certificates", r.stdout + r.stderr)
        finally:
            s.cleanup()


class WebFiles(ServerPerClass, unittest.TestCase):
    """Static files of the web root on the WS/WSS listeners."""
    server_ws = True
    server_wss = True

    @classmethod
    def setUpClass(cls):
        cls.root = tempfile.mkdtemp(prefix="sipwarden-web-")
        with open(os.path.join(cls.root, "index.html"), "w") as f:
            f.write("<!doctype html><title>phone</title>")
        os.makedirs(os.path.join(cls.root, "vendor"))
        with open(os.path.join(cls.root, "vendor", "lib.js"), "w") as f:
            f.write("export const x = 1;\n")
        with open(os.path.join(cls.root, ".hidden"), "w") as f:
            f.write("secret")
        cls.secret = os.path.join(os.path.dirname(cls.root), "sipwarden-outside-%d.txt" % os.getpid())
        with open(cls.secret, "w") as f:
            f.write("outside")
        cls.server_config = '[web]\nroot = "%s"\n' % cls.root
        super().setUpClass()

    @classmethod
    def tearDownClass(cls):
        try:
            super().tearDownClass()
        finally:
            os.unlink(cls.secret)
            shutil.rmtree(cls.root, ignore_errors=True)

    def get(self, target, method="GET", tls=False):
        port = self.server.wss_port if tls else self.server.ws_port
        return ws_client.http_request(port, "%s %s HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n"
                                      % (method, target), tls=tls)

    def test_index_over_https(self):
        status, headers, body = self.get("/", tls=True)
        self.assertEqual(status, 200)
        self.assertEqual(headers["content-type"], "text/html; charset=utf-8")
        self.assertIn(b"<title>phone</title>", body)
        self.assertEqual(headers.get("x-content-type-options"), "nosniff")

    def test_script_with_query_string(self):
        status, headers, body = self.get("/vendor/lib.js?v=3")
        self.assertEqual(status, 200)
        self.assertTrue(headers["content-type"].startswith("text/javascript"))
        self.assertEqual(body, b"export const x = 1;\n")

    def test_head_has_length_and_no_body(self):
        status, headers, body = self.get("/index.html", method="HEAD")
        self.assertEqual(status, 200)
        self.assertEqual(int(headers["content-length"]), len("<!doctype html><title>phone</title>"))
        self.assertEqual(body, b"")

    def test_escaping_the_root_is_refused(self):
        name = os.path.basename(self.secret)
        for target in ("/../" + name, "/%2e%2e/" + name, "/vendor/../../" + name, "/.hidden", "//etc/passwd",
                       "/vendor/%2e%2e/%2e%2e/" + name):
            status, _, body = self.get(target)
            self.assertEqual(status, 404, target)
            self.assertNotIn(b"outside", body)
            self.assertNotIn(b"secret", body)

    def test_post_is_405_with_allow(self):
        status, headers, _ = self.get("/", method="POST")
        self.assertEqual(status, 405)
        self.assertEqual(headers.get("allow"), "GET, HEAD")

    def test_keep_alive_serves_two_requests_on_one_connection(self):
        sock = socket.create_connection(("127.0.0.1", self.server.ws_port), timeout=5)
        sock.sendall(b"GET /index.html HTTP/1.1\r\nHost: x\r\n\r\nGET /vendor/lib.js HTTP/1.1\r\nHost: x\r\n\r\n")
        data = b""
        deadline = time.time() + 5
        while data.count(b"HTTP/1.1 200") < 2 and time.time() < deadline:
            chunk = sock.recv(65536)
            if not chunk:
                break
            data += chunk
        sock.close()
        self.assertEqual(data.count(b"HTTP/1.1 200"), 2, data[:300])

    def test_websocket_on_the_same_listener(self):
        ws = ws_client.WebSocket(self.server.wss_port, tls=True, origin="https://localhost:%d" % self.server.wss_port)
        ws.send_text(sip_options("page.invalid", "WSS"))
        _, payload = ws.recv_message()
        self.assertTrue(payload.startswith(b"SIP/2.0 200"))
        ws.close()


class WebDisabled(ServerPerClass, unittest.TestCase):
    server_ws = True
    server_config = '[web]\nenabled = false\n'

    def test_plain_request_gets_426(self):
        status, headers, body = ws_client.http_request(self.server.ws_port, "GET / HTTP/1.1\r\nHost: x\r\n\r\n")
        self.assertEqual(status, 426)
        self.assertEqual(headers.get("upgrade"), "websocket")


class SipOverWebSocket(ServerPerClass, unittest.TestCase):
    """Registered browsers (WS/WSS) and phones (UDP) calling and messaging one another through the
    proxy: responses go back over the connection, requests to a browser over the flow it
    registered on, and in-dialog requests follow the double Record-Route across the transport
    change."""
    server_ws = True
    server_wss = True

    def test_call_from_ws_to_udp_and_bye_back(self):
        alice = UA(None, None, "alice", "secret-a", client=SipClient("ws", self.server.ws_port))
        bob = UA("udp", self.server.port, "bob", "secret-b")
        try:
            alice.register()
            bob.register()
            _, invite, _ = alice.send_authenticated("INVITE", "bob", body="v=0\r\n", content_type="application/sdp",
                                                    wait=False)
            got = bob.expect_request("INVITE")
            rr = header_lines(got, "record-route")
            self.assertEqual(len(rr), 2, got.raw)
            self.assertIn("transport=ws", rr[1])  # the caller's side, bottom
            self.assertNotIn("transport=", rr[0])  # the callee's side (UDP), top
            bob.reply(got, 180, "Ringing")
            bob.reply(got, 200, "OK", body="v=0\r\n", headers=["Content-Type: application/sdp"])
            ok = alice.c.recv_final()
            self.assertEqual(ok.status, 200, ok.raw)
            dialog = alice.uac_dialog(ok, invite)
            alice.send_in_dialog(dialog, "ACK")
            bob.expect_request("ACK")
            # The callee hangs up: the BYE crosses back to the browser over its WebSocket.
            bob.send_in_dialog(bob.uas_dialog(got), "BYE")
            bye = alice.expect_request("BYE")
            self.assertEqual(len(header_lines(bye, "via")), 2, bye.raw)
            alice.reply(bye, 200, "OK")
            self.assertEqual(bob.c.recv_final().status, 200)
        finally:
            alice.close()
            bob.close()

    def test_message_from_udp_to_wss(self):
        alice = UA(None, None, "alice", "secret-a", client=SipClient("wss", self.server.wss_port))
        bob = UA("udp", self.server.port, "bob", "secret-b")
        try:
            alice.register()
            bob.register()
            bob.send_authenticated("MESSAGE", "alice", body="hello browser", wait=False)
            got = alice.expect_request("MESSAGE")
            self.assertEqual(got.body, "hello browser")
            alice.reply(got, 200, "OK")
            self.assertEqual(bob.c.recv_final().status, 200)
        finally:
            alice.close()
            bob.close()

    def test_abrupt_disconnect_makes_requests_fail_fast(self):
        alice = UA(None, None, "alice", "secret-a", client=SipClient("ws", self.server.ws_port))
        bob = UA("udp", self.server.port, "bob", "secret-b")
        try:
            alice.register()
            bob.register()
            alice.c.ws.abort()
            time.sleep(0.3)
            started = time.time()
            bob.send_authenticated("INVITE", "alice", body="v=0\r\n", content_type="application/sdp", wait=False)
            final = bob.c.recv_final()
            self.assertLess(time.time() - started, 3.0)
            self.assertIn(final.status, (430, 480), final.raw)
        finally:
            bob.close()

    def test_a_disconnect_while_a_request_waits_for_the_answer_fails_it_at_once(self):
        alice = UA(None, None, "alice", "secret-a", client=SipClient("ws", self.server.ws_port))
        bob = UA("udp", self.server.port, "bob", "secret-b")
        try:
            alice.register()
            bob.register()
            bob.send_authenticated("MESSAGE", "alice", body="read, then gone", wait=False)
            alice.expect_request("MESSAGE")
            started = time.time()
            alice.c.ws.abort()
            final = bob.c.recv_final(timeout=10)
            self.assertEqual(final.status, 430, final.raw)
            self.assertLess(time.time() - started, 3.0)
        finally:
            bob.close()


class OutboundAndGruu(ServerPerClass, unittest.TestCase):
    """RFC 5626 flows and RFC 5627 GRUUs, as JsSIP and SIP.js register: +sip.instance, reg-id,
    ;ob, Supported: path, gruu, outbound."""
    server_ws = True

    INSTANCE_WS = "<urn:uuid:0b5b2f0e-6a5e-4c0e-9a38-1f5f7d0a0001>"
    INSTANCE_UDP = "<urn:uuid:0b5b2f0e-6a5e-4c0e-9a38-1f5f7d0a0002>"

    def register_instance(self, client, instance, expires=300):
        contact = ('<sip:alice@%s;transport=ws;ob>;+sip.instance="%s";reg-id=1' % (client.via_host, instance)
                   if client.via_host else
                   '<sip:alice@127.0.0.1:%d>;+sip.instance="%s";reg-id=1' % (client.local_port, instance))
        r = Registration(client, "alice", "secret-a").register(
            expires=expires, contact=contact, extra=["Supported: path, gruu, outbound"])
        self.assertEqual(r.status, 200, r.raw)
        return r

    def gruus(self, response, instance):
        for c in header_lines(response, "contact"):
            if instance in c:
                pub = re.search(r'pub-gruu="([^"]+)"', c)
                temp = re.search(r'temp-gruu="([^"]+)"', c)
                return pub.group(1), temp.group(1)
        raise AssertionError("no contact for %s in %s" % (instance, response.raw))

    def test_register_answers_outbound_and_gruus(self):
        c = SipClient("ws", self.server.ws_port)
        try:
            r = self.register_instance(c, self.INSTANCE_WS)
            self.assertIn("outbound", r.get("require") or "")
            self.assertIn("gruu", r.get("supported") or "")
            self.assertIn("outbound", r.get("supported") or "")
            pub, temp = self.gruus(r, self.INSTANCE_WS)
            self.assertEqual(pub, "sip:alice@%s;gr=urn:uuid:0b5b2f0e-6a5e-4c0e-9a38-1f5f7d0a0001" % DOMAIN)
            self.assertTrue(temp.startswith("sip:tgruu.") and temp.endswith("@%s;gr" % DOMAIN), temp)
            self.assertNotIn("alice", temp)
            # A refresh gives a new temp-gruu; the public one stays.
            r2 = self.register_instance(c, self.INSTANCE_WS)
            pub2, temp2 = self.gruus(r2, self.INSTANCE_WS)
            self.assertEqual(pub2, pub)
            self.assertNotEqual(temp2, temp)
        finally:
            Registration(c, "alice", "secret-a").register(expires=0, contact="*")
            c.close()

    def test_no_gruu_without_supported_gruu(self):
        c = SipClient("ws", self.server.ws_port)
        try:
            r = Registration(c, "alice", "secret-a").register(
                expires=300, contact='<sip:alice@%s;transport=ws>;+sip.instance="%s";reg-id=1'
                % (c.via_host, self.INSTANCE_WS))
            self.assertEqual(r.status, 200)
            self.assertNotIn("gruu", " ".join(r.all("contact")))
        finally:
            Registration(c, "alice", "secret-a").register(expires=0, contact="*")
            c.close()

    def test_gruus_reach_only_their_instance(self):
        ws = SipClient("ws", self.server.ws_port)
        udp = SipClient("udp", self.server.port)
        bob = UA("udp", self.server.port, "bob", "secret-b")
        try:
            r_ws = self.register_instance(ws, self.INSTANCE_WS)
            r_udp = self.register_instance(udp, self.INSTANCE_UDP)
            bob.register()
            pub_ws, temp_ws = self.gruus(r_ws, self.INSTANCE_WS)
            pub_udp, temp_udp = self.gruus(r_udp, self.INSTANCE_UDP)
            for target, want, other in ((pub_ws, ws, udp), (temp_ws, ws, udp), (pub_udp, udp, ws),
                                        (temp_udp, udp, ws)):
                bob.send_authenticated("MESSAGE", None, uri=target, body="for " + target, wait=False)
                got = want.recv(5)
                self.assertEqual(got.method, "MESSAGE", got.raw)
                self.assertEqual(got.body, "for " + target)
                want.send_raw(
                    "SIP/2.0 200 OK\r\n" + "".join("Via: %s\r\n" % v for v in got.all("via")) +
                    "From: %s\r\nTo: %s;tag=x\r\nCall-ID: %s\r\nCSeq: %s\r\nContent-Length: 0\r\n\r\n"
                    % (got.get("from"), got.get("to"), got.get("call-id"), got.get("cseq")))
                self.assertEqual(bob.c.recv_final().status, 200)
                with self.assertRaises(socket.timeout):
                    other.recv(0.3)
        finally:
            for c in (ws, udp):
                Registration(c, "alice", "secret-a").register(expires=0, contact="*")
                c.close()
            bob.close()

    def test_forged_temp_gruu_is_404_and_unregistered_instance_480(self):
        bob = UA("udp", self.server.port, "bob", "secret-b")
        try:
            bob.register()
            r, _, _ = bob.send_authenticated(
                "MESSAGE", None, uri="sip:tgruu.AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA@%s;gr" % DOMAIN, body="x")
            self.assertEqual(r.status, 404, r.raw)
            r, _, _ = bob.send_authenticated(
                "MESSAGE", None, uri="sip:alice@%s;gr=urn:uuid:00000000-0000-0000-0000-000000000000" % DOMAIN, body="x")
            self.assertEqual(r.status, 480, r.raw)
        finally:
            bob.close()


if __name__ == "__main__":
    unittest.main()
