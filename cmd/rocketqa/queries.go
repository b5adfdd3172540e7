package main

import (
	"context"
	"fmt"
	"path/filepath"

	"github.com/rocketqa-go/rocketqa/dataset"
	"github.com/rocketqa-go/rocketqa/rocketqa"
)

// runQueries derives query ids and qrels from a dual.train.tsv, which in DuReader-retrieval has neither: what
// search (training queries), mine (--queries, --qrels) and WriteCrossTrain need.
func runQueries(ctx context.Context, args []string) error {
	c := newCmd("queries",
		"rocketqa queries --train dual.train.tsv --collection DIR --out-queries train.queries.tsv --out-qrels train.qrels.tsv",
		`DuReader-retrieval's dual.train.tsv has query and passage texts but no ids. This gives every distinct query an id
(q0, q1, ... in order of first appearance) and finds its positive passages in the collection by their text, writing a
"qid\tquery" file (for 'search' and 'mine --queries') and a "qid\tpid" qrels file (for 'mine --qrels').`,
		`rocketqa queries --train data/train/dual.train.tsv --collection data/passage-collection --out-queries q.tsv --out-qrels qrels.tsv`)
	train := c.fs.String("train", "", "dual.train.tsv (6 columns)")
	coll := c.fs.String("collection", "", "passage-collection directory (part-* + passage2id.map.json)")
	outQ := c.fs.String("out-queries", "", "qid\\tquery file to write")
	outR := c.fs.String("out-qrels", "", "qid\\tpid file to write")
	c.req("train", "collection", "out-queries", "out-qrels")
	if err := c.parse(args); err != nil {
		return err
	}
	if err := mustFile("train", *train); err != nil {
		return err
	}
	pool, err := dataset.LoadDuReaderCollection(*coll)
	if err != nil {
		return err
	}
	lq, missing, err := rocketqa.QueriesFromDualTrain(ctx, *train, pool)
	if err != nil {
		return err
	}
	qw, err := dataset.CreateIDText(*outQ)
	if err != nil {
		return err
	}
	rw, err := dataset.CreateQrels(*outR)
	if err != nil {
		qw.Abort()
		return err
	}
	npos := 0
	for _, q := range lq.QIDs {
		if err := qw.Write(dataset.IDText{ID: q, Text: lq.Text[q]}); err != nil {
			qw.Abort()
			rw.Abort()
			return err
		}
		for _, p := range lq.Positives[q] {
			npos++
			if err := rw.Write(dataset.Qrel{QID: q, PID: p, Rel: 1}); err != nil {
				qw.Abort()
				rw.Abort()
				return err
			}
		}
	}
	if err := qw.Close(); err != nil {
		rw.Abort()
		return err
	}
	if err := rw.Close(); err != nil {
		return err
	}
	fmt.Fprintf(stdout, "%d queries, %d positives (%s, %s)", len(lq.QIDs), npos, filepath.Base(*outQ), filepath.Base(*outR))
	if missing > 0 {
		fmt.Fprintf(stdout, "; %d lines whose positive is not in the collection", missing)
	}
	fmt.Fprintln(stdout)
	return nil
}
