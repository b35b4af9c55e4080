#!/usr/bin/env bash
# create-dump.sh: repctl create-md and dump-md end to end.
#  - create-md on a fresh sparse image (internal): dump-md --json shows
#    the documented data size, defaults, no flags, nothing dirty;
#  - create-md refuses existing metadata without --force, works with it;
#  - create-md refuses an image holding ext4 (naming it) without --force;
#  - external metadata (meta = PATH): file created, --size honoured;
#  - bad options exit 2 with a message, unknown node exits 1;
#  - dump-md without metadata fails with the create-md hint; repd too;
#  - a write through repd shows up as dirty range and hot extent;
#  - one superblock slot garbage: dump-md reads the other (its seq);
#    both garbage, or a newer format: clear refusal.
# shellcheck source=tests/md/lib.sh
. "$(dirname "$0")/lib.sh"
require_python_nbd
require_cmd mkfs.ext4 dd

cfg=$T/r0.conf
img=$T/disk.img
port=$(free_port)
out=$T/out
errf=$T/err

# expect_rc RC CMD...: run CMD (stdout to $out, stderr to $errf) and
# require exit status RC.
expect_rc() {
	local want=$1 rc=0
	shift
	"$@" >"$out" 2>"$errf" || rc=$?
	((rc == want)) || {
		cat "$out" "$errf" >&2
		fail "'$*': exit status $rc, want $want"
	}
}

# err_has TEXT: stderr of the last expect_rc contains TEXT.
err_has() {
	grep -qF -- "$1" "$errf" || {
		cat "$errf" >&2
		fail "stderr does not mention '$1'"
	}
}

dump_json() {
	expect_rc 0 "$REPCTL" dump-md --config "$cfg" --node alpha --json
	cp "$out" "$1"
	jq -e . "$1" >/dev/null || fail "dump-md --json is not JSON"
}

# --------------------------------------------------------- fresh, internal
sparse_image "$img" 256M
write_config "$cfg" "$img" "$port"

expect_rc 1 "$REPCTL" dump-md --config "$cfg" --node alpha
err_has "no metadata; run repctl create-md --config $cfg --node alpha"
log "dump-md without metadata: refused with the hint: PASS"

start_repd "$cfg"
wait_gone "$REPD_PID" 10 || fail "repd still running without metadata"
stop_pid "$REPD_PID" 1
((STOP_STATUS != 0)) || fail "repd exited 0 without metadata"
grep -qF "repctl create-md" "$REPD_LOG" || fail "repd's refusal does not name repctl create-md"
log "repd without metadata: refused, naming repctl create-md: PASS"

expect_rc 0 "$REPCTL" create-md --config "$cfg" --node alpha
want=$(expected_data_size $((256 << 20)) 4096 1237)
grep -q "exported size  $want " "$out" || { cat "$out"; fail "create-md does not print exported size $want"; }
grep -q "metadata size " "$out" || fail "create-md does not print the metadata size"
dump_json "$T/d1.json"
jq_is "$T/d1.json" .superblock.data_size "$want"
jq_is "$T/d1.json" .superblock.flags '["clean-shutdown"]'
jq_is "$T/d1.json" .superblock.flags_value 64
jq_is "$T/d1.json" .superblock.granularity 4096
jq_is "$T/d1.json" .superblock.al_extent_size 4194304
jq_is "$T/d1.json" .superblock.al_slots 1237
jq_is "$T/d1.json" .superblock.placement '"internal"'
jq_is "$T/d1.json" .superblock.node_id 0
jq_is "$T/d1.json" .superblock.seq 1
jq_is "$T/d1.json" .superblock.slot 0
jq_is "$T/d1.json" .superblock.generation.current '"0000000000000004"'
jq_is "$T/d1.json" '.superblock.generation.history | length' 4
jq_is "$T/d1.json" '.superblock.resource_uuid | test("^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$")' true
jq_is "$T/d1.json" .layout.md_offset "$want"
jq_is "$T/d1.json" '.layout.md_offset + .layout.md_size' $((256 << 20))
jq_is "$T/d1.json" .layout.al_blocks 8
jq_is "$T/d1.json" .bitmap.dirty_granules 0
jq_is "$T/d1.json" .bitmap.dirty_bytes 0
jq_is "$T/d1.json" .bitmap.dirty_ranges '[]'
jq_is "$T/d1.json" .bitmap.granules $(((want + 4095) / 4096))
jq_is "$T/d1.json" .al.valid 0
jq_is "$T/d1.json" .al.empty 8
jq_is "$T/d1.json" .al.replay '"ok"'
jq_is "$T/d1.json" .al.hot_count 0
expect_rc 0 "$REPCTL" dump-md --config "$cfg" --node alpha
grep -q "^superblock *slot 0, seq 1" "$out" || fail "human dump-md lacks 'slot 0, seq 1'"
grep -q "^dirty *0 of " "$out" || fail "human dump-md lacks the dirty count"
log "create-md + dump-md --json on a fresh image: PASS (data_size $want)"

uuid1=$(jq -r .superblock.resource_uuid "$T/d1.json")
expect_rc 1 "$REPCTL" create-md --config "$cfg" --node alpha
err_has "already holds valid internal metadata"
err_has "--force"
expect_rc 0 "$REPCTL" create-md --config "$cfg" --node alpha --force \
	--granularity 64K --al-extent-size 1M --al-slots 67
dump_json "$T/d2.json"
[[ $(jq -r .superblock.resource_uuid "$T/d2.json") != "$uuid1" ]] ||
	fail "create-md --force kept the resource UUID"
jq_is "$T/d2.json" .superblock.granularity 65536
jq_is "$T/d2.json" .superblock.al_extent_size 1048576
jq_is "$T/d2.json" .superblock.al_slots 67
jq_is "$T/d2.json" .superblock.data_size "$(expected_data_size $((256 << 20)) 65536 67)"
log "create-md refuses existing metadata, --force overwrites with new options: PASS"

# ------------------------------------------------------------- bad options
for o in "--granularity 3000" "--granularity 2K" "--granularity 2M" \
	"--al-extent-size 512K" "--al-extent-size 3M" "--al-slots 66" \
	"--al-slots 65535" "--al-slots x" "--granularity 4Q" "--size 4096" \
	"--bogus" "extra-arg"; do
	# shellcheck disable=SC2086 # word splitting intended
	expect_rc 2 "$REPCTL" create-md --config "$cfg" --node alpha --force $o
	[[ -s $errf ]] || fail "create-md $o: no message"
done
expect_rc 2 "$REPCTL" create-md --node alpha
err_has "--config"
expect_rc 1 "$REPCTL" create-md --config "$cfg" --node nosuch
err_has "no [node nosuch] section"
expect_rc 2 "$REPCTL" no-such-command
expect_rc 0 "$REPCTL" --help
expect_rc 0 "$REPCTL" create-md --help
expect_rc 0 "$REPCTL" dump-md --help
log "bad options and usage: PASS"

# without --node: the node named like this host
host=$(hostname -s 2>/dev/null || hostname)
if [[ $host =~ ^[A-Za-z0-9._-]{1,63}$ ]]; then
	hcfg=$T/host.conf
	himg=$T/host.img
	sparse_image "$himg" 16M
	cat >"$hcfg" <<-EOF
		[resource]
		name = r0
		secret = not-used-here
		$DIRECT_IO_LINE
		[node other]
		disk = $T/other.img
		nbd = 127.0.0.1:1
		address = 127.0.0.1:2
		control = $T/other.sock
		[node $host]
		disk = $himg
		nbd = 127.0.0.1:$port
		address = 127.0.0.1:3
		control = $T/ctl.sock
	EOF
	expect_rc 0 "$REPCTL" create-md --config "$hcfg"
	expect_rc 0 "$REPCTL" dump-md --config "$hcfg" --json
	jq_is "$out" .node "\"$host\""
	jq_is "$out" .superblock.node_id 1
	log "no --node: the host's node ($host, id 1): PASS"
fi

# -------------------------------------------------- a filesystem is refused
fsimg=$T/fs.img
sparse_image "$fsimg" 64M
mkfs.ext4 -q -F "$fsimg" >/dev/null 2>&1 || skip "mkfs.ext4 failed"
fscfg=$T/fs.conf
write_config "$fscfg" "$fsimg" "$port"
expect_rc 1 "$REPCTL" create-md --config "$fscfg" --node alpha
err_has "ext4"
err_has "--force"
expect_rc 1 "$REPCTL" dump-md --config "$fscfg" --node alpha
err_has "no metadata"
expect_rc 0 "$REPCTL" create-md --config "$fscfg" --node alpha --force
log "ext4 image refused naming ext4, --force overrides: PASS"

# ------------------------------------------------------- external metadata
ximg=$T/xdisk.img
xmd=$T/x.md
sparse_image "$ximg" 128M
xcfg=$T/x.conf
write_config "$xcfg" "$ximg" "$port" "meta = $xmd"
expect_rc 2 "$REPCTL" create-md --config "$cfg" --node alpha --force --size 32M
err_has "external metadata only"
expect_rc 0 "$REPCTL" create-md --config "$xcfg" --node alpha
[[ -f $xmd ]] || fail "create-md did not create $xmd"
cfg_saved=$cfg
cfg=$xcfg
dump_json "$T/x1.json"
jq_is "$T/x1.json" .superblock.placement '"external"'
jq_is "$T/x1.json" .superblock.data_size $((128 << 20))
jq_is "$T/x1.json" .layout.md_offset 0
jq_is "$T/x1.json" .layout.md_size "$(stat -c %s "$xmd")"
jq_is "$T/x1.json" .path "\"$xmd\""
expect_rc 1 "$REPCTL" create-md --config "$xcfg" --node alpha --size 32M
err_has "already holds"
expect_rc 0 "$REPCTL" create-md --config "$xcfg" --node alpha --size 32M --force
dump_json "$T/x2.json"
jq_is "$T/x2.json" .superblock.data_size $((32 << 20))
expect_rc 1 "$REPCTL" create-md --config "$xcfg" --node alpha --size 256M --force
err_has "larger than disk"
cfg=$cfg_saved
log "external metadata: PASS"

# ------------------------------------- writes through repd, clean stop, slots
expect_rc 0 "$REPCTL" create-md --config "$cfg" --node alpha --force
start_repd "$cfg"
wait_ready "$port"
timeout 30 "$PYTHON" "$MD_DIR/mdtool.py" nbdwrite "nbd://127.0.0.1:$port/r0" $((5 << 20)) $((1 << 20)) ||
	fail "write through repd failed"
stop_repd 20
dump_json "$T/d3.json"
# create-md wrote seq 1 to slot 0, start seq 2 to slot 1, stop seq 3 to slot 0
jq_is "$T/d3.json" .superblock.seq 3
jq_is "$T/d3.json" .superblock.slot 0
jq_is "$T/d3.json" '.superblock.flags | index("clean-shutdown") != null' true
jq_is "$T/d3.json" .bitmap.dirty_ranges "[[$((5 << 20)),$((1 << 20))]]"
jq_is "$T/d3.json" .bitmap.dirty_bytes $((1 << 20))
jq_is "$T/d3.json" .bitmap.dirty_granules 256
jq_is "$T/d3.json" .al.hot_extents '[1]'
jq_is "$T/d3.json" .al.hot_ranges "[[$((4 << 20)),$((4 << 20))]]"
jq_is "$T/d3.json" '.al.valid >= 1' true
log "a 1 MiB write shows as dirty range and hot extent; clean-shutdown set: PASS"

sb0=$(jq .layout.sb_offsets[0] "$T/d3.json")
sb1=$(jq .layout.sb_offsets[1] "$T/d3.json")
cp "$img" "$T/saved.img"
dd if=/dev/urandom of="$img" bs=4096 seek=$((sb0 / 4096)) count=1 conv=notrunc status=none
dump_json "$T/d4.json"
jq_is "$T/d4.json" .superblock.slot 1
jq_is "$T/d4.json" .superblock.seq 2
expect_rc 0 "$REPCTL" dump-md --config "$cfg" --node alpha
grep -q "^superblock *slot 1, seq 2" "$out" || fail "human dump-md does not show slot 1, seq 2"
log "slot 0 garbage: dump-md falls back to slot 1 (seq 2): PASS"

cp "$T/saved.img" "$img"
dd if=/dev/urandom of="$img" bs=4096 seek=$((sb1 / 4096)) count=1 conv=notrunc status=none
dump_json "$T/d5.json"
jq_is "$T/d5.json" .superblock.slot 0
jq_is "$T/d5.json" .superblock.seq 3
log "slot 1 garbage: dump-md reads slot 0 (seq 3): PASS"

dd if=/dev/urandom of="$img" bs=4096 seek=$((sb0 / 4096)) count=1 conv=notrunc status=none
expect_rc 1 "$REPCTL" dump-md --config "$cfg" --node alpha --json
err_has "both metadata superblocks are damaged"
[[ ! -s $out ]] || fail "dump-md printed output for damaged metadata"
expect_rc 1 "$REPCTL" create-md --config "$cfg" --node alpha
err_has "--force"
start_repd "$cfg"
wait_gone "$REPD_PID" 10 || fail "repd still running on damaged metadata"
stop_pid "$REPD_PID" 1
((STOP_STATUS != 0)) || fail "repd exited 0 on damaged metadata"
grep -q "damaged" "$REPD_LOG" || fail "repd does not say the metadata is damaged"
log "both slots garbage: dump-md, create-md and repd refuse: PASS"

cp "$T/saved.img" "$img"
"$PYTHON" "$MD_DIR/mdtool.py" bump-version "$img" "$sb0" 2 || harness_error "bump-version"
expect_rc 1 "$REPCTL" dump-md --config "$cfg" --node alpha
err_has "newer format"
expect_rc 1 "$REPCTL" create-md --config "$cfg" --node alpha
err_has "newer format"
log "a newer format version in one slot: refused: PASS"
