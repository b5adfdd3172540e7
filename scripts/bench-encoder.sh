#!/usr/bin/env bash
# Passage-encoding throughput of the Go encoder vs PyTorch eager (same weights, batches, threads; same run), in fp32
# and bf16 autocast, the gain from length bucketing and token-budget batches, and a roofline line (achieved GFLOP/s
# beside the fp32/bf16 matmul peak measured in the same run). BERT-base on the demo passages, as issue 14 measures:
#   scripts/bench-encoder.sh -data data/demo -n 64 -batch 16 -hidden 768 -layers 12 -heads 12 -threads 2
# Bf16 rows are forced (emulated, slow) on a CPU without avx512_bf16/amx_bf16; -bf16=false skips them.
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/setup.sh --dev
source scripts/env.sh
go run ./encoder/bench "$@"
