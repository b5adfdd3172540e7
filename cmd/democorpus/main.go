// Command democorpus converts two Debian documentation packages into a small
// Chinese retrieval corpus in the DuReader-retrieval layout, for demos and
// tests of the whole pipeline on real text:
//
//   - manpages-zh (zh_CN man pages): query = the NAME one-line description,
//     passage = the DESCRIPTION (描述) section;
//   - debian-reference-zh-cn (DocBook HTML): query = a section title,
//     passage = the section's own text.
//
// Usage (scripts/demo-corpus.sh downloads and unpacks the packages first):
//
//	go run ./cmd/democorpus -src <unpacked root> -out <dir>
//
// where <unpacked root> holds usr/share/man/zh_CN and usr/share/debian-reference
// (dpkg-deb -x of both packages into one directory). The output is
//
//	train/dual.train.tsv        query, "", positive, "", random negative, 0
//	train/cross.train.tsv       query, "", passage, 1|0 (the positive and the negative)
//	dev/q2qid.dev.json          {query: qid}
//	dev/dev.json                JSON lines {question_id, question, answer_paragraphs}
//	dev/dev.q.format            query, "-", "-", "0"
//	passage-collection/part-0N  "-", "", passage, "0"
//	passage-collection/passage2id.map.json  {row: pid}
//	licenses/                   the two packages' copyright files
//	README                      counts, sources, licenses
//	.done                       written last
//
// Everything is deterministic for a given -seed.
package main

import (
	"flag"
	"fmt"
	"os"
)

func main() {
	var cfg config
	flag.StringVar(&cfg.Src, "src", "", "directory where both .deb packages are unpacked (contains usr/share/...)")
	flag.StringVar(&cfg.Out, "out", "", "output directory")
	flag.Uint64Var(&cfg.Seed, "seed", 1, "seed of the train/dev split and of the random negatives")
	flag.IntVar(&cfg.DevPercent, "dev-percent", 20, "share of the pairs put in dev, in percent")
	flag.IntVar(&cfg.MaxRunes, "max-chars", 400, "passages are cut to about this many characters")
	flag.IntVar(&cfg.Parts, "parts", 4, "number of passage-collection part files")
	flag.Parse()
	if cfg.Src == "" || cfg.Out == "" || flag.NArg() > 0 {
		fmt.Fprintln(os.Stderr, "usage: democorpus -src <unpacked debs> -out <dir> [-seed N] [-dev-percent 20] [-max-chars 400] [-parts 4]")
		os.Exit(2)
	}
	st, err := build(cfg)
	if err != nil {
		fmt.Fprintln(os.Stderr, "democorpus:", err)
		os.Exit(1)
	}
	fmt.Print(st.summary())
}
