#!/usr/bin/env bash
# raw-protocol.sh: start repd and run raw-protocol.py (NBD edge cases with
# raw bytes on a socket; a fresh connection must READ after every case).
# With INTEROP_DIRECT_IO=no its large READs must have gone by splice;
# with REPD_TEST_SENDS_NOWAIT, replies must have waited for room.
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
# Buffered: READs of 256 KiB to 1 MiB went from the page cache to the
# socket by splice (the cases read 1 MiB blocks back and compare them).
if [[ $INTEROP_SERVER == repd && ${INTEROP_DIRECT_IO:-} == no && -z ${RAW_ONLY:-} ]]; then
	spliced=$(timeout 10 "$REPCTL" status --config "$CFG" --node alpha --json |
		"$PYTHON" -c 'import json, sys; print(json.load(sys.stdin)["io"]["reads_spliced"])') ||
		fail "repctl status --json failed"
	((spliced >= 32)) || fail "io.reads_spliced is $spliced after the 1 MiB READs, want >= 32"
	# after the abandoned READs the pipes are back: a copy of the whole
	# export in 1 MiB READs still goes by splice
	timeout 60 nbdcopy --no-extents -C 1 --request-size=1048576 "$URI" null: ||
		fail "nbdcopy $URI null: status $?"
	more=$(timeout 10 "$REPCTL" status --config "$CFG" --node alpha --json |
		"$PYTHON" -c 'import json, sys; print(json.load(sys.stdin)["io"]["reads_spliced"])') ||
		fail "repctl status --json failed"
	((more - spliced >= size / 1048576 - 1)) ||
		fail "a copy of $size bytes in 1 MiB READs sent $((more - spliced)) by splice, want $((size / 1048576 - 1)) or more"
	log "READ replies sent by splice: $spliced in the cases, $((more - spliced)) in a copy"
fi
# REPD_TEST_SENDS_NOWAIT: the slow reader's replies met a full socket,
# whose sendmsg answered -EAGAIN, and waited for room; the cases above
# checked that every reply still arrived whole.
if [[ $INTEROP_SERVER == repd && -n ${REPD_TEST_SENDS_NOWAIT:-} ]]; then
	waits=$(timeout 10 "$REPCTL" status --config "$CFG" --node alpha --json |
		"$PYTHON" -c 'import json, sys; print(json.load(sys.stdin)["io"]["send_waits"])') ||
		fail "repctl status --json failed"
	((waits >= 1)) || fail "io.send_waits is $waits after the slow reader, want >= 1"
	log "replies waited for room $waits times"
fi
stop_repd
