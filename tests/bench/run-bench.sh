#!/usr/bin/env bash
# Side-by-side benchmark of repd against the peer NBD servers, in one run,
# on the same backing file (see README.md here). Not a test: run by hand.
#
#   tests/bench/run-bench.sh [BUILD_DIR] [--runtime S] [--size SIZE]
#                            [--suite nbd|repl|all] [--rounds N]
#                            [--jobs JOB,...] [--configs CONFIG,...]
#                            [--client-cpu N] [--no-settle]
#
# nbd:  repd O_DIRECT vs qemu-nbd --cache=none --aio=io_uring; repd
#       buffered vs nbdkit file and qemu-nbd (writeback); nbd-server.
# repl: repd protocol C pair vs the same repd standalone vs QEMU's active
#       mirror (qemu-storage-daemon, write-blocking, to an nbdkit peer).
# The nbd suite's configurations run in a rotated order each round.
# --jobs passes nbd-fio a subset of its jobs; --configs runs only the
# named configs of the nbd suite (repd-direct, repd-buffered,
# repd-buffered-auto, qemu-nbd-iouring, nbdkit, qemu-nbd, nbd-server), for
# more rounds of the few that matter on a noisy machine.
# repd-direct and repd-buffered run repd's defaults (busy-poll = auto:
# none on O_DIRECT, 50 us on the page cache, docs/design.md);
# repd-buffered-auto adds cpu = auto (one CPU while the load is narrow).
# repd-buffered-nopoll (opt-in) is repd-buffered with busy-poll = 0.
# Configs ending in -cpu (repd-direct-cpu, repd-buffered-cpu,
# nbdkit-cpu, nbd-server-cpu, qemu-nbd-iouring-cpu) run on one CPU, repd by
# its `cpu` key, the peers under taskset; only when --configs names them.
# nbdkit-null (opt-in too) is a reference, not a peer: a server that keeps
# nothing, the client's and loopback's ceiling on this machine;
# nbdkit-null-cpu the same on the -cpu configs' CPU.
# --client-cpu N runs fio on CPU N only; with the -cpu configs (servers on
# the last CPU) client and server then each have a CPU of their own, so
# the figures compare the servers rather than their share of CPUs they
# split with the client.
# Each job runs in an nbd-fio of its own after a `sync`, so that no job
# runs during the writeback of the dirty pages the one before left (each
# job's figures then depend less on the jobs before it); --no-settle runs
# all the jobs in one nbd-fio, back to back, as before 2026-11-28.
# Prints the nbd-fio tables and a ratio summary. Needs root (page-cache
# eviction), fio, nbdkit, qemu-utils, qemu-system-common, nbd-server, jq.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
top=$(cd "$here/../.." && pwd)
shared=${SHARED:-$top/../shared}
build=$top/build
runtime=10 size=4G suite=all rounds=1 jobs="" configs="" client_cpu="" settle=1
if [ $# -gt 0 ] && [ "${1#--}" = "$1" ]; then build=$1; shift; fi
while [ $# -gt 0 ]; do
  case "$1" in
    --runtime) runtime=$2; shift 2 ;;
    --size) size=$2; shift 2 ;;
    --suite) suite=$2; shift 2 ;;
    --rounds) rounds=$2; shift 2 ;;
    --jobs) jobs=$2; shift 2 ;;
    --configs) configs=$2; shift 2 ;;
    --client-cpu) client_cpu=$2; shift 2 ;;
    --no-settle) settle=0; shift ;;
    *) echo "run-bench: unknown option $1" >&2; exit 2 ;;
  esac
done
REPD=$build/replicator/repd REPCTL=$build/tools/repctl
for t in "$REPD" "$REPCTL" "$shared/bench/nbd-fio" "$shared/bench/serve-baseline"; do
  [ -x "$t" ] || { echo "run-bench: missing $t" >&2; exit 2; }
done
# the jobs, in nbd-fio's order unless --jobs names them
if [ -n "$jobs" ]; then
  IFS=, read -r -a job_list <<<"$jobs"
else
  read -r -a job_list <<<"$(sed -n '/^ALL_JOBS=(/,/)/p' "$shared/bench/nbd-fio" |
                            tr -d '()' | sed 's/ALL_JOBS=//' | tr '\n' ' ')"
fi
[ "${#job_list[@]}" -gt 0 ] || { echo "run-bench: no jobs" >&2; exit 2; }
dir=${BENCH_DIR:-/var/tmp/repd-bench}
mkdir -p "$dir"
if [ -n "$client_cpu" ]; then
  # nbd-fio runs $FIO: a wrapper that confines fio to that CPU
  taskset -c "$client_cpu" true 2>/dev/null ||
    { echo "run-bench: --client-cpu $client_cpu: no such CPU here" >&2; exit 2; }
  real_fio=$(command -v "${FIO:-fio}") ||
    { echo "run-bench: fio not found" >&2; exit 2; }
  printf '#!/bin/sh\nexec taskset -c %s %s "$@"\n' "$client_cpu" "$real_fio" \
    >"$dir/fio-on-cpu"
  chmod +x "$dir/fio-on-cpu"
  export FIO=$dir/fio-on-cpu
fi
out=$dir/results-$(date +%Y%m%d-%H%M%S).jsonl
pids=()
cleanup() { for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done; }
trap cleanup EXIT

# A fully written image: holes would make reads free and writes allocate.
fill() {  # fill FILE
  [ -f "$1" ] && [ "$(stat -c %s "$1")" = "$(numfmt --from=iec "$size")" ] && return
  rm -f "$1"; fallocate -l "$size" "$1"
  fio --name=fill --filename="$1" --rw=write --bs=1M --iodepth=8 --direct=1 \
      --ioengine=io_uring --size="$size" --refill_buffers --output=/dev/null
}
evict() {  # push the files out of the page cache so every config starts cold
  # Write back every dirty page first, not only these files': a buffered
  # config leaves GBs of dirty random pages behind, and their writeback,
  # at the disk's random-write speed, would run for tens of seconds into
  # the next config's jobs.
  sync
  for f in "$@"; do
    /usr/bin/python3 -c 'import os,sys
fd=os.open(sys.argv[1],os.O_RDONLY); os.fsync(fd)
os.posix_fadvise(fd,0,0,os.POSIX_FADV_DONTNEED)' "$f"
  done
}
free_port() {
  local p
  for p in $(seq "$1" $(($1 + 200))); do
    ss -Hltn "sport = :$p" | grep -q . || { echo "$p"; return; }
  done
  return 1
}
wait_nbd() {  # wait_nbd URI PID
  local i
  for i in $(seq 100); do
    nbdinfo --size "$1" >/dev/null 2>&1 && return 0
    kill -0 "$2" 2>/dev/null || { echo "run-bench: server $2 died" >&2; return 1; }
    sleep 0.1
  done
  return 1
}
wait_log() {  # wait_log FILE PATTERN [TENTHS]
  local i
  for i in $(seq "${3:-100}"); do grep -q "$2" "$1" && return 0; sleep 0.1; done
  echo "run-bench: no '$2' in $1" >&2; return 1
}
run_fio() {  # run_fio LABEL URI PIDS...
  local label=$1 uri=$2 j; shift 2
  echo "== $label"
  if [ "$settle" = 0 ]; then
    "$shared/bench/nbd-fio" "$uri" --runtime "$runtime" --json --pids "$*" \
      ${jobs:+--jobs "$jobs"} \
      2> >(cat >&2) | jq -c --arg c "$label" '.[] | . + {config: $c}' >>"$out"
    return
  fi
  # one job at a time, each after a sync: a job's dirty pages are written
  # back before the next job starts, not during it
  for j in "${job_list[@]}"; do
    sync
    "$shared/bench/nbd-fio" "$uri" --runtime "$runtime" --json --pids "$*" \
      --jobs "$j" \
      2> >(cat >&2) | jq -c --arg c "$label" '.[] | . + {config: $c}' >>"$out"
  done
}
repd_conf() {  # repd_conf FILE DIRECT(yes|no) PROTO IMG_A PORT_A [IMG_B PORT_B]
  local f=$1 direct=$2 proto=$3  # $busy_poll: microseconds, default auto
  cat >"$f" <<CONF
[resource]
name = bench
direct-io = $direct
busy-poll = ${busy_poll:-auto}
cpu = ${cpu:-any}
protocol = $proto
secret = bench-secret
[node a]
disk = $4
nbd = 127.0.0.1:$5
control = $dir/a.ctl
CONF
  [ $# -gt 5 ] || return 0
  cat >>"$f" <<CONF
address = 127.0.0.1:$(free_port 12600)
initial-role = primary
[node b]
disk = $6
nbd = 127.0.0.1:$7
control = $dir/b.ctl
address = 127.0.0.1:$(free_port 12700)
CONF
}
start_repd() {  # start_repd CONF NODE -> pid in $started
  "$REPD" --config "$1" --node "$2" --foreground >"$dir/repd-$2.log" 2>&1 &
  started=$!; pids+=("$started")
}
nbd_configs=(repd-direct repd-buffered repd-buffered-auto
             qemu-nbd-iouring nbdkit qemu-nbd nbd-server)
# Opt-in configs pinned to one CPU, the last one: repd with `cpu =`, the
# peers under taskset (the same for their threads), so that pinning is
# compared like for like. Not run unless --configs names them.
pinned_configs=(repd-direct-cpu repd-buffered-cpu nbdkit-cpu nbd-server-cpu
                qemu-nbd-iouring-cpu)
# Opt-in: repd buffered without busy polling (its default before).
extra_configs=(repd-buffered-nopoll)
# Opt-in reference, not a peer: nbdkit's null plugin keeps nothing, so its
# figures are the most that the fio client and loopback TCP carry on this
# machine with the server doing no I/O at all (the ceiling for any ratio).
ref_configs=(nbdkit-null nbdkit-null-cpu)
pin_cpu=$(awk '/^Cpus_allowed_list:/ { n = split($2, a, /[-,]/); print a[n] }' /proc/self/status)
[ "$client_cpu" != "$pin_cpu" ] ||
  echo "run-bench: note: --client-cpu $client_cpu is also the -cpu configs' CPU" >&2
wanted() { [ -z "$configs" ] || [[ ",$configs," == *",$1,"* ]]; }
stop() { kill "$@" 2>/dev/null || true; for p in "$@"; do wait "$p" 2>/dev/null || true; done; }
md() { "$REPCTL" create-md --config "$1" --node "$2" --force >/dev/null; }

img=$dir/a.img peer=$dir/b.img base=$dir/base.img
fill "$img"; fill "$base"
# Warm-up: on this VM the first GBs of page cache allocated after memory
# was freed (a drop_caches, an idle while) come slowly (a 1 MiB
# sequential writer did 408-430 MB/s there and 3800-5300 right after,
# whichever server ran first). Reading the image once through the page
# cache pays for that before any configuration is timed.
cat "$img" >/dev/null
for round in $(seq "$rounds"); do
  echo "### round $round of $rounds (results: $out)"
  if [ "$suite" = nbd ] || [ "$suite" = all ]; then
    p=$(free_port 12500)
    # rotated each round: no configuration always runs first (the disk's
    # speed drifts within a run, by 2x at times on this VM)
    list=()
    for c in "${nbd_configs[@]}"; do wanted "$c" && list+=("$c"); done
    for c in "${pinned_configs[@]}" "${extra_configs[@]}" "${ref_configs[@]}"; do
      [ -n "$configs" ] && wanted "$c" && list+=("$c")
    done
    for i in "${!list[@]}"; do
      c=${list[$(((i + round - 1) % ${#list[@]}))]}
      case "$c" in
        repd-direct|repd-buffered|repd-buffered-auto|repd-buffered-nopoll|repd-direct-cpu|repd-buffered-cpu)
          mode=yes; [ "${c#repd-direct}" = "$c" ] && mode=no
          busy_poll=auto; [ "$c" = repd-buffered-nopoll ] && busy_poll=0
          cpu=any; [ "${c%-cpu}" = "$c" ] || cpu=$pin_cpu
          [ "$c" = repd-buffered-auto ] && cpu=auto
          repd_conf "$dir/solo.conf" "$mode" C "$img" "$p"; md "$dir/solo.conf" a
          busy_poll=auto cpu=any
          evict "$img"; start_repd "$dir/solo.conf" a; pid=$started
          wait_nbd "nbd://127.0.0.1:$p/" "$pid"
          run_fio "$c" "nbd://127.0.0.1:$p/" "$pid"
          stop "$pid" ;;
        nbdkit-null|nbdkit-null-cpu)
          pin=(); [ "${c%-cpu}" = "$c" ] || pin=(taskset -c "$pin_cpu")
          "${pin[@]}" nbdkit -f -i 127.0.0.1 -p "$p" null size="$size" >"$dir/null.log" 2>&1 &
          pid=$!; pids+=("$pid")
          wait_nbd "nbd://127.0.0.1:$p/" "$pid"
          run_fio "$c" "nbd://127.0.0.1:$p/" "$pid"
          stop "$pid" ;;
        *)
          # the same file as repd's (the metadata at its end is
          # rewritten before each repd config): like for like
          evict "$img"
          pin=(); [ "${c%-cpu}" = "$c" ] || pin=(taskset -c "$pin_cpu")
          read -r spid suri < <(STATE_DIR=$dir/run "${pin[@]}" "$shared/bench/serve-baseline" "${c%-cpu}" "$img" "$p")
          pids+=("$spid")
          run_fio "$c" "$suri" "$spid"
          stop "$spid" ;;
      esac
    done
  fi
  if [ "$suite" = repl ] || [ "$suite" = all ]; then
    p=$(free_port 12500) q=$(free_port 12550)
    for proto in C; do
      repd_conf "$dir/pair.conf" yes "$proto" "$img" "$p" "$peer" "$q"
      truncate -s "$size" "$peer"
      md "$dir/pair.conf" a; md "$dir/pair.conf" b
      evict "$img" "$peer"
      start_repd "$dir/pair.conf" b; b=$started
      start_repd "$dir/pair.conf" a; a=$started
      wait_log "$dir/repd-a.log" "connected to"
      # measure the steady state, not the pair's initial full sync
      wait_log "$dir/repd-a.log" "resync finished" 6000
      run_fio "repd-pair-$proto" "nbd://127.0.0.1:$p/" "$a" "$b"
      stop "$a" "$b"
    done
    repd_conf "$dir/solo.conf" yes C "$img" "$p"; md "$dir/solo.conf" a
    evict "$img"; start_repd "$dir/solo.conf" a; a=$started
    wait_nbd "nbd://127.0.0.1:$p/" "$a"
    run_fio "repd-standalone" "nbd://127.0.0.1:$p/" "$a"
    stop "$a"
    rm -f "${base%.img}-peer.img"
    evict "$base"
    read -r spid suri ppid < <(PEER=nbdkit STATE_DIR=$dir/run "$shared/bench/serve-baseline" qsd-mirror "$base" "$p" "${base%.img}-peer.img" "$q")
    pids+=("$spid" "$ppid")
    run_fio "qsd-mirror-nbdkit" "$suri" "$spid" "$ppid"
    stop "$spid" "$ppid"
  fi
done
"$here/summarize.sh" "$out"
