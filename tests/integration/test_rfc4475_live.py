"""RFC 4475 (SIP torture test messages) against the live server, over UDP and over TCP.

Every message of /work/shared/conformance/rfc4475 (byte-exact, see INDEX.md there) is sent to a
running sipwarden; the answer is checked against what the message's RFC 4475 section says a robust
element does, taking the role sipwarden plays for that message: the registrar (and UAS) for
REGISTER and for requests addressed to the server itself, the home proxy of the served domains for
requests addressed to a user (RFC 3261 §16: request validation, then the location service; no
binding -> 480, unknown user -> 404). After each message the server must still answer an OPTIONS to
sip:example.test with 200, on a new socket, over both transports.

Where RFC 4475 explicitly allows a choice ("it is acceptable to reject ... an element that is
liberal in what it accepts may ..."), the row lists every allowed answer; elsewhere the row holds
the one answer the RFC describes, even where sipwarden answers differently today.

Where the answers go (RFC 3261 §18.2.2). Over TCP the answer comes back on the connection the
request came in on, so the messages are sent exactly as stored, each on a fresh connection. Over UDP
the answer goes to the source IP address at the port of the top Via's sent-by (5060 when it has
none), or to the source port when the top Via has an rport parameter (RFC 3581). The torture
messages name remote hosts and mostly no port, so before sending over UDP the test rewrites ONLY the
sent-by port of the top Via to the port of its own (ephemeral) client socket: it inserts
":<port>" after the sent-by host, or replaces the port digits when there is one. Nothing else in
the message changes (Content-Length counts only the body, so it stays right). This was chosen over
binding a socket to the port the Via names (5060, 5050, ...) because that keeps every message
otherwise byte-exact while (a) not depending on well-known ports being free on a shared machine, (b)
giving each message its own socket, so late UDP retransmissions of an earlier INVITE's final response
cannot be mistaken for the answer to the next message, and (c) avoiding the ambiguity of the default
port of a TLS/TCP Via that arrived over UDP (bext01, novelsc, ...). Messages whose top Via carries
rport (mpart01) are not touched, and neither are responses (they must be absorbed, not answered).
"""
import collections
import json
import os
import re
import socket
import time
import unittest
import uuid

from harness import DOMAIN, SHARED, Server, SipClient, digest_response, parse_challenge

TORTURE_DIR = os.environ.get("SIPWARDEN_RFC4475_DIR", os.path.join(SHARED, "conformance", "rfc4475"))

SILENCE_WINDOW = 0.5  # seconds of silence that count as "no answer"
ANSWER_TIMEOUT = 3.0  # seconds to wait for an answer that should come

# The torture messages address example.com, example.net, example.org, chair-dnrc.example.com and
# registrar.example.com: all served, so that each message gets past the domain check and reaches
# the registrar / location service path instead of stopping at 403 Relaying Denied.
CONFIG = """
[[domain]]
name = "example.com"
[[domain]]
name = "example.net"
[[domain]]
name = "example.org"
[[domain]]
name = "chair-dnrc.example.com"
[[domain]]
name = "registrar.example.com"
"""

# user@example.com exists (no binding): a valid request to sip:user@example.com gets 480 from the
# location service, which shows its Request-URI was parsed to exactly that user. Other users in the
# messages do not exist (404). watson and j.user are the AORs of the valid REGISTERs.
EXTRA_USERS = ("user@example.com", "watson@example.com", "j.user@example.com")
# The senders (From) of the requests to users: users of the served domains too, so the home proxy
# challenges them (407, RFC 3261 §22.3). The test answers the challenge as that user, resending the
# message with a new branch and a Proxy-Authorization header (nothing else changes) and checks the
# expectation on the answer to that. A sender that cannot be a user (esc01's "I have spaces": `user
# add` refuses white space) stays challenged.
SENDERS = ("caller@example.org", "caller@example.net", "caller@example.com", "mundane@example.com",
           "fluffy@example.com",
           "amazinglylongcallernameamazinglylongcallernameamazinglylongcallernameamazinglylongcallername"
           "amazinglylongcallername@example.net")
PASSWORD = "torture-secret"

# §3.3.12-§3.3.14: these REGISTERs "should succeed". After the challenge the same message is sent
# again with credentials (a new branch and an Authorization header are the only other changes) and
# the binding the registrar stores must have exactly this contact URI: cparam01's unknownparam is a
# contact-param, not part of the URI; cparam02's is a uri-parameter, inside the URI; regescrt's URI
# keeps its escaped Route header.
AUTHORIZED_REGISTERS = {
    "cparam01.dat": ("watson@example.com", "sip:+19725552222@gw1.example.net"),
    "cparam02.dat": ("watson@example.com", "sip:+19725552222@gw1.example.net;unknownparam"),
    "regescrt.dat": ("user@example.com", "sip:user@example.com?Route=%3Csip:sip.example.com%3E"),
}

Exp = collections.namedtuple("Exp", "status reason_any unsupported challenge allow closes then note")


def exp(status, reason_any=(), unsupported=None, challenge=None, allow=False, closes=False, then=(), note=""):
    """One expected outcome.

    status: an int, None (silence: no answer within SILENCE_WINDOW), or a tuple of those (any one
    is acceptable, RFC 4475 allowing the choice). reason_any: for the listed error statuses, the
    reason phrase must contain one of these (a header or element name), case-insensitively.
    unsupported: the exact set of option tags in Unsupported. challenge: the digest realm of the
    401. allow: the answer must carry Allow. closes (TCP): the server must close the connection
    (after the answer, if any). then: further final answers expected (in order) after the first.
    """
    statuses = status if isinstance(status, tuple) else (status,)
    return Exp(statuses, tuple(reason_any), unsupported, challenge, allow, closes, tuple(then), note)


PARSE_ERRORS = (400, 413, 416, 505)

# file -> expectation over both transports, or {"udp": Exp, "tcp": Exp} where they differ.
EXPECTED = {
    # --- 3.1.1 valid messages: parsed as valid, then handled like any request for that URI ---
    # §3.1.1.1: "all elements should treat this as a well-formed request": parsed, and routed by
    # its Route, <sip:services.example.com;lr>, a host this server does not serve. The request
    # has a To tag, but no flow token of ours shows a dialog we record-routed, so without
    # [proxy] relay it is refused as relaying: 403 (it used to be sent on, and got 404 when the
    # name did not resolve).
    "wsinv.dat": exp(403),
    # §3.1.1.2: "If this unusual URI has been defined at a proxy, the proxy will forward this
    # request normally. Otherwise, a proxy will generate a 404. Endpoints will generate a 501".
    # The Request-URI names a user of a served domain, so sipwarden is the proxy here: 404.
    "intmeth.dat": exp(404),
    # §3.1.1.3: routed as sip:sips%3Auser%40example.com@example.net would be (served; no such user:
    # 404) once the sender authenticates; the sender "I have spaces" cannot be a user, so the answer
    # is the proxy's challenge for the From's realm.
    "esc01.dat": exp(407, challenge="example.net"),
    # §3.1.1.4: a well-formed REGISTER (two distinct contacts): the registrar challenges it.
    "escnull.dat": exp(401, challenge="example.com"),
    # §3.1.1.5: RE%47IST%45R is an unknown method, not REGISTER; the Request-URI is the server
    # itself (registrar.example.com is served): "An endpoint would reject this message with a 501".
    "esc02.dat": exp(501, allow=True),
    # §3.1.1.6: legal; sip:user@example.com exists without binding -> 480.
    "lwsdisp.dat": exp(480),
    # §3.1.1.7: well-formed long values -> 480.
    "longreq.dat": exp(480),
    # §3.1.1.8: over UDP the octets after the REGISTER are "spurious noise that must be ignored":
    # one 401 for the REGISTER and nothing for the INVITE. On a stream they are the next message
    # (the CRLF in between is allowed before a start line, RFC 3261 §7.5): 401, then the INVITE to
    # sip:joe@example.com from j.user of the served domain example.com -> the proxy's challenge, 407.
    "dblreq.dat": {"udp": exp(401, challenge="example.com"),
                   "tcp": exp(401, challenge="example.com", then=(407,))},
    # §3.1.1.9: the user part is "user;par=u@example.net" (not "user"): no such user -> 404.
    "semiuri.dat": exp(404),
    # §3.1.1.10: processed as if every Via named UDP -> 480 (all five Vias echoed, checked below).
    "transports.dat": exp(480),
    # §3.1.1.11: two body parts, binary with NULs; framed properly, so the request gets as far as
    # routing.
    # The initial request carries a preloaded Route to another element (127.0.0.1:5080) and relaying
    # is off: 403 (Kamailio's default configuration says "Preload Route denied").
    "mpart01.dat": exp(403),
    # §3.1.1.12 / §3.1.1.13: responses; no client transaction matches, so they are absorbed.
    "unreason.dat": exp(None),
    "noreason.dat": exp(None),

    # --- 3.1.2 invalid messages ---
    # §3.1.2.1: "should respond with a 400 Bad Request error" (Via and Contact separators).
    "badinv01.dat": exp(400, reason_any=("Via", "Contact")),
    # §3.1.2.2: over UDP 400; on a stream "not much the receiving party could do but wait for the
    # next packet": no answer (keeping or closing the connection are both fine).
    "clerr.dat": {"udp": exp(400, reason_any=("Content-Length",)),
                  "tcp": exp(None)},
    # §3.1.2.3: respond with an error; over TCP "the framing error is not recoverable, and the
    # connection should be closed" (with or without a 400 first).
    "ncl.dat": {"udp": exp(400, reason_any=("Content-Length",)),
                "tcp": exp((400, None), reason_any=("Content-Length",), closes=True)},
    # §3.1.2.4: "should respond with a 400 Bad Request due to the CSeq error".
    "scalar02.dat": exp(400, reason_any=("CSeq",)),
    # §3.1.2.5: a response: dropped.
    "scalarlg.dat": exp(None),
    # §3.1.2.6: "should return a 400 Bad Request error" (unterminated quote in To).
    "quotbal.dat": exp(400, reason_any=("To",)),
    # §3.1.2.7: "reasonable always to reject ... with a 400"; a liberal element ignores the <>
    # (sip:user@example.com -> 480).
    "ltgtruri.dat": exp((400, 480), reason_any=("Request-URI", "URI", "request line", "request-line")),
    # §3.1.2.8: "should respond with a 400 Bad Request".
    "lwsruri.dat": exp(400, reason_any=("Request-URI", "URI", "request line", "request-line")),
    # §3.1.2.9: acceptable to reject; a liberal element ignores the extra SP (-> 480).
    "lwsstart.dat": exp((400, 480), reason_any=("Request-URI", "URI", "request line", "request-line",
                                                 "version", "method")),
    # §3.1.2.10: acceptable to reject; a liberal element ignores the trailing SP
    # (sip:remote-target@example.com: no such user -> 404).
    "trws.dat": exp((400, 404), reason_any=("version", "request line", "request-line")),
    # §3.1.2.11: acceptable to reject with 400; a liberal element ignores the escaped headers (480).
    "escruri.dat": exp((400, 480), reason_any=("Request-URI", "URI", "header")),
    # §3.1.2.12: reject as malformed, or ignore the Date header field (-> 480).
    "baddate.dat": exp((400, 480), reason_any=("Date",)),
    # §3.1.2.13: "reasonable ... to respond with a 400"; a liberal element infers the <> and the
    # REGISTER goes on to be challenged (401).
    "regbadct.dat": exp((400, 401), reason_any=("Contact",)),
    # §3.1.2.14: reasonable to reject with 400; a liberal element ignores the spaces
    # (sip:user@example.org: no such user -> 404).
    "badaspec.dat": exp((400, 404), reason_any=("To",)),
    # §3.1.2.15: reject with 400, or infer the quotes (-> t.watson@example.org: 404). The message
    # ends after "l: 0" CRLF with no empty line: a datagram ends there; on a stream the header
    # section is still open, so the only possible behaviour is to wait (no answer).
    "baddn.dat": {"udp": exp((400, 404), reason_any=("To", "From", "header")),
                  "tcp": exp(None)},
    # §3.1.2.16: "should respond to the request with a 505 Version Not Supported error".
    "badvers.dat": exp(505),
    # §3.1.2.17: "Any element receiving this request will respond with a 400 Bad Request".
    "mismatch01.dat": exp(400, reason_any=("CSeq",)),
    # §3.1.2.18: "should respond with a 501 Not Implemented. A 400 Bad Request is also acceptable,
    # but choosing a 501 (particularly at proxies) has better future-proof characteristics".
    "mismatch02.dat": exp(501),
    # §3.1.2.19: a response with an overlarge status code: dropped.
    "bigcode.dat": exp(None),

    # --- 3.2 transaction layer ---
    # §3.2.1: "could reject the request with a 400 Response ... or it could fall back to the RFC
    # 2543-style transaction identifier" (then OPTIONS sip:user@example.com -> 480).
    "badbranch.dat": exp((400, 480), reason_any=("branch", "Via")),

    # --- 3.3 application layer ---
    # §3.3.1: no Call-ID, From or To: "must not break ... Ideally, it will respond with a 400 Bad
    # Request error" (the Via branch and CSeq are there to match the answer to the request).
    "insuf.dat": exp(400, reason_any=("Call-ID", "From", "To")),
    # §3.3.2: "will reject it with a 416 Unsupported URI Scheme response".
    "unkscm.dat": exp(416),
    # §3.3.3: a scheme sipwarden never accepts in a Request-URI: "appropriate to treat it as
    # unknown and return a 416".
    "novelsc.dat": exp(416),
    # §3.3.4: "A registrar would reject this request with a 400 Bad Request response, since the To:
    # header field is required to contain a SIP or SIPS URI as an AOR".
    "unksm2.dat": exp(400, reason_any=("To",)),
    # §3.3.5: 420 "containing an Unsupported header field listing these features from either the
    # Require or Proxy-Require header field, depending on the role in which the element is
    # responding". The Request-URI is a user of a served domain: sipwarden is the proxy, which
    # checks Proxy-Require (RFC 3261 §16.3 step 5) and does not act on Require (that is the UAS's).
    "bext01.dat": exp(420, unsupported={"noProxiesSupportThis", "norDoAnyProxiesSupportThis"}),
    # §3.3.6: "A proxy receiving this request would process it just as it would any other INVITE"
    # (the 415 is the endpoint's): -> 480.
    "invut.dat": exp(480),
    # §3.3.7: "A registrar that does care about challenge-response authentication will reject this
    # request with a 401, issuing a new challenge with a scheme it understands."
    "regaut01.dat": exp(401, challenge="example.com"),
    # §3.3.8: "An element receiving this message must respond with a 400 Bad Request".
    "multi01.dat": exp(400, reason_any=("CSeq", "Call-ID", "To", "From", "Max-Forwards")),
    # §3.3.9: respond with an error; over TCP the connection should be closed.
    "mcl01.dat": {"udp": exp(400, reason_any=("Content-Length",)),
                  "tcp": exp((400, None), reason_any=("Content-Length",), closes=True)},
    # §3.3.10: a response (broadcast second Via): absorbed, never forwarded.
    "bcast.dat": exp(None),
    # §3.3.11: "A proxy should not forward the request and should respond 483 (Too Many Hops)".
    "zeromf.dat": exp(483),
    # §3.3.12-§3.3.14: valid REGISTERs ("should succeed"); without credentials: the challenge.
    "cparam01.dat": exp(401, challenge="example.com"),
    "cparam02.dat": exp(401, challenge="example.com"),
    "regescrt.dat": exp(401, challenge="example.com"),
    # §3.3.15: the Accept/415/406 choices are the endpoint's; the proxy routes the INVITE: 480.
    "sdp01.dat": exp(480),

    # --- 3.4 backward compatibility ---
    # §3.4.1: legal RFC 2543 INVITE (no branch, no From tag, no Content-Length: the body is the
    # rest of the datagram, no Max-Forwards): sip:UserB@example.com, no such user -> 404. On a
    # stream, Content-Length is mandatory (RFC 3261 §18.3; RFC 4475 only describes the datagram):
    # the message is answered as a bodiless INVITE (404) or rejected (400); what follows is garbage
    # on the stream, which may get the connection closed.
    "inv2543.dat": {"udp": exp(404),
                    "tcp": exp((404, 400, None))},
}

HEADER_NAMES = {"i": "call-id", "f": "from", "t": "to", "v": "via", "l": "content-length", "m": "contact"}


def load(name):
    with open(os.path.join(TORTURE_DIR, name), "rb") as f:
        return f.read()


def header_section(data):
    end = data.find(b"\r\n\r\n")
    return data if end < 0 else data[:end + 2]


def request_headers(data):
    """(name, value) pairs of the header section, unfolded, compact names expanded; lower-case names."""
    text = header_section(data).decode("utf-8", "replace")
    lines = text.split("\r\n")[1:]
    out = []
    for line in lines:
        if line[:1] in (" ", "\t") and out:
            out[-1] = (out[-1][0], out[-1][1] + " " + line.strip())
            continue
        if ":" not in line:
            continue
        name, _, value = line.partition(":")
        name = name.strip().lower()
        out.append((HEADER_NAMES.get(name, name), value.strip()))
    return out


_TOKEN = rb"[A-Za-z0-9.!%*_+`'~-]+"
_LWS = rb"(?:[ \t]*\r\n)?[ \t]+"
_SWS = rb"(?:(?:[ \t]*\r\n)?[ \t]+)?"
_TOP_VIA = re.compile(
    rb"^(?:via|v)" + _SWS + rb":" + _SWS + _TOKEN + _SWS + rb"/" + _SWS + _TOKEN + _SWS + rb"/" + _SWS + _TOKEN
    + _LWS + rb"(\[[0-9A-Fa-f:.]+\]|[A-Za-z0-9.-]+)(?:" + _SWS + rb":" + _SWS + rb"(\d+))?",
    re.IGNORECASE | re.MULTILINE)


def route_udp_answers_to(data, port):
    """The message with ONLY the top Via's sent-by port set to `port` (see the module docstring).

    Unchanged for a response, for a message without a recognisable top Via, and when that Via has
    rport (the answer then goes to the source port anyway)."""
    if data.startswith(b"SIP/"):
        return data
    head = header_section(data)
    m = _TOP_VIA.search(head)
    if m is None:
        return data
    # The rest of this via-parm: up to the next comma or the end of the header field.
    rest = re.split(rb"\r\n(?![ \t])", head[m.end():], maxsplit=1)[0].split(b",", 1)[0]
    if re.search(rb";[ \t\r\n]*rport\b", rest, re.IGNORECASE):
        return data
    if m.group(2) is not None:
        return data[:m.start(2)] + str(port).encode() + data[m.end(2):]
    return data[:m.end(1)] + b":" + str(port).encode() + data[m.end(1):]


class ServerClosed(Exception):
    pass


class LiveServer:
    """A server shared by a class's tests, and the exchanges with it."""
    transport = None

    @staticmethod
    def start_server():
        server = Server(CONFIG)
        for address in EXTRA_USERS + SENDERS:
            server.cli("user", "add", address, "--password", PASSWORD, check=True)
        return server.start()

    @staticmethod
    def stop_server(server):
        rc = server.stop()
        log = server.read_log()
        server.cleanup()
        if rc != 0:
            raise AssertionError("server exited with %d:\n%s" % (rc, log))

    @classmethod
    def setUpClass(cls):
        cls.server = cls.start_server()

    @classmethod
    def tearDownClass(cls):
        cls.stop_server(cls.server)

    # ---- exchange ----

    def expectation(self, name):
        e = EXPECTED[name]
        return e[self.transport] if isinstance(e, dict) else e

    def next_final(self, c, timeout):
        """The next final response on c, None after `timeout` s of silence; raises ServerClosed when
        the server closed the TCP connection."""
        deadline = time.time() + timeout
        while True:
            left = deadline - time.time()
            if left <= 0:
                return None
            try:
                r = c.recv(left)
            except socket.timeout:
                return None
            except (ConnectionError, OSError) as e:
                if c.transport == "tcp":
                    raise ServerClosed(str(e))
                raise
            if r.status >= 200:
                return r

    def wait_closed(self, c, timeout=ANSWER_TIMEOUT):
        c.sock.settimeout(timeout)
        try:
            while True:
                chunk = c.sock.recv(65536)
                if not chunk:
                    return True
        except socket.timeout:
            return False
        except (ConnectionResetError, OSError):
            return True

    def check_answer(self, name, e, request, r):
        self.assertIn(r.status, [s for s in e.status if s is not None],
                      "%s over %s: got %d %s, RFC 4475 expects %s\n%s" % (
                          name, self.transport, r.status, r.reason, e.status, r.raw[:600]))
        if e.reason_any and r.status in PARSE_ERRORS:
            self.assertTrue(any(x.lower() in r.reason.lower() for x in e.reason_any),
                            "%s: reason %r names none of %s" % (name, r.reason, e.reason_any))
        # RFC 3261 §8.2.6.2: Call-ID, CSeq and Via copied from the request (when it has one of each).
        headers = request_headers(request)
        call_ids = [v for n, v in headers if n == "call-id"]
        cseqs = [v for n, v in headers if n == "cseq"]
        if len(call_ids) == 1:
            self.assertEqual(r.get("call-id"), call_ids[0], name)
        if len(cseqs) == 1 and r.get("cseq") is not None:
            want, got = cseqs[0].split(), r.get("cseq").split()
            if len(want) == 2 and want[0].isdigit() and len(got) == 2 and got[0].isdigit():
                self.assertEqual((int(got[0]), got[1]), (int(want[0]), want[1]), name)
        if r.status not in PARSE_ERRORS:
            # Every Via value copied, in order (transports.dat has five, wsinv.dat three over two
            # header fields with the compact form).
            want = [v.split(";")[0].split()[-1] for v in ",".join(v for n, v in headers if n == "via").split(",")]
            got = [v.split(";")[0].split()[-1] for v in ",".join(r.all("via")).split(",")]
            self.assertEqual(len(got), len(want), "%s: Via values %s" % (name, r.all("via")))
        if r.status not in PARSE_ERRORS and r.status > 100:
            self.assertRegex(r.get("to") or "", r";\s*tag\s*=", "%s: a final response needs a To tag" % name)
        if e.unsupported is not None:
            got = {t.strip() for t in ",".join(r.all("unsupported")).split(",") if t.strip()}
            self.assertEqual(got, e.unsupported, "%s: Unsupported" % name)
        if e.challenge is not None and r.status in (401, 407):
            challenges = r.all("www-authenticate" if r.status == 401 else "proxy-authenticate")
            self.assertTrue(challenges, name)
            for value in challenges:
                self.assertTrue(value.startswith("Digest "), value)
                self.assertIn('realm="%s"' % e.challenge, value)
        if e.allow and r.status in (405, 501):
            self.assertIsNotNone(r.get("allow"), "%s: 501 needs Allow" % name)

    def assert_still_serving(self, name):
        self.assertIsNone(self.server.proc.poll(), "server died after %s:\n%s" % (name, self.server.read_log()))
        for transport in ("udp", "tcp"):
            c = SipClient(transport, self.server.port, timeout=ANSWER_TIMEOUT)
            try:
                r = c.request("OPTIONS", "sip:%s" % DOMAIN)
            finally:
                c.close()
            self.assertEqual(r.status, 200, "OPTIONS over %s after %s" % (transport, name))

    def run_authorized_register(self, name):
        aor, uri = AUTHORIZED_REGISTERS[name]
        data = load(name)
        c = SipClient(self.transport, self.server.port, timeout=ANSWER_TIMEOUT)
        try:
            if self.transport == "udp":
                data = route_udp_answers_to(data, c.local_port)
            c.send_raw(data)
            r = self.next_final(c, ANSWER_TIMEOUT)
            self.assertIsNotNone(r, name)
            self.assertEqual(r.status, 401, r.raw[:400])
            challenge = parse_challenge(r.all("www-authenticate")[0])
            c.send_raw(with_credentials(data, challenge, aor, PASSWORD))
            r = self.next_final(c, ANSWER_TIMEOUT)
            self.assertIsNotNone(r, name)
            self.assertEqual(r.status, 200, r.raw[:600])
            # The registrar's 200 lists the bindings in name-addr form (none of these URIs has a comma).
            listed = [contact_uri(v) for v in ",".join(r.all("contact")).split(",") if v.strip()]
            self.assertIn(uri, listed, r.raw[:600])
        finally:
            c.close()
        out = self.server.cli("registrations", "--json", "--aor", aor, check=True)
        # `registrations --json` gives each binding's contact URI (no contact-params).
        stored = [b["contact"].strip().strip("<>") for b in json.loads(out.stdout)]
        self.assertIn(uri, stored, "%s: bindings of %s" % (name, aor))
        self.assert_still_serving(name)

    def authenticate_sender(self, name, c, data, r):
        """Answers the proxy's 407 as the From user (see SENDERS); returns the next final answer and
        the request that got it."""
        head = header_section(data).decode("utf-8", "replace")
        sender = re.search(r"(?im)^(?:from|f)[ \t]*:.*?<?sips?:([^@>;]+@[^>;:\s]+)", head).group(1)
        user, domain = sender.split("@")
        self.assertIn(sender, SENDERS, "%s: a 407 for a sender the test does not know: %s" % (name, r.raw[:400]))
        challenges = [parse_challenge(v) for v in r.all("proxy-authenticate")]
        self.assertTrue(challenges, "%s: 407 without Proxy-Authenticate" % name)
        self.assertTrue(all(ch["realm"] == domain for ch in challenges), r.all("proxy-authenticate"))
        method = re.match(rb"(\S+) ", data).group(1).decode()
        if method == "INVITE":
            c.send_raw(ack_for(data, r))  # §17.1.1.3, or the 407 comes again
        data = with_credentials(data, challenges[0], sender, PASSWORD, method=method, header="Proxy-Authorization")
        c.send_raw(data)
        answer = self.next_final(c, ANSWER_TIMEOUT)
        self.assertIsNotNone(answer, "%s: no answer to the authenticated request" % name)
        return answer, data

    def run_file(self, name):
        e = self.expectation(name)
        data = load(name)
        c = SipClient(self.transport, self.server.port, timeout=ANSWER_TIMEOUT)
        try:
            if self.transport == "udp":
                data = route_udp_answers_to(data, c.local_port)
            c.send_raw(data)
            answers_expected = any(s is not None for s in e.status)
            closed = False
            try:
                r = self.next_final(c, ANSWER_TIMEOUT if answers_expected else SILENCE_WINDOW)
            except ServerClosed:
                r, closed = None, True
            if r is None:
                self.assertIn(None, e.status, "%s over %s: no answer (%s), RFC 4475 expects %s" % (
                    name, self.transport, "connection closed" if closed else "silence", e.status))
            else:
                if r.status == 407 and 407 not in e.status:
                    r, data = self.authenticate_sender(name, c, data, r)
                self.check_answer(name, e, data, r)
            for status in e.then:
                try:
                    r2 = self.next_final(c, ANSWER_TIMEOUT)
                except ServerClosed:
                    self.fail("%s over %s: the connection was closed before the answer %d to the next message"
                              % (name, self.transport, status))
                self.assertIsNotNone(r2, "%s: no answer %d to the second message" % (name, status))
                self.assertEqual(r2.status, status, "%s: second answer %s" % (name, r2.raw[:400]))
            if name == "dblreq.dat" and self.transport == "udp":
                # The trailing INVITE is noise: nothing may answer it.
                self.assertIsNone(self.next_final(c, SILENCE_WINDOW), "dblreq: the trailing INVITE was answered")
            if self.transport == "tcp" and e.closes and not closed:
                self.assertTrue(self.wait_closed(c), "%s: the server should close the connection" % name)
        finally:
            c.close()
        self.assert_still_serving(name)


def contact_uri(value):
    """The URI of a Contact header value (name-addr, or addr-spec: then params after ';' are
    contact-params, RFC 3261 §20.10)."""
    value = value.strip()
    if "<" in value:
        return value[value.index("<") + 1:value.index(">")]
    return value.split(";", 1)[0].strip()


def with_credentials(data, challenge, user, password, method="REGISTER", header="Authorization"):
    """The request with a fresh branch and an Authorization (or Proxy-Authorization) header
    answering `challenge`."""
    head_end = data.find(b"\r\n\r\n")
    head, rest = data[:head_end], data[head_end:]
    m = re.search(rb"(?i)branch[ \t]*=[ \t]*([^;,\s]+)", head)
    head = head[:m.end(1)] + b"-" + uuid.uuid4().hex[:8].encode() + head[m.end(1):]
    # A new request, as a UA sends it after a challenge (§8.1.3.5): CSeq one higher. (A top Via
    # without a branch makes this an RFC 2543 request, matched by CSeq among others, §17.2.3.)
    c = re.search(rb"(?im)^CSeq[ \t]*:[ \t]*(\d+)", head)
    head = head[:c.start(1)] + str(int(c.group(1)) + 1).encode() + head[c.end(1):]
    alg = challenge.get("algorithm", "MD5").upper()
    uri = re.match(rb"\S+ (\S+) ", head).group(1).decode()
    cnonce = uuid.uuid4().hex[:16]
    username = user.split("@")[0]
    response = digest_response(alg, username, challenge["realm"], password, method, uri, challenge["nonce"],
                               "00000001", cnonce)
    auth = (header + ': Digest username="%s", realm="%s", nonce="%s", uri="%s", response="%s", '
            'algorithm=%s, cnonce="%s", opaque="%s", qop=auth, nc=00000001') % (
                username, challenge["realm"], challenge["nonce"], uri, response, alg, cnonce,
                challenge.get("opaque", ""))
    return head + b"\r\n" + auth.encode() + rest


def ack_for(data, r):
    """The ACK for a non-2xx final response `r` to the INVITE `data` (RFC 3261 §17.1.1.3)."""
    headers = request_headers(data)
    first = lambda n: [v for k, v in headers if k == n][0]
    uri = re.match(rb"\S+ (\S+) ", data).group(1).decode()
    lines = ["ACK %s SIP/2.0" % uri, "Via: %s" % r.all("via")[0], "Max-Forwards: 70", "From: %s" % first("from"),
             "To: %s" % r.get("to"), "Call-ID: %s" % first("call-id"),
             "CSeq: %s ACK" % first("cseq").split()[0], "Content-Length: 0"]
    return ("\r\n".join(lines) + "\r\n\r\n").encode()


def _make_auth_test(name):
    def test(self):
        self.run_authorized_register(name)
    test.__doc__ = "%s, challenged then authorized, stores the right contact" % name
    return test


def _make_test(name):
    def test(self):
        self.run_file(name)
    test.__doc__ = "%s over the live server" % name
    return test


class TortureTests(LiveServer):
    """One test per torture message (see EXPECTED)."""


for _name in sorted(EXPECTED):
    setattr(TortureTests, "test_" + _name[:-4], _make_test(_name))


class AuthorizedRegisterTests(LiveServer):
    """The REGISTERs of §3.3.12-§3.3.14 carried through authentication, each on a server of its own
    (a stored binding would otherwise change the answers to the other messages, and cparam01 and
    cparam02 name equivalent contact URIs, RFC 3261 §19.1.4)."""

    @classmethod
    def setUpClass(cls):
        pass

    @classmethod
    def tearDownClass(cls):
        pass

    def setUp(self):
        self.server = self.start_server()
        self.addCleanup(self.stop_server, self.server)


for _name in sorted(AUTHORIZED_REGISTERS):
    setattr(AuthorizedRegisterTests, "test_" + _name[:-4] + "_authorized", _make_auth_test(_name))


class TortureCoverage(unittest.TestCase):
    def test_every_file_has_an_expectation(self):
        files = sorted(f for f in os.listdir(TORTURE_DIR) if f.endswith(".dat"))
        self.assertEqual(files, sorted(EXPECTED))

    def test_udp_rewrite_touches_only_the_via_port(self):
        for name in sorted(EXPECTED):
            data = load(name)
            out = route_udp_answers_to(data, 40123)
            if data.startswith(b"SIP/") or name == "mpart01.dat":
                self.assertEqual(out, data, name)
                continue
            self.assertNotEqual(out, data, name)
            # Only ":40123" inserted, or the old port digits replaced by 40123.
            i = next(k for k in range(len(data)) if data[k] != out[k])
            if out[i:i + 6] == b":40123":
                self.assertEqual(out[:i] + out[i + 6:], data, name)
            else:
                j = i
                while data[j:j + 1].isdigit():
                    j += 1
                self.assertEqual(out[:i] + out[i + 5:], data[:i] + data[j:], name)
            self.assertIn(b":40123", header_section(out), name)


class UdpTorture(TortureTests, unittest.TestCase):
    transport = "udp"


class TcpTorture(TortureTests, unittest.TestCase):
    transport = "tcp"


class UdpAuthorizedRegister(AuthorizedRegisterTests, unittest.TestCase):
    transport = "udp"


class TcpAuthorizedRegister(AuthorizedRegisterTests, unittest.TestCase):
    transport = "tcp"


if __name__ == "__main__":
    unittest.main()
