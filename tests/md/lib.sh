# shellcheck shell=bash
#
# lib.sh: helpers for the metadata tests (create-dump.sh, crash.sh,
# al-rate.sh).  Source it, do not run it:
#
#	. "$(dirname "$0")/lib.sh"
#
# Environment:
#	REPD, REPCTL	the binaries (meson passes both; required)
#	PYTHON		python with the libnbd module (default /usr/bin/python3)
#	KEEP_TMP	if set, keep the temporary directory
#
# Exit codes follow meson: 0 pass, 77 skip, 99 harness error, else fail.
# Every process a test starts is registered with track_pid and stopped by
# PID in the EXIT trap; every wait is bounded.

set -euo pipefail

: "${PYTHON:=/usr/bin/python3}"
# shellcheck disable=SC2034 # used by the scripts that source this
MD_DIR=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
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

[[ -n ${REPD:-} && -x $REPD ]] || harness_error "REPD is not set to an executable (meson sets it)"
[[ -n ${REPCTL:-} && -x $REPCTL ]] || harness_error "REPCTL is not set to an executable (meson sets it)"
require_cmd timeout jq

# ---------------------------------------------------------------- cleanup

__pids=()	# processes we started; stopped newest first on exit
__logs=()	# logs printed when the test fails
__nrepd=0	# repd instances started, numbers the log files
T=		# per-test temp dir, removed on exit

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

# stop_pid PID SECONDS [SIGNAL]: send SIGNAL (TERM), wait up to SECONDS,
# SIGKILL if needed.  Sets STOP_STATUS to the exit status (124 when it
# had to be killed after ignoring SIGNAL).
stop_pid() {
	local pid=$1 secs=$2 sig=${3:-TERM}
	STOP_STATUS=0
	if proc_alive "$pid"; then
		kill -"$sig" "$pid" 2>/dev/null || :
		if ! wait_gone "$pid" "$secs"; then
			log "PID $pid ignored SIG$sig for ${secs}s, sending SIGKILL"
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
	for ((i = ${#__pids[@]} - 1; i >= 0; i--)); do
		stop_pid "${__pids[i]}" 5
	done
	if ((rc != 0 && rc != 77)); then
		for l in "${__logs[@]}"; do
			[[ -s $l ]] || continue
			printf '%s: ---- %s (last 40 lines) ----\n' "$TEST_NAME" "${l##*/}" >&2
			tail -n 40 "$l" >&2
		done
	fi
	[[ -n $T && -d $T && -z ${KEEP_TMP:-} ]] && rm -rf "$T"
	[[ -n ${KEEP_TMP:-} && -n $T ]] && printf '%s: kept %s\n' "$TEST_NAME" "$T" >&2
	exit "$rc"
}
trap __on_exit EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

T=$(mktemp -d "${TMPDIR:-/tmp}/repd-md.XXXXXX")

# O_DIRECT (repd's default) fails on tmpfs; then say direct-io = no.
DIRECT_IO_LINE=
if ! dd if=/dev/zero of="$T/.odirect" bs=4096 count=1 oflag=direct status=none 2>/dev/null; then
	DIRECT_IO_LINE="direct-io = no"
fi
rm -f "$T/.odirect"

# ---------------------------------------------------------------- config

# free_port: print a TCP port that is free on 127.0.0.1.
free_port() {
	"$PYTHON" - <<'EOF'
import random, socket, sys
for _ in range(200):
    port = random.randint(20000, 32000)
    s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    try:
        s.bind(("127.0.0.1", port))
    except OSError:
        continue
    finally:
        s.close()
    print(port)
    sys.exit(0)
sys.exit("no free port found")
EOF
}

# write_config FILE DISK PORT [NODE-LINE...]: resource r0, one node
# "alpha" serving DISK on 127.0.0.1:PORT; NODE-LINEs (e.g. "meta = PATH")
# go into its section.
write_config() {
	local cfg=$1 disk=$2 port=$3 l
	shift 3
	{
		echo "[resource]"
		echo "name = r0"
		[[ -n $DIRECT_IO_LINE ]] && echo "$DIRECT_IO_LINE"
		echo
		echo "[node alpha]"
		echo "disk = $disk"
		echo "nbd = 127.0.0.1:$port"
		echo "control = $T/ctl.sock"
		for l in "$@"; do echo "$l"; done
	} >"$cfg"
}

# sparse_image FILE SIZE: a hole of SIZE (truncate syntax, e.g. 64M).
sparse_image() {
	rm -f "$1"
	truncate -s "$2" "$1"
}

# ------------------------------------------------------------- start, stop

# start_repd CONFIG: start repd in the foreground (background job).
# Sets REPD_PID and REPD_LOG.  Does not wait; see wait_ready.
start_repd() {
	__nrepd=$((__nrepd + 1))
	REPD_LOG=$T/repd.$__nrepd.log
	(
		# a background job starts with SIGINT ignored; undo that
		trap - INT QUIT
		exec "$REPD" --config "$1" --node alpha --foreground
	) </dev/null >"$REPD_LOG" 2>&1 &
	REPD_PID=$!
	track_pid "$REPD_PID"
	__logs+=("$REPD_LOG")
}

# wait_ready PORT: until repd answers NBD on PORT (at most 10 s).  Fails
# if repd exits first.
wait_ready() {
	local i
	for ((i = 0; i < 100; i++)); do
		if ! proc_alive "$REPD_PID"; then
			wait "$REPD_PID" 2>/dev/null && STOP_STATUS=0 || STOP_STATUS=$?
			untrack_pid "$REPD_PID"
			fail "repd exited with status $STOP_STATUS before answering on port $1"
		fi
		"$PYTHON" - "$1" <<'EOF' 2>/dev/null && return 0
import socket, sys
s = socket.create_connection(("127.0.0.1", int(sys.argv[1])), timeout=1)
sys.exit(0 if len(s.recv(18, socket.MSG_WAITALL)) == 18 else 1)
EOF
		sleep 0.1
	done
	fail "repd did not answer on port $1 within 10 s"
}

# stop_repd [SECONDS]: SIGTERM the last started repd and require exit 0.
stop_repd() {
	stop_pid "$REPD_PID" "${1:-20}"
	((STOP_STATUS == 0)) ||
		fail "repd PID $REPD_PID: exit status $STOP_STATUS after SIGTERM, want 0"
}

# kill_repd: SIGKILL the last started repd and reap it.
kill_repd() {
	# stderr off while bash reaps it: no "Killed" job notice in the log
	local gone=0
	{
		kill -KILL "$REPD_PID" || :
		if wait_gone "$REPD_PID" 10; then
			gone=1
			wait "$REPD_PID" || :
		fi
	} 2>/dev/null
	((gone)) || fail "repd PID $REPD_PID survived SIGKILL for 10 s"
	untrack_pid "$REPD_PID"
}

# --------------------------------------------------------------- metadata

# expected_data_size BACKING GRANULARITY AL_SLOTS: the exported size of
# internal metadata, by the formula of docs/metadata.md:
#   end = floor(B / 4096) * 4096; R = max(8, ceil(S / 800) + 1)
#   bitmap(D) = roundup(ceil(ceil(D / g) / 8), 4096)
#   D = the largest multiple of 4096 with D + 8192 + R*4096 + bitmap(D) <= end
expected_data_size() {
	local b=$1 g=$2 s=$3 end r avail d
	end=$((b / 4096 * 4096))
	r=$(((s + 799) / 800 + 1))
	((r < 8)) && r=8
	avail=$((end - 8192 - r * 4096))
	# start low (bitmap of the whole area), then grow while it fits
	d=$(((avail - $(__bitmap_bytes "$avail" "$g")) / 4096 * 4096))
	while ((d + 4096 + $(__bitmap_bytes $((d + 4096)) "$g") <= avail)); do
		d=$((d + 4096))
	done
	echo "$d"
}

__bitmap_bytes() {
	local bits=$((($1 + $2 - 1) / $2))
	echo $(((((bits + 7) / 8) + 4095) / 4096 * 4096))
}

# jq_is FILE FILTER WANT: the jq FILTER on FILE must print WANT.
jq_is() {
	local got
	got=$(jq -c "$2" "$1") || fail "jq '$2' failed on $1"
	[[ $got == "$3" ]] || fail "$1: $2 is $got, want $3"
}
