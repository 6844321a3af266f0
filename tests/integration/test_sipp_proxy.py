"""SIPp (Debian's sip-tester) as both user agents of the stateful proxy, over UDP and over TCP:
the seed document's pager model (MESSAGE, steps 1-4) and session model (INVITE / 100 / 180 / 200
/ ACK / BYE, steps 1-23, hung up by either side), each user registered with an MD5 digest first.

The checks on what the proxy forwards live in the scenarios (tests/integration/sipp/proxy_*.xml)
as SIPp regexp actions: Via stacking and removal (ports compared with the proxy's and the other
user agent's), Max-Forwards 70 -> 69, the Request-URI rewritten to the registered contact, the
proxy's credentials removed, double Record-Route with flow tokens, To tags, CSeq, no Route left
on the ACK and BYE, and no forwarded 100. A failed check makes that SIPp exit non-zero.

How bob is built: the proxy reaches bob's registration over TCP on the very connection the
REGISTER came on (the registered flow), so the process that registers bob must also take his
calls. proxy_callee.xml registers and waits; requests with a new Call-ID go to its out-of-call
scenario (-oocsf proxy_callee_ooc.xml), which checks and answers them, then tells the main
scenario through a global variable whether every check passed (an out-of-call call does not count
in SIPp's exit code). Both user agents unregister at the end; the test checks that too.

SIPp answers a challenge with MD5 only, so the server offers MD5 alone (`[auth] algorithms`).
"""
import json
import os
import shutil
import subprocess
import tempfile
import time
import unittest

from harness import DOMAIN, Server, free_port, sipp_available

HERE = os.path.dirname(os.path.abspath(__file__))
SCENARIOS = os.path.join(HERE, "sipp")
MD5_ONLY = '[auth]\nalgorithms = ["MD5"]\n'
SIPP_TIMEOUT = 30  # seconds, each SIPp run (-timeout); the callee gives up waiting after 20 s


def read(path):
    if not os.path.exists(path):
        return ""
    with open(path, errors="replace") as f:
        return f.read()


@unittest.skipUnless(sipp_available(), "sipp (Debian package sip-tester) is not installed")
class SippProxyTests:
    transport = None   # SIPp -t value
    rr_params = None   # what follows host:port in the proxy's Record-Route URIs

    def setUp(self):
        self.server = Server(MD5_ONLY)
        self.addCleanup(self.server.cleanup)
        self.server.start()
        self.dir = tempfile.mkdtemp(prefix="sipp-proxy-")
        self.addCleanup(shutil.rmtree, self.dir, True)
        self.caller_port = free_port()
        self.callee_port = free_port()
        while self.callee_port == self.caller_port:
            self.callee_port = free_port()

    def tearDown(self):
        rc = self.server.stop()
        self.assertEqual(rc, 0, "server exited with %s:\n%s" % (rc, self.server.read_log()))

    # ---- helpers --------------------------------------------------------------------------

    def registrations(self):
        return json.loads(self.server.cli("registrations", "--json", check=True).stdout)

    def bindings_of(self, user):
        return [b for b in self.registrations() if b["aor"] == "%s@%s" % (user, DOMAIN)]

    def sipp_cmd(self, name, scenario, port, fields, sets):
        inf = os.path.join(self.dir, name + ".csv")
        with open(inf, "w") as f:
            f.write("SEQUENTIAL\n%s\n" % ";".join(fields))
        cmd = ["sipp", "127.0.0.1:%d" % self.server.port, "-sf", os.path.join(SCENARIOS, scenario),
               "-inf", inf, "-t", self.transport, "-i", "127.0.0.1", "-p", str(port), "-m", "1",
               "-timeout", "%ds" % SIPP_TIMEOUT, "-timeout_error", "-nd", "-nostdin",
               "-trace_err", "-error_file", os.path.join(self.dir, name + ".err"),
               "-trace_msg", "-message_file", os.path.join(self.dir, name + ".msg")]
        for key, value in sets.items():
            cmd += ["-set", key, value]
        return cmd

    def report(self, name, proc_output=""):
        return "--- %s (SIPp output, errors, messages) ---\n%s\n%s\n%s" % (
            name, proc_output[-3000:], read(os.path.join(self.dir, name + ".err"))[-6000:],
            read(os.path.join(self.dir, name + ".msg"))[-8000:])

    def start_callee(self, hangup="caller"):
        """bob: registers, then answers what the proxy forwards (checked by proxy_callee_ooc.xml)."""
        cmd = self.sipp_cmd("callee", "proxy_callee.xml", self.callee_port, ["bob", "secret-b", DOMAIN],
                            {"proxy_port": str(self.server.port), "caller_port": str(self.caller_port),
                             "rr_params": self.rr_params, "hangup": hangup})
        cmd[cmd.index("-sf") + 2:cmd.index("-sf") + 2] = ["-oocsf", os.path.join(SCENARIOS, "proxy_callee_ooc.xml")]
        proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
                                text=True, cwd=self.dir)

        def stop():
            if proc.poll() is None:
                proc.kill()
            proc.communicate()
        self.addCleanup(stop)
        deadline = time.time() + 10
        while time.time() < deadline:
            if self.bindings_of("bob"):
                return proc
            if proc.poll() is not None:
                break
            time.sleep(0.1)
        out = proc.communicate(timeout=5)[0] if proc.poll() is not None else ""
        self.fail("bob (SIPp) did not register:\n" + self.report("callee", out))

    def run_caller(self, scenario, sets):
        cmd = self.sipp_cmd("caller", scenario, self.caller_port, ["alice", "secret-a", DOMAIN, "bob"], sets)
        try:
            r = subprocess.run(cmd, capture_output=True, text=True, timeout=SIPP_TIMEOUT + 15, cwd=self.dir)
        except subprocess.TimeoutExpired as e:
            self.fail("alice (SIPp) did not finish:\n" + self.report("caller", str(e.stdout)))
        return r.returncode, r.stdout + r.stderr

    def finish(self, callee, caller_rc, caller_out):
        try:
            callee_out = callee.communicate(timeout=SIPP_TIMEOUT + 15)[0]
        except subprocess.TimeoutExpired:
            callee.kill()
            callee_out = callee.communicate()[0]
        self.assertEqual(caller_rc, 0, "alice's scenario failed:\n" + self.report("caller", caller_out))
        self.assertEqual(callee.returncode, 0, "bob's scenario failed:\n" + self.report("callee", callee_out))
        # Both unregistered (Expires: 0) at the end of their scenarios.
        self.assertEqual(self.registrations(), [])
        return read(os.path.join(self.dir, "callee.err")), read(os.path.join(self.dir, "caller.err"))

    # ---- the flows --------------------------------------------------------------------------

    def test_message_pager_model(self):
        callee = self.start_callee()
        rc, out = self.run_caller("proxy_caller_message.xml", {})
        callee_log, caller_log = self.finish(callee, rc, out)
        # The scenarios checked the headers; that the exchange really went through them:
        self.assertIn("callee got MESSAGE", callee_log)
        self.assertIn("caller got 200 for MESSAGE", caller_log)

    def check_session(self, hangup):
        callee = self.start_callee(hangup)
        rc, out = self.run_caller("proxy_caller_invite.xml",
                                  {"proxy_port": str(self.server.port), "callee_port": str(self.callee_port),
                                   "rr_params": self.rr_params, "hangup": hangup})
        callee_log, caller_log = self.finish(callee, rc, out)
        for step in ("callee got INVITE", "callee got ACK"):
            self.assertIn(step, callee_log)
        for step in ("caller got 407", "caller got 100", "caller got 180", "caller got 200:"):
            self.assertIn(step, caller_log)
        self.assertNotIn("caller got a second 100", caller_log)
        if hangup == "caller":
            self.assertIn("callee got BYE", callee_log)
            self.assertIn("caller got 200 for BYE", caller_log)
        else:
            self.assertIn("caller got BYE", caller_log)
            self.assertIn("callee got 200 for its BYE", callee_log)

    def test_invite_session_model_caller_hangs_up(self):
        self.check_session("caller")

    def test_invite_session_model_callee_hangs_up(self):
        self.check_session("callee")


class SippProxyUdpTest(SippProxyTests, unittest.TestCase):
    transport = "u1"
    rr_params = ";lr"


class SippProxyTcpTest(SippProxyTests, unittest.TestCase):
    transport = "t1"
    rr_params = ";transport=tcp;lr"


if __name__ == "__main__":
    unittest.main()
