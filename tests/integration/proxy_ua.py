"""A small SIP user agent for the proxy tests: registers, sends requests through the proxy
(answering its 407 challenge), receives what the proxy forwards, and answers it. It keeps the
dialog state of RFC 3261 §12 (route set from Record-Route, remote target from Contact) so that
ACK and BYE travel the way a real phone sends them. Digests are computed with hashlib."""
import re
import uuid

from harness import DOMAIN, Registration, SipClient, digest_response, parse_challenge


def header_lines(msg, name):
    """Every value of a header, in order, with comma lists split (for Via, Record-Route)."""
    out = []
    for v in msg.all(name):
        out += [x.strip() for x in re.split(r",(?=(?:[^\"]*\"[^\"]*\")*[^\"]*$)(?![^<]*>)", v) if x.strip()]
    return out


def uri_of(name_addr):
    m = re.search(r"<([^>]*)>", name_addr)
    return m.group(1) if m else name_addr.split(";")[0].strip()


def tag_of(value):
    m = re.search(r";\s*tag=([^;>\s]+)", value or "")
    return m.group(1) if m else None


class Dialog:
    def __init__(self, call_id, local_tag, remote_tag, local_uri, remote_uri, route_set, remote_target, cseq):
        self.call_id, self.local_tag, self.remote_tag = call_id, local_tag, remote_tag
        self.local_uri, self.remote_uri = local_uri, remote_uri
        self.route_set, self.remote_target, self.cseq = route_set, remote_target, cseq


class UA:
    def __init__(self, transport, port, user, password, alg="SHA-256", domain=DOMAIN, client=None):
        """`client`: a ready SipClient (e.g. TLS with a certificate); else one over `transport`."""
        self.c = client or SipClient(transport, port)
        transport = self.c.transport
        self.user, self.password, self.alg, self.domain = user, password, alg, domain
        self.reg = Registration(self.c, user, password, domain=domain, alg=alg)
        if self.c.via_host:  # a WebSocket client: its Contact cannot be reached but over its connection
            self.contact = "<sip:%s@%s;transport=ws;ob>" % (user, self.c.via_host)
        else:
            self.contact = "<sip:%s@127.0.0.1:%d;transport=%s>" % (user, self.c.local_port, transport)
        self.proxy_challenge = None
        self.nc = 0

    def close(self):
        self.c.close()

    @property
    def aor(self):
        return "sip:%s@%s" % (self.user, self.domain)

    def register(self, expires=3600):
        r = self.reg.register(expires=expires, contact=self.contact)
        assert r.status == 200, r.raw
        return r

    # ---- requests out ----------------------------------------------------------------------

    def proxy_authorization(self, method, uri):
        p = self.proxy_challenge
        self.nc += 1
        nc = "%08x" % self.nc
        cnonce = uuid.uuid4().hex[:16]
        alg = p.get("algorithm", "MD5").upper()
        resp = digest_response(alg, self.user, p["realm"], self.password, method, uri, p["nonce"], nc, cnonce)
        return ('Proxy-Authorization: Digest username="%s", realm="%s", nonce="%s", uri="%s", response="%s", '
                'algorithm=%s, cnonce="%s", opaque="%s", qop=auth, nc=%s') % (
                    self.user, p["realm"], p["nonce"], uri, resp, alg, cnonce, p.get("opaque", ""), nc)

    def pick_proxy_challenge(self, response):
        for value in response.all("proxy-authenticate"):
            p = parse_challenge(value)
            if p.get("algorithm", "MD5").upper() == self.alg:
                self.proxy_challenge = p
                self.nc = 0
                return
        raise AssertionError("no %s Proxy-Authenticate in %s" % (self.alg, response.raw))

    def build_request(self, method, uri, to, headers=(), body="", call_id=None, branch=None, cseq=None, from_tag=None):
        branch = branch or "z9hG4bK" + uuid.uuid4().hex
        lines = ["%s %s SIP/2.0" % (method, uri),
                 "Via: SIP/2.0/%s %s;branch=%s;rport" % (self.c.transport.upper(),
                                                         self.c.via_host or "127.0.0.1:%d" % self.c.local_port, branch),
                 "Max-Forwards: 70",
                 "From: <%s>;tag=%s" % (self.aor, from_tag or self.c.tag),
                 "To: %s" % to,
                 "Call-ID: %s" % (call_id or self.c.call_id),
                 "CSeq: %d %s" % (cseq, method)]
        lines += list(headers)
        lines.append("Content-Length: %d" % len(body.encode()))
        return "\r\n".join(lines) + "\r\n\r\n" + body, branch

    def send_authenticated(self, method, target_user, body="", headers=(), content_type="text/plain",
                           expect_final=True, wait=True, target_domain=DOMAIN, uri=None):
        """Sends an out-of-dialog request to target_user@target_domain, answering the 407. Returns
        (first response after authentication or the final one, request text, call-id); with
        wait=False the response is None (the caller reads it after the callee answered)."""
        uri = uri or "sip:%s@%s" % (target_user, target_domain)  # `uri`: a whole Request-URI (a GRUU)
        to = "<%s>" % uri
        call_id = uuid.uuid4().hex
        self.c.cseq += 1
        hdrs = list(headers)
        if body:
            hdrs.append("Content-Type: %s" % content_type)
        if method == "INVITE":
            hdrs.append("Contact: %s" % self.contact)
        text, branch = self.build_request(method, uri, to, hdrs, body, call_id=call_id, cseq=self.c.cseq)
        self.c.send_raw(text)
        r = self.c.recv_final()
        if r.status == 407:
            if method == "INVITE":
                # §17.1.1.3: the transaction ACKs the 407 itself, same branch and To tag.
                ack, _ = self.build_request("ACK", uri, r.get("to"), (), "", call_id=call_id, branch=branch,
                                            cseq=self.c.cseq)
                self.c.send_raw(ack)
            self.pick_proxy_challenge(r)
            self.c.cseq += 1
            hdrs2 = hdrs + [self.proxy_authorization(method, uri)]
            text, branch = self.build_request(method, uri, to, hdrs2, body, call_id=call_id, cseq=self.c.cseq)
            self.c.send_raw(text)
            if not wait:
                return None, text, call_id
            r = self.c.recv_final() if expect_final else self.c.recv()
        return r, text, call_id

    def send_in_dialog(self, dialog, method, body="", headers=()):
        """A request inside `dialog`, routed by its route set (loose routing, §12.2.1.1)."""
        if method != "ACK":
            dialog.cseq += 1
        hdrs = ["Route: %s" % r for r in dialog.route_set] + list(headers)
        text, branch = self.build_request(method, dialog.remote_target, "<%s>;tag=%s" % (dialog.remote_uri,
                                                                                          dialog.remote_tag),
                                          hdrs, body, call_id=dialog.call_id, cseq=dialog.cseq,
                                          from_tag=dialog.local_tag)
        self.c.send_raw(text)
        return text

    # ---- requests in -----------------------------------------------------------------------

    def expect_request(self, method, timeout=5.0):
        """The next request of `method` (responses and other requests in between are skipped and
        returned in `self.skipped`)."""
        self.skipped = []
        while True:
            m = self.c.recv(timeout)
            if m.method == method:
                return m
            self.skipped.append(m)

    def reply(self, req, status, reason="OK", headers=(), body="", to_tag=None):
        lines = ["SIP/2.0 %d %s" % (status, reason)]
        for v in req.all("via"):
            lines.append("Via: %s" % v)
        to = req.get("to")
        if status > 100 and tag_of(to) is None:
            to += ";tag=%s" % (to_tag or self.c.tag)
        lines += ["From: %s" % req.get("from"), "To: %s" % to, "Call-ID: %s" % req.get("call-id"),
                  "CSeq: %s" % req.get("cseq")]
        for v in req.all("record-route"):
            if req.method in ("INVITE",) and 100 < status < 300:
                lines.append("Record-Route: %s" % v)
        if req.method == "INVITE" and 100 < status < 300:
            lines.append("Contact: %s" % self.contact)
        lines += list(headers)
        lines.append("Content-Length: %d" % len(body.encode()))
        self.c.send_raw("\r\n".join(lines) + "\r\n\r\n" + body)

    # ---- dialogs ----------------------------------------------------------------------------

    def uac_dialog(self, ok, invite_text):
        """The caller's dialog from the 2xx (§12.1.2): route set = Record-Route reversed."""
        from harness import Response
        inv = Response(invite_text)
        return Dialog(ok.get("call-id"), tag_of(ok.get("from")), tag_of(ok.get("to")), uri_of(inv.get("from")),
                      uri_of(inv.get("to")), list(reversed(header_lines(ok, "record-route"))),
                      uri_of(ok.get("contact")), int(inv.get("cseq").split()[0]))

    def uas_dialog(self, invite, local_tag=None):
        """The callee's dialog from the INVITE (§12.1.1): route set = Record-Route in order."""
        return Dialog(invite.get("call-id"), local_tag or self.c.tag, tag_of(invite.get("from")),
                      uri_of(invite.get("to")), uri_of(invite.get("from")), header_lines(invite, "record-route"),
                      uri_of(invite.get("contact")), 0)
