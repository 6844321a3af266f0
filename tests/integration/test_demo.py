"""`make run` starts `sipwarden serve --demo-user`: the printed user and password register at once,
stay the same across restarts, and the stop log counts what was rejected."""
import re
import signal
import unittest

from harness import DOMAIN, Registration, Server, SipClient


class DemoUserTest(unittest.TestCase):
    def test_demo_user_registers_and_survives_restart(self):
        server = Server(users=(), extra_args=["--demo-user"], wss=True)
        self.addCleanup(server.cleanup)
        passwords = []
        for _ in range(2):
            server.start()
            log = server.read_log()
            m = re.findall(r"demo user\s+sip:demo@(\S+)\s+and\s+sip:demo2@\S+\s+password\s+(\S+)", log)
            self.assertTrue(m, log)
            domain, password = m[-1]
            self.assertEqual(domain, DOMAIN)
            passwords.append(password)
            c = SipClient("udp", server.port)
            self.addCleanup(c.close)
            r = Registration(c, "demo", password).register(600)
            self.assertEqual(r.status, 200, r.raw)
            self.assertEqual(Registration(c, "demo", password + "x").register(600).status, 401)
            # The second demo user (the other end of a first call) has the same password.
            self.assertEqual(Registration(c, "demo2", password).register(600).status, 200)
            # The web phone's address is printed, on the WSS listener's port.
            self.assertIn("web phone   https://127.0.0.1:%d/" % server.wss_port, log)
            self.assertEqual(server.stop(signal.SIGTERM), 0, server.read_log())
        self.assertEqual(passwords[0], passwords[1])
        self.assertGreaterEqual(len(passwords[0]), 12)
        # The password is derived, never stored.
        import os
        blob = b""
        for folder, _, names in os.walk(server.data_dir):
            for name in names:
                with open(os.path.join(folder, name), "rb") as f:
                    blob += f.read()
        self.assertNotIn(passwords[0].encode(), blob)
        # Every rejection is counted: the 401s above show up in the stop summary.
        stops = re.findall(r"stopped: (\d+) requests, (\d+) invalid, (\d+) registrations, (\d+) rejections, "
                           r"(\d+) auth failures", server.read_log())
        self.assertEqual(len(stops), 2)
        requests, invalid, registrations, rejections, failures = map(int, stops[-1])
        self.assertGreaterEqual(registrations, 1)
        self.assertGreaterEqual(rejections, 3)  # challenge, wrong password, its challenge
        self.assertGreaterEqual(failures, 1)


class LiveChangesTest(unittest.TestCase):
    def test_user_added_while_running_and_sighup(self):
        server = Server('[log]\nlevel = "info"\n', users=())
        self.addCleanup(server.cleanup)
        server.start()
        c = SipClient("udp", server.port)
        self.addCleanup(c.close)
        self.assertEqual(Registration(c, "carol", "pw-c").register(600).status, 401)
        server.cli("user", "add", "carol@%s" % DOMAIN, "--password", "pw-c", check=True)
        # The server notices the CLI's change within a second or two.
        import time
        deadline = time.time() + 10
        status = None
        while time.time() < deadline:
            status = Registration(c, "carol", "pw-c").register(600).status
            if status == 200:
                break
            time.sleep(0.3)
        self.assertEqual(status, 200, server.read_log())
        # SIGHUP reloads the log level from the file and the users; the server keeps serving.
        with open(server.config_path) as f:
            text = f.read()
        with open(server.config_path, "w") as f:
            f.write(text.replace('level = "info"', 'level = "debug"'))
        server.proc.send_signal(signal.SIGHUP)
        deadline = time.time() + 10
        while time.time() < deadline and "log level debug" not in server.read_log():
            time.sleep(0.1)
        self.assertIn("SIGHUP: reloading", server.read_log())
        self.assertIn("log level debug", server.read_log())
        self.assertEqual(c.request("OPTIONS", "sip:%s" % DOMAIN).status, 200)
        self.assertEqual(server.stop(), 0, server.read_log())


if __name__ == "__main__":
    unittest.main()
