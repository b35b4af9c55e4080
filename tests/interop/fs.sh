#!/usr/bin/env bash
# fs.sh: ext4 on the export, through nbdfuse and a loop device: mkfs,
# write files, unmount, fsck clean, remount and re-check the hashes, fstrim;
# after repd stops the backing file itself must be a clean ext4 holding the
# same files.  Needs root, /dev/fuse and loop devices, else skips.
. "$(dirname "$0")/lib.sh"
require_root
require_cmd nbdfuse fusermount3 losetup mkfs.ext4 fsck.ext4 mount umount mountpoint sha256sum
[[ -c /dev/fuse ]] || skip "no /dev/fuse"

mnt=$T/mnt
fuse=$T/fuse
mkdir "$mnt" "$fuse"

# detach_loops FILE: detach every loop device backed by FILE (and only
# those: loop numbers are shared with the rest of the machine).
detach_loops() {
	local dev
	for dev in $(losetup -n -O NAME -j "$1" 2>/dev/null); do
		losetup -d "$dev" || :
	done
}
unmount() { ! mountpoint -q "$1" || timeout 60 umount "$1"; }

# Can this machine loop-mount at all?  If not, it is not repd's fault.
pre=$T/pre.img
sparse_image "$pre" 8M
mkfs.ext4 -q -F "$pre" >/dev/null 2>&1 || skip "mkfs.ext4 on a plain file failed"
defer "umount $mnt; detach_loops $pre"
if ! mount -o loop "$pre" "$mnt" 2>"$T/pre.err"; then
	skip "cannot loop-mount here: $(cat "$T/pre.err")"
fi
umount "$mnt"
detach_loops "$pre"

META=internal
img=$T/disk.img
sparse_image "$img" 256M
serve "$img" tcp
size=$(timeout 20 nbdinfo --size "$URI") || fail "nbdinfo --size $URI: status $?"

# attach: nbdfuse exposes the export as $fuse/nbd, a loop device on it
# becomes $loop.  Cleanup order on failure (defers run newest first):
# umount, detach the loop device, unmount FUSE; then nbdfuse and repd are
# stopped by PID.
attach() {
	local i
	defer "fusermount3 -u $fuse"
	nbdfuse "$fuse/nbd" "$URI" </dev/null >>"$T/nbdfuse.log" 2>&1 &
	nbdfuse_pid=$!
	track_pid "$nbdfuse_pid"
	for ((i = 0; i < 100; i++)); do
		proc_alive "$nbdfuse_pid" || fail "nbdfuse exited early"
		[[ -f $fuse/nbd && $(stat -c %s "$fuse/nbd" 2>/dev/null) -eq $size ]] && break
		sleep 0.1
	done
	((i < 100)) || fail "nbdfuse did not expose $fuse/nbd ($size bytes) within 10 s"
	defer "detach_loops $fuse/nbd"
	loop=$(losetup -f --show "$fuse/nbd") || fail "losetup -f --show $fuse/nbd: status $?"
	log "export at $fuse/nbd, loop device $loop"
}

# detach: undo attach, so nothing of the first session stays cached.
detach() {
	unmount "$mnt" || fail "umount $mnt: status $?"
	detach_loops "$fuse/nbd"
	timeout 30 fusermount3 -u "$fuse" || fail "fusermount3 -u $fuse: status $?"
	wait_gone "$nbdfuse_pid" 10 || fail "nbdfuse still running 10 s after fusermount3 -u"
	stop_pid "$nbdfuse_pid" 1
}
__logs+=("$T/nbdfuse.log")

# First session: mkfs, write files, unmount, fsck.
attach
timeout 120 mkfs.ext4 -q -F "$loop" || fail "mkfs.ext4 $loop: status $?"
defer "unmount $mnt"
timeout 60 mount "$loop" "$mnt" || fail "mount $loop: status $?"

# Files of assorted sizes, some not multiples of any block size.
mkdir -p "$mnt/a/b/c"
sizes=(1 511 4096 4097 65536 100000 1048576 3000000 8388608 16777216)
for ((i = 0; i < ${#sizes[@]}; i++)); do
	head -c "${sizes[i]}" /dev/urandom >"$mnt/a/f$i"
	head -c "${sizes[i]}" /dev/urandom >"$mnt/a/b/c/g$i"
done
(cd "$mnt" && find . -type f -print0 | sort -z | xargs -0 sha256sum) >"$T/sums"
nfiles=$(wc -l <"$T/sums")
sync -f "$mnt"
unmount "$mnt" || fail "umount $mnt: status $?"
timeout 120 fsck.ext4 -n -f "$loop" >"$T/fsck1.log" 2>&1 ||
	fail "fsck.ext4 -n -f $loop: status $? ($(tail -n 5 "$T/fsck1.log"))"
log "fsck after first unmount: PASS"
detach

# Second session, a fresh nbdfuse and loop device, so every read goes to
# repd: fsck, mount, hashes, delete and fstrim (TRIM), hashes again.
attach
timeout 120 fsck.ext4 -n -f "$loop" >"$T/fsck2.log" 2>&1 ||
	fail "fsck.ext4 -n -f $loop (second session): status $? ($(tail -n 5 "$T/fsck2.log"))"
timeout 60 mount "$loop" "$mnt" || fail "mount $loop (second session): status $?"
(cd "$mnt" && sha256sum --quiet -c "$T/sums") || fail "file hashes differ after remount"
log "fsck and $nfiles file hashes in a second session: PASS"

rm -f "$mnt"/a/f*
grep -v '\./a/f' "$T/sums" >"$T/sums2"
if command -v fstrim >/dev/null 2>&1; then
	if out=$(fstrim -v "$mnt" 2>&1); then
		log "fstrim: $out"
	elif grep -qi 'not supported' <<<"$out"; then
		log "note: fstrim not supported on this loop device: $out"
	else
		fail "fstrim $mnt: $out"
	fi
fi
sync -f "$mnt"
(cd "$mnt" && sha256sum --quiet -c "$T/sums2") || fail "file hashes differ after rm + fstrim"
detach
stop_repd

# The backing file on its own.
timeout 120 fsck.ext4 -n -f "$img" >"$T/fsck3.log" 2>&1 ||
	fail "fsck.ext4 -n -f on the backing file: status $? ($(tail -n 5 "$T/fsck3.log"))"
defer "unmount $mnt; detach_loops $img"
timeout 60 mount -o ro,loop "$img" "$mnt" || fail "mount -o ro,loop backing file: status $?"
(cd "$mnt" && sha256sum --quiet -c "$T/sums2") || fail "file hashes differ in the backing file"
unmount "$mnt"
detach_loops "$img"
log "backing file: fsck clean, hashes match: PASS"
