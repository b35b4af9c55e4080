#!/usr/bin/env bash
# detach.sh: the primary's disk fails under a client (on-io-error).
#   - on-io-error = detach (the default): the primary's local I/O starts
#     failing after N requests (test hook REPD_TEST_FAIL_IO_AFTER); fio
#     with crc32c verify through the primary sees no error: the node
#     detaches its disk (status disk Diskless, the log says so) and reads
#     and writes go to the peer alone; the secondary starts a generation
#     and tracks the writes it applies;
#   - restarted without the fault, the primary takes a resync from the
#     peer (writes that failed locally are in its activity log, later
#     ones in the peer's bitmap) and the data areas end identical;
#   - on-io-error = fail: the client gets the I/O error, nothing is
#     detached.
. "$(dirname "$0")/lib.sh"
require_cmd fio
require_python_nbd

ctl() { timeout 60 "$REPCTL" "$@"; }

pair_init detach 96M
cfg=$D/r0.conf
write_pair_config "$cfg"
create_md "$cfg" alpha
create_md "$cfg" beta
start_node beta "$cfg"
export REPD_TEST_FAIL_IO_AFTER=2000
start_node alpha "$cfg"
unset REPD_TEST_FAIL_IO_AFTER
wait_connected
wait_nbd alpha
wait_in_sync
DATA_SIZE=$(nbd_size alpha)
run_fio dying alpha --rw=randwrite --bs=4k --iodepth=16 --size=48M \
	--verify=crc32c --verify_fatal=1 --do_verify=1
expect_log alpha 'local disk failed .*detached' 1
[[ $(status_field alpha 'd["disk"]') == Diskless ]] ||
	fail "primary disk is $(status_field alpha 'd["disk"]') after the failure, want Diskless"
[[ $(status_field beta 'd["peer"]["disk"]') == Diskless ]] ||
	fail "the secondary sees the primary's disk as $(status_field beta 'd["peer"]["disk"]'), want Diskless"
expect_log beta 'new generation' 1
# (fio's verify pass read everything back after the detach: from the peer)
stop_node alpha
stop_node beta

# the repaired disk comes back, as secondary (the peer holds newer data
# than this node, which a primary cannot take): a resync repairs it
start_node beta "$cfg"
start_node alpha "$cfg" --role secondary
wait_connected
expect_log alpha 'resync from .* finished' 30
stop_node alpha
stop_node beta
compare_disks
log "detach: no client error; the returning disk resynced to identical"

# on-io-error = fail: the client sees the error
pair_init fail 64M
cfg=$D/r0.conf
write_pair_config "$cfg" on-io-error=fail
create_md "$cfg" alpha
create_md "$cfg" beta
start_node beta "$cfg"
export REPD_TEST_FAIL_IO_AFTER=500
start_node alpha "$cfg"
unset REPD_TEST_FAIL_IO_AFTER
wait_connected
wait_nbd alpha
wait_in_sync
rc=0
timeout 60 fio --name=failing --ioengine=nbd --uri="$(uri alpha)" \
	--rw=randwrite --bs=4k --iodepth=4 --size=16M \
	>"$D/failing.log" 2>&1 || rc=$?
((rc != 0)) || grep -q 'err=[^0]' "$D/failing.log" ||
	fail "on-io-error = fail: fio saw no error"
[[ $(status_field alpha 'd["disk"]') == UpToDate ]] ||
	fail "on-io-error = fail: the disk was detached"
log "on-io-error = fail: the client got the error, the disk stays attached"
