#!/usr/bin/env bash
# commands.sh: every control command and its refusals, with `repctl status
# --json` checked after each step (one protocol C pair, 64 MiB images):
#
#  1. status through --config/--node and through --socket; human status;
#     usage errors exit 2.
#  2. refusals on a healthy pair: promote on the secondary while the peer
#     is primary (exit 1, reason mentions primary); promote on the
#     primary; invalidate and outdate on the primary.
#  3. events subscribers (repctl events --json, repctl events, and raw
#     python clients) on both nodes, for the rest of the test.
#  4. demote with an NBD client connected: refused, the client keeps
#     writing; demote --force: new requests get ESHUTDOWN for 1 s, every
#     request is answered, then the client is disconnected, the node is
#     secondary, its export refuses clients.
#  5. malformed control requests (bad JSON, not an object, unknown cmd,
#     promote with "force":"yes", a 5000-byte line ...) get error replies,
#     the daemon keeps serving and the role does not change.
#  6. promote beta; writes through it reach alpha (data areas compared);
#     malformed requests against the primary, then NBD still works.
#  7. disconnect on the dialing node (alpha): StandAlone, stays there;
#     resync refused; writes on the primary mark data out of sync; connect:
#     Connected, UpToDate, identical.  The same for the listening node,
#     whose connect takes effect within 5 s (the dialer redials every 2 s);
#     while it is StandAlone it refuses the dialer with its reason, which
#     the dialer logs once (not at every redial) and shows in status.
#  8. demote beta; disconnect alpha; outdate: Outdated; promote refused;
#     promote --force: primary, UpToDate; its writes reach beta after
#     connect.
#  9. invalidate on the secondary after damaging its copy behind repd's
#     back: a full resync repairs it.
# 10. resync --wait and wait-sync exit 0 on a synced pair.
# 11. the event streams hold the role changes (and a resync-done).
# Both nodes then stop cleanly.
. "$(dirname "$0")/../repl/lib.sh"
. "$(dirname "$0")/lib-roles.sh"
require_python_nbd

MiB=1048576
fresh_pair commands 64M protocol=C

# --------------------------------------------------------------- 1. status

st alpha --socket "$D/alpha.ctl" || fail "status --socket: $S_ERR"
[[ $S_NODE == alpha && $S_ROLE == primary && $S_CONN == Connected ]] ||
	fail_later "status --socket $D/alpha.ctl: node=$S_NODE $(st_str)"
st beta --socket "$D/beta.ctl" || fail "status --socket: $S_ERR"
[[ $S_NODE == beta && $S_ROLE == secondary && $S_CONN == Connected ]] ||
	fail_later "status --socket $D/beta.ctl: node=$S_NODE $(st_str)"
for n in alpha beta; do
	st_need "$n"
	[[ $S_NODE == "$n" ]] || fail_later "status --config --node $n reports node '$S_NODE'"
	[[ $S_REASON == - ]] ||
		fail_later "status of $n: connection_reason is '$S_REASON' on a connected pair, want null"
done
rctl alpha status
((RC == 0)) && grep -q primary <<<"$OUT" && grep -q alpha <<<"$OUT" ||
	fail_later "human status of alpha: exit $RC, output: $OUT"
rctl beta status --verbose
((RC == 0)) && grep -q secondary <<<"$OUT" ||
	fail_later "human status --verbose of beta: exit $RC, output: $OUT"
rctl alpha promote --no-such-option
((RC == 2)) || fail_later "repctl promote --no-such-option: exit $RC, want 2 (usage)"
rctl alpha demote extra-argument
((RC == 2)) || fail_later "repctl demote extra-argument: exit $RC, want 2 (usage)"

# ----------------------------------------------------- 2. refusals, healthy

ctl_refused beta 'primary' promote
log "promote on the secondary refused: $REASON"
ctl_refused alpha '' promote
log "promote on the primary refused: $REASON"
ctl_refused alpha '' invalidate
log "invalidate on the primary refused: $REASON"
ctl_refused alpha '' outdate
log "outdate on the primary refused: $REASON"
wait_pair primary secondary 5

# ------------------------------------------------------------- 3. events

for n in alpha beta; do
	timeout 300 "$PYTHON" "$ROLES_DIR/rolesclient.py" ctl-events "$D/$n.ctl" \
		"$D/ev-py.$n" "$D/ev-py.$n.ready" 280 >"$D/ev-py.$n.log" 2>&1 &
	track_pid $!
	declare "evpy_$n=$!"
	wait_file "$D/ev-py.$n.ready" 10 || {
		cat "$D/ev-py.$n.log" >&2
		fail "the events subscription on $n was not answered with ok within 10 s"
	}
done
timeout 300 "$REPCTL" events --json --config "$CFG" --node alpha \
	>"$D/ev-json.alpha" 2>"$D/ev-json.alpha.err" &
evjson=$!
track_pid "$evjson"
timeout 300 "$REPCTL" events --config "$CFG" --node beta \
	>"$D/ev-human.beta" 2>"$D/ev-human.beta.err" &
evhuman=$!
track_pid "$evhuman"

# ------------------------------------------- 4. demote with a client connected

HD=$D/hold
mkdir -p "$HD"
timeout 150 "$PYTHON" "$ROLES_DIR/rolesclient.py" hold "$(uri alpha)" "$HD" 8 120 \
	>"$D/hold.log" 2>&1 &
hold=$!
track_pid "$hold"
add_log "$D/hold.log"
wait_file "$HD/ready" 20 || {
	proc_alive "$hold" || cat "$D/hold.log" >&2
	fail "the NBD client had no 32 writes acknowledged within 20 s"
}
ctl_refused alpha '' demote
log "demote with a client connected refused: $REASON"
grep -qiE 'client|connect|nbd|open|use' <<<"$REASON" ||
	fail_later "demote refusal '$REASON' does not say clients are connected"
st_need alpha
[[ $S_ROLE == primary ]] || fail "alpha is $S_ROLE after a refused demote"
[[ $S_NBDC =~ ^[0-9]+$ ]] && ((S_NBDC >= 1)) ||
	fail_later "alpha's status says $S_NBDC NBD connections while a client is connected"
a0=$(cat "$HD/acked")
sleep 0.5
a1=$(cat "$HD/acked")
((a1 > a0)) || fail_later "the NBD client made no progress after the refused demote ($a0 -> $a1 writes)"
proc_alive "$hold" || fail_later "the NBD client went away after a refused demote: $(cat "$D/hold.log")"
ctl_ok alpha demote --force
bg_wait "$hold" 15
sed 's/^/    hold: /' "$D/hold.log" >&2
((BG_STATUS == 0)) || fail_later "the NBD client (status $BG_STATUS) did not see a clean disconnection"
# every request was answered: acknowledged before the demote, ESHUTDOWN
# during its grace period; none lost in the closed socket (ENOTCONN)
grep -qE "failed: \{'ESHUTDOWN': [0-9]+\}, unanswered: 0;" "$D/hold.log" ||
	fail_later "the NBD client's requests were not all answered (ESHUTDOWN, then a close): $(cat "$D/hold.log")"
st_need alpha
[[ $S_ROLE == secondary ]] || fail "alpha is $S_ROLE after demote --force: $(st_str)"
[[ $S_NBDC == 0 ]] || fail_later "alpha still counts $S_NBDC NBD connections after demote --force"
nbd_refused alpha || fail_later "alpha (secondary now) still serves NBD clients"
wait_pair secondary secondary 20

# --------------------------------------------- 5. malformed control requests

out=$(rolesclient ctl-malformed "$D/alpha.ctl" 2>&1) || fail_later "control socket of alpha: malformed requests: $(grep FAIL <<<"$out" | tr '\n' '|')"
sed 's/^/    /' <<<"$out" >&2
require_alive alpha beta
st_need alpha
[[ $S_ROLE == secondary ]] || fail "alpha became $S_ROLE through malformed requests"

# ------------------------------------------------ 6. promote the other node

ctl_ok beta promote
wait_pair secondary primary 20
out=$(rolesclient ctl-malformed "$D/beta.ctl" 2>&1) || fail_later "control socket of beta: malformed requests: $(grep FAIL <<<"$out" | tr '\n' '|')"
wait_nbd beta
nbdpy fill "$(uri beta)" $((1 * MiB)) $((8 * MiB)) random 3 ||
	fail "writing through the promoted beta failed"
nbd_flush beta
compare_disks
wait_pair secondary primary 5

# ---------------------------------------------- 7. disconnect and connect

# the dialing node (alpha, first in the config)
ctl_ok alpha disconnect
expect_st alpha 10 '[[ $S_CONN == StandAlone ]]' "disconnect on alpha"
log "alpha after disconnect: $(st_str)"
[[ $S_PROLE == unknown || $S_PROLE == - ]] || fail_later "alpha StandAlone still reports the peer role $S_PROLE"
expect_st beta 15 '[[ $S_CONN != Connected && $S_CONN != SyncSource && $S_PROLE == unknown ]]' \
	"beta noticing alpha's disconnect"
keep_st alpha 3 '[[ $S_CONN == StandAlone ]]' "alpha after disconnect"
keep_st beta 2 '[[ $S_CONN != Connected ]]' "beta while alpha is StandAlone"
ctl_refused alpha '' resync
log "resync while StandAlone refused: $REASON"
nbdpy fill "$(uri beta)" $((16 * MiB)) $((4 * MiB)) random 4 ||
	fail "a degraded write through beta failed"
st_need beta
[[ $S_OOS =~ ^[0-9]+$ ]] && ((S_OOS > 0)) ||
	fail_later "beta wrote 4 MiB without its peer but reports out_of_sync_bytes=$S_OOS"
ctl_ok alpha connect
wait_pair secondary primary 60
compare_disks

# the listening node (beta): it turns alpha's redials away with its
# reason, which alpha logs once and shows in status
peer_refusal() { "$PYTHON" -c 'import json, sys
print(json.load(sys.stdin).get("peer_refusal") or "-")' <<<"$S_JSON"; }
refusals_before=$(log_count alpha 'refused us')
failures_before=$(log_count alpha 'connection to beta.* failed')
ctl_ok beta disconnect
expect_st beta 10 '[[ $S_CONN == StandAlone ]]' "disconnect on beta"
expect_st alpha 15 '[[ $S_CONN != Connected && $S_CONN != SyncTarget ]]' "alpha noticing beta's disconnect"
# 14 s StandAlone: alpha's redial backoff reaches its cap (2 s); with the
# old cap of 10 s the next attempt came 6-8 s after this connect
keep_st beta 14 '[[ $S_CONN == StandAlone ]]' "beta after disconnect (alpha keeps dialing)"
st_need alpha
refusal=$(peer_refusal)
log "alpha sees: peer_refusal=$refusal"
[[ $refusal == *"beta is StandAlone"*"disconnected by the operator"*"repctl connect"* ]] ||
	fail_later "alpha's status after 14 s of redials to a StandAlone beta: peer_refusal '$refusal', want beta's reason and cure"
rctl alpha status
grep -q '^  peer refuses: beta is StandAlone' <<<"$OUT" ||
	fail_later "repctl status on alpha has no 'peer refuses:' line: $OUT"
# about 7 redials in 14 s: one logged refusal, one logged failure (two
# if a redial raced beta's disconnect and failed otherwise), not 7
n=$(($(log_count alpha 'refused us') - refusals_before))
((n == 1)) || fail_later "alpha logged $n refusals in 14 s of redials to a StandAlone beta, want 1"
n=$(($(log_count alpha 'connection to beta.* failed') - failures_before))
((n >= 1 && n <= 2)) || fail_later "alpha logged $n failed connections in 14 s of redials to a StandAlone beta, want 1 (a line per redial is noise)"
ctl_ok beta connect
wait_pair secondary primary 5
st_need alpha
[[ $(peer_refusal) == - ]] || fail_later "alpha still shows peer_refusal '$(peer_refusal)' once connected"

# -------------------------------------------- 8. outdate, promote (--force)

ctl_ok beta demote
wait_pair secondary secondary 20
ctl_ok alpha disconnect
expect_st alpha 10 '[[ $S_CONN == StandAlone ]]' "disconnect on alpha"
ctl_ok alpha outdate
expect_st alpha 5 '[[ $S_DISK == Outdated ]]' "outdate on alpha"
ctl_refused alpha 'outdated|uptodate|force|disk|data' promote
log "promote on an Outdated disk refused: $REASON"
st_need alpha
[[ $S_ROLE == secondary && $S_DISK == Outdated ]] ||
	fail "alpha after a refused promote: $(st_str)"
ctl_ok alpha promote --force
expect_st alpha 10 '[[ $S_ROLE == primary ]]' "promote --force on alpha"
[[ $S_DISK == UpToDate ]] || fail_later "alpha promoted with --force reports disk $S_DISK, want UpToDate"
wait_nbd alpha
nbdpy fill "$(uri alpha)" $((24 * MiB)) $((4 * MiB)) random 5 ||
	fail "writing through the force-promoted alpha failed"
nbd_flush alpha
ctl_ok alpha connect
wait_pair primary secondary 60
compare_disks

# --------------------------------------------------- 9. invalidate (beta)

# damage 1 MiB of beta's data behind repd's back: only a full resync
# (not the clean bitmap) can repair it
dd if=/dev/urandom of="${IMG[beta]}" bs=1M seek=40 count=1 conv=notrunc,fsync status=none
! cmp -s -n "$DATA_SIZE" "${IMG[alpha]}" "${IMG[beta]}" || harness_error "damaging beta's copy changed nothing"
n0=$(log_count beta 'resync from .* started')
ctl_ok beta invalidate
# the resync of 64 MiB may be over before a poll sees it: the log tells
wait_log beta 'resync from .* started' 20 $((n0 + 1)) ||
	fail_later "no resync started on beta within 20 s of invalidate"
wait_pair primary secondary 60
compare_disks

# ---------------------------------------------------------- 10. resync

# after either returns 0 the pair is in sync at once: no further wait
rctl alpha resync --wait
((RC == 0)) || fail_later "repctl resync --wait on alpha: exit $RC: $ERR"
log "resync --wait said: $(tr '\n' '|' <<<"$OUT" | tail -c 300)"
st_need alpha
eval "$(healthy_cond primary secondary)" ||
	fail_later "repctl resync --wait returned 0 but alpha is not in sync: $(st_str)"
rctl beta wait-sync
((RC == 0)) || fail_later "repctl wait-sync on beta: exit $RC: $ERR"
st_need beta
eval "$(healthy_cond secondary primary)" ||
	fail_later "repctl wait-sync returned 0 but beta is not in sync: $(st_str)"
ctl_ok beta resync
wait_pair primary secondary 60
compare_disks

# ---------------------------------------------------------- 11. events

# alpha: demoted (4), promoted (8); beta: promoted (6), demoted (8)
sleep 0.5	# the last events are on their way
for p in $evjson $evhuman $evpy_alpha $evpy_beta; do
	stop_pid "$p" 5
done
for f in ev-py.alpha ev-json.alpha; do
	expect_event "$D/$f" "alpha's stream ($f): demote" \
		'e.get("event") == "state" and e.get("role") == "secondary"'
	expect_event "$D/$f" "alpha's stream ($f): promote --force" \
		'e.get("event") == "state" and e.get("role") == "primary"'
	expect_event "$D/$f" "alpha's stream ($f): peer promoted" \
		'e.get("event") == "state" and e.get("peer_role") == "primary"'
	expect_event "$D/$f" "alpha's stream ($f): disconnect" \
		'e.get("event") == "state" and e.get("connection") == "StandAlone"'
	expect_event "$D/$f" "alpha's stream ($f): outdate" \
		'e.get("event") == "state" and e.get("disk") == "Outdated"'
	expect_event "$D/$f" "alpha's stream ($f): state lines carry every key" \
		'e.get("event") == "state" and all(k in e for k in ("time", "role", "disk", "connection", "peer_role", "peer_disk"))'
done
expect_event "$D/ev-py.beta" "beta's stream: promote" \
	'e.get("event") == "state" and e.get("role") == "primary"'
expect_event "$D/ev-py.beta" "beta's stream: invalidate" \
	'e.get("event") == "state" and e.get("disk") == "Inconsistent"'
cat "$D/ev-py.alpha" "$D/ev-py.beta" >"$D/ev-all"
expect_event "$D/ev-all" "a resync-done event on either node" 'e.get("event") == "resync-done"'
grep -qE 'primary' "$D/ev-human.beta" ||
	fail_later "repctl events (human) on beta printed no line with 'primary': $(head -c 300 "$D/ev-human.beta") $(cat "$D/ev-human.beta.err")"
log "events: alpha $(wc -l <"$D/ev-py.alpha") lines, beta $(wc -l <"$D/ev-py.beta") lines; human on beta:"
head -n 5 "$D/ev-human.beta" | sed 's/^/    /' >&2

# ------------------------------------------------------------- the end

require_alive alpha beta
stop_node alpha
stop_node beta
finish
