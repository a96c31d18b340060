#!/usr/bin/env bash
# The README's main command: installs what is missing, builds specdec, and runs the quickstart
# experiment (stories260K with the ngram, ngram1 and lookup drafters on the CPU, under a minute),
# then prints its summary and where its plots are.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/install-deps.sh
[ -x /usr/local/cuda/bin/nvcc ] && export PATH="/usr/local/cuda/bin:$PATH"
cmake --preset release >/dev/null
cmake --build --preset release -j "$(nproc)"
out="${1:-build/quickstart}"
rm -rf "$out"
mkdir -p "$out"
build/specdec run experiments/configs/quickstart.json --out "$out/quickstart.jsonl" --device cpu --plot
