# shellcheck shell=bash
#
# lib.sh: helpers shared by the replication-link tests.  Source it, do not
# run it:
#
#	. "$(dirname "$0")/lib.sh"
#
# A test sets up one pair at a time: pair_init makes images and ports,
# write_pair_config writes the config both nodes read, create_md formats
# the metadata, start_node/stop_node/kill_node run the daemons.  Nodes are
# named alpha (initial-role = primary) and beta (the secondary).
#
# Environment:
#	REPD, REPCTL	the binaries (meson passes both; required)
#	PYTHON		python with the libnbd module (default /usr/bin/python3)
#	KEEP_TMP	if set, keep the temp dir (configs, logs, images)
#	REPL_VERBOSE	if set, start repd with -v (debug logging)
#
# Exit codes follow meson: 0 pass, 77 skip, 99 harness error, else fail.
# Every process a test starts is registered with track_pid and stopped by
# PID in the EXIT trap; every wait is bounded in count and in time.

set -euo pipefail

# Run the test in a network namespace of its own when we can (root,
# unshare, ip): its 127.0.0.1 is then private. On a shared host another
# process can take a port between free_port's check and repd's bind
# (CI saw "Address already in use" twice in one run).
if [[ -z ${REPD_TEST_OWN_NETNS:-} && $EUID -eq 0 ]] &&
	command -v unshare >/dev/null 2>&1 && command -v ip >/dev/null 2>&1 &&
	unshare --net true 2>/dev/null; then
	export REPD_TEST_OWN_NETNS=1
	exec unshare --net -- bash -c 'ip link set lo up && exec bash "$@"' \
		repd-netns "$0" "$@"
fi

: "${PYTHON:=/usr/bin/python3}"
REPL_DIR=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
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
	"$PYTHON" -c 'import nbd' 2>/dev/null ||
		skip "$PYTHON has no module nbd (package python3-libnbd)"
}

[[ -n ${REPD:-} && -x $REPD ]] ||
	harness_error "REPD='${REPD:-}' is not an executable (meson sets it)"
[[ -n ${REPCTL:-} ]] || harness_error "REPCTL is not set (meson sets it)"
[[ -x $REPCTL ]] || skip "REPCTL=$REPCTL is not built"
[[ -x $PYTHON ]] || skip "$PYTHON not found"
require_cmd timeout nbdinfo cmp sha256sum

# ---------------------------------------------------------------- cleanup

__pids=()	# processes we started; stopped newest first on exit
__logs=()	# logs printed when the test fails
T=		# per-test temp dir, removed on exit

# track_pid PID: stop PID by SIGTERM (then SIGKILL) on exit if still alive.
track_pid() { __pids+=("$1"); }

untrack_pid() {
	local p keep=()
	for p in "${__pids[@]}"; do
		[[ $p == "$1" ]] || keep+=("$p")
	done
	__pids=("${keep[@]}")
}

# add_log FILE: print the tail of FILE if the test fails.
add_log() { __logs+=("$1"); }

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
# SIGKILL if needed.  Sets STOP_STATUS to the exit status (124 when it had
# to be killed after ignoring SIGNAL).  Returns 0.
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
	trap '' PIPE HUP INT TERM	# cleanup runs to the end
	for ((i = ${#__pids[@]} - 1; i >= 0; i--)); do
		stop_pid "${__pids[i]}" 5
	done
	if ((rc != 0 && rc != 77)); then
		for l in "${__logs[@]}"; do
			[[ -s $l ]] || continue
			printf '%s: ---- %s (last 60 lines) ----\n' "$TEST_NAME" "${l#"$T"/}" >&2
			tail -n 60 "$l" >&2
		done
	fi
	if [[ -n $T && -d $T ]]; then
		if [[ -n ${KEEP_TMP:-} ]]; then
			printf '%s: kept %s\n' "$TEST_NAME" "$T" >&2
		else
			rm -rf "$T"
		fi
	fi
	exit "$rc"
}
trap __on_exit EXIT
trap 'exit 129' HUP
trap 'exit 130' INT
trap 'exit 141' PIPE
trap 'exit 143' TERM

T=$(mktemp -d "${TMPDIR:-/tmp}/repd-repl.XXXXXX")
# fio writes verify state files into the working directory
cd "$T"

# O_DIRECT (repd's default) fails on tmpfs; then say direct-io = no.
DIRECT_IO_LINE=
if ! dd if=/dev/zero of="$T/.odirect" bs=4096 count=1 oflag=direct status=none 2>/dev/null; then
	log "note: $T does not support O_DIRECT, configs use direct-io = no"
	DIRECT_IO_LINE="direct-io = no"
fi
rm -f "$T/.odirect"

# ------------------------------------------------------------------ ports

__ports=" "	# ports handed out in this test, never handed out twice

# free_port: set FREE_PORT to a TCP port free on 127.0.0.1 and not handed
# out before in this test (a variable, not output: in a $(...) subshell
# the record of ports handed out would be lost).  Ports come from below
# the ephemeral range so outgoing connections do not take them between
# this check and repd's bind.
free_port() {
	local p i
	for ((i = 0; i < 20; i++)); do
		p=$("$PYTHON" - <<'EOF'
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
) || harness_error "no free TCP port"
		if [[ $__ports != *" $p "* ]]; then
			__ports+="$p "
			FREE_PORT=$p
			return 0
		fi
	done
	harness_error "no fresh free TCP port after 20 tries"
}

# ------------------------------------------------------------------ pair

declare -A PID=()	# node -> repd PID (while running)
declare -A LOG=()	# node -> log of the latest start
declare -A NBD_PORT=() REPL_PORT=() IMG=()
__nstart=0		# numbers the log files
D=			# the current pair's directory

# pair_init TAG [SIZE_ALPHA [SIZE_BETA]]: a fresh pair in $T/TAG: sparse
# images (default 64M each; truncate syntax), four ports.  Sets D, IMG,
# NBD_PORT, REPL_PORT.  Nodes of an earlier pair must be stopped first.
pair_init() {
	local tag=$1 sa=${2:-64M} sb=${3:-${2:-64M}} n
	for n in "${!PID[@]}"; do
		harness_error "pair_init $tag: node $n (PID ${PID[$n]}) still runs"
	done
	D=$T/$tag
	mkdir -p "$D"
	IMG[alpha]=$D/alpha.img
	IMG[beta]=$D/beta.img
	rm -f "${IMG[alpha]}" "${IMG[beta]}"
	truncate -s "$sa" "${IMG[alpha]}"
	truncate -s "$sb" "${IMG[beta]}"
	for n in alpha beta; do
		free_port
		NBD_PORT[$n]=$FREE_PORT
		free_port
		REPL_PORT[$n]=$FREE_PORT
	done
}

# write_pair_config FILE [KEY=VALUE...]: the config both nodes read.  Each
# KEY=VALUE sets a [resource] key (replacing the default for it; an empty
# VALUE drops the key).  Defaults: name r0, secret s3cret, protocol C,
# compression none, data-integrity none, ping-interval 1, timeout 5,
# on-peer-loss continue.
write_pair_config() {
	local cfg=$1 kv k n
	shift
	local -A res=(
		[name]=r0 [secret]=s3cret [protocol]=C [compression]=none
		[data-integrity]=none [ping-interval]=1 [timeout]=5
		[on-peer-loss]=continue
	)
	local order=(name secret protocol compression data-integrity
		     ping-interval timeout on-peer-loss)
	for kv in "$@"; do
		[[ $kv == *=* ]] || harness_error "write_pair_config: '$kv' is not KEY=VALUE"
		k=${kv%%=*}
		[[ -v res[$k] ]] || order+=("$k")
		res[$k]=${kv#*=}
	done
	{
		echo "[resource]"
		for k in "${order[@]}"; do
			[[ -n ${res[$k]} ]] && echo "$k = ${res[$k]}"
		done
		[[ -n $DIRECT_IO_LINE ]] && echo "$DIRECT_IO_LINE"
		for n in alpha beta; do
			echo
			echo "[node $n]"
			echo "disk = ${IMG[$n]}"
			echo "nbd = 127.0.0.1:${NBD_PORT[$n]}"
			echo "control = $D/$n.ctl"
			echo "address = 127.0.0.1:${REPL_PORT[$n]}"
			[[ $n == alpha ]] && echo "initial-role = primary"
			[[ $n == beta ]] && echo "initial-role = secondary"
		done
	} >"$cfg"
}

# create_md CONFIG NODE: format NODE's internal metadata.
create_md() {
	local out=$D/create-md.$2.log
	timeout 30 "$REPCTL" create-md --config "$1" --node "$2" >"$out" 2>&1 || {
		sed 's/^/    repctl: /' "$out" >&2
		fail "repctl create-md --config $1 --node $2 failed"
	}
}

# start_node NODE CONFIG: start repd for NODE in the background.  Sets
# PID[NODE] and LOG[NODE] (a new log file per start).  Does not wait.
start_node() {
	local node=$1 cfg=$2 v=()	# more arguments go to repd
	[[ -z ${PID[$node]:-} ]] || harness_error "start_node: $node already runs"
	[[ -n ${REPL_VERBOSE:-} ]] && v=(-v)
	__nstart=$((__nstart + 1))
	LOG[$node]=$D/$node.$__nstart.log
	(
		# a background job starts with SIGINT ignored; undo that so
		# repd sees default dispositions
		trap - INT QUIT
		exec "$REPD" --config "$cfg" --node "$node" --foreground "${v[@]}" \
			"${@:3}"
	) </dev/null >"${LOG[$node]}" 2>&1 &
	PID[$node]=$!
	track_pid "${PID[$node]}"
	add_log "${LOG[$node]}"
}

# node_alive NODE: true while NODE's repd runs.
node_alive() { [[ -n ${PID[$1]:-} ]] && proc_alive "${PID[$1]}"; }

# require_alive NODE...: fail unless each NODE still runs.
require_alive() {
	local n st
	for n in "$@"; do
		node_alive "$n" && continue
		st=0
		[[ -n ${PID[$n]:-} ]] && { wait "${PID[$n]}" 2>/dev/null || st=$?; }
		((st > 128)) && st="$st, killed by SIG$(kill -l $((st - 128)) 2>/dev/null || echo '?')"
		fail "node $n (PID ${PID[$n]:-none}) is not running (exit status $st)"
	done
}

# log_count NODE ERE: matching lines in NODE's current log.
log_count() { grep -cE -- "$2" "${LOG[$1]}" 2>/dev/null || :; }

# wait_log NODE ERE SECONDS [COUNT]: until NODE's log has COUNT (default 1)
# lines matching ERE.  False on timeout.  Fails if NODE exits meanwhile.
wait_log() {
	local node=$1 re=$2 secs=$3 want=${4:-1} i n
	for ((i = 0; i <= secs * 10; i++)); do
		n=$(log_count "$node" "$re")
		((n >= want)) && return 0
		require_alive "$node"
		sleep 0.1
	done
	return 1
}

# expect_log NODE ERE SECONDS [COUNT]: wait_log or fail.
expect_log() {
	wait_log "$@" ||
		fail "node $1: no line matching /$2/ in ${LOG[$1]#"$T"/} within $3 s"
}

# wait_connected [SECONDS]: until both nodes log "connected to" (default
# 20 s: the primary redials with a backoff of up to 2 s).
wait_connected() {
	local secs=${1:-20}
	expect_log alpha 'connected to ' "$secs"
	expect_log beta 'connected to ' "$secs"
}

# start_pair CONFIG: create-md on both images, start beta, then alpha, wait
# until they are connected and the primary answers NBD.  Sets DATA_SIZE.
start_pair() {
	create_md "$1" alpha
	create_md "$1" beta
	start_node beta "$1"
	start_node alpha "$1"
	wait_connected
	wait_nbd alpha
	DATA_SIZE=$(nbd_size alpha)
}

# uri NODE: the NBD URI of NODE's export (default export name).
uri() { echo "nbd://127.0.0.1:${NBD_PORT[$1]}/"; }

# wait_nbd NODE: until NODE answers nbdinfo (at most 10 s).
wait_nbd() {
	local i
	for ((i = 0; i < 50; i++)); do
		require_alive "$1"
		timeout 5 nbdinfo --size "$(uri "$1")" >/dev/null 2>&1 && return 0
		sleep 0.2
	done
	fail "node $1 does not answer NBD on $(uri "$1") within 10 s"
}

# nbd_size NODE: the exported size in bytes.
nbd_size() {
	local s
	s=$(timeout 10 nbdinfo --size "$(uri "$1")") ||
		fail "nbdinfo --size $(uri "$1") failed"
	[[ $s =~ ^[0-9]+$ ]] && ((s > 0)) || fail "nbdinfo --size $(uri "$1"): '$s'"
	echo "$s"
}

# stop_node NODE [SECONDS]: SIGTERM, require exit 0 within SECONDS (20).
stop_node() {
	local node=$1 secs=${2:-20}
	[[ -n ${PID[$node]:-} ]] || harness_error "stop_node: $node is not running"
	stop_pid "${PID[$node]}" "$secs"
	unset "PID[$node]"
	((STOP_STATUS == 0)) ||
		fail "node $node: exit status $STOP_STATUS after SIGTERM, want 0 within ${secs}s"
}

# kill_node NODE: SIGKILL and reap.
kill_node() {
	local node=$1 pid=${PID[$1]}
	kill -KILL "$pid" 2>/dev/null || :
	wait_gone "$pid" 10 || fail "node $node (PID $pid) survived SIGKILL"
	wait "$pid" 2>/dev/null || :
	untrack_pid "$pid"
	unset "PID[$node]"
	wait_ports_free "$node"
}

# wait_ports_free NODE: until nothing listens on NODE's NBD and
# replication ports (5 s). A killed process's io_uring is torn down by a
# kernel worker after the process is gone, and a pending accept keeps its
# listening socket open until then: a restart at once can find the port
# in use.
wait_ports_free() {
	local i p busy
	for ((i = 0; i < 50; i++)); do
		busy=
		for p in ${NBD_PORT[$1]:-} ${REPL_PORT[$1]:-}; do
			[[ -n $(ss -Hltn "sport = :$p" 2>/dev/null) ]] && busy=$p
		done
		[[ -z $busy ]] && return 0
		sleep 0.1
	done
	fail "port $busy of $1 still listening 5 s after its repd died"
}

# wait_in_sync [SECONDS]: until the last resync the primary logged as
# started ("resync to the peer") has finished ("resync finished"); default
# 60 s.
# Two fresh nodes start with a full initial sync, and a reconnect after a
# peer loss resyncs the dirty bitmap.
wait_in_sync() {
	local secs=${1:-60} i last
	for ((i = 0; i <= secs * 10; i++)); do
		# an interrupted resync starts again on the next connection:
		# only the last start counts
		last=$(awk '/resync to the peer|resync finished/ { l = $0 } END { print l }' "${LOG[alpha]}")
		[[ -z $last || $last == *'resync finished'* ]] && return 0
		require_alive alpha
		sleep 0.1
	done
	fail "the primary's resync did not finish within $secs s: $(grep -E 'resync' "${LOG[alpha]}" | tail -n 2 | tr '\n' '|')"
}

# stop_pair: once any resync has finished, SIGTERM the primary, then the
# secondary; both must exit 0.
stop_pair() {
	wait_in_sync
	stop_node alpha
	stop_node beta
}

# out_of_sync NODE: bytes out of sync from the exit line of NODE's log.
out_of_sync() {
	local line
	line=$(awk '/[0-9]+ requests, [0-9]+ writes; metadata writes: .* bytes out of sync/ { l = $0 }
		END { print l }' "${LOG[$1]}")
	[[ -n $line ]] || fail "node $1: no exit statistics line in ${LOG[$1]#"$T"/}"
	line=${line% bytes out of sync*}
	echo "${line##* }"
}

# expect_out_of_sync NODE OP N: the exit line's bytes out of sync OP N
# (OP: -eq, -gt ...).
expect_out_of_sync() {
	local got
	got=$(out_of_sync "$1")
	[[ $got =~ ^[0-9]+$ ]] || fail "node $1: cannot parse bytes out of sync ('$got')"
	case $2 in
	-eq)	((got == $3)) ;;
	-gt)	((got > $3)) ;;
	-ge)	((got >= $3)) ;;
	*)	harness_error "expect_out_of_sync: unknown operator $2" ;;
	esac || fail "node $1 reports $got bytes out of sync at exit, want $2 $3"
	log "node $1: $got bytes out of sync at exit"
}

# wait_file FILE SECONDS: until FILE exists; false on timeout.
wait_file() {
	local i
	for ((i = 0; i < $2 * 10; i++)); do
		[[ -e $1 ]] && return 0
		sleep 0.1
	done
	[[ -e $1 ]]
}

# status_field NODE EXPR: print EXPR, a Python expression over NODE's
# `repctl status --json` reply as d (d["disk"], d["resync"]["active"]);
# the config is $cfg.
status_field() {
	timeout 60 "$REPCTL" status --config "$cfg" --node "$1" --json |
		"$PYTHON" -c 'import json, sys; d = json.load(sys.stdin); print(eval(sys.argv[1], {"d": d}))' "$2"
}

# wait_status NODE EXPR SECONDS SHOW: until EXPR (like status_field's)
# is true for NODE, polled every 50 ms; on timeout, fail and show the
# last value of the expression SHOW.
wait_status() {
	local i got
	for ((i = 0; i < $3 * 20; i++)); do
		got=$(status_field "$1" "$2" 2>/dev/null) || got=
		[[ $got == True ]] && return 0
		sleep 0.05
	done
	fail "$1: ($2) not true within $3 s; $4 is $(status_field "$1" "$4" 2>&1)"
}

# resync_started NODE COUNT: wait (20 s) until NODE has logged COUNT
# "resync to the peer: N bytes" lines; the last one goes to RESYNC_LINE
# and its N to RESYNC_BYTES.
resync_started() {
	expect_log "$1" 'resync to the peer: [0-9]+ bytes' 20 "$2"
	RESYNC_LINE=$(grep 'resync to the peer' "${LOG[$1]}" | tail -n 1)
	[[ $RESYNC_LINE =~ resync\ to\ the\ peer:\ ([0-9]+)\ bytes ]] ||
		fail "cannot parse: $RESYNC_LINE"
	RESYNC_BYTES=${BASH_REMATCH[1]}
}

# resync_to_sync COUNT BYTES WHAT: alpha's COUNTth resync (resync_started)
# covers exactly BYTES, logged as WHAT; then in sync within 60 s.
resync_to_sync() {
	resync_started alpha "$1"
	log "$3: $RESYNC_LINE"
	((RESYNC_BYTES == $2)) ||
		fail "$3: the resync covers $RESYNC_BYTES bytes, want $2"
	timeout 60 "$REPCTL" wait-sync --config "$cfg" --node alpha --timeout 60 >/dev/null ||
		fail "$3: not in sync after the resync"
}

# fill_random IMAGE MIB SEED: the first MIB MiB of IMAGE, seeded random
# bytes (incompressible, no zero blocks: a resync must move them all).
fill_random() {
	"$PYTHON" - "$1" "$2" "$3" <<'PY' || harness_error "fill_random $1"
import random, sys
r = random.Random(int(sys.argv[3]))
with open(sys.argv[1], "r+b") as f:
    for i in range(int(sys.argv[2])):
        f.write(r.randbytes(1 << 20))
PY
}

# compare_disks [SIZE]: the first SIZE (default DATA_SIZE) bytes of both
# images must be identical.
compare_disks() {
	local size=${1:-$DATA_SIZE} n
	if ! cmp -s -n "$size" "${IMG[alpha]}" "${IMG[beta]}"; then
		# (cmp exits 1 on a difference: with pipefail, set -e would
		# end the test here, without the message)
		n=$(cmp -l -n "$size" "${IMG[alpha]}" "${IMG[beta]}" 2>/dev/null | wc -l || :)
		cmp -l -n "$size" "${IMG[alpha]}" "${IMG[beta]}" 2>/dev/null |
			awk 'NR <= 5 { printf "    differ at byte %d (1-based): alpha %s beta %s (octal)\n", $1, $2, $3 }' >&2 || :
		fail "data areas differ: $n of the first $size bytes"
	fi
	log "data areas identical ($size bytes)"
}

# expect_zero IMAGE SIZE: the first SIZE bytes of IMAGE are all zero.
expect_zero() {
	cmp -s -n "$2" "$1" /dev/zero ||
		fail "${1#"$T"/}: first $2 bytes are not all zero: $(cmp -n "$2" "$1" /dev/zero 2>&1 || :)"
}

# nbdpy ARGS...: run tests/repl/nbdclient.py (bounded by 120 s).
nbdpy() {
	timeout 120 "$PYTHON" "$REPL_DIR/nbdclient.py" "$@"
}

# nbd_flush NODE: NBD FLUSH through NODE's export; fail if it errors.
nbd_flush() {
	nbdpy flush "$(uri "$1")" || fail "NBD FLUSH through $1 failed"
}

# run_fio NAME NODE FIO-ARGS...: fio's nbd engine against NODE with crc32c
# verify; want exit 0, no job error, at least FIO_MIN_WRITES writes (default
# 100), and every byte written verified when the job verifies.
run_fio() {
	local name=$1 node=$2 rc=0
	shift 2
	timeout 150 fio --name="$name" --ioengine=nbd --uri="$(uri "$node")" \
		--verify_state_save=0 \
		--output-format=json --output="$D/$name.json" "$@" \
		>"$D/$name.fio.log" 2>&1 || rc=$?
	# the summary first, so a failed run still says how far it got
	"$PYTHON" - "$D/$name.json" "$rc" "${FIO_MIN_WRITES:-100}" <<'EOF' || { require_alive "${!PID[@]}"; fail "$name: fio reported a problem (status $rc)"; }
import json, sys
text = open(sys.argv[1]).read()
bad = [] if sys.argv[2] == "0" else ["fio exited with status " + sys.argv[2]]
try:
    doc = json.loads(text[text.index("{"):])	# log lines may precede the JSON
except ValueError:
    doc = {"jobs": []}
    bad.append("no JSON output")
for line in text[:text.find("{")].splitlines():
    print("    fio:", line, file=sys.stderr)
for j in doc["jobs"]:
    w, r = j["write"], j["read"]
    print("    fio %s: writes %d (%d bytes), reads %d (%d bytes), error %d"
          % (j["jobname"], w["total_ios"], w["io_bytes"], r["total_ios"],
             r["io_bytes"], j["error"]), file=sys.stderr)
    if j["error"] != 0:
        bad.append("job error %d" % j["error"])
    if w["total_ios"] < int(sys.argv[3]):
        bad.append("only %d writes, want >= %s" % (w["total_ios"], sys.argv[3]))
    if "verify" in j.get("job options", {}) and r["io_bytes"] != w["io_bytes"]:
        bad.append("verified %d bytes of %d written" % (r["io_bytes"], w["io_bytes"]))
for b in bad:
    print("    fio:", b, file=sys.stderr)
sys.exit(1 if bad else 0)
EOF
}

# ---------------------------------------------------------- late failures

__late=()	# failures recorded by fail_later

# fail_later MSG: record a failure and go on (so one run reports every
# independent problem); finish turns it into the exit status.
fail_later() {
	printf '%s: FAIL: %s\n' "$TEST_NAME" "$*" >&2
	__late+=("$*")
}

# finish: exit 1 if fail_later recorded anything, else 0.
finish() {
	local m
	((${#__late[@]} == 0)) && exit 0
	printf '%s: %d failure(s):\n' "$TEST_NAME" "${#__late[@]}" >&2
	for m in "${__late[@]}"; do
		printf '    %s\n' "$m" >&2
	done
	exit 1
}

# md_data_size CONFIG NODE: the data-area size in NODE's metadata.
md_data_size() {
	timeout 30 "$REPCTL" dump-md --config "$1" --node "$2" --json |
		"$PYTHON" -c 'import json, sys; print(json.load(sys.stdin)["superblock"]["data_size"])' ||
		fail "repctl dump-md --config $1 --node $2 failed"
}

# read_hex FILE OFFSET LENGTH: LENGTH bytes of FILE at OFFSET as hex.
read_hex() {
	"$PYTHON" - "$@" <<'EOF2'
import sys
with open(sys.argv[1], "rb") as f:
    f.seek(int(sys.argv[2]))
    print(f.read(int(sys.argv[3])).hex())
EOF2
}

# expect_bytes FILE OFFSET LENGTH BYTE-HEX WHAT: LENGTH bytes at OFFSET of
# FILE are all BYTE-HEX (e.g. 00).
expect_bytes() {
	local got want
	got=$(read_hex "$1" "$2" "$3")
	want=$(printf "%0$(($3 * 2))d" 0 | sed "s/00/$4/g")
	[[ $got == "$want" ]] ||
		fail_later "$5: ${1#"$T"/} at $2 (+$3) is not all 0x$4 (starts ${got:0:32})"
}

# expect_refused NODE WORD ARGS...: `repctl ARGS --config $cfg --node NODE`
# fails and its message has WORD (case-insensitive).
expect_refused() {
	local node=$1 word=$2 out
	shift 2
	if out=$(timeout 60 "$REPCTL" "$@" --config "$cfg" --node "$node" 2>&1); then
		fail "repctl $* on $node succeeded, want a refusal"
	fi
	grep -qi -- "$word" <<<"$out" ||
		fail "repctl $* on $node: '$out' does not say '$word'"
	log "refused as expected: repctl $* on $node: $out"
}
