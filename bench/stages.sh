#!/usr/bin/env bash
# Go benchmarks of each pipeline stage, with allocations (-benchmem):
# reading (capture), decoding (decode), metering (flow), nDPI (dpi/ndpi),
# encoding (export), and the sharded pipeline. Benchmarks named Bench40
# read the 40-replica capture at $BENCH40 (default /tmp/bench40.pcap) and
# are skipped when it is missing (../shared/bench/make-bench40.sh makes it).
#
# Usage: bench/stages.sh [-benchtime=2s ...extra go test flags]
set -euo pipefail
cd "$(dirname "$0")/.."
export NFSTREAM_BENCH_PCAP=${NFSTREAM_BENCH_PCAP:-/tmp/bench40.pcap}
go test -run '^$' -bench . -benchmem "$@" \
  ./capture ./decode ./flow ./dpi/ndpi ./export ./internal/shard 2>&1 |
  grep -E '^(Benchmark|ok|FAIL|---)'
