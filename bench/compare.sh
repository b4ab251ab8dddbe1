#!/usr/bin/env bash
# Compares two nfstream binaries (before/after a change) on one capture,
# alternating them, for the issue-10 configurations: metering only, with
# statistics, DPI on with one and with two meters, and the DPI and
# statistics runs to Parquet. Prints the median wall time, user CPU and peak
# resident memory of each. Output is CSV to /dev/null unless a
# configuration names a file.
#
# Usage: bench/compare.sh BEFORE AFTER [CAPTURE] [RUNS]
#   e.g. git worktree add /tmp/before HEAD~5 && (cd /tmp/before && go build -o /tmp/nf-before ./cmd/nfstream)
#        bench/compare.sh /tmp/nf-before bin/nfstream /tmp/bench40.pcap 5
#   ONLY=REGEX keeps the configurations whose name matches (e.g. ONLY=dpi).
set -euo pipefail
before=$1 after=$2
cap=${3:-/tmp/bench40.pcap}
runs=${4:-5}
configs=(
  "meter|--n-dissections 0 --n-meters 1"
  "meter+stats|--n-dissections 0 --n-meters 1 --statistical-analysis"
  "dpi-1-meter|--n-meters 1"
  "dpi-2-meters|--n-meters 2"
  "dpi-parquet|--n-meters 1 -o @TMP@/flows.parquet"
  "stats-parquet|--n-dissections 0 --n-meters 1 --statistical-analysis -o @TMP@/flows.parquet"
)
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
cat "$cap" > /dev/null
kept=()
for c in "${configs[@]}"; do
  [[ ${c%%|*} =~ ${ONLY:-.} ]] && kept+=("$c")
done
[ ${#kept[@]} -gt 0 ] || { echo "compare: no configuration matches ONLY=$ONLY" >&2; exit 2; }
configs=("${kept[@]}")
for ((r = 0; r < runs; r++)); do
  for c in "${configs[@]}"; do
    name=${c%%|*} flags=${c#*|}
    for b in before after; do
      bin=$before
      [ "$b" = after ] && bin=$after
      # shellcheck disable=SC2086
      out=(-o /dev/null)
      [[ $flags == *" -o "* ]] && out=()
      /usr/bin/time -f '%e %U %M' -o "$tmp/t" "$bin" ${flags//@TMP@/$tmp} -q "${out[@]}" "$cap" > /dev/null 2>&1
      cat "$tmp/t" >> "$tmp/$name-$b"
    done
  done
done
median() { sort -n | awk '{a[NR]=$1} END {print (NR%2) ? a[(NR+1)/2] : (a[NR/2]+a[NR/2+1])/2}'; }
printf '%-14s %-7s %8s %8s %9s\n' config binary seconds user-s peak-MiB
for c in "${configs[@]}"; do
  name=${c%%|*}
  for b in before after; do
    f=$tmp/$name-$b
    printf '%-14s %-7s %8.2f %8.2f %9.0f\n' "$name" "$b" "$(cut -d' ' -f1 "$f" | median)" \
      "$(cut -d' ' -f2 "$f" | median)" "$(cut -d' ' -f3 "$f" | median | awk '{print $1 / 1024}')"
  done
done
echo "($runs alternating runs each, medians; $cap)"
