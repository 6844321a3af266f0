"""A graceful stop (SIGTERM) within shutdown_grace: the work under way ends before the server exits
(a MESSAGE being forwarded gets its answer through, a call can still be hung up), new requests
are refused with 503, and WebSocket clients are told with close code 1001 (going away)."""
import signal
import struct
import time
import unittest

import ws_client
from harness import Server
from proxy_ua import UA

SDP = ("v=0\r\no=- 1 1 IN IP4 127.0.0.1\r\ns=-\r\nc=IN IP4 127.0.0.1\r\nt=0 0\r\n"
       "m=audio 40000 RTP/AVP 0\r\na=rtpmap:0 PCMU/8000\r\n")


class GracefulStop(unittest.TestCase):
    transport = "udp"

    def setUp(self):
        self.server = Server(ws=True, shutdown_grace=10)
        self.addCleanup(self.server.cleanup)
        self.server.start()

    def ua(self, user, password):
        u = UA(self.transport, self.server.port, user, password)
        self.addCleanup(u.close)
        u.register()
        return u

    def sigterm(self):
        self.server.proc.send_signal(signal.SIGTERM)
        self.server.wait_log("SIGTERM: shutting down")

    def still_running_after(self, seconds):
        time.sleep(seconds)
        return self.server.proc.poll() is None

    def test_a_message_being_forwarded_gets_its_answer_before_the_exit(self):
        a, b = self.ua("alice", "secret-a"), self.ua("bob", "secret-b")
        a.send_authenticated("MESSAGE", "bob", "in flight", wait=False)
        m = b.expect_request("MESSAGE")
        self.sigterm()
        # Bob has not answered: the server waits for him (up to shutdown_grace).
        self.assertTrue(self.still_running_after(0.5), self.server.read_log())
        # Meanwhile a new request is refused.
        r, _, _ = a.send_authenticated("MESSAGE", "bob", "too late")
        self.assertEqual(r.status, 503, r.raw)
        self.assertEqual(r.get("retry-after"), "5")
        b.reply(m, 200)
        ok = a.c.recv_final()
        self.assertEqual(ok.status, 200, ok.raw)
        self.assertEqual(self.server.stop(timeout=5), 0, self.server.read_log())
        self.assertNotIn("work unfinished", self.server.read_log())

    def test_a_call_can_still_be_hung_up_while_stopping(self):
        a, b = self.ua("alice", "secret-a"), self.ua("bob", "secret-b")
        r, invite_text, _ = a.send_authenticated("INVITE", "bob", SDP, content_type="application/sdp",
                                                 expect_final=False)
        inv = b.expect_request("INVITE")
        b.reply(inv, 200, "OK", body=SDP, headers=["Content-Type: application/sdp"], to_tag="bobtag")
        ok = a.c.recv_final()
        self.assertEqual(ok.status, 200, ok.raw)
        dialog = a.uac_dialog(ok, invite_text)
        a.send_in_dialog(dialog, "ACK")
        b.expect_request("ACK")
        # Something under way keeps the server draining (a stop with nothing under way is
        # immediate: the proxy keeps no dialog state to wait for).
        a.send_authenticated("MESSAGE", "bob", "pending", wait=False)
        m = b.expect_request("MESSAGE")
        self.sigterm()
        # The BYE is within the dialog: forwarded, not refused, and its 200 comes back.
        a.send_in_dialog(dialog, "BYE")
        bye = b.expect_request("BYE")
        self.assertTrue(self.server.proc.poll() is None)
        b.reply(bye, 200)
        done = a.c.recv_final()
        self.assertEqual(done.status, 200, done.raw)
        self.assertEqual(done.get("cseq").split()[1], "BYE", done.raw)
        b.reply(m, 200)
        self.assertEqual(a.c.recv_final().status, 200)
        self.assertEqual(self.server.stop(timeout=5), 0, self.server.read_log())

    def test_an_unanswered_request_is_given_up_at_the_end_of_the_grace(self):
        self.server.stop()
        self.server = Server(shutdown_grace=1)
        self.addCleanup(self.server.cleanup)
        self.server.start()
        a, b = self.ua("alice", "secret-a"), self.ua("bob", "secret-b")
        a.send_authenticated("MESSAGE", "bob", "never answered", wait=False)
        b.expect_request("MESSAGE")
        started = time.monotonic()
        self.assertEqual(self.server.stop(timeout=10), 0, self.server.read_log())
        self.assertGreaterEqual(time.monotonic() - started, 0.9)
        self.assertIn("stopping with work unfinished at the end of shutdown_grace", self.server.read_log())

    def test_websocket_clients_are_told_going_away(self):
        ws = ws_client.WebSocket(self.server.ws_port)
        self.addCleanup(ws.sock.close)
        self.server.proc.send_signal(signal.SIGTERM)
        fin, op, payload = ws.recv_frame()
        self.assertEqual(op, ws_client.OP_CLOSE)
        self.assertEqual(struct.unpack("!H", payload[:2])[0], 1001)
        ws.send_frame(ws_client.OP_CLOSE, struct.pack("!H", 1001))
        self.assertEqual(self.server.stop(timeout=5), 0, self.server.read_log())


class GracefulStopTcp(GracefulStop):
    transport = "tcp"


if __name__ == "__main__":
    unittest.main()
