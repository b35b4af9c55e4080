#!/usr/bin/env bash
# sigterm.sh: SIGTERM under write load.  A libnbd client keeps ~32 writes
# in flight and sends SIGTERM to repd mid-run; repd must exit 0 within 10 s
# (even with the client still connected), and every write it acknowledged
# must be in the backing file.  Unacknowledged writes may be present or not.
# Then: SIGINT on an idle server, and SIGTERM while a client is stuck in
# the middle of a WRITE payload; both must exit 0 within 10 s.
. "$(dirname "$0")/lib.sh"
require_python_nbd

img=$T/disk.img
sparse_image "$img" 256M
serve "$img" tcp

rc=0
timeout 90 "$PYTHON" "$INTEROP_DIR/sigterm-client.py" load "$URI" "$REPD_PID" "$T/acks" ||
	rc=$?
((rc == 0)) || fail "load client: status $rc"

# The client saw the process go; now collect its exit status.
stop_pid "$REPD_PID" 1
((STOP_STATUS == 0)) || fail "repd exit status $STOP_STATUS after SIGTERM, want 0"
check_clean_md "$REPD_CFG"
log "repd exited 0 after SIGTERM under load, metadata clean: PASS"

"$PYTHON" "$INTEROP_DIR/sigterm-client.py" verify "$img" "$T/acks" ||
	fail "acknowledged writes missing from the backing file"
log "acknowledged writes durable: PASS"

# SIGINT on an idle server: the same clean exit.
img2=$T/disk2.img
sparse_image "$img2" 16M
serve "$img2" tcp
kill -INT "$REPD_PID"
wait_gone "$REPD_PID" 10 || fail "repd still running 10 s after SIGINT"
stop_pid "$REPD_PID" 1
((STOP_STATUS == 0)) || fail "repd exit status $STOP_STATUS after SIGINT, want 0"
check_clean_md "$REPD_CFG"
log "SIGINT, idle: PASS"

# SIGTERM while a client is stuck mid-WRITE payload (and two more in the
# handshake): drain must not wait for the rest of the payload, and the
# partial write must not reach the disk.
serve "$img2" tcp
"$PYTHON" - "$PORT" "$T/stuck.ready" <<'PY' &
import socket, struct, sys, time
s = socket.create_connection(("127.0.0.1", int(sys.argv[1])), timeout=5)
s.recv(18, socket.MSG_WAITALL)                          # greeting
s.sendall(struct.pack(">I", 3))                         # FIXED_NEWSTYLE|NO_ZEROES
s.sendall(struct.pack(">QII", 0x49484156454F5054, 1, 2) + b"r0")   # EXPORT_NAME
s.recv(10, socket.MSG_WAITALL)
s.sendall(struct.pack(">IHHQQI", 0x25609513, 0, 1, 1, 0, 1 << 20) + b"\x5a" * (512 << 10))
# Two more, stuck in the handshake: before the client flags, mid-option.
h1 = socket.create_connection(("127.0.0.1", int(sys.argv[1])), timeout=5)
h2 = socket.create_connection(("127.0.0.1", int(sys.argv[1])), timeout=5)
h2.recv(18, socket.MSG_WAITALL)
h2.sendall(struct.pack(">I", 3) + struct.pack(">QII", 0x49484156454F5054, 7, 100) + b"\0" * 10)
time.sleep(0.2)
open(sys.argv[2], "w").close()
time.sleep(30)
PY
stuck=$!
track_pid "$stuck"
for ((i = 0; i < 50; i++)); do
	[[ -e $T/stuck.ready ]] && break
	sleep 0.1
done
[[ -e $T/stuck.ready ]] || fail "stuck client did not get going"
stop_repd 10
stop_pid "$stuck" 1
cmp -n 1048576 "$img2" /dev/zero >/dev/null || fail "a WRITE whose payload never fully arrived reached the disk"
log "SIGTERM with a client stuck mid-payload: PASS"
