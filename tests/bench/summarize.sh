#!/usr/bin/env bash
# summarize.sh RESULTS.jsonl: medians per config and job, and the ratios
# the issues ask for. Figures are whole-run medians over the rounds.
set -euo pipefail
f=$1
jq -s -r '
  def med: sort | if length == 0 then null else .[(length - 1) / 2 | floor] end;
  def metric($j): if ($j | test("1m")) then "mbps" else "iops" end;
  group_by(.config) | map({config: .[0].config,
    jobs: (group_by(.job) | map(metric(.[0].job) as $m | {key: .[0].job,
      value: {v: (map(.[$m]) | med),
              cpu_us_per_req: (map(if .srv_cpu and .iops > 0
                 then (.srv_cpu / 100 * 1e6 / .iops) else null end)
                 | map(select(. != null)) | med),
              p99: (map(.lat_p99_us) | med),
              mean: (map(.lat_mean_us) | med)}}) | from_entries)})
  | (["config", "rw4k-qd1", "rw4k-qd32", "rr4k-qd32", "sw1m MB/s", "sr1m MB/s", "rw4k-fsync"] | @tsv),
    (.[] | [.config, .jobs["randwrite-4k-qd1"].v, .jobs["randwrite-4k-qd32"].v,
            .jobs["randread-4k-qd32"].v, .jobs["seqwrite-1m-qd8"].v,
            .jobs["seqread-1m-qd8"].v, .jobs["randwrite-4k-qd32-fsync32"].v] | @tsv),
    "",
    (["config", "server CPU us/req: rw4k-qd1", "rw4k-qd32", "rr4k-qd32", "qd1 write lat mean us"] | @tsv),
    (.[] | [.config, (.jobs["randwrite-4k-qd1"].cpu_us_per_req // "-" | tostring),
            (.jobs["randwrite-4k-qd32"].cpu_us_per_req // "-" | tostring),
            (.jobs["randread-4k-qd32"].cpu_us_per_req // "-" | tostring),
            (.jobs["randwrite-4k-qd1"].mean // "-" | tostring)] | @tsv)
' "$f" | column -t -s $'\t'
