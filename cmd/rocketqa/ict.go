package main

import (
	"context"
	"fmt"

	"github.com/rocketqa-go/rocketqa/dataset"
	"github.com/rocketqa-go/rocketqa/internal/cli"
	"github.com/rocketqa-go/rocketqa/pretrain"
)

// runICT writes Inverse Cloze Task pre-training lines from a passage collection (pretrain.WriteICT).
func runICT(ctx context.Context, args []string) error {
	c, o := helpCmd("ict"), pretrain.DefaultICTOptions()
	f := struct{ Collection, Out string }{}
	c.Bind(&f, cli.Flag{"collection", "Collection", "passage-collection directory (part-* + passage2id.map.json)"},
		cli.Flag{"out", "Out", "dual.train.tsv to write"})
	c.Bind(&o, cli.Flag{"per-passage", "PerPassage", "pseudo-queries drawn from each passage"},
		cli.Flag{"min-chars", "MinRunes", "shortest sentence used as a pseudo-query, in characters"},
		cli.Flag{"max-chars", "MaxRunes", "longest sentence used as a pseudo-query, in characters"},
		cli.Flag{"keep", "Keep", "probability that the sentence also stays in its passage"},
		cli.Flag{"seed", "Seed", "seed of the sentences and negatives drawn"})
	c.Require("collection", "out")
	c.Positive("per-passage", "min-chars", "max-chars")
	if err := c.parse(args); err != nil {
		return err
	}
	o.NoKeep = o.Keep == 0
	if err := o.Validate(); err != nil {
		return err
	}
	if err := cli.MustDir("--collection", f.Collection); err != nil {
		return err
	}
	pool, err := dataset.LoadDuReaderCollection(f.Collection)
	if err != nil {
		return err
	}
	st, err := pretrain.WriteICT(ctx, pool, f.Out, o)
	if err != nil {
		return err
	}
	fmt.Fprintf(stdout, "%s: %s\n", f.Out, st)
	return nil
}
