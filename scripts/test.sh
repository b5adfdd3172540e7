#!/usr/bin/env bash
# The test command of the README: installs what the tests need, then vets and tests every package.
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/setup.sh --dev   # --dev: python3-torch / python3-faiss, so the tests that load our files in PyTorch and FAISS run too
source scripts/env.sh
export PATH=$PATH:/usr/local/go/bin
unformatted=$(gofmt -l $(git ls-files '*.go' 2>/dev/null || find . -name '*.go'))
if [[ -n "$unformatted" ]]; then echo "gofmt needed:"; echo "$unformatted"; exit 1; fi
go vet ./...
# the end-to-end tests train on the Debian demo corpus (examples/pipeline: the 4-step pipeline, small preset)
scripts/demo-corpus.sh data/demo
export ROCKETQA_DEMO_DATA=$PWD/data/demo
go test -count=1 -timeout 60m ./... "$@"
