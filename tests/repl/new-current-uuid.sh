#!/usr/bin/env bash
# new-current-uuid.sh: `repctl new-current-uuid --clear-bitmap` skips the
# initial sync of two blank devices, and refuses everywhere else.
#   - both nodes freshly created, started as secondaries: connected, both
#     Inconsistent, nothing moves;
#   - refused without --clear-bitmap, and while alpha runs alone;
#   - on alpha: both nodes UpToDate at once, with the same current UUID,
#     no resync logged, nothing out of sync;
#   - refused a second time (the nodes now hold data);
#   - a plain promote works (UpToDate), writes replicate, a restart of
#     both moves nothing.
. "$(dirname "$0")/lib.sh"
require_python_nbd

ctl() { timeout 60 "$REPCTL" "$@"; }
wait_st() {  # wait_st NODE EXPR WANT: until status_field NODE EXPR prints WANT (10 s)
	local i got
	for ((i = 0; i < 100; i++)); do
		got=$(status_field "$1" "$2" 2>/dev/null) || got='?'
		[[ $got == "$3" ]] && return 0
		sleep 0.1
	done
	fail "$1: $2 is '$got', want '$3'"
}

pair_init ncu 64M
cfg=$D/r0.conf
write_pair_config "$cfg"
create_md "$cfg" alpha
create_md "$cfg" beta
DATA_SIZE=$(md_data_size "$cfg" alpha)
start_node alpha "$cfg" --role secondary
wait_st alpha 'd["disk"]' Inconsistent
expect_refused alpha 'not connected' new-current-uuid --clear-bitmap
start_node beta "$cfg" --role secondary
wait_connected
wait_st alpha 'd["peer"]["disk"]' Inconsistent
expect_refused alpha 'clear-bitmap' new-current-uuid
ctl new-current-uuid --clear-bitmap --config "$cfg" --node alpha ||
	fail "repctl new-current-uuid --clear-bitmap on two blank nodes"
wait_st alpha 'd["disk"]' UpToDate
wait_st beta 'd["disk"]' UpToDate
wait_st alpha 'd["peer"]["disk"]' UpToDate
wait_st beta 'd["peer"]["disk"]' UpToDate
ua=$(status_field alpha 'd["metadata"]["current_uuid"]' 2>/dev/null) || ua=
ub=$(status_field beta 'd["metadata"]["current_uuid"]' 2>/dev/null) || ub=
[[ -n $ua && $ua == "$ub" ]] || fail "current UUIDs differ: alpha '$ua', beta '$ub'"
log "both UpToDate at generation $ua"
[[ $(status_field alpha 'd["out_of_sync_bytes"]') == 0 ]] || fail "alpha has bytes out of sync"
[[ $(status_field beta 'd["out_of_sync_bytes"]') == 0 ]] || fail "beta has bytes out of sync"
[[ $(log_count alpha 'resync to the peer') == 0 && $(log_count beta 'resync to the peer') == 0 ]] ||
	fail "a resync ran after new-current-uuid --clear-bitmap"
expect_refused alpha 'held data' new-current-uuid --clear-bitmap
expect_refused beta 'held data' new-current-uuid --clear-bitmap

ctl promote --config "$cfg" --node alpha || fail "plain promote of an UpToDate alpha"
wait_nbd alpha
nbdpy fill "$(uri alpha)" $((8 << 20)) $((2 << 20)) random 3 || fail "fill via alpha"
nbd_flush alpha
stop_pair
compare_disks
start_node beta "$cfg"
start_node alpha "$cfg"
wait_connected
sleep 1
[[ $(log_count alpha 'resync to the peer') == 0 ]] ||
	fail "a restart resynced: $(grep 'resync to the peer' "${LOG[alpha]}")"
stop_pair
finish
