#!/usr/bin/env bash
# auth.sh: handshakes that must fail.  Each case gives the two nodes
# config files that differ in one thing and requires that
#   - neither node logs "connected" within 5 s while the primary keeps
#     dialling, and neither node exits;
#   - both logs give the reason (the refusing side and the refused side);
#   - writes through the primary still succeed (on-peer-loss = continue)
#     and the primary's exit line counts them as out of sync;
#   - nothing reaches the secondary: its data area is still all zero.
# Cases: a wrong secret on one side; a different resource name; data
# areas of different sizes (images of 64 and 80 MiB).
. "$(dirname "$0")/lib.sh"
require_python_nbd

# refused TAG ERE-ALPHA ERE-BETA [SIZE-ALPHA SIZE-BETA] -- KEY=VALUE...:
# alpha reads config a.conf, beta b.conf, which differs by KEY=VALUEs.
refused() {
	local tag=$1 re_a=$2 re_b=$3 sa=64M sb=64M
	shift 3
	if [[ $1 != -- ]]; then
		sa=$1 sb=$2
		shift 2
	fi
	shift	# --
	log "case $tag"
	pair_init "$tag" "$sa" "$sb"
	write_pair_config "$D/a.conf"
	write_pair_config "$D/b.conf" "$@"
	create_md "$D/a.conf" alpha
	create_md "$D/b.conf" beta
	start_node beta "$D/b.conf"
	start_node alpha "$D/a.conf"
	wait_nbd alpha
	expect_log alpha "$re_a" 10
	expect_log beta "$re_b" 10
	# the primary redials (backoff 0.2 s, doubling): a few tries in 5 s
	sleep 5
	require_alive alpha beta
	if grep -H 'connected to ' "${LOG[alpha]}" "${LOG[beta]}" >&2; then
		fail "$tag: the nodes connected"
	fi
	nbdpy fill "$(uri alpha)" 0 $((4 * 1048576)) random 1 ||
		fail "$tag: writing through the primary failed while the peer is refused"
	require_alive alpha beta
	stop_pair
	expect_zero "${IMG[beta]}" "$(md_data_size "$D/b.conf" beta)"
	expect_out_of_sync alpha -ge $((4 * 1048576))
	log "case $tag: PASS"
}

refused wrong-secret '[Aa]uthenticat' '[Aa]uthenticat' -- secret=not-the-secret

refused resource-name "resource name mismatch.*'r0'.*'r1'|resource name mismatch.*'r1'.*'r0'" \
	"resource name mismatch.*'r0'.*'r1'|resource name mismatch.*'r1'.*'r0'" -- name=r1

refused data-size 'size mismatch' 'size mismatch' 64M 80M --
