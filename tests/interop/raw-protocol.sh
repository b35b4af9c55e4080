#!/usr/bin/env bash
# raw-protocol.sh: start repd and run raw-protocol.py (NBD edge cases with
# raw bytes on a socket; a fresh connection must READ after every case).
# repd must still be running at the end and then stop cleanly.
. "$(dirname "$0")/lib.sh"

# Internal metadata sits right behind the exported area: the past-end
# cases must not reach it (stop_repd checks it is intact and clean).
META=internal
img=$T/disk.img
sparse_image "$img" 64M
serve "$img" tcp
size=$(timeout 20 nbdinfo --size "$URI") || fail "nbdinfo --size $URI: status $?"
if [[ $INTEROP_SERVER == repd ]]; then
	want=$(internal_data_size $((64 * 1048576)))
	((size == want)) || fail "export size $size with internal metadata, want $want"
fi

rc=0
timeout 240 "$PYTHON" "$INTEROP_DIR/raw-protocol.py" --host 127.0.0.1 --port "$PORT" \
	--export r0 --size "$size" --pid "$REPD_PID" ${RAW_ONLY:+--only "$RAW_ONLY"} || rc=$?
proc_alive "$REPD_PID" || fail "repd is not running after the protocol cases"
((rc == 0)) || fail "raw-protocol.py: status $rc (FAIL lines above)"
stop_repd
