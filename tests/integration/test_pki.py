"""`sipwarden pki` and `sipwarden cert status`, judged by the real openssl command line: the chain
verifies, the extensions are the ones RFC 5280 asks for, client certificates verify for clients,
revocation and expiry make verification fail, and cert status reports expiry with its exit code."""
import json
import os
import shutil
import stat
import subprocess
import tempfile
import unittest

from harness import BIN

OPENSSL = shutil.which("openssl")


def run(*args):
    return subprocess.run([BIN] + list(args), capture_output=True, text=True, timeout=120)


def openssl(*args):
    return subprocess.run([OPENSSL] + list(args), capture_output=True, text=True, timeout=60)


@unittest.skipUnless(OPENSSL, "the openssl command is needed")
class PkiTest(unittest.TestCase):
    def setUp(self):
        self.tmp = tempfile.TemporaryDirectory(prefix="sipwarden-pki-")
        self.addCleanup(self.tmp.cleanup)
        self.ca = os.path.join(self.tmp.name, "ca")
        r = run("pki", "init", "--domain", "sip.example.test", "--domain", "example.test", "--domain", "127.0.0.1",
                "--out", self.ca)
        self.assertEqual(r.returncode, 0, r.stderr)
        self.assertIn("server-chain.crt", r.stdout)

    def path(self, name):
        return os.path.join(self.ca, name)

    def verify(self, cert, *extra):
        return openssl("verify", *extra, "-CAfile", self.path("root-ca.crt"), "-untrusted",
                       self.path("intermediate-ca.crt"), cert)

    def extensions(self, cert):
        r = openssl("x509", "-in", cert, "-noout", "-ext", "basicConstraints,keyUsage,extendedKeyUsage,subjectAltName")
        self.assertEqual(r.returncode, 0, r.stderr)
        return r.stdout

    def test_chain_verifies_with_openssl(self):
        r = self.verify(self.path("server.crt"))
        self.assertEqual(r.returncode, 0, r.stdout + r.stderr)
        self.assertIn("server.crt: OK", r.stdout)
        r = self.verify(self.path("server.crt"), "-purpose", "sslserver", "-verify_hostname", "example.test")
        self.assertEqual(r.returncode, 0, r.stdout + r.stderr)
        r = self.verify(self.path("server.crt"), "-verify_hostname", "other.example.net")
        self.assertNotEqual(r.returncode, 0)
        self.assertIn("hostname mismatch", r.stdout + r.stderr)
        # server-chain.crt is leaf + intermediate; ca-chain.crt is intermediate + root.
        r = openssl("verify", "-CAfile", self.path("ca-chain.crt"), self.path("server.crt"))
        self.assertEqual(r.returncode, 0, r.stdout + r.stderr)
        with open(self.path("server-chain.crt")) as f:
            chain = f.read()
        with open(self.path("server.crt")) as f:
            leaf = f.read()
        with open(self.path("intermediate-ca.crt")) as f:
            intermediate = f.read()
        self.assertEqual(chain, leaf + intermediate)
        # The key belongs to the certificate.
        pub_cert = openssl("x509", "-in", self.path("server.crt"), "-noout", "-pubkey").stdout
        pub_key = openssl("pkey", "-in", self.path("server.key"), "-pubout").stdout
        self.assertTrue(pub_cert.startswith("-----BEGIN PUBLIC KEY-----"))
        self.assertEqual(pub_cert, pub_key)

    def test_extensions(self):
        root = self.extensions(self.path("root-ca.crt"))
        self.assertRegex(root, r"Basic Constraints: critical\s+CA:TRUE\n")
        self.assertRegex(root, r"Key Usage: critical\s+Certificate Sign, CRL Sign")
        intermediate = self.extensions(self.path("intermediate-ca.crt"))
        self.assertRegex(intermediate, r"Basic Constraints: critical\s+CA:TRUE, pathlen:0")
        self.assertRegex(intermediate, r"Key Usage: critical\s+Certificate Sign, CRL Sign")
        server = self.extensions(self.path("server.crt"))
        self.assertRegex(server, r"Basic Constraints: critical\s+CA:FALSE")
        self.assertRegex(server, r"Key Usage: critical\s+Digital Signature\n")
        self.assertRegex(server, r"Extended Key Usage: \s*TLS Web Server Authentication, TLS Web Client Authentication")
        self.assertRegex(server, r"Subject Alternative Name: \s*DNS:sip.example.test, DNS:example.test, IP Address:127.0.0.1")
        text = openssl("x509", "-in", self.path("server.crt"), "-noout", "-text").stdout
        self.assertIn("Subject: CN = sip.example.test", text)
        self.assertIn("ecdsa-with-SHA256", text)
        self.assertIn("NIST CURVE: P-256", text)
        self.assertIn("X509v3 Authority Key Identifier", text)
        self.assertIn("X509v3 Subject Key Identifier", text)
        # Serial: 128 random bits, positive (RFC 5280 §4.1.2.2): at most 17 octets with a sign byte.
        serial = openssl("x509", "-in", self.path("server.crt"), "-noout", "-serial").stdout.strip()
        self.assertRegex(serial, r"^serial=[0-9A-F]{2,34}$")

    def test_fingerprints_printed_match_openssl(self):
        sha256 = openssl("x509", "-in", self.path("server.crt"), "-noout", "-fingerprint", "-sha256").stdout.strip()
        sha1 = openssl("x509", "-in", self.path("server.crt"), "-noout", "-fingerprint", "-sha1").stdout.strip()
        serial = openssl("x509", "-in", self.path("server.crt"), "-noout", "-serial").stdout.strip()
        config = os.path.join(self.tmp.name, "s.toml")
        with open(config, "w") as f:
            f.write('data_dir = "data"\n[[domain]]\nname = "sip.example.test"\n'
                    '[tls]\ncertificate = "ca/server-chain.crt"\nprivate_key = "ca/server.key"\n')
        r = run("cert", "status", "--config", config, "--json")
        self.assertEqual(r.returncode, 0, r.stdout + r.stderr)
        cert = json.loads(r.stdout)["certificates"][0]
        self.assertEqual("sha256 Fingerprint=" + cert["sha256"], sha256)
        self.assertEqual("sha1 Fingerprint=" + cert["sha1"], sha1)
        self.assertEqual("serial=" + cert["serial"], serial)

    def test_key_modes(self):
        for key in ("root-ca.key", "intermediate-ca.key", "server.key"):
            self.assertEqual(stat.S_IMODE(os.stat(self.path(key)).st_mode), 0o600, key)
        for cert in ("root-ca.crt", "intermediate-ca.crt", "server.crt", "server-chain.crt", "ca-chain.crt"):
            self.assertEqual(stat.S_IMODE(os.stat(self.path(cert)).st_mode), 0o644, cert)

    def test_refuses_to_overwrite(self):
        with open(self.path("root-ca.crt")) as f:
            before = f.read()
        r = run("pki", "init", "--domain", "sip.example.test", "--out", self.ca)
        self.assertNotEqual(r.returncode, 0)
        self.assertIn("refusing to overwrite", r.stderr)
        self.assertIn("--force", r.stderr)
        with open(self.path("root-ca.crt")) as f:
            self.assertEqual(f.read(), before)
        r = run("pki", "init", "--domain", "sip.example.test", "--out", self.ca, "--force")
        self.assertEqual(r.returncode, 0, r.stderr)
        with open(self.path("root-ca.crt")) as f:
            self.assertNotEqual(f.read(), before)
        self.assertEqual(self.verify(self.path("server.crt")).returncode, 0)

    def test_bad_usage(self):
        r = run("pki", "init", "--domain", "bad name", "--out", os.path.join(self.tmp.name, "x"))
        self.assertNotEqual(r.returncode, 0)
        self.assertIn("neither a DNS name", r.stderr)
        r = run("pki", "init", "--domain", "a.example", "--out", os.path.join(self.tmp.name, "x"),
                "--not-before", "yesterday")
        self.assertEqual(r.returncode, 2)
        self.assertIn("--not-before", r.stderr)
        r = run("pki", "init", "--out", os.path.join(self.tmp.name, "x"))
        self.assertEqual(r.returncode, 2)
        self.assertFalse(os.path.exists(os.path.join(self.tmp.name, "x")))

    def test_client_certificate(self):
        out = os.path.join(self.tmp.name, "clients")
        r = run("pki", "client", "alice", "--ca-dir", self.ca, "--out", out, "--email", "alice@example.test",
                "--sip-uri", "sip:alice@example.test")
        self.assertEqual(r.returncode, 0, r.stderr)
        cert = os.path.join(out, "alice.crt")
        self.assertEqual(stat.S_IMODE(os.stat(os.path.join(out, "alice.key")).st_mode), 0o600)
        r = self.verify(cert, "-purpose", "sslclient")
        self.assertEqual(r.returncode, 0, r.stdout + r.stderr)
        r = self.verify(cert, "-purpose", "sslserver")
        self.assertNotEqual(r.returncode, 0)
        self.assertIn("unsuitable certificate purpose", r.stdout + r.stderr)
        ext = self.extensions(cert)
        self.assertRegex(ext, r"Extended Key Usage: \s*TLS Web Client Authentication\n")
        self.assertIn("email:alice@example.test", ext)
        self.assertIn("URI:sip:alice@example.test", ext)
        subject = openssl("x509", "-in", cert, "-noout", "-subject").stdout
        self.assertIn("CN = alice", subject)
        # The -chain file lets a client send its intermediate along.
        r = openssl("verify", "-purpose", "sslclient", "-CAfile", self.path("root-ca.crt"), "-untrusted",
                    os.path.join(out, "alice-chain.crt"), os.path.join(out, "alice-chain.crt"))
        self.assertEqual(r.returncode, 0, r.stdout + r.stderr)

    def test_revoked_certificate_fails_crl_check(self):
        self.assertEqual(run("pki", "client", "bob", "--ca-dir", self.ca).returncode, 0)
        crl = self.path("intermediate-ca.crl")
        r = self.verify(self.path("bob.crt"), "-crl_check", "-CRLfile", crl)
        self.assertEqual(r.returncode, 0, r.stdout + r.stderr)  # the initial CRL is empty and valid
        r = run("pki", "revoke", "bob", "--ca-dir", self.ca)
        self.assertEqual(r.returncode, 0, r.stderr)
        serial = openssl("x509", "-in", self.path("bob.crt"), "-noout", "-serial").stdout.strip().split("=")[1]
        self.assertIn("revoked serial " + serial, r.stdout)
        r = self.verify(self.path("bob.crt"), "-crl_check", "-CRLfile", crl)
        self.assertNotEqual(r.returncode, 0)
        self.assertIn("certificate revoked", r.stdout + r.stderr)
        # Others are not affected; the CRL is a v2 CRL from the intermediate with a next update.
        r = self.verify(self.path("server.crt"), "-crl_check", "-CRLfile", crl)
        self.assertEqual(r.returncode, 0, r.stdout + r.stderr)
        text = openssl("crl", "-in", crl, "-noout", "-text").stdout
        self.assertIn("Version 2", text)
        self.assertIn("CN = sip.example.test Intermediate CA", text)
        self.assertIn("Next Update:", text)
        self.assertIn("X509v3 CRL Number", text)
        self.assertIn("Serial Number: " + serial, text)
        r = openssl("crl", "-in", crl, "-noout", "-CAfile", self.path("ca-chain.crt"))
        self.assertIn("verify OK", r.stdout + r.stderr)
        # Revoking again says so; a certificate from another CA is refused.
        r = run("pki", "revoke", "bob", "--ca-dir", self.ca)
        self.assertIn("already revoked", r.stdout)
        other = os.path.join(self.tmp.name, "other")
        run("pki", "init", "--domain", "other.example", "--out", other)
        r = run("pki", "revoke", os.path.join(other, "server.crt"), "--ca-dir", self.ca)
        self.assertEqual(r.returncode, 1)
        self.assertIn("not issued by", r.stderr)

    def test_expired_and_not_yet_valid_certificates_fail_verification(self):
        self.assertEqual(run("pki", "client", "late", "--ca-dir", self.ca, "--days", "-1").returncode, 0)
        r = self.verify(self.path("late.crt"), "-purpose", "sslclient")
        self.assertNotEqual(r.returncode, 0)
        self.assertIn("certificate has expired", r.stdout + r.stderr)
        self.assertEqual(run("pki", "client", "early", "--ca-dir", self.ca, "--not-before", "2099-01-01",
                             "--not-after", "2099-06-01").returncode, 1)  # outlives the intermediate: refused
        self.assertEqual(run("pki", "client", "early", "--ca-dir", self.ca, "--not-before", "2030-01-01",
                             "--not-after", "2030-06-01").returncode, 0)
        r = self.verify(self.path("early.crt"), "-purpose", "sslclient")
        self.assertNotEqual(r.returncode, 0)
        self.assertIn("certificate is not yet valid", r.stdout + r.stderr)


class CertStatusTest(unittest.TestCase):
    def setUp(self):
        self.tmp = tempfile.TemporaryDirectory(prefix="sipwarden-cert-")
        self.addCleanup(self.tmp.cleanup)
        self.data = os.path.join(self.tmp.name, "data")

    def pki(self, name, *args):
        out = os.path.join(self.tmp.name, name)
        r = run("pki", "init", "--domain", "sip.example.test", "--out", out, *args)
        self.assertEqual(r.returncode, 0, r.stderr)
        return out

    def config(self, tls):
        path = os.path.join(self.tmp.name, "sipwarden.toml")
        with open(path, "w") as f:
            f.write('data_dir = "%s"\n[[domain]]\nname = "sip.example.test"\n[tls]\n%s' % (self.data, tls))
        return path

    def test_expiring_within_the_window(self):
        pki = self.pki("soon", "--days", "10")
        config = self.config('certificate = "soon/server-chain.crt"\nprivate_key = "soon/server.key"\n')
        r = run("cert", "status", "--config", config, "--json")
        self.assertEqual(r.returncode, 1, r.stdout + r.stderr)
        status = json.loads(r.stdout)
        self.assertEqual(len(status["certificates"]), 1)
        cert = status["certificates"][0]
        self.assertEqual(cert["status"], "expires-soon")
        self.assertEqual(cert["days"], 10)
        self.assertIn("expires in 10 days", cert["message"])
        self.assertEqual(cert["certificate_file"], os.path.join(pki, "server-chain.crt"))
        self.assertEqual(cert["serves"], ["sip.example.test"])
        self.assertTrue(cert["default"])
        self.assertFalse(status["will_generate_self_signed"])
        self.assertEqual(status["expiry_warning_days"], 30)
        r = run("cert", "status", "--config", config)
        self.assertEqual(r.returncode, 1)
        self.assertIn("status: expires-soon", r.stdout)
        self.assertIn("SHA-1 thumbprint: ", r.stdout)

    def test_expiring_certificate_kept_in_the_data_dir(self):
        # The certificate kept in data_dir/tls (where the server keeps the one it generated) is
        # reported too, when nothing else is configured.
        pki = self.pki("soon", "--days", "10")
        os.makedirs(os.path.join(self.data, "tls"))
        shutil.copy(os.path.join(pki, "server.crt"), os.path.join(self.data, "tls", "self-signed.crt"))
        shutil.copy(os.path.join(pki, "server.key"), os.path.join(self.data, "tls", "self-signed.key"))
        r = run("cert", "status", "--data-dir", self.data, "--domain", "sip.example.test", "--json")
        self.assertEqual(r.returncode, 1, r.stdout + r.stderr)
        cert = json.loads(r.stdout)["certificates"][0]
        self.assertEqual(cert["status"], "expires-soon")
        self.assertIn("expires in 10 days", cert["message"])

    def test_valid_certificate(self):
        self.pki("good", "--days", "200")
        config = self.config('certificates_dir = "good"\n')
        r = run("cert", "status", "--config", config)
        self.assertEqual(r.returncode, 0, r.stdout + r.stderr)
        self.assertIn("status: ok", r.stdout)
        self.assertIn("good/server-chain.crt", r.stdout)
        r = run("cert", "status", "--config", config, "--json")
        self.assertEqual(r.returncode, 0)
        self.assertEqual(json.loads(r.stdout)["certificates"][0]["status"], "ok")

    def test_a_shorter_warning_window(self):
        self.pki("soon", "--days", "10")
        config = self.config('certificates_dir = "soon"\nexpiry_warning_days = 7\n')
        r = run("cert", "status", "--config", config, "--json")
        self.assertEqual(r.returncode, 0, r.stdout + r.stderr)
        self.assertEqual(json.loads(r.stdout)["certificates"][0]["status"], "ok")

    def test_expired_configured_certificate(self):
        self.pki("old", "--days", "-3")
        config = self.config('certificate = "old/server-chain.crt"\nprivate_key = "old/server.key"\n')
        r = run("cert", "status", "--config", config)
        self.assertEqual(r.returncode, 1, r.stdout + r.stderr)
        self.assertIn("expired on", r.stdout)
        self.assertIn("the server will generate a self-signed certificate at start", r.stdout)

    def test_nothing_configured(self):
        r = run("cert", "status", "--data-dir", self.data, "--domain", "sip.example.test", "--json")
        self.assertEqual(r.returncode, 0, r.stdout + r.stderr)
        status = json.loads(r.stdout)
        self.assertEqual(status["certificates"], [])
        self.assertTrue(status["will_generate_self_signed"])
        self.assertFalse(os.path.exists(os.path.join(self.data, "tls")))  # status does not generate

    def test_key_that_does_not_match_is_a_configuration_error(self):
        self.pki("a")
        self.pki("b")
        config = self.config('certificate = "a/server-chain.crt"\nprivate_key = "b/server.key"\n')
        r = run("cert", "status", "--config", config)
        self.assertEqual(r.returncode, 2)
        self.assertIn("does not belong to the certificate", r.stderr)
        self.assertIn("b/server.key", r.stderr)


if __name__ == "__main__":
    unittest.main()
