#!/usr/bin/env bash
# Quick start on a fresh Debian 12 machine (as root): install the packages,
# build, and run a replicated pair on loopback with image files as disks:
# node alpha (primary, NBD on 127.0.0.1:10809) mirrors every write to node
# beta (secondary). Ctrl-C stops both cleanly.
set -euo pipefail
top=$(cd "$(dirname "$0")/.." && pwd)
cd "$top"
tools/install-deps.sh
[ -d build ] || meson setup build >/dev/null
ninja -C build
REPD=$top/build/replicator/repd REPCTL=$top/build/tools/repctl
demo=${REPD_DEMO_DIR:-/var/tmp/repd-demo}
mkdir -p "$demo"
for n in alpha beta; do
  [ -f "$demo/$n.img" ] || truncate -s 1G "$demo/$n.img"
done
cat >"$demo/r0.conf" <<CONF
[resource]
name = r0
description = repd demo resource
secret = demo-secret-change-me
protocol = C

[node alpha]
disk = $demo/alpha.img
nbd = 127.0.0.1:10809
control = $demo/alpha.ctl
address = 127.0.0.1:7789
initial-role = primary

[node beta]
disk = $demo/beta.img
nbd = 127.0.0.1:10810
control = $demo/beta.ctl
address = 127.0.0.1:7790
CONF
for n in alpha beta; do   # metadata once; kept across runs
  "$REPCTL" dump-md --config "$demo/r0.conf" --node "$n" >/dev/null 2>&1 ||
    "$REPCTL" create-md --config "$demo/r0.conf" --node "$n"
done
pids=()
stop() { kill "${pids[@]}" 2>/dev/null || true; wait "${pids[@]}" 2>/dev/null || true; }
trap stop EXIT INT TERM
"$REPD" --config "$demo/r0.conf" --node beta --foreground 2>"$demo/beta.log" &
pids+=($!)
"$REPD" --config "$demo/r0.conf" --node alpha --foreground 2>"$demo/alpha.log" &
pids+=($!)
for _ in $(seq 100); do
  grep -q "connected to" "$demo/alpha.log" && break
  sleep 0.1
done
"$REPCTL" status --config "$demo/r0.conf" --node alpha || true
cat <<MSG

Replicated pair running (logs in $demo/alpha.log and beta.log).
The export is nbd://127.0.0.1:10809/r0 -- in another shell try:
  nbdinfo nbd://127.0.0.1:10809/r0
  nbdcopy --flush /path/to/image.raw nbd://127.0.0.1:10809/r0
  $REPCTL status --config $demo/r0.conf --node alpha
  $REPCTL status --config $demo/r0.conf --node beta
Ctrl-C stops both nodes (requests in flight are answered and flushed).
MSG
wait "${pids[@]}"
