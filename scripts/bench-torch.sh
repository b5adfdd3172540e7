#!/usr/bin/env bash
# Benchmark of the torch binding against PyTorch eager (same libtorch, same threads, same run).
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/setup.sh --dev
source scripts/env.sh
go run ./torch/bench "$@"
