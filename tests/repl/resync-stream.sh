#!/usr/bin/env bash
# resync-stream.sh: what a resync puts on the link.
#   - zero runs go as WRITE_ZEROES, not as data: the initial full resync
#     of a 64 MiB device whose first 4 MiB are random and the rest zero
#     sends exactly 4 MiB of blocks (resync.sent_bytes), and alpha's
#     link carries less than 5 MiB in all;
#   - with compression = lz4 the resync stream is compressed: the same
#     resync of a device filled with text sends every block
#     (resync.sent_bytes = the data area) compressed (link.compressed_packets
#     > 0), and the link carries less than half of it;
#   - both end with identical data areas.
. "$(dirname "$0")/lib.sh"

SEED=${SEED:-$RANDOM}
log "seed $SEED"
MiB=1048576

# fill_text IMAGE MIB: the first MIB MiB of IMAGE, numbered text lines
fill_text() {
	"$PYTHON" - "$1" "$2" <<'PY' || harness_error "fill_text $1"
import sys
n, out = 0, bytearray()
with open(sys.argv[1], "r+b") as f:
    for _ in range(int(sys.argv[2])):
        out.clear()
        while len(out) < 1 << 20:
            out += b"%08d resync-stream test: a line of compressible text\n" % n
            n += 1
        f.write(out[:1 << 20])
PY
}

# full_sync CONFIG: fresh metadata on both (start_pair), start the pair,
# wait until the initial full resync from alpha has finished.
full_sync() {
	start_pair "$1"
	wait_in_sync
}

# zero runs
pair_init zeroes 64M
fill_random "${IMG[alpha]}" 4 "$SEED"
cfg=$D/r0.conf
write_pair_config "$cfg"
full_sync "$cfg"
st=$(status_field alpha '(d["resync"]["done_bytes"], d["resync"]["sent_bytes"], d["link"]["sent_bytes"])')
log "zeroes: (done, blocks sent, link bytes sent) = $st"
read -r done sent link < <(tr -d '(),' <<<"$st")
((done == DATA_SIZE)) || fail "the resync covered $done bytes, want the data area's $DATA_SIZE"
((sent == 4 * MiB)) || fail "the resync sent $sent bytes of blocks, want the 4 MiB that are not zero"
((link < 5 * MiB)) || fail "alpha's link carried $link bytes, want < 5 MiB (zero runs as WRITE_ZEROES)"
stop_pair
compare_disks

# lz4 on the resync stream
pair_init lz4 64M
fill_text "${IMG[alpha]}" 64
cfg=$D/r0.conf
write_pair_config "$cfg" compression=lz4
full_sync "$cfg"
st=$(status_field alpha '(d["resync"]["sent_bytes"], d["link"]["compressed_packets"], d["link"]["sent_bytes"])')
log "lz4: (blocks sent, compressed packets, link bytes sent) = $st"
read -r sent packets link < <(tr -d '(),' <<<"$st")
((sent == DATA_SIZE)) || fail "the resync sent $sent bytes of blocks, want all $DATA_SIZE"
((packets > 0)) || fail "no resync packet went compressed"
((link < DATA_SIZE / 2)) ||
	fail "alpha's link carried $link bytes for $DATA_SIZE of text, want < half"
stop_pair
compare_disks
log "zero runs went as WRITE_ZEROES, the lz4 resync stream was compressed"
