"""A small authoritative DNS server for tests (UDP on 127.0.0.1): answers A, AAAA, SRV and NAPTR
queries from a table, NXDOMAIN otherwise. Wire format per RFC 1035 (and RFC 2782 SRV, RFC 3403
NAPTR), built by hand so the server's resolver is exercised by real DNS messages."""
import socket
import struct
import threading

TYPES = {"A": 1, "AAAA": 28, "SRV": 33, "NAPTR": 35}


def encode_name(name):
    out = b""
    for label in name.rstrip(".").split("."):
        if label:
            out += bytes([len(label)]) + label.encode()
    return out + b"\x00"


def char_string(s):
    return bytes([len(s)]) + s.encode()


class DnsServer:
    """records: {(name, type): [rdata tuple]}; A: ("127.0.0.1",), SRV: (prio, weight, port, target),
    NAPTR: (order, pref, flags, services, regexp, replacement)."""

    def __init__(self, records, slow=(), delay=0.6):
        """`slow`: names answered `delay` seconds late (an answer still under way)."""
        self.records = {(n.lower().rstrip("."), t): v for (n, t), v in records.items()}
        self.slow, self.delay = {n.lower() for n in slow}, delay
        self.sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        self.sock.bind(("127.0.0.1", 0))
        self.port = self.sock.getsockname()[1]
        self.queries = []
        self.running = True
        self.thread = threading.Thread(target=self.serve, daemon=True)
        self.thread.start()

    def close(self):
        self.running = False
        self.sock.close()
        self.thread.join(5)

    def serve(self):
        while self.running:
            try:
                data, addr = self.sock.recvfrom(4096)
            except OSError:
                return
            try:
                reply = self.answer(data)
            except (IndexError, struct.error, UnicodeDecodeError):
                continue
            if self.queries and self.queries[-1][0] in self.slow:
                threading.Timer(self.delay, self.send, (reply, addr)).start()
                continue
            if not self.send(reply, addr):
                return

    def send(self, reply, addr):
        try:
            self.sock.sendto(reply, addr)
            return True
        except OSError:
            return False

    def answer(self, query):
        qid, _flags, qd = struct.unpack("!HHH", query[:6])
        pos = 12
        labels = []
        while query[pos] != 0:
            n = query[pos]
            labels.append(query[pos + 1:pos + 1 + n].decode())
            pos += 1 + n
        pos += 1
        qtype, _qclass = struct.unpack("!HH", query[pos:pos + 4])
        question = query[12:pos + 4]
        name = ".".join(labels).lower()
        tname = {v: k for k, v in TYPES.items()}.get(qtype, str(qtype))
        self.queries.append((name, tname))
        rrs = self.records.get((name, tname), [])
        exists = any(k[0] == name for k in self.records)
        answers = b""
        for r in rrs:
            if tname == "A":
                rdata = socket.inet_pton(socket.AF_INET, r[0])
            elif tname == "AAAA":
                rdata = socket.inet_pton(socket.AF_INET6, r[0])
            elif tname == "SRV":
                rdata = struct.pack("!HHH", r[0], r[1], r[2]) + encode_name(r[3])
            else:
                rdata = struct.pack("!HH", r[0], r[1]) + char_string(r[2]) + char_string(r[3]) + \
                    char_string(r[4]) + encode_name(r[5])
            answers += b"\xc0\x0c" + struct.pack("!HHIH", qtype, 1, 60, len(rdata)) + rdata
        rcode = 0 if exists else 3  # NXDOMAIN when the name has no record of any type
        flags = 0x8400 | 0x0100 | rcode  # response, authoritative, recursion desired echoed
        return struct.pack("!HHHHHH", qid, flags, 1, len(rrs), 0, 0) + question + answers
