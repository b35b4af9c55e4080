#!/usr/bin/env bash
# resync-ioerror.sh: a disk that fails under a resync stops it, says why,
# and leaves every block not known to be on the target out of sync.
#   - the source's reads fail (test hook REPD_TEST_FAIL_IO_AFTER) in the
#     initial full resync: alpha stops it, status shows resync.error
#     ("local read failed at OFF+LEN: Input/output error") and
#     last_error, resync.active false and bytes still out of sync; beta
#     stays Inconsistent and refuses promotion;
#   - the target's writes fail (test hook REPD_TEST_FAIL_APPLY_AFTER on
#     beta): alpha stops the resync with "the peer could not write at
#     ...", the same checks;
#   - in both, once the failing node restarts without the fault, the
#     resync sends exactly what alpha still counts out of sync, ends
#     with resync.error null, and the data areas are identical: no block
#     was counted in sync that was not. The second case runs at
#     resync-rate 16M so that FLUSHes cleared blocks before the failure.
. "$(dirname "$0")/lib.sh"

SEED=${SEED:-$RANDOM}
log "seed $SEED"
ctl() { timeout 60 "$REPCTL" "$@"; }

# stopped_checks WHAT: alpha stopped its resync with an error matching
# WHAT; beta is an Inconsistent secondary that refuses promotion.
stopped_checks() {
	local st err oos
	wait_status alpha "d['resync']['error'] is not None" 20 'd["resync"]'
	err=$(status_field alpha 'd["resync"]["error"]')
	log "alpha's resync.error: $err"
	[[ $err =~ ^$1\ at\ [0-9]+\+[0-9]+:\ Input/output\ error$ ]] ||
		fail "resync.error is '$err', want '$1 at OFF+LEN: Input/output error'"
	st=$(status_field alpha '(d["resync"]["active"], d["connection"], d["peer"]["disk"])')
	[[ $st == "(False, 'Connected', 'Inconsistent')" ]] ||
		fail "alpha reports (resync active, connection, peer disk) = $st, want (False, 'Connected', 'Inconsistent')"
	expect_log alpha "resync stopped at [0-9]+ of $DATA_SIZE bytes: $1 at" 5
	# (later errors of the requests in flight may replace the first)
	[[ $(status_field alpha 'd["last_error"]["message"]') == *"Input/output error"* ]] ||
		fail "alpha's last_error does not tell of the failure: $(status_field alpha 'd["last_error"]')"
	oos=$(status_field alpha 'd["out_of_sync_bytes"]')
	((oos > 0 && oos <= DATA_SIZE)) ||
		fail "alpha counts $oos bytes out of sync after the stop, want 1..$DATA_SIZE"
	[[ $(status_field beta 'd["disk"]') == Inconsistent ]] ||
		fail "beta is $(status_field beta 'd["disk"]') after the stop, want Inconsistent"
	if ctl promote --config "$cfg" --node beta >/dev/null 2>&1; then
		fail "beta, Inconsistent, was promoted without --force"
	fi
	OOS=$oos
}

# resumed_checks N: the N-th "resync to the peer" line of alpha's log is
# the restarted pair resyncs what was out of sync and
# pair's; it resyncs what was out of sync and the pair ends identical.
resumed_checks() {
	resync_started alpha "$1"
	log "after the restart: $RESYNC_LINE"
	((RESYNC_BYTES == OOS)) ||
		fail "the resync after the restart covers $RESYNC_BYTES bytes, want the $OOS out of sync"
	ctl wait-sync --config "$cfg" --node alpha --timeout 60 >/dev/null ||
		fail "not in sync after the restart"
	[[ $(status_field alpha 'd["resync"]["error"]') == None ]] ||
		fail "resync.error still set after a clean resync: $(status_field alpha 'd["resync"]')"
	stop_pair
	compare_disks
}

# the source's disk fails to read
pair_init readfail 64M
fill_random "${IMG[alpha]}" 56 "$SEED"
cfg=$D/r0.conf
write_pair_config "$cfg"
create_md "$cfg" alpha
create_md "$cfg" beta
DATA_SIZE=$(md_data_size "$cfg" alpha)
start_node beta "$cfg"
export REPD_TEST_FAIL_IO_AFTER=12	# resync reads of up to 1 MiB
start_node alpha "$cfg"
unset REPD_TEST_FAIL_IO_AFTER
wait_connected
stopped_checks "local read failed"
stop_node alpha
start_node alpha "$cfg"
wait_connected
resumed_checks 1	# a new log
log "source read failure: resync stopped with its error, then resumed to identical"

# the target's disk fails to write
pair_init writefail 64M
fill_random "${IMG[alpha]}" 56 "$((SEED + 1))"
cfg=$D/r0.conf
# slow enough (16 MB/s) for FLUSHes (one a second) to clear blocks
# before the failure
write_pair_config "$cfg" resync-rate=16M
create_md "$cfg" alpha
create_md "$cfg" beta
DATA_SIZE=$(md_data_size "$cfg" alpha)
export REPD_TEST_FAIL_APPLY_AFTER=40
start_node beta "$cfg"
unset REPD_TEST_FAIL_APPLY_AFTER
expect_log beta 'test hook: the peer.s writes fail here after 40' 10
start_node alpha "$cfg"
wait_connected
stopped_checks "the peer could not write"
expect_log beta 'apply .*Input/output error' 5
log "out of sync after the stop: $OOS of $DATA_SIZE bytes"
((OOS < DATA_SIZE)) ||
	fail "no block was flushed and cleared before the failure: the case proves less than it should"
stop_node beta
start_node beta "$cfg"
wait_connected
resumed_checks 2
log "target write failure: resync stopped with its error, then resumed to identical"
