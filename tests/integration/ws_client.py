"""A small WebSocket client (RFC 6455) for the integration tests, standard library only.

Written by hand on purpose: the protocol tests send what a well-behaved library never would
(no subprotocol, a foreign Origin, oversized or malformed frames, an abrupt disconnect) and look
at the exact status line or close code the server answers with."""

import base64
import hashlib
import os
import socket
import ssl
import struct

GUID = "258EAFA5-E914-47DA-95CA-C5AB0DC85B11"

OP_CONT, OP_TEXT, OP_BINARY, OP_CLOSE, OP_PING, OP_PONG = 0x0, 0x1, 0x2, 0x8, 0x9, 0xA


class HandshakeRefused(Exception):
    def __init__(self, status, headers, body):
        super().__init__("WebSocket handshake refused: HTTP %d %s" % (status, body.strip()[:200]))
        self.status = status
        self.headers = headers
        self.body = body


class Closed(Exception):
    """The server sent a close frame (code None when it had no payload) or dropped the connection."""

    def __init__(self, code, reason=""):
        super().__init__("WebSocket closed: %s %s" % (code, reason))
        self.code = code
        self.reason = reason


def http_request(port, raw, tls=False, host="127.0.0.1", timeout=5.0):
    """Sends raw HTTP bytes, returns (status, headers dict lower-case, body bytes) of the answer."""
    sock = socket.create_connection((host, port), timeout=timeout)
    if tls:
        ctx = ssl.create_default_context()
        ctx.check_hostname = False
        ctx.verify_mode = ssl.CERT_NONE
        sock = ctx.wrap_socket(sock, server_hostname="localhost")
    try:
        sock.sendall(raw if isinstance(raw, bytes) else raw.encode())
        data = b""
        while b"\r\n\r\n" not in data:
            chunk = sock.recv(65536)
            if not chunk:
                break
            data += chunk
        head, _, body = data.partition(b"\r\n\r\n")
        lines = head.decode("latin-1").split("\r\n")
        status = int(lines[0].split()[1])
        headers = {}
        for line in lines[1:]:
            k, _, v = line.partition(":")
            headers[k.strip().lower()] = v.strip()
        length = int(headers.get("content-length", "0"))
        while len(body) < length:
            chunk = sock.recv(65536)
            if not chunk:
                break
            body += chunk
        return status, headers, body
    finally:
        sock.close()


class WebSocket:
    def __init__(self, port, host="127.0.0.1", tls=False, ssl_context=None, server_name="localhost", path="/",
                 protocols=("sip",), origin=None, timeout=5.0, extra_headers=()):
        self.sock = socket.create_connection((host, port), timeout=timeout)
        if tls:
            if ssl_context is None:
                ssl_context = ssl.create_default_context()
                ssl_context.check_hostname = False
                ssl_context.verify_mode = ssl.CERT_NONE
            self.sock = ssl_context.wrap_socket(self.sock, server_hostname=server_name)
        self.sock.settimeout(timeout)
        self.timeout = timeout
        self.buf = b""
        self.local_port = self.sock.getsockname()[1]
        key = base64.b64encode(os.urandom(16)).decode()
        lines = ["GET %s HTTP/1.1" % path, "Host: %s:%d" % (host, port), "Upgrade: websocket",
                 "Connection: Upgrade", "Sec-WebSocket-Key: " + key, "Sec-WebSocket-Version: 13"]
        if protocols:
            lines.append("Sec-WebSocket-Protocol: " + ", ".join(protocols))
        if origin:
            lines.append("Origin: " + origin)
        lines += list(extra_headers)
        self.sock.sendall(("\r\n".join(lines) + "\r\n\r\n").encode())
        while b"\r\n\r\n" not in self.buf:
            chunk = self.sock.recv(4096)
            if not chunk:
                raise ConnectionError("connection closed during the WebSocket handshake")
            self.buf += chunk
        head, _, self.buf = self.buf.partition(b"\r\n\r\n")
        lines = head.decode("latin-1").split("\r\n")
        self.status = int(lines[0].split()[1])
        self.headers = {}
        for line in lines[1:]:
            k, _, v = line.partition(":")
            self.headers[k.strip().lower()] = v.strip()
        if self.status != 101:
            length = int(self.headers.get("content-length", "0"))
            while len(self.buf) < length:
                chunk = self.sock.recv(4096)
                if not chunk:
                    break
                self.buf += chunk
            body = self.buf.decode("utf-8", "replace")
            self.sock.close()
            raise HandshakeRefused(self.status, self.headers, body)
        expect = base64.b64encode(hashlib.sha1((key + GUID).encode()).digest()).decode()
        if self.headers.get("sec-websocket-accept") != expect:
            raise AssertionError("bad Sec-WebSocket-Accept: %r" % self.headers.get("sec-websocket-accept"))
        self.protocol = self.headers.get("sec-websocket-protocol")
        self.pings = []  # payloads of the pings the server sent (answered with pongs)

    # ---- frames ------------------------------------------------------------------------------

    def send_frame(self, opcode, payload=b"", fin=True, mask=True, rsv=0):
        if isinstance(payload, str):
            payload = payload.encode()
        b0 = (0x80 if fin else 0) | (rsv << 4) | opcode
        n = len(payload)
        if n < 126:
            header = struct.pack("!BB", b0, (0x80 if mask else 0) | n)
        elif n < 65536:
            header = struct.pack("!BBH", b0, (0x80 if mask else 0) | 126, n)
        else:
            header = struct.pack("!BBQ", b0, (0x80 if mask else 0) | 127, n)
        if mask:
            key = os.urandom(4)
            masked = bytes(c ^ key[i % 4] for i, c in enumerate(payload))
            self.sock.sendall(header + key + masked)
        else:
            self.sock.sendall(header + payload)

    def _read(self, n):
        while len(self.buf) < n:
            chunk = self.sock.recv(65536)
            if not chunk:
                raise Closed(None, "connection dropped")
            self.buf += chunk
        out, self.buf = self.buf[:n], self.buf[n:]
        return out

    def recv_frame(self, timeout=None):
        """(fin, opcode, payload) of the next frame."""
        self.sock.settimeout(timeout or self.timeout)
        b0, b1 = self._read(2)
        n = b1 & 0x7F
        if n == 126:
            n = struct.unpack("!H", self._read(2))[0]
        elif n == 127:
            n = struct.unpack("!Q", self._read(8))[0]
        if b1 & 0x80:
            raise AssertionError("the server masked a frame (RFC 6455 §5.1 forbids it)")
        return bool(b0 & 0x80), b0 & 0x0F, self._read(n)

    def recv_message(self, timeout=None):
        """(opcode, payload) of the next data message; answers pings; raises Closed on a close frame."""
        parts, first = [], None
        while True:
            fin, op, payload = self.recv_frame(timeout)
            if op == OP_PING:
                self.pings.append(payload)
                self.send_frame(OP_PONG, payload)
                continue
            if op == OP_PONG:
                continue
            if op == OP_CLOSE:
                code = struct.unpack("!H", payload[:2])[0] if len(payload) >= 2 else None
                try:
                    self.send_frame(OP_CLOSE, payload[:2])
                except OSError:
                    pass
                raise Closed(code, payload[2:].decode("utf-8", "replace"))
            if first is None:
                first = op
            parts.append(payload)
            if fin:
                return first, b"".join(parts)

    def send_text(self, text):
        self.send_frame(OP_TEXT, text)

    def close(self, code=1000):
        try:
            self.send_frame(OP_CLOSE, struct.pack("!H", code))
        except OSError:
            pass
        self.sock.close()

    def abort(self):
        """Drops the TCP connection without a closing handshake (RST)."""
        self.sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
        self.sock.close()
