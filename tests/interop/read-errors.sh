#!/usr/bin/env bash
# read-errors.sh: a disk that fails under 1 MiB READs on the buffered
# path, where they go by splice (REPD_TEST_FAIL_IO_AFTER: local data I/O
# fails after N requests). Each READ either returns the disk's bytes or
# EIO with no data, the connection stays usable, the pipe of a failed
# READ is not left behind, and repd stops cleanly.
. "$(dirname "$0")/lib.sh"
require_python_nbd
[[ $INTEROP_SERVER == repd ]] || skip "uses repd's fault hook"
DIRECT_IO_LINE="direct-io = no"

img=$T/disk.img
sparse_image "$img" 64M
fill_at "$img" 0 60 /dev/urandom
export REPD_TEST_FAIL_IO_AFTER=20
serve "$img" tcp
unset REPD_TEST_FAIL_IO_AFTER

timeout 60 "$PYTHON" - "$URI" "$img" "$REPD_PID" "$T/ok" <<'PY' || fail "the READs above (status $?)"
import errno, os, sys
import nbd

uri, img, pid, okfile = sys.argv[1], sys.argv[2], int(sys.argv[3]), sys.argv[4]
MiB = 1 << 20


def pipe_ends():
    n = 0
    for fd in os.listdir("/proc/%d/fd" % pid):
        try:
            n += os.readlink("/proc/%d/fd/%s" % (pid, fd)).startswith("pipe:")
        except FileNotFoundError:
            pass
    return n


disk = open(img, "rb").read()
h = nbd.NBD()
h.connect_uri(uri)
ok, failed, most_pipes = 0, 0, 0
for i in range(60):
    try:
        buf = h.pread(MiB, i * MiB)
    except nbd.Error as e:
        if e.errnum != errno.EIO:
            sys.exit("READ %d: %s, want EIO" % (i, e))
        failed += 1
    else:
        if failed:
            sys.exit("READ %d succeeded after %d failed ones" % (i, failed))
        if buf != disk[i * MiB:(i + 1) * MiB]:
            sys.exit("READ %d: the data differs from the disk's" % i)
        ok += 1
    most_pipes = max(most_pipes, pipe_ends())
print("%d READs returned the disk's data, then %d failed with EIO; "
      "at most %d pipe ends open" % (ok, failed, most_pipes))
if ok < 10 or failed < 30:
    sys.exit("want at least 10 good READs, then the rest failing")
# one READ at a time: one pipe, used again after every failure
if most_pipes > 2:
    sys.exit("%d pipe ends open for one READ at a time" % most_pipes)
try:                    # the connection still answers
    h.pread(4096, 0)
    sys.exit("a READ after the disk failed succeeded")
except nbd.Error as e:
    if e.errnum != errno.EIO:
        sys.exit("4 KiB READ: %s, want EIO" % e)
h.shutdown()
with open(okfile, "w") as f:
    print("ok=%d" % ok, file=f)
PY
ok=$(sed -n 's/^ok=//p' "$T/ok")
spliced=$(timeout 10 "$REPCTL" status --config "$CFG" --node alpha --json |
	"$PYTHON" -c 'import json, sys; print(json.load(sys.stdin)["io"]["reads_spliced"])') ||
	fail "repctl status --json failed"
((spliced == ok)) || fail "io.reads_spliced is $spliced, want the $ok good READs"
log "$ok READs by splice, then EIO: PASS"
stop_repd
