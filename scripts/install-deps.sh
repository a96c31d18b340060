#!/usr/bin/env bash
# Installs the Debian packages specdec builds with, when any is missing (needs root).
set -euo pipefail
pkgs=(cmake gcc make pkg-config libcjson-dev uthash-dev libpcre2-dev gnuplot-nox python3 xz-utils)
missing=()
for p in "${pkgs[@]}"; do
  dpkg -s "$p" >/dev/null 2>&1 || missing+=("$p")
done
if [ ${#missing[@]} -gt 0 ]; then
  echo "installing: ${missing[*]}"
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq
  apt-get install -y -qq "${missing[@]}"
fi
