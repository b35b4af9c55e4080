# shellcheck shell=bash
#
# lib.sh: helpers shared by the interop tests.  Source it, do not run it:
#
#	. "$(dirname "$0")/lib.sh"
#
# Environment:
#	REPD		path of the repd binary (meson passes it; required)
#	REPCTL		path of repctl, for create-md (meson passes it; required)
#	PYTHON		python with the libnbd module (default /usr/bin/python3)
#	INTEROP_SERVER	"repd" (default) or "nbdkit": development aid that runs
#			the generic checks against `nbdkit file` instead; checks
#			of repd-only behaviour then fail by design
#	KEEP_TMP	if set, keep the temp dir (configs, logs, images)
#	RAW_ONLY	raw-protocol.sh: run only cases whose name contains it
#
# Exit codes follow meson: 0 pass, 77 skip, 99 harness error, else fail.
# Every process a test starts is registered with track_pid and stopped by
# PID in the EXIT trap; every wait is bounded in count and in time.

set -euo pipefail

: "${PYTHON:=/usr/bin/python3}"
: "${INTEROP_SERVER:=repd}"
# shellcheck disable=SC2034 # used by the scripts that source this
INTEROP_DIR=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
TEST_NAME=${0##*/}

log()  { printf '%s: %s\n' "$TEST_NAME" "$*" >&2; }
fail() { printf '%s: FAIL: %s\n' "$TEST_NAME" "$*" >&2; exit 1; }
skip() { printf '%s: SKIP: %s\n' "$TEST_NAME" "$*" >&2; exit 77; }
harness_error() { printf '%s: ERROR: %s\n' "$TEST_NAME" "$*" >&2; exit 99; }

# require_cmd CMD...: skip the test unless every CMD is on PATH.
require_cmd() {
	local c
	for c in "$@"; do
		command -v "$c" >/dev/null 2>&1 || skip "$c not found"
	done
}

require_python_nbd() {
	[[ -x $PYTHON ]] || skip "$PYTHON not found"
	"$PYTHON" -c 'import nbd' 2>/dev/null ||
		skip "$PYTHON has no module nbd (package python3-libnbd)"
}

require_root() {
	[[ $(id -u) -eq 0 ]] || skip "needs root"
}

case $INTEROP_SERVER in
repd)
	[[ -n ${REPD:-} ]] || harness_error "REPD is not set (meson sets it)"
	[[ -x $REPD ]] || harness_error "REPD=$REPD is not an executable"
	[[ -n ${REPCTL:-} ]] || harness_error "REPCTL is not set (meson sets it)"
	[[ -x $REPCTL ]] || harness_error "REPCTL=$REPCTL is not an executable"
	;;
nbdkit)
	require_cmd nbdkit
	;;
*)
	harness_error "INTEROP_SERVER=$INTEROP_SERVER: want repd or nbdkit"
	;;
esac
require_cmd nbdinfo timeout
[[ -x $PYTHON ]] || skip "$PYTHON not found"

# ---------------------------------------------------------------- cleanup

__pids=()	# processes we started; stopped newest first on exit
__defers=()	# shell commands run newest first on exit, before __pids
__logs=()	# logs printed when the test fails
__nrepd=0	# repd instances started, numbers the log files
T=		# per-test temp dir, removed on exit

# defer CMD: run CMD (a string, eval'd) on exit, newest first.  Cleanup
# commands must be safe to run when the setup they undo never happened.
defer() { __defers+=("$*"); }

# track_pid PID: stop PID by SIGTERM (then SIGKILL) on exit if still alive.
track_pid() { __pids+=("$1"); }

untrack_pid() {
	local p keep=()
	for p in "${__pids[@]}"; do
		[[ $p == "$1" ]] || keep+=("$p")
	done
	__pids=("${keep[@]}")
}

# proc_alive PID: true while PID runs (a zombie counts as dead).
proc_alive() {
	local stat state
	kill -0 "$1" 2>/dev/null || return 1
	stat=$(cat "/proc/$1/stat" 2>/dev/null) || return 1
	state=${stat##*) }
	[[ ${state%% *} != Z ]]
}

# wait_gone PID SECONDS: poll until PID is dead; false on timeout.
wait_gone() {
	local pid=$1 i max=$(($2 * 10))
	for ((i = 0; i < max; i++)); do
		proc_alive "$pid" || return 0
		sleep 0.1
	done
	! proc_alive "$pid"
}

# stop_pid PID SECONDS: SIGTERM, wait up to SECONDS, SIGKILL if needed.
# Sets STOP_STATUS to the exit status (137 when it had to be killed,
# 124 when it ignored SIGTERM and was killed).  Returns 0.
stop_pid() {
	local pid=$1 secs=$2
	STOP_STATUS=0
	if proc_alive "$pid"; then
		kill -TERM "$pid" 2>/dev/null || :
		if ! wait_gone "$pid" "$secs"; then
			log "PID $pid ignored SIGTERM for ${secs}s, sending SIGKILL"
			kill -KILL "$pid" 2>/dev/null || :
			wait_gone "$pid" 5 || :
			wait "$pid" 2>/dev/null || :
			untrack_pid "$pid"
			STOP_STATUS=124
			return 0
		fi
	fi
	wait "$pid" 2>/dev/null || STOP_STATUS=$?
	untrack_pid "$pid"
}

__on_exit() {
	local rc=$? i l
	set +e
	trap - EXIT
	trap '' PIPE HUP INT TERM	# cleanup runs to the end
	for ((i = ${#__defers[@]} - 1; i >= 0; i--)); do
		eval "${__defers[i]}" >/dev/null 2>&1
	done
	for ((i = ${#__pids[@]} - 1; i >= 0; i--)); do
		stop_pid "${__pids[i]}" 5
	done
	if ((rc != 0 && rc != 77)); then
		for l in "${__logs[@]}"; do
			[[ -s $l ]] || continue
			printf '%s: ---- %s (last 60 lines) ----\n' "$TEST_NAME" "${l##*/}" >&2
			tail -n 60 "$l" >&2
		done
	fi
	[[ -n $T && -d $T && -z ${KEEP_TMP:-} ]] && rm -rf "$T"
	exit "$rc"
}
trap __on_exit EXIT
trap 'exit 129' HUP
trap 'exit 130' INT
trap 'exit 141' PIPE
trap 'exit 143' TERM

T=$(mktemp -d "${TMPDIR:-/tmp}/repd-interop.XXXXXX")

# O_DIRECT (repd's default) fails on tmpfs; then say direct-io = no.
DIRECT_IO_LINE=
if ! dd if=/dev/zero of="$T/.odirect" bs=4096 count=1 oflag=direct status=none 2>/dev/null; then
	log "note: $T does not support O_DIRECT, configs use direct-io = no"
	DIRECT_IO_LINE="direct-io = no"
fi
rm -f "$T/.odirect"
# INTEROP_DIRECT_IO=no: the same test on the buffered (page cache) path
if [[ ${INTEROP_DIRECT_IO:-} == no && -z $DIRECT_IO_LINE ]]; then
	log "note: INTEROP_DIRECT_IO=no, configs use direct-io = no"
	DIRECT_IO_LINE="direct-io = no"
fi
# INTEROP_BUSY_POLL=US|auto: configs say busy-poll = US, and a clean stop
# must log that some spins found work (the spinning path really ran;
# not for 0, which turns spinning off).
BUSY_POLL_LINE=
if [[ -n ${INTEROP_BUSY_POLL:-} ]]; then
	log "note: INTEROP_BUSY_POLL=$INTEROP_BUSY_POLL, configs use busy-poll"
	BUSY_POLL_LINE="busy-poll = $INTEROP_BUSY_POLL"
fi
# INTEROP_CPU=N: configs say cpu = N, and before a stop every thread of
# repd, io_uring's workers among them (at least one), must be allowed on
# CPU N alone. "first": the first CPU this test may run on.
CPU_LINE=
if [[ ${INTEROP_CPU:-} == first ]]; then
	INTEROP_CPU=$(awk '/^Cpus_allowed_list:/ { sub(/[-,].*/, "", $2); print $2 }' /proc/self/status)
fi
if [[ -n ${INTEROP_CPU:-} ]]; then
	log "note: INTEROP_CPU=$INTEROP_CPU, configs pin repd with cpu = $INTEROP_CPU"
	CPU_LINE="cpu = $INTEROP_CPU"
fi

# --------------------------------------------------------------- ports, config

# free_port [4|6]: print a TCP port that is free on 127.0.0.1 (or ::1).
# Ports come from below the ephemeral range so clients do not take them.
free_port() {
	"$PYTHON" - "${1:-4}" <<'EOF'
import random, socket, sys
fam, host = (socket.AF_INET6, "::1") if sys.argv[1] == "6" else (socket.AF_INET, "127.0.0.1")
for _ in range(200):
    port = random.randint(20000, 32000)
    s = socket.socket(fam, socket.SOCK_STREAM)
    try:
        s.bind((host, port))
    except OSError:
        continue
    finally:
        s.close()
    print(port)
    sys.exit(0)
sys.exit("no free port found")
EOF
}

have_ipv6() {
	"$PYTHON" -c 'import socket; socket.socket(socket.AF_INET6).bind(("::1", 0))' 2>/dev/null
}

# META: where write_config puts the node's metadata.  "external" (the
# default) keeps it in a file of its own, so the export is the whole disk
# file, byte for byte, and tests can check the backing file directly.
# "internal" puts it at the end of the disk; the export is then smaller
# (internal_data_size).
META=external

# write_config FILE DISK NBD-ADDRESS [EXTRA-RESOURCE-LINE...]
write_config() {
	local cfg=$1 disk=$2 addr=$3 l
	shift 3
	{
		echo "[resource]"
		echo "name = r0"
		echo "description = repd interop test"
		[[ -n $DIRECT_IO_LINE ]] && echo "$DIRECT_IO_LINE"
		[[ -n $BUSY_POLL_LINE ]] && echo "$BUSY_POLL_LINE"
		[[ -n $CPU_LINE ]] && echo "$CPU_LINE"
		for l in "$@"; do echo "$l"; done
		echo
		echo "[node alpha]"
		echo "disk = $disk"
		echo "nbd = $addr"
		echo "control = $T/ctl.$((__nrepd + 1)).sock"
		if [[ $META == external ]]; then
			echo "meta = $T/meta.$((__nrepd + 1)).img"
		else
			echo "meta = internal"
		fi
	} >"$cfg"
}

# create_md CONFIG: repctl create-md for node alpha (repd refuses to start
# without metadata).  A no-op for the nbdkit stand-in.
create_md() {
	[[ $INTEROP_SERVER == repd ]] || return 0
	timeout 30 "$REPCTL" create-md --config "$1" --node alpha >"$1.create-md.log" 2>&1 ||
		fail "repctl create-md --config $1: status $? ($(tail -n 3 "$1.create-md.log"))"
}

# internal_data_size BACKING-BYTES: the exported size with internal
# metadata and default parameters (docs/metadata.md section 2): the largest
# multiple of 4096, D, with D + 2*4096 + 8*4096 + bitmap_bytes(D) <= end.
internal_data_size() {
	"$PYTHON" - "$1" <<'EOF'
import sys
end = int(sys.argv[1]) // 4096 * 4096
def md_size(d):
    bitmap_bytes = -(-(-(-d // 4096)) // 8)              # ceil(ceil(d / g) / 8)
    return 2 * 4096 + 8 * 4096 + -(-bitmap_bytes // 4096) * 4096
lo, hi = 0, end // 4096
while lo < hi:          # largest k with k*4096 + md_size(k*4096) <= end
    mid = (lo + hi + 1) // 2
    if mid * 4096 + md_size(mid * 4096) <= end:
        lo = mid
    else:
        hi = mid - 1
print(lo * 4096)
EOF
}

# ------------------------------------------------------------- start, stop

# start_repd CONFIG [NODE]: start the server in the background.  Sets
# REPD_PID and REPD_LOG.  Does not wait; see wait_ready.
start_repd() {
	local cfg=$1 node=${2:-alpha}
	REPD_CFG=$cfg
	__nrepd=$((__nrepd + 1))
	REPD_LOG=$T/repd.$__nrepd.log
	if [[ $INTEROP_SERVER == nbdkit ]]; then
		__start_nbdkit "$cfg"
	else
		# A background job of a script starts with SIGINT ignored; undo
		# that so repd sees default dispositions, as under systemd.  The
		# subshell execs, so $! is repd's PID.
		(
			trap - INT QUIT
			exec "$REPD" --config "$cfg" --node "$node" --foreground -v
		) </dev/null >"$REPD_LOG" 2>&1 &
		REPD_PID=$!
	fi
	track_pid "$REPD_PID"
	__logs+=("$REPD_LOG")
}

__start_nbdkit() {
	local disk addr listen
	disk=$(sed -n 's/^disk *= *//p' "$1")
	addr=$(sed -n 's/^nbd *= *//p' "$1")
	case $addr in
	unix:*)		listen=(-U "${addr#unix:}") ;;
	\[*)		listen=(-i "${addr%%]*}" -p "${addr##*:}"); listen[1]=${listen[1]#[} ;;
	*)		listen=(-i "${addr%:*}" -p "${addr##*:}") ;;
	esac
	nbdkit -f -v "${listen[@]}" \
		--filter=exportname --filter=blocksize-policy \
		file "$disk" \
		exportname=r0 exportname-list=explicit exportname-strict=true \
		default-export=r0 exportdesc="fixed:repd interop test" \
		blocksize-minimum=1 blocksize-preferred=4096 blocksize-maximum=32M \
		</dev/null >"$REPD_LOG" 2>&1 &
	REPD_PID=$!
}

# uri_for ADDRESS: the NBD URI of export r0 at a config nbd = ADDRESS.
uri_for() {
	case $1 in
	unix:*)	echo "nbd+unix:///r0?socket=${1#unix:}" ;;
	*)	echo "nbd://$1/r0" ;;
	esac
}

# wait_ready URI: poll with nbdinfo until the server answers; at most 10 s.
# Fails (printing the log) if repd exits or never answers.
wait_ready() {
	local uri=$1 i deadline=$((SECONDS + 10))
	for ((i = 0; i < 100 && SECONDS <= deadline; i++)); do
		if ! proc_alive "$REPD_PID"; then
			wait "$REPD_PID" 2>/dev/null && STOP_STATUS=0 || STOP_STATUS=$?
			untrack_pid "$REPD_PID"
			fail "server exited with status $STOP_STATUS before answering on $uri"
		fi
		timeout 2 nbdinfo --size "$uri" >/dev/null 2>&1 && return 0
		sleep 0.1
	done
	fail "server did not answer on $uri within 10 s"
}

# stop_repd [SECONDS]: SIGTERM the last started server and require exit 0
# within SECONDS (default 15) and metadata that records a clean shutdown.
stop_repd() {
	local secs=${1:-15}
	[[ -z $CPU_LINE || $INTEROP_SERVER != repd ]] || check_pinned "$REPD_PID"
	stop_pid "$REPD_PID" "$secs"
	((STOP_STATUS == 0)) ||
		fail "server PID $REPD_PID: exit status $STOP_STATUS after SIGTERM, want 0 within ${secs}s"
	check_clean_md "$REPD_CFG"
	[[ $INTEROP_SERVER == repd ]] || return 0
	check_busy_poll_mode
	if [[ -n $BUSY_POLL_LINE && $BUSY_POLL_LINE != "busy-poll = 0" ]]; then
		grep -Eq 'busy-poll: [1-9][0-9]* spins found work' "$REPD_LOG" ||
			fail "busy-poll set but no spin found work: $(grep busy-poll "$REPD_LOG")"
	fi
}

# check_busy_poll_mode: with busy-poll unset or "auto", repd spins on the
# page cache (50 us) and never on O_DIRECT (no busy-poll line at all).
check_busy_poll_mode() {
	[[ -z $BUSY_POLL_LINE || $BUSY_POLL_LINE == "busy-poll = auto" ]] || return 0
	if [[ -n $DIRECT_IO_LINE ]]; then
		grep -q 'busy-poll: spinning up to 50 us' "$REPD_LOG" ||
			fail "buffered store with busy-poll = auto, but no 50 us spin: $(grep busy-poll "$REPD_LOG")"
	elif grep -q 'busy-poll:' "$REPD_LOG"; then
		fail "O_DIRECT store with busy-poll = auto, but: $(grep busy-poll "$REPD_LOG")"
	fi
}

# check_pinned PID: each thread of PID may run on CPU $INTEROP_CPU only,
# and one of them is an io_uring worker (iou-wrk-*: the page-cache path ran).
check_pinned() {
	local t comm cpus nwrk=0
	for t in /proc/$1/task/*; do
		comm=$(cat "$t/comm" 2>/dev/null) || continue	# thread gone
		cpus=$(awk '/^Cpus_allowed_list:/ { print $2 }' "$t/status" 2>/dev/null) || continue
		[[ -z $cpus || $cpus == "$INTEROP_CPU" ]] ||
			fail "thread $comm of repd may run on CPUs $cpus, want $INTEROP_CPU alone (cpu = $INTEROP_CPU)"
		[[ $comm != iou-wrk-* ]] || nwrk=$((nwrk + 1))
	done
	((nwrk > 0)) || fail "cpu = $INTEROP_CPU: no io_uring worker thread to check"
	log "cpu = $INTEROP_CPU: repd and its $nwrk io_uring worker(s) run on CPU $INTEROP_CPU only"
}

# check_clean_md CONFIG: repctl dump-md shows the clean-shutdown flag.
check_clean_md() {
	local json=$1.dump-md.json
	[[ $INTEROP_SERVER == repd ]] || return 0
	timeout 30 "$REPCTL" dump-md --config "$1" --node alpha --json >"$json" 2>&1 ||
		fail "repctl dump-md --config $1: status $? ($(head -c 300 "$json"))"
	"$PYTHON" -c '
import json, sys
flags = json.load(open(sys.argv[1]))["superblock"]["flags"]
sys.exit(0 if "clean-shutdown" in flags else
         "metadata flags %r lack clean-shutdown" % (flags,))' "$json" ||
		fail "metadata of $1 does not record a clean shutdown"
}

# serve DISK [tcp|ipv6|unix]: write a config for DISK (metadata as $META),
# create the metadata, start repd, wait until it answers.  Sets CFG, ADDR,
# URI, PORT (empty for unix), REPD_PID.
serve() {
	local disk=$1 kind=${2:-tcp}
	PORT=
	case $kind in
	tcp)	PORT=$(free_port 4); ADDR=127.0.0.1:$PORT ;;
	ipv6)	PORT=$(free_port 6); ADDR="[::1]:$PORT" ;;
	unix)	ADDR=unix:$T/nbd.$((__nrepd + 1)).sock ;;
	*)	harness_error "serve: unknown kind $kind" ;;
	esac
	CFG=$T/repd.$((__nrepd + 1)).conf
	write_config "$CFG" "$disk" "$ADDR"
	create_md "$CFG"
	URI=$(uri_for "$ADDR")
	start_repd "$CFG"
	wait_ready "$URI"
}

# --------------------------------------------------------------- images

# sparse_image FILE SIZE: a hole of SIZE (truncate syntax, e.g. 64M).
sparse_image() {
	rm -f "$1"
	truncate -s "$2" "$1"
}

# fill_at FILE OFFSET_MIB COUNT_MIB SOURCE: copy COUNT MiB of SOURCE
# (e.g. /dev/urandom) into FILE at OFFSET MiB, keeping FILE's size.
fill_at() {
	dd if="$4" of="$1" bs=1M seek="$2" count="$3" conv=notrunc iflag=fullblock status=none
}
