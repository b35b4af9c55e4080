#!/usr/bin/env bash
# mission.sh: the product's promise -- with protocol C, a write the client
# saw acknowledged survives the loss of the primary.
#
# ITER iterations (default 10), each with its own seed (printed; set
# MISSION_SEED to replay: iteration i uses MISSION_SEED + i):
#   - a fresh pair (128 MiB images), alpha primary, beta secondary; wait
#     until both are Connected and UpToDate (repctl status --json);
#   - acked_writer.py against alpha: random 4 KiB writes over the first
#     32 MiB, 16 in flight, each with its own pattern; every write is
#     logged as issued before it is submitted and as acknowledged after
#     its completion reported success;
#   - SIGKILL alpha 0.5-3 s (from the seed) after the writer is running;
#   - beta notices the loss; plain `repctl promote` (no --force) on beta
#     must succeed and make it primary;
#   - every offset with an acknowledged write holds, on beta's disk and
#     through beta's NBD export, the last acknowledged pattern or a
#     pattern issued after it (a later write may have reached beta
#     without its ack reaching the client);
#   - beta stops cleanly (SIGTERM, exit 0).
. "$(dirname "$0")/../repl/lib.sh"
. "$(dirname "$0")/lib-roles.sh"
require_python_nbd

ITER=${ITER:-10}
[[ $ITER =~ ^[0-9]+$ ]] && ((ITER > 0)) || harness_error "ITER='$ITER' is not a positive number"
base=${MISSION_SEED:-$(( (RANDOM << 15 | RANDOM) ))}
[[ $base =~ ^[0-9]+$ ]] || harness_error "MISSION_SEED='$base' is not a number"
log "base seed $base (MISSION_SEED=$base ITER=$ITER to replay)"
AREA=$((32 * 1048576))
total_acked=0
total_offsets=0

for ((it = 1; it <= ITER; it++)); do
	seed=$((base + it))
	# the kill delay, 500..3000 ms, from the seed
	delay_ms=$(( 500 + (seed * 7919) % 2501 ))
	log "iteration $it/$ITER: seed $seed, kill after ${delay_ms} ms"
	fresh_pair "mission-$it" 128M protocol=C
	((DATA_SIZE >= AREA)) || harness_error "data size $DATA_SIZE < area $AREA"
	W=$D/writer
	mkdir -p "$W"
	timeout 120 "$PYTHON" "$ROLES_DIR/acked_writer.py" write "$(uri alpha)" \
		"$seed" "$AREA" 16 "$W" 60 >"$D/writer.log" 2>&1 &
	writer=$!
	track_pid "$writer"
	add_log "$D/writer.log"
	if ! wait_file "$W/ready" 20; then
		proc_alive "$writer" || { bg_wait "$writer" 1; sed 's/^/    writer: /' "$D/writer.log" >&2; }
		require_alive alpha beta
		fail "iteration $it: the writer had no 16 acknowledged writes within 20 s"
	fi
	sleep "$((delay_ms / 1000)).$(printf '%03d' $((delay_ms % 1000)))"
	require_alive alpha beta
	kill_node alpha
	log "iteration $it: alpha killed; $(wc -l <"$W/acked") writes acknowledged so far"
	bg_wait "$writer" 30
	sed 's/^/    writer: /' "$D/writer.log" >&2
	((BG_STATUS == 0)) || fail "iteration $it: the writer failed (status $BG_STATUS)"

	# beta must see the primary gone before it may take over
	expect_st beta 20 '[[ $S_CONN != Connected && $S_PROLE != primary ]]' \
		"iteration $it: the secondary noticing the primary's loss"
	log "iteration $it: beta after the loss: $(st_str)"
	[[ $S_DISK == UpToDate ]] ||
		fail "iteration $it: beta's disk is $S_DISK after losing the primary, want UpToDate"
	ctl_ok beta promote
	expect_st beta 10 '[[ $S_ROLE == primary ]]' "iteration $it: beta promoted"
	wait_nbd beta
	out=$(timeout 120 "$PYTHON" "$ROLES_DIR/acked_writer.py" check "$W" "$seed" \
		"${IMG[beta]}" "$(uri beta)" 2>&1) || {
		printf '%s\n' "$out" | sed 's/^/    /' >&2
		fail "iteration $it (seed $seed): acknowledged writes missing on the promoted secondary"
	}
	printf '%s\n' "$out" | sed 's/^/    /' >&2
	n=$(sed -nE 's/^check: [0-9]+ writes issued, ([0-9]+) acknowledged, ([0-9]+) offsets.*/\1 \2/p' <<<"$out")
	read -r acked offsets <<<"$n"
	[[ $acked =~ ^[0-9]+$ ]] || harness_error "cannot parse the checker's summary: $out"
	((acked >= 16)) || fail "iteration $it: only $acked writes acknowledged"
	total_acked=$((total_acked + acked))
	total_offsets=$((total_offsets + offsets))
	log "iteration $it: PASS ($acked acknowledged writes, $offsets offsets checked)"
	require_alive beta
	stop_node beta
	# a passed iteration's images are not needed any more (KEEP_TMP keeps them)
	[[ -n ${KEEP_TMP:-} ]] || rm -f "${IMG[alpha]}" "${IMG[beta]}"
done
log "PASS: $ITER iterations, $total_acked acknowledged writes, $total_offsets offsets checked (base seed $base)"
