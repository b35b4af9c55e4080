#!/usr/bin/env bash
# flush-batch.sh: FLUSHes that arrive while an fdatasync runs share the
# next one (replicator/fsync_batch.h). 64 FLUSHes sent at once from four
# connections, behind 16 MiB of buffered writes, must all succeed and take
# far fewer fdatasyncs than 64 (repctl status: io.flushes, io.fdatasyncs);
# a lone FLUSH still takes one of its own; the data reads back. TRIMs and
# WRITE_ZEROES with FUA share them the same way.
. "$(dirname "$0")/lib.sh"
require_python_nbd
[[ $INTEROP_SERVER == repd ]] || skip "repd's own counters"

DIRECT_IO_LINE="direct-io = no"	# dirty pages make each fdatasync last
img=$T/disk.img
sparse_image "$img" 64M
serve "$img" tcp

# counters: "FLUSHES FDATASYNCS" from repctl status --json.
counters() {
	timeout 10 "$REPCTL" status --config "$CFG" --node alpha --json |
		"$PYTHON" -c 'import json, sys
io = json.load(sys.stdin)["io"]
print(io["flushes"], io["fdatasyncs"])' ||
		fail "repctl status --json failed"
}

[[ $(counters) == "0 0" ]] || fail "at start io.flushes/io.fdatasyncs are '$(counters)', want '0 0'"

# burst MODE AT_MIB: four connections leave 16 MiB of writes at AT_MIB in
# the page cache (the first fdatasync has work), then send 64 requests at
# once: FLUSHes (MODE flush), or TRIMs and WRITE_ZEROES with FUA, 64 KiB
# each, 256 KiB apart (MODE fua). All must succeed; the 16 MiB must read
# back as written, less the ranges trimmed or zeroed.
cat >"$T/burst.py" <<'EOF_PY'
import random, sys
import nbd

uri, mode, at = sys.argv[1], sys.argv[2], int(sys.argv[3]) << 20
MiB, KiB = 1 << 20, 1 << 10
hs = []
for _ in range(4):
    h = nbd.NBD()
    h.connect_uri(uri)
    hs.append(h)
data = random.Random(at).randbytes(16 * MiB)
for i in range(16):
    hs[i % 4].pwrite(data[i * MiB:(i + 1) * MiB], at + i * MiB)
want = bytearray(data)
cookies = []
for i in range(64):
    h, off = hs[i % 4], i * 256 * KiB
    if mode == "flush":
        c = h.aio_flush()
    elif i % 2:
        c = h.aio_zero(64 * KiB, at + off, flags=nbd.CMD_FLAG_FUA)
    else:
        c = h.aio_trim(64 * KiB, at + off, flags=nbd.CMD_FLAG_FUA)
    if mode != "flush":
        want[off:off + 64 * KiB] = bytes(64 * KiB)   # holes read as zeroes
    cookies.append((h, c))
for _ in range(20000):
    busy = [h for h in hs if h.aio_in_flight() > 0]
    if not busy:
        break
    busy[0].poll(1)     # waits up to 1 s for that connection
else:
    sys.exit("FAIL: %s requests still in flight after 20000 polls" % mode)
for h, c in cookies:    # raises if that request failed
    if not h.aio_command_completed(c):
        sys.exit("FAIL: a %s request did not complete" % mode)
if hs[2].pread(16 * MiB, at) != want:
    sys.exit("FAIL: the 16 MiB at %d MiB do not read back as expected" % (at >> 20))
for h in hs:
    h.shutdown()
EOF_PY

timeout 60 "$PYTHON" "$T/burst.py" "$URI" flush 0 || fail "the FLUSH burst failed"

read -r flushes syncs <<<"$(counters)"
[[ $flushes == 64 ]] || fail "io.flushes is $flushes after 64 FLUSHes"
((syncs >= 1 && syncs <= 16)) ||
	fail "64 FLUSHes sent at once took $syncs fdatasyncs, want at most 16 (shared)"
log "64 FLUSHes at once: $syncs fdatasyncs"

timeout 30 "$PYTHON" - "$URI" <<'EOF_PY' || fail "the lone FLUSH failed"
import sys
import nbd
h = nbd.NBD()
h.connect_uri(sys.argv[1])
h.pwrite(b"x" * 4096, 0)
h.flush()
h.shutdown()
EOF_PY
read -r flushes2 syncs2 <<<"$(counters)"
[[ $flushes2 == 65 && $syncs2 == $((syncs + 1)) ]] ||
	fail "a lone FLUSH moved the counters to '$flushes2 $syncs2', want '65 $((syncs + 1))'"

# 32 TRIMs and 32 WRITE_ZEROES with FUA at once, behind 16 MiB of dirty
# pages: each waits for an fdatasync that starts after its fallocate, and
# they share them (io.flushes counts every wait).
timeout 60 "$PYTHON" "$T/burst.py" "$URI" fua 16 ||
	fail "the FUA TRIM/WRITE_ZEROES burst failed"
read -r flushes3 syncs3 <<<"$(counters)"
[[ $flushes3 == $((flushes2 + 64)) ]] ||
	fail "64 FUA TRIM/WRITE_ZEROES moved io.flushes from $flushes2 to $flushes3, want +64"
((syncs3 > syncs2 && syncs3 - syncs2 <= 32)) ||
	fail "64 FUA TRIM/WRITE_ZEROES at once took $((syncs3 - syncs2)) fdatasyncs, want 1 to 32 (shared)"
log "64 FUA TRIM/WRITE_ZEROES at once: $((syncs3 - syncs2)) fdatasyncs"

stop_repd
log "PASS"
