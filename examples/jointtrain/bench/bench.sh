#!/bin/bash
# Joint step: Go vs PyTorch eager, same machine, same threads, one after the other (twice, alternating).
# usage: examples/jointtrain/bench/bench.sh [flags of main.go / ref_step.py]
set -e
cd "$(dirname "$0")/../../.."
go build -o /tmp/jointbench ./examples/jointtrain/bench
for i in 1 2; do
  /tmp/jointbench "$@"
  /usr/bin/python3 -W ignore examples/jointtrain/bench/ref_step.py "$@"
done
