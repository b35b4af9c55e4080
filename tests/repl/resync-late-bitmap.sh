#!/usr/bin/env bash
# resync-late-bitmap.sh: a resync does not go on over a new connection
# before the target's bitmap came (docs/design.md "Durable progress",
# docs/protocol.md "BITMAP exchange").
#   - alpha (on-peer-loss = suspend) replicates to fakepeer.py
#     late-bitmap, a secondary that answers at once. It drops the first
#     connection 8 MiB into the initial full resync;
#   - on the second it is the target of that interrupted resync
#     (resync-in-progress, alpha's generations) and sends its BITMAP
#     exchange 4 s late, with a bit of its own set (granule 16);
#   - until then alpha must keep the rest of the resync out of sync and
#     must not end it: the target's bits are not merged yet, and a
#     target clears its whole bitmap when told the resync ended. Before
#     the fix alpha's resync went on over the new connection and ended
#     at once (0 bytes out of sync, STATE "resync done" to the peer)
#     before the BITMAP came;
#   - after the BITMAP alpha resyncs the rest with granule 16, ends the
#     resync and counts nothing out of sync.
. "$(dirname "$0")/lib.sh"

SEED=${SEED:-$RANDOM}
log "seed $SEED"
HOLD=4

pair_init late-bitmap 32M
fill_random "${IMG[alpha]}" 32 "$SEED"
cfg=$D/r0.conf
write_pair_config "$cfg" on-peer-loss=suspend
create_md "$cfg" alpha
DATA_SIZE=$(md_data_size "$cfg" alpha)

fake_out=$D/fake.json
fake_log=$D/fake.log
"$PYTHON" "$REPL_DIR/fakepeer.py" late-bitmap 127.0.0.1 "${REPL_PORT[beta]}" \
	s3cret 8 "$HOLD" 40 "$fake_out" >"$fake_log" 2>&1 &
fake=$!
track_pid "$fake"
add_log "$fake_log"
start_node alpha "$cfg"

# fake_said ERE SECONDS: until the fake's output has a line matching ERE
fake_said() {
	local i
	for ((i = 0; i <= $2 * 10; i++)); do
		grep -qE -- "$1" "$fake_log" && return 0
		proc_alive "$fake" || break
		sleep 0.1
	done
	grep -qE -- "$1" "$fake_log" ||
		fail "fakepeer: no /$1/ within $2 s: $(tr '\n' '|' <"$fake_log")"
}

fake_said '^conn 1: closed' 20
fake_said '^conn 2: holding' 20
log "$(head -n 2 "$fake_log" | tr '\n' ' ')"
# while the BITMAP is held (not the last half second: it may come then)
for ((i = 0; i < (HOLD * 10 - 5) / 3; i++)); do
	grep -q '^conn 2: BITMAP sent' "$fake_log" && break
	st=$(status_field alpha '(d["out_of_sync_bytes"], d["resync"]["active"])')
	oos=${st#(}
	oos=${oos%%,*}
	grep -q '^conn 2: BITMAP sent' "$fake_log" && break
	((oos > 0)) ||
		fail "alpha counts $st (out of sync, resync active) before the target sent its bitmap, want bits still set"
	sleep 0.3
done
log "while the BITMAP was held: alpha's (out of sync, resync active) = $st"

# the fake ends once alpha's resync ended after the BITMAP
wait_gone "$fake" 30 || fail "fakepeer still runs 30 s after the BITMAP"
rc=0
wait "$fake" || rc=$?
untrack_pid "$fake"
log "$(tail -n 2 "$fake_log" | tr '\n' ' ')"
((rc == 0)) || fail "fakepeer: status $rc: $(tr '\n' '|' <"$fake_log")"
"$PYTHON" - "$fake_out" "$DATA_SIZE" <<'EOF' || fail "alpha's resync on the second connection (above)"
import json, sys
d = json.load(open(sys.argv[1]))
ev = d["events"]
last = next(i for i, e in enumerate(ev) if "bitmap_last" in e)
bad = []
done = [e for e in ev[:last] if e.get("state") == 1 and e["seq"]]
if done:
    bad.append("resync ended (STATE off, seq %#x) %.2f s into the "
               "connection, before the BITMAP" % (done[0]["seq"], done[0]["t"]))
off = ev[last]["bitmap_last"] * 4096
if not any("write" in e and e["write"][0] <= off < sum(e["write"])
           for e in ev[last:]):
    bad.append("granule %d (offset %d) of the target's bitmap was never "
               "written after the BITMAP" % (ev[last]["bitmap_last"], off))
for b in bad:
    print("    " + b, file=sys.stderr)
sys.exit(1 if bad else 0)
EOF
wait_status alpha 'd["out_of_sync_bytes"] == 0 and not d["resync"]["active"]' 20 \
	'(d["out_of_sync_bytes"], d["resync"])'
n=$(log_count alpha 'resync finished')
((n == 1)) || fail "alpha ended $n resyncs, want 1 (after the BITMAP)"
log "the resync waited for the target's bitmap"
