#!/usr/bin/python3
"""sigterm-client.py: load for sigterm.sh.

  sigterm-client.py load URI PID ACKFILE
      Write 4 KiB blocks, each block at most once, in random order with
      about 32 requests in flight.  After KILL_AFTER acknowledged writes,
      send SIGTERM to PID and keep going until the server stops answering;
      stop submitting 5 s after the signal at the latest.  Then keep the
      (idle) connection open until PID exits, at most 10 s after the signal.
      ACKFILE gets one line "acked|unacked INDEX OFFSET" per submitted write.

  sigterm-client.py verify IMAGE ACKFILE
      Every acknowledged block must hold its pattern; every other block
      submitted must hold its pattern or zeros; every block never written
      must be zeros.

Block INDEX at OFFSET holds struct.pack(">QQ", OFFSET, INDEX) repeated.
Exit status 0 = pass, 1 = fail, 2 = usage.
"""

import os
import random
import signal
import struct
import sys
import time

BS = 4096
INFLIGHT = 32
KILL_AFTER = 3000
SUBMIT_AFTER_KILL_S = 5.0
EXIT_WITHIN_S = 10.0
RUN_LIMIT_S = 60.0


def pattern(off, idx):
    return struct.pack(">QQ", off, idx) * (BS // 16)


def proc_alive(pid):
    try:
        with open("/proc/%d/stat" % pid) as f:
            stat = f.read()
    except (FileNotFoundError, ProcessLookupError):
        # the process can be reaped between open() and read(): ESRCH
        return False
    return stat.rsplit(")", 1)[1].split()[0] != "Z"


def load(uri, pid, ackfile):
    import nbd

    h = nbd.NBD()
    h.connect_uri(uri)
    size = h.get_size()
    nblocks = size // BS
    order = random.Random(1).sample(range(nblocks), nblocks)
    inflight = {}               # cookie -> (index, offset, buffer)
    acked, unacked = [], []
    next_i = 0
    t0 = time.monotonic()
    t_kill = None
    inflight_at_kill = 0
    submit = True
    errors = 0
    msgs = {}                   # error message -> count

    def retire():
        nonlocal errors, submit
        for c in list(inflight):
            try:
                done = h.aio_command_completed(c)
            except nbd.Error as e:
                unacked.append(inflight.pop(c))
                errors += 1
                msgs[str(e)] = msgs.get(str(e), 0) + 1
                submit = False      # the server is going away
                continue
            if done:
                acked.append(inflight.pop(c))

    while True:
        now = time.monotonic()
        if now - t0 > RUN_LIMIT_S:
            print("FAIL: client still running after %.0f s" % RUN_LIMIT_S)
            return 1
        if t_kill is not None and now - t_kill > SUBMIT_AFTER_KILL_S:
            submit = False
        while submit and len(inflight) < INFLIGHT and next_i < nblocks:
            off = order[next_i] * BS
            buf = nbd.Buffer.from_bytearray(pattern(off, next_i))
            try:
                c = h.aio_pwrite(buf, off)
            except nbd.Error:
                submit = False
                break
            inflight[c] = (next_i, off, buf)
            next_i += 1
        if not inflight:
            break
        if h.aio_is_dead() or h.aio_is_closed():
            retire()
            unacked.extend(inflight.values())
            inflight.clear()
            break
        try:
            h.poll(1000)
        except nbd.Error:
            pass                    # dead now: the next round retires all
        retire()
        if t_kill is None and len(acked) >= KILL_AFTER:
            inflight_at_kill = len(inflight)
            os.kill(pid, signal.SIGTERM)
            t_kill = time.monotonic()

    with open(ackfile, "w") as f:
        for kind, lst in (("acked", acked), ("unacked", unacked)):
            for idx, off, _ in lst:
                f.write("%s %d %d\n" % (kind, idx, off))

    print("writes: %d submitted, %d acknowledged (%d after SIGTERM), %d failed; "
          "%d in flight at SIGTERM"
          % (next_i, len(acked), max(0, len(acked) - KILL_AFTER), errors,
             inflight_at_kill))
    for m, n in sorted(msgs.items()):
        print("  %d x %s" % (n, m))
    if t_kill is None:
        print("FAIL: finished all %d writes before sending SIGTERM" % nblocks)
        return 1
    if inflight_at_kill == 0:
        print("FAIL: nothing in flight when SIGTERM was sent; test is void")
        return 1
    # Keep our connection open: a server that waits for clients to leave
    # before exiting fails here.
    while proc_alive(pid) and time.monotonic() - t_kill < EXIT_WITHIN_S:
        time.sleep(0.05)
    if proc_alive(pid):
        print("FAIL: server PID %d still running %.0f s after SIGTERM, "
              "with this client connected and idle" % (pid, EXIT_WITHIN_S))
        return 1
    print("server exited %.2f s after SIGTERM" % (time.monotonic() - t_kill))
    return 0


def verify(image, ackfile):
    data = open(image, "rb").read()
    state = {}
    for line in open(ackfile):
        kind, idx, off = line.split()
        state[int(off)] = (kind, int(idx))
    zero = bytes(BS)
    bad = 0
    nacked = 0
    for off in range(0, len(data) - len(data) % BS, BS):
        blk = data[off:off + BS]
        kind, idx = state.get(off, ("never", -1))
        if kind == "acked":
            nacked += 1
            ok = blk == pattern(off, idx)
        elif kind == "unacked":
            ok = blk == zero or blk == pattern(off, idx)
        else:
            ok = blk == zero
        if not ok:
            bad += 1
            if bad <= 10:
                print("FAIL: block at offset %d (%s write #%d): got %s..., want %s"
                      % (off, kind, idx, blk[:16].hex(),
                         "zeros" if kind == "never" else
                         pattern(off, idx)[:16].hex() +
                         ("..." if kind == "acked" else "... or zeros")))
    print("verified %d acknowledged blocks, %d bad blocks in total" % (nacked, bad))
    return 1 if bad else 0


def main(argv):
    if len(argv) == 5 and argv[1] == "load":
        return load(argv[2], int(argv[3]), argv[4])
    if len(argv) == 4 and argv[1] == "verify":
        return verify(argv[2], argv[3])
    print(__doc__, file=sys.stderr)
    return 2


if __name__ == "__main__":
    sys.exit(main(sys.argv))
