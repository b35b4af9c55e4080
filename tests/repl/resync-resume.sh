#!/usr/bin/env bash
# resync-resume.sh: a resync survives either side dying.
#   - the target is killed (SIGKILL) mid-way through the initial full
#     resync and restarted: the resync resumes from the source's bitmap
#     (it sends less than the whole device again) and ends in identical
#     data areas; until then the target reports Inconsistent;
#   - the source is killed mid-way through a full resync (after
#     `repctl invalidate` on the target) and restarted: nothing is lost
#     (the full-sync intent is on disk, the resync runs again) and the
#     data areas end identical; meanwhile the target, Inconsistent,
#     refuses a plain promote.
# A resync-rate of 32M keeps the resync slow enough to be interrupted.
. "$(dirname "$0")/lib.sh"
require_python_nbd

SEED=${SEED:-$RANDOM}
log "seed $SEED"
ctl() { timeout 60 "$REPCTL" "$@"; }
# wait_done_at_least NODE BYTES: until NODE's resync.done_bytes >= BYTES
wait_done_at_least() {
	local i got
	for ((i = 0; i < 300; i++)); do
		got=$(status_field "$1" 'd["resync"]["done_bytes"]' 2>/dev/null) || got=0
		((got >= $2)) && return 0
		sleep 0.05
	done
	fail "$1: resync did not reach $2 bytes within 15 s (at $got)"
}

pair_init resume 160M
fill_random "${IMG[alpha]}" 128 "$SEED"
cfg=$D/r0.conf
write_pair_config "$cfg" resync-rate=32M
create_md "$cfg" alpha
create_md "$cfg" beta
start_node beta "$cfg"
start_node alpha "$cfg"
wait_connected
DATA_SIZE=$(md_data_size "$cfg" alpha)
wait_done_at_least alpha $((DATA_SIZE * 3 / 10))
[[ $(status_field beta 'd["disk"]') == Inconsistent ]] ||
	fail "the target reports $(status_field beta 'd["disk"]') mid-resync, want Inconsistent"
kill_node beta
start_node beta "$cfg"
expect_log alpha 'resync to the peer: [0-9]+ bytes \(sync-source-bitmap' 20 1
line=$(grep 'resync to the peer' "${LOG[alpha]}" | tail -n 1)
[[ $line =~ resync\ to\ the\ peer:\ ([0-9]+)\ bytes ]] || fail "cannot parse: $line"
again=${BASH_REMATCH[1]}
log "after the target's restart the resync resumes with $again of $DATA_SIZE bytes"
((again < DATA_SIZE * 8 / 10)) ||
	fail "the resync started over ($again of $DATA_SIZE bytes), want a resume"
ctl wait-sync --config "$cfg" --node alpha --timeout 60 >/dev/null ||
	fail "not in sync after the resumed resync"
stop_pair
compare_disks

# the source dies mid-way through a full resync
start_node beta "$cfg"
start_node alpha "$cfg"
wait_connected
ctl invalidate --config "$cfg" --node beta || fail "repctl invalidate"
n=$(log_count alpha 'resync to the peer')
wait_log alpha 'resync to the peer' 20 "$n" || fail "no resync after invalidate"
wait_done_at_least alpha $((DATA_SIZE * 3 / 10))
kill_node alpha
# the target, Inconsistent and alone now, refuses a plain promote
[[ $(status_field beta 'd["disk"]') == Inconsistent ]] ||
	fail "the target reports $(status_field beta 'd["disk"]') with its source gone, want Inconsistent"
if out=$(ctl promote --config "$cfg" --node beta 2>&1); then
	fail "a plain promote of the Inconsistent target succeeded"
fi
grep -qi 'inconsistent' <<<"$out" || fail "the promote refusal does not say Inconsistent: $out"
log "promote of the Inconsistent target refused: $out"
[[ $(status_field beta 'd["role"]') == secondary ]] || fail "beta is no longer secondary"
start_node alpha "$cfg"
wait_connected
ctl wait-sync --config "$cfg" --node alpha --timeout 60 >/dev/null ||
	fail "not in sync after the source's restart"
stop_pair
compare_disks
log "both interruptions ended in identical data areas"
