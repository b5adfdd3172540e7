#!/usr/bin/env bash
# Training-step throughput of the Go dual encoder against PyTorch eager (same libtorch, threads, shapes; same run),
# in fp32 and with bf16 autocast forward passes, with a roofline line (achieved GFLOP/s vs the matmul peak of the run).
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/setup.sh --dev
source scripts/env.sh
go run ./rocketqa/bench "$@"
