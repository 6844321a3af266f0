"""Transport limits: idle TCP connections are closed, connections per source address are capped,
and one bad client does not stop the server answering the others."""
import socket
import time
import unittest

from harness import DOMAIN, ServerPerClass, SipClient

CONFIG = "[transport]\ntcp_idle_timeout = 1\nmax_connections_per_address = 3\n"


def closed_by_peer(sock, timeout):
    sock.settimeout(timeout)
    try:
        return sock.recv(1) == b""
    except ConnectionResetError:
        return True
    except socket.timeout:
        return False


class TransportLimitsTest(ServerPerClass, unittest.TestCase):
    server_config = CONFIG
    server_users = ()

    def test_idle_connection_is_closed(self):
        c = SipClient("tcp", self.server.port)
        self.addCleanup(c.close)
        self.assertEqual(c.request("OPTIONS", "sip:%s" % DOMAIN).status, 200)
        start = time.time()
        self.assertTrue(closed_by_peer(c.sock, 5), "idle connection still open after 5 s")
        self.assertLess(time.time() - start, 4)

    def test_connections_per_address_are_capped(self):
        held = []
        for _ in range(3):
            c = SipClient("tcp", self.server.port)
            self.addCleanup(c.close)
            self.assertEqual(c.request("OPTIONS", "sip:%s" % DOMAIN).status, 200)
            held.append(c)
        extra = socket.create_connection(("127.0.0.1", self.server.port), timeout=5)
        self.addCleanup(extra.close)
        self.assertTrue(closed_by_peer(extra, 2), "a 4th connection from one address was kept")
        # The three allowed connections still work.
        for c in held:
            self.assertEqual(c.request("OPTIONS", "sip:%s" % DOMAIN).status, 200)

    def test_garbage_does_not_stop_the_server(self):
        junk = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        self.addCleanup(junk.close)
        for payload in (b"\x00" * 100, b"INVITE\r\n\r\n", b"SIP/2.0 200\r\n\r\n", b"\xff" * 60000,
                        b"REGISTER sip:x SIP/2.0\r\nVia: SIP/2.0/UDP h;branch=z9hG4bK1\r\n" + b"X: y\r\n" * 500 + b"\r\n"):
            junk.sendto(payload, ("127.0.0.1", self.server.port))
        c = SipClient("udp", self.server.port)
        self.addCleanup(c.close)
        self.assertEqual(c.request("OPTIONS", "sip:%s" % DOMAIN).status, 200)


if __name__ == "__main__":
    unittest.main()
