#!/usr/bin/env bash
# Benchmarks nfstream against the read floor and the peer flow meters on the
# 40-replica benchmark capture, side by side, alternating the commands.
#
# Usage: bench/run.sh [CAPTURE] [RUNS]
#   CAPTURE defaults to /tmp/bench40.pcap (built with ../shared/bench/make-bench40.sh
#   when missing); RUNS defaults to 5. Prints the median wall time, packets per
#   second and peak resident memory of each command.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
root=$(cd "$here/.." && pwd)
shared=${NFSTREAM_SHARED:-$(cd "$root/.." && pwd)/shared}
cap=${1:-/tmp/bench40.pcap}
runs=${2:-5}
"$root/scripts/setup.sh" bench
[ -f "$cap" ] || "$shared/bench/make-bench40.sh" "$cap"
(cd "$root" && go build -o bin/nfstream ./cmd/nfstream)
nf="$root/bin/nfstream"
packets=$(capinfos -c -M "$cap" 2>/dev/null | awk '/Number of packets/ {print $NF}' || true)
[ -n "$packets" ] || packets=2247400

tmpout=$(mktemp -d)
declare -A cmds=(
  [readfloor]="$shared/bench/readfloor $cap"
  [nfstream-meter]="$nf --n-dissections 0 --n-meters 1 -q -o /dev/null $cap"
  [nfstream-meter-stats]="$nf --n-dissections 0 --n-meters 1 --statistical-analysis -q -o /dev/null $cap"
  [nfstream-dpi]="$nf --n-meters 1 -q -o /dev/null $cap"
  [nfstream-defaults]="$nf -q -o /dev/null $cap"
  [nfstream-dpi-2meters]="$nf --n-meters 2 -q -o /dev/null $cap"
  [nfstream-dpi-parquet]="$nf --n-meters 1 -q -o $tmpout/flows.parquet $cap"
)
order=(readfloor nfstream-meter nfstream-meter-stats nfstream-dpi nfstream-defaults nfstream-dpi-2meters nfstream-dpi-parquet)
command -v softflowd >/dev/null && { cmds[softflowd]="softflowd -r $cap -n 127.0.0.1:9999 -D"; order+=(softflowd); }
command -v argus >/dev/null && { cmds[argus]="argus -r $cap -w /dev/null"; order+=(argus); }
command -v ndpiReader >/dev/null && { cmds[ndpiReader]="ndpiReader -i $cap -q"; order+=(ndpiReader); }

tmp=$(mktemp -d)
trap 'rm -rf "$tmp" "$tmpout"' EXIT
cat "$cap" > /dev/null # warm the page cache
for ((r = 0; r < runs; r++)); do
  for name in "${order[@]}"; do
    /usr/bin/time -f '%e %M' -o "$tmp/t" ${cmds[$name]} > /dev/null 2>&1 || true
    cat "$tmp/t" >> "$tmp/$name"
  done
done
median() { sort -n | awk '{a[NR]=$1} END {print (NR%2) ? a[(NR+1)/2] : (a[NR/2]+a[NR/2+1])/2}'; }
floor=$(cut -d' ' -f1 "$tmp/readfloor" | median)
printf '%-22s %9s %12s %10s %9s\n' command seconds packets/s peak-MiB x-floor
for name in "${order[@]}"; do
  s=$(cut -d' ' -f1 "$tmp/$name" | median)
  m=$(cut -d' ' -f2 "$tmp/$name" | median)
  awk -v n="$name" -v s="$s" -v m="$m" -v p="$packets" -v f="$floor" \
    'BEGIN {printf "%-22s %9.2f %12.0f %10.0f %9.1f\n", n, s, (s > 0 ? p / s : 0), m / 1024, (f > 0 ? s / f : 0)}'
done
echo "($runs runs each, medians; capture $cap, $packets packets)"
# The issue-10 ratios.
med() { cut -d' ' -f"$2" "$tmp/$1" | median; }
ratio() { awk -v a="$1" -v b="$2" 'BEGIN {printf "%.2f", (b > 0 ? a / b : 0)}'; }
echo "metering only: $(ratio "$(med nfstream-meter 1)" "$floor")x the read floor (target <= 5), with statistics $(ratio "$(med nfstream-meter-stats 1)" "$floor")x"
echo "two meters: $(ratio "$(med nfstream-dpi 1)" "$(med nfstream-dpi-2meters 1)")x one meter with DPI (target >= 1.5)"
echo "Parquet instead of CSV: $(ratio "$(med nfstream-dpi-parquet 1)" "$(med nfstream-dpi 1)")x the run (target < 1.15)"
if [ -f "$tmp/ndpiReader" ]; then
  echo "vs ndpiReader: $(ratio "$(med ndpiReader 1)" "$(med nfstream-dpi 1)")x faster (target >= 4), $(ratio "$(med nfstream-dpi 2)" "$(med ndpiReader 2)") of its peak memory (target <= 0.33)"
fi
# The same ratios taken within each round (the commands of a round ran
# minutes apart at most), then their median and range: the VM's speed
# drifts over an hour, and a ratio of two medians mixes rounds.
paired() { # paired NUM DEN: median [min-max] of NUM/DEN over the rounds
  [ -f "$tmp/$1" ] && [ -f "$tmp/$2" ] || return 0
  paste -d' ' <(cut -d' ' -f1 "$tmp/$1") <(cut -d' ' -f1 "$tmp/$2") |
    awk '$2 > 0 {print $1 / $2}' | sort -n |
    awk '{a[NR]=$1} END {m = (NR%2) ? a[(NR+1)/2] : (a[NR/2]+a[NR/2+1])/2; printf "%.2fx [%.2f-%.2f]", m, a[1], a[NR]}'
}
echo "per round (median [range] of $runs rounds):"
echo "  metering only $(paired nfstream-meter readfloor) the read floor, with statistics $(paired nfstream-meter-stats readfloor)"
echo "  two meters $(paired nfstream-dpi nfstream-dpi-2meters) one meter; Parquet $(paired nfstream-dpi-parquet nfstream-dpi) the CSV run"
[ -f "$tmp/ndpiReader" ] && echo "  vs ndpiReader $(paired ndpiReader nfstream-dpi) faster (defaults: $(paired ndpiReader nfstream-defaults))"
exit 0
