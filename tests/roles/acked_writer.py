#!/usr/bin/python3
"""acked_writer.py: the writer and the checker of mission.sh.

  write URI SEED AREA INFLIGHT DIR MAX_SECONDS
      Random-offset 4 KiB writes over the first AREA bytes of the export,
      INFLIGHT of them in flight (aio).  Each write has its own pattern
      (block_pattern: a header with a magic, the seed, the sequence number
      and the offset, then bytes pseudo-random from seed and sequence).
      Before a write is submitted, "SEQ OFFSET" is appended to DIR/issued;
      after its completion callback reported success (error 0), "SEQ
      OFFSET" is appended to DIR/acked.  Both files are flushed line by
      line.  An offset never has two writes in flight at once, so the
      writes to one offset reach the disks in issue order.  DIR/ready
      appears after the first 16 acknowledgements.  Runs until the
      connection fails (the primary is killed): exit 0 with a summary;
      exit 1 if a write failed while the connection still worked, or if
      MAX_SECONDS pass without the connection failing.

  check DIR SEED IMAGE [URI]
      For every offset with an acknowledged write: the block in IMAGE (a
      file) -- and through URI when given -- must hold the pattern of the
      last acknowledged write to that offset, or of a write to that offset
      issued after it (it may have reached the secondary without its ack
      reaching the client).  Prints counts; exit 1 listing (at most 20)
      offsets that hold anything else.

Every loop is bounded in count and time.
"""
import inspect
import os
import random
import struct
import sys
import time

import nbd

BLOCK = 4096
MAGIC = b"REPDMISN"
HDR = struct.Struct("<8sQQQ")	# magic, seed, seq, offset


def die(msg):
    print("acked_writer: FAIL: " + msg, file=sys.stderr)
    sys.exit(1)


def block_pattern(seed, seq, off):
    """The 4 KiB written by write number SEQ at OFF in run SEED."""
    head = HDR.pack(MAGIC, seed, seq, off)
    rest = random.Random(seed * 1000003 + seq).randbytes(BLOCK - HDR.size)
    return head + rest


def cmd_write(uri, seed, area, inflight, d, max_seconds):
    seed, area, inflight = int(seed), int(area), int(inflight)
    max_seconds = float(max_seconds)
    rng = random.Random(seed)
    nblocks = area // BLOCK
    if nblocks < inflight * 4:
        die("area too small for %d writes in flight" % inflight)
    issued_f = open(os.path.join(d, "issued"), "w", buffering=1)
    acked_f = open(os.path.join(d, "acked"), "w", buffering=1)
    h = nbd.NBD()
    h.connect_uri(uri)
    if h.get_size() < area:
        die("export (%d bytes) smaller than the area (%d)" % (h.get_size(), area))

    busy = {}		# offset -> seq of the write in flight there
    state = {"acked": 0, "failed": [], "ready": False}

    def make_cb(seq, off, buf):
        def cb(err):
            # buf is referenced here so it lives until the completion
            assert buf is not None
            del busy[off]
            if err.value == 0:
                acked_f.write("%d %d\n" % (seq, off))
                state["acked"] += 1
            else:
                state["failed"].append((seq, off, os.strerror(err.value)))
            return 1	# retire the command
        return cb

    seq = 0
    start = time.monotonic()
    reason = None
    while True:
        if time.monotonic() - start > max_seconds:
            die("the connection still works after %.0f s (%d writes issued, "
                "%d acknowledged): the primary was never killed"
                % (max_seconds, seq, state["acked"]))
        if state["failed"]:
            # a failed write: fine only if the connection is gone
            if h.aio_is_dead() or h.aio_is_closed():
                reason = "connection dead after %d failed write(s), first: %s" % (
                    len(state["failed"]), state["failed"][0][2])
                break
            # give libnbd a moment to notice a dead socket
            try:
                h.poll(200)
            except nbd.Error as e:
                reason = "poll: %s" % e
                break
            if not (h.aio_is_dead() or h.aio_is_closed()):
                s, o, e = state["failed"][0]
                die("write seq %d at %d failed while the connection is up: %s"
                    % (s, o, e))
            continue
        try:
            while len(busy) < inflight:
                for _ in range(1000):
                    off = rng.randrange(nblocks) * BLOCK
                    if off not in busy:
                        break
                else:
                    die("no free block after 1000 tries")
                seq += 1
                buf = nbd.Buffer.from_bytearray(bytearray(block_pattern(seed, seq, off)))
                # logged before it can reach any disk
                issued_f.write("%d %d\n" % (seq, off))
                busy[off] = seq
                h.aio_pwrite(buf, off, completion=make_cb(seq, off, buf))
            h.poll(1000)
        except nbd.Error as e:
            reason = "%s" % e
            break
        if not state["ready"] and state["acked"] >= 16:
            open(os.path.join(d, "ready"), "w").close()
            state["ready"] = True
    issued_f.close()
    acked_f.close()
    try:
        h.close()
    except Exception:	# pylint: disable=broad-except
        pass
    print("acked_writer: %d writes issued, %d acknowledged, %d failed, "
          "%d unanswered; stopped: %s"
          % (seq, state["acked"], len(state["failed"]), len(busy), reason))


def read_log(path):
    out = []
    with open(path) as f:
        for n, line in enumerate(f, 1):
            parts = line.split()
            if len(parts) != 2:
                die("%s:%d: malformed line %r" % (path, n, line))
            out.append((int(parts[0]), int(parts[1])))
    return out


def describe(blk, seed):
    magic, s, seq, off = HDR.unpack(blk[:HDR.size])
    if magic != MAGIC:
        if not any(blk):
            return "zeroes"
        return "foreign data (starts %s)" % blk[:16].hex()
    if s != seed:
        return "a block of seed %d" % s
    if blk != block_pattern(s, seq, off):
        return "torn/corrupt block claiming seq %d offset %d" % (seq, off)
    return "seq %d (offset %d)" % (seq, off)


def cmd_check(d, seed, image, uri=None):
    seed = int(seed)
    issued = read_log(os.path.join(d, "issued"))
    acked = read_log(os.path.join(d, "acked"))
    by_off = {}		# offset -> issued seqs in order
    for seq, off in issued:
        by_off.setdefault(off, []).append(seq)
    issued_seqs = {seq: off for seq, off in issued}
    last_acked = {}
    for seq, off in acked:
        if issued_seqs.get(seq) != off:
            die("acked write seq %d at %d was never issued" % (seq, off))
        last_acked[off] = max(seq, last_acked.get(off, 0))
    h = None
    if uri:
        h = nbd.NBD()
        h.connect_uri(uri)
    bad = []
    later = 0
    with open(image, "rb") as f:
        for off in sorted(last_acked):
            want = last_acked[off]
            allowed = [s for s in by_off[off] if s >= want]
            f.seek(off)
            sources = [("image", f.read(BLOCK))]
            if h:
                sources.append(("nbd", h.pread(BLOCK, off)))
            for what, blk in sources:
                ok = False
                for s in allowed:
                    if blk == block_pattern(seed, s, off):
                        ok = True
                        if s != want and what == "image":
                            later += 1
                        break
                if not ok:
                    bad.append("offset %d (%s): last acknowledged write seq %d, "
                               "later issued %s; found %s"
                               % (off, what, want, allowed[1:] or "none",
                                  describe(blk, seed)))
    if h:
        h.shutdown()
    print("check: %d writes issued, %d acknowledged, %d offsets checked%s, "
          "%d hold a later unacknowledged write"
          % (len(issued), len(acked), len(last_acked),
             " (image and NBD)" if uri else "", later))
    if bad:
        for b in bad[:20]:
            print("check: LOST: " + b, file=sys.stderr)
        die("%d of %d checked blocks lost an acknowledged write"
            % (len(bad), len(last_acked) * (2 if uri else 1)))


COMMANDS = {"write": cmd_write, "check": cmd_check}

if __name__ == "__main__":
    if len(sys.argv) < 2 or sys.argv[1] not in COMMANDS:
        print(__doc__, file=sys.stderr)
        sys.exit(2)
    fn, args = COMMANDS[sys.argv[1]], sys.argv[2:]
    try:
        inspect.signature(fn).bind(*args)
    except TypeError as e:
        print("acked_writer: %s: bad usage: %s" % (sys.argv[1], e), file=sys.stderr)
        sys.exit(2)
    try:
        fn(*args)
    except nbd.Error as e:
        die("%s: %s" % (sys.argv[1], e))
