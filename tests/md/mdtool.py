#!/usr/bin/python3
"""mdtool.py: helpers for the metadata tests.

  mdtool.py write URI SEED LOG [SECONDS]
      Random writes of 4 KiB..64 KiB (4 KiB aligned) at random offsets from
      random.Random(SEED), 32 in flight (libnbd aio), until the server goes
      away or SECONDS (default 60) pass.  LOG gets, as it goes (line
      buffered, written BEFORE the request is submitted):
          S INDEX OFFSET LENGTH      submitted
          A INDEX                    acknowledged by the server
      Write INDEX carries struct.pack(">QQ", SEED, INDEX) repeated.

  mdtool.py check DUMP_JSON LOG IMAGE [--bitmap-only]
      Coverage after a crash.  DUMP_JSON is `repctl dump-md --json`; the
      covered set is the union of bitmap.dirty_ranges and al.hot_ranges
      (only the bitmap with --bitmap-only; everything if the AL could not
      be replayed).  IMAGE started all zero (a fresh sparse file), so a
      4 KiB block of the data area that is not zero was written in this
      run.  Fails unless
        1. every acknowledged write is covered,
        2. every block that is not zero (was changed) is covered, and
        3. every changed block lies in a submitted write (harness check).
      Submitted writes that are not covered are allowed only if they never
      reached the disk (all their uncovered blocks are zero) and were not
      acknowledged: they were in flight (in a socket buffer or waiting for
      their activity-log transaction) when repd died. They are counted.

  mdtool.py nbdwrite URI OFFSET LENGTH
      One write of LENGTH bytes of 0xa5 at OFFSET, then flush.

  mdtool.py params SEED
      Print "DELAY GRANULARITY AL_EXTENT AL_SLOTS" for a crash iteration.

  mdtool.py bump-version FILE OFFSET VERSION
      Rewrite the superblock at OFFSET with format VERSION and a valid
      crc32c (makes a "newer format" superblock).

Exit status 0 = pass, 1 = fail, 2 = usage.
"""

import bisect
import json
import random
import struct
import sys
import time

BS = 4096
INFLIGHT = 32


def write(uri, seed, logpath, seconds=60.0):
    import nbd

    h = nbd.NBD()
    h.connect_uri(uri)
    size = h.get_size()
    rng = random.Random(seed)
    inflight = {}               # cookie -> (index, buffer)
    log = open(logpath, "w", buffering=1)
    t0 = time.monotonic()
    idx = acked = 0
    dead = False

    def retire():
        nonlocal acked, dead
        for c in list(inflight):
            try:
                done = h.aio_command_completed(c)
            except nbd.Error:
                inflight.pop(c)
                dead = True
                continue
            if done:
                i, _ = inflight.pop(c)
                log.write("A %d\n" % i)
                acked += 1

    while time.monotonic() - t0 < seconds and not dead:
        while len(inflight) < INFLIGHT:
            length = rng.randint(1, 16) * BS
            off = rng.randrange(0, (size - length) // BS + 1) * BS
            buf = nbd.Buffer.from_bytearray(
                struct.pack(">QQ", seed, idx) * (length // 16))
            # logged before submission: the log is a superset of what
            # the server may have received
            log.write("S %d %d %d\n" % (idx, off, length))
            try:
                c = h.aio_pwrite(buf, off)
            except nbd.Error:
                dead = True
                break
            inflight[c] = (idx, buf)
            idx += 1
        if dead or h.aio_is_dead() or h.aio_is_closed():
            break
        try:
            h.poll(1000)
        except nbd.Error:
            dead = True
        retire()
    retire()
    log.close()
    print("writer: seed %d: %d submitted, %d acknowledged, %d in flight "
          "at the end%s" % (seed, idx, acked, len(inflight),
                            "" if dead else " (server still alive)"))
    return 0


def merge(ranges):
    out = []
    for off, length in sorted(ranges):
        end = off + length
        if out and off <= out[-1][1]:
            out[-1][1] = max(out[-1][1], end)
        else:
            out.append([off, end])
    return out


class Cover:
    def __init__(self, ranges, everything=False):
        self.iv = merge(ranges)
        self.starts = [a for a, _ in self.iv]
        self.everything = everything

    def uncovered(self, off, length):
        """Sub-ranges of [off, off+length) outside the covered set."""
        if self.everything:
            return []
        out = []
        pos, end = off, off + length
        i = bisect.bisect_right(self.starts, pos) - 1
        if i < 0:
            i = 0
        while pos < end:
            while i < len(self.iv) and self.iv[i][1] <= pos:
                i += 1
            if i == len(self.iv) or self.iv[i][0] >= end:
                out.append((pos, end))
                break
            a, b = self.iv[i]
            if a > pos:
                out.append((pos, a))
            pos = b
        return out


def changed_blocks(image, data_size):
    """Offsets of 4 KiB blocks of the data area that are not zero."""
    chunk = 1 << 20
    zero = bytes(chunk)
    out = []
    with open(image, "rb") as f:
        off = 0
        while off < data_size:
            n = min(chunk, data_size - off)
            buf = f.read(n)
            if len(buf) != n:
                raise SystemExit("FAIL: %s: short read at %d" % (image, off))
            if buf != zero[:n]:
                for b in range(0, n, BS):
                    if buf[b:b + BS] != zero[:BS]:
                        out.append(off + b)
            off += n
    return out


def check(dump_path, logpath, image, bitmap_only=False):
    d = json.load(open(dump_path))
    data_size = d["superblock"]["data_size"]
    ranges = [tuple(r) for r in d["bitmap"]["dirty_ranges"]]
    what = "bitmap"
    everything = False
    if not bitmap_only:
        what = "bitmap + AL"
        if d["al"]["replay"] != "ok":
            everything = True
            print("check: AL cannot be replayed: the whole device counts "
                  "as dirty")
        ranges += [tuple(r) for r in d["al"]["hot_ranges"]]
    cover = Cover(ranges, everything)

    subs, acks = {}, set()
    for line in open(logpath):
        f = line.split()
        if f[0] == "S":
            subs[int(f[1])] = (int(f[2]), int(f[3]))
        elif f[0] == "A":
            acks.add(int(f[1]))
    if not subs:
        print("FAIL: the writer submitted nothing; test is void")
        return 1

    bad = 0
    # 1. acknowledged writes
    for i in sorted(acks):
        off, length = subs[i]
        u = cover.uncovered(off, length)
        if u:
            bad += 1
            if bad <= 10:
                print("FAIL: acknowledged write #%d %d+%d not covered by "
                      "the %s: %s" % (i, off, length, what, u[:4]))
    # 2. changed blocks; 3. each inside a submitted write
    sub_cover = Cover([v for v in subs.values()])
    changed = changed_blocks(image, data_size)
    for off in changed:
        if cover.uncovered(off, BS):
            bad += 1
            if bad <= 10:
                print("FAIL: block %d changed on disk but is not covered "
                      "by the %s" % (off, what))
        if sub_cover.uncovered(off, BS):
            bad += 1
            if bad <= 10:
                print("FAIL: block %d changed on disk outside every "
                      "submitted write" % off)
    # submitted, not covered: must never have reached the disk
    changed_set = set(changed)
    in_flight = 0
    for i, (off, length) in subs.items():
        u = cover.uncovered(off, length)
        if not u:
            continue
        reached = [b for a, e in u for b in range(a, e, BS)
                   if b in changed_set]
        if i in acks or reached:
            continue            # already reported above
        in_flight += 1
    dirty_bytes = sum(l for _, l in d["bitmap"]["dirty_ranges"])
    print("check (%s): %d submitted, %d acknowledged, %d blocks changed; "
          "bitmap %d ranges / %d bytes, AL %d hot extents; %d submitted "
          "writes not covered and never on disk (in flight at the kill); "
          "%d problems"
          % (what, len(subs), len(acks), len(changed),
             len(d["bitmap"]["dirty_ranges"]), dirty_bytes,
             len(d["al"]["hot_extents"]), in_flight, bad))
    return 1 if bad else 0


def nbdwrite(uri, off, length):
    import nbd

    h = nbd.NBD()
    h.connect_uri(uri)
    h.pwrite(b"\xa5" * length, off)
    h.flush()
    h.shutdown()
    return 0


def params(seed):
    rng = random.Random(seed)
    delay = rng.uniform(0.2, 2.0)
    gran = rng.choice([4096, 16384, 65536])
    # mostly a small AL (67 MiB hot of 512 MiB: extents are evicted, so
    # the bitmap-before-eviction rule is exercised), sometimes the default
    if rng.random() < 0.7:
        ext, slots = 1 << 20, 67
    else:
        ext, slots = 4 << 20, 1237
    print("%.3f %d %d %d" % (delay, gran, ext, slots))
    return 0


_CRC_TABLE = []
for _n in range(256):
    _c = _n
    for _ in range(8):
        _c = (_c >> 1) ^ 0x82F63B78 if _c & 1 else _c >> 1
    _CRC_TABLE.append(_c)


def crc32c(data):
    c = 0xFFFFFFFF
    for b in data:
        c = _CRC_TABLE[(c ^ b) & 0xFF] ^ (c >> 8)
    return c ^ 0xFFFFFFFF


def bump_version(path, off, version):
    with open(path, "r+b") as f:
        f.seek(off)
        blk = bytearray(f.read(BS))
        if blk[:8] != b"REPDMDSB":
            print("FAIL: no superblock at %d of %s" % (off, path))
            return 1
        struct.pack_into("<I", blk, 8, version)     # MD_SB_OFF_VERSION
        struct.pack_into("<I", blk, 12, 0)          # MD_SB_OFF_CRC
        struct.pack_into("<I", blk, 12, crc32c(bytes(blk)))
        f.seek(off)
        f.write(blk)
    return 0


def main(argv):
    a = argv[1:]
    if len(a) in (4, 5) and a[0] == "write":
        return write(a[1], int(a[2]), a[3], float(a[4]) if len(a) == 5 else 60.0)
    if len(a) in (4, 5) and a[0] == "check":
        return check(a[1], a[2], a[3], len(a) == 5 and a[4] == "--bitmap-only")
    if len(a) == 4 and a[0] == "nbdwrite":
        return nbdwrite(a[1], int(a[2]), int(a[3]))
    if len(a) == 2 and a[0] == "params":
        return params(int(a[1]))
    if len(a) == 4 and a[0] == "bump-version":
        return bump_version(a[1], int(a[2]), int(a[3]))
    print(__doc__, file=sys.stderr)
    return 2


if __name__ == "__main__":
    sys.exit(main(sys.argv))
