#!/usr/bin/env bash
# The README's main job: build the Debian demo corpus, train a small RocketQA v1 dual encoder on CPU from random
# initialisation, encode, index, search and evaluate, and print the table beside the untrained model; then pre-train
# the encoder on the collection without labels by the Inverse Cloze Task (once: cached in out/demo/ict, which
# `go run ./examples/pipeline -preset small -pretrain-dir out/demo/ict` reuses), evaluate it as it is and train the
# same model from it. Extra arguments go to examples/demo (e.g. -pretrain mlm: masked LM instead, in out/demo/mlm).
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/setup.sh
source scripts/env.sh
export PATH=$PATH:/usr/local/go/bin
scripts/demo-corpus.sh data/demo
go run ./examples/demo -data data/demo -out out/demo "$@"
