#!/usr/bin/env bash
# Quick start on a fresh Debian 12 machine (as root): install the packages,
# build repd, create a 1 GiB image in /var/tmp/repd-demo and serve it over
# NBD on 127.0.0.1:10809 in the foreground (Ctrl-C stops it cleanly).
set -euo pipefail
top=$(cd "$(dirname "$0")/.." && pwd)
cd "$top"
tools/install-deps.sh
[ -d build ] || meson setup build >/dev/null
ninja -C build
demo=${REPD_DEMO_DIR:-/var/tmp/repd-demo}
mkdir -p "$demo"
[ -f "$demo/disk.img" ] || truncate -s 1G "$demo/disk.img"
cat >"$demo/r0.conf" <<CONF
[resource]
name = r0
description = repd demo resource

[node $(hostname -s)]
disk = $demo/disk.img
nbd = 127.0.0.1:10809
control = $demo/r0.ctl
CONF
cat <<MSG
Serving $demo/disk.img as nbd://127.0.0.1:10809/r0 -- try, in another shell:
  nbdinfo nbd://127.0.0.1:10809/r0
  nbdcopy --flush /path/to/image.raw nbd://127.0.0.1:10809/r0
Stop with Ctrl-C (in-flight requests are answered and flushed first).
MSG
exec build/replicator/repd --config "$demo/r0.conf" --node "$(hostname -s)" --foreground
