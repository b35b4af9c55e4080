#!/usr/bin/env bash
# Resync benchmark of a repd pair on loopback, files as disks (see
# README.md here). Not a test: run by hand, as root.
#
#   tests/bench/resync-bench.sh [BUILD_DIR] [--size SIZE] [--rounds N]
#                               [--runtime S] [--parts 1,2,3]
#
# 1  full resync of SIZE (default 4G) of incompressible data to a fresh
#    sparse peer, timed from alpha's start to in-sync (the moment beta
#    logs that it is UpToDate), against nbdcopy
#    between two NBD servers (qemu-nbd O_DIRECT, nbdkit file) and dd
#    O_DIRECT copying the same file to the same kind of file. Page cache
#    dropped before every copy; the order rotated each round. Without
#    part 1, repd's full resync runs once (parts 2 and 3 need its figure).
# 2  bitmap resync after 1% of the device changed (4 KiB writes at
#    distinct random offsets while disconnected), timed from
#    `repctl connect` to in-sync, as a fraction of the full resync; and
#    the disk's floor for it: fio reading as many random 4 KiB blocks of
#    alpha's file while writing as many to another, at QD8 and QD32.
# 3  p99 latency of 4k random writes at QD1 for S seconds (default 10,
#    fio nbd engine) against the primary: idle, during a full resync
#    (`repctl invalidate` on the secondary), and, as the floor set by
#    the disk, during a dd copy of the same size on the same file system.
#    The busy p99s count only the writes completed while the load ran.
# 4  checksum resync (resync-checksum = yes) after 1% of beta's 4 KiB
#    blocks were changed behind repd's back: `repctl invalidate` on beta,
#    then the bytes on the replication link (both directions, from the
#    link.* counters) against the bytes a full resync sends.
# Every part runs N rounds (default 3); the summary gives medians.
# Prints a summary table, also saved to $BENCH_DIR/resync-*.txt. Needs
# fio, nbdkit, qemu-utils, libnbd-bin, python3-libnbd, openssl, jq.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
top=$(cd "$here/../.." && pwd)
shared=${SHARED:-$top/../shared}
build=$top/build
size=4G rounds=3 runtime=10 parts=1,2,3,4
if [ $# -gt 0 ] && [ "${1#--}" = "$1" ]; then build=$1; shift; fi
while [ $# -gt 0 ]; do
  case "$1" in
    --size) size=$2; shift 2 ;;
    --rounds) rounds=$2; shift 2 ;;
    --runtime) runtime=$2; shift 2 ;;
    --parts) parts=$2; shift 2 ;;
    *) echo "resync-bench: unknown option $1" >&2; exit 2 ;;
  esac
done
REPD=$build/replicator/repd REPCTL=$build/tools/repctl
for t in "$REPD" "$REPCTL" "$shared/bench/serve-baseline"; do
  [ -x "$t" ] || { echo "resync-bench: missing $t" >&2; exit 2; }
done
for t in fio nbdcopy nbdinfo qemu-nbd nbdkit openssl jq dd ss; do
  command -v "$t" >/dev/null || { echo "resync-bench: missing $t" >&2; exit 2; }
done
/usr/bin/python3 -I -c 'import nbd' 2>/dev/null ||
  { echo "resync-bench: missing python3-libnbd" >&2; exit 2; }
[ -w /proc/sys/vm/drop_caches ] || { echo "resync-bench: must run as root" >&2; exit 2; }
has() { [[ ",$parts," == *",$1,"* ]]; }
bytes=$(numfmt --from=iec "$size")
dir=${BENCH_DIR:-/var/tmp/repd-resync}
mkdir -p "$dir" "$dir/run"
need=$((3 * bytes + (1 << 30)))   # alpha + beta + baseline copy + slack
avail=$(($(df --output=avail -B1 "$dir" | tail -1)))
[ "$avail" -ge "$need" ] || { echo "resync-bench: $dir needs $need bytes free, has $avail" >&2; exit 2; }

pids=()
cleanup() {
  local p
  for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done
  for p in "${pids[@]}"; do wait "$p" 2>/dev/null || true; done
}
trap cleanup EXIT
trap 'exit 130' INT TERM
die() { echo "resync-bench: $*" >&2; exit 1; }
now() { date +%s.%N; }
secs() { awk -v a="$1" -v b="$2" 'BEGIN{printf "%.3f", b - a}'; }
calc() { awk "BEGIN{printf \"$1\", $2}"; }
median() { printf '%s\n' "$@" | sort -g | awk '{v[NR]=$1} END{print v[int((NR + 1) / 2)]}'; }
cold() { sync; echo 3 >/proc/sys/vm/drop_caches; }   # every copy starts cold
free_port() {
  local p
  for p in $(seq "$1" $(($1 + 200))); do
    ss -Hltn "sport = :$p" | grep -q . || { echo "$p"; return; }
  done
  return 1
}
stop() {  # stop PID...: SIGTERM, then wait (repd flushes and marks clean)
  local p
  kill "$@" 2>/dev/null || true
  for p in "$@"; do wait "$p" 2>/dev/null || true; done
}

# Incompressible data, written once and reused (the runs keep it random).
alpha=$dir/alpha-$size.img beta=$dir/beta.img dst=$dir/baseline-dst.img
if [ "$(stat -c %s "$alpha" 2>/dev/null)" != "$bytes" ]; then
  echo "== filling $alpha with $size of AES-CTR keystream (once)"
  openssl enc -aes-256-ctr -pass pass:repd-resync-bench -nosalt -pbkdf2 \
      </dev/zero 2>/dev/null | head -c "$bytes" >"$alpha.tmp" || true  # SIGPIPE
  [ "$(stat -c %s "$alpha.tmp")" = "$bytes" ] || die "fill of $alpha failed"
  mv "$alpha.tmp" "$alpha"
fi
fresh() { rm -f "$1"; truncate -s "$bytes" "$1"; }   # a new sparse file

# ---- the pair -------------------------------------------------------------
conf=$dir/pair.conf
pa=$(free_port 12800) pb=$(free_port 12850)
ra=$(free_port 12900) rb=$(free_port 12950)
cat >"$conf" <<CONF
[resource]
name = rsb
secret = resync-bench-secret
protocol = C
compression = none
on-peer-loss = continue
[node alpha]
disk = $alpha
nbd = 127.0.0.1:$pa
control = $dir/alpha.ctl
address = 127.0.0.1:$ra
initial-role = primary
[node beta]
disk = $beta
nbd = 127.0.0.1:$pb
control = $dir/beta.ctl
address = 127.0.0.1:$rb
CONF
chmod 600 "$conf"
uri=nbd://127.0.0.1:$pa/rsb
a="" b=""
st() { "$REPCTL" status --json --config "$conf" --node "$1"; }
start_repd() {  # start_repd NODE -> pid in $started
  rm -f "$dir/$1.ctl"
  "$REPD" --config "$conf" --node "$1" --foreground >"$dir/repd-$1.log" 2>&1 &
  started=$!; pids+=("$started")
  local i
  for i in $(seq 100); do   # 10 s for the control socket
    [ -S "$dir/$1.ctl" ] && st "$1" >/dev/null 2>&1 && return 0
    kill -0 "$started" 2>/dev/null || die "repd $1 died: $(tail -5 "$dir/repd-$1.log")"
    sleep 0.1
  done
  die "repd $1: no control socket"
}
in_sync() {
  st alpha 2>/dev/null | jq -e '.connection == "Connected" and .disk == "UpToDate"
      and .peer.disk == "UpToDate" and .out_of_sync_bytes == 0' >/dev/null
}
wait_sync() {  # wait_sync TIMEOUT_S: until status says in sync
  local i
  for i in $(seq $(($1 * 10))); do
    in_sync && return 0
    [ "$(st alpha | jq -r .connection)" != StandAlone ] ||
      die "alpha went StandAlone: $(st alpha | jq -c .)"
    sleep 0.1
  done
  die "not in sync after $1 s: $(st alpha | jq -c .)"
}
# The end of a timed resync is the moment beta logs "finished: UpToDate".
# Its log's timestamp is read afterwards, so the wait costs one grep every
# 10 ms; polling repctl status and jq that often took a quarter of the
# CPU on a two-CPU machine, away from the resync being timed.
tod() { date +%H:%M:%S.%N; }   # now, as the logs write it (local time)
tod_secs() { awk -F: '{printf "%.3f", $1 * 3600 + $2 * 60 + $3}' <<<"$1"; }
since() {  # since TOD_START TOD_END: seconds, across midnight too
  awk -v a="$(tod_secs "$1")" -v b="$(tod_secs "$2")" \
      'BEGIN{d = b - a; if (d < 0) d += 86400; printf "%.3f", d}'
}
target_done() { grep -c "finished: UpToDate" "$dir/repd-beta.log" || true; }
wait_target_done() {  # wait_target_done N TIMEOUT_S: beta's Nth line -> $done_tod
  local i line
  for i in $(seq $(($2 * 100))); do
    [ "$(target_done)" -ge "$1" ] && break
    [ $((i % 100)) -ne 0 ] || [ "$(st alpha | jq -r .connection)" != StandAlone ] ||
      die "alpha went StandAlone: $(st alpha | jq -c .)"
    sleep 0.01
  done
  line=$(grep "finished: UpToDate" "$dir/repd-beta.log" | sed -n "$1p")
  [ -n "$line" ] || die "beta did not finish a resync in $2 s: $(st alpha | jq -c .)"
  done_tod=${line%% *}
  wait_sync 10   # and status agrees: both UpToDate, nothing out of sync
}
finished() { grep -c "resync finished" "$dir/repd-alpha.log" || true; }
wait_finished() {  # wait_finished N: the Nth "resync finished" line -> $fin_*
  local i line
  for i in $(seq 100); do [ "$(finished)" -ge "$1" ] && break; sleep 0.1; done
  line=$(grep "resync finished" "$dir/repd-alpha.log" | sed -n "$1p")
  [ -n "$line" ] || die "no resync finished line #$1 in alpha's log"
  read -r fin_bytes fin_s fin_mbs < <(sed -E \
    's/.*resync finished: ([0-9]+) bytes in ([0-9.]+) s \(([0-9.]+) MB\/s\).*/\1 \2 \3/' <<<"$line")
}
timeout_s=$((bytes / 10000000 + 120))   # a generous bound: 10 MB/s

declare -A R T   # results; T[config]="seconds of each round"
row() { printf '%-48s %16s  %s\n' "$@"; }
header() { echo; echo "### $*"; }

# ---- 1. full resync vs baselines -----------------------------------------
run_nbdcopy() {  # run_nbdcopy KIND: serve alpha's file and a fresh one, copy
  local kind=$1 p q spid suri dpid duri t0 t1
  p=$(free_port 12700) q=$(free_port 12750)
  fresh "$dst"; cold
  read -r spid suri < <(STATE_DIR=$dir/run "$shared/bench/serve-baseline" "$kind" "$alpha" "$p")
  pids+=("$spid")
  read -r dpid duri < <(STATE_DIR=$dir/run "$shared/bench/serve-baseline" "$kind" "$dst" "$q")
  pids+=("$dpid")
  t0=$(now)
  timeout "$timeout_s" nbdcopy --flush "$suri" "$duri" || die "nbdcopy $kind failed"
  t1=$(now)
  stop "$spid" "$dpid"
  T[nbdcopy-$kind]+=" $(secs "$t0" "$t1")"
  echo "  nbdcopy --flush $kind -> $kind: $(secs "$t0" "$t1") s"
}
run_dd() {
  local t0 t1
  fresh "$dst"; cold
  t0=$(now)
  timeout "$timeout_s" dd if="$alpha" of="$dst" bs=4M iflag=direct oflag=direct \
      conv=fsync,notrunc status=none || die "dd failed"
  t1=$(now)
  T[dd-direct]+=" $(secs "$t0" "$t1")"
  echo "  dd bs=4M iflag=direct oflag=direct conv=fsync: $(secs "$t0" "$t1") s"
}
run_repd() {  # fresh metadata on both: the first connection is a full resync
  local t0 t1
  fresh "$beta"
  "$REPCTL" create-md --config "$conf" --node alpha --force >"$dir/create-md.out" 2>&1 ||
    die "create-md alpha: $(cat "$dir/create-md.out")"
  "$REPCTL" create-md --config "$conf" --node beta --force >>"$dir/create-md.out" 2>&1 ||
    die "create-md beta: $(cat "$dir/create-md.out")"
  cold
  start_repd beta; b=$started
  t0=$(tod)
  start_repd alpha; a=$started
  wait_target_done 1 "$timeout_s"
  wait_finished 1
  R[export]=$(st alpha | jq .resync.total_bytes)
  wall=$(since "$t0" "$done_tod")
  T[repd-wall]+=" $wall" T[repd-log]+=" $fin_s"
  [ "$fin_bytes" = "${R[export]}" ] || echo "  NOTE: resync sent $fin_bytes of ${R[export]} bytes"
  echo "  repd full resync: $wall s from alpha's start to in-sync;" \
       "alpha's log: $fin_bytes bytes in $fin_s s ($fin_mbs MB/s)"
  stop "$a" "$b"; a="" b=""   # the baselines run alone
}
header "1. full resync of $size ($bytes bytes), protocol C, no compression, O_DIRECT"
echo "page cache dropped (sync; echo 3 > /proc/sys/vm/drop_caches) before every copy"
configs=(repd)
has 1 && configs=(nbdcopy-qemu-nbd-iouring nbdcopy-nbdkit dd-direct repd)
r1=$rounds; has 1 || r1=1   # without the baselines, one full resync
for r in $(seq 0 $((r1 - 1))); do
  echo "round $((r + 1)) of $r1"
  for i in $(seq 0 $((${#configs[@]} - 1))); do   # rotated: no config always first
    c=${configs[$(((i + r) % ${#configs[@]}))]}
    case "$c" in
      nbdcopy-*) run_nbdcopy "${c#nbdcopy-}" ;;
      dd-direct) run_dd ;;
      repd) run_repd ;;
    esac
  done
done
medians() {  # R[config] = median of T[config], for every config so far
  local c
  for c in "${!T[@]}"; do
    # shellcheck disable=SC2086  # the list of rounds, split on purpose
    R[$c]=$(median ${T[$c]})
  done
}

if has 2 || has 3; then   # the pair again, in sync: no resync at this start
  start_repd beta; b=$started
  start_repd alpha; a=$started
  wait_sync 60
fi

# ---- 2. bitmap resync after 1% changed ------------------------------------
floor_copy() {  # floor_copy QD: N random 4k reads of alpha + N writes of dst, O_DIRECT
  fio --direct=1 --ioengine=io_uring --bs=4k --iodepth="$1" --number_ios="$n" \
      --size="$bytes" --output-format=json \
      --name=rd --filename="$alpha" --rw=randread \
      --name=wr --filename="$dst" --rw=randwrite >"$dir/floor.out" 2>&1 ||
    die "fio floor failed: $(tail -5 "$dir/floor.out")"
  sed -n '/^{/,$p' "$dir/floor.out" | jq '[.jobs[].job_runtime] | max / 1000'
}
if has 2; then
  header "2. bitmap resync after 1% of the device changed (4 KiB granules)"
  gran=4096 n=$((bytes / 100 / 4096))
  # the floor writes to a fully written file, as beta is after a full resync
  [ "$(stat -c %s "$dst" 2>/dev/null)" = "$bytes" ] || fallocate -l "$bytes" "$dst"
  for r in $(seq "$rounds"); do
    "$REPCTL" disconnect --config "$conf" --node alpha >/dev/null || die "disconnect"
    for i in $(seq 100); do
      [ "$(st alpha | jq -r .connection)" = StandAlone ] && break; sleep 0.1
    done
    [ "$(st alpha | jq -r .connection)" = StandAlone ] || die "not StandAlone after disconnect"
    # distinct random granules: each write dirties exactly one
    (cd / && timeout 600 /usr/bin/python3 -I - "$uri" "$n" "$gran" "$r" <<'PY') >"$dir/writer.out" ||
import nbd, os, random, sys, time
uri, n, gran, seed = sys.argv[1], int(sys.argv[2]), int(sys.argv[3]), int(sys.argv[4])
h = nbd.NBD()
h.connect_uri(uri)
offs = random.Random(seed).sample(range(h.get_size() // gran), n)
t = time.monotonic()
for g in offs:
    h.pwrite(os.urandom(gran), g * gran)
h.flush()
h.shutdown()
print(n, n * gran, "%.3f" % (time.monotonic() - t))
PY
      die "writer failed: $(cat "$dir/writer.out")"
    read -r wn wbytes ws <"$dir/writer.out"
    oos=$(st alpha | jq .out_of_sync_bytes)
    k=$(($(finished) + 1)) kb=$(($(target_done) + 1))
    t0=$(tod)
    "$REPCTL" connect --config "$conf" --node alpha >/dev/null || die "connect"
    wait_target_done "$kb" 300
    wait_finished "$k"
    wall=$(since "$t0" "$done_tod")
    T[bm-wall]+=" $wall" T[bm-log]+=" $fin_s"
    T[bm-floor8]+=" $(floor_copy 8)" T[bm-floor32]+=" $(floor_copy 32)"
    R[bm-written]=$wbytes R[bm-oos]=$oos R[bm-bytes]=$fin_bytes
    echo "round $r: $wn x 4 KiB written while StandAlone in $ws s, out_of_sync $oos B;" \
         "connect to in-sync $wall s; alpha's log: $fin_bytes bytes in" \
         "$fin_s s ($fin_mbs MB/s); fio floor QD8 ${T[bm-floor8]##* } s," \
         "QD32 ${T[bm-floor32]##* } s"
    [ "$oos" = "$wbytes" ] && [ "$fin_bytes" = "$wbytes" ] ||
      echo "  NOTE: wrote $wbytes B, out_of_sync $oos B, resync sent $fin_bytes B"
  done
fi

# ---- 3. client write latency: idle vs during a full resync ----------------
busy_resync() { [ "$(st alpha | jq -r .resync.active)" = true ]; }
busy_dd() { kill -0 "$ddpid" 2>/dev/null; }
busy_none() { true; }
lat_run() {  # lat_run LABEL BUSY_FN: fio QD1, BUSY_FN polled -> p99 of the busy part
  local label=$1 busy=$2 i t0f fpid end="" lim win p99 ios fp99 fios
  rm -f "$dir/lat-$label"_*.log
  t0f=$(now)
  fio --name="$label" --ioengine=nbd "--uri=$uri" --rw=randwrite --bs=4k --iodepth=1 \
      --time_based=1 --runtime="$runtime" --norandommap=1 --lat_percentiles=1 \
      --write_lat_log="$dir/lat-$label" --log_avg_msec=0 \
      --output-format=json >"$dir/fio-$label.out" 2>&1 &
  fpid=$!; pids+=("$fpid")
  for i in $(seq $((runtime * 5 + 150))); do   # every 0.2 s, bounded
    kill -0 "$fpid" 2>/dev/null || break
    [ -n "$end" ] || "$busy" || end=$(secs "$t0f" "$(now)")
    sleep 0.2
  done
  wait "$fpid" || die "fio $label failed: $(tail -5 "$dir/fio-$label.out")"
  # fio's clock starts a little after t0f and the poll is 0.2 s coarse:
  # keep only the writes surely done while the load ran
  lim=999999999 win=$runtime
  if [ -n "$end" ]; then lim=$(calc %d "($end - 0.25) * 1000") win=$(calc %.1f "$end - 0.25"); fi
  # lat log lines: msec since fio's start, latency ns, dir, bs, offset
  read -r p99 ios < <(
    awk -F', *' -v lim="$lim" '$1 <= lim {print $2}' "$dir/lat-${label}_lat.1.log" |
    sort -n | awk '{v[NR]=$1} END{if (NR == 0) {print "0 0"; exit}
                   i = int(NR * 0.99 + 0.999999); print int(v[i] / 1000 + 0.5), NR}')
  fp99=$(sed -n '/^{/,$p' "$dir/fio-$label.out" |
    jq '.jobs[0].write.lat_ns.percentile["99.000000"] / 1000 | round')
  fios=$(sed -n '/^{/,$p' "$dir/fio-$label.out" | jq '.jobs[0].write.total_ios')
  echo "  $label: p99 $p99 us over the $ios writes of the first $win s;" \
       "fio over the whole ${runtime} s: p99 $fp99 us, $fios writes"
  if [ "$ios" -lt 100 ]; then   # a 1% tail of fewer is noise
    echo "  NOTE: the $label load lasted too short for a p99 (use a larger --size)"
  else
    T[$label-p99]+=" $p99" T[$label-ios]+=" $ios"
  fi
}
if has 3; then
  header "3. 4k random write QD1, ${runtime} s (fio nbd engine): idle vs during full resync"
  for r in $(seq "$rounds"); do
    echo "round $r of $rounds"
    in_sync || die "pair not in sync before the latency runs"
    lat_run idle busy_none
    in_sync || die "pair left sync during the idle run"
    k=$(($(finished) + 1))
    "$REPCTL" invalidate --config "$conf" --node beta >/dev/null || die "invalidate beta"
    for i in $(seq 100); do busy_resync && break; sleep 0.05; done
    busy_resync || die "no resync after invalidate: $(st alpha | jq -c .)"
    lat_run resync busy_resync
    wait_sync "$timeout_s"
    wait_finished "$k"
    T[rs-log]+=" $fin_s"
    echo "  that resync: $fin_bytes bytes in $fin_s s ($fin_mbs MB/s) under the fio load"
    # the floor: the same disk busy with a plain copy of the same size
    fresh "$dst"; sync
    dd if="$alpha" of="$dst" bs=4M iflag=direct oflag=direct conv=fsync,notrunc status=none &
    ddpid=$!; pids+=("$ddpid")
    lat_run dd busy_dd
    stop "$ddpid"
  done
fi
# ---- 4. checksum resync after 1% of the blocks differ ---------------------
link_bytes() { st alpha | jq '.link.sent_bytes + .link.received_bytes'; }
if has 4; then
  header "4. checksum resync of $size after 1% of beta's 4 KiB blocks changed"
  [ -n "$a" ] || { start_repd beta; b=$started; start_repd alpha; a=$started; wait_sync 60; }
  stop "$a" "$b"; a="" b=""
  sed 's/^compression = none$/compression = none\nresync-checksum = yes/' "$conf" >"$conf.ck"
  grep -q '^resync-checksum = yes' "$conf.ck" || die "cannot write $conf.ck"
  for r in $(seq "$rounds"); do
    n=$((bytes / 100 / 4096))
    # only the data area: the internal metadata sits after it
    /usr/bin/python3 -I - "$beta" "$n" "$r" "${R[export]}" <<'PY' || die "cannot change beta's blocks"
import os, random, sys
path, n, seed, size = sys.argv[1], int(sys.argv[2]), int(sys.argv[3]), int(sys.argv[4])
fd = os.open(path, os.O_WRONLY)
for g in random.Random(1000 + seed).sample(range(size // 4096), n):
    os.pwrite(fd, os.urandom(4096), g * 4096)
os.fsync(fd)
os.close(fd)
PY
    cold
    conf_saved=$conf conf=$conf.ck
    start_repd beta; b=$started
    start_repd alpha; a=$started
    wait_sync 60
    l0=$(link_bytes) k=$(($(finished) + 1))
    "$REPCTL" invalidate --config "$conf" --node beta >/dev/null || die "invalidate beta"
    for i in $(seq 100); do [ "$(finished)" -ge "$k" ] && break; busy_resync && break; sleep 0.05; done
    wait_sync "$timeout_s"
    wait_finished "$k"
    l1=$(link_bytes)
    sent=$(st alpha | jq .resync.sent_bytes)
    T[ck-link]+=" $((l1 - l0))" T[ck-blocks]+=" $sent" T[ck-log]+=" $fin_s"
    echo "round $r: $n blocks differ ($((n * 4096)) B); resync of $fin_bytes B in $fin_s s;" \
         "blocks sent $sent B; link traffic both ways $((l1 - l0)) B"
    stop "$a" "$b"; a="" b=""
    conf=$conf_saved
  done
fi
rm -f "$dst"
medians

# ---- summary --------------------------------------------------------------
out=$dir/resync-$(date +%Y%m%d-%H%M%S).txt
{
  echo
  echo "### summary: repd resync, $size on loopback, files as disks ($(nproc) CPUs, $(uname -r))"
  echo "(cold page cache before every copy; medians of $rounds round(s), each round's"
  echo " figure in parentheses; MB/s = 10^6 B/s)"
  row figure value "target / detail"
  if has 1; then
    best=""
    for c in nbdcopy-qemu-nbd-iouring nbdcopy-nbdkit dd-direct; do
      row "baseline $c" "${R[$c]} s" "$(calc %.1f "$bytes / ${R[$c]} / 1e6") MB/s (${T[$c]# })"
      if [ -z "$best" ] || awk -v x="${R[$c]}" -v y="${R[$best]}" 'BEGIN{exit !(x < y)}'; then
        best=$c
      fi
    done
    best_mbs=$(calc %.1f "$bytes / ${R[$best]} / 1e6")
  fi
  wall_mbs=$(calc %.1f "${R[export]} / ${R[repd-wall]} / 1e6")
  log_mbs=$(calc %.1f "${R[export]} / ${R[repd-log]} / 1e6")
  row "repd full resync, start to in-sync" "${R[repd-wall]} s" "$wall_mbs MB/s (${T[repd-wall]# })"
  row "repd full resync, daemon's log" "${R[repd-log]} s" "$log_mbs MB/s (${T[repd-log]# })"
  if has 1; then
    row "faster baseline" "$best" "$best_mbs MB/s"
    row "ratio repd/baseline (rate, start to in-sync)" "$(calc %.2f "$wall_mbs / $best_mbs")" ">= 0.8"
    row "ratio repd/baseline (rate, daemon's log)" "$(calc %.2f "$log_mbs / $best_mbs")" ">= 0.8"
  fi
  if has 2; then
    row "1% written while StandAlone (last round)" "${R[bm-written]} B" \
        "out_of_sync ${R[bm-oos]} B, resync sent ${R[bm-bytes]} B"
    row "bitmap resync, connect to in-sync" "${R[bm-wall]} s" "(${T[bm-wall]# })"
    row "bitmap resync, daemon's log" "${R[bm-log]} s" \
        "$(calc %.1f "${R[bm-bytes]} / ${R[bm-log]} / 1e6") MB/s (${T[bm-log]# })"
    row "ratio bitmap/full (wall)" "$(calc %.1f "100 * ${R[bm-wall]} / ${R[repd-wall]}")%" "<= 3%"
    row "ratio bitmap/full (daemon's log)" "$(calc %.1f "100 * ${R[bm-log]} / ${R[repd-log]}")%" "<= 3%"
    row "floor: fio same-size random 4k copy, QD8" "${R[bm-floor8]} s" \
        "$(calc %.1f "100 * ${R[bm-floor8]} / ${R[repd-log]}")% of full (${T[bm-floor8]# })"
    row "floor: fio same-size random 4k copy, QD32" "${R[bm-floor32]} s" \
        "$(calc %.1f "100 * ${R[bm-floor32]} / ${R[repd-log]}")% of full (${T[bm-floor32]# })"
  fi
  if has 3; then
    for l in idle resync dd; do
      if [ -n "${R[$l-p99]:-}" ]; then
        row "p99 4k randwrite QD1, $l" "${R[$l-p99]} us" \
            "(${T[$l-p99]# }) over (${T[$l-ios]# }) writes"
      else
        row "p99 4k randwrite QD1, $l" n/a "load too short"
      fi
    done
    ratio() { [ -n "${R[$1-p99]:-}" ] && calc %.2fx "${R[$1-p99]} / ${R[idle-p99]}" || echo n/a; }
    row "ratio p99 resync/idle" "$(ratio resync)" "<= 2x"
    row "ratio p99 dd copy/idle (the disk's floor)" "$(ratio dd)" ""
    row "resync under the fio load, daemon's log" "${R[rs-log]} s" \
        "$(calc %.1f "${R[export]} / ${R[rs-log]} / 1e6") MB/s (${T[rs-log]# })"
  fi
  if has 4; then
    row "checksum resync: block bytes sent" "${R[ck-blocks]} B" "(${T[ck-blocks]# })"
    row "checksum resync: link bytes, both ways" "${R[ck-link]} B" "(${T[ck-link]# })"
    row "ratio link bytes / full resync bytes" \
        "$(calc %.2f "100 * ${R[ck-link]} / ${R[export]}")%" "<= 25%"
    row "checksum resync, daemon's log" "${R[ck-log]} s" "(${T[ck-log]# })"
  fi
} | tee "$out"
echo "(saved to $out; daemon logs in $dir/repd-alpha.log, $dir/repd-beta.log)"
[ -z "$a" ] || stop "$a" "$b"
rm -f "$beta"
