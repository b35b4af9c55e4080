#!/usr/bin/python3
"""nbdclient.py: small libnbd clients for the replication tests.

Every command exits 0 on success and 1 with a message on stderr when what
it checks does not hold (2 for bad usage).  Every loop is bounded in count
and in time.

  flush URI
      NBD FLUSH, then a clean shutdown.
  fill URI OFFSET LENGTH KIND [SEED]
      write LENGTH bytes at OFFSET in 256 KiB requests; KIND is text
      (repeated lines, compressible), random, or zero.
  zero URI OFFSET LENGTH [fua]
      one WRITE_ZEROES (LENGTH may exceed 32 MiB; with fua, the FUA
      flag), read back as zeroes.
  overlap URI WRITES INFLIGHT RANGES RANGE_SIZE SEED
      keep INFLIGHT aio_pwrite in flight over RANGES ranges of RANGE_SIZE
      bytes that overlap their neighbours by half; each write has its own
      pattern, a random sub-offset and length; WRITES writes in all.
  writer URI SECONDS MARKER
      synchronous 64 KiB writes at random 4 KiB-aligned offsets in the
      first 32 MiB for SECONDS; every write must succeed.  Counts the
      writes completed after the file MARKER appeared; wants >= 20 of them.
  suspend URI DIR
      the suspend-policy protocol with the test script, through files in
      DIR: write one block, create DIR/ready; wait for DIR/killed; issue
      an aio write; it must not complete within 3 s (DIR/pending then
      exists); wait for DIR/restarted; the write must then complete
      within 40 s; flush.
  timed URI
      a 4 KiB write at 1 MiB (0x5a), a 4 KiB FUA write at 2 MiB (0xa5), a
      flush; prints the latency of each in seconds as JSON.
  try-write URI
      the export must say read-only, and a write sent anyway (libnbd's
      client-side checks off) must fail; prints the error.
"""
import inspect
import os
import random
import sys
import time

import nbd

MiB = 1 << 20


def die(msg):
    print("nbdclient: FAIL: " + msg, file=sys.stderr)
    sys.exit(1)


def connect(uri):
    h = nbd.NBD()
    h.connect_uri(uri)
    return h


def wait_file(path, secs):
    deadline = time.monotonic() + secs
    while time.monotonic() < deadline:
        if os.path.exists(path):
            return True
        time.sleep(0.05)
    return os.path.exists(path)


def touch(path):
    with open(path, "w"):
        pass


def pattern(kind, length, rng, seq=0):
    if kind == "zero":
        return bytes(length)
    if kind == "random":
        return rng.randbytes(length)
    if kind == "text":
        line = b"repd replication test line %08d: the quick brown fox jumps over the lazy dog\n"
        out = bytearray()
        n = seq
        while len(out) < length:
            out += line % (n % 1000)
            n += 1
        return bytes(out[:length])
    die("unknown pattern kind " + kind)


def cmd_flush(uri):
    h = connect(uri)
    h.flush()
    h.shutdown()


def cmd_fill(uri, off, length, kind, seed="1"):
    off, length = int(off), int(length)
    rng = random.Random(int(seed))
    h = connect(uri)
    if off + length > h.get_size():
        die("fill: %d + %d beyond the export size %d" % (off, length, h.get_size()))
    done, seq = 0, 0
    while done < length:
        n = min(256 * 1024, length - done)
        h.pwrite(pattern(kind, n, rng, seq), off + done)
        done += n
        seq += 1000
    h.flush()
    h.shutdown()


def cmd_zero(uri, off, length, fua=""):
    """One WRITE_ZEROES of LENGTH bytes at OFFSET (may exceed the 32 MiB
    block limit: it carries no payload), then reads it back as zeroes."""
    off, length = int(off), int(length)
    if fua not in ("", "fua"):
        raise ValueError("the fourth argument is 'fua' or nothing")
    h = connect(uri)
    h.zero(length, off, flags=nbd.CMD_FLAG_FUA if fua else 0)
    done = 0
    while done < length:
        n = min(4 * MiB, length - done)
        if any(h.pread(n, off + done)):
            die("zero: bytes at %d..%d are not zero after WRITE_ZEROES" % (off + done, off + done + n))
        done += n
    h.flush()
    h.shutdown()


def cmd_overlap(uri, writes, inflight, ranges, range_size, seed):
    writes, inflight = int(writes), int(inflight)
    ranges, range_size = int(ranges), int(range_size)
    rng = random.Random(int(seed))
    h = connect(uri)
    base = 1 * MiB	# away from offset 0, still inside any test image
    step = range_size // 2	# neighbouring ranges overlap by half
    if base + (ranges - 1) * step + range_size > h.get_size():
        die("overlap: ranges do not fit the export")
    pending = {}	# cookie -> (offset, length)
    issued = completed = 0
    deadline = time.monotonic() + 90
    while completed < writes:
        if time.monotonic() > deadline:
            die("overlap: %d of %d writes completed within 90 s" % (completed, writes))
        while issued < writes and len(pending) < inflight:
            r = rng.randrange(ranges)
            if rng.random() < 0.25:	# some unaligned requests too
                sub = rng.randrange(range_size - 1)
                length = rng.randrange(1, range_size - sub + 1)
            else:
                sub = rng.randrange(range_size // 512) * 512
                length = rng.randrange(1, (range_size - sub) // 512 + 1) * 512
            off = base + r * step + sub
            # each write its own bytes: its number repeated, then random
            head = (b"%08x" % issued) * 8
            data = (head + rng.randbytes(max(0, length - len(head))))[:length]
            buf = nbd.Buffer.from_bytearray(bytearray(data))
            cookie = h.aio_pwrite(buf, off)
            pending[cookie] = (off, length)
            issued += 1
        h.poll(1000)
        while pending:
            cookie = h.aio_peek_command_completed()
            if cookie <= 0:
                break
            try:
                h.aio_command_completed(cookie)
            except nbd.Error as e:
                off, length = pending[cookie]
                die("overlap: write(%d, %d) failed: %s" % (off, length, e))
            del pending[cookie]
            completed += 1
    h.flush()
    h.shutdown()
    print("overlap: %d writes completed, at most %d in flight" % (completed, inflight))


def cmd_writer(uri, seconds, marker):
    seconds = float(seconds)
    rng = random.Random(7)
    h = connect(uri)
    data = bytearray(rng.randbytes(64 * 1024))
    before = after = 0
    start = time.monotonic()
    last = start
    max_gap = 0.0
    while time.monotonic() - start < seconds:
        off = rng.randrange(32 * MiB // 4096 - 16) * 4096
        data[0:8] = (before + after).to_bytes(8, "little")
        try:
            h.pwrite(data, off)
        except nbd.Error as e:
            die("writer: write %d at %d failed: %s" % (before + after, off, e))
        now = time.monotonic()
        max_gap = max(max_gap, now - last)
        last = now
        if os.path.exists(marker):
            after += 1
        else:
            before += 1
    h.shutdown()
    print("writer: %d writes before the marker, %d after, longest wait %.2f s"
          % (before, after, max_gap))
    if before < 20:
        die("writer: only %d writes before the marker" % before)
    if after < 20:
        die("writer: only %d writes completed after the marker" % after)


def cmd_suspend(uri, d):
    h = connect(uri)
    h.pwrite(b"\xa5" * 65536, 0)
    touch(os.path.join(d, "ready"))
    if not wait_file(os.path.join(d, "killed"), 60):
        die("suspend: the script never said 'killed'")
    data = nbd.Buffer.from_bytearray(bytearray(b"\x5a" * 65536))
    t0 = time.monotonic()
    cookie = h.aio_pwrite(data, 4 * MiB)
    while time.monotonic() - t0 < 3.0:
        h.poll(100)
        if h.aio_command_completed(cookie):
            die("suspend: a write issued after the peer loss completed after "
                "%.2f s; want it held while the peer is away" % (time.monotonic() - t0))
    touch(os.path.join(d, "pending"))
    print("suspend: write still pending after %.1f s" % (time.monotonic() - t0))
    if not wait_file(os.path.join(d, "restarted"), 60):
        die("suspend: the script never said 'restarted'")
    t1 = time.monotonic()
    done = False
    while time.monotonic() - t1 < 40.0:
        h.poll(100)
        try:
            done = h.aio_command_completed(cookie)
        except nbd.Error as e:
            die("suspend: the held write failed after the peer returned: %s" % e)
        if done:
            break
    if not done:
        die("suspend: the held write did not complete within 40 s of the "
            "secondary's restart")
    print("suspend: held write completed %.2f s after the restart"
          % (time.monotonic() - t1))
    h.flush()
    h.shutdown()


def cmd_try_write(uri):
    h = connect(uri)
    if not h.is_read_only():
        die("try-write: the export does not say read-only")
    # send the write anyway: libnbd would refuse it client-side
    h.set_strict_mode(h.get_strict_mode() & ~nbd.STRICT_COMMANDS)
    try:
        h.pwrite(b"\xee" * 4096, 0)
    except nbd.Error as e:
        print("try-write: refused: %s" % e)
        h.shutdown()
        return
    die("try-write: a write to a read-only secondary export succeeded")


def cmd_timed(uri):
    """A write, a write with FUA, a flush; prints their latencies (JSON)."""
    import json
    h = connect(uri)
    out = {}
    t = time.monotonic()
    h.pwrite(b"\x5a" * 4096, 1 * MiB)
    out["write"] = time.monotonic() - t
    t = time.monotonic()
    h.pwrite(b"\xa5" * 4096, 2 * MiB, nbd.CMD_FLAG_FUA)
    out["fua"] = time.monotonic() - t
    t = time.monotonic()
    h.flush()
    out["flush"] = time.monotonic() - t
    h.shutdown()
    print(json.dumps(out))


COMMANDS = {
    "timed": cmd_timed,
    "zero": cmd_zero,
    "flush": cmd_flush,
    "fill": cmd_fill,
    "overlap": cmd_overlap,
    "writer": cmd_writer,
    "suspend": cmd_suspend,
    "try-write": cmd_try_write,
}

if __name__ == "__main__":
    if len(sys.argv) < 2 or sys.argv[1] not in COMMANDS:
        print(__doc__, file=sys.stderr)
        sys.exit(2)
    fn, args = COMMANDS[sys.argv[1]], sys.argv[2:]
    try:
        inspect.signature(fn).bind(*args)
    except TypeError as e:
        print("nbdclient: %s: bad usage: %s" % (sys.argv[1], e), file=sys.stderr)
        sys.exit(2)
    try:
        fn(*args)
    except nbd.Error as e:
        die("%s: %s" % (sys.argv[1], e))
