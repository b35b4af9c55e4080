#!/usr/bin/env bash
# al-rate.sh: how often the activity log makes repd write metadata.
# A manual benchmark, not a meson test: it prints, it does not assert.
#
#   BUILD=/path/to/builddir bash tests/md/al-rate.sh
#   (or REPD=... REPCTL=... bash tests/md/al-rate.sh)
#
# Two runs of fio (ioengine=nbd, 4k random writes, iodepth 32, a fixed
# number of I/Os) against repd on a 16 GiB sparse image with default
# metadata (4 MiB AL extents, 1237 slots, 4 KiB granularity):
#   hot-1g: writes confined to the first 1 GiB (--offset 0 --size 1g)
#   whole:  writes over the whole exported device
# Each run starts from fresh metadata (create-md --force) and ends with a
# clean SIGTERM stop; repd then logs
#   "N requests, W writes; metadata writes: A activity-log (H ahead of a
#    stream), B bitmap, C superblock; D bytes out of sync"
# and this prints (A + B + C) per 1000 application writes, and A alone.
#
# Environment: AL_RATE_IOS (I/Os per run, default 200000),
# AL_RATE_IMAGE_SIZE (default 16G), TMPDIR (where the image goes).
if [[ -n ${BUILD:-} ]]; then
	: "${REPD:=$BUILD/replicator/repd}" "${REPCTL:=$BUILD/tools/repctl}"
	export REPD REPCTL
fi
# shellcheck source=tests/md/lib.sh
. "$(dirname "$0")/lib.sh"
require_cmd fio

ios=${AL_RATE_IOS:-200000}
size=${AL_RATE_IMAGE_SIZE:-16G}
fio --enghelp=nbd >/dev/null 2>&1 || skip "fio has no nbd engine"

img=$T/disk.img
cfg=$T/r0.conf
sparse_image "$img" "$size"
port=$(free_port)
write_config "$cfg" "$img" "$port"

# run NAME FIO-SIZE-ARGS...: one measurement; prints a result line.
run() {
	local name=$1 line w a b c per total_per iops
	shift
	"$REPCTL" create-md --config "$cfg" --node alpha --force \
		>/dev/null 2>"$T/create.err" || { cat "$T/create.err" >&2; fail "create-md"; }
	start_repd "$cfg"
	wait_ready "$port"
	timeout 600 fio --name="$name" --ioengine=nbd \
		--uri="nbd://127.0.0.1:$port/r0" --rw=randwrite --bs=4k \
		--iodepth=32 --number_ios="$ios" --norandommap --randrepeat=1 \
		--output-format=json --output="$T/fio.$name.json" "$@" \
		>"$T/fio.$name.out" 2>&1 ||
		fail "fio $name failed"
	stop_repd 60
	line=$(grep -o '[0-9]* requests, [0-9]* writes; metadata writes: .*' "$REPD_LOG" | tail -n 1)
	[[ -n $line ]] || fail "repd did not log its metadata write counts"
	read -r w a b c < <(sed -E 's/^[0-9]+ requests, ([0-9]+) writes; metadata writes: ([0-9]+) activity-log [(][0-9]+ ahead of a stream[)], ([0-9]+) bitmap, ([0-9]+) superblock.*/\1 \2 \3 \4/' <<<"$line")
	iops=$(jq '.jobs[0].write.iops | floor' "$T/fio.$name.json")
	total_per=$(awk -v w="$w" -v a="$a" -v b="$b" -v c="$c" 'BEGIN { printf "%.2f", (a + b + c) * 1000 / w }')
	per=$(awk -v w="$w" -v a="$a" 'BEGIN { printf "%.2f", a * 1000 / w }')
	printf '%-7s %9s writes  AL %7s  bitmap %7s  sb %3s  => %8s metadata writes / 1000 writes (AL alone %s); fio %s IOPS\n' \
		"$name" "$w" "$a" "$b" "$c" "$total_per" "$per" "$iops"
	printf '        repd: %s\n' "$line"
}

log "image $size, $ios 4k random writes per run, iodepth 32"
run hot-1g --offset=0 --size=1g
data_size=$("$REPCTL" dump-md --config "$cfg" --node alpha --json | jq .superblock.data_size)
run whole --offset=0 --size="$data_size"
