package main

import (
	"context"
	"fmt"

	"github.com/rocketqa-go/rocketqa/dataset"
	"github.com/rocketqa-go/rocketqa/internal/cli"
	"github.com/rocketqa-go/rocketqa/rocketqa/denoise"
)

// candidateFlags are the inputs of mine, augment and lists (denoise.Files), with the positives of labelled queries
// (fields Qrels, Additional of the bound struct) when labelled.
func candidateFlags(labelled bool) []cli.Flag {
	f := []cli.Flag{{"de-run", "DERun", "dual-encoder run (TSV)"}, {"ce-run", "CERun", "cross-encoder scores of its top ranks (TSV from 'score')"},
		{"queries", "Queries", "query texts"}, {"collection", "Collection", "passages: a passage-collection directory or a pid\\tpassage file"},
		{"titles", "Titles", "pid\\ttitle file for a pid\\tpassage --collection"}}
	if labelled {
		f = append(f, cli.Flag{"qrels", "Qrels", "positives: qrels TSV or dev.json"},
			cli.Flag{"additional", "Additional", "additional positives never used as negatives (qrels TSV)"})
	}
	return f
}

// candidates is what the flags of candidateFlags set.
type candidates struct {
	denoise.Files
	Qrels, Additional, Out string
	NoFill                 bool
}

func runMine(ctx context.Context, args []string) error {
	c, in, o := helpCmd("mine"), candidates{}, denoise.DefaultMineOptions()
	o.FillFrom = 0 // the default: TopK + 1
	c.Bind(&in, append(candidateFlags(true), cli.Flag{"out", "Out", "dual.train.tsv to write"},
		cli.Flag{"no-fill", "NoFill", "no random fill: queries with too few CE negatives get fewer lines"})...)
	c.Bind(&o, cli.Flag{"threshold", "Threshold", "a candidate is a negative when its CE score is below this"},
		cli.Flag{"neg-per-pos", "NegPerPos", "negatives (lines) per positive"}, cli.Flag{"top-k", "TopK", "deepest rank examined with the CE filter"},
		cli.Flag{"fill-from", "FillFrom", "first rank of the random fill (default --top-k + 1)"},
		cli.Flag{"fill-to", "FillTo", "last rank of the random fill"}, cli.Flag{"seed", "Seed", "seed of the random fill and of --sample"},
		cli.Flag{"sample", "Sample", "draw the CE negatives at random from the filtered top K (default: the first in rank order, as the official scripts)"})
	c.Require("de-run", "ce-run", "queries", "qrels", "collection", "out")
	c.Positive("neg-per-pos", "top-k", "fill-to")
	c.NonNegative("fill-from")
	if err := c.parse(args); err != nil {
		return err
	}
	if o.Threshold == 0 {
		return usagef("--threshold 0 is not supported (a zero option takes the default); use e.g. 1e-9")
	}
	if in.NoFill {
		o.FillFrom = -1
	}
	if err := o.Validate(); err != nil {
		return err
	}
	mi, err := denoise.LoadLabelled(ctx, in.Files, in.Qrels, in.Additional)
	if err != nil {
		return err
	}
	st, err := denoise.Mine(ctx, mi, o, in.Out)
	return denoised("mine", in.Out, st.Lines, st, err)
}

// denoised reports the outcome of mine or augment: the counts on stderr, the file and its lines on stdout.
func denoised(name, out string, lines int, st fmt.Stringer, err error) error {
	if err != nil {
		return err
	}
	logf(name, "%s", st)
	fmt.Fprintf(stdout, "%s\t%d lines\n", out, lines)
	return nil
}

func runAugment(ctx context.Context, args []string) error {
	c, in, o := helpCmd("augment"), candidates{}, denoise.DefaultAugmentOptions()
	c.Bind(&in, append(candidateFlags(false), cli.Flag{"out", "Out", "dual.train.tsv to write"})...)
	c.Bind(&o, cli.Flag{"pos-threshold", "PosThreshold", "CE score a pseudo-positive must exceed"},
		cli.Flag{"neg-threshold", "NegThreshold", "CE score a negative must be below"},
		cli.Flag{"neg-count", "NegCount", "negatives (lines) per query (MS MARCO 4, NQ 1)"}, cli.Flag{"top-k", "TopK", "deepest rank examined"})
	c.Require("de-run", "ce-run", "queries", "collection", "out")
	c.Positive("neg-count", "top-k")
	if err := c.parse(args); err != nil {
		return err
	}
	if o.PosThreshold == 0 || o.NegThreshold == 0 {
		return usagef("--pos-threshold / --neg-threshold 0 is not supported (a zero option takes the default)")
	}
	if err := cli.FirstErr(o.Validate(), in.Files.Validate()); err != nil {
		return err
	}
	ai, err := denoise.LoadInput(ctx, in.Files, nil)
	if err != nil {
		return err
	}
	st, err := denoise.Augment(ctx, ai, o, in.Out)
	return denoised("augment", in.Out, st.Lines, st, err)
}

func runMerge(ctx context.Context, args []string) error {
	c := helpCmd("merge")
	c.PosArgs = "IN.tsv..."
	out := c.FS.String("out", "", "merged dual.train.tsv to write")
	c.Require("out")
	if err := c.parse(args); err != nil {
		return err
	}
	ins := c.FS.Args()
	if len(ins) == 0 {
		return usagef("no input files (give them after the flags)")
	}
	if err := cli.MustFile("input", ins...); err != nil {
		return err
	}
	if err := denoise.Merge(ctx, *out, ins...); err != nil {
		return err
	}
	n, err := dataset.CountLines(*out)
	if err != nil {
		return err
	}
	fmt.Fprintf(stdout, "%s\t%d lines\n", *out, n)
	return nil
}
