#!/usr/bin/env bash
# protocols.sh [PROTOCOL...]: for each replication protocol given (default
# A B C; meson runs one per test): start a pair,
# run fio through the primary (random writes of 4k-256k at queue depth
# 16, crc32c verify), one 40 MiB WRITE_ZEROES over part of it (more than
# one 32 MiB chunk; must read back as zeroes), a FUA WRITE_ZEROES (both
# nodes' group commit), flush, stop the primary then
# the secondary (both must exit 0), and require
#   - fio: no error, every byte written read back and verified;
#   - the two data areas identical byte for byte;
#   - the primary's exit line: 0 bytes out of sync.
. "$(dirname "$0")/lib.sh"
require_cmd fio
require_python_nbd

(($# > 0)) || set -- A B C
for proto in "$@"; do
	[[ $proto == [ABC] ]] || harness_error "unknown protocol '$proto'"
	log "protocol $proto"
	pair_init "proto-$proto" 300M
	cfg=$D/r0.conf
	write_pair_config "$cfg" protocol="$proto"
	start_pair "$cfg"
	expect_log alpha "connected to .*protocol $proto" 1
	# 4k..256k requests (multiples of 4k) over SIZE bytes: fio's random
	# map covers each block once, so verify reads every block's only
	# write back
	FIO_MIN_WRITES=1000 run_fio "fio-$proto" alpha --rw=randwrite --bsrange=4k-256k \
		--iodepth=16 --size="${FIO_SIZE:-256M}" \
		--verify=crc32c --do_verify=1 --verify_fatal=1
	# a WRITE_ZEROES larger than one 32 MiB chunk, over fio's data
	nbdpy zero "$(uri alpha)" $((8 * 1048576)) $((40 * 1048576)) ||
		{ require_alive alpha beta; fail "protocol $proto: 40 MiB WRITE_ZEROES failed"; }
	nbdpy zero "$(uri alpha)" $((100 * 1048576)) $((1048576)) fua ||
		{ require_alive alpha beta; fail "protocol $proto: FUA WRITE_ZEROES failed"; }
	nbd_flush alpha
	require_alive alpha beta
	stop_pair
	compare_disks
	expect_out_of_sync alpha -eq 0
	log "protocol $proto: PASS"
done
