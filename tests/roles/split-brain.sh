#!/usr/bin/env bash
# split-brain.sh [direct|detected]: both nodes primary while apart, then
# resolved by hand.
#
#   - a protocol C pair (64 MiB), common data written through alpha;
#   - disconnect on both: StandAlone; promote beta (UpToDate, peer not
#     connected: a plain promote); both are primary;
#   - alpha writes region A and the shared region S, beta writes region B
#     and S (other bytes), both flush; alpha's data area is saved;
#   - direct (default): connect on both while both are primary: both end
#     in SplitBrain or StandAlone with a connection_reason, roles
#     unchanged, no data moved; connect --discard-my-data on the primary
#     beta is refused (secondary only); demote beta;
#     detected: demote beta first, then connect on both: the generations
#     show the split brain: both end in SplitBrain or StandAlone with a
#     connection_reason that says split brain, no data moved;
#   - then connect --discard-my-data on beta, connect on alpha: the pair
#     ends Connected, UpToDate, alpha primary;
#   - both data areas are identical and equal to alpha's saved data: beta's
#     writes to B and S are gone, alpha's are everywhere.
. "$(dirname "$0")/../repl/lib.sh"
. "$(dirname "$0")/lib-roles.sh"
require_python_nbd

MODE=${1:-direct}
[[ $MODE == direct || $MODE == detected ]] || harness_error "unknown mode '$MODE'"
log "mode $MODE"

MiB=1048576
fresh_pair split-brain 64M protocol=C
nbdpy fill "$(uri alpha)" 0 $((8 * MiB)) random 1 || fail "common data through alpha"
nbd_flush alpha
wait_pair primary secondary 10
compare_disks

# ------------------------------------------------------------ apart

ctl_ok alpha disconnect
ctl_ok beta disconnect
expect_st alpha 10 '[[ $S_CONN == StandAlone ]]' "disconnect on alpha"
expect_st beta 10 '[[ $S_CONN == StandAlone ]]' "disconnect on beta"
st_need beta
[[ $S_DISK == UpToDate ]] || fail "beta is $S_DISK after a clean disconnect, want UpToDate"
ctl_ok beta promote
expect_st beta 10 '[[ $S_ROLE == primary ]]' "promote on the StandAlone beta"
wait_nbd beta

# A = 8..12 MiB (alpha only), B = 16..20 MiB (beta only), S = 24..26 MiB
nbdpy fill "$(uri alpha)" $((8 * MiB)) $((4 * MiB)) random 11 || fail "region A through alpha"
nbdpy fill "$(uri alpha)" $((24 * MiB)) $((2 * MiB)) random 12 || fail "region S through alpha"
nbdpy fill "$(uri beta)" $((16 * MiB)) $((4 * MiB)) random 21 || fail "region B through beta"
nbdpy fill "$(uri beta)" $((24 * MiB)) $((2 * MiB)) text 22 || fail "region S through beta"
nbd_flush alpha
nbd_flush beta
head -c "$DATA_SIZE" "${IMG[alpha]}" >"$D/alpha.expected"
head -c "$DATA_SIZE" "${IMG[beta]}" >"$D/beta.before"
cmp -s "$D/alpha.expected" "$D/beta.before" && harness_error "the two sides did not diverge"

# ------------------------------------------------------------ reunion

if [[ $MODE == detected ]]; then
	ctl_ok beta demote
	expect_st beta 10 '[[ $S_ROLE == secondary ]]' "demote on beta"
	beta_role=secondary
else
	beta_role=primary
fi
ctl_ok alpha connect
ctl_ok beta connect
sb_cond='[[ ($S_CONN == SplitBrain || $S_CONN == StandAlone) && $S_REASON != - && $S_REASON != "<missing>" ]]'
for n in alpha beta; do
	expect_st "$n" 30 "$sb_cond" "the reunion of two diverged nodes on $n"
	log "$n: $(st_str)"
	want=primary
	[[ $n == beta ]] && want=$beta_role
	[[ $S_ROLE == "$want" ]] || fail_later "$n is $S_ROLE after the reunion, want $want"
	if [[ $MODE == detected ]]; then
		grep -qi 'split' <<<"$S_REASON" ||
			fail_later "$n's connection_reason does not say split brain: $S_REASON"
	fi
done
# and they stay apart: no data moves without an operator
keep_st alpha 3 "$sb_cond" "alpha after the reunion"
keep_st beta 1 "$sb_cond" "beta after the reunion"
cmp -s -n "$DATA_SIZE" "${IMG[alpha]}" "$D/alpha.expected" ||
	fail_later "alpha's data changed during the refused reunion"
cmp -s -n "$DATA_SIZE" "${IMG[beta]}" "$D/beta.before" ||
	fail_later "beta's data changed during the refused reunion"

# ---------------------------------------------------------- resolution

if [[ $MODE == direct ]]; then
	ctl_refused beta '' connect --discard-my-data
	log "connect --discard-my-data on a primary refused: $REASON"
	ctl_ok beta demote
	expect_st beta 10 '[[ $S_ROLE == secondary ]]' "demote on beta"
fi
ctl_ok beta connect --discard-my-data
ctl_ok alpha connect
wait_pair primary secondary 60
compare_disks
cmp -s -n "$DATA_SIZE" "${IMG[alpha]}" "$D/alpha.expected" || {
	cmp -l -n "$DATA_SIZE" "${IMG[alpha]}" "$D/alpha.expected" 2>/dev/null | head -n 3 >&2
	fail "alpha's data changed in the resolution: the survivor must keep its data"
}
log "both data areas equal alpha's data from before the reunion"

require_alive alpha beta
stop_node alpha
stop_node beta
finish
