#!/usr/bin/env bash
# Benchmarks the export formats: writes the flows of the benchmark capture to
# CSV, Parquet and JSON Lines, alternating the commands, and prints the median
# wall time, CPU time (user + system), peak resident memory, file size and
# flows per second of each, next to a baseline that meters the same flows but
# writes only their id: "export cpu s" is the CPU time writing the format adds
# to metering, and "export flows/s" the flows written per second of it (CPU
# time, unlike wall time, hardly moves when other jobs share the machine).
#
# Usage: bench/exports.sh [CAPTURE] [RUNS]
#   CAPTURE defaults to /tmp/bench40.pcap (built with ../shared/bench/make-bench40.sh
#   when missing); RUNS defaults to 3.
# Environment:
#   ARGS      extra nfstream flags for every run, e.g.
#             ARGS="--statistical-analysis --splt-analysis 20" (89 columns, lists)
#   LONG      a second capture on which only the baseline and Parquet are run,
#             to check that Parquet's peak memory does not grow with the flow
#             count, e.g. LONG=/tmp/bench400.pcap, made with
#             (cd ../shared/bench/mkbench && go run . -in ../../testdata/nfstream/pcaps \
#               -exclude ip_fragmented_garbage.pcap -replicas 400 -window 6000 -out /tmp/bench400.pcap)
#             (8 GB; about 40 s to build).
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
root=$(cd "$here/.." && pwd)
shared=${NFSTREAM_SHARED:-$(cd "$root/.." && pwd)/shared}
cap=${1:-/tmp/bench40.pcap}
runs=${2:-3}
args=${ARGS:-}
[ -f "$cap" ] || "$shared/bench/make-bench40.sh" "$cap"
(cd "$root" && go build -o bin/nfstream ./cmd/nfstream)
nf="$root/bin/nfstream"

tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT

# bench CAPTURE NAME... : runs each named command RUNS times, alternating.
bench() {
  local capture=$1
  shift
  local -A cmds=(
    [baseline]="$nf -q $args --columns id -o /dev/null $capture"
    [csv]="$nf -q $args -o $tmp/flows.csv $capture"
    [parquet]="$nf -q $args -o $tmp/flows.parquet $capture"
    [jsonl]="$nf -q $args -o $tmp/flows.jsonl $capture"
  )
  local flows
  flows=$($nf $args --columns id -o /dev/null "$capture" 2>&1 | sed -n 's/.*; \([0-9]*\) flows\b.*/\1/p')
  cat "$capture" > /dev/null # warm the page cache
  rm -f "$tmp"/*.times
  for ((r = 0; r < runs; r++)); do
    for name in "$@"; do
      /usr/bin/time -f '%e %M %U %S' -o "$tmp/t" ${cmds[$name]} > /dev/null 2>&1
      cat "$tmp/t" >> "$tmp/$name.times"
    done
  done
  echo "capture $capture: $flows flows; flags: ${args:-(defaults)}; median of $runs runs"
  printf '%-9s %7s %7s %9s %9s %10s %13s %14s\n' format "wall s" "cpu s" "peak MiB" "file MiB" "flows/s" "export cpu s" "export flows/s"
  local base=""
  for name in "$@"; do
    local med cpu mem size
    med=$(awk '{print $1}' "$tmp/$name.times" | sort -n | awk '{a[NR]=$1} END {print a[int((NR+1)/2)]}')
    cpu=$(awk '{print $3 + $4}' "$tmp/$name.times" | sort -n | awk '{a[NR]=$1} END {print a[int((NR+1)/2)]}')
    mem=$(awk '{print $2}' "$tmp/$name.times" | sort -n | tail -1)
    size=-
    [ -f "$tmp/flows.$name" ] && size=$(awk -v b="$(stat -c %s "$tmp/flows.$name")" 'BEGIN {printf "%.1f", b / 1048576}')
    [ "$name" = baseline ] && base=$cpu
    awk -v n="$name" -v t="$med" -v c="$cpu" -v m="$mem" -v s="$size" -v f="$flows" -v b="$base" 'BEGIN {
      e = (b == "" || n == "baseline") ? "-" : sprintf("%.2f", c - b)
      r = (e == "-" || c - b <= 0) ? "-" : sprintf("%.0f", f / (c - b))
      printf "%-9s %7.2f %7.2f %9.1f %9s %10.0f %13s %14s\n", n, t, c, m / 1024, s, f / t, e, r
    }'
  done
  rm -f "$tmp"/flows.*
}

bench "$cap" baseline csv parquet jsonl
if [ -n "${LONG:-}" ]; then
  echo
  bench "$LONG" baseline parquet
fi
