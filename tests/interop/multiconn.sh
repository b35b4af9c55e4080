#!/usr/bin/env bash
# multiconn.sh: CAN_MULTI_CONN means a FLUSH on one connection makes writes
# acknowledged on another visible and durable.  Two (then four) libnbd
# connections: write on A, FLUSH on B, read on B sees it; also FUA writes,
# concurrent 512 B writes into one 4 KiB block from four connections,
# and write-zeroes seen from another connection after FLUSH.
. "$(dirname "$0")/lib.sh"
require_python_nbd

META=internal
img=$T/disk.img
sparse_image "$img" 64M
serve "$img" tcp

timeout 120 "$PYTHON" - "$URI" <<'EOF' || fail "multi-conn checks failed"
import random, sys
import nbd

uri = sys.argv[1]
hs = []
for _ in range(4):
    h = nbd.NBD()
    h.connect_uri(uri)
    hs.append(h)
a, b = hs[0], hs[1]
for i, h in enumerate(hs):
    if not h.can_multi_conn():
        sys.exit("FAIL: connection %d: CAN_MULTI_CONN not advertised" % i)
size = a.get_size()
rnd = random.Random(7)
MiB = 1 << 20

def check(reader, off, want, what):
    got = reader.pread(len(want), off)
    if got != want:
        first = next(i for i in range(len(want)) if got[i] != want[i])
        sys.exit("FAIL: %s: offset %d (+%d) reads %02x, want %02x"
                 % (what, off, first, got[first], want[first]))

# 1. write on A (no FUA), FLUSH on B, read on B.
for n in range(200):
    ln = rnd.choice([1, 512, 4096, 4097, 65536, 1 << 20])
    off = rnd.randrange(0, size - ln)
    data = rnd.randbytes(ln)
    a.pwrite(data, off)
    b.flush()
    check(b, off, data, "write on A, flush on B, read on B (round %d)" % n)
    a, b = b, a
print("write/flush/read across two connections: PASS")

# 2. FUA write on one, read on another (FUA is durable and visible at once).
for n in range(50):
    w, r = rnd.sample(hs, 2)
    off = rnd.randrange(0, size - 8192)
    data = rnd.randbytes(8192)
    w.pwrite(data, off, nbd.CMD_FLAG_FUA)
    check(r, off, data, "FUA write on one connection, read on another (round %d)" % n)
print("FUA write visible on other connections: PASS")

# 3. Interleaved writes from four connections to disjoint blocks, one
#    FLUSH, then every connection reads everything back.
blocks = {}
for n in range(64):
    h = hs[n % 4]
    data = rnd.randbytes(4096)
    off = n * 4096 * 3 + 40 * MiB
    h.pwrite(data, off)
    blocks[off] = data
hs[3].flush()
for h in hs:
    for off, data in blocks.items():
        check(h, off, data, "4-connection interleave")
print("four connections, one flush: PASS")

# 4. Zeroing and trimming on A are seen as zeros on B after B's FLUSH.
off = 50 * MiB
a.pwrite(b"\xa5" * (2 * MiB), off)
a.flush()
a.zero(MiB, off)
b.flush()
check(b, off, bytes(MiB), "write_zeroes on A, read on B")
check(b, off + MiB, b"\xa5" * MiB, "data next to the zeroed range")
a.zero(MiB // 2, off + MiB, nbd.CMD_FLAG_NO_HOLE)
b.flush()
check(b, off + MiB, bytes(MiB // 2), "write_zeroes NO_HOLE on A, read on B")
print("write_zeroes across connections: PASS")

# 5. Sub-block writes to one 4 KiB block from four connections at once:
#    repd's read-modify-write (O_DIRECT) must not lose any of them.
base = 60 * MiB
for n in range(100):
    want = bytearray(4096)
    cookies = []
    for i in range(8):
        data = rnd.randbytes(512)
        want[i * 512:(i + 1) * 512] = data
        h = hs[i % 4]
        cookies.append((h, h.aio_pwrite(nbd.Buffer.from_bytearray(data),
                                        base + i * 512)))
    for h, ck in cookies:
        for _ in range(100):
            if h.aio_command_completed(ck):
                break
            h.poll(100)
        else:
            sys.exit("FAIL: sub-block write not completed within 10 s")
    hs[n % 4].flush()
    check(hs[(n + 1) % 4], base, bytes(want),
          "eight 512 B writes to one block from four connections (round %d)" % n)
print("concurrent sub-block writes from four connections: PASS")

for h in hs:
    h.shutdown()
EOF

stop_repd
