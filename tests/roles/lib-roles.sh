# shellcheck shell=bash
#
# lib-roles.sh: helpers for the roles tests (issue 6: promote, demote,
# connect, disconnect, outdate, invalidate, resync, events, handlers).
# Source it after tests/repl/lib.sh:
#
#	. "$(dirname "$0")/../repl/lib.sh"
#	. "$(dirname "$0")/lib-roles.sh"
#
# Adds: repctl wrappers that check exit status and the "repctl: CMD:
# reason" line, `repctl status --json` parsed into shell variables, bounded
# waits on status, start_node_args (repd with extra arguments such as
# --role), and the python helpers of this directory.
#
# The config of the current pair is $CFG (set it after write_pair_config).

ROLES_DIR=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
CFG=

# ------------------------------------------------------------------ repctl

# rctl NODE CMD [ARGS...]: run `repctl CMD --config $CFG --node NODE ARGS`
# (bounded by RCTL_TIMEOUT, default 45 s: demote --force may wait ~30 s
# for clients).  Sets RC, OUT (stdout), ERR (stderr).  Never fails.
rctl() {
	local node=$1 cmd=$2
	shift 2
	RC=0
	OUT=$(timeout "${RCTL_TIMEOUT:-45}" "$REPCTL" "$cmd" --config "$CFG" --node "$node" "$@" \
		2>"$D/.rctl.err") || RC=$?
	ERR=$(cat "$D/.rctl.err")
	log "repctl $cmd $* ($node): exit $RC${ERR:+: $(head -c 300 <<<"$ERR" | tr '\n' ' ')}"
	((RC != 124)) || fail "repctl $cmd $* on $node hung for ${RCTL_TIMEOUT:-45} s"
}

# ctl_ok NODE CMD [ARGS...]: the command must exit 0.
ctl_ok() {
	rctl "$@"
	((RC == 0)) || fail "repctl $2 ${*:3} on $1: exit $RC, want 0: $ERR"
}

# ctl_refused NODE ERE CMD [ARGS...]: the command must be refused: exit 1,
# stderr "repctl: CMD: REASON" with REASON matching ERE (case-insensitive;
# empty ERE: any non-empty reason).  Exit 0 (the state changed under the
# rest of the test) is fatal; anything else is recorded with fail_later.
# Sets REASON.
ctl_refused() {
	local node=$1 ere=$2 cmd=$3
	shift 2
	rctl "$node" "$@"
	((RC != 0)) || fail "repctl $cmd ${*:2} on $node succeeded, want a refusal (exit 1)"
	((RC == 1)) || fail_later "repctl $cmd ${*:2} on $node: exit $RC, want 1 (refused): $ERR"
	REASON=$(grep -m1 -E "^repctl: $cmd: " <<<"$ERR" | sed -E "s/^repctl: $cmd: //") || REASON=
	if [[ -z $REASON ]]; then
		fail_later "repctl $cmd ${*:2} on $node: no 'repctl: $cmd: reason' line on stderr: $ERR"
	elif [[ -n $ere ]] && ! grep -qiE -- "$ere" <<<"$REASON"; then
		fail_later "repctl $cmd ${*:2} on $node: reason '$REASON' does not match /$ere/"
	fi
}

# ------------------------------------------------------------------ status

# st NODE [ARGS...]: `repctl status --json` of NODE (through --config/--node,
# or ARGS instead, e.g. --socket PATH) into S_ROLE S_DISK S_CONN S_PROLE
# S_PDISK S_OOS S_NBDC S_REASON S_NODE S_RESYNC ("-" for null, "<missing>"
# for an absent key) and S_JSON.  False (S_ERR says why) if repctl or the
# parse fails.
st() {
	local node=$1 line rc=0
	shift
	(($# > 0)) || set -- --config "$CFG" --node "$node"
	S_JSON=$(timeout 10 "$REPCTL" status --json "$@" 2>"$D/.st.err") || rc=$?
	if ((rc != 0)); then
		S_ERR="repctl status --json $*: exit $rc: $(cat "$D/.st.err")"
		return 1
	fi
	line=$("$PYTHON" "$ROLES_DIR/statusq.py" <<<"$S_JSON" 2>"$D/.st.err") || {
		S_ERR="cannot parse status of $node: $(cat "$D/.st.err"): $S_JSON"
		return 1
	}
	IFS=$'\t' read -r S_NODE S_ROLE S_DISK S_CONN S_PROLE S_PDISK S_OOS S_NBDC S_RESYNC S_REASON <<<"$line"
	S_ERR=
}

# st_str: the last st result in one line, for messages.
st_str() {
	echo "role=$S_ROLE disk=$S_DISK conn=$S_CONN peer=$S_PROLE/$S_PDISK oos=$S_OOS nbd=$S_NBDC resync=$S_RESYNC reason=$S_REASON"
}

# st_need NODE: st NODE or fail.
st_need() { st "$1" || fail "$S_ERR"; }

# wait_st NODE SECONDS COND: poll st NODE every 0.2 s until the bash
# condition COND (evaluated, may use S_*) holds.  False on timeout (S_*
# then hold the last status).  Fails if NODE's repd exits meanwhile.
wait_st() {
	local node=$1 secs=$2 cond=$3 i
	for ((i = 0; i <= secs * 5; i++)); do
		if st "$node" && eval "$cond"; then
			return 0
		fi
		require_alive "$node"
		sleep 0.2
	done
	return 1
}

# expect_st NODE SECONDS COND WHAT: wait_st or fail.
expect_st() {
	wait_st "$1" "$2" "$3" ||
		fail "$4: node $1 did not reach [$3] within $2 s; last: ${S_ERR:-$(st_str)}"
}

# healthy_cond ROLE PEER_ROLE: the condition for a node of ROLE connected
# to a peer of PEER_ROLE, both UpToDate, nothing out of sync.
healthy_cond() {
	echo "[[ \$S_ROLE == $1 && \$S_DISK == UpToDate && \$S_CONN == Connected && \$S_PROLE == $2 && \$S_PDISK == UpToDate && \$S_OOS == 0 ]]"
}

# wait_pair ROLE_ALPHA ROLE_BETA [SECONDS]: until both nodes are Connected,
# UpToDate (each also for its peer), in these roles, nothing out of sync
# (default 60 s: a fresh pair runs a full initial sync).
wait_pair() {
	local ra=$1 rb=$2 secs=${3:-60} i sa sb
	for ((i = 0; i <= secs * 5; i++)); do
		if st alpha && eval "$(healthy_cond "$ra" "$rb")"; then
			sa=$(st_str)
			if st beta && eval "$(healthy_cond "$rb" "$ra")"; then
				log "pair healthy: alpha $ra, beta $rb"
				return 0
			fi
		fi
		require_alive alpha beta
		sleep 0.2
	done
	st alpha || :
	sa=${S_ERR:-$(st_str)}
	st beta || :
	sb=${S_ERR:-$(st_str)}
	fail "pair not Connected/UpToDate as alpha=$ra beta=$rb within $secs s: alpha: $sa; beta: $sb"
}

# ------------------------------------------------------------------ nodes

# start_node_args NODE CONFIG ARGS...: start_node with extra repd
# arguments (e.g. --role secondary).  Sets PID[NODE], LOG[NODE].
start_node_args() {
	local node=$1 cfg=$2 v=()
	shift 2
	[[ -z ${PID[$node]:-} ]] || harness_error "start_node_args: $node already runs"
	[[ -n ${REPL_VERBOSE:-} ]] && v=(-v)
	__nstart=$((__nstart + 1))
	LOG[$node]=$D/$node.$__nstart.log
	(
		trap - INT QUIT
		exec "$REPD" --config "$cfg" --node "$node" --foreground "${v[@]}" "$@"
	) </dev/null >"${LOG[$node]}" 2>&1 &
	PID[$node]=$!
	track_pid "${PID[$node]}"
	add_log "${LOG[$node]}"
}

# fresh_pair TAG SIZE [KEY=VALUE...]: pair_init, write $D/r0.conf (CFG),
# create-md on both, start beta then alpha, wait until healthy (alpha
# primary).  Sets DATA_SIZE from the primary's export.
fresh_pair() {
	local tag=$1 size=$2
	shift 2
	pair_init "$tag" "$size"
	CFG=$D/r0.conf
	write_pair_config "$CFG" "$@"
	start_pair "$CFG"
	wait_pair primary secondary 90
}

# bg_wait PID SECONDS: wait for a tracked background process (bounded),
# set BG_STATUS; fail if it is still running after SECONDS.
bg_wait() {
	BG_STATUS=0
	wait_gone "$1" "$2" || fail "background PID $1 still runs after $2 s"
	wait "$1" || BG_STATUS=$?
	untrack_pid "$1"
}

# nbd_refused NODE: true if NODE's export does not answer (a secondary).
nbd_refused() { ! timeout 10 nbdinfo --size "$(uri "$1")" >/dev/null 2>&1; }

# children_of PID: "CHILD:STATE" for each child of PID (one per line).
children_of() {
	local c stat rest
	for c in $(cat /proc/"$1"/task/*/children 2>/dev/null); do
		stat=$(cat "/proc/$c/stat" 2>/dev/null) || continue
		rest=${stat##*) }
		echo "$c:${rest%% *}"
	done
}

# rolesclient ARGS...: tests/roles/rolesclient.py, bounded by 150 s.
rolesclient() { timeout 150 "$PYTHON" "$ROLES_DIR/rolesclient.py" "$@"; }

# keep_st NODE SECONDS COND WHAT: COND must hold on every sample (every
# 0.5 s) for SECONDS; fail_later (once) if it does not.
keep_st() {
	local node=$1 secs=$2 cond=$3 i
	for ((i = 0; i < secs * 2; i++)); do
		if ! st "$node" || ! eval "$cond"; then
			fail_later "$4: node $node left [$cond] after $((i / 2)).$((i % 2 * 5)) s: ${S_ERR:-$(st_str)}"
			return 0
		fi
		sleep 0.5
	done
}

# events_has FILE WHAT PYEXPR: true if some JSON line of FILE satisfies
# PYEXPR (a python expression over the dict e); prints nothing.
events_has() {
	"$PYTHON" - "$1" "$3" <<'EOF2'
import json, sys
expr = compile(sys.argv[2], "expr", "eval")
try:
    lines = open(sys.argv[1]).read().splitlines()
except OSError:
    sys.exit(1)
for line in lines:
    try:
        e = json.loads(line)
    except ValueError:
        continue
    # e in the globals: a generator expression in PYEXPR must see it
    if isinstance(e, dict) and eval(expr, {"e": e}):
        sys.exit(0)
sys.exit(1)
EOF2
}

# expect_event FILE WHAT PYEXPR: events_has or fail_later (with the
# stream's last lines).
expect_event() {
	events_has "$1" "$2" "$3" && return 0
	fail_later "$2: no line in ${1#"$T"/} satisfies [$3]; it has $(wc -l <"$1" 2>/dev/null || echo 0) lines, last: $(tail -n 3 "$1" 2>/dev/null | tr '\n' '|')"
}
