#!/usr/bin/env bash
# handlers.sh: the [handlers] section.
#
# Every handler is one script that writes its REPD_* environment to a file
# of its own (DIR/NODE.EVENT.N) and exits -- unless DIR/hang exists: then
# it notes its PID and start time and sleeps "forever".  timeout = 1.
#
#   - a fresh pair: on-resync-done runs after the initial sync;
#   - demote alpha, promote beta: on-role-change runs on each with
#     REPD_ROLE the new role, REPD_NODE, REPD_PEER, REPD_RESOURCE set;
#   - SIGKILL alpha: beta runs on-peer-lost (REPD_PEER=alpha);
#   - alpha back (--role secondary) and synced; DIR/hang; a writer keeps
#     writing to beta; SIGKILL alpha again: beta's on-peer-lost hangs, is
#     killed after ~1 s with a log line, and writes complete while it
#     hangs (no write waits for it);
#   - repd leaves no zombie handler behind; beta stops cleanly.
. "$(dirname "$0")/../repl/lib.sh"
. "$(dirname "$0")/lib-roles.sh"
require_python_nbd

pair_init handlers 64M
CFG=$D/r0.conf
HD=$D/hooks
mkdir -p "$HD"
hook=$D/hook.sh
cat >"$hook" <<EOF
#!/bin/bash
# a repd handler for handlers.sh: record the environment, or hang
dir=$HD
if [[ -e \$dir/hang && \$REPD_NODE == beta ]]; then
	env | grep '^REPD_' | sort >"\$dir/hang.env"
	echo \$\$ >"\$dir/hang.pid.tmp"
	mv "\$dir/hang.pid.tmp" "\$dir/hang.pid"
	date +%s.%N >"\$dir/hang.started.tmp"
	mv "\$dir/hang.started.tmp" "\$dir/hang.started"
	exec sleep 1000
fi
ev=\${REPD_EVENT:-noevent}
node=\${REPD_NODE:-nonode}
f=\$dir/\${node//[^a-zA-Z0-9_-]/_}.\${ev//[^a-zA-Z0-9_-]/_}.\$(date +%s%N).\$\$
env | grep '^REPD_' | sort >"\$f.tmp"
mv "\$f.tmp" "\$f"
EOF
chmod +x "$hook"
write_pair_config "$CFG"
cat >>"$CFG" <<EOF

[handlers]
on-role-change = $hook
on-peer-lost = $hook
on-resync-done = $hook
on-split-brain = $hook
on-io-error = $hook
timeout = 1
EOF
start_pair "$CFG"
wait_pair primary secondary 60

# hook_files NODE EVENT-ERE: the env files of NODE's handler runs whose
# event matches EVENT-ERE, oldest first.
hook_files() {
	local f
	for f in $(ls -1 "$HD" | sort -t. -k3n); do
		[[ $f == *.tmp ]] && continue
		[[ $f =~ ^$1\.($2)\.[0-9]+\.[0-9]+$ ]] && echo "$HD/$f"
	done
	return 0
}

# wait_hook NODE EVENT-ERE COUNT SECONDS: until NODE has COUNT runs.
wait_hook() {
	local i n
	for ((i = 0; i <= $4 * 10; i++)); do
		n=$(hook_files "$1" "$2" | wc -l)
		((n >= $3)) && return 0
		sleep 0.1
	done
	return 1
}

# hook_env FILE VAR: VAR's value in an env file.
hook_env() { sed -n "s/^$2=//p" "$1" | head -n 1; }

# check_env FILE VAR VALUE: fail_later unless VAR=VALUE in FILE.
check_env() {
	local got
	got=$(hook_env "$1" "$2")
	[[ $got == "$3" ]] ||
		fail_later "${1#"$HD"/}: $2='$got', want '$3' (env: $(tr '\n' ' ' <"$1"))"
}

# -------------------------------------------------------- resync-done

if wait_hook '(alpha|beta)' '[A-Za-z_-]*resync[A-Za-z_-]*' 1 10; then
	log "on-resync-done ran: $(hook_files '(alpha|beta)' '[A-Za-z_-]*resync[A-Za-z_-]*' | xargs -n1 basename | tr '\n' ' ')"
else
	fail_later "on-resync-done did not run within 10 s of the initial sync (hooks: $(ls "$HD" | tr '\n' ' '))"
fi

# -------------------------------------------------------- role change

RC_ERE='[A-Za-z_-]*role[A-Za-z_-]*'
na=$(hook_files alpha "$RC_ERE" | wc -l)
nb=$(hook_files beta "$RC_ERE" | wc -l)
ctl_ok alpha demote
wait_hook alpha "$RC_ERE" $((na + 1)) 10 ||
	fail "on-role-change did not run on alpha within 10 s of demote (hooks: $(ls "$HD" | tr '\n' ' '))"
f=$(hook_files alpha "$RC_ERE" | tail -n 1)
log "alpha demoted: $(tr '\n' ' ' <"$f")"
check_env "$f" REPD_ROLE secondary
check_env "$f" REPD_NODE alpha
check_env "$f" REPD_PEER beta
check_env "$f" REPD_RESOURCE r0
[[ -n $(hook_env "$f" REPD_DISK) ]] || fail_later "${f#"$HD"/}: no REPD_DISK"
[[ -n $(hook_env "$f" REPD_CONNECTION) ]] || fail_later "${f#"$HD"/}: no REPD_CONNECTION"

ctl_ok beta promote
wait_pair secondary primary 20
wait_hook beta "$RC_ERE" $((nb + 1)) 10 ||
	fail "on-role-change did not run on beta within 10 s of promote (hooks: $(ls "$HD" | tr '\n' ' '))"
f=$(hook_files beta "$RC_ERE" | tail -n 1)
log "beta promoted: $(tr '\n' ' ' <"$f")"
check_env "$f" REPD_ROLE primary
check_env "$f" REPD_NODE beta
check_env "$f" REPD_PEER alpha
check_env "$f" REPD_RESOURCE r0
ev=$(hook_env "$f" REPD_EVENT)
[[ $ev == *role* ]] || fail_later "on-role-change ran with REPD_EVENT='$ev'"

# ---------------------------------------------------------- peer lost

PL_ERE='[A-Za-z_-]*(peer|lost)[A-Za-z_-]*'
nl=$(hook_files beta "$PL_ERE" | wc -l)
kill_node alpha
wait_hook beta "$PL_ERE" $((nl + 1)) 15 ||
	fail "on-peer-lost did not run on beta within 15 s of killing alpha (hooks: $(ls "$HD" | tr '\n' ' '))"
f=$(hook_files beta "$PL_ERE" | tail -n 1)
log "beta lost its peer: $(tr '\n' ' ' <"$f")"
check_env "$f" REPD_NODE beta
check_env "$f" REPD_PEER alpha
check_env "$f" REPD_ROLE primary
check_env "$f" REPD_RESOURCE r0
ev=$(hook_env "$f" REPD_EVENT)
[[ $ev == *peer* || $ev == *lost* ]] || fail_later "on-peer-lost ran with REPD_EVENT='$ev'"

# alpha back as the secondary
start_node_args alpha "$CFG" --role secondary
wait_pair secondary primary 60

# ------------------------------------------------ a handler that hangs

touch "$HD/hang"
timeout 60 "$PYTHON" "$ROLES_DIR/rolesclient.py" timed "$(uri beta)" "$D/timed.out" 6 \
	>"$D/timed.log" 2>&1 &
writer=$!
track_pid "$writer"
add_log "$D/timed.log"
wait_file "$D/timed.out" 10 || fail "the writer did not start within 10 s"
sleep 1
kill_node alpha
wait_file "$HD/hang.started" 15 ||
	fail "no handler started on beta within 15 s of killing alpha the second time"
hang_pid=$(cat "$HD/hang.pid")
[[ $hang_pid =~ ^[0-9]+$ ]] || harness_error "hang.pid holds '$hang_pid'"
track_pid "$hang_pid"	# if repd never kills it, the cleanup does
log "the hanging handler (PID $hang_pid) started: $(tr '\n' ' ' <"$HD/hang.env")"
if wait_gone "$hang_pid" 5; then
	untrack_pid "$hang_pid"
else
	fail_later "the hanging handler (PID $hang_pid) still runs 5 s after it started (timeout = 1)"
fi
# the log line for the kill (any case: "SIGKILL", "timed out" ...)
KILL_ERE='([Hh][Aa][Nn][Dd][Ll][Ee][Rr]|[Hh][Oo][Oo][Kk]).*([Kk][Ii][Ll][Ll]|[Tt][Ii][Mm][Ee][Dd]? ?[Oo][Uu][Tt])|([Kk][Ii][Ll][Ll]|[Tt][Ii][Mm][Ee][Dd]? ?[Oo][Uu][Tt]).*([Hh][Aa][Nn][Dd][Ll][Ee][Rr]|[Hh][Oo][Oo][Kk])'
if wait_log beta "$KILL_ERE" 5; then
	log "beta: $(grep -E "$KILL_ERE" "${LOG[beta]}" | tail -n 1)"
else
	fail_later "beta logged no line about killing the handler after its timeout"
fi
bg_wait "$writer" 30
sed 's/^/    writer: /' "$D/timed.log" >&2
((BG_STATUS == 0)) || fail_later "the writer on beta failed (status $BG_STATUS) around the hanging handler"
# a write completed while the handler hung: it started at S and was
# killed at about S + 1; want a write that ended in (S + 0.1, S + 0.9)
started=$(cat "$HD/hang.started")
"$PYTHON" - "$D/timed.out" "$started" <<'EOF' || fail_later "no NBD write on beta completed while the handler hung (I/O waits for handlers?)"
import sys
s = float(sys.argv[2])
ends = [float(l.split()[1]) for l in open(sys.argv[1]) if l.strip()]
during = [e for e in ends if s + 0.1 < e < s + 0.9]
slow = max((float(l.split()[1]) - float(l.split()[0]) for l in open(sys.argv[1]) if l.strip()), default=0)
print("    %d writes in all, %d completed while the handler hung, slowest %.3f s"
      % (len(ends), len(during), slow), file=sys.stderr)
sys.exit(0 if during else 1)
EOF
rm -f "$HD/hang"

# no zombie handlers: repd reaps them from its event loop
zs=
for ((i = 0; i < 20; i++)); do
	zs=$(children_of "${PID[beta]}" | grep ':Z$' || :)
	[[ -z $zs ]] && break
	sleep 0.1
done
[[ -z $zs ]] || fail_later "beta has zombie children (unreaped handlers): $(tr '\n' ' ' <<<"$zs")"

require_alive beta
stop_node beta
finish
