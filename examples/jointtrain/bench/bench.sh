#!/bin/bash
# Joint step: Go vs PyTorch eager, same machine, same threads, one after the other (twice, alternating), then the
# ratio of the medians (PyTorch time / Go time: above 1 means Go is faster). -bf16 times both in bf16 autocast.
# usage: examples/jointtrain/bench/bench.sh [flags of main.go / ref_step.py]
set -eo pipefail
cd "$(dirname "$0")/../../.."
go build -o /tmp/jointbench ./examples/jointtrain/bench
out=$(mktemp)
trap 'rm -f "$out"' EXIT
for i in 1 2; do
  /tmp/jointbench "$@" | tee -a "$out"
  /usr/bin/python3 -W ignore examples/jointtrain/bench/ref_step.py "$@" | tee -a "$out"
done
/usr/bin/python3 - "$out" <<'PY'
import json, sys
rows = [json.loads(l) for l in open(sys.argv[1]) if l.startswith("{")]
for go, ref in zip(rows[0::2], rows[1::2]):
    print(f"{go['precision']} joint step: Go {1e3 * go['median_s']:.1f} ms, PyTorch eager {1e3 * ref['median_s']:.1f} ms: "
          f"PyTorch/Go {ref['median_s'] / go['median_s']:.2f}x")
PY
