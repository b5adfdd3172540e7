#!/bin/sh
# Regenerates the tokenizer's parity data with HuggingFace tokenizers (npm tokenizers@0.23.2):
#   corpus_zh.jsonl.gz, corpus_en.jsonl.gz, vocab_zh.txt, vocab_en.txt  (gen_corpus.py; only with REGEN_CORPUS=1)
#   hf_unicode.txt.gz   what HF does to every code point           (gen_unicode.mjs)
#   ../unicode_tables.go  the Go tables derived from it              (gen_tables.go)
#   fixtures.jsonl.gz   expected ids / type ids / masks            (gen_fixtures.mjs)
#
# Environment:
#   TOKENIZERS_NODE_PATH  where to npm-install tokenizers (default /tmp/rocketqa-tok-npm; never committed)
#   REGEN_CORPUS=1        re-extract the corpus and vocabularies. Needs the manpages-zh and debian-reference-zh-cn
#                         .deb files in DEBS (default /tmp/debs; `apt-get download manpages-zh
#                         debian-reference-zh-cn` fetches them) and reads the English man pages in
#                         /usr/share/man/man1, which differ between machines: by default the committed corpus
#                         is kept.
# Needs: node + npm, /usr/bin/python3 (stdlib only), go.
set -eu
cd "$(dirname "$0")"
NPM_DIR=${TOKENIZERS_NODE_PATH:-/tmp/rocketqa-tok-npm}
DEBS=${DEBS:-/tmp/debs}

if [ ! -f "$NPM_DIR/node_modules/tokenizers/package.json" ] ||
	! grep -q '"version": "0.23.2"' "$NPM_DIR/node_modules/tokenizers/package.json"; then
	mkdir -p "$NPM_DIR"
	npm install --prefix "$NPM_DIR" --no-save --no-audit --no-fund tokenizers@0.23.2
fi

if [ "${REGEN_CORPUS:-0}" = 1 ]; then
	work=$(mktemp -d)
	trap 'rm -rf "$work"' EXIT
	set -- "$DEBS"/manpages-zh_*_all.deb
	[ -f "$1" ] || { echo "gen.sh: no manpages-zh .deb in $DEBS" >&2; exit 1; }
	dpkg-deb -x "$1" "$work/man"
	set -- "$DEBS"/debian-reference-zh-cn_*_all.deb
	[ -f "$1" ] || { echo "gen.sh: no debian-reference-zh-cn .deb in $DEBS" >&2; exit 1; }
	dpkg-deb -x "$1" "$work/ref"
	/usr/bin/python3 gen_corpus.py "$work/man" "$work/ref" .
fi

NODE_PATH="$NPM_DIR" node gen_unicode.mjs hf_unicode.txt.gz
go run gen_tables.go hf_unicode.txt.gz ../unicode_tables.go
NODE_PATH="$NPM_DIR" node gen_fixtures.mjs .
