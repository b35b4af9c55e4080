#!/usr/bin/env bash
# resync-durable.sh: the source clears a resynced block's bit only once
# the target has flushed it (docs/design.md "Durable progress"). A block
# the target wrote may still sit in a volatile disk cache; clearing the
# bit on the write's answer alone would lose it silently if the target
# then lost power.
#   - initial full resync of ~96 MiB; beta answers peer FLUSHes 8 s late
#     (test hook REPD_TEST_PEER_FLUSH_DELAY_MS). Once beta has answered
#     every block, alpha still reports them unflushed and out of sync,
#     and the resync active;
#   - beta is killed before it answers the FLUSH, and restarted without
#     the delay: alpha sends every block again (with the bits cleared on
#     the answers it would send none);
#   - that resync ends after at least two FLUSHes (one at 64 MiB or
#     after a second, one at the end), with nothing unflushed, and
#     identical data areas.
# Both with on-peer-loss = continue (the FLUSH fails with the connection)
# and suspend (alpha sends it again on the next connection, and the new
# beta's answer must not count for blocks written before its restart).
. "$(dirname "$0")/lib.sh"

SEED=${SEED:-$RANDOM}
log "seed $SEED"
ctl() { timeout 60 "$REPCTL" "$@"; }

# one_case POLICY: the whole scenario under on-peer-loss = POLICY
one_case() {
	log "on-peer-loss = $1"
	pair_init "durable-$1" 96M
	fill_random "${IMG[alpha]}" 80 "$SEED"
	cfg=$D/r0.conf
	write_pair_config "$cfg" "on-peer-loss=$1"
	create_md "$cfg" alpha
	create_md "$cfg" beta
	export REPD_TEST_PEER_FLUSH_DELAY_MS=8000
	start_node beta "$cfg"
	unset REPD_TEST_PEER_FLUSH_DELAY_MS
	expect_log beta 'test hook REPD_TEST_PEER_FLUSH_DELAY_MS=8000:' 10
	start_node alpha "$cfg"
	wait_connected
	DATA_SIZE=$(md_data_size "$cfg" alpha)
	wait_status alpha "d['resync']['done_bytes'] == $DATA_SIZE" 20 'd["resync"]'
	st=$(status_field alpha '(d["resync"]["active"], d["resync"]["unflushed_bytes"], d["out_of_sync_bytes"], d["resync"]["flushes"])')
	log "alpha with every block answered, no FLUSH yet: (active, unflushed, out of sync, flushes) = $st"
	[[ $st == "(True, $DATA_SIZE, $DATA_SIZE, 0)" ]] ||
		fail "alpha reports $st before beta flushed, want (True, $DATA_SIZE, $DATA_SIZE, 0)"
	[[ $(status_field beta 'd["disk"]') == Inconsistent ]] ||
		fail "beta is $(status_field beta 'd["disk"]') before it flushed, want Inconsistent"
	kill_node beta

	# under suspend alpha keeps the FLUSH and sends it again on the new
	# connection, where the restarted beta answers it at once: that
	# answer vouches for nothing written before the restart
	start_node beta "$cfg"
	# all of it again: none was flushed
	resync_to_sync 2 "$DATA_SIZE" "after beta's restart"
	st=$(status_field alpha '(d["resync"]["unflushed_bytes"], d["out_of_sync_bytes"], d["resync"]["flushes"] >= 2)')
	[[ $st == "(0, 0, True)" ]] ||
		fail "alpha reports (unflushed, out of sync, flushes >= 2) = $st after the resync, want (0, 0, True)"
	stop_pair
	compare_disks
}

one_case continue
one_case suspend
log "no block was counted in sync before the target flushed it"
