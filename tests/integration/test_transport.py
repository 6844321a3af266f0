"""Transport limits: idle TCP connections are closed, connections per source address are capped,
and one bad client does not stop the server answering the others."""
import os
import socket
import subprocess
import time
import unittest

from harness import BIN, DOMAIN, Registration, Server, ServerPerClass, SipClient

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


class HalfCloseTest(ServerPerClass, unittest.TestCase):
    """A TCP client that shuts down its sending side once its request is out (`nc -N`, many
    health checks) still gets its answer, also one that waits for the store; the connection closes
    once nothing more is owed."""
    server_config = "[transport]\ntcp_idle_timeout = 30\n"

    def test_an_answer_that_waits_for_the_store_reaches_a_half_closed_client(self):
        c = SipClient("tcp", self.server.port)
        self.addCleanup(c.close)
        reg = Registration(c, "alice", "secret-a", alg="SHA-256")
        r = reg.send(3600, authorize=False)
        self.assertEqual(r.status, 401, r.raw)
        reg.pick(r)
        # The authorized REGISTER is answered only after its binding is committed: the EOF that
        # follows it is read long before.
        headers = ["Contact: %s" % reg.contact, "Expires: 3600", reg.authorization()]
        c.send_raw(c.build("REGISTER", "sip:%s" % DOMAIN, headers, to=reg.aor(), from_=reg.aor()))
        c.sock.shutdown(socket.SHUT_WR)
        r = c.recv_final(5)
        self.assertEqual(r.status, 200, r.raw)
        self.assertIn("alice@", self.server.cli("registrations", check=True).stdout)
        # Nothing more can come from it and nothing is owed to it any more: the server closes it
        # at once, not at the idle timeout.
        self.assertTrue(closed_by_peer(c.sock, 1.5), "half-closed connection still open 1.5 s after its answer")


class OutOfDescriptorsTest(unittest.TestCase):
    """The process runs out of file descriptors while clients connect: accept() fails with EMFILE.
    The listener must not retry in a tight loop (a core at 100%); it tries again shortly, and
    serves new connections once descriptors are free again."""

    def cpu_seconds(self, pid):
        with open("/proc/%d/stat" % pid) as f:
            fields = f.read().rsplit(")", 1)[1].split()
        return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")

    def test_accept_failures_do_not_spin(self):
        server = Server("", users=())
        self.addCleanup(server.cleanup)
        # A hard limit the server cannot raise: about 30 descriptors left for connections.
        server.log = open(server.log_path, "ab")
        server.proc = subprocess.Popen(["prlimit", "--nofile=64:64", BIN, "serve", "--config", server.config_path],
                                       stdout=server.log, stderr=server.log)
        server.wait_ready()
        held = []
        self.addCleanup(lambda: [c.close() for c in held])
        for _ in range(80):  # the kernel completes them all (the backlog); the server cannot take them all
            c = socket.create_connection(("127.0.0.1", server.port), timeout=5)
            held.append(c)
        deadline = time.time() + 5
        while "Too many open files" not in server.read_log() and time.time() < deadline:
            time.sleep(0.1)
        self.assertIn("Too many open files; retrying in 100 ms", server.read_log())
        before = self.cpu_seconds(server.proc.pid)
        time.sleep(2.0)
        used = self.cpu_seconds(server.proc.pid) - before
        self.assertLess(used, 0.5, "the server used %.2f s of CPU in 2 s while out of descriptors" % used)
        # Descriptors come back: a new client is served.
        for c in held:
            c.close()
        held.clear()
        deadline = time.time() + 10
        while True:
            try:
                c = SipClient("tcp", server.port, timeout=2)
                try:
                    if c.request("OPTIONS", "sip:%s" % DOMAIN).status == 200:
                        break
                finally:
                    c.close()
            except (OSError, ConnectionError):
                pass
            self.assertLess(time.time(), deadline, "no TCP client served after the descriptors came back:\n" + server.read_log()[-3000:])
            time.sleep(0.2)
        self.assertEqual(server.stop(), 0, server.read_log())


if __name__ == "__main__":
    unittest.main()
