#!/usr/bin/env bash
# qemu-io.sh: qemu's NBD client against repd: plain, FUA, zero (NO_HOLE and
# may-unmap), discard, flush, aio writes, unaligned writes, the last block;
# read back through NBD, then check the backing file after repd stops.
. "$(dirname "$0")/lib.sh"
require_cmd qemu-io

MiB=1048576
img=$T/disk.img
# Fully allocated, every byte 0xcc, so zeroing and holes are visible.
head -c 16M /dev/zero | tr '\0' '\314' >"$img"
[[ $(stat -c %s "$img") -eq $((16 * MiB)) ]] || fail "could not make the image"

serve "$img" tcp

# -t none: writeback cache, so only "write -f" sends FUA.
# -d unmap: let "discard" and "write -z -u" reach the server.
qio=(timeout 60 qemu-io -f raw -t none -d unmap "$URI")
cmds=(
	"write -P 0xab 0 1M"
	"read -P 0xab 0 1M"
	"write -f -P 0xcd 1M 1M"
	"read -P 0xcd 1M 1M"
	"write -z 2M 1M"
	"read -P 0 2M 1M"
	"write -z -u 3M 1M"
	"read -P 0 3M 1M"
	"discard 4M 1M"
	"flush"
	"aio_write -P 0xef 5M 512k"
	"aio_write -P 0xee 5632k 512k"
	"aio_flush"
	"read -P 0xef 5M 512k"
	"read -P 0xee 5632k 512k"
	"write -P 0x77 6291457 1000"
	"write -f -P 0x78 6296456 3"
	"read -P 0xcc 6291456 1"
	"read -P 0x77 6291457 1000"
	"read -P 0xcc 6292457 3999"
	"read -P 0x78 6296456 3"
	"read -P 0xcc 6296459 1"
	"write -P 0x99 16773120 4096"
	"read -P 0x99 16773120 4096"
	"read -P 0xcc 7M 9212k"
	"flush"
)
args=()
for c in "${cmds[@]}"; do args+=(-c "$c"); done
rc=0
out=$("${qio[@]}" "${args[@]}" 2>&1) || rc=$?
printf '%s\n' "$out" | sed 's/^/    qemu-io: /' >&2
((rc == 0)) || fail "qemu-io exited with status $rc"
if grep -Eqi 'fail|error|mismatch' <<<"$out"; then
	fail "qemu-io reported an error (see its output above)"
fi
nops=$(grep -Ec '^(wrote|read) ' <<<"$out" || :)
# Every read/write/aio_write prints one "wrote"/"read" line.
want_ops=$(printf '%s\n' "${cmds[@]}" | grep -Ec '^(aio_)?(write|read) ')
((nops == want_ops)) || fail "qemu-io reported $nops transfers, want $want_ops"
log "qemu-io through NBD: PASS"

stop_repd

# The backing file, region by region.  [4M,5M) was discarded: any content.
"$PYTHON" - "$img" <<'EOF' || fail "backing file content is wrong"
import os, sys
MiB = 1 << 20
data = open(sys.argv[1], "rb").read()
want = [
    (0, MiB, 0xab), (MiB, MiB, 0xcd), (2 * MiB, MiB, 0), (3 * MiB, MiB, 0),
    (5 * MiB, 512 * 1024, 0xef), (5632 * 1024, 512 * 1024, 0xee),
    (6 * MiB, 1, 0xcc), (6 * MiB + 1, 1000, 0x77), (6 * MiB + 1001, 3999, 0xcc),
    (6 * MiB + 5000, 3, 0x78), (6 * MiB + 5003, MiB - 5003, 0xcc),
    (7 * MiB, 9 * MiB - 4096, 0xcc), (16 * MiB - 4096, 4096, 0x99),
]
bad = 0
if len(data) != 16 * MiB:
    print("size %d, want %d" % (len(data), 16 * MiB), file=sys.stderr)
    bad += 1
for off, ln, b in want:
    chunk = data[off:off + ln]
    if chunk != bytes([b]) * ln:
        first = next((i for i, x in enumerate(chunk) if x != b), len(chunk))
        print("[%d, +%d) want 0x%02x; offset %d has %s" % (off, ln, b, off + first,
              "0x%02x" % chunk[first] if first < len(chunk) else "EOF"), file=sys.stderr)
        bad += 1
sys.exit(1 if bad else 0)
EOF
log "backing file content: PASS"

# write -z without -u carries NO_HOLE: [2M,3M) must stay allocated.  Only
# discard [4M,5M) and write -z -u [3M,4M) may free space: >= 14 MiB left.
blocks=$(stat -c %b "$img")
bsize=$(stat -c %B "$img")
((blocks * bsize >= 14 * MiB)) ||
	fail "backing file has $((blocks * bsize)) bytes allocated, want >= $((14 * MiB)) (NO_HOLE zeroing punched a hole?)"
log "NO_HOLE kept allocation ($((blocks * bsize)) bytes allocated): PASS"
