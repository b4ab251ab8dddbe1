#!/usr/bin/env bash
# Memory under a flow flood: builds a SYN-flood capture (scripts/mkflood:
# FLOWS one-packet flows from spoofed sources plus one busy connection) and
# runs nfstream on it with default options (DPI on, one meter), with and
# without --max-tracked-flows, printing wall time, peak resident memory and
# the summary line (flows, evicted).
#
# Usage: bench/flood.sh [FLOWS] [CAPS...]
#   FLOWS defaults to 5000000, CAPS to "1000 10000 100000 0" (0: no cap).
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
flows=${1:-5000000}
shift || true
caps=("${@:-}")
[ -n "${caps[0]}" ] || caps=(1000 10000 100000 0)
cap=/tmp/flood-$flows.pcap
(cd "$root" && go build -o bin/nfstream ./cmd/nfstream)
[ -f "$cap" ] || (cd "$root" && go run ./scripts/mkflood -n "$flows" "$cap")
cat "$cap" > /dev/null # warm the page cache
printf '%-18s %8s %12s  %s\n' max_tracked_flows seconds peak_MiB summary
for c in "${caps[@]}"; do
  out=$(/usr/bin/time -f '%e %M' "$root/bin/nfstream" --max-tracked-flows "$c" -o /dev/null "$cap" 2>&1)
  read -r secs kib <<<"$(tail -1 <<<"$out")"
  summary=$(grep -o '[0-9]* flows, [0-9]* evicted' <<<"$out")
  printf '%-18s %8s %12d  %s\n' "$c" "$secs" $((kib / 1024)) "$summary"
done
