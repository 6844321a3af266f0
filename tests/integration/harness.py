"""Integration-test harness: starts the real sipwarden binary on loopback with a temporary data
directory, and talks SIP to it over real UDP and TCP sockets.

The SIP client here is a test driver (it builds messages and computes digests with Python's
hashlib, independently of the server's code); real user agents (SIPp, sipsak, baresip) are used
by the tests that name them.
"""
import hashlib
import os
import random
import re
import shutil
import signal
import socket
import subprocess
import tempfile
import time
import uuid

BIN = os.environ.get("SIPWARDEN_BIN", os.path.join(os.path.dirname(__file__), "../../build/asan/sipwarden"))
SHARED = os.environ.get("SIPWARDEN_SHARED_DIR", os.path.join(os.path.dirname(__file__), "../../../shared"))
DOMAIN = "example.test"


_handed_out = set()


def free_port():
    """A port free for both UDP and TCP on 127.0.0.1, below the kernel's ephemeral range
    (32768-60999): a client socket of a test running beside this one (ctest -j2) is never given
    it, also while a restarted server has let it go for a moment. A port is handed out once per
    test process: two calls before the server binds either (Server's own ports, then a test's extra
    listener) never get the same one."""
    rng = random.SystemRandom()
    for _ in range(200):
        port = rng.randrange(20000, 32000)
        if port in _handed_out:
            continue
        t = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        u = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        try:
            t.bind(("127.0.0.1", port))
            u.bind(("127.0.0.1", port))
        except OSError:
            continue
        finally:
            u.close()
            t.close()
        _handed_out.add(port)
        return port
    raise RuntimeError("no free port")


class Server:
    """One sipwarden process. Use as a context manager, or start()/stop()."""

    def __init__(self, config="", data_dir=None, extra_args=(), users=(("alice", "secret-a"), ("bob", "secret-b")),
                 workers=2, tls=False, ws=False, wss=False, shutdown_grace=3):
        self.tmp = tempfile.mkdtemp(prefix="sipwarden-it-")
        self.data_dir = data_dir or os.path.join(self.tmp, "data")
        self.port = free_port()
        self.tls_port = free_port() if tls else None  # a TLS listener too (the config gives [tls])
        self.ws_port = free_port() if ws else None  # WebSocket listeners (WSS: [tls], or the self-signed one)
        self.wss_port = free_port() if wss else None
        self.config_path = os.path.join(self.tmp, "sipwarden.toml")
        with open(self.config_path, "w") as f:
            f.write('data_dir = "%s"\n' % self.data_dir)
            f.write("workers = %d\n" % workers)
            listen = ["udp:127.0.0.1:%d" % self.port, "tcp:127.0.0.1:%d" % self.port]
            if tls:
                listen.append("tls:127.0.0.1:%d" % self.tls_port)
            if ws:
                listen.append("ws:127.0.0.1:%d" % self.ws_port)
            if wss:
                listen.append("wss:127.0.0.1:%d" % self.wss_port)
            f.write("listen = [%s]\n" % ", ".join('"%s"' % l for l in listen))
            f.write('shutdown_grace = %d\n' % shutdown_grace)
            f.write('[[domain]]\nname = "%s"\n' % DOMAIN)
            f.write(config)
        self.extra_args = list(extra_args)
        if os.environ.get("SIPWARDEN_TEST_LOG_LEVEL"):  # e.g. debug, when chasing a failure by hand
            self.extra_args += ["--log-level", os.environ["SIPWARDEN_TEST_LOG_LEVEL"]]
        self.proc = None
        self.log_path = os.path.join(self.tmp, "server.log")
        for user, password in users:
            self.cli("user", "add", "%s@%s" % (user, DOMAIN), "--password", password, check=True)

    def cli(self, *args, check=False, input=None):
        cmd = [BIN] + list(args) + ["--config", self.config_path]
        r = subprocess.run(cmd, capture_output=True, text=True, input=input, timeout=60)
        if check and r.returncode != 0:
            raise AssertionError("%s failed (%d): %s %s" % (cmd, r.returncode, r.stdout, r.stderr))
        return r

    def start(self, wait=True):
        self.log = open(self.log_path, "ab")
        self.proc = subprocess.Popen([BIN, "serve", "--config", self.config_path] + self.extra_args,
                                     stdout=self.log, stderr=self.log)
        if wait:
            self.wait_ready()
        return self

    def wait_ready(self, timeout=30):
        deadline = time.time() + timeout
        while time.time() < deadline:
            if self.proc.poll() is not None:
                raise AssertionError("server exited with %s:\n%s" % (self.proc.returncode, self.read_log()))
            c = SipClient("udp", self.port, timeout=0.3)
            try:
                r = c.request("OPTIONS", "sip:%s" % DOMAIN)
                if r and r.status == 200:
                    return
            except (socket.timeout, ConnectionRefusedError, OSError):
                pass
            finally:
                c.close()
            time.sleep(0.1)
        raise AssertionError("server not ready:\n" + self.read_log())

    def read_log(self):
        with open(self.log_path, "rb") as f:
            return f.read().decode("utf-8", "replace")

    def wait_log(self, text, timeout=5.0):
        """The log once it holds `text` (the server may write the line just after its last send)."""
        deadline = time.time() + timeout
        while True:
            log = self.read_log()
            if text in log or time.time() >= deadline:
                return log
            time.sleep(0.05)

    def stop(self, sig=signal.SIGTERM, timeout=30):
        """Stops the server; returns its exit code (a sanitizer report makes it non-zero)."""
        if self.proc is None:
            return None
        if self.proc.poll() is None:
            self.proc.send_signal(sig)
        try:
            rc = self.proc.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            rc = self.proc.wait()
            raise AssertionError("server did not stop within %d s:\n%s" % (timeout, self.read_log()))
        self.proc = None
        self.log.close()
        return rc

    def cleanup(self):
        if self.proc is not None:
            self.proc.kill()
            self.proc.wait()
            self.log.close()
        shutil.rmtree(self.tmp, ignore_errors=True)

    def __enter__(self):
        return self.start()

    def __exit__(self, *exc):
        try:
            if self.proc is not None and exc[0] is None:
                rc = self.stop()
                if rc != 0:
                    raise AssertionError("server exited with %d:\n%s" % (rc, self.read_log()))
        finally:
            self.cleanup()


class ServerPerClass:
    """unittest.TestCase mixin: one server for the whole class, built from `server_config` and
    `server_users` (the harness's alice and bob when None); stopping it must give exit code 0
    (a sanitizer report makes it non-zero)."""
    server_config = ""
    server_users = None
    server_tls = False
    server_ws = False
    server_wss = False

    @classmethod
    def setUpClass(cls):
        kwargs = {} if cls.server_users is None else {"users": cls.server_users}
        if cls.server_tls:
            kwargs["tls"] = True
        if cls.server_ws:
            kwargs["ws"] = True
        if cls.server_wss:
            kwargs["wss"] = True
        cls.server = Server(cls.server_config, **kwargs)
        cls.server.start()

    @classmethod
    def tearDownClass(cls):
        rc = cls.server.stop()
        log = cls.server.read_log()
        cls.server.cleanup()
        if rc != 0:
            raise AssertionError("server exited with %d:\n%s" % (rc, log))


class Response:
    def __init__(self, raw):
        self.raw = raw
        head, _, self.body = raw.partition("\r\n\r\n")
        lines = head.split("\r\n")
        self.method = self.uri = None
        m = re.match(r"SIP/2\.0 (\d{3}) ?(.*)", lines[0])
        if m:
            self.status = int(m.group(1))
            self.reason = m.group(2)
        else:
            # A request (a proxy delivers them to the test's user agents): status 0.
            r = re.match(r"([A-Za-z]+) (\S+) SIP/2\.0$", lines[0])
            if not r:
                raise AssertionError("not a SIP message: %r" % raw[:200])
            self.method, self.uri = r.group(1), r.group(2)
            self.status, self.reason = 0, ""
        self.headers = []
        for line in lines[1:]:
            if line[:1] in (" ", "\t") and self.headers:
                n, v = self.headers[-1]
                self.headers[-1] = (n, v + " " + line.strip())
                continue
            name, _, value = line.partition(":")
            self.headers.append((name.strip().lower(), value.strip()))

    def all(self, name):
        return [v for n, v in self.headers if n == name.lower()]

    def get(self, name):
        v = self.all(name)
        return v[0] if v else None

    def __repr__(self):
        if self.method:
            return "<%s %s>" % (self.method, self.uri)
        return "<%d %s>" % (self.status, self.reason)


def parse_challenge(value):
    """Digest challenge parameters as a dict (quotes removed)."""
    assert value.startswith("Digest "), value
    params = {}
    for m in re.finditer(r'([\w-]+)=("([^"]*)"|[^,\s]+)', value[7:]):
        params[m.group(1).lower()] = m.group(3) if m.group(3) is not None else m.group(2)
    return params


HASHES = {"MD5": "md5", "SHA-256": "sha256", "SHA-512-256": "sha512_256"}


def h(alg, text):
    return hashlib.new(HASHES[alg], text.encode()).hexdigest()


def digest_response(alg, user, realm, password, method, uri, nonce, nc, cnonce, qop="auth"):
    ha1 = h(alg, "%s:%s:%s" % (user, realm, password))
    ha2 = h(alg, "%s:%s" % (method, uri))
    return h(alg, "%s:%s:%s:%s:%s:%s" % (ha1, nonce, nc, cnonce, qop, ha2))


class SipClient:
    """A SIP test driver over UDP, TCP or TLS from 127.0.0.1. For TLS, `ssl_context` is a Python
    ssl.SSLContext (client certificate and trust anchors set by the test) and `server_name` the SNI
    name. Over "ws"/"wss" it speaks SIP over WebSocket (RFC 7118)."""

    ws = None  # the WebSocket (ws_client.WebSocket) of a ws/wss client
    via_host = None  # "host:port" in Via; WebSocket clients use a random .invalid name (RFC 7118)

    def __init__(self, transport, port, timeout=5.0, host="127.0.0.1", ssl_context=None, server_name=None,
                 origin=None):
        self.transport = transport
        self.server = (host, port)
        self.timeout = timeout
        if transport in ("ws", "wss"):
            import ws_client
            self.ws = ws_client.WebSocket(port, host=host, tls=transport == "wss", ssl_context=ssl_context,
                                          server_name=server_name or "localhost", origin=origin, timeout=timeout)
            self.sock = self.ws.sock
            self.via_host = uuid.uuid4().hex[:12] + ".invalid"
        elif transport == "udp":
            self.sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
            self.sock.bind(("127.0.0.1", 0))
        elif transport == "tls":
            raw = socket.create_connection(self.server, timeout=timeout)
            self.sock = ssl_context.wrap_socket(raw, server_hostname=server_name or "localhost")
        else:
            self.sock = socket.create_connection(self.server, timeout=timeout)
        self.sock.settimeout(timeout)
        self.local_port = self.sock.getsockname()[1]
        self.buf = b""
        self.cseq = 0
        self.call_id = uuid.uuid4().hex
        self.tag = uuid.uuid4().hex[:10]

    def close(self):
        self.sock.close()

    def send_raw(self, data):
        if isinstance(data, str):
            data = data.encode()
        if self.ws is not None:
            self.ws.send_text(data.decode())
        elif self.transport == "udp":
            self.sock.sendto(data, self.server)
        else:
            self.sock.sendall(data)

    def recv(self, timeout=None):
        """The next message (a Response), or raises socket.timeout."""
        if self.ws is not None:
            _, payload = self.ws.recv_message(timeout or self.timeout)
            return Response(payload.decode("utf-8", "replace"))
        self.sock.settimeout(timeout or self.timeout)
        if self.transport == "udp":
            data, _ = self.sock.recvfrom(65536)
            return Response(data.decode("utf-8", "replace"))
        while True:
            end = self.buf.find(b"\r\n\r\n")
            if end >= 0:
                head = self.buf[:end].decode("utf-8", "replace")
                m = re.search(r"(?im)^(?:content-length|l)\s*:\s*(\d+)", head)
                length = int(m.group(1)) if m else 0
                total = end + 4 + length
                if len(self.buf) >= total:
                    msg, self.buf = self.buf[:total], self.buf[total:]
                    return Response(msg.decode("utf-8", "replace"))
            chunk = self.sock.recv(65536)
            if not chunk:
                raise ConnectionError("connection closed by the server")
            self.buf += chunk

    def recv_final(self, timeout=None):
        while True:
            r = self.recv(timeout)
            if r.status >= 200:
                return r

    def build(self, method, uri, headers=(), body="", cseq=None, branch=None, to=None, from_=None, call_id=None,
              via_extra=";rport"):
        if cseq is None:
            self.cseq += 1
            cseq = self.cseq
        branch = branch or "z9hG4bK" + uuid.uuid4().hex
        lines = [
            "%s %s SIP/2.0" % (method, uri),
            "Via: SIP/2.0/%s %s;branch=%s%s" % (self.transport.upper(), self.via_host or "127.0.0.1:%d" % self.local_port,
                                                branch, via_extra),
            "Max-Forwards: 70",
            "From: %s;tag=%s" % (from_ or "<sip:alice@%s>" % DOMAIN, self.tag),
            "To: %s" % (to or "<sip:alice@%s>" % DOMAIN),
            "Call-ID: %s" % (call_id or self.call_id),
            "CSeq: %d %s" % (cseq, method),
        ]
        lines += list(headers)
        lines.append("Content-Length: %d" % len(body.encode()))
        return "\r\n".join(lines) + "\r\n\r\n" + body

    def request(self, method, uri, headers=(), body="", **kw):
        self.send_raw(self.build(method, uri, headers, body, **kw))
        return self.recv_final()


class Registration:
    """REGISTER with digest authentication, as a phone does it."""

    def __init__(self, client, user, password, domain=DOMAIN, alg=None, contact=None):
        self.c = client
        self.user = user
        self.password = password
        self.domain = domain
        self.alg = alg
        if contact is None and client.via_host:
            contact = "<sip:%s@%s;transport=ws>" % (user, client.via_host)
        self.contact = contact or "<sip:%s@127.0.0.1:%d;transport=%s>" % (user, client.local_port, client.transport)
        self.nc = 0
        self.challenge = None

    def aor(self):
        return "<sip:%s@%s>" % (self.user, self.domain)

    def send(self, expires=None, contact=None, extra=(), authorize=True, password=None, nc=None, nonce=None,
             username=None):
        headers = []
        contact = self.contact if contact is None else contact
        if contact:
            headers.append("Contact: %s" % contact)
        if expires is not None:
            headers.append("Expires: %d" % expires)
        if authorize and self.challenge:
            headers.append(self.authorization(password=password, nc=nc, nonce=nonce, username=username))
        headers += list(extra)
        return self.c.request("REGISTER", "sip:%s" % self.domain, headers, to=self.aor(), from_=self.aor())

    def pick(self, response):
        chosen = None
        for value in response.all("www-authenticate"):
            p = parse_challenge(value)
            if self.alg is None or p.get("algorithm", "MD5").upper() == self.alg:
                chosen = p
                break
        assert chosen is not None, "no %s challenge in %s" % (self.alg, response.all("www-authenticate"))
        self.challenge = chosen
        self.nc = 0

    def authorization(self, password=None, nc=None, nonce=None, username=None):
        p = self.challenge
        alg = p.get("algorithm", "MD5").upper()
        if nc is None:
            self.nc += 1
            nc = self.nc
        nc_text = "%08x" % nc
        cnonce = uuid.uuid4().hex[:16]
        uri = "sip:%s" % self.domain
        nonce = nonce or p["nonce"]
        resp = digest_response(alg, username or self.user, p["realm"], password or self.password, "REGISTER", uri,
                               nonce, nc_text, cnonce)
        return ('Authorization: Digest username="%s", realm="%s", nonce="%s", uri="%s", response="%s", '
                'algorithm=%s, cnonce="%s", opaque="%s", qop=auth, nc=%s') % (
                    username or self.user, p["realm"], nonce, uri, resp, alg, cnonce, p.get("opaque", ""), nc_text)

    def register(self, expires=3600, contact=None, extra=()):
        """Full exchange: challenge (when needed), then the authorized REGISTER. Returns the final response."""
        if self.challenge is None:
            r = self.send(expires, contact, extra, authorize=False)
            if r.status != 401:
                return r
            self.pick(r)
        r = self.send(expires, contact, extra)
        if r.status == 401:
            self.pick(r)
            r = self.send(expires, contact, extra)
        return r


def sipp_available():
    return shutil.which("sipp") is not None


def run_sipp(scenario, port, transport="u1", extra=(), calls=1, timeout=60, inject=None):
    """Runs SIPp against 127.0.0.1:port; returns (returncode, stdout+stderr)."""
    tmp = tempfile.mkdtemp(prefix="sipp-")
    cmd = ["sipp", "127.0.0.1:%d" % port, "-sf", scenario, "-t", transport, "-i", "127.0.0.1", "-p", "0",
           "-m", str(calls), "-r", str(max(1, calls)), "-timeout", "%ds" % timeout, "-timeout_error",
           "-max_recv_loops", "1000", "-trace_err", "-error_file", os.path.join(tmp, "errors.log"),
           "-nostdin", "-bg"]
    cmd.remove("-bg")
    if inject:
        path = os.path.join(tmp, "users.csv")
        with open(path, "w") as f:
            f.write(inject)
        cmd += ["-inf", path]
    cmd += list(extra)
    r = subprocess.run(cmd, capture_output=True, text=True, timeout=timeout + 30, cwd=tmp)
    errors = ""
    if os.path.exists(os.path.join(tmp, "errors.log")):
        with open(os.path.join(tmp, "errors.log")) as f:
            errors = f.read()
    shutil.rmtree(tmp, ignore_errors=True)
    return r.returncode, r.stdout + r.stderr + errors
