#!/usr/bin/env bash
# lz4-link.sh [BUILD_DIR] [RUNTIME]: 1 MiB sequential writes (QD8) through
# a protocol C pair whose replication link is limited to 100 Mbit/s with
# tbf, compressible data, with compression = none and then lz4. Prints the
# MB/s of each run and the speed-up. A benchmark, run by hand as root: it
# makes two network namespaces joined by a veth pair (addresses only inside
# them) and removes them at exit.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
build=${1:-$here/../../build}
runtime=${2:-15}
REPD=$build/replicator/repd REPCTL=$build/tools/repctl
[ -x "$REPD" ] && [ -x "$REPCTL" ] || { echo "lz4-link: build first" >&2; exit 2; }
tag=rl$$ dir=$(mktemp -d /var/tmp/repd-lz4.XXXXXX)
na=$tag-a nb=$tag-b pids=()
cleanup() {
  for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done
  for p in "${pids[@]}"; do wait "$p" 2>/dev/null || true; done
  ip netns del "$na" 2>/dev/null || true
  ip netns del "$nb" 2>/dev/null || true
  rm -rf "$dir"
}
trap cleanup EXIT
ip netns add "$na"; ip netns add "$nb"
ip link add "$tag"a type veth peer name "$tag"b
ip link set "$tag"a netns "$na"; ip link set "$tag"b netns "$nb"
ip -n "$na" addr add 10.213.7.1/24 dev "$tag"a
ip -n "$nb" addr add 10.213.7.2/24 dev "$tag"b
for n in "$na" "$nb"; do ip -n "$n" link set lo up; done
ip -n "$na" link set "$tag"a up; ip -n "$nb" link set "$tag"b up
# 100 Mbit/s from the primary to the secondary (the data direction)
ip netns exec "$na" tc qdisc add dev "$tag"a root tbf rate 100mbit burst 64kb latency 200ms

run() {  # run COMPRESSION -> prints MB/s
  local comp=$1 conf=$dir/r-$1.conf i a b
  truncate -s 0 "$dir/a.img" "$dir/b.img"
  truncate -s 2G "$dir/a.img" "$dir/b.img"
  cat >"$conf" <<CONF
[resource]
name = lz4bench
secret = bench
protocol = C
compression = $comp
[node a]
disk = $dir/a.img
nbd = 127.0.0.1:12901
control = $dir/a.ctl
address = 10.213.7.1:12902
initial-role = primary
[node b]
disk = $dir/b.img
nbd = 127.0.0.1:12903
control = $dir/b.ctl
address = 10.213.7.2:12904
CONF
  "$REPCTL" create-md --config "$conf" --node a --force >/dev/null
  "$REPCTL" create-md --config "$conf" --node b --force >/dev/null
  ip netns exec "$nb" "$REPD" --config "$conf" --node b --foreground >"$dir/b-$comp.log" 2>&1 &
  b=$!; pids+=("$b")
  ip netns exec "$na" "$REPD" --config "$conf" --node a --foreground >"$dir/a-$comp.log" 2>&1 &
  a=$!; pids+=("$a")
  for i in $(seq 600); do grep -q "resync finished" "$dir/a-$comp.log" && break; sleep 0.1; done
  grep -q "resync finished" "$dir/a-$comp.log" || { echo "no initial sync" >&2; cat "$dir/a-$comp.log" >&2; exit 1; }
  ip netns exec "$na" fio --name=lz4 --ioengine=nbd --uri=nbd://127.0.0.1:12901/ \
    --rw=write --bs=1M --iodepth=8 --size=1G --time_based --runtime="$runtime" \
    --buffer_compress_percentage=70 --buffer_compress_chunk=4k --refill_buffers \
    --output-format=json 2>/dev/null | sed -n '/^{/,$p' |
    jq '.jobs[0].write.bw_bytes / 1e6 * 10 | round / 10'
  kill "$a"; wait "$a" || true; kill "$b"; wait "$b" || true
}
none=$(run none)
lz4=$(run lz4)
echo "100 Mbit/s link, 1 MiB sequential writes, 70% compressible data"
echo "compression=none: $none MB/s"
echo "compression=lz4:  $lz4 MB/s"
awk -v a="$none" -v b="$lz4" 'BEGIN { printf "speed-up: %.2fx\n", b / a }'
