#!/usr/bin/env bash
# ack-rule.sh [PROTOCOL...]: when does the primary answer its client?
# The secondary is fakepeer.py "hold": correct but, once the initial sync
# of the fresh pair is over, slow: it sends ACK_RECV
# (when a request asks for it) 1.5 s and ACK_WRITE 3 s after each write
# arrives, and acks a FLUSH after 1.5 s.  A client then times a 4 KiB
# write, a 4 KiB FUA write and a flush through the primary.  The rule of
# docs/protocol.md ("Replication protocols A, B, C"), as a trace:
#
#   protocol | write answered    | FUA write       | flush   | RECV_ACK flag
#   A        | < 1 s (no wait)   | -               | >= 1.3s | no
#   B        | 1.3 s .. 2.8 s    | >= 2.8 s        | >= 1.3s | yes
#   C        | >= 2.8 s          | >= 2.8 s        | >= 1.3s | no
#
# Also: the fake received both writes with the bytes the client wrote,
# the FUA write with the FUA flag, and a FLUSH.
. "$(dirname "$0")/lib.sh"
require_python_nbd

HOLD=1.5
(($# > 0)) || set -- A B C
for proto in "$@"; do
	[[ $proto == [ABC] ]] || harness_error "unknown protocol '$proto'"
	log "protocol $proto"
	pair_init "ack-$proto" 64M
	cfg=$D/r0.conf
	write_pair_config "$cfg" protocol="$proto"
	create_md "$cfg" alpha
	"$PYTHON" "$REPL_DIR/fakepeer.py" hold 127.0.0.1 "${REPL_PORT[beta]}" s3cret \
		"$HOLD" "$D/hold" 90 "$D/fake.json" >"$D/fake.log" 2>&1 &
	fake_pid=$!
	track_pid "$fake_pid"
	add_log "$D/fake.log"
	sleep 0.3	# listening
	start_node alpha "$cfg"
	expect_log alpha 'connected to ' 10
	wait_nbd alpha
	wait_in_sync	# the initial full sync, acked at once
	touch "$D/hold"
	lat=$(nbdpy timed "$(uri alpha)") || { require_alive alpha; fail "protocol $proto: the timed client failed: $lat"; }
	log "protocol $proto: latencies $lat"
	# let the last acks arrive, then disconnect the fake by stopping
	sleep 3.5
	require_alive alpha
	stop_node alpha
	wait_gone "$fake_pid" 10 || fail "the fake secondary did not end after the primary stopped"
	wait "$fake_pid" || fail "the fake secondary failed: $(tail -n 5 "$D/fake.log")"
	untrack_pid "$fake_pid"
	expect_out_of_sync alpha -eq 0
	"$PYTHON" - "$proto" "$lat" "$D/fake.json" <<'EOF' || fail_later "protocol $proto: the ack rule does not hold (above)"
import hashlib, json, sys
proto, lat, log = sys.argv[1], json.loads(sys.argv[2]), json.load(open(sys.argv[3]))
bad = []
w, fua, fl = lat["write"], lat["fua"], lat["flush"]
if proto == "A" and not w < 1.0:
    bad.append("write answered after %.2f s, want < 1 s (protocol A: packet queued)" % w)
if proto == "B" and not 1.3 <= w < 2.8:
    bad.append("write answered after %.2f s, want 1.3..2.8 s (protocol B: after ACK_RECV at 1.5 s, "
               "before ACK_WRITE at 3 s)" % w)
if proto == "C" and not w >= 2.8:
    bad.append("write answered after %.2f s, want >= 2.8 s (protocol C: after ACK_WRITE at 3 s)" % w)
if proto in "BC" and not fua >= 2.8:
    bad.append("FUA write answered after %.2f s, want >= 2.8 s (after the peer's ACK_WRITE)" % fua)
if not fl >= 1.3:
    bad.append("flush answered after %.2f s, want >= 1.3 s (after the peer's FLUSH ack)" % fl)
data = [r for r in log["requests"] if r["type"] == "DATA"]
want = [(1 << 20, hashlib.sha256(b"\x5a" * 4096).hexdigest(), False),
        (2 << 20, hashlib.sha256(b"\xa5" * 4096).hexdigest(), True)]
if len(data) != 2:
    bad.append("the secondary received %d DATA packets, want 2: %s" % (len(data), data))
else:
    for r, (off, sha, fua_flag) in zip(data, want):
        if r["off"] != off or r["len"] != 4096 or r.get("sha256", sha) != sha:
            bad.append("DATA %s: want offset %d, 4096 bytes of the client's data" % (r, off))
        if bool(r["flags"] & 0x1) != fua_flag:
            bad.append("DATA at %d: FUA flag %s, want %s" % (off, bool(r["flags"] & 1), fua_flag))
        if bool(r["flags"] & 0x20) != (proto == "B"):
            bad.append("DATA at %d: RECV_ACK flag %s under protocol %s" % (off, bool(r["flags"] & 0x20), proto))
if not any(r["type"] == "FLUSH" for r in log["requests"]):
    bad.append("the secondary received no FLUSH")
for b in bad:
    print("    %s" % b, file=sys.stderr)
sys.exit(1 if bad else 0)
EOF
done
finish
