#!/usr/bin/env bash
# secondary-flush-fail.sh: a secondary whose disk fails a FLUSH is never
# again counted as holding the data, not even after a restart.
#   - two blank devices (no initial sync); beta's fdatasync of the
#     primary's FLUSHes fails from the second on (test hook
#     REPD_TEST_FAIL_PEER_FLUSH_AFTER=1);
#   - a write and its FLUSH through alpha: beta UpToDate, nothing out of
#     sync;
#   - a second write and FLUSH: beta's fdatasync fails. The client's
#     FLUSH still succeeds (alpha's copy is durable). beta shows its disk
#     Failed with the error (disk_error, and in the text status), alpha
#     shows beta's disk Inconsistent and counts the whole device out of
#     sync;
#   - with alpha stopped, beta refuses promote, even with --force, while
#     its disk is Failed;
#   - beta restarted: its disk works again, but it may have lost writes,
#     so it is Inconsistent (recorded in its metadata; before the fix it
#     came back UpToDate, promotable with writes missing) and refuses a
#     plain promote;
#   - alpha back: a full resync to beta, and the data areas end
#     identical.
. "$(dirname "$0")/lib.sh"
require_python_nbd

ctl() { timeout 60 "$REPCTL" "$@"; }
MiB=1048576

pair_init secflush 64M
cfg=$D/r0.conf
write_pair_config "$cfg"
create_md "$cfg" alpha
create_md "$cfg" beta
export REPD_TEST_FAIL_PEER_FLUSH_AFTER=1
start_node beta "$cfg"
unset REPD_TEST_FAIL_PEER_FLUSH_AFTER
expect_log beta 'test hook REPD_TEST_FAIL_PEER_FLUSH_AFTER=1:' 10
start_node alpha "$cfg" --role secondary
wait_connected
ctl new-current-uuid --clear-bitmap --config "$cfg" --node alpha >/dev/null ||
	fail "repctl new-current-uuid --clear-bitmap on alpha"
ctl promote --config "$cfg" --node alpha >/dev/null || fail "repctl promote alpha"
wait_nbd alpha
DATA_SIZE=$(md_data_size "$cfg" alpha)

# the first FLUSH works everywhere
nbdpy fill "$(uri alpha)" 0 "$MiB" random 1 || fail "first fill through alpha"
st=$(status_field beta '(d["disk"], d["disk_error"])')
[[ $st == "('UpToDate', None)" ]] ||
	fail "beta's (disk, disk_error) after a good FLUSH: $st, want ('UpToDate', None)"
[[ $(status_field alpha 'd["out_of_sync_bytes"]') == 0 ]] ||
	fail "alpha counts blocks out of sync after a good FLUSH"

# the second one fails on beta; the client's FLUSH (in fill) succeeds
nbdpy fill "$(uri alpha)" $((8 * MiB)) "$MiB" random 2 ||
	fail "the write and FLUSH through alpha failed: alpha's own copy is durable"
expect_log beta 'peer FLUSH: fdatasync failed' 10
expect_log beta 'data is invalidated: a full resync' 5
expect_log alpha 'the peer could not flush its disk' 5
wait_status beta "d['disk'] == 'Failed'" 10 'd["disk"]'
err=$(status_field beta 'd["disk_error"]')
[[ $err == 'fdatasync of a peer FLUSH: Input/output error' ]] ||
	fail "beta's disk_error is '$err'"
ctl status --config "$cfg" --node beta | grep -q "disk error: $err" ||
	fail "repctl status (text) on beta does not show the disk error"
wait_status alpha "d['peer']['disk'] == 'Inconsistent'" 10 'd["peer"]'
[[ $(status_field alpha 'd["out_of_sync_bytes"]') == "$DATA_SIZE" ]] ||
	fail "alpha counts $(status_field alpha 'd["out_of_sync_bytes"]') bytes out of sync, want all $DATA_SIZE"
log "beta Failed ($err); alpha sees it Inconsistent, all $DATA_SIZE bytes out of sync"

stop_node alpha
expect_refused beta 'failed a flush' promote
expect_refused beta 'failed a flush' promote --force

stop_node beta
start_node beta "$cfg"
wait_status beta "d['disk'] == 'Inconsistent'" 10 '(d["disk"], d["disk_error"])'
[[ $(status_field beta 'd["disk_error"]') == None ]] ||
	fail "beta still reports a disk error after its restart"
expect_refused beta 'Inconsistent' promote
log "restarted beta: Inconsistent, refuses a plain promote"

start_node alpha "$cfg"
wait_connected
resync_to_sync 1 "$DATA_SIZE" "alpha back, a full resync"
[[ $(status_field beta 'd["disk"]') == UpToDate ]] ||
	fail "beta is $(status_field beta 'd["disk"]') after the full resync"
stop_pair
compare_disks
log "full resync after beta's failed FLUSH: identical"
