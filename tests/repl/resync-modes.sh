#!/usr/bin/env bash
# resync-modes.sh: checksum-based resync and the resync-rate ceiling.
#   - resync-checksum = yes: `repctl invalidate` on the secondary starts a
#     full resync, but identical blocks are not sent: 0 bytes of blocks
#     for identical copies; after K blocks are corrupted on the
#     secondary's file behind repd's back, exactly K x 4 KiB;
#     the data areas end identical;
#   - resync-rate = 16M: a full resync of 48 MiB takes at least the time
#     the ceiling allows (a lower bound only: a slow machine is slower).
. "$(dirname "$0")/lib.sh"
require_python_nbd

SEED=${SEED:-$RANDOM}
log "seed $SEED"
ctl() { timeout 60 "$REPCTL" "$@"; }
last_sent() {
	local line
	line=$(grep 'resync finished' "${LOG[alpha]}" | tail -n 1)
	[[ $line =~ ([0-9]+)\ bytes\ of\ blocks\ sent ]] ||
		fail "no 'bytes of blocks sent' in: $line"
	echo "${BASH_REMATCH[1]}"
}
# full_resync: invalidate the secondary, wait until in sync again
full_resync() {
	local before
	before=$(log_count alpha 'resync finished')
	ctl invalidate --config "$cfg" --node beta || fail "repctl invalidate failed"
	wait_log alpha 'resync finished' 60 $((before + 1)) ||
		fail "no resync finished after invalidate"
	ctl wait-sync --config "$cfg" --node alpha --timeout 60 >/dev/null ||
		fail "not in sync after the resync"
}

pair_init checksum 64M
cfg=$D/r0.conf
write_pair_config "$cfg" resync-checksum=yes
start_pair "$cfg"
wait_in_sync
nbdpy fill "$(uri alpha)" 0 $((48 * 1048576)) random "$SEED" || fail "fill"
nbd_flush alpha

full_resync
sent=$(last_sent)
[[ $sent == 0 ]] || fail "checksum resync of identical copies sent $sent bytes of blocks, want 0"
log "identical copies: 0 bytes of blocks sent"

K=17
"$PYTHON" - "$SEED" "${IMG[beta]}" "$K" <<'PY'
import os, random, sys
r = random.Random(int(sys.argv[1]))
fd = os.open(sys.argv[2], os.O_WRONLY)
for b in r.sample(range(48 * 256), int(sys.argv[3])):
    os.pwrite(fd, b"corrupt!" * 8, b * 4096 + 512)
os.close(fd)
PY
full_resync
sent=$(last_sent)
[[ $sent == $((K * 4096)) ]] || fail "checksum resync sent $sent bytes of blocks, want $((K * 4096)) for $K corrupted blocks"
log "$K corrupted blocks: $sent bytes of blocks sent"
stop_pair
compare_disks

pair_init rate 64M
cfg=$D/r0.conf
write_pair_config "$cfg" resync-rate=16M
start_pair "$cfg"
wait_in_sync
nbdpy fill "$(uri alpha)" 0 $((48 * 1048576)) random "$SEED" || fail "fill"
t0=$(date +%s%N)
full_resync
ms=$((($(date +%s%N) - t0) / 1000000))
# the whole data area is resynced (its zero tail as WRITE_ZEROES)
want=$((DATA_SIZE * 1000 / (16 * 1048576) * 8 / 10))
log "full resync of $DATA_SIZE bytes at resync-rate 16M: $ms ms (at least $want ms expected)"
((ms >= want)) || fail "resync-rate 16M: $DATA_SIZE bytes resynced in $ms ms, faster than the ceiling allows"
stop_pair
compare_disks
