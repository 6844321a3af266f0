"""The command line: users, registrations, check-config, and clear errors with non-zero exits."""
import json
import os
import subprocess
import tempfile
import unittest

from harness import BIN


def run(*args, input=None):
    return subprocess.run([BIN] + list(args), capture_output=True, text=True, input=input, timeout=60)


class CliTest(unittest.TestCase):
    def setUp(self):
        self.tmp = tempfile.TemporaryDirectory(prefix="sipwarden-cli-")
        self.addCleanup(self.tmp.cleanup)
        self.data = os.path.join(self.tmp.name, "data")

    def write(self, name, text):
        path = os.path.join(self.tmp.name, name)
        with open(path, "w") as f:
            f.write(text)
        return path

    def test_user_lifecycle(self):
        r = run("user", "add", "alice@example.com", "--password-stdin", "--data-dir", self.data, "-d", "example.com",
                input="s3cret\n")
        self.assertEqual(r.returncode, 0, r.stderr)
        r = run("user", "add", "alice@example.com", "--password", "x", "--data-dir", self.data, "-d", "example.com")
        self.assertEqual(r.returncode, 1)
        self.assertIn("exists already", r.stderr)
        r = run("user", "list", "--json", "--data-dir", self.data)
        users = json.loads(r.stdout)
        self.assertEqual([(u["user"], u["domain"], u["realm"]) for u in users], [("alice", "example.com", "example.com")])
        self.assertNotIn("s3cret", r.stdout)
        r = run("user", "passwd", "alice@example.com", "--password-stdin", "--data-dir", self.data, input="n3w\n")
        self.assertEqual(r.returncode, 0, r.stderr)
        r = run("user", "remove", "alice@example.com", "--data-dir", self.data)
        self.assertEqual(r.returncode, 0, r.stderr)
        r = run("user", "remove", "alice@example.com", "--data-dir", self.data)
        self.assertEqual(r.returncode, 1)
        self.assertIn("no user", r.stderr)
        self.assertEqual(json.loads(run("user", "list", "--json", "--data-dir", self.data).stdout), [])

    def test_user_import(self):
        path = self.write("users.txt", "# provisioning\nu1@example.com pw-1\n\nu2@example.com  pw 2 with spaces\n")
        r = run("user", "import", path, "--data-dir", self.data, "-d", "example.com")
        self.assertEqual(r.returncode, 0, r.stderr)
        self.assertIn("imported 2 user(s)", r.stdout)
        r = run("user", "import", path, "--data-dir", self.data, "-d", "example.com")
        self.assertIn("imported 0 user(s); 2 existed already", r.stdout)
        users = json.loads(run("user", "list", "--json", "--data-dir", self.data).stdout)
        self.assertEqual(sorted(u["user"] for u in users), ["u1", "u2"])
        bad = self.write("bad.txt", "u3@example.com pw\nno-password@example.com\n")
        r = run("user", "import", bad, "--data-dir", self.data)
        self.assertEqual(r.returncode, 2)
        self.assertIn("bad.txt:2", r.stderr)
        self.assertEqual(len(json.loads(run("user", "list", "--json", "--data-dir", self.data).stdout)), 2)

    def test_password_is_never_stored(self):
        run("user", "add", "bob@example.com", "--password", "a-very-distinct-password", "--data-dir", self.data,
            "-d", "example.com")
        blob = b""
        for name in os.listdir(self.data):
            with open(os.path.join(self.data, name), "rb") as f:
                blob += f.read()
        self.assertNotIn(b"a-very-distinct-password", blob)
        # The MD5 HA1 of RFC 2617 is there instead.
        import hashlib
        self.assertIn(hashlib.md5(b"bob:example.com:a-very-distinct-password").hexdigest().encode(), blob)

    def test_user_errors(self):
        r = run("user", "add", "not-an-address", "--password", "x", "--data-dir", self.data)
        self.assertEqual(r.returncode, 2)
        self.assertIn("not an address", r.stderr)
        r = run("user", "add", "carol@example.com", "--data-dir", self.data)
        self.assertEqual(r.returncode, 2)
        self.assertIn("--password-stdin", r.stderr)
        r = run("user", "add", "carol@example.com", "--password-stdin", "--data-dir", self.data, input="\n")
        self.assertEqual(r.returncode, 2)
        self.assertIn("empty", r.stderr)

    def test_registrations_empty(self):
        r = run("registrations", "--json", "--data-dir", self.data)
        self.assertEqual(r.returncode, 0, r.stderr)
        self.assertEqual(json.loads(r.stdout), [])

    def test_check_config_ok(self):
        path = self.write("ok.toml", 'data_dir = "/tmp/x"\nlisten = ["udp:127.0.0.1:5070", "tcp:[::1]:5070"]\n'
                                     '[[domain]]\nname = "Example.COM"\nrealm = "Example realm"\n'
                                     '[registrar]\nmin_expires = 30\n')
        r = run("check-config", path)
        self.assertEqual(r.returncode, 0, r.stderr)
        self.assertIn("udp:127.0.0.1:5070", r.stdout)
        self.assertIn("tcp:[::1]:5070", r.stdout)
        self.assertIn("example.com (realm \"Example realm\")", r.stdout)

    def check_bad(self, text, *needles):
        path = self.write("bad.toml", text)
        r = run("check-config", path)
        self.assertEqual(r.returncode, 2, r.stdout + r.stderr)
        for n in needles:
            self.assertIn(n, r.stderr)
        return r

    def test_check_config_errors_name_the_key(self):
        self.check_bad("[registrar]\nmin_expires = -5\n", "registrar.min_expires = -5", "expected an integer from 1")
        self.check_bad('listen = ["udp:127.0.0.1:99999"]\n', "listen[0]", "99999", "0 to 65535")
        self.check_bad('listen = ["sctp:127.0.0.1:5060"]\n', "unknown transport", "sctp")
        self.check_bad("[registrar]\nmin_expire = 5\n", "registrar.min_expire", "unknown key", "min_expires")
        self.check_bad('[log]\nlevel = "loud"\n', "log.level", "loud", "expected one of")
        self.check_bad("workers = \"two\"\n", "workers", "expected an integer")
        self.check_bad("[registrar]\nmin_expires = 100\nmax_expires = 50\n", "min_expires", "max_expires")
        self.check_bad("this is not toml\n", "bad.toml:1")
        self.check_bad('[auth]\nalgorithms = ["SHA-1"]\n', "auth.algorithms[0]", "SHA-256")
        self.check_bad("[transport]\nudp_mtu = 500\n", "transport.udp_mtu", "500", "576-65535")
        self.check_bad('[store]\nsynchronous = "off"\n', "store.synchronous", "off", "expected one of", "normal")
        self.check_bad("[store]\nsync = \"full\"\n", "store.sync", "unknown key", "synchronous")

    def test_serve_rejects_bad_flags(self):
        r = run("serve", "--listen", "udp:nowhere:5060", "--data-dir", self.data)
        self.assertEqual(r.returncode, 2)
        self.assertIn("--listen", r.stderr)
        self.assertIn("nowhere", r.stderr)
        r = run("serve", "--log-level", "chatty", "--data-dir", self.data)
        self.assertEqual(r.returncode, 2)
        self.assertIn("--log-level", r.stderr)
        r = run("frobnicate")
        self.assertNotEqual(r.returncode, 0)

    def test_serve_reports_a_busy_port(self):
        import socket
        s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
        self.addCleanup(s.close)
        r = run("serve", "--listen", "udp:127.0.0.1:%d" % port, "--data-dir", self.data, "--workers", "1")
        self.assertEqual(r.returncode, 1)
        self.assertIn("listener UDP 127.0.0.1:%d" % port, r.stderr)


if __name__ == "__main__":
    unittest.main()
