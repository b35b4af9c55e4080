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
#   - the target's fdatasync fails at its second FLUSH (test hook
#     REPD_TEST_FAIL_PEER_FLUSH_AFTER): the same checks, beta's disk
#     Failed, and since the target may have lost writes it acknowledged,
#     alpha marks the whole device out of sync; a client FLUSH through alpha still succeeds
#     (alpha's own copy is durable; beta fails it, as every FLUSH after
#     a failed fdatasync, whose error Linux reports only once);
#   - a client write that the target fails, over resync blocks it has
#     answered but not yet flushed (its FLUSHes held 8 s by the test
#     hook REPD_TEST_PEER_FLUSH_DELAY_MS): the FLUSH must not clear that
#     block's new bit; alpha may not end the resync in sync (before the
#     fix it did, with beta's block stale);
#   - in all, once the failing node restarts without the fault, the
#     resync sends exactly what alpha still counts out of sync, ends
#     with resync.error null, and the data areas are identical: no block
#     was counted in sync that was not. The second case runs at
#     resync-rate 16M so that FLUSHes cleared blocks before the failure.
. "$(dirname "$0")/lib.sh"

SEED=${SEED:-$RANDOM}
MiB=1048576
log "seed $SEED"
ctl() { timeout 60 "$REPCTL" "$@"; }

# new_pair TAG FILL_MIB SEED [KEY=VALUE...]: images with FILL_MIB MiB of
# seeded random data on alpha, the config (with the KEY=VALUEs) in $cfg,
# fresh metadata on both, DATA_SIZE set. Nothing started.
new_pair() {
	pair_init "$1" 64M
	fill_random "${IMG[alpha]}" "$2" "$3"
	cfg=$D/r0.conf
	write_pair_config "$cfg" "${@:4}"
	create_md "$cfg" alpha
	create_md "$cfg" beta
	DATA_SIZE=$(md_data_size "$cfg" alpha)
}

# start_faulty_pair HOOK=N [HOOK=N...]: beta with the test hooks set in
# its environment (it must log each), then alpha; until connected.
start_faulty_pair() {
	local kv
	for kv in "$@"; do export "${kv?}"; done
	start_node beta "$cfg"
	for kv in "$@"; do unset "${kv%%=*}"; done
	for kv in "$@"; do expect_log beta "test hook $kv:" 10; done
	start_node alpha "$cfg"
	wait_connected
}

# stopped_checks WHAT [BETA_DISK]: alpha stopped its resync with an error
# matching WHAT; beta is a secondary whose disk is BETA_DISK (default
# Inconsistent) and that refuses promotion.
stopped_checks() {
	local st err oos beta_disk=${2:-Inconsistent}
	wait_status alpha "d['resync']['error'] is not None" 20 'd["resync"]'
	err=$(status_field alpha 'd["resync"]["error"]')
	log "alpha's resync.error: $err"
	[[ $err =~ ^$1(\ at\ [0-9]+\+[0-9]+)?:\ Input/output\ error$ ]] ||
		fail "resync.error is '$err', want '$1[ at OFF+LEN]: Input/output error'"
	st=$(status_field alpha '(d["resync"]["active"], d["connection"], d["peer"]["disk"])')
	[[ $st == "(False, 'Connected', 'Inconsistent')" ]] ||
		fail "alpha reports (resync active, connection, peer disk) = $st, want (False, 'Connected', 'Inconsistent')"
	expect_log alpha "resync stopped at [0-9]+ of $DATA_SIZE bytes: $1" 5
	ctl status --config "$cfg" --node alpha | grep -qE "resync stopped: $1" ||
		fail "repctl status (text) on alpha does not show resync.error"
	# (later errors of the requests in flight may replace the first)
	[[ $(status_field alpha 'd["last_error"]["message"]') == *"Input/output error"* ]] ||
		fail "alpha's last_error does not tell of the failure: $(status_field alpha 'd["last_error"]')"
	oos=$(status_field alpha 'd["out_of_sync_bytes"]')
	((oos > 0 && oos <= DATA_SIZE)) ||
		fail "alpha counts $oos bytes out of sync after the stop, want 1..$DATA_SIZE"
	[[ $(status_field beta 'd["disk"]') == "$beta_disk" ]] ||
		fail "beta is $(status_field beta 'd["disk"]') after the stop, want $beta_disk"
	if ctl promote --config "$cfg" --node beta >/dev/null 2>&1; then
		fail "beta, Inconsistent, was promoted without --force"
	fi
	OOS=$oos
}

# resumed_checks NODE: NODE, whose disk failed, restarts without the
# fault; the resync on the new connection covers exactly what was out of
# sync ($OOS), ends with resync.error null, and the pair ends identical.
resumed_checks() {
	stop_node "$1"
	start_node "$1" "$cfg"
	wait_connected
	# alpha's second "resync to the peer" line, or the first of its new
	# log; it covers exactly what was out of sync
	resync_to_sync "$([[ $1 == alpha ]] && echo 1 || echo 2)" "$OOS" \
		"after the restart"
	[[ $(status_field alpha 'd["resync"]["error"]') == None ]] ||
		fail "resync.error still set after a clean resync: $(status_field alpha 'd["resync"]')"
	stop_pair
	compare_disks
}

# the source's disk fails to read
new_pair readfail 56 "$SEED"
start_node beta "$cfg"
export REPD_TEST_FAIL_IO_AFTER=12	# resync reads of up to 1 MiB
start_node alpha "$cfg"
unset REPD_TEST_FAIL_IO_AFTER
wait_connected
stopped_checks "local read failed"
resumed_checks alpha
log "source read failure: resync stopped with its error, then resumed to identical"

# the target's disk fails to write
# slow enough (16 MB/s) for FLUSHes (one a second) to clear blocks
# before the failure
new_pair writefail 56 "$((SEED + 1))" resync-rate=16M
start_faulty_pair REPD_TEST_FAIL_APPLY_AFTER=40
stopped_checks "the peer could not write"
expect_log beta 'apply .*Input/output error' 5
log "out of sync after the stop: $OOS of $DATA_SIZE bytes"
((OOS < DATA_SIZE)) ||
	fail "no block was flushed and cleared before the failure: the case proves less than it should"
resumed_checks beta
log "target write failure: resync stopped with its error, then resumed to identical"

# the target's disk fails to flush
new_pair flushfail 56 "$((SEED + 2))" resync-rate=16M
start_faulty_pair REPD_TEST_FAIL_PEER_FLUSH_AFTER=1
stopped_checks "the peer could not make the resync data durable \(FLUSH\)" Failed
expect_log beta 'peer FLUSH: fdatasync failed' 5
expect_log alpha 'the peer could not flush its disk' 5
[[ $OOS == "$DATA_SIZE" ]] ||
	fail "after the peer's failed FLUSH alpha counts $OOS bytes out of sync, want all $DATA_SIZE"
wait_nbd alpha
nbd_flush alpha || fail "a client FLUSH through alpha failed: its own copy is durable"
[[ $(status_field alpha 'd["out_of_sync_bytes"]') == "$DATA_SIZE" ]] ||
	fail "alpha no longer counts the whole device out of sync after a client FLUSH"
resumed_checks beta
log "target flush failure: whole device out of sync, full resync after the restart, identical"

# a client write the target fails, over resync blocks not yet flushed
new_pair clientfail 64 "$((SEED + 3))"
# the resync writes its 1 MiB runs (the last one shorter); the next
# write beta applies, the client's, fails
start_faulty_pair REPD_TEST_FAIL_APPLY_AFTER=$(((DATA_SIZE + MiB - 1) / MiB)) \
	REPD_TEST_PEER_FLUSH_DELAY_MS=8000
wait_status alpha "d['resync']['done_bytes'] == $DATA_SIZE" 20 'd["resync"]'
[[ $(status_field alpha 'd["resync"]["unflushed_bytes"]') == "$DATA_SIZE" ]] ||
	fail "alpha: $(status_field alpha 'd["resync"]'), want every block answered and unflushed"
wait_nbd alpha
nbdpy fill "$(uri alpha)" $((20 * MiB)) 4096 random "$SEED" ||
	fail "the client write through alpha failed (beta's failure must not reach it)"
expect_log beta 'apply DATA\(20971520, 4096\).*Input/output error' 5
# the FLUSH is answered after 8 s: the resync then ends one way or
# another (done, or stopped: beta fails every write now)
wait_status alpha "not d['resync']['active']" 30 'd["resync"]'
st=$(status_field alpha '(d["out_of_sync_bytes"], d["resync"]["error"])')
log "after beta's FLUSH: (out of sync, resync.error) = $st"
oos=$(status_field alpha 'd["out_of_sync_bytes"]')
((oos >= 4096)) ||
	fail "alpha counts $oos bytes out of sync, with beta's copy of 20971520+4096 stale"
OOS=$oos
resumed_checks beta
log "client write failed on the target during the resync: its block stayed out of sync, identical after the restart"
