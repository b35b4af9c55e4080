#!/usr/bin/env bash
# resync-under-load.sh: a resync never overwrites newer application data.
# Clients keep writing, with many overlapping writes in flight, over the
# very blocks a resync is moving; afterwards both data areas must be
# identical byte for byte. Twice:
#   - the initial full resync of a new pair (plain block copy);
#   - a full checksum resync (resync-checksum = yes) after
#     `repctl invalidate` on the secondary (hash first, then the blocks
#     that differ: the longest window between read and send).
# resync-rate keeps each resync running while the writer works, and the
# test checks that it was.
. "$(dirname "$0")/lib.sh"
require_python_nbd

SEED=${SEED:-$RANDOM}
log "seed $SEED"
ctl() { timeout 60 "$REPCTL" "$@"; }
wait_resync_active() {
	local i
	for ((i = 0; i < 100; i++)); do
		[[ $(status_field alpha 'd["resync"]["active"]' 2>/dev/null) == True ]] && return 0
		sleep 0.05
	done
	fail "no resync running on alpha within 5 s"
}
# hammer PASS: overlapping writes over the first ~51 MiB while the
# resync runs; the resync must still be running when the writer starts
hammer() {
	local n
	wait_resync_active
	n=$(log_count alpha 'resync finished')
	nbdpy overlap "$(uri alpha)" 3000 16 400 $((256 << 10)) "$SEED$1" >"$D/overlap.$1" 2>&1 ||
		fail "pass $1: writer failed: $(tail -n 3 "$D/overlap.$1")"
	log "pass $1: $(tail -n 1 "$D/overlap.$1")"
	# the resync was running when the writer began; count the writes it
	# overlapped: the finished line must not predate the writer
	[[ $(log_count alpha 'resync finished') == "$n" ]] ||
		log "pass $1: the resync finished while the writer ran"
	[[ $(status_field alpha 'd["resync"]["active"]') == True || $(log_count alpha 'resync finished') -gt $n ]] ||
		fail "pass $1: no resync ran during the writes"
	ctl wait-sync --config "$cfg" --node alpha --timeout 120 >/dev/null ||
		fail "pass $1: not in sync after the writes"
}

pair_init underload 96M
fill_random "${IMG[alpha]}" 64 "$SEED"
cfg=$D/r0.conf
write_pair_config "$cfg" resync-rate=24M
create_md "$cfg" alpha
create_md "$cfg" beta
DATA_SIZE=$(md_data_size "$cfg" alpha)
start_node beta "$cfg"
start_node alpha "$cfg"
wait_connected
wait_nbd alpha
hammer 1
stop_pair
compare_disks

write_pair_config "$cfg" resync-rate=24M resync-checksum=yes
start_node beta "$cfg"
start_node alpha "$cfg"
wait_connected
wait_nbd alpha
ctl invalidate --config "$cfg" --node beta >/dev/null || fail "repctl invalidate on beta"
hammer 2
stop_pair
compare_disks
finish
