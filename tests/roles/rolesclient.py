#!/usr/bin/python3
"""rolesclient.py: NBD and control-socket clients for the roles tests.

Exit 0 when what the command checks holds, 1 with "rolesclient: FAIL:"
on stderr when not, 2 for bad usage.  Every loop is bounded in count and
in time.

  hold URI DIR INFLIGHT MAX_SECONDS
      An NBD client that keeps INFLIGHT 4 KiB writes in flight at random
      offsets in the first 16 MiB until the server closes the connection.
      Writes DIR/ready after 32 acknowledged writes, and keeps DIR/acked
      (the count, rewritten every 100 ms).  When the connection goes away:
      DIR/disconnected (the reason), a summary (writes acknowledged,
      failed by errno, unanswered) and exit 0.  A write failing with
      ESHUTDOWN means the server is closing: the client then sends no
      more and waits for its replies.  Exit 1 if a write fails otherwise
      while the connection is up, or after MAX_SECONDS without a
      disconnection.

  timed URI OUTFILE SECONDS
      Synchronous 4 KiB writes for SECONDS; one line per write,
      "START END" (Unix time, s) appended to OUTFILE.  Every write must
      succeed; exit 1 if one fails or none completes.

  ctl-malformed SOCKET
      Send malformed requests to a repd control socket and check the
      replies (docs/control.md): bad JSON, a non-object, a missing or
      non-string cmd, an unknown command, promote with "force":"yes",
      connect with "discard_my_data":1, an empty line (ignored) -- all on
      one connection, each answered by {"ok":false,"error":...} and the
      connection stays usable (a status on it answers ok).  Then, on a
      second connection, a 5000-byte line: an error reply and the
      connection closed.  Then a third connection: status works.

  ctl-events SOCKET OUTFILE READYFILE SECONDS
      Send {"cmd":"events"}; the first reply line must be {"ok":true};
      then touch READYFILE and append every further line to OUTFILE
      (flushed per line) until the daemon closes or SECONDS pass.
      Exit 1 if a line is not a JSON object with "event".
"""
import errno
import inspect
import json
import os
import random
import socket
import sys
import time

import nbd

MiB = 1 << 20


def die(msg):
    print("rolesclient: FAIL: " + msg, file=sys.stderr)
    sys.exit(1)


def touch(path, text=""):
    tmp = path + ".tmp"
    with open(tmp, "w") as f:
        f.write(text)
    os.rename(tmp, path)


# ------------------------------------------------------------------ NBD

def cmd_hold(uri, d, inflight, max_seconds):
    inflight, max_seconds = int(inflight), float(max_seconds)
    rng = random.Random(5)
    h = nbd.NBD()
    h.connect_uri(uri)
    st = {"acked": 0, "errors": {}, "inflight": 0}

    def make_cb(buf):
        def cb(err):
            assert buf is not None
            st["inflight"] -= 1
            if err.value == 0:
                st["acked"] += 1
            else:
                name = errno.errorcode.get(err.value, str(err.value))
                st["errors"][name] = st["errors"].get(name, 0) + 1
            return 1
        return cb

    start = time.monotonic()
    last_note = 0.0
    ready = False
    reason = None
    while True:
        now = time.monotonic()
        if now - start > max_seconds:
            die("hold: still connected after %.0f s (%d writes acknowledged)"
                % (max_seconds, st["acked"]))
        # ESHUTDOWN: the server is closing the export (demote --force);
        # a polite client stops sending and waits for its replies
        going = set(st["errors"]) == {"ESHUTDOWN"}
        if st["errors"]:
            try:
                h.poll(200)
            except nbd.Error as e:
                reason = "poll: %s" % e
                break
            if h.aio_is_dead() or h.aio_is_closed():
                reason = "connection closed (%s)" % st["errors"]
                break
            if not going:
                die("hold: write failed while the connection is up: %s"
                    % st["errors"])
            continue
        try:
            while st["inflight"] < inflight:
                off = rng.randrange(16 * MiB // 4096) * 4096
                buf = nbd.Buffer.from_bytearray(bytearray(rng.randbytes(4096)))
                h.aio_pwrite(buf, off, completion=make_cb(buf))
                st["inflight"] += 1
            h.poll(100)
        except nbd.Error as e:
            reason = str(e)
            break
        if h.aio_is_dead() or h.aio_is_closed():
            reason = "connection closed"
            break
        if now - last_note > 0.1:
            touch(os.path.join(d, "acked"), "%d\n" % st["acked"])
            last_note = now
        if not ready and st["acked"] >= 32:
            touch(os.path.join(d, "ready"))
            ready = True
    touch(os.path.join(d, "acked"), "%d\n" % st["acked"])
    touch(os.path.join(d, "disconnected"), reason + "\n")
    print("hold: disconnected after %.1f s: %d writes acknowledged, failed: %s, "
          "unanswered: %d; %s" % (time.monotonic() - start, st["acked"],
                                  st["errors"] or "none", st["inflight"], reason))


def cmd_timed(uri, outfile, seconds):
    seconds = float(seconds)
    rng = random.Random(9)
    h = nbd.NBD()
    h.connect_uri(uri)
    n = 0
    start = time.monotonic()
    with open(outfile, "w", buffering=1) as out:
        while time.monotonic() - start < seconds:
            off = rng.randrange(16 * MiB // 4096) * 4096
            t0 = time.time()
            try:
                h.pwrite(rng.randbytes(4096), off)
            except nbd.Error as e:
                die("timed: write %d at %d failed: %s" % (n, off, e))
            out.write("%.6f %.6f\n" % (t0, time.time()))
            n += 1
    h.shutdown()
    if n == 0:
        die("timed: no write completed")
    print("timed: %d writes in %.1f s" % (n, seconds))


# ----------------------------------------------------------- control socket

class Ctl:
    """A line-oriented client of a repd control socket (10 s timeouts)."""

    def __init__(self, path):
        self.s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        self.s.settimeout(10)
        self.s.connect(path)
        self.buf = b""

    def send(self, line):
        self.s.sendall(line)

    def readline(self):
        """One line (bytes, without \\n); None on EOF."""
        for _ in range(100000):
            i = self.buf.find(b"\n")
            if i >= 0:
                line, self.buf = self.buf[:i], self.buf[i + 1:]
                return line
            try:
                chunk = self.s.recv(65536)
            except ConnectionResetError:
                chunk = b""
            if not chunk:
                return None
            self.buf += chunk
        die("readline: no newline in %d bytes" % len(self.buf))
        return None

    def reply(self, what):
        line = self.readline()
        if line is None:
            die("%s: the daemon closed the connection instead of replying" % what)
        try:
            r = json.loads(line)
        except ValueError:
            die("%s: reply is not JSON: %r" % (what, line[:200]))
        if not isinstance(r, dict):
            die("%s: reply is not an object: %r" % (what, line[:200]))
        return r

    def close(self):
        self.s.close()


def expect_error(c, what, bad):
    r = c.reply(what)
    if r.get("ok") is not False:
        bad.append("%s: reply %s, want ok:false" % (what, json.dumps(r)[:200]))
    elif not isinstance(r.get("error"), str) or not r["error"]:
        bad.append("%s: error reply without an error string: %s" % (what, json.dumps(r)))
    else:
        print("ctl-malformed: %s -> error: %s" % (what, r["error"]))
    return r


def cmd_ctl_malformed(path):
    bad = []
    c = Ctl(path)
    c.send(b'{"cmd":"status"}\n')
    r = c.reply("status")
    if r.get("ok") is not True:
        die("status before the malformed requests failed: %s" % r)
    role = r.get("role")
    cases = [
        ("bad JSON", b'{"cmd": "status"\n'),
        ("truncated string", b'{"cmd":"sta\n'),
        ("an array", b'[1,2,3]\n'),
        ("a string", b'"status"\n'),
        ("a number", b'42\n'),
        ("no cmd", b'{"force":true}\n'),
        ("cmd not a string", b'{"cmd":5}\n'),
        ("cmd null", b'{"cmd":null}\n'),
        ("unknown cmd", b'{"cmd":"frobnicate"}\n'),
        ("promote with force \"yes\"", b'{"cmd":"promote","force":"yes"}\n'),
        ("demote with force 1", b'{"cmd":"demote","force":1}\n'),
        ("connect with discard_my_data \"true\"",
         b'{"cmd":"connect","discard_my_data":"true"}\n'),
        ("invalid UTF-8", b'{"cmd":"\xff\xfe"}\n'),
    ]
    # an empty line is ignored: it must not produce a reply of its own,
    # so send it first and let the next reply belong to the next request
    c.send(b"\n")
    for what, line in cases:
        c.send(line)
        expect_error(c, what, bad)
    c.send(b'{"cmd":"status"}\n')
    r = c.reply("status after the malformed requests")
    if r.get("ok") is not True:
        bad.append("status on the same connection after malformed requests: %s" % r)
    elif r.get("role") != role:
        bad.append("role changed from %s to %s after the malformed requests"
                   % (role, r.get("role")))
    c.close()

    # a line longer than 4096 bytes: an error, then the daemon hangs up
    c = Ctl(path)
    c.send(b'{"cmd":"status","pad":"' + b"x" * 5000 + b'"}\n')
    expect_error(c, "a 5000-byte line", bad)
    extra = None
    try:
        c.send(b'{"cmd":"status"}\n')
        extra = c.readline()
    except (BrokenPipeError, ConnectionResetError):
        extra = None
    except socket.timeout:
        bad.append("a 5000-byte line: the connection stays open (no EOF within 10 s)")
    if extra is not None:
        bad.append("a 5000-byte line: the connection was not closed (it answered %r)"
                   % extra[:100])
    c.close()

    # a long line without a newline at all, then EOF: nothing to check but
    # that the daemon survives it
    c = Ctl(path)
    c.send(b"x" * 8192)
    c.close()

    c = Ctl(path)
    c.send(b'{"cmd":"status"}\n')
    r = c.reply("status on a new connection")
    if r.get("ok") is not True:
        bad.append("status on a new connection: %s" % r)
    c.close()
    for b in bad:
        print("rolesclient: FAIL: " + b, file=sys.stderr)
    if bad:
        sys.exit(1)
    print("ctl-malformed: %d malformed requests answered with errors; the "
          "daemon still serves" % (len(cases) + 1))


def cmd_ctl_events(path, outfile, readyfile, seconds):
    seconds = float(seconds)
    c = Ctl(path)
    c.s.settimeout(0.5)
    c.send(b'{"cmd":"events"}\n')
    deadline = time.monotonic() + seconds
    first = None
    n = 0
    with open(outfile, "w", buffering=1) as out:
        while time.monotonic() < deadline:
            try:
                line = c.readline()
            except socket.timeout:
                continue
            if line is None:
                break
            if first is None:
                first = line
                try:
                    r = json.loads(line)
                except ValueError:
                    die("events: first reply is not JSON: %r" % line[:200])
                if r.get("ok") is not True:
                    die("events: first reply %r, want {\"ok\":true}" % line[:200])
                touch(readyfile)
                continue
            try:
                ev = json.loads(line)
            except ValueError:
                die("events: line is not JSON: %r" % line[:200])
            if not isinstance(ev, dict) or "event" not in ev:
                die("events: line without \"event\": %r" % line[:200])
            out.write(line.decode() + "\n")
            n += 1
    c.close()
    if first is None:
        die("events: no reply to {\"cmd\":\"events\"} within %.0f s" % seconds)
    print("ctl-events: %d events" % n)


COMMANDS = {
    "hold": cmd_hold,
    "timed": cmd_timed,
    "ctl-malformed": cmd_ctl_malformed,
    "ctl-events": cmd_ctl_events,
}

if __name__ == "__main__":
    if len(sys.argv) < 2 or sys.argv[1] not in COMMANDS:
        print(__doc__, file=sys.stderr)
        sys.exit(2)
    fn, args = COMMANDS[sys.argv[1]], sys.argv[2:]
    try:
        inspect.signature(fn).bind(*args)
    except TypeError as e:
        print("rolesclient: %s: bad usage: %s" % (sys.argv[1], e), file=sys.stderr)
        sys.exit(2)
    try:
        fn(*args)
    except nbd.Error as e:
        die("%s: %s" % (sys.argv[1], e))
    except OSError as e:
        die("%s: %s" % (sys.argv[1], e))
