#!/usr/bin/env bash
# Installs the Debian packages the build and the tests need, if any is
# missing: with apt-get when run as root, otherwise it prints the exact
# command to run and fails.
#
# Usage: scripts/setup.sh [build|test|bench]
#   build: what compiling nfstream needs (libpcap, nDPI headers)
#   test:  build + what the test suite runs against (pandas, ndpiReader, tcpdump)
#   bench: test + the peer flow meters bench/run.sh compares with
set -euo pipefail
mode=${1:-build}
pkgs=(libpcap-dev libndpi-dev pkg-config)
if [ "$mode" = test ] || [ "$mode" = bench ]; then
  pkgs+=(libndpi-bin python3-pandas tcpdump tcpreplay iproute2 nfdump)
fi
if [ "$mode" = bench ]; then
  pkgs+=(softflowd argus-server)
fi
missing=()
for p in "${pkgs[@]}"; do
  if ! dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'install ok installed'; then
    missing+=("$p")
  fi
done
[ ${#missing[@]} -eq 0 ] && exit 0
if [ "$(id -u)" -eq 0 ]; then
  echo "setup: installing ${missing[*]}" >&2
  export DEBIAN_FRONTEND=noninteractive
  # Finish an install an earlier run left half done (apt refuses otherwise).
  dpkg --configure -a >&2
  apt-get update -qq >&2
  apt-get install -y -qq --no-install-recommends "${missing[@]}" >&2
else
  echo "setup: missing Debian packages: ${missing[*]}" >&2
  echo "setup: run: sudo apt-get install -y ${missing[*]}" >&2
  exit 1
fi
