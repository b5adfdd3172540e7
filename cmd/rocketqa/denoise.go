package main

import (
	"context"
	"fmt"

	"github.com/rocketqa-go/rocketqa/dataset"
	"github.com/rocketqa-go/rocketqa/rocketqa/denoise"
)

// addCandidates declares the inputs mine and augment share.
func addCandidates(c *cmd) *denoise.Files {
	f := &denoise.Files{}
	c.fs.StringVar(&f.DERun, "de-run", "", "dual-encoder run (TSV)")
	c.fs.StringVar(&f.CERun, "ce-run", "", "cross-encoder scores of its top ranks (TSV from 'score')")
	c.fs.StringVar(&f.Queries, "queries", "", "query texts")
	return f
}

func addPassages(c *cmd, f *denoise.Files) *string {
	c.fs.StringVar(&f.Collection, "collection", "", "passages: a passage-collection directory or a pid\\tpassage file")
	c.fs.StringVar(&f.Titles, "titles", "", "pid\\ttitle file for a pid\\tpassage --collection")
	return c.fs.String("out", "", "dual.train.tsv to write")
}

func checkCandidates(f *denoise.Files) error {
	return firstErr(mustFile("--de-run", f.DERun), mustFile("--ce-run", f.CERun), mustFile("--queries", f.Queries))
}

// checkFill refuses a random-fill range that overlaps the ranks the CE filter examined, naming the flags.
func checkFill(topK, fillFrom, fillTo int) error {
	from, what := fillFrom, fmt.Sprintf("--fill-from %d", fillFrom)
	if from == 0 {
		from, what = topK+1, fmt.Sprintf("--fill-from (default --top-k + 1 = %d)", topK+1)
	}
	return check(from > topK, fmt.Sprintf("--fill-from %d must be above --top-k %d (the random fill must not take ranks the CE filter examined); raise --fill-from or lower --top-k", from, topK),
		fillTo >= from, fmt.Sprintf("--fill-to %d is below %s; raise --fill-to, or give --no-fill", fillTo, what))
}

func runMine(ctx context.Context, args []string) error {
	c := helpCmd("mine")
	f := addCandidates(c)
	qrels := c.fs.String("qrels", "", "positives: qrels TSV or dev.json")
	additional := c.fs.String("additional", "", "additional positives never used as negatives (qrels TSV)")
	out := addPassages(c, f)
	o := denoise.DefaultMineOptions()
	c.fs.Float64Var(&o.Threshold, "threshold", o.Threshold, "a candidate is a negative when its CE score is below this")
	c.fs.IntVar(&o.NegPerPos, "neg-per-pos", o.NegPerPos, "negatives (lines) per positive")
	c.fs.IntVar(&o.TopK, "top-k", o.TopK, "deepest rank examined with the CE filter")
	c.fs.IntVar(&o.FillFrom, "fill-from", 0, "first rank of the random fill (default --top-k + 1)")
	c.fs.IntVar(&o.FillTo, "fill-to", o.FillTo, "last rank of the random fill")
	noFill := c.fs.Bool("no-fill", false, "no random fill: queries with too few CE negatives get fewer lines")
	c.fs.Uint64Var(&o.Seed, "seed", o.Seed, "seed of the random fill")
	c.req("de-run", "ce-run", "queries", "qrels", "collection", "out")
	if err := c.parse(args); err != nil {
		return err
	}
	if err := check(o.Threshold != 0, "--threshold 0 is not supported (a zero option takes the default); use e.g. 1e-9",
		o.NegPerPos > 0 && o.TopK > 0 && o.FillTo > 0 && o.FillFrom >= 0, "--neg-per-pos, --top-k and --fill-to must be positive, --fill-from not negative"); err != nil {
		return err
	}
	if !*noFill {
		if err := checkFill(o.TopK, o.FillFrom, o.FillTo); err != nil {
			return err
		}
	} else {
		o.FillFrom = -1
	}
	if err := firstErr(mustFile("--qrels", *qrels), checkCandidates(f)); err != nil {
		return err
	}
	pos, err := dataset.ReadPositives(*qrels)
	if err != nil {
		return err
	}
	var add map[string][]string
	if *additional != "" {
		if err := mustFile("--additional", *additional); err != nil {
			return err
		}
		if add, err = dataset.ReadPositives(*additional); err != nil {
			return err
		}
	}
	in, err := denoise.LoadInput(ctx, *f, pos)
	if err != nil {
		return err
	}
	in.Positives, in.Additional = pos, add
	st, err := denoise.Mine(ctx, in, o, *out)
	return denoised("mine", *out, st.Lines, st, err)
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
	c := helpCmd("augment")
	f := addCandidates(c)
	out := addPassages(c, f)
	o := denoise.DefaultAugmentOptions()
	c.fs.Float64Var(&o.PosThreshold, "pos-threshold", o.PosThreshold, "CE score a pseudo-positive must exceed")
	c.fs.Float64Var(&o.NegThreshold, "neg-threshold", o.NegThreshold, "CE score a negative must be below")
	c.fs.IntVar(&o.NegCount, "neg-count", o.NegCount, "negatives (lines) per query (MS MARCO 4, NQ 1)")
	c.fs.IntVar(&o.TopK, "top-k", o.TopK, "deepest rank examined")
	c.req("de-run", "ce-run", "queries", "collection", "out")
	if err := c.parse(args); err != nil {
		return err
	}
	if err := check(o.PosThreshold != 0 && o.NegThreshold != 0, "--pos-threshold / --neg-threshold 0 is not supported (a zero option takes the default)",
		o.PosThreshold >= o.NegThreshold, fmt.Sprintf("--pos-threshold %g is below --neg-threshold %g", o.PosThreshold, o.NegThreshold),
		o.NegCount > 0 && o.TopK > 0, "--neg-count and --top-k must be positive"); err != nil {
		return err
	}
	if err := checkCandidates(f); err != nil {
		return err
	}
	in, err := denoise.LoadInput(ctx, *f, nil)
	if err != nil {
		return err
	}
	st, err := denoise.Augment(ctx, in, o, *out)
	return denoised("augment", *out, st.Lines, st, err)
}

func runMerge(ctx context.Context, args []string) error {
	c := helpCmd("merge")
	c.posArgs = "IN.tsv..."
	out := c.fs.String("out", "", "merged dual.train.tsv to write")
	c.req("out")
	if err := c.parse(args); err != nil {
		return err
	}
	ins := c.fs.Args()
	if len(ins) == 0 {
		return usagef("no input files (give them after the flags)")
	}
	if err := mustFile("input", ins...); err != nil {
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
