#!/usr/bin/env bash
# crashed-primary.sh: a crashed primary's activity-log extents are resynced
# on reconnect.
#   - alpha (primary) writes 1 MiB through NBD, then dies by SIGKILL;
#   - 4 KiB inside that range are changed in alpha's backing file behind
#     repd's back: a write that reached the primary's disk but never the
#     peer when the power went;
#   - alpha restarts (the peer was not promoted): it finds its unclean
#     shutdown, marks its hot activity-log extents out of sync and, as the
#     crashed primary, resyncs them to beta. Only those extents move, not
#     the device, and the data areas end identical;
#   - the crashed-primary flag is gone afterwards: a clean restart of both
#     moves nothing.
. "$(dirname "$0")/lib.sh"
require_python_nbd

ctl() { timeout 60 "$REPCTL" "$@"; }
pair_init crashed 96M
cfg=$D/r0.conf
write_pair_config "$cfg"
create_md "$cfg" alpha
create_md "$cfg" beta
# two blank devices: no initial sync (new-current-uuid --clear-bitmap),
# then alpha becomes primary
start_node beta "$cfg"
start_node alpha "$cfg" --role secondary
wait_connected
ctl new-current-uuid --clear-bitmap --config "$cfg" --node alpha >/dev/null ||
	fail "repctl new-current-uuid --clear-bitmap on alpha"
ctl promote --config "$cfg" --node alpha || fail "repctl promote alpha"
wait_nbd alpha
DATA_SIZE=$(md_data_size "$cfg" alpha)
OFF=$((40 << 20))
nbdpy fill "$(uri alpha)" "$OFF" $((1 << 20)) random 7 || fail "fill via alpha"
nbd_flush alpha
compare_disks
kill_node alpha

# the write that hit alpha's disk but not beta's
head -c 4096 /dev/urandom |
	dd of="${IMG[alpha]}" bs=4096 seek=$(((OFF >> 12) + 17)) conv=notrunc status=none ||
	harness_error "dd into alpha's image"
cmp -s -n "$DATA_SIZE" "${IMG[alpha]}" "${IMG[beta]}" &&
	harness_error "the injected write did not change alpha's image"

start_node alpha "$cfg"
expect_log alpha 'resync to the peer: [0-9]+ bytes' 30 1
line=$(grep 'resync to the peer' "${LOG[alpha]}" | tail -n 1)
log "alpha after the crash: $line"
[[ $line =~ resync\ to\ the\ peer:\ ([0-9]+)\ bytes\ \((sync-source-bitmap) ]] ||
	fail "want a bitmap resync from the crashed primary, got: $line"
sent=${BASH_REMATCH[1]}
((sent >= 4096 && sent <= 64 << 20)) ||
	fail "the crashed primary resynced $sent bytes, want its hot extents only (4 KiB .. 64 MiB of $DATA_SIZE)"
ctl wait-sync --config "$cfg" --node alpha --timeout 60 >/dev/null ||
	fail "not in sync after the crashed primary's resync"
stop_pair
compare_disks
log "beta holds the write that only alpha's disk had"

ctl dump-md --config "$cfg" --node alpha >"$D/md.alpha" 2>&1 ||
	fail "repctl dump-md alpha: $(cat "$D/md.alpha")"
grep -q 'crashed-primary' "$D/md.alpha" &&
	fail "alpha still carries crashed-primary after its resync: $(grep flags "$D/md.alpha")"

# a clean restart moves nothing
start_node beta "$cfg"
start_node alpha "$cfg"
wait_connected
sleep 1
n=$(log_count alpha 'resync to the peer')
((n == 0)) || fail "a clean restart after the crash resync resynced again: $(grep 'resync to the peer' "${LOG[alpha]}")"
stop_pair
compare_disks
finish
