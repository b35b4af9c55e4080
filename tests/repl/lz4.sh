#!/usr/bin/env bash
# lz4.sh: the link with compression off, with lz4, and with lz4 plus
# crc32c data integrity.  In each run, through the primary:
#   - nbdcopy writes 32 MiB of repeated text lines (compressible);
#   - fio writes 32 MiB of random (incompressible) data, crc32c-verified;
#   - fio writes 16 MiB of half-compressible buffers, verified;
# then a flush and a clean stop.  Checks:
#   - "connected" names the features in use (", lz4", ", crc32c");
#   - with lz4 the secondary's replication socket received less than half
#     of the 32 MiB of text (kernel byte counters from ss), without it at
#     least the 32 MiB;
#   - the data areas are identical byte for byte, and the sha256 of the
#     primary's export (nbdcopy) equals that of the secondary's backing
#     file's data area.
. "$(dirname "$0")/lib.sh"
require_cmd fio nbdcopy ss
require_python_nbd

MiB=1048576

# rx_bytes: bytes the secondary's end of the replication connection has
# received (tcpi_bytes_received; one established connection expected).
rx_bytes() {
	local out n
	out=$(ss -tniH state established "( sport = :${REPL_PORT[beta]} )") ||
		fail "ss failed"
	n=$(sed -n 's/.*bytes_received:\([0-9]*\).*/\1/p' <<<"$out")
	[[ $n =~ ^[0-9]+$ ]] ||
		fail "no single established replication connection on port ${REPL_PORT[beta]}: $out"
	echo "$n"
}

# 32 MiB of text lines that differ only in a counter
"$PYTHON" - "$T/text.bin" <<'EOF2'
import sys
out = bytearray()
n = 0
while len(out) < 32 << 20:
    out += b"%08d repd lz4 test: the quick brown fox jumps over the lazy dog, block %d\n" % (n, n % 4096)
    n += 1
open(sys.argv[1], "wb").write(out[:32 << 20])
EOF2

for variant in none:none lz4:none lz4:crc32c; do
	comp=${variant%:*} integ=${variant#*:}
	log "compression = $comp, data-integrity = $integ"
	pair_init "$comp-$integ" 96M
	cfg=$D/r0.conf
	write_pair_config "$cfg" compression="$comp" data-integrity="$integ"
	start_pair "$cfg"
	line=$(grep -m1 'connected to ' "${LOG[alpha]}")
	want_feat=
	[[ $comp == lz4 ]] && want_feat+=", lz4"
	[[ $integ == crc32c ]] && want_feat+=", crc32c"
	[[ $line == *"protocol C$want_feat" ]] ||
		fail "primary: '$line' does not end in 'protocol C$want_feat'"

	rx0=$(rx_bytes)
	timeout 60 nbdcopy "$T/text.bin" "$(uri alpha)" ||
		{ require_alive alpha beta; fail "nbdcopy of the text to the primary failed"; }
	nbd_flush alpha
	rx1=$(rx_bytes)
	rx=$((rx1 - rx0))
	log "32 MiB of text: the secondary received $rx bytes on the link"
	if [[ $comp == lz4 ]]; then
		((rx < 16 * MiB)) ||
			fail "lz4: $rx bytes crossed the link for 32 MiB of text, want < 16 MiB"
	else
		((rx >= 32 * MiB)) ||
			fail "no compression: only $rx bytes crossed the link for 32 MiB"
	fi

	run_fio "random-$comp-$integ" alpha --rw=randwrite --bs=16k --iodepth=16 \
		--offset=32M --size=32M --refill_buffers \
		--verify=crc32c --do_verify=1 --verify_fatal=1
	run_fio "half-$comp-$integ" alpha --rw=randwrite --bsrange=4k-64k --iodepth=16 \
		--offset=64M --size=16M --buffer_compress_percentage=50 --refill_buffers \
		--verify=crc32c --do_verify=1 --verify_fatal=1
	nbd_flush alpha
	want=$(timeout 60 nbdcopy "$(uri alpha)" - | sha256sum) ||
		fail "nbdcopy from the primary failed"
	require_alive alpha beta
	stop_pair
	compare_disks
	got=$(head -c "$DATA_SIZE" "${IMG[beta]}" | sha256sum)
	[[ $got == "$want" ]] ||
		fail "sha256 of the primary's export ${want%% *} != secondary's data area ${got%% *}"
	cmp -s -n $((32 * MiB)) "$T/text.bin" "${IMG[beta]}" ||
		fail "the secondary's first 32 MiB are not the text written"
	expect_out_of_sync alpha -eq 0
	log "compression = $comp, data-integrity = $integ: PASS (sha256 ${want%% *})"
done
