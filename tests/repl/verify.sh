#!/usr/bin/env bash
# verify.sh: online verify (repctl verify) and its repair (repctl resync).
#   - a verify while a client writes through the primary finds nothing:
#     hashes are taken in order with the writes, so load gives no false
#     mismatches;
#   - blocks corrupted on the secondary's backing file behind repd's back
#     (seeded random offsets) are found, exactly those: status lists the
#     count and their offsets, the log names each; a verify of a range
#     (--start, --stop) finds just the one inside it;
#   - repctl resync repairs them: the data areas end identical and a
#     second verify finds nothing;
#   - a refused verify (on the secondary while the peer is primary) says
#     why and exits 1.
. "$(dirname "$0")/lib.sh"
require_cmd fio
require_python_nbd

SEED=${SEED:-$RANDOM}
log "seed $SEED"
pair_init verify 96M
cfg=$D/r0.conf
write_pair_config "$cfg"
start_pair "$cfg"
wait_in_sync
ctl() { timeout 60 "$REPCTL" "$@"; }
status_json() { ctl status --config "$cfg" --node "$1" --json; }
jq_of() { "$PYTHON" -c 'import json, sys; d = json.load(sys.stdin); print(eval(sys.argv[1], {"d": d}))' "$1"; }

nbdpy fill "$(uri alpha)" 0 $((64 * 1048576)) random "$SEED" || fail "fill through the primary"

# 1. verify under a client write load: no false mismatches
run_fio busy alpha --rw=randwrite --bs=4k --iodepth=8 --size=64M \
	--time_based --runtime=4 &
fio_pid=$!
track_pid "$fio_pid"
sleep 0.5
out=$(ctl verify --config "$cfg" --node alpha --wait 2>&1) ||
	fail "verify under load reported differences or failed: $out"
log "under load: $out"
wait "$fio_pid" || fail "fio under verify failed"
untrack_pid "$fio_pid"

# 2. a refusal: the secondary may not drive a verify while the peer is
# primary
rc=0
out=$(ctl verify --config "$cfg" --node beta 2>&1) || rc=$?
((rc == 1)) || fail "verify on the secondary: exit $rc, want 1 ($out)"
grep -q 'primary' <<<"$out" || fail "verify refusal does not say why: $out"

# 3. corrupt three 4 KiB blocks of the secondary behind repd's back
mapfile -t offs < <("$PYTHON" - "$SEED" "$DATA_SIZE" <<'PY'
import random, sys
r = random.Random(int(sys.argv[1]))
blocks = sorted(r.sample(range(int(sys.argv[2]) // 4096), 3))
for b in blocks:
    print(b * 4096)
PY
)
for o in "${offs[@]}"; do
	printf 'corrupted by verify.sh' |
		dd of="${IMG[beta]}" bs=1 seek=$((o + 1000)) conv=notrunc status=none
done
log "corrupted blocks at ${offs[*]}"
# 3a. a range: --start inside the second block (rounded down to it),
# --stop at the third (exclusive): only the second is found
rc=0
out=$(ctl verify --config "$cfg" --node alpha --start $((offs[1] + 100)) \
	--stop "${offs[2]}" --wait 2>&1) || rc=$?
log "range: $out"
((rc == 1)) || fail "verify of ${offs[1]}..${offs[2]}: exit $rc, want 1"
js=$(status_json alpha)
got=$(jq_of '(d["verify"]["mismatched_blocks"], d["verify"]["first_offsets"], d["verify"]["total_bytes"], d["out_of_sync_bytes"])' <<<"$js")
want="(1, [${offs[1]}], $((offs[2] - offs[1])), 4096)"
[[ $got == "$want" ]] ||
	fail "verify of ${offs[1]}..${offs[2]} gave (mismatches, offsets, total, out of sync) = $got, want $want"
# 3b. the whole device
rc=0
out=$(ctl verify --config "$cfg" --node alpha --wait 2>&1) || rc=$?
log "$out"
((rc == 1)) || fail "verify after corruption: exit $rc, want 1"
js=$(status_json alpha)
got=$(jq_of 'd["verify"]["mismatched_blocks"]' <<<"$js")
[[ $got == 3 ]] || fail "verify found $got differing blocks, want 3"
got=$(jq_of '" ".join(str(x) for x in d["verify"]["first_offsets"])' <<<"$js")
[[ $got == "${offs[*]}" ]] || fail "verify found blocks at '$got', want '${offs[*]}'"
got=$(jq_of 'd["out_of_sync_bytes"]' <<<"$js")
[[ $got == $((3 * 4096)) ]] || fail "$got bytes out of sync after verify, want $((3 * 4096))"
for o in "${offs[@]}"; do
	grep -q "verify: $o+4096 differs" "${LOG[alpha]}" ||
		fail "the log does not name the block at $o"
done

# 4. repair and check
out=$(ctl resync --config "$cfg" --node alpha --wait 2>&1) || fail "resync --wait: $out"
out=$(ctl verify --config "$cfg" --node alpha --wait 2>&1) ||
	fail "verify after the repair still finds differences: $out"
stop_pair
compare_disks
log "verify found exactly the ${#offs[@]} corrupted blocks; resync repaired them"
