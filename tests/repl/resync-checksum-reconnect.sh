#!/usr/bin/env bash
# resync-checksum-reconnect.sh: a checksum resync's run answered across a
# reconnect does not count in sync (docs/design.md "Durable progress").
#   - resync-checksum = yes, on-peer-loss = suspend, resync-rate = 16M;
#     beta starts as a copy of alpha except two granules j and k of the
#     1 MiB run R at 40 MiB, so the initial resync sends exactly those
#     two: RS_HASH(R), then RS_DATA(j), then RS_DATA(k);
#   - beta answers the hashes and j, and hangs on k (test hook
#     REPD_TEST_HOLD_APPLY_AFTER=1); its FLUSHes wait 8 s
#     (REPD_TEST_PEER_FLUSH_DELAY_MS), so nothing it wrote on this
#     connection is vouched for (alpha counts no FLUSH);
#   - beta is killed there and, as after a power loss, its disk has lost
#     j (the granule is put back as it was): it never answered a FLUSH;
#   - beta restarts. Alpha sends k again (suspend) and beta answers it on
#     the new connection, after its BITMAP, so a new resync is running.
#     R's hashes came on the old connection: R must stay out of sync and
#     be hashed again, j sent again. Before the fix alpha recorded R as
#     the new connection's, its first FLUSH (after a second, before the
#     resync got back to 40 MiB) cleared R, and the resync ended "in
#     sync" with beta's j stale.
# The data areas must end identical.
. "$(dirname "$0")/lib.sh"

SEED=${SEED:-$RANDOM}
log "seed $SEED"
MiB=1048576
R=$((40 * MiB))
J=3	# granules of R (4 KiB)
K=200

pair_init cksum-reconnect 64M
fill_random "${IMG[alpha]}" 64 "$SEED"
cp "${IMG[alpha]}" "${IMG[beta]}"
# beta's own j and k, differing from alpha's
for g in $J $K; do
	head -c 4096 /dev/urandom >"$D/beta.$g"
	dd if="$D/beta.$g" of="${IMG[beta]}" bs=4096 seek=$((R / 4096 + g)) \
		conv=notrunc status=none || harness_error "dd into beta's image"
done
cfg=$D/r0.conf
write_pair_config "$cfg" resync-checksum=yes on-peer-loss=suspend \
	resync-rate=16M
create_md "$cfg" alpha
create_md "$cfg" beta
DATA_SIZE=$(md_data_size "$cfg" alpha)
((DATA_SIZE >= R + MiB)) || harness_error "data area $DATA_SIZE too small"

export REPD_TEST_PEER_FLUSH_DELAY_MS=8000 REPD_TEST_HOLD_APPLY_AFTER=1
start_node beta "$cfg"
unset REPD_TEST_PEER_FLUSH_DELAY_MS REPD_TEST_HOLD_APPLY_AFTER
expect_log beta 'test hook REPD_TEST_HOLD_APPLY_AFTER=1:' 10
start_node alpha "$cfg"
wait_connected
resync_started alpha 1
[[ $RESYNC_LINE == *checksum-based* ]] || fail "not a checksum resync: $RESYNC_LINE"
expect_log beta "test hook: holding (RS_)?DATA\\($((R + K * 4096)), 4096\\)" 20
# alpha sent j and k only, and no FLUSH of this connection was answered
st=$(status_field alpha '(d["resync"]["sent_bytes"], d["resync"]["flushes"])')
[[ $st == "(8192, 0)" ]] ||
	harness_error "alpha's resync (sent bytes, flushes) = $st before beta's restart, want (8192, 0)"
kill_node beta

# the power loss: beta's disk lost the unflushed write of j
dd if="$D/beta.$J" of="${IMG[beta]}" bs=4096 seek=$((R / 4096 + J)) \
	conv=notrunc status=none || harness_error "dd into beta's image"
start_node beta "$cfg"
wait_connected
resync_started alpha 2
log "after beta's restart: $RESYNC_LINE"
timeout 60 "$REPCTL" wait-sync --config "$cfg" --node alpha --timeout 60 >/dev/null ||
	fail "not in sync after beta's restart"
# j differs again (k went on the new connection): exactly one granule
line=$(grep 'resync finished' "${LOG[alpha]}" | tail -n 1)
[[ $line == *' 4096 bytes of blocks sent'* ]] ||
	fail_later "want j (4096 bytes) sent again after beta's restart: $line"
stop_pair
compare_disks
finish
