#!/usr/bin/env bash
# Build the Chinese demo retrieval corpus (DuReader-retrieval layout) from two
# Debian documentation packages, manpages-zh and debian-reference-zh-cn.
#
#   scripts/demo-corpus.sh OUTDIR
#
# Idempotent: does nothing when OUTDIR/.done exists. Needs apt-get (to download
# the .debs, no installation), dpkg-deb and Go. Run from anywhere.
set -euo pipefail

if [ $# -ne 1 ]; then
  echo "usage: $0 OUTDIR" >&2
  exit 2
fi
out=$1
if [ -f "$out/.done" ]; then
  echo "demo corpus already built in $out (remove $out/.done to rebuild)"
  exit 0
fi

repo=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
pkgs=(manpages-zh debian-reference-zh-cn)

tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT

# apt-get download needs the package lists; refresh them only when a package
# is unknown (apt-get update needs root, or sudo).
need_update=0
for p in "${pkgs[@]}"; do
  if ! apt-cache show "$p" >/dev/null 2>&1; then
    need_update=1
  fi
done
if [ "$need_update" = 1 ]; then
  echo "apt lists lack ${pkgs[*]}: running apt-get update"
  if [ "$(id -u)" = 0 ]; then
    apt-get update -qq
  else
    sudo apt-get update -qq
  fi
fi

# As root, apt would hand the download to the _apt user, who cannot write to
# our private temp dir; download as root instead (no warning, same result).
sandbox=()
if [ "$(id -u)" = 0 ]; then
  sandbox=(-o APT::Sandbox::User=root)
fi
(cd "$tmp" && apt-get download "${sandbox[@]}" "${pkgs[@]}")
mkdir -p "$tmp/root"
for deb in "$tmp"/*.deb; do
  dpkg-deb -x "$deb" "$tmp/root"
done

mkdir -p "$out"
out=$(cd "$out" && pwd)
(cd "$repo" && go run ./cmd/democorpus -src "$tmp/root" -out "$out")
echo "demo corpus written to $out"
