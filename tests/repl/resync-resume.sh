#!/usr/bin/env bash
# resync-resume.sh: a resync survives either side dying.
#   - the target is killed (SIGKILL) mid-way through the initial full
#     resync, once the source has cleared bits (the target flushed what
#     it wrote, docs/design.md "Durable progress"), and restarted: the
#     resync resumes from the source's bitmap
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
	wait_status "$1" "d['resync']['done_bytes'] >= $2" 15 'd["resync"]["done_bytes"]'
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
# the bits go only once the target flushed the blocks
wait_status alpha "d['out_of_sync_bytes'] <= $((DATA_SIZE * 7 / 10))" 15 'd["out_of_sync_bytes"]'
[[ $(status_field beta 'd["disk"]') == Inconsistent ]] ||
	fail "the target reports $(status_field beta 'd["disk"]') mid-resync, want Inconsistent"
kill_node beta
start_node beta "$cfg"
resync_started alpha 2
[[ $RESYNC_LINE == *'(sync-source-bitmap'* ]] || fail "not a bitmap resync: $RESYNC_LINE"
again=$RESYNC_BYTES
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
