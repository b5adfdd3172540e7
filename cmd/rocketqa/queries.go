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
	c := helpCmd("queries")
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
	npos, err := lq.WriteFiles(*outQ, *outR)
	if err != nil {
		return err
	}
	fmt.Fprintf(stdout, "%d queries, %d positives (%s, %s)", len(lq.QIDs), npos, filepath.Base(*outQ), filepath.Base(*outR))
	if missing > 0 {
		fmt.Fprintf(stdout, "; %d lines whose positive is not in the collection", missing)
	}
	fmt.Fprintln(stdout)
	return nil
}
