#!/usr/bin/env bash
# nbdinfo.sh: what nbdinfo sees: flags, block sizes and size (--json),
# the data/hole layout of a sparse image (--map, and qemu-img map), the
# export list (--list), the default export, an unknown export, and IPv6
# and Unix socket listeners.
. "$(dirname "$0")/lib.sh"

MiB=1048576
img=$T/disk.img
sparse_image "$img" 64M
# Known layout, in MiB: data [0,1) [8,9) [20,23) [63,64), holes elsewhere.
fill_at "$img" 0 1 /dev/urandom
fill_at "$img" 8 1 /dev/urandom
fill_at "$img" 20 3 /dev/urandom
fill_at "$img" 63 1 /dev/urandom
layout="0 1 data, 1 7 hole, 8 1 data, 9 11 hole, 20 3 data, 23 40 hole, 63 1 data"

# check_json FILE: the export r0 as repd advertises it.
check_json() {
	"$PYTHON" - "$1" $((64 * MiB)) <<'EOF'
import json, sys
doc = json.load(open(sys.argv[1]))
size = int(sys.argv[2])
bad = []
def want(what, got, exp):
    if got != exp:
        bad.append("%s: got %r, want %r" % (what, got, exp))
want("protocol", doc.get("protocol"), "newstyle-fixed")
want("structured", doc.get("structured"), True)
want("number of exports", len(doc.get("exports", [])), 1)
e = doc["exports"][0]
want("export-name", e.get("export-name"), "r0")
want("export-size", e.get("export-size"), size)
for k in ("can_flush", "can_fua", "can_trim", "can_zero", "can_fast_zero",
          "can_cache", "can_df", "can_multi_conn"):
    want(k, e.get(k), True)
want("is_read_only", e.get("is_read_only"), False)
want("is_rotational", e.get("is_rotational"), False)
want("block_size_minimum", e.get("block_size_minimum"), 1)
want("block_size_preferred", e.get("block_size_preferred"), 4096)
want("block_size_maximum", e.get("block_size_maximum"), 32 * 1024 * 1024)
want("base:allocation in contexts", "base:allocation" in e.get("contexts", []), True)
for b in bad:
    print("nbdinfo --json:", b, file=sys.stderr)
sys.exit(1 if bad else 0)
EOF
}

# check_map URI: nbdinfo --map matches $layout (adjacent extents of one
# type merged; data is type 0, a hole is type 3 = hole,zero).
check_map() {
	local map
	map=$(timeout 20 nbdinfo --map "$1") || fail "nbdinfo --map $1: status $?"
	"$PYTHON" - "$layout" "$map" <<'EOF' || fail "nbdinfo --map $1 differs from the image layout"
import sys
MiB = 1 << 20
want = []
for part in sys.argv[1].split(","):
    off, ln, kind = part.split()
    want.append((int(off) * MiB, int(ln) * MiB, 0 if kind == "data" else 3))
got = []
for line in sys.argv[2].splitlines():
    f = line.split()
    off, ln, typ = int(f[0]), int(f[1]), int(f[2])
    if got and got[-1][2] == typ and got[-1][0] + got[-1][1] == off:
        got[-1] = (got[-1][0], got[-1][1] + ln, typ)
    else:
        got.append((off, ln, typ))
if got != want:
    fmt = lambda l: "\n".join("  %10d %10d %d" % e for e in l)
    print("got (merged):\n%s\nwant:\n%s" % (fmt(got), fmt(want)), file=sys.stderr)
    sys.exit(1)
EOF
}

# --- TCP on 127.0.0.1
serve "$img" tcp

timeout 20 nbdinfo --json "$URI" >"$T/info.json" || fail "nbdinfo --json $URI: status $?"
check_json "$T/info.json" || fail "nbdinfo --json $URI: wrong export info"
log "json: PASS"

check_map "$URI"
log "map: PASS"

# The same layout through qemu's BLOCK_STATUS requests (a different
# client, different request lengths).
if command -v qemu-img >/dev/null 2>&1; then
	qmap=$(timeout 20 qemu-img map -f raw --output=json "$URI") ||
		fail "qemu-img map $URI: status $?"
	"$PYTHON" - "$layout" "$qmap" <<'EOF' || fail "qemu-img map $URI differs from the image layout"
import json, sys
MiB = 1 << 20
want = []
for part in sys.argv[1].split(","):
    off, ln, kind = part.split()
    want.append((int(off) * MiB, int(ln) * MiB, kind))
got = []
for e in json.loads(sys.argv[2]):
    kind = "data" if e["data"] and not e["zero"] else "hole" if e["zero"] and not e["data"] else "?"
    if got and got[-1][2] == kind and got[-1][0] + got[-1][1] == e["start"]:
        got[-1] = (got[-1][0], got[-1][1] + e["length"], kind)
    else:
        got.append((e["start"], e["length"], kind))
if got != want:
    print("got (merged): %r\nwant: %r" % (got, want), file=sys.stderr)
    sys.exit(1)
EOF
	log "qemu-img map: PASS"
fi

list=$(timeout 20 nbdinfo --list --json "nbd://$ADDR/") || fail "nbdinfo --list: status $?"
"$PYTHON" -c '
import json, sys
doc = json.loads(sys.stdin.read())
names = [e.get("export-name") for e in doc["exports"]]
if names != ["r0"]:
    sys.exit("nbdinfo --list: exports %r, want [\"r0\"]" % names)
desc = doc["exports"][0].get("description")
if desc != "repd interop test":
    sys.exit("nbdinfo --list: description %r, want \"repd interop test\"" % desc)
' <<<"$list" || fail "nbdinfo --list"
log "list: PASS"

for u in "nbd://$ADDR/" "nbd://$ADDR"; do
	size=$(timeout 20 nbdinfo --size "$u") || fail "default export: nbdinfo --size $u: status $?"
	[[ $size == $((64 * MiB)) ]] || fail "default export $u: size $size, want $((64 * MiB))"
done
log "default-export: PASS"

if timeout 20 nbdinfo --size "nbd://$ADDR/no-such-export" >"$T/unknown.out" 2>&1; then
	fail "unknown export no-such-export: nbdinfo succeeded ($(cat "$T/unknown.out")), want failure"
fi
log "unknown-export: PASS"
stop_repd

# --- Internal metadata: the export is the disk minus the metadata area.
if [[ $INTEROP_SERVER == repd ]]; then
	META=internal
	sparse_image "$T/internal.img" 64M
	serve "$T/internal.img" tcp
	size=$(timeout 20 nbdinfo --size "$URI") || fail "nbdinfo --size $URI: status $?"
	want=$(internal_data_size $((64 * MiB)))
	((size == want)) || fail "internal metadata: export size $size, want $want"
	stop_repd
	META=external
	log "internal metadata export size $size: PASS"
fi

# --- IPv6 and Unix socket listeners
kinds=(unix)
if have_ipv6; then
	kinds+=(ipv6)
else
	log "note: no IPv6 loopback, skipping the [::1] listener"
fi
for kind in "${kinds[@]}"; do
	serve "$img" "$kind"
	timeout 20 nbdinfo --json "$URI" >"$T/info.$kind.json" || fail "nbdinfo --json $URI: status $?"
	check_json "$T/info.$kind.json" || fail "$kind listener: wrong export info from $URI"
	check_map "$URI"
	stop_repd
	log "$kind listener ($URI): PASS"
done
