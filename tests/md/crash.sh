#!/usr/bin/env bash
# crash.sh: fault injection. Each iteration (CRASH_ITERATIONS, default 5;
# seeds from CRASH_SEED, default time-based, printed):
#   1. create-md --force on a fresh 512 MiB sparse image, with granularity
#      and AL geometry drawn from the seed (mostly a 67 x 1 MiB AL, so
#      extents are evicted and bitmap pages flushed during the run);
#   2. start repd; a libnbd writer (mdtool.py write) sends random 4k..64k
#      writes, 32 in flight, logging each before submitting it;
#   3. after a random 0.2-2 s, SIGKILL repd;
#   4. repctl dump-md --json must succeed, and the bitmap + AL hot extents
#      must cover every acknowledged write and every block that changed
#      on disk (mdtool.py check; submitted writes that are not covered
#      must never have reached the disk);
#   5. restart repd: it must start and log the unclean stop (AL replay);
#      stop it with SIGTERM (exit 0); dump-md shows clean-shutdown, and
#      now the bitmap alone must cover the same (after a clean stop the
#      AL is not replayed, so the replay must have reached the bitmap).
# shellcheck source=tests/md/lib.sh
. "$(dirname "$0")/lib.sh"
require_python_nbd

iterations=${CRASH_ITERATIONS:-5}
base_seed=${CRASH_SEED:-$(( $(date +%s) % 1000000 ))}
[[ $iterations =~ ^[0-9]+$ && $base_seed =~ ^[0-9]+$ ]] ||
	harness_error "CRASH_ITERATIONS and CRASH_SEED must be numbers"
log "$iterations iterations, seeds $base_seed..$((base_seed + iterations - 1)) (CRASH_SEED=$base_seed reproduces)"

img=$T/disk.img
cfg=$T/r0.conf

for ((it = 0; it < iterations; it++)); do
	seed=$((base_seed + it))
	read -r delay gran ext slots < <("$PYTHON" "$MD_DIR/mdtool.py" params "$seed")
	log "iteration $it: seed $seed: granularity $gran, AL $slots x $ext, kill after ${delay}s"

	sparse_image "$img" 512M
	port=$(free_port)
	write_config "$cfg" "$img" "$port"
	"$REPCTL" create-md --config "$cfg" --node alpha --force \
		--granularity "$gran" --al-extent-size "$ext" --al-slots "$slots" \
		>"$T/create.out" 2>&1 || { cat "$T/create.out" >&2; fail "create-md"; }

	start_repd "$cfg"
	wait_ready "$port"
	wlog=$T/writes.$it.log
	rm -f "$wlog"
	timeout 60 "$PYTHON" "$MD_DIR/mdtool.py" write "nbd://127.0.0.1:$port/r0" \
		"$seed" "$wlog" 30 >"$T/writer.$it.out" 2>&1 &
	wpid=$!
	track_pid "$wpid"
	for ((i = 0; i < 100; i++)); do
		[[ -s $wlog ]] && break
		sleep 0.1
	done
	[[ -s $wlog ]] || fail "writer did not start writing within 10 s"
	sleep "$delay"
	proc_alive "$REPD_PID" || fail "repd died before the kill"
	kill_repd
	wait_gone "$wpid" 30 || fail "writer still running 30 s after the kill"
	wrc=0
	wait "$wpid" || wrc=$?
	untrack_pid "$wpid"
	cat "$T/writer.$it.out" >&2
	((wrc == 0)) || fail "writer: exit status $wrc"

	# 4. the metadata opens and covers everything written
	"$REPCTL" dump-md --config "$cfg" --node alpha --json >"$T/kill.$it.json" 2>"$T/dump.err" ||
		{ cat "$T/dump.err" >&2; fail "dump-md after SIGKILL failed"; }
	jq_is "$T/kill.$it.json" '.superblock.flags | index("clean-shutdown")' null
	log "after SIGKILL: flags $(jq -c .superblock.flags "$T/kill.$it.json"), AL $(jq -c '.al | {valid, newest_seq, hot_count}' "$T/kill.$it.json")"
	"$PYTHON" "$MD_DIR/mdtool.py" check "$T/kill.$it.json" "$wlog" "$img" ||
		fail "seed $seed: coverage after SIGKILL"

	# 5. restart replays the AL; a clean stop leaves it in the bitmap
	start_repd "$cfg"
	wait_ready "$port"
	grep -qi "unclean" "$REPD_LOG" || fail "restarted repd does not report the unclean stop"
	stop_repd 20
	"$REPCTL" dump-md --config "$cfg" --node alpha --json >"$T/clean.$it.json" 2>"$T/dump.err" ||
		{ cat "$T/dump.err" >&2; fail "dump-md after restart failed"; }
	jq_is "$T/clean.$it.json" '.superblock.flags | index("clean-shutdown") != null' true
	"$PYTHON" "$MD_DIR/mdtool.py" check "$T/clean.$it.json" "$wlog" "$img" --bitmap-only ||
		fail "seed $seed: coverage after restart and clean stop"
	log "iteration $it (seed $seed): PASS"
done
log "$iterations iterations: PASS"
