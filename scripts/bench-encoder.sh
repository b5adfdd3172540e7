#!/usr/bin/env bash
# Passage-encoding throughput of the Go encoder vs PyTorch eager (same weights, batches, threads; same run), and the
# gain from length bucketing.
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/setup.sh --dev
source scripts/env.sh
go run ./encoder/bench "$@"
