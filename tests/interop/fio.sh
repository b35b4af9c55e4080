#!/usr/bin/env bash
# fio.sh: fio's nbd engine writes at random with crc32c verification and
# reads everything back: 4k at queue depth 16, a mix of sizes from 512 B
# to 1 MiB (unaligned to repd's O_DIRECT sectors), and two jobs at once
# (two connections) on disjoint halves, and 1 MiB writes. On the page
# cache, repctl status must show writes the loop made itself, and
# replies that waited to share a send.
. "$(dirname "$0")/lib.sh"
require_cmd fio

META=internal
img=$T/disk.img
sparse_image "$img" 64M
serve "$img" tcp

# run_fio NAME JOBS FIO-ARGS...: run fio, want exit 0, no job error, and
# for every job both writes (FIO_MIN_IOS, default 1000) and verify reads.
run_fio() {
	local name=$1 jobs=$2 rc=0
	shift 2
	# In $T: fio drops files (verify state) into its working directory.
	(cd "$T" && timeout 120 fio --name="$name" --ioengine=nbd --uri="$URI" \
		--rw=randwrite --iodepth=16 \
		--verify=crc32c --do_verify=1 --verify_fatal=1 --verify_state_save=0 \
		--output-format=json --output="$T/$name.json" "$@") \
		>"$T/$name.log" 2>&1 || rc=$?
	if ((rc != 0)); then
		sed 's/^/    fio: /' "$T/$name.log" >&2
		[[ -s $T/$name.json ]] && head -c 4000 "$T/$name.json" | sed 's/^/    fio: /' >&2
		fail "$name: fio exited with status $rc"
	fi
	"$PYTHON" - "$T/$name.json" "$jobs" "${FIO_MIN_IOS:-1000}" <<'EOF' || fail "$name: fio reported a problem"
import json, sys
text = open(sys.argv[1]).read()
doc = json.loads(text[text.index("{"):])	# log lines may precede the JSON
jobs = doc["jobs"]
bad = []
if len(jobs) != int(sys.argv[2]):
    bad.append("%d jobs, want %s" % (len(jobs), sys.argv[2]))
for j in jobs:
    w, r = j["write"], j["read"]
    print("    fio %s: writes %d (%d bytes), verify reads %d (%d bytes), error %d"
          % (j["jobname"], w["total_ios"], w["io_bytes"], r["total_ios"],
             r["io_bytes"], j["error"]), file=sys.stderr)
    if j["error"] != 0:
        bad.append("job error %d" % j["error"])
    if w["total_ios"] < int(sys.argv[3]) or r["io_bytes"] != w["io_bytes"]:
        bad.append("want >= %s writes and as many bytes verified as written"
                   % sys.argv[3])
for b in bad:
    print("    fio:", b, file=sys.stderr)
sys.exit(1 if bad else 0)
EOF
	log "$name: PASS"
}

run_fio randwrite-4k 1 --bs=4k --size=32M
run_fio randwrite-mixed 1 --bssplit=512/10:1536/5:4k/45:16k/20:64k/15:1m/5 --size=48M
run_fio randwrite-2jobs 2 --bs=4k --numjobs=2 --size=16M --offset_increment=32M
# 1 MiB writes, aligned: on the page cache the loop makes these too
FIO_MIN_IOS=300 run_fio randwrite-1m 1 --bs=1m --size=48M --loops=8

# On the page cache the loop makes whole-page writes of up to 1 MiB
# itself (replicator/engine.c); repctl status counts them.
if [[ $INTEROP_SERVER == repd && $DIRECT_IO_LINE == "direct-io = no" ]]; then
	read -r inl large stalls preempted batches < <(timeout 10 "$REPCTL" status --config "$CFG" \
		--node alpha --json | "$PYTHON" -c 'import json, sys
io = json.load(sys.stdin)["io"]
print(io["inline_writes"], io["inline_large_writes"], io["inline_stalls"],
      io["inline_preempted"], io["reply_batches"])') ||
		fail "repctl status --json failed"
	((inl >= 1000)) || fail "io.inline_writes is '$inl' after the 4k jobs, want >= 1000"
	((large >= 1)) || fail "io.inline_large_writes is '$large' after the 1 MiB job, want >= 1"
	((large <= inl)) || fail "io.inline_large_writes $large > io.inline_writes $inl"
	((stalls + preempted <= inl)) ||
		fail "io.inline_stalls $stalls + io.inline_preempted $preempted > io.inline_writes $inl"
	# fio keeps 16 requests in flight: its replies share sends
	# (reply_hold.c), 8 at a time
	((batches >= 1)) || fail "io.reply_batches is '$batches' after the QD16 jobs, want >= 1"
	log "writes made by the loop itself: $inl, $large of them large ($stalls stalled, $preempted preempted); $batches batches of held replies"
fi

stop_repd
