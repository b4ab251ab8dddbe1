#!/usr/bin/env bash
# Runs every native Go fuzz target of the module for FUZZTIME each (default
# 60s), then measures the statement coverage its corpus reaches (the seeds
# plus every interesting input the fuzzer kept in GOCACHE), and prints a
# summary: executions per second, corpus size, coverage of the packages the
# target exercises. A crash stops the run; its input is saved under the
# package's testdata/fuzz/ and becomes a regression test.
#
# Usage: scripts/fuzz.sh [FUZZTIME]      e.g. scripts/fuzz.sh 10m
set -euo pipefail
cd "$(dirname "$0")/.."
fuzztime=${1:-${FUZZTIME:-60s}}
module=$(go list -m)
cache=$(go env GOCACHE)/fuzz
tmp=$(mktemp -d)
copied=()
cleanup() {
  for f in "${copied[@]}"; do rm -f "$f"; done
  rm -rf "$tmp"
}
trap cleanup EXIT
summary=$tmp/summary
printf '%-16s %-22s %9s %7s %9s  %s\n' package target execs/s corpus coverage "of packages" > "$summary"

# covered lists the packages whose statements count for a target.
covered() {
  case "$1" in
  .) echo "./capture,./decode,./flow,./dpi,./dpi/ndpi" ;;
  *) echo "$1" ;;
  esac
}

status=0
for file in $(grep -rl --include='*_test.go' '^func Fuzz' . | sort); do
  dir=$(dirname "${file#./}")
  pkg=./$dir
  [ "$dir" = . ] && pkg=.
  for target in $(grep -o '^func Fuzz[A-Za-z0-9_]*' "$file" | cut -d' ' -f2); do
    echo "== $pkg $target ($fuzztime)"
    if ! go test -run '^$' -fuzz "^${target}\$" -fuzztime "$fuzztime" "$pkg" > "$tmp/out" 2>&1; then
      grep -E 'elapsed|FAIL|panic|---|_test.go:|testdata/fuzz' "$tmp/out" | tail -20
      status=1
      continue
    fi
    grep -E 'elapsed' "$tmp/out" | tail -1
    # Executions per second over the whole run (the last line's own rate
    # covers only its last interval).
    rate=$(grep -E 'elapsed' "$tmp/out" | tail -1 |
      sed -E 's/.*elapsed: ([0-9hms]+), execs: ([0-9]+).*/\2 \1/' |
      awk '{t = 0; e = $2; if (e ~ /h/) {split(e, a, "h"); t += a[1] * 3600; e = a[2]}
            if (e ~ /m/) {split(e, a, "m"); t += a[1] * 60; e = a[2]}
            sub("s", "", e); t += e; if (t > 0) printf "%d", $1 / t}')
    # Coverage of the kept corpus: copy it beside the seeds for one plain run.
    importpath=$module
    [ "$dir" = . ] || importpath=$module/$dir
    corpus=0
    mkdir -p "$dir/testdata/fuzz/$target"
    if [ -d "$cache/$importpath/$target" ]; then
      for f in "$cache/$importpath/$target"/*; do
        dst="$dir/testdata/fuzz/$target/zz-cache-$(basename "$f")"
        cp "$f" "$dst"
        copied+=("$dst")
        corpus=$((corpus + 1))
      done
    fi
    cov=$(go test -run "^${target}\$" -coverpkg "$(covered "$pkg")" -coverprofile "$tmp/cover" "$pkg" 2>/dev/null |
      grep -oE 'coverage: [0-9.]+%' | tail -1 | cut -d' ' -f2 || true)
    for f in "${copied[@]}"; do rm -f "$f"; done
    copied=()
    rmdir "$dir/testdata/fuzz/$target" 2>/dev/null || true
    rmdir "$dir/testdata/fuzz" "$dir/testdata" 2>/dev/null || true
    printf '%-16s %-22s %9s %7s %9s  %s\n' "$pkg" "$target" "${rate:-?}" "$corpus" "${cov:-?}" "$(covered "$pkg")" >> "$summary"
  done
done
echo
cat "$summary"
exit $status
