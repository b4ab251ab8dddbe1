#!/usr/bin/env bash
# Runs every native Go fuzz target of the module for FUZZTIME each (default
# 60s) and prints executions per second. A crash stops the run; its input is
# saved under the package's testdata/fuzz/ and becomes a regression test.
#
# Usage: scripts/fuzz.sh [FUZZTIME]      e.g. scripts/fuzz.sh 10m
set -euo pipefail
cd "$(dirname "$0")/.."
fuzztime=${1:-${FUZZTIME:-60s}}
grep -rl --include='*_test.go' '^func Fuzz' . | sort | while read -r file; do
  pkg=./$(dirname "${file#./}")
  for target in $(grep -o '^func Fuzz[A-Za-z0-9_]*' "$file" | cut -d' ' -f2); do
    echo "== $pkg $target ($fuzztime)"
    go test -run '^$' -fuzz "^${target}\$" -fuzztime "$fuzztime" "$pkg" 2>&1 |
      grep -E 'elapsed|PASS|FAIL|panic|---|_test.go:' | tail -6
  done
done
