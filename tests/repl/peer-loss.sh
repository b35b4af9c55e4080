#!/usr/bin/env bash
# peer-loss.sh: kill -9 the secondary under load.
#
# on-peer-loss = continue: a writer (64 KiB synchronous writes, 10 s)
# runs against the primary; after 3 s the secondary is killed with
# SIGKILL.  Required: every write succeeds and at least 20 complete after
# the kill; the primary logs the loss; after a clean stop its exit line
# reports bytes out of sync > 0 (the bitmap tracked the degraded writes),
# and so does its start-up line when it is started again (the bitmap is
# durable).  Restarted (secondary first), the two reconnect.
#
# on-peer-loss = suspend: a client writes once, the secondary is killed,
# the primary logs the loss, and a write issued then must not complete
# within 3 s; status counts it in io.suspended.  When the secondary is
# restarted the held write completes (within 40 s: the primary redials
# with backoff); after a flush and a clean stop both data areas are
# identical.
. "$(dirname "$0")/lib.sh"
require_python_nbd

# client_status PID OUT: wait for a background client (bounded 60 s) and
# print its output; fail if it failed.
client_wait() {
	local pid=$1 out=$2 st=0
	wait_gone "$pid" 60 || fail "client PID $pid still runs after 60 s"
	wait "$pid" || st=$?
	untrack_pid "$pid"
	sed 's/^/    client: /' "$out" >&2
	((st == 0)) || fail "client failed (status $st): $(grep FAIL "$out" || tail -n 1 "$out")"
}

# ---------------------------------------------------------- continue

log "on-peer-loss = continue"
pair_init continue 64M
cfg=$D/r0.conf
write_pair_config "$cfg" on-peer-loss=continue
start_pair "$cfg"
timeout 60 "$PYTHON" "$REPL_DIR/nbdclient.py" writer "$(uri alpha)" 10 "$D/killed" \
	>"$D/writer.log" 2>&1 &
writer=$!
track_pid "$writer"
sleep 3
proc_alive "$writer" || client_wait "$writer" "$D/writer.log"
kill_node beta
touch "$D/killed"
expect_log alpha 'lost peer beta' 10
client_wait "$writer" "$D/writer.log"
require_alive alpha
stop_node alpha
expect_out_of_sync alpha -gt 0

# restart: secondary first, then the primary; they must reconnect
start_node beta "$cfg"
start_node alpha "$cfg"
expect_log alpha 'metadata: .* bytes out of sync' 10
line=$(grep -m1 -E 'metadata: .* bytes out of sync' "${LOG[alpha]}")
n=${line% bytes out of sync*}
n=${n##* }
[[ $n =~ ^[0-9]+$ ]] && ((n > 0)) ||
	fail "the restarted primary's metadata reports '$n' bytes out of sync, want > 0: $line"
wait_connected
require_alive alpha beta
stop_pair

# ----------------------------------------------------------- suspend

log "on-peer-loss = suspend"
pair_init suspend 64M
cfg=$D/r0.conf
write_pair_config "$cfg" on-peer-loss=suspend
start_pair "$cfg"
timeout 150 "$PYTHON" "$REPL_DIR/nbdclient.py" suspend "$(uri alpha)" "$D" \
	>"$D/client.log" 2>&1 &
client=$!
track_pid "$client"
wait_file "$D/ready" 20 || { proc_alive "$client" || client_wait "$client" "$D/client.log"; fail "client not ready in 20 s"; }
kill_node beta
expect_log alpha 'lost peer beta' 10
touch "$D/killed"
if ! wait_file "$D/pending" 10; then
	proc_alive "$client" || client_wait "$client" "$D/client.log"
	fail "the client did not report its write pending within 10 s"
fi
require_alive alpha
held=$(timeout 10 "$REPCTL" status --json --config "$cfg" --node alpha |
	"$PYTHON" -c 'import json, sys; print(json.load(sys.stdin)["io"]["suspended"])') ||
	fail "repctl status on alpha"
((held >= 1)) || fail "status says $held suspended writes while one is held, want >= 1"
log "suspend: status shows $held suspended write(s)"
start_node beta "$cfg"
touch "$D/restarted"
client_wait "$client" "$D/client.log"
expect_log beta 'connected to ' 1
require_alive alpha beta
stop_pair
DATA_SIZE=$(md_data_size "$cfg" alpha)
compare_disks
log "suspend: primary reports $(out_of_sync alpha) bytes out of sync at exit"
