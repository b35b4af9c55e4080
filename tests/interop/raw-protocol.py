#!/usr/bin/python3
"""raw-protocol.py: NBD protocol edge cases, raw bytes on a TCP socket.

  raw-protocol.py --port PORT --size BYTES [--host H] [--export NAME]
                  [--pid PID] [--only SUBSTRING]

Runs every case_* function in order and prints "NAME: PASS" or
"NAME: FAIL: why".  After every case a separate, fresh connection must
negotiate and READ offset 0 and see the sentinel written at start-up (the
server still serves, and no case scribbled over it).  With --pid, the
server process must still be running at the end.  Exit status: 0 if every
case passed, 1 otherwise.  Standard library only.

Expectations are repd's, stricter than the NBD spec in a few places:
exact transmission flags (0x0d6d, 0x0ded with structured replies), block
sizes 1/4096/32 MiB, ERR_POLICY for STARTTLS, ENOSPC for WRITE and
WRITE_ZEROES past the end, EINVAL above 32 MiB, bad request magic closes
the connection, DISC still answers requests sent before it.
"""

import argparse
import os
import random
import socket
import struct
import sys
import threading
import time
import traceback

NBDMAGIC = 0x4E42444D41474943
IHAVEOPT = 0x49484156454F5054
REP_MAGIC = 0x0003E889045565A9
REQ_MAGIC = 0x25609513
SIMPLE_MAGIC = 0x67446698
STRUCT_MAGIC = 0x668E33EF

FLAG_FIXED_NEWSTYLE = 1 << 0
FLAG_NO_ZEROES = 1 << 1

OPT_EXPORT_NAME = 1
OPT_ABORT = 2
OPT_LIST = 3
OPT_STARTTLS = 5
OPT_INFO = 6
OPT_GO = 7
OPT_STRUCTURED_REPLY = 8
OPT_LIST_META_CONTEXT = 9
OPT_SET_META_CONTEXT = 10
OPT_UNKNOWN = 0x7654321

REP_ACK = 1
REP_SERVER = 2
REP_INFO = 3
REP_META_CONTEXT = 4
REP_ERR = 1 << 31
REP_ERR_UNSUP = REP_ERR | 1
REP_ERR_POLICY = REP_ERR | 2
REP_ERR_INVALID = REP_ERR | 3
REP_ERR_UNKNOWN = REP_ERR | 6
REP_NAMES = {REP_ACK: "ACK", REP_SERVER: "SERVER", REP_INFO: "INFO",
             REP_META_CONTEXT: "META_CONTEXT", REP_ERR_UNSUP: "ERR_UNSUP",
             REP_ERR_POLICY: "ERR_POLICY", REP_ERR_INVALID: "ERR_INVALID",
             REP_ERR | 4: "ERR_PLATFORM", REP_ERR | 5: "ERR_TLS_REQD",
             REP_ERR_UNKNOWN: "ERR_UNKNOWN", REP_ERR | 7: "ERR_SHUTDOWN",
             REP_ERR | 8: "ERR_BLOCK_SIZE_REQD", REP_ERR | 9: "ERR_TOO_BIG"}

INFO_EXPORT = 0
INFO_BLOCK_SIZE = 3

TF_HAS_FLAGS = 1 << 0
TF_SEND_FLUSH = 1 << 2
TF_SEND_FUA = 1 << 3
TF_SEND_TRIM = 1 << 5
TF_SEND_WRITE_ZEROES = 1 << 6
TF_SEND_DF = 1 << 7
TF_CAN_MULTI_CONN = 1 << 8
TF_SEND_CACHE = 1 << 10
TF_SEND_FAST_ZERO = 1 << 11
TFLAGS_NO_SR = (TF_HAS_FLAGS | TF_SEND_FLUSH | TF_SEND_FUA | TF_SEND_TRIM |
                TF_SEND_WRITE_ZEROES | TF_CAN_MULTI_CONN | TF_SEND_CACHE |
                TF_SEND_FAST_ZERO)                      # 0x0d6d
TFLAGS_SR = TFLAGS_NO_SR | TF_SEND_DF                   # 0x0ded

CMD_READ = 0
CMD_WRITE = 1
CMD_DISC = 2
CMD_FLUSH = 3
CMD_TRIM = 4
CMD_CACHE = 5
CMD_WRITE_ZEROES = 6
CMD_BLOCK_STATUS = 7
CMD_NAMES = {0: "READ", 1: "WRITE", 2: "DISC", 3: "FLUSH", 4: "TRIM",
             5: "CACHE", 6: "WRITE_ZEROES", 7: "BLOCK_STATUS"}

CMD_FLAG_FUA = 1 << 0
CMD_FLAG_NO_HOLE = 1 << 1
CMD_FLAG_DF = 1 << 2
CMD_FLAG_REQ_ONE = 1 << 3
CMD_FLAG_FAST_ZERO = 1 << 4

CHUNK_NONE = 0
CHUNK_OFFSET_DATA = 1
CHUNK_OFFSET_HOLE = 2
CHUNK_BLOCK_STATUS = 5
CHUNK_ERROR = (1 << 15) | 1
CHUNK_ERROR_OFFSET = (1 << 15) | 2
REPLY_FLAG_DONE = 1

EINVAL = 22
ENOSPC = 28
ENOTSUP = 95
ERRNO_NAMES = {0: "OK", 1: "EPERM", 5: "EIO", 12: "ENOMEM", 22: "EINVAL",
               28: "ENOSPC", 75: "EOVERFLOW", 95: "ENOTSUP", 108: "ESHUTDOWN"}

MiB = 1 << 20
MAX_PAYLOAD = 32 * MiB
SENTINEL = (b"repd-raw-protocol-sentinel-0000" + b"\n") * 128     # 4096 bytes

ARGS = None


class Fail(Exception):
    """The server did something it must not."""


class Closed(Fail):
    """The server closed the connection."""


def expect(cond, msg):
    if not cond:
        raise Fail(msg)


def rep_name(t):
    return REP_NAMES.get(t, "0x%x" % t)


def err_name(e):
    return ERRNO_NAMES.get(e, str(e))


class Reply:
    def __init__(self, cookie, typ):
        self.cookie = cookie
        self.typ = typ
        self.err = 0
        self.data = None
        self.simple = False
        self.pieces = []        # (offset, bytes) from OFFSET_DATA / OFFSET_HOLE
        self.ncontent = 0       # number of content chunks
        self.extents = []       # (context id, [(length, flags), ...])


class Conn:
    """One client connection.  Every receive is bounded by a timeout."""

    def __init__(self, timeout=5.0):
        self.s = socket.create_connection((ARGS.host, ARGS.port), timeout=timeout)
        self.s.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        self.sr = False
        self.ctx = None
        self.pending = {}       # cookie -> (type, offset, length)
        self.partial = {}       # cookie -> Reply being assembled
        self.next_cookie = 1
        self.size = None
        self.tflags = None
        self.info = {}

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()

    def close(self):
        try:
            self.s.close()
        except OSError:
            pass

    def send(self, b):
        try:
            self.s.sendall(b)
        except (BrokenPipeError, ConnectionResetError) as e:
            raise Closed("connection closed by the server while sending (%s)" % e)

    def recvn(self, n):
        buf = bytearray()
        while len(buf) < n:
            try:
                d = self.s.recv(min(n - len(buf), MiB))
            except ConnectionResetError:
                raise Closed("connection reset after %d of %d bytes" % (len(buf), n))
            except socket.timeout:
                raise Fail("timed out waiting for %d bytes (got %d)" % (n, len(buf)))
            if not d:
                raise Closed("connection closed after %d of %d bytes" % (len(buf), n))
            buf += d
        return bytes(buf)

    def expect_closed(self, what, timeout=5.0):
        self.s.settimeout(timeout)
        try:
            d = self.s.recv(4096)
        except ConnectionResetError:
            return
        except socket.timeout:
            raise Fail("%s: connection still open after %.0f s, want it closed" % (what, timeout))
        if d:
            raise Fail("%s: got %d bytes (%s...), want the connection closed"
                       % (what, len(d), d[:24].hex()))

    # ---- handshake

    def greet(self, cflags=FLAG_FIXED_NEWSTYLE | FLAG_NO_ZEROES):
        magic, ihave, hflags = struct.unpack(">QQH", self.recvn(18))
        expect(magic == NBDMAGIC, "greeting magic 0x%x, want NBDMAGIC" % magic)
        expect(ihave == IHAVEOPT, "greeting 0x%x, want IHAVEOPT (fixed newstyle)" % ihave)
        self.hflags = hflags
        if cflags is not None:
            self.send(struct.pack(">I", cflags))
            self.no_zeroes = bool(cflags & hflags & FLAG_NO_ZEROES)
        return hflags

    def opt(self, opt, data=b"", length=None, magic=IHAVEOPT):
        n = len(data) if length is None else length
        self.send(struct.pack(">QII", magic, opt, n) + data)

    def opt_reply(self):
        magic, opt, typ, n = struct.unpack(">QIII", self.recvn(20))
        expect(magic == REP_MAGIC, "option reply magic 0x%x" % magic)
        expect(n <= 1 << 20, "option reply length %d" % n)
        return opt, typ, self.recvn(n)

    def opt_expect(self, opt, typ, what):
        o, t, d = self.opt_reply()
        expect(o == opt, "%s: reply for option %d, want %d" % (what, o, opt))
        expect(t == typ, "%s: reply %s, want %s" % (what, rep_name(t), rep_name(typ)))
        return d

    def structured(self):
        self.opt(OPT_STRUCTURED_REPLY)
        self.opt_expect(OPT_STRUCTURED_REPLY, REP_ACK, "STRUCTURED_REPLY")
        self.sr = True

    def set_meta(self, name=None):
        nb = (ARGS.export if name is None else name).encode()
        q = b"base:allocation"
        self.opt(OPT_SET_META_CONTEXT, struct.pack(">I", len(nb)) + nb +
                 struct.pack(">II", 1, len(q)) + q)
        ctxs = {}
        for _ in range(100):
            o, t, d = self.opt_reply()
            expect(o == OPT_SET_META_CONTEXT, "SET_META_CONTEXT: reply for option %d" % o)
            if t == REP_ACK:
                break
            expect(t == REP_META_CONTEXT, "SET_META_CONTEXT: reply %s" % rep_name(t))
            ctxs[d[4:].decode()] = struct.unpack(">I", d[:4])[0]
        expect(list(ctxs) == ["base:allocation"],
               "SET_META_CONTEXT base:allocation selected %r" % list(ctxs))
        self.ctx = ctxs["base:allocation"]

    def go_data(self, name, infos=(INFO_BLOCK_SIZE,)):
        nb = name.encode()
        return (struct.pack(">I", len(nb)) + nb + struct.pack(">H", len(infos)) +
                b"".join(struct.pack(">H", i) for i in infos))

    def info_replies(self, opt, what):
        """Read INFO replies up to ACK; return {info type: payload}."""
        info = {}
        for _ in range(100):
            o, t, d = self.opt_reply()
            expect(o == opt, "%s: reply for option %d, want %d" % (what, o, opt))
            if t == REP_ACK:
                break
            expect(t == REP_INFO, "%s: reply %s, want INFO or ACK" % (what, rep_name(t)))
            expect(len(d) >= 2, "%s: INFO reply of %d bytes" % (what, len(d)))
            info[struct.unpack(">H", d[:2])[0]] = d[2:]
        else:
            raise Fail("%s: no ACK after 100 replies" % what)
        expect(INFO_EXPORT in info, "%s: no INFO_EXPORT before ACK" % what)
        expect(len(info[INFO_EXPORT]) == 10,
               "%s: INFO_EXPORT length %d, want 12" % (what, len(info[INFO_EXPORT]) + 2))
        return info

    def go(self, name=None, sr=False, meta=False):
        """Negotiate into transmission: [STRUCTURED_REPLY], [SET_META], GO."""
        name = ARGS.export if name is None else name
        if sr:
            self.structured()
        if meta:
            self.set_meta(name)
        self.opt(OPT_GO, self.go_data(name))
        self.info = self.info_replies(OPT_GO, "GO")
        self.size, self.tflags = struct.unpack(">QH", self.info[INFO_EXPORT])
        return self

    # ---- transmission

    def request(self, typ, off=0, length=0, flags=0, payload=b"", cookie=None,
                magic=REQ_MAGIC):
        if cookie is None:
            cookie = self.next_cookie
            self.next_cookie += 1
        self.pending[cookie] = (typ, off, length)
        self.send(struct.pack(">IHHQQI", magic, flags, typ, cookie,
                              off & (2**64 - 1), length) + payload)
        return cookie

    def reply(self):
        """Read until one request is complete; return its Reply."""
        while True:
            magic = struct.unpack(">I", self.recvn(4))[0]
            if magic == SIMPLE_MAGIC:
                err, cookie = struct.unpack(">IQ", self.recvn(12))
                expect(cookie in self.pending, "simple reply for unknown cookie 0x%x" % cookie)
                expect(cookie not in self.partial,
                       "simple reply for cookie 0x%x after structured chunks" % cookie)
                typ, off, length = self.pending.pop(cookie)
                r = Reply(cookie, typ)
                r.simple = True
                r.err = err
                if typ == CMD_READ:
                    expect(not self.sr, "simple reply to READ although structured "
                           "replies were negotiated")
                    if err == 0:
                        r.data = self.recvn(length)
                return r
            if magic != STRUCT_MAGIC:
                raise Fail("reply magic 0x%08x" % magic)
            expect(self.sr, "structured reply chunk, but structured replies were not negotiated")
            flags, ctype, cookie, n = struct.unpack(">HHQI", self.recvn(16))
            expect(cookie in self.pending, "chunk for unknown cookie 0x%x" % cookie)
            expect(n <= MAX_PAYLOAD + 64, "chunk length %d" % n)
            p = self.recvn(n)
            typ, off, length = self.pending[cookie]
            r = self.partial.setdefault(cookie, Reply(cookie, typ))
            if ctype == CHUNK_NONE:
                expect(n == 0, "NONE chunk with length %d" % n)
                expect(flags & REPLY_FLAG_DONE, "NONE chunk without DONE")
            elif ctype in (CHUNK_OFFSET_DATA, CHUNK_OFFSET_HOLE):
                expect(typ == CMD_READ, "content chunk for %s" % CMD_NAMES.get(typ, typ))
                o = struct.unpack(">Q", p[:8])[0]
                if ctype == CHUNK_OFFSET_DATA:
                    data = p[8:]
                else:
                    expect(n == 12, "OFFSET_HOLE chunk length %d" % n)
                    data = bytes(struct.unpack(">I", p[8:12])[0])
                expect(len(data) > 0, "empty content chunk")
                expect(off <= o and o + len(data) <= off + length,
                       "content [%d,+%d) outside the request [%d,+%d)"
                       % (o, len(data), off, length))
                r.pieces.append((o, data))
                r.ncontent += 1
            elif ctype == CHUNK_BLOCK_STATUS:
                expect(typ == CMD_BLOCK_STATUS, "BLOCK_STATUS chunk for %s" % typ)
                expect(n >= 12 and (n - 4) % 8 == 0, "BLOCK_STATUS chunk length %d" % n)
                cid = struct.unpack(">I", p[:4])[0]
                ext = [struct.unpack(">II", p[i:i + 8]) for i in range(4, n, 8)]
                r.extents.append((cid, ext))
            elif ctype in (CHUNK_ERROR, CHUNK_ERROR_OFFSET):
                err, mlen = struct.unpack(">IH", p[:6])
                expect(err != 0, "error chunk with error 0")
                expect(6 + mlen + (8 if ctype == CHUNK_ERROR_OFFSET else 0) == n,
                       "error chunk: message length %d in a %d byte chunk" % (mlen, n))
                r.err = r.err or err
            else:
                raise Fail("unknown chunk type 0x%x" % ctype)
            if flags & REPLY_FLAG_DONE:
                del self.pending[cookie]
                del self.partial[cookie]
                if typ == CMD_READ and r.err == 0:
                    r.data = assemble(r.pieces, off, length)
                return r

    def cmd(self, typ, off=0, length=0, flags=0, payload=b""):
        c = self.request(typ, off, length, flags, payload)
        r = self.reply()
        expect(r.cookie == c, "reply cookie 0x%x, want 0x%x" % (r.cookie, c))
        return r

    def ok(self, typ, off=0, length=0, flags=0, payload=b""):
        r = self.cmd(typ, off, length, flags, payload)
        expect(r.err == 0, "%s(%d, %d, flags 0x%x): %s, want success"
               % (CMD_NAMES.get(typ, typ), off, length, flags, err_name(r.err)))
        return r

    def err(self, want, typ, off=0, length=0, flags=0, payload=b""):
        r = self.cmd(typ, off, length, flags, payload)
        what = "%s(%d, %d, flags 0x%x)" % (CMD_NAMES.get(typ, typ), off, length, flags)
        expect(r.err in (want if isinstance(want, tuple) else (want,)),
               "%s: %s, want %s" % (what, err_name(r.err),
                                    " or ".join(err_name(w) for w in
                                                (want if isinstance(want, tuple) else (want,)))))
        expect(r.data is None, "%s: error reply carried data" % what)
        return r

    def read(self, off, length, flags=0):
        return self.ok(CMD_READ, off, length, flags).data

    def in_sync(self):
        """A READ of the sentinel on this connection still works."""
        d = self.read(0, 4096)
        expect(d == SENTINEL, "after the case, offset 0 on the same connection reads %r..."
               % d[:16])


def assemble(pieces, off, length):
    pieces = sorted(pieces)
    pos = off
    out = []
    for o, d in pieces:
        expect(o == pos, "structured read: %s at %d (content chunks must not overlap and "
               "must cover the request)" % ("gap" if o > pos else "overlap", min(o, pos)))
        out.append(d)
        pos += len(d)
    expect(pos == off + length, "structured read covers [%d,%d), want [%d,%d)"
           % (off, pos, off, off + length))
    return b"".join(out)


def connect(sr=False, meta=False, timeout=5.0):
    c = Conn(timeout)
    c.greet()
    c.go(sr=sr, meta=meta)
    return c


def fresh_read():
    """A new connection negotiates and reads the sentinel at offset 0."""
    with Conn() as c:
        c.greet()
        c.go()
        d = c.read(0, 4096)
        expect(d == SENTINEL, "fresh connection: offset 0 reads %r..., want the sentinel"
               % d[:16])
        c.request(CMD_DISC)


def pattern(seed, n):
    return random.Random(seed).randbytes(n)


CASES = []


def case(fn):
    CASES.append(fn)
    return fn


# ------------------------------------------------------------ handshake


@case
def case_greeting_flags():
    with Conn() as c:
        hf = c.greet(cflags=None)
        expect(hf == FLAG_FIXED_NEWSTYLE | FLAG_NO_ZEROES,
               "handshake flags 0x%x, want 0x3 (FIXED_NEWSTYLE|NO_ZEROES)" % hf)


@case
def case_garbage_client_flags():
    # Oldstyle-looking bytes, then all ones: unknown client flags.
    for junk in (b"NBDMAGIC\x00\x00\x42\x02\x81\x86\x12\x53", b"\xff\xff\xff\xff"):
        with Conn() as c:
            c.greet(cflags=None)
            c.send(junk)
            c.expect_closed("client flags %s" % junk[:4].hex())


@case
def case_unknown_client_flags():
    with Conn() as c:
        c.greet(cflags=FLAG_FIXED_NEWSTYLE | FLAG_NO_ZEROES | (1 << 5))
        c.expect_closed("client flag bit 5")


@case
def case_bad_option_magic():
    with Conn() as c:
        c.greet()
        c.opt(OPT_GO, c.go_data(ARGS.export), magic=0x49484156454F5055)
        c.expect_closed("option with magic IHAVEOPU")


@case
def case_unknown_option_then_go():
    with Conn() as c:
        c.greet()
        c.opt(OPT_UNKNOWN, b"some option payload")
        c.opt_expect(OPT_UNKNOWN, REP_ERR_UNSUP, "option 0x7654321")
        c.go()
        c.in_sync()


@case
def case_huge_option_length():
    # 1 GiB declared, 100 KiB sent, then close; for GO and for an unknown
    # option.  The server may close early; it must not crash or hang.
    for opt in (OPT_GO, OPT_UNKNOWN):
        with Conn() as c:
            c.greet()
            try:
                c.opt(opt, b"\0" * (100 * 1024), length=1 << 30)
            except Closed:
                pass


@case
def case_go_name_longer_than_option():
    with Conn() as c:
        c.greet()
        bad = struct.pack(">I", 100) + b"r0" + struct.pack(">H", 0)    # namelen 100 > 8 - 6
        c.opt(OPT_GO, bad)
        c.opt_expect(OPT_GO, REP_ERR_INVALID, "GO with name length 100 in an 8 byte option")
        c.go()                                  # still in sync
        c.in_sync()


@case
def case_go_unknown_export():
    with Conn() as c:
        c.greet()
        c.opt(OPT_GO, c.go_data("no-such-export"))
        c.opt_expect(OPT_GO, REP_ERR_UNKNOWN, "GO no-such-export")
        c.go()
        c.in_sync()


@case
def case_go_default_export():
    with Conn() as c:
        c.greet()
        c.go(name="")
        expect(c.size == ARGS.size, "default export size %d, want %d" % (c.size, ARGS.size))
        c.in_sync()


@case
def case_transmission_flags_and_block_sizes():
    for sr in (False, True):
        with Conn() as c:
            c.greet()
            c.go(sr=sr)
            want = TFLAGS_SR if sr else TFLAGS_NO_SR
            expect(c.size == ARGS.size, "export size %d, want %d" % (c.size, ARGS.size))
            expect(c.tflags == want, "%s structured replies: transmission flags 0x%04x, "
                   "want 0x%04x" % ("with" if sr else "without", c.tflags, want))
            bs = c.info.get(INFO_BLOCK_SIZE)
            expect(bs is not None, "GO asked for INFO_BLOCK_SIZE, none sent")
            expect(struct.unpack(">III", bs) == (1, 4096, MAX_PAYLOAD),
                   "block sizes %r, want (1, 4096, 33554432)" % (struct.unpack(">III", bs),))


@case
def case_info_then_go():
    with Conn() as c:
        c.greet()
        c.opt(OPT_INFO, c.go_data(ARGS.export))
        info = c.info_replies(OPT_INFO, "INFO")
        c.go()
        expect(info[INFO_EXPORT] == c.info[INFO_EXPORT],
               "INFO_EXPORT from INFO %s differs from GO %s"
               % (info[INFO_EXPORT].hex(), c.info[INFO_EXPORT].hex()))
        c.in_sync()


@case
def case_export_name_option():
    for cflags in (FLAG_FIXED_NEWSTYLE | FLAG_NO_ZEROES, FLAG_FIXED_NEWSTYLE):
        with Conn() as c:
            c.greet(cflags=cflags)
            c.opt(OPT_EXPORT_NAME, ARGS.export.encode())
            size, tflags = struct.unpack(">QH", c.recvn(10))
            expect(size == ARGS.size, "EXPORT_NAME: size %d, want %d" % (size, ARGS.size))
            expect(tflags == TFLAGS_NO_SR, "EXPORT_NAME: flags 0x%04x, want 0x%04x"
                   % (tflags, TFLAGS_NO_SR))
            if not cflags & FLAG_NO_ZEROES:
                z = c.recvn(124)
                expect(z == bytes(124), "EXPORT_NAME without NO_ZEROES: padding not zero")
            c.in_sync()     # proves the reply had exactly the right length


@case
def case_export_name_unknown():
    with Conn() as c:
        c.greet()
        c.opt(OPT_EXPORT_NAME, b"no-such-export")
        c.expect_closed("EXPORT_NAME no-such-export")


@case
def case_abort():
    with Conn() as c:
        c.greet()
        c.opt(OPT_ABORT)
        c.opt_expect(OPT_ABORT, REP_ACK, "ABORT")


@case
def case_starttls_policy():
    with Conn() as c:
        c.greet()
        c.opt(OPT_STARTTLS)
        c.opt_expect(OPT_STARTTLS, REP_ERR_POLICY, "STARTTLS without TLS configured")
        c.go()
        c.in_sync()


@case
def case_list():
    with Conn() as c:
        c.greet()
        c.opt(OPT_LIST)
        names = []
        for _ in range(100):
            o, t, d = c.opt_reply()
            expect(o == OPT_LIST, "LIST: reply for option %d" % o)
            if t == REP_ACK:
                break
            expect(t == REP_SERVER, "LIST: reply %s, want SERVER or ACK" % rep_name(t))
            n = struct.unpack(">I", d[:4])[0]
            expect(4 + n <= len(d), "LIST: name length %d in %d bytes" % (n, len(d)))
            names.append(d[4:4 + n].decode())
        expect(names == [ARGS.export], "LIST: exports %r, want [%r]" % (names, ARGS.export))
        c.opt(OPT_LIST, b"junk")
        c.opt_expect(OPT_LIST, REP_ERR_INVALID, "LIST with data")
        c.go()
        c.in_sync()


@case
def case_list_meta_context():
    with Conn() as c:
        c.greet()
        c.structured()
        nb = ARGS.export.encode()
        c.opt(OPT_LIST_META_CONTEXT, struct.pack(">I", len(nb)) + nb + struct.pack(">I", 0))
        names = []
        for _ in range(100):
            o, t, d = c.opt_reply()
            if t == REP_ACK:
                break
            expect(t == REP_META_CONTEXT, "LIST_META_CONTEXT: reply %s" % rep_name(t))
            names.append(d[4:].decode())
        expect("base:allocation" in names, "LIST_META_CONTEXT: %r lacks base:allocation" % names)
        c.go(meta=True)
        c.in_sync()


# ------------------------------------------------------------ transmission


@case
def case_half_request_header_then_close():
    with connect() as c:
        c.send(struct.pack(">IHHQQI", REQ_MAGIC, 0, CMD_READ, 1, 0, 4096)[:14])


@case
def case_write_half_payload_then_close():
    off = 1 * MiB
    with connect() as c:
        c.ok(CMD_WRITE, off, 65536, CMD_FLAG_FUA, b"\x11" * 65536)
    with connect() as c:
        hdr = struct.pack(">IHHQQI", REQ_MAGIC, 0, CMD_WRITE, 1, off, 65536)
        c.send(hdr + b"\x22" * 32768)
    with connect() as c:
        c.ok(CMD_FLUSH)
        d = c.read(off, 65536)
        expect(d == b"\x11" * 65536,
               "a WRITE whose payload never fully arrived changed the disk")


@case
def case_bad_request_magic():
    with connect() as c:
        c.send(struct.pack(">IHHQQI", 0x25609514, 0, CMD_READ, 1, 0, 4096))
        c.expect_closed("request magic 0x25609514")


def past_end_reads(c):
    size = ARGS.size
    for off, n in ((size - 4096, 8192), (size, 1), (size + 4096, 4096),
                   (2**64 - 512, 4096)):
        c.err(EINVAL, CMD_READ, off, n)
    c.in_sync()


@case
def case_read_past_end_simple():
    with connect() as c:
        past_end_reads(c)


@case
def case_read_past_end_structured():
    with connect(sr=True) as c:
        past_end_reads(c)


@case
def case_write_past_end():
    size = ARGS.size
    with connect() as c:
        c.ok(CMD_WRITE, size - 4096, 4096, CMD_FLAG_FUA, b"\x33" * 4096)
        c.err(ENOSPC, CMD_WRITE, size - 512, 4096, 0, b"\x44" * 4096)
        c.err(ENOSPC, CMD_WRITE, size, 1, 0, b"\x44")
        c.err((ENOSPC, EINVAL), CMD_WRITE, 2**64 - 512, 4096, 0, b"\x44" * 4096)
        c.in_sync()
        expect(c.read(size - 4096, 4096) == b"\x33" * 4096,
               "a WRITE rejected for crossing the end changed the last block")


@case
def case_write_zeroes_past_end():
    size = ARGS.size
    with connect() as c:
        c.ok(CMD_WRITE, size - 4096, 4096, CMD_FLAG_FUA, b"\x55" * 4096)
        c.err(ENOSPC, CMD_WRITE_ZEROES, size - 512, 4096)
        c.err(ENOSPC, CMD_WRITE_ZEROES, size, 1)
        c.err(ENOSPC, CMD_WRITE_ZEROES, size - 512, 4096, CMD_FLAG_NO_HOLE)
        c.in_sync()
        expect(c.read(size - 4096, 4096) == b"\x55" * 4096,
               "a WRITE_ZEROES rejected for crossing the end changed the last block")


@case
def case_trim_cache_past_end():
    size = ARGS.size
    with connect() as c:
        for cmd in (CMD_TRIM, CMD_CACHE):
            c.err(EINVAL, cmd, size - 512, 4096)
            c.err(EINVAL, cmd, size, 1)
        c.in_sync()


@case
def case_block_status_past_end():
    size = ARGS.size
    with connect(sr=True, meta=True) as c:
        c.err(EINVAL, CMD_BLOCK_STATUS, size, 4096)
        c.err(EINVAL, CMD_BLOCK_STATUS, size + 4096, 4096)
        c.in_sync()


@case
def case_read_64mib():
    for sr in (False, True):
        with connect(sr=sr) as c:
            c.err(EINVAL, CMD_READ, 0, 64 * MiB)
            c.err(EINVAL, CMD_READ, 0, MAX_PAYLOAD + 1)
            c.in_sync()


@case
def case_read_32mib_ok():
    with connect() as c:
        d = c.read(0, MAX_PAYLOAD)
        expect(d[:4096] == SENTINEL, "32 MiB READ: first block is not the sentinel")


@case
def case_write_64mib():
    """EINVAL (payload discarded, connection in sync) or close; others served."""
    c = connect(timeout=30.0)
    try:
        cookie = 0x6464
        c.pending[cookie] = (CMD_WRITE, 0, 64 * MiB)
        msg = (struct.pack(">IHHQQI", REQ_MAGIC, 0, CMD_WRITE, cookie, 0, 64 * MiB) +
               b"\x44" * (64 * MiB))
        sent = []

        def sender():
            try:
                c.s.sendall(msg)
                sent.append(True)
            except OSError:
                pass
        th = threading.Thread(target=sender, daemon=True)
        th.start()
        fresh_read()                    # another client is served meanwhile
        try:
            r = c.reply()
        except Closed:
            r = None
        th.join(40)
        expect(not th.is_alive(),
               "64 MiB WRITE: server neither read the payload nor closed within 40 s")
        if r is None:
            print("    64 MiB WRITE: connection closed")
        else:
            expect(r.err == EINVAL, "64 MiB WRITE: %s, want EINVAL or close" % err_name(r.err))
            try:
                c.in_sync()
                print("    64 MiB WRITE: EINVAL, payload skipped, connection in sync")
            except Closed:
                print("    64 MiB WRITE: EINVAL, then connection closed")
        fresh_read()
    finally:
        c.close()


@case
def case_unknown_command():
    for sr in (False, True):
        with connect(sr=sr) as c:
            c.err(EINVAL, 99, 0, 4096)
            c.err(EINVAL, 8, 0, 4096)       # RESIZE: not advertised
            c.in_sync()


@case
def case_block_status_without_meta_context():
    for sr in (False, True):
        with connect(sr=sr) as c:
            c.err(EINVAL, CMD_BLOCK_STATUS, 0, 4096)
            c.in_sync()


@case
def case_block_status():
    with connect(sr=True, meta=True) as c:
        r = c.ok(CMD_BLOCK_STATUS, 0, ARGS.size)
        expect(len(r.extents) == 1, "%d BLOCK_STATUS chunks, want 1" % len(r.extents))
        cid, ext = r.extents[0]
        expect(cid == c.ctx, "context id %d, want %d" % (cid, c.ctx))
        expect(all(n > 0 for n, _ in ext), "zero-length extent")
        expect(all(f & ~3 == 0 for _, f in ext), "unknown extent flags %r" % ext)
        expect(sum(n for n, _ in ext[:-1]) < ARGS.size, "extents beyond the request")
        expect(ext[0][1] & 1 == 0, "offset 0 holds data, reported as a hole")
        r = c.ok(CMD_BLOCK_STATUS, 0, ARGS.size, CMD_FLAG_REQ_ONE)
        cid, ext = r.extents[0]
        expect(len(ext) == 1 and ext[0][0] <= ARGS.size,
               "REQ_ONE: %d extents %r, want one no longer than the request" % (len(ext), ext[:4]))
        c.in_sync()


@case
def case_fua_on_read():
    with connect() as c:
        d = c.read(0, 4096, CMD_FLAG_FUA)
        expect(d == SENTINEL, "READ with FUA: wrong data")


@case
def case_read_df():
    with connect(sr=True) as c:
        r = c.ok(CMD_READ, 0, 65536, CMD_FLAG_DF)
        expect(r.ncontent == 1, "READ with DF: %d content chunks, want 1" % r.ncontent)
        expect(r.data[:4096] == SENTINEL, "READ with DF: wrong data")


@case
def case_writes_flags():
    off = 12 * MiB
    with connect() as c:
        data = pattern(1, 65536)
        c.ok(CMD_WRITE, off, 65536, CMD_FLAG_FUA, data)
        expect(c.read(off, 65536) == data, "WRITE with FUA: read back differs")
        c.ok(CMD_WRITE, off + 100, 1000, 0, b"\x77" * 1000)         # unaligned
        expect(c.read(off, 65536) == data[:100] + b"\x77" * 1000 + data[1100:],
               "unaligned WRITE: read back differs")
        c.ok(CMD_WRITE_ZEROES, off, 4096, CMD_FLAG_NO_HOLE)
        c.ok(CMD_WRITE_ZEROES, off + 4096, 4096, CMD_FLAG_FUA)
        c.ok(CMD_WRITE_ZEROES, off + 8192, 1000)
        expect(c.read(off, 8192 + 1000) == bytes(8192 + 1000), "WRITE_ZEROES: not zero")
        expect(c.read(off + 9192, 1000) == data[9192:10192], "WRITE_ZEROES: zeroed too much")
        r = c.cmd(CMD_WRITE_ZEROES, off + 16384, 4096, CMD_FLAG_FAST_ZERO)
        expect(r.err in (0, ENOTSUP), "WRITE_ZEROES FAST_ZERO: %s, want OK or ENOTSUP"
               % err_name(r.err))
        if r.err == 0:
            expect(c.read(off + 16384, 4096) == bytes(4096), "FAST_ZERO: not zero")
        c.ok(CMD_TRIM, off + 32768, 32768)
        c.ok(CMD_TRIM, off + 32768, 4096, CMD_FLAG_FUA)
        c.ok(CMD_CACHE, off, 65536)
        c.ok(CMD_FLUSH)
        c.ok(CMD_FLUSH, 0, 0, CMD_FLAG_FUA)
        c.in_sync()


@case
def case_flush():
    with connect() as c:
        c.ok(CMD_FLUSH)
    with connect(sr=True) as c:
        c.ok(CMD_FLUSH)


@case
def case_pipelined_replies_by_cookie():
    """256 requests in one burst, random cookies; match replies by cookie."""
    rd, wr = 2 * MiB, 4 * MiB
    rnd = random.Random(3)
    for sr in (False, True):
        with connect(sr=sr, timeout=20.0) as c:
            src = pattern(2, 256 * 4096)
            c.ok(CMD_WRITE, rd, len(src), CMD_FLAG_FUA, src)
            reqs = {}
            msgs = []
            for i in range(256):
                cookie = rnd.choice([0, 2**64 - 1, rnd.getrandbits(64)])
                while cookie in reqs:
                    cookie = rnd.getrandbits(64)
                if i % 2:
                    off = rd + rnd.randrange(256) * 4096
                    reqs[cookie] = (CMD_READ, off, src[off - rd:off - rd + 4096])
                    hdr = struct.pack(">IHHQQI", REQ_MAGIC, 0, CMD_READ, cookie, off, 4096)
                    msgs.append(hdr)
                    c.pending[cookie] = (CMD_READ, off, 4096)
                else:
                    off = wr + i * 4096
                    data = pattern(1000 + i, 4096)
                    reqs[cookie] = (CMD_WRITE, off, data)
                    hdr = struct.pack(">IHHQQI", REQ_MAGIC, 0, CMD_WRITE, cookie, off, 4096)
                    msgs.append(hdr + data)
                    c.pending[cookie] = (CMD_WRITE, off, 4096)
            blob = b"".join(msgs)
            th = threading.Thread(target=lambda: c.s.sendall(blob), daemon=True)
            th.start()
            seen = set()
            for _ in range(256):
                r = c.reply()
                expect(r.cookie in reqs and r.cookie not in seen,
                       "reply for cookie 0x%x: unknown or duplicate" % r.cookie)
                seen.add(r.cookie)
                typ, off, want = reqs[r.cookie]
                expect(r.err == 0, "pipelined %s at %d: %s" % (CMD_NAMES[typ], off, err_name(r.err)))
                if typ == CMD_READ:
                    expect(r.data == want, "pipelined READ at %d (cookie 0x%x): wrong data"
                           % (off, r.cookie))
            th.join(10)
            for cookie, (typ, off, want) in reqs.items():
                if typ == CMD_WRITE:
                    expect(c.read(off, 4096) == want, "pipelined WRITE at %d lost" % off)
            c.in_sync()


@case
def case_unaligned_writes_same_block_pipelined():
    """Many small writes to disjoint parts of the same 4 KiB blocks, all in
    flight at once: a read-modify-write without per-block ordering loses
    some of them."""
    base = 24 * MiB
    rnd = random.Random(9)
    with connect(timeout=20.0) as c:
        for rnd_i in range(20):
            cuts = [(i * 64, 64) for i in range(64)]        # block 0: 64 x 64 B
            pos = 4096                                      # blocks 1-2: odd sizes
            while pos < 3 * 4096:
                n = min(rnd.randrange(1, 700), 3 * 4096 - pos)
                cuts.append((pos, n))
                pos += n
            rnd.shuffle(cuts)
            want = bytearray(3 * 4096)
            msgs = []
            for off, n in cuts:
                data = rnd.randbytes(n)
                want[off:off + n] = data
                ck = c.next_cookie
                c.next_cookie += 1
                c.pending[ck] = (CMD_WRITE, base + off, n)
                msgs.append(struct.pack(">IHHQQI", REQ_MAGIC, 0, CMD_WRITE, ck,
                                        base + off, n) + data)
            c.send(b"".join(msgs))          # < 20 KiB: fits the socket buffer
            for _ in cuts:
                r = c.reply()
                expect(r.err == 0, "small WRITE: %s" % err_name(r.err))
            got = c.read(base, len(want))
            if got != want:
                bad = [i for i in range(len(want)) if got[i] != want[i]]
                raise Fail("round %d: %d bytes wrong, first at block offset %d: "
                           "concurrent sub-block writes lost each other"
                           % (rnd_i, len(bad), bad[0]))
        c.in_sync()


@case
def case_random_unaligned_io_against_model():
    """Random unaligned writes, zeroes and reads in a mostly sparse 1 MiB
    region, checked against an in-memory copy; reads with and without
    structured replies (which may mix data and hole chunks)."""
    base, span = 32 * MiB, MiB
    rnd = random.Random(11)
    model = bytearray(span)         # the region starts as a hole
    with connect(timeout=20.0) as plain, connect(sr=True, timeout=20.0) as sr:
        for i in range(400):
            off = rnd.randrange(span)
            n = min(rnd.choice([1, 7, 512, 1000, 4095, 4096, 4097, 20000]), span - off)
            op = rnd.random()
            if op < 0.35:
                data = rnd.randbytes(n)
                plain.ok(CMD_WRITE, base + off, n, 0, data)
                model[off:off + n] = data
            elif op < 0.45:
                sr.ok(CMD_WRITE_ZEROES, base + off, n)
                model[off:off + n] = bytes(n)
            else:
                c = plain if op < 0.7 else sr
                got = c.read(base + off, n)
                if got != model[off:off + n]:
                    bad = next(j for j in range(n) if got[j] != model[off + j])
                    raise Fail("op %d: READ(%d, %d)%s differs from what was written, "
                               "first at offset %d" % (i, base + off, n,
                                                       " structured" if c is sr else "",
                                                       base + off + bad))
        for c in (plain, sr):
            got = c.read(base, span)
            expect(got == model, "final 1 MiB READ%s differs from what was written"
                   % (" structured" if c is sr else ""))
        plain.in_sync()


@case
def case_disc():
    with connect() as c:
        c.request(CMD_DISC)
        c.pending.clear()
        c.expect_closed("DISC")
    # DISC right behind a WRITE: the WRITE is still answered and done.
    off = 10 * MiB
    data = pattern(4, 65536)
    with connect() as c:
        ck = c.request(CMD_WRITE, off, len(data), 0, data)
        c.request(CMD_DISC)
        del c.pending[ck + 1]
        r = c.reply()
        expect(r.cookie == ck and r.err == 0, "WRITE before DISC: %s" % err_name(r.err))
        c.expect_closed("DISC after WRITE")
    with connect() as c:
        expect(c.read(off, len(data)) == data, "WRITE sent just before DISC is missing")


@case
def case_stalled_clients_do_not_block_others():
    stalls = []
    try:
        a = connect()       # mid-WRITE payload: 512 KiB of 1 MiB, then silence
        stalls.append(a)
        a.send(struct.pack(">IHHQQI", REQ_MAGIC, 0, CMD_WRITE, 1, 20 * MiB, MiB) +
               b"\x66" * (512 * 1024))
        b = Conn()          # connected, never reads the greeting
        stalls.append(b)
        c = Conn()          # mid-option: 10 of 100 bytes
        stalls.append(c)
        c.greet()
        c.opt(OPT_GO, b"\0" * 10, length=100)
        d = connect()       # half a request header
        stalls.append(d)
        d.send(struct.pack(">IHHQQI", REQ_MAGIC, 0, CMD_READ, 1, 0, 4096)[:10])

        t0 = time.monotonic()
        rnd = random.Random(5)
        with connect() as w:
            for i in range(500):
                off = 16 * MiB + (i % 128) * 4096
                data = rnd.randbytes(4096)
                w.ok(CMD_WRITE, off, 4096, 0, data)
                expect(w.read(off, 4096) == data, "request %d: read back differs" % (2 * i + 1))
                expect(time.monotonic() - t0 < 30,
                       "only %d of 1000 requests done in 30 s while other clients stall" % (2 * i))
        print("    1000 requests in %.2f s with 4 stalled clients" % (time.monotonic() - t0))
        fresh_read()
    finally:
        for s in stalls:
            s.close()


def fd_kinds(pid):
    """(sockets, pipes) among the process's descriptors."""
    socks = pipes = 0
    for fd in os.listdir("/proc/%d/fd" % pid):
        try:
            target = os.readlink("/proc/%d/fd/%s" % (pid, fd))
        except FileNotFoundError:
            continue
        socks += target.startswith("socket:")
        pipes += target.startswith("pipe:")
    return socks, pipes


@case
def case_large_reads_to_a_slow_reader():
    """16 READs of 1 MiB in flight to a client that reads nothing for a
    while: the replies (sent by splice on the buffered path) fill the
    socket and wait for room, while another client is served; then every
    reply arrives whole, matched by cookie."""
    base, n = 32 * MiB, 16
    for sr in (False, True):
        src = pattern(40 + sr, n * MiB)
        with connect(timeout=20.0) as w:
            for i in range(n):
                w.ok(CMD_WRITE, base + i * MiB, MiB, 0, src[i * MiB:(i + 1) * MiB])
        with connect(sr=sr, timeout=20.0) as c:
            cookies = {}
            for i in range(n):
                cookies[c.request(CMD_READ, base + i * MiB, MiB)] = i
            t0 = time.monotonic()
            with connect() as o:
                for i in range(20):
                    o.ok(CMD_WRITE, 16 * MiB + i * 4096, 4096, 0, pattern(60 + i, 4096))
                    expect(o.read(16 * MiB + i * 4096, 4096) == pattern(60 + i, 4096),
                           "other client: read back %d differs" % i)
            expect(time.monotonic() - t0 < 10,
                   "another client took %.1f s for 40 requests while the replies "
                   "waited" % (time.monotonic() - t0))
            time.sleep(0.5)
            seen = set()
            for _ in range(n):
                r = c.reply()
                i = cookies.get(r.cookie)
                expect(i is not None and i not in seen,
                       "reply for cookie 0x%x: unknown or duplicate" % r.cookie)
                seen.add(i)
                expect(r.err == 0, "1 MiB READ %d: %s" % (i, err_name(r.err)))
                expect(r.data == src[i * MiB:(i + 1) * MiB],
                       "1 MiB READ %d (structured %s): wrong data" % (i, sr))
            c.in_sync()


@case
def case_large_reads_unaligned():
    """Large READs that start inside a page: on the buffered path a pipe
    holds one page a slot, so such a range needs one slot more than its
    length in pages (a READ of 1 MiB at offset 512 once failed there)."""
    base = 40 * MiB
    src = pattern(70, 3 * MiB)
    with connect(timeout=20.0) as w:
        w.ok(CMD_WRITE, base, len(src), 0, src)
    for sr in (False, True):
        with connect(sr=sr, timeout=20.0) as c:
            for off, length in ((512, MiB), (4095, MiB), (512, MiB - 512),
                                (1, 256 * 1024), (4096 + 7, 2 * MiB - 7),
                                (MiB - 1, MiB + 1)):
                got = c.read(base + off, length)
                expect(got == src[off:off + length],
                       "READ(%d, %d) structured %s: wrong data" % (base + off, length, sr))


@case
def case_large_reads_abandoned():
    """Clients that ask for 16 MiB in 1 MiB READs and hang up without
    reading a byte: every connection is closed and freed (a spliced
    reply waiting for room in a dead socket must not hold it), pipes
    stay within the server's pool (raw-protocol.sh then checks that the
    pool still serves), and the server keeps serving."""
    if ARGS.pid is None:
        return
    socks0, _ = fd_kinds(ARGS.pid)
    for rnd in range(6):
        for sr in (False, True):
            c = connect(sr=sr)
            for i in range(16):
                c.request(CMD_READ, 32 * MiB + i * MiB, MiB)
            time.sleep(0.05)
            c.close()
        fresh_read()
    deadline = time.monotonic() + 5
    while True:     # the server notices the hang-ups and drops the replies
        socks, pipes = fd_kinds(ARGS.pid)
        if socks <= socks0 or time.monotonic() > deadline:
            break
        time.sleep(0.05)
    print("    sockets %d (before %d), pipe ends %d" % (socks, socks0, pipes))
    expect(socks <= socks0, "%d sockets open 5 s after the clients hung up, %d before"
           % (socks, socks0))
    expect(pipes <= 2 * 32 and pipes % 2 == 0,
           "%d pipe ends open, want pairs of at most 32 pipes" % pipes)


@case
def case_many_connections():
    conns = []
    try:
        for _ in range(64):
            conns.append(connect())
        for i, c in enumerate(conns):
            expect(c.read(0, 4096) == SENTINEL, "connection %d of 64: wrong data" % i)
    finally:
        for c in conns:
            c.close()


# ------------------------------------------------------------ driver


def proc_alive(pid):
    try:
        with open("/proc/%d/stat" % pid) as f:
            return f.read().rsplit(")", 1)[1].split()[0] != "Z"
    except (FileNotFoundError, ProcessLookupError):
        # reaped between open() and read(): ESRCH
        return False


def main():
    global ARGS
    ap = argparse.ArgumentParser()
    ap.add_argument("--host", default="127.0.0.1")
    ap.add_argument("--port", type=int, required=True)
    ap.add_argument("--export", default="r0")
    ap.add_argument("--size", type=int, required=True)
    ap.add_argument("--pid", type=int)
    ap.add_argument("--only", default="")
    ARGS = ap.parse_args()

    with connect() as c:
        expect(c.size == ARGS.size, "export size %d, want %d" % (c.size, ARGS.size))
        c.ok(CMD_WRITE, 0, 4096, CMD_FLAG_FUA, SENTINEL)
    fresh_read()

    failed = []
    for fn in CASES:
        name = fn.__name__[len("case_"):]
        if ARGS.only not in name:
            continue
        t0 = time.monotonic()
        try:
            fn()
            try:
                fresh_read()
            except Exception as e:
                raise Fail("afterwards a fresh connection could not READ: %s" % e)
        except Fail as e:
            print("%s: FAIL: %s" % (name, e), flush=True)
            failed.append(name)
            continue
        except Exception as e:
            print("%s: FAIL: %s: %s" % (name, type(e).__name__, e), flush=True)
            traceback.print_exc(limit=3, file=sys.stdout)
            failed.append(name)
            continue
        print("%s: PASS (%.2f s)" % (name, time.monotonic() - t0), flush=True)

    if ARGS.pid is not None:
        if proc_alive(ARGS.pid):
            print("server-still-running: PASS")
        else:
            print("server-still-running: FAIL: PID %d is gone" % ARGS.pid)
            failed.append("server-still-running")
    print("%d failed: %s" % (len(failed), " ".join(failed)) if failed else "all passed")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
