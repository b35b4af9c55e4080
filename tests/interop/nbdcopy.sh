#!/usr/bin/env bash
# nbdcopy.sh: 256 MiB of random data copied into the export (nbdcopy
# --flush, several connections) and back out must be bit-identical; so must
# qemu-img compare and, after repd stops, the backing file itself.
. "$(dirname "$0")/lib.sh"
require_cmd nbdcopy qemu-img sha256sum cmp

src=$T/src.img
img=$T/disk.img
out=$T/out.img
head -c 256M /dev/urandom >"$src"
[[ $(stat -c %s "$src") -eq 268435456 ]] || fail "could not make a 256 MiB source"
sparse_image "$img" 256M

serve "$img" tcp

timeout 120 nbdcopy --flush -C 4 "$src" "$URI" || fail "nbdcopy --flush $src $URI: status $?"
timeout 120 nbdcopy "$URI" "$out" || fail "nbdcopy $URI $out: status $?"
want=$(sha256sum <"$src")
got=$(sha256sum <"$out")
[[ $got == "$want" ]] || fail "copy-out sha256 ${got%% *}, want ${want%% *} (first difference: $(cmp "$src" "$out" 2>&1 | head -n1))"
log "copy in and out: PASS"

# The copy is sequential (several streams at once): repd's activity log
# makes extents hot ahead of it (docs/metadata.md).
if [[ $INTEROP_SERVER == repd ]]; then
	ahead=$(timeout 10 "$REPCTL" status --config "$CFG" --node alpha --json |
		"$PYTHON" -c 'import json, sys; print(json.load(sys.stdin)["metadata"]["activity_log_ahead"])') ||
		fail "repctl status --json failed"
	((ahead >= 1)) || fail "metadata.activity_log_ahead is '$ahead' after a sequential copy, want >= 1"
	log "activity-log transactions ahead of the copy: $ahead"
fi

timeout 120 qemu-img compare -f raw -F raw "$src" "$URI" ||
	fail "qemu-img compare $src $URI: status $?"
log "qemu-img compare: PASS"

# Second copy through a single connection with small requests, over the
# first one, so a mix-up between connections and request sizes shows.
head -c 8M /dev/urandom >"$T/patch"
timeout 60 nbdcopy --flush -C 1 --request-size=65536 "$T/patch" "$URI" ||
	fail "nbdcopy -C 1 --request-size=65536: status $?"
dd if="$T/patch" of="$src" conv=notrunc status=none
timeout 120 qemu-img compare -f raw -F raw "$src" "$URI" ||
	fail "after the 8 MiB overwrite: qemu-img compare $src $URI: status $?"
log "overwrite with small requests: PASS"

stop_repd
cmp "$src" "$img" || fail "backing file differs from the source after repd stopped"
log "backing file: PASS"
