#!/usr/bin/env bash
# cpu-auto.sh: with cpu = auto (buffered), a lone stream of small writes
# (fio at queue depth 1) puts repd's event loop and its io_uring workers
# on one CPU; a wide load (queue depth 16) gives them all their CPUs back;
# repctl status reports each placement (io.loop_cpu, io.cpu_auto_changes).
# Each phase runs 2 s: the load is judged per 100 ms, and a change needs
# two windows in a row (replicator/cpu_auto.h). Writes of up to 1 MiB
# are made by the loop itself (engine.c), so a first phase of 1 MiB
# reads, a wide load that io_uring's workers carry, starts the workers
# that pinning must then move.
. "$(dirname "$0")/lib.sh"
require_cmd fio
[[ $INTEROP_SERVER == repd ]] || skip "repd's own CPU placement"
all=$(awk '/^Cpus_allowed_list:/ { print $2 }' /proc/self/status)
[[ $all == *[-,]* ]] || skip "this test may use one CPU only ($all): nothing to choose"

DIRECT_IO_LINE="direct-io = no"
CPU_LINE="cpu = auto"
# Judged from the requests in flight in repd: a spinning loop (busy-poll,
# on by default here) may serve a queue-depth-16 client as fast as its
# requests arrive, and then rightly sees a narrow load. Without spinning
# the depth repd sees is the client's.
BUSY_POLL_LINE="busy-poll = 0"
img=$T/disk.img
sparse_image "$img" 64M
serve "$img" tcp

# load NAME DEPTH [BS [RW]]: 2 s of random writes (4k) at that queue depth.
load() {
	(cd "$T" && timeout 60 fio --name="$1" --ioengine=nbd --uri="$URI" \
		--rw="${4:-randwrite}" --bs="${3:-4k}" --iodepth="$2" --size=32M \
		--time_based --runtime=2 --output="$T/$1.log") ||
		fail "$1: fio exited with status $?"
}

# placement: "LOOP WORKERS": the loop's CPU list, then the distinct lists
# of its io_uring workers (none: "-").
placement() {
	local t comm cpus loop="" wrk=()
	for t in /proc/$REPD_PID/task/*; do
		comm=$(cat "$t/comm" 2>/dev/null) || continue	# thread gone
		cpus=$(awk '/^Cpus_allowed_list:/ { print $2 }' "$t/status" 2>/dev/null) || continue
		[[ ${t##*/} == "$REPD_PID" ]] && loop=$cpus
		[[ $comm == iou-wrk-* ]] && wrk+=("$cpus")
	done
	((${#wrk[@]})) || wrk=(-)
	echo "$loop $(printf '%s\n' "${wrk[@]}" | sort -u | paste -sd/)"
}

# status: "LOOP_CPU CHANGES" from repctl status (io.loop_cpu, null: none).
status() {
	timeout 10 "$REPCTL" status --config "$CFG" --node alpha --json |
		"$PYTHON" -c 'import json, sys
io = json.load(sys.stdin)["io"]
print("none" if io["loop_cpu"] is None else io["loop_cpu"], io["cpu_auto_changes"])' ||
		fail "repctl status --json failed"
}

read -r loop wrk <<<"$(placement)"
[[ $(status) == "none 0" ]] || fail "at start repctl status says '$(status)', want 'none 0'"
[[ $loop == "$all" ]] || fail "at start the loop may run on CPUs $loop, want $all (nothing pinned yet)"

load large 2 1M randread
read -r loop wrk <<<"$(placement)"
[[ $wrk != - ]] || fail "after 1 MiB reads repd has no io_uring worker"
[[ $(status) == "none 0" ]] || fail "after 1 MiB reads repctl status says '$(status)', want 'none 0'"

load narrow 1
if grep -q 'cpu = auto: cannot pin' "$REPD_LOG"; then
	# before Linux 6.3 io_uring's workers refuse new CPUs
	skip "this kernel does not let io_uring workers move ($(grep -m1 'cannot pin' "$REPD_LOG"))"
fi
read -r loop wrk <<<"$(placement)"
[[ $loop =~ ^[0-9]+$ ]] || fail "after a queue-depth-1 stream the loop may run on CPUs $loop, want one"
[[ $wrk == "$loop" ]] || fail "after a queue-depth-1 stream the workers may run on CPUs $wrk, want $loop like the loop"
[[ $(status) == "$loop 1" ]] || fail "after a queue-depth-1 stream repctl status says '$(status)', want '$loop 1'"
log "queue depth 1: loop and workers on CPU $loop"

load wide 16
read -r loop wrk <<<"$(placement)"
[[ $loop == "$all" ]] || fail "after queue depth 16 the loop may run on CPUs $loop, want $all back"
[[ $wrk == "$all" ]] || fail "after queue depth 16 the workers may run on CPUs $wrk, want $all back"
[[ $(status) == "none 2" ]] || fail "after queue depth 16 repctl status says '$(status)', want 'none 2'"
log "queue depth 16: loop and workers on CPUs $all"

CPU_LINE=	# stop_repd checks a fixed cpu = N only
stop_repd
log "PASS"
