#!/usr/bin/python3
"""fakepeer.py: a misbehaving replication peer made of raw sockets.

The packet layouts are those of docs/protocol.md (24-byte header, HELLO,
AUTH, DATA ...).  Every socket operation has a timeout and every loop is
bounded in count and in time.

  client HOST PORT CASE SECRET
      connect to a repd's replication port (a secondary waiting for its
      primary), pretend to be node "alpha" and misbehave as CASE says
      (see client_case).  Prints one line "CASE: outcome".  Exit 0 when
      repd behaved as the protocol requires, 1 otherwise.
  server HOST PORT SECONDS SECRET OUTFILE
      listen where a primary dials its secondary ("beta") and misbehave
      on each connection in turn (see SERVER_CASES) for SECONDS; write a
      JSON summary to OUTFILE.  The primary must close each
      connection (after a REFUSE with EACCES for a wrong AUTH).
  hold HOST PORT SECRET HOLD HOLDFILE SECONDS OUTFILE
      a correct secondary "beta", slow once HOLDFILE exists: ACK_RECV
      HOLD seconds and ACK_WRITE 2 * HOLD seconds after each write
      arrives, FLUSH acked after HOLD; logs those requests (arrival time,
      flags, payload sha256) to OUTFILE (JSON) when the primary
      disconnects.
  late-bitmap HOST PORT SECRET DROP_MIB HOLD SECONDS OUTFILE
      a secondary "beta" that answers every request at once; it drops
      its first connection once DROP_MIB MiB of resync data came, and on
      the second (an interrupted resync: resync-in-progress, the
      primary's generations) sends its BITMAP exchange HOLD seconds late,
      one chunk with LAST and granule LATE_BIT set.  Ends when the
      primary's resync has ended after that (STATE repl = off with its
      UUID) or after SECONDS; writes what it saw to OUTFILE (JSON) and
      prints progress lines.
"""
import hashlib
import hmac
import json
import os
import socket
import struct
import sys
import time

MAGIC = 0x52455044
HDR = struct.Struct(">IHHIIQ")		# magic type flags length reserved seq
HELLO_LEN = 224
T_HELLO, T_AUTH, T_AUTH_OK, T_REFUSE = 0x01, 0x02, 0x03, 0x04
T_DATA, T_TRIM, T_ZEROES, T_FLUSH = 0x10, 0x11, 0x12, 0x13
T_ACK_RECV, T_ACK_WRITE, T_NACK = 0x20, 0x21, 0x22
T_PING, T_PONG = 0x30, 0x31
F_FUA, F_COMPRESSED, F_CHECKSUM = 0x1, 0x2, 0x4
FEAT_ALL = 0x7
LABEL = b"repd-auth-v1"
EACCES = 13

MiB = 1 << 20
IO_TIMEOUT = 5.0


class Closed(Exception):
    """the other side closed the connection (EOF or reset)"""


class Fail(Exception):
    """repd did something the protocol forbids"""


def hdr(ptype, length, seq=0, flags=0, magic=MAGIC, reserved=0):
    return HDR.pack(magic, ptype, flags, length, reserved, seq)


def name_field(name, size=63):
    b = name.encode()
    return bytes([len(b)]) + b + bytes(size - len(b))


def hello_payload(node_id, data_size, role, name, resource, challenge,
                  features=FEAT_ALL, md_flags=0):
    p = struct.pack(">HHIQQII", 1, 1, node_id, features, data_size, role,
                    md_flags)
    p += bytes(32)			# uuid current, bitmap, history[0..1]
    p += challenge
    p += name_field(name) + name_field(resource)
    assert len(p) == HELLO_LEN
    return p


def parse_hello(p):
    vmin, vmax, node_id, feat, size, role, md_flags = struct.unpack_from(
        ">HHIQQII", p, 0)
    nlen = p[96]
    rlen = p[160]
    return {
        "version_min": vmin, "version_max": vmax, "node_id": node_id,
        "features": feat, "data_size": size, "role": role,
        "md_flags": md_flags, "challenge": bytes(p[64:96]),
        "name": p[97:97 + nlen].decode(), "resource": p[161:161 + rlen].decode(),
    }


def mac(secret, challenge, responder):
    n = responder.encode()
    return hmac.new(secret.encode(), challenge + bytes([len(n)]) + n + LABEL,
                    hashlib.sha256).digest()


def crc32c(data):
    crc = 0xFFFFFFFF
    for b in data:
        crc ^= b
        for _ in range(8):
            crc = (crc >> 1) ^ (0x82F63B78 if crc & 1 else 0)
    return crc ^ 0xFFFFFFFF


def data_packet(seq, off, payload, flags=0, raw_len=None, wire_len=None,
                crc=0, length=None):
    raw_len = len(payload) if raw_len is None else raw_len
    wire_len = len(payload) if wire_len is None else wire_len
    fixed = struct.pack(">QIIII", off, raw_len, wire_len, crc, 0)
    length = 24 + len(payload) if length is None else length
    return hdr(T_DATA, length, seq, flags) + fixed + payload


class Peer:
    def __init__(self, sock):
        self.s = sock
        self.s.settimeout(IO_TIMEOUT)

    def send(self, b):
        try:
            self.s.sendall(b)
        except (BrokenPipeError, ConnectionResetError) as e:
            raise Closed(str(e))

    def recv_exact(self, n, timeout=IO_TIMEOUT):
        out = bytearray()
        deadline = time.monotonic() + timeout
        while len(out) < n:
            left = deadline - time.monotonic()
            if left <= 0:
                raise socket.timeout("%d of %d bytes within %.1f s" % (len(out), n, timeout))
            self.s.settimeout(left)
            try:
                b = self.s.recv(n - len(out))
            except ConnectionResetError as e:
                raise Closed(str(e))
            if not b:
                raise Closed("EOF after %d of %d bytes" % (len(out), n))
            out += b
        return bytes(out)

    def recv_packet(self, timeout=IO_TIMEOUT):
        h = self.recv_exact(HDR.size, timeout)
        magic, ptype, flags, length, reserved, seq = HDR.unpack(h)
        if magic != MAGIC or reserved != 0 or length > 33558528:
            raise Fail("repd sent a malformed header: %s" % h.hex(" "))
        return ptype, flags, seq, self.recv_exact(length, timeout)

    def recv_until(self, want, timeout=IO_TIMEOUT):
        """next packet that is not a PING/PONG (a PING is answered)"""
        deadline = time.monotonic() + timeout
        for _ in range(1000):
            left = max(0.01, deadline - time.monotonic())
            ptype, flags, seq, p = self.recv_packet(left)
            if ptype == T_PING:
                self.send(hdr(T_PONG, 8, seq) + p)
                continue
            if ptype == T_PONG:
                continue
            if want is not None and ptype not in want:
                raise Fail("repd sent packet type 0x%02x (seq %d), want %s"
                           % (ptype, seq, "/".join("0x%02x" % w for w in want)))
            return ptype, flags, seq, p
        raise Fail("too many packets")

    def expect_close(self, timeout=IO_TIMEOUT):
        """repd must close the connection within timeout; ignore what it
        sends first (a REFUSE is allowed).  Returns the REFUSE, if any."""
        deadline = time.monotonic() + timeout
        refuse = None
        for _ in range(10000):
            left = deadline - time.monotonic()
            if left <= 0:
                break
            try:
                ptype, _, _, p = self.recv_packet(left)
            except Closed:
                return refuse
            except socket.timeout:
                break
            except Fail:
                continue		# garbage from repd is judged elsewhere
            if ptype == T_REFUSE and len(p) >= 4:
                refuse = (struct.unpack(">I", p[:4])[0], p[4:].decode("ascii", "replace"))
        raise Fail("repd did not close the connection within %.0f s" % timeout)

    def close(self):
        try:
            self.s.close()
        except OSError:
            pass


def connect(host, port):
    s = socket.create_connection((host, int(port)), timeout=IO_TIMEOUT)
    s.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    return Peer(s)


# ------------------------------------------------------------------ client

def handshake_as_primary(pe, secret, name="alpha", node_id=0,
                         auth_override=None):
    """Full handshake against a secondary.  Returns its HELLO."""
    _, _, _, p = pe.recv_until([T_HELLO])
    their = parse_hello(p)
    mine = os.urandom(32)
    pe.send(hdr(T_HELLO, HELLO_LEN) + hello_payload(
        node_id, their["data_size"], 2, name, their["resource"], mine,
        md_flags=their["md_flags"]))
    m = auth_override if auth_override is not None else mac(secret, their["challenge"], name)
    pe.send(hdr(T_AUTH, 32) + m)
    if auth_override is not None:
        return their
    _, _, _, a = pe.recv_until([T_AUTH])
    if not hmac.compare_digest(a, mac(secret, mine, their["name"])):
        raise Fail("the secondary's AUTH does not verify")
    pe.send(hdr(T_AUTH_OK, 0))
    pe.recv_until([T_AUTH_OK])
    return their


def expect_ack(pe, seq, what):
    ptype, _, s, p = pe.recv_until([T_ACK_WRITE, T_NACK, T_ACK_RECV])
    if ptype != T_ACK_WRITE or s != seq:
        raise Fail("%s: got type 0x%02x seq %d %s, want ACK_WRITE seq %d"
                   % (what, ptype, s, p.hex(), seq))


def client_case(host, port, case, secret):
    """Run CASE; return a short outcome string or raise Fail."""
    pe = connect(host, port)
    try:
        if case == "garbage":
            pe.recv_until([T_HELLO])
            junk = bytearray(os.urandom(256))
            junk[0:4] = b"\x00GAR"		# never the magic
            pe.send(bytes(junk))
            pe.expect_close()
            return "closed"
        if case == "bad-magic":
            pe.recv_until([T_HELLO])
            pe.send(hdr(T_HELLO, HELLO_LEN, magic=0xDEADBEEF) + bytes(HELLO_LEN))
            pe.expect_close()
            return "closed"
        if case == "huge-length":
            pe.recv_until([T_HELLO])
            pe.send(hdr(T_HELLO, 0x7FFFFFF0) + bytes(4096))
            pe.expect_close()
            return "closed"
        if case == "huge-data":
            pe.recv_until([T_HELLO])
            pe.send(hdr(T_DATA, 0xFFFFFFFF, seq=1) + bytes(4096))
            pe.expect_close()
            return "closed"
        if case == "mid-header":
            pe.recv_until([T_HELLO])
            pe.send(hdr(T_HELLO, HELLO_LEN)[:10])
            return "we closed mid-header"
        if case == "mid-packet":
            pe.recv_until([T_HELLO])
            pe.send(hdr(T_HELLO, HELLO_LEN) + bytes(100))
            return "we closed mid-packet"
        if case == "silent":
            # say nothing: the handshake must time out (config timeout)
            pe.recv_until([T_HELLO])
            pe.expect_close(timeout=15)
            return "closed"
        if case == "intruder":
            # a wrong AUTH; only the close is judged (REFUSE: see bad-auth)
            handshake_as_primary(pe, secret, auth_override=bytes(32))
            pe.expect_close()
            return "closed"
        if case == "bad-auth":
            handshake_as_primary(pe, secret, auth_override=bytes(32))
            refuse = pe.expect_close()
            if refuse is None or refuse[0] != EACCES:
                raise Fail("want REFUSE with errno EACCES (13) before the close, got %r" % (refuse,))
            return "refused: errno %d %r" % refuse
        if case == "data-before-auth":
            _, _, _, p = pe.recv_until([T_HELLO])
            their = parse_hello(p)
            pe.send(hdr(T_HELLO, HELLO_LEN) + hello_payload(
                0, their["data_size"], 2, "alpha", their["resource"], os.urandom(32)))
            pe.send(data_packet(1, 0, b"\xff" * 4096))	# instead of AUTH
            pe.expect_close()
            return "closed"
        # the remaining cases authenticate first (the fake knows the secret)
        their = handshake_as_primary(pe, secret)
        size = their["data_size"]
        if case == "valid":
            # positive control: the fake's handshake and DATA are right
            pe.send(data_packet(1, 8 * MiB, b"\x11" * 4096))
            expect_ack(pe, 1, "DATA(8 MiB, 4096)")
            pe.send(data_packet(2, 8 * MiB + 4096, b"\x22" * 4096, flags=F_CHECKSUM,
                                crc=crc32c(b"\x22" * 4096)))
            expect_ack(pe, 2, "DATA(8 MiB + 4096, 4096, crc32c)")
            pe.send(hdr(T_FLUSH, 0, seq=3))
            expect_ack(pe, 3, "FLUSH")
            return "DATA, DATA+crc32c and FLUSH acked"
        if case == "auth-garbage":
            pe.send(os.urandom(300))
            pe.expect_close()
            return "closed"
        if case == "past-end":
            # DATA ending 2048 bytes beyond the data area (in the metadata)
            pe.send(data_packet(1, size - 2048, b"\x33" * 4096))
        elif case == "bad-crc":
            pe.send(data_packet(1, 0, b"\x44" * 4096, flags=F_CHECKSUM,
                                crc=crc32c(b"\x44" * 4096) ^ 1))
        elif case == "crc-without-flag":
            pe.send(data_packet(1, 0, b"\x45" * 4096, crc=0x12345678))
        elif case == "bad-lz4":
            # COMPRESSED: a "block" that is not lz4 and does not shrink much
            junk = os.urandom(1000)
            pe.send(data_packet(1, 4 * MiB, junk, flags=F_COMPRESSED,
                                raw_len=4096, wire_len=len(junk)))
        elif case == "wire-len-mismatch":
            pe.send(data_packet(1, 4 * MiB, b"\x55" * 4096, wire_len=4000))
        elif case == "raw-len-huge":
            pe.send(data_packet(1, 0, b"", raw_len=64 * MiB, wire_len=64 * MiB,
                                length=24 + 64 * MiB) + b"\x66" * 8192)
        elif case == "zero-length":
            pe.send(data_packet(1, 4 * MiB, b""))
        elif case == "unknown-type":
            pe.send(hdr(0x7E, 8, seq=1) + bytes(8))
        elif case == "reserved":
            pe.send(hdr(T_FLUSH, 0, seq=1, reserved=1))
        elif case == "bad-flag":
            pe.send(hdr(T_FLUSH, 0, seq=1, flags=F_FUA))
        elif case == "ack-to-secondary":
            pe.send(hdr(T_ACK_WRITE, 0, seq=1))
        elif case == "trim-past-end":
            pe.send(hdr(T_TRIM, 16, seq=1) + struct.pack(">QQ", size - 4096, 8192))
        elif case == "truncated-data":
            pkt = data_packet(1, 12 * MiB, b"\x77" * 65536)
            pe.send(pkt[:24 + 24 + 1000])
            return "we closed mid-DATA"
        else:
            raise Fail("unknown case " + case)
        # malformed: repd must close the connection and never ack
        seen = []
        for _ in range(100):
            try:
                ptype, _, seq, p = pe.recv_until(None)
            except Closed:
                return "closed" + (" after " + ", ".join(seen) if seen else "")
            except socket.timeout:
                raise Fail("repd kept the connection open for %.0f s after the "
                           "malformed packet%s" % (IO_TIMEOUT, " (it sent " +
                           ", ".join(seen) + ")" if seen else ""))
            if ptype in (T_ACK_WRITE, T_ACK_RECV):
                raise Fail("repd acknowledged the malformed packet (type 0x%02x seq %d)" % (ptype, seq))
            if ptype == T_NACK and len(p) == 4:
                seen.append("NACK seq %d errno %d" % (seq, struct.unpack(">I", p)[0]))
            elif ptype == T_REFUSE and len(p) >= 4:
                seen.append("REFUSE errno %d %r" % (struct.unpack(">I", p[:4])[0],
                                                    p[4:].decode("ascii", "replace")))
            else:
                seen.append("type 0x%02x" % ptype)
        raise Fail("too many packets")
    finally:
        pe.close()


def cmd_client(host, port, case, secret):
    try:
        out = client_case(host, port, case, secret)
    except Fail as e:
        print("%s: FAIL: %s" % (case, e))
        return 1
    except Closed as e:
        print("%s: FAIL: repd closed the connection too early: %s" % (case, e))
        return 1
    except socket.timeout as e:
        print("%s: FAIL: timeout: %s" % (case, e))
        return 1
    print("%s: %s" % (case, out))
    return 0


# ------------------------------------------------------------------ server

SERVER_CASES = ["garbage", "bad-magic", "huge-length", "mid-packet",
                "bad-auth", "bogus-ack"]


def finish_as_secondary(pe, secret, their, mine):
    """AUTH and AUTH_OK, both ways, after both HELLOs."""
    pe.send(hdr(T_AUTH, 32) + mac(secret, their["challenge"], "beta"))
    _, _, _, a = pe.recv_until([T_AUTH])
    if not hmac.compare_digest(a, mac(secret, mine, their["name"])):
        raise Fail("the primary's AUTH does not verify")
    pe.send(hdr(T_AUTH_OK, 0))
    pe.recv_until([T_AUTH_OK])


def handshake_as_secondary(pe, secret):
    _, _, _, p = pe.recv_until([T_HELLO])
    their = parse_hello(p)
    mine = os.urandom(32)
    pe.send(hdr(T_HELLO, HELLO_LEN) + hello_payload(
        1, their["data_size"], 1, "beta", their["resource"], mine,
        features=their["features"], md_flags=their["md_flags"]))
    finish_as_secondary(pe, secret, their, mine)
    return their


def server_case(pe, case, secret):
    _, _, _, p = pe.recv_until([T_HELLO])
    their = parse_hello(p)
    if case == "garbage":
        pe.send(b"\x00GAR" + os.urandom(252))
        pe.expect_close()
        return "closed"
    if case == "bad-magic":
        pe.send(hdr(T_HELLO, HELLO_LEN, magic=0x0BADF00D) + bytes(HELLO_LEN))
        pe.expect_close()
        return "closed"
    if case == "huge-length":
        pe.send(hdr(T_HELLO, 0xFFFFFF00))
        pe.expect_close()
        return "closed"
    if case == "mid-packet":
        pe.send(hdr(T_HELLO, HELLO_LEN) + bytes(50))
        return "we closed mid-packet"
    mine = os.urandom(32)
    pe.send(hdr(T_HELLO, HELLO_LEN) + hello_payload(
        1, their["data_size"], 1, "beta", their["resource"], mine,
        md_flags=their["md_flags"]))
    if case == "bad-auth":
        pe.send(hdr(T_AUTH, 32) + bytes(32))
        refuse = pe.expect_close()
        if refuse is None or refuse[0] != EACCES:
            raise Fail("want REFUSE with errno EACCES (13), got %r" % (refuse,))
        return "refused: errno %d %r" % refuse
    if case == "bogus-ack":
        finish_as_secondary(pe, secret, their, mine)
        # an ACK_WRITE for a request never sent: a protocol error
        pe.send(hdr(T_ACK_WRITE, 0, seq=0xFFFFFFFF00))
        pe.expect_close()
        return "closed after a handshake"
    raise Fail("unknown case " + case)


def cmd_server(host, port, seconds, secret, outfile):
    ls = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    ls.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    ls.bind((host, int(port)))
    ls.listen(4)
    deadline = time.monotonic() + float(seconds)
    results = []
    for n in range(1000):
        left = deadline - time.monotonic()
        if left <= 0:
            break
        ls.settimeout(left)
        try:
            s, _ = ls.accept()
        except socket.timeout:
            break
        case = SERVER_CASES[n % len(SERVER_CASES)]
        pe = Peer(s)
        t0 = time.time()
        try:
            out = server_case(pe, case, secret)
            ok = True
        except (Fail, Closed, socket.timeout) as e:
            out, ok = "%s: %s" % (type(e).__name__, e), False
        finally:
            pe.close()
        results.append({"case": case, "ok": ok, "outcome": out, "time": t0})
        print("connection %d: %s: %s%s" % (n + 1, case, "" if ok else "FAIL: ", out),
              flush=True)
    ls.close()
    with open(outfile, "w") as f:
        json.dump(results, f)
    return 0


# ------------------------------------------------------------------ hold

def cmd_hold(host, port, secret, hold, holdfile, seconds, outfile):
    """A well-behaved secondary that answers slowly once the file HOLDFILE
    exists (before, at once: the initial resync goes by quickly): for
    DATA, TRIM and WRITE_ZEROES it sends ACK_RECV (when asked) HOLD
    seconds after the packet arrived and ACK_WRITE 2 * HOLD seconds
    after; FLUSH is acked after HOLD; PING at once.  Records every
    request that arrived while holding, with its arrival time
    (time.time()), in OUTFILE (JSON) when the primary closes."""
    import hashlib as _h
    import select
    hold, seconds = float(hold), float(seconds)
    ls = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    ls.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    ls.bind((host, int(port)))
    ls.listen(1)
    ls.settimeout(seconds)
    s, _ = ls.accept()
    ls.close()
    pe = Peer(s)
    their = handshake_as_secondary(pe, secret)
    names = {T_DATA: "DATA", T_TRIM: "TRIM", T_ZEROES: "WRITE_ZEROES", T_FLUSH: "FLUSH"}
    log = {"connected": time.time(), "features": their["features"], "requests": []}
    events = []		# (due, bytes)
    buf = bytearray()
    deadline = time.monotonic() + seconds
    s.setblocking(False)
    closed = False
    while not closed and time.monotonic() < deadline:
        now = time.monotonic()
        due = [e for e in events if e[0] <= now]
        events = [e for e in events if e[0] > now]
        for _, b in sorted(due, key=lambda e: e[0]):
            s.setblocking(True)
            pe.send(b)
            s.setblocking(False)
        wait = min([e[0] for e in events] + [deadline]) - time.monotonic()
        r, _, _ = select.select([s], [], [], max(0.0, min(wait, 0.05)))
        if r:
            try:
                chunk = s.recv(1 << 20)
            except BlockingIOError:
                chunk = None
            except ConnectionResetError:
                chunk = b""
            if chunk == b"":
                closed = True
            elif chunk:
                buf += chunk
        while len(buf) >= HDR.size:
            magic, ptype, flags, length, reserved, seq = HDR.unpack_from(buf)
            if magic != MAGIC or reserved:
                raise Fail("primary sent a malformed header: %s" % bytes(buf[:24]).hex(" "))
            if len(buf) < HDR.size + length:
                break
            p = bytes(buf[HDR.size:HDR.size + length])
            del buf[:HDR.size + length]
            t = time.time()
            now = time.monotonic()
            if ptype == T_PING:
                events.append((now, hdr(T_PONG, 8, seq) + p))
                continue
            if ptype == T_PONG:
                continue
            if ptype in (0x41, 0x43, 0x44):	# RS_DATA, BITMAP, STATE
                log.setdefault("other", []).append({"type": ptype, "seq": seq, "t": t})
                if ptype == 0x41:		# resync data: acked at once
                    events.append((now, hdr(T_ACK_WRITE, 0, seq)))
                continue
            if ptype not in names:
                raise Fail("primary sent unexpected type 0x%02x" % ptype)
            if not os.path.exists(holdfile):
                if ptype != T_FLUSH and flags & 0x20:
                    events.append((now, hdr(T_ACK_RECV, 0, seq)))
                events.append((now, hdr(T_ACK_WRITE, 0, seq)))
                log["before_hold"] = log.get("before_hold", 0) + 1
                continue
            rec = {"type": names[ptype], "seq": seq, "flags": flags, "t": t}
            if ptype == T_DATA:
                off, raw_len, wire_len, crc, _ = struct.unpack_from(">QIIII", p)
                rec.update(off=off, len=raw_len, wire_len=wire_len)
                if not flags & F_COMPRESSED:
                    rec["sha256"] = _h.sha256(p[24:]).hexdigest()
            elif ptype in (T_TRIM, T_ZEROES):
                rec["off"], rec["len"] = struct.unpack(">QQ", p)
            log["requests"].append(rec)
            if ptype == T_FLUSH:
                events.append((now + hold, hdr(T_ACK_WRITE, 0, seq)))
                continue
            if flags & 0x20:	# RECV_ACK
                events.append((now + hold, hdr(T_ACK_RECV, 0, seq)))
            events.append((now + 2 * hold, hdr(T_ACK_WRITE, 0, seq)))
    pe.close()
    log["closed"] = time.time()
    with open(outfile, "w") as f:
        json.dump(log, f, indent=1)
    return 0


# ------------------------------------------------------------ late-bitmap

T_RS_DATA, T_BITMAP, T_STATE = 0x41, 0x43, 0x44
F_LAST = 0x10
MD_FLAG_RESYNC_IN_PROGRESS = 1 << 5
REPL_OFF = 1
LATE_BIT = 16			# granule 16: 64 KiB, written on conn 1


def late_bitmap_hello(pe, secret, md_flags=None):
    """Handshake as secondary, with the primary's generation UUIDs (its
    HELLO's, offsets 32 to 63) and md_flags (default: the primary's)."""
    _, _, _, p = pe.recv_until([T_HELLO])
    their = parse_hello(p)
    mine = os.urandom(32)
    flags = their["md_flags"] if md_flags is None else md_flags
    h = bytearray(hello_payload(1, their["data_size"], 1, "beta",
                                their["resource"], mine,
                                features=their["features"], md_flags=flags))
    h[32:64] = p[32:64]
    pe.send(hdr(T_HELLO, HELLO_LEN) + bytes(h))
    finish_as_secondary(pe, secret, their, mine)
    return their


def late_bitmap_serve(pe, until, on_packet):
    """Answer requests at once until until() or the primary closes;
    on_packet(type, seq, payload) sees every request first."""
    for _ in range(1000000):
        if until():
            return
        try:
            ptype, flags, seq, p = pe.recv_packet(0.1)
        except socket.timeout:
            continue
        on_packet(ptype, seq, p)
        if ptype == T_PING:
            pe.send(hdr(T_PONG, 8, seq) + p)
        elif ptype in (T_DATA, T_RS_DATA, T_TRIM, T_ZEROES, T_FLUSH):
            pe.send(hdr(T_ACK_WRITE, 0, seq))
        elif ptype not in (T_PONG, T_STATE):
            raise Fail("primary sent unexpected type 0x%02x" % ptype)
    raise Fail("too many packets")


def write_range(ptype, p):
    """(offset, length) of a DATA/RS_DATA/TRIM/WRITE_ZEROES payload"""
    if ptype in (T_DATA, T_RS_DATA):
        off, raw_len = struct.unpack_from(">QI", p)
        return off, raw_len
    return struct.unpack_from(">QQ", p)


def cmd_late_bitmap(host, port, secret, drop_mib, hold, seconds, outfile):
    drop, hold, seconds = int(drop_mib) * MiB, float(hold), float(seconds)
    deadline = time.monotonic() + seconds
    out = {"conn1_bytes": 0, "events": [], "ok": False}
    ls = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    ls.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    ls.bind((host, int(port)))
    ls.listen(1)

    def accept():
        ls.settimeout(max(0.1, deadline - time.monotonic()))
        s, _ = ls.accept()
        s.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        return Peer(s)

    def conn1_packet(ptype, seq, p):
        if ptype in (T_RS_DATA, T_ZEROES):
            out["conn1_bytes"] += write_range(ptype, p)[1]

    try:
        # the first connection: a full resync starts; dropped mid-way
        pe = accept()
        late_bitmap_hello(pe, secret)
        late_bitmap_serve(pe, lambda: out["conn1_bytes"] >= drop or
                          time.monotonic() > deadline, conn1_packet)
        pe.close()
        print("conn 1: closed after %d bytes of resync data"
              % out["conn1_bytes"], flush=True)
        # the second: an interrupted resync; the BITMAP comes late
        pe = accept()
        late_bitmap_hello(pe, secret, md_flags=MD_FLAG_RESYNC_IN_PROGRESS)
        t0 = time.monotonic()
        print("conn 2: holding the BITMAP for %.1f s" % hold, flush=True)
        ev = out["events"]
        state = {"last": False, "done": False}

        def conn2_packet(ptype, seq, p):
            if ptype == T_STATE:
                role, disk, repl = struct.unpack_from(">III", p)
                ev.append({"t": time.monotonic() - t0, "state": repl,
                           "seq": seq})
                if repl == REPL_OFF and seq and state["last"]:
                    state["done"] = True
            elif ptype in (T_DATA, T_RS_DATA, T_TRIM, T_ZEROES):
                off, length = write_range(ptype, p)
                ev.append({"t": time.monotonic() - t0, "write": [off, length]})
            elif ptype == T_FLUSH:
                ev.append({"t": time.monotonic() - t0, "flush": seq})

        late_bitmap_serve(pe, lambda: time.monotonic() - t0 >= hold or
                          time.monotonic() > deadline, conn2_packet)
        bits = bytearray(8)
        bits[LATE_BIT // 8] |= 1 << (LATE_BIT % 8)
        pe.send(hdr(T_BITMAP, 16 + len(bits), flags=F_LAST) +
                struct.pack(">QII", 0, 4096, 0) + bytes(bits))
        state["last"] = True
        ev.append({"t": time.monotonic() - t0, "bitmap_last": LATE_BIT})
        print("conn 2: BITMAP sent (LAST, granule %d)" % LATE_BIT, flush=True)
        late_bitmap_serve(pe, lambda: state["done"] or
                          time.monotonic() > deadline, conn2_packet)
        out["ok"] = state["done"]
        print("conn 2: %s" % ("resync ended" if state["done"] else
                              "no end of the resync within %.0f s" % seconds),
              flush=True)
        pe.close()
    except (Fail, Closed, socket.timeout) as e:
        out["error"] = "%s: %s" % (type(e).__name__, e)
        print("FAIL: " + out["error"], flush=True)
    ls.close()
    with open(outfile, "w") as f:
        json.dump(out, f, indent=1)
    return 0 if out["ok"] else 1


if __name__ == "__main__":
    if len(sys.argv) == 9 and sys.argv[1] == "late-bitmap":
        sys.exit(cmd_late_bitmap(*sys.argv[2:]))
    if len(sys.argv) == 9 and sys.argv[1] == "hold":
        sys.exit(cmd_hold(*sys.argv[2:]))
    if len(sys.argv) == 6 and sys.argv[1] == "client":
        sys.exit(cmd_client(*sys.argv[2:]))
    if len(sys.argv) == 7 and sys.argv[1] == "server":
        sys.exit(cmd_server(*sys.argv[2:]))
    print(__doc__, file=sys.stderr)
    sys.exit(2)
