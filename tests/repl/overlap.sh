#!/usr/bin/env bash
# overlap.sh [PROTOCOL...]: concurrent overlapping writes (default for
# protocols C and A; meson runs one per test).  A libnbd client keeps 64
# writes in flight over 8 ranges of 64 KiB that overlap their neighbours
# by half, each write with its own bytes at a random sub-offset and length
# (a quarter of them not sector-aligned), 4000 writes in all; then a flush
# and a clean stop.  The primary must apply overlapping writes in the same
# order on both disks: the data areas must be identical byte for byte, the
# primary's export must read back exactly its backing file, and nothing
# may be out of sync.
. "$(dirname "$0")/lib.sh"
require_cmd nbdcopy
require_python_nbd

(($# > 0)) || set -- C A
for proto in "$@"; do
	[[ $proto == [ABC] ]] || harness_error "unknown protocol '$proto'"
	log "protocol $proto"
	pair_init "overlap-$proto" 64M
	cfg=$D/r0.conf
	write_pair_config "$cfg" protocol="$proto"
	start_pair "$cfg"
	nbdpy overlap "$(uri alpha)" 4000 64 8 65536 "$RANDOM" >&2 ||
		{ require_alive alpha beta; fail "protocol $proto: overlapping writes failed"; }
	nbd_flush alpha
	# what the client sees is what the primary's disk holds
	want=$(timeout 60 nbdcopy "$(uri alpha)" - | sha256sum) ||
		fail "nbdcopy from the primary failed"
	require_alive alpha beta
	stop_pair
	got=$(head -c "$DATA_SIZE" "${IMG[alpha]}" | sha256sum)
	[[ $got == "$want" ]] ||
		fail "protocol $proto: the primary's export (sha256 ${want%% *}) is not its backing file (${got%% *})"
	# the ranges were written: 1 MiB + 4.5 * 64 KiB are not all zero
	! cmp -s -n $((2 * 1048576)) "${IMG[alpha]}" /dev/zero ||
		fail "protocol $proto: the written ranges read as zeroes"
	compare_disks
	expect_out_of_sync alpha -eq 0
	log "protocol $proto: PASS"
done
