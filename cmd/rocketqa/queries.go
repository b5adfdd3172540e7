package main

import (
	"context"
	"fmt"
	"path/filepath"

	"github.com/rocketqa-go/rocketqa/dataset"
	"github.com/rocketqa-go/rocketqa/fielderr"
	"github.com/rocketqa-go/rocketqa/internal/cli"
	"github.com/rocketqa-go/rocketqa/rocketqa"
)

// runQueries derives query ids and qrels from a dual.train.tsv, which in DuReader-retrieval has neither: what
// search (training queries), mine (--queries, --qrels) and WriteCrossTrain need.
func runQueries(ctx context.Context, args []string) error {
	c := helpCmd("queries")
	f := struct{ Train, Collection, OutQueries, OutQrels string }{}
	c.Bind(&f, cli.Flag{"train", "Train", "dual.train.tsv (6 columns)"},
		cli.Flag{"collection", "Collection", "passage-collection directory (part-* + passage2id.map.json)"},
		cli.Flag{"out-queries", "OutQueries", "qid\\tquery file to write"}, cli.Flag{"out-qrels", "OutQrels", "qid\\tpid file to write"})
	c.Require("train", "collection", "out-queries", "out-qrels")
	if err := c.parse(args); err != nil {
		return err
	}
	if err := cli.FirstErr(cli.MustFile("--train", f.Train), fielderr.Distinct("rocketqa", "OutQueries", f.OutQueries, "OutQrels", f.OutQrels)); err != nil {
		return err
	}
	pool, err := dataset.LoadDuReaderCollection(f.Collection)
	if err != nil {
		return err
	}
	lq, missing, err := rocketqa.QueriesFromDualTrain(ctx, f.Train, pool)
	if err != nil {
		return err
	}
	npos, err := lq.WriteFiles(f.OutQueries, f.OutQrels)
	if err != nil {
		return err
	}
	fmt.Fprintf(stdout, "%d queries, %d positives (%s, %s)", len(lq.QIDs), npos, filepath.Base(f.OutQueries), filepath.Base(f.OutQrels))
	if missing > 0 {
		fmt.Fprintf(stdout, "; %d lines whose positive is not in the collection", missing)
	}
	fmt.Fprintln(stdout)
	return nil
}
