package main

import (
	"context"
	"fmt"

	"github.com/rocketqa-go/rocketqa/dataset"
	"github.com/rocketqa-go/rocketqa/rocketqa/denoise"
)

// candidateInput loads what mine and augment share: the candidates (DE run + CE scores), the query texts and the
// passages the candidates (and extra pids) name.
func candidateInput(ctx context.Context, deRun, ceRun, queries, coll, titles string, extra map[string][]string) (denoise.MineInput, error) {
	var in denoise.MineInput
	for _, f := range [][2]string{{"--de-run", deRun}, {"--ce-run", ceRun}, {"--queries", queries}} {
		if err := mustFile(f[0], f[1]); err != nil {
			return in, err
		}
	}
	cands, qids, err := denoise.LoadCandidates(ctx, deRun, ceRun)
	if err != nil {
		return in, err
	}
	qs, texts, err := loadQueries(queries)
	if err != nil {
		return in, err
	}
	in.QIDs, in.Candidates, in.Queries = qids, cands, make(map[string]string, len(qs))
	for i, q := range qs {
		in.Queries[q] = texts[i]
	}
	need := map[string]bool{}
	for _, q := range qids {
		for _, c := range cands[q] {
			need[c.PID] = true
		}
		for _, p := range extra[q] {
			need[p] = true
		}
	}
	if in.Passages, err = loadPassages(coll, titles, need); err != nil {
		return in, err
	}
	return in, nil
}

func runMine(ctx context.Context, args []string) error {
	c := newCmd("mine",
		"rocketqa mine --de-run RUN.tsv --ce-run SCORED.tsv --queries FILE --qrels FILE --collection DIR|para.txt --out dual.train.tsv [flags]",
		`Step 3 of the RocketQA v1 pipeline: denoised hard negatives (the official construct_marco_train_de.py).

For every query of the dual-encoder run with positives, walk its candidates of ranks 1..--top-k in rank order and
keep those that are not positives (--qrels), not additional positives (--additional) and whose cross-encoder score is
below --threshold, up to --neg-per-pos per positive; if too few, fill with random picks from ranks
--fill-from..--fill-to (no CE filter). Write --neg-per-pos lines per positive: query, positive, negative.

Inputs: --de-run, the dual encoder's run of the training queries (from 'search', top 1000 in the paper);
--ce-run, the cross-encoder scores of its top ranks (from 'score'); --queries (q2qid json, dev.json or a
qid\tquery TSV); --qrels, the positives (qrels "qid\tpid" or a DuReader dev.json); --collection for the passage
texts (passage-collection directory, or a pid\tpassage file with --titles).
Output: --out, a dual.train.tsv (6 columns) for 'rocketqa train-de'. Counts go to stderr.`,
		`rocketqa mine --de-run train.top1000.tsv --ce-run train.ce50.tsv --queries marco/train.query.txt \
    --qrels marco/qrels.train.tsv --additional marco/qrels.train.addition.tsv \
    --collection marco/para.txt --titles marco/para.title.txt --out de1.tsv`)
	deRun := c.fs.String("de-run", "", "dual-encoder run (TSV)")
	ceRun := c.fs.String("ce-run", "", "cross-encoder scores of its top ranks (TSV from 'score')")
	queries := c.fs.String("queries", "", "query texts")
	qrels := c.fs.String("qrels", "", "positives: qrels TSV or dev.json")
	additional := c.fs.String("additional", "", "additional positives never used as negatives (qrels TSV)")
	coll := c.fs.String("collection", "", "passages: a passage-collection directory or a pid\\tpassage file")
	titles := c.fs.String("titles", "", "pid\\ttitle file for a pid\\tpassage --collection")
	out := c.fs.String("out", "", "dual.train.tsv to write")
	d := denoise.DefaultMineOptions()
	threshold := c.fs.Float64("threshold", d.Threshold, "a candidate is a negative when its CE score is below this")
	negPerPos := c.fs.Int("neg-per-pos", d.NegPerPos, "negatives (lines) per positive")
	topK := c.fs.Int("top-k", d.TopK, "deepest rank examined with the CE filter")
	fillFrom := c.fs.Int("fill-from", 0, "first rank of the random fill (default --top-k + 1)")
	fillTo := c.fs.Int("fill-to", d.FillTo, "last rank of the random fill")
	noFill := c.fs.Bool("no-fill", false, "no random fill: queries with too few CE negatives get fewer lines")
	seed := c.fs.Uint64("seed", d.Seed, "seed of the random fill")
	c.req("de-run", "ce-run", "queries", "qrels", "collection", "out")
	if err := c.parse(args); err != nil {
		return err
	}
	switch {
	case *threshold == 0:
		return usagef("--threshold 0 is not supported (a zero option takes the default); use e.g. 1e-9")
	case *negPerPos <= 0 || *topK <= 0 || *fillTo <= 0 || *fillFrom < 0:
		return usagef("--neg-per-pos, --top-k and --fill-to must be positive, --fill-from not negative")
	}
	if !*noFill {
		from := *fillFrom
		if from == 0 {
			from = *topK + 1
		}
		switch {
		case from <= *topK:
			return usagef("--fill-from %d must be above --top-k %d (the random fill must not take ranks the CE filter examined); raise --fill-from or lower --top-k", from, *topK)
		case *fillTo < from:
			what := fmt.Sprintf("--fill-from %d", from)
			if *fillFrom == 0 {
				what = fmt.Sprintf("--fill-from (default --top-k + 1 = %d)", from)
			}
			return usagef("--fill-to %d is below %s; raise --fill-to, or give --no-fill", *fillTo, what)
		}
	}
	if err := mustFile("--qrels", *qrels); err != nil {
		return err
	}
	pos, err := loadPositives(*qrels)
	if err != nil {
		return err
	}
	var add map[string][]string
	if *additional != "" {
		if err := mustFile("--additional", *additional); err != nil {
			return err
		}
		if add, err = loadPositives(*additional); err != nil {
			return err
		}
	}
	in, err := candidateInput(ctx, *deRun, *ceRun, *queries, *coll, *titles, pos)
	if err != nil {
		return err
	}
	in.Positives, in.Additional = pos, add
	o := denoise.MineOptions{Threshold: *threshold, NegPerPos: *negPerPos, TopK: *topK, FillFrom: *fillFrom, FillTo: *fillTo, Seed: *seed}
	if *noFill {
		o.FillFrom = -1
	}
	st, err := denoise.Mine(ctx, in, o, *out)
	if err != nil {
		return err
	}
	logf("mine", "%s", st)
	fmt.Fprintf(stdout, "%s\t%d lines\n", *out, st.Lines)
	return nil
}

func runAugment(ctx context.Context, args []string) error {
	c := newCmd("augment",
		"rocketqa augment --de-run RUN.tsv --ce-run SCORED.tsv --queries FILE --collection DIR|para.txt --out unlabel.tsv [flags]",
		`Step 4 of the RocketQA v1 pipeline: pseudo-labelled training lines for unlabelled queries (the official
construct_unlabel_train_de.py).

For every query of the dual-encoder run: the pseudo-positive is its single highest-CE-scoring passage of the top
--top-k if that score is above --pos-threshold; the negatives are the top --top-k passages scored below
--neg-threshold, in rank order, up to --neg-count. One line per negative: query, pseudo-positive, negative.
Queries without a pseudo-positive or a negative give no line.

Inputs: --de-run (from 'search'), --ce-run (from 'score'), --queries, --collection (as for 'mine').
Output: --out, a dual.train.tsv; join it to the step-3 file with 'rocketqa merge'. Counts go to stderr.`,
		`rocketqa augment --de-run unlabel.top50.tsv --ce-run unlabel.ce50.tsv --queries orcas_yahoo_nq.query.txt \
    --collection marco/para.txt --titles marco/para.title.txt --out unlabel.tsv`)
	deRun := c.fs.String("de-run", "", "dual-encoder run (TSV)")
	ceRun := c.fs.String("ce-run", "", "cross-encoder scores of its top ranks (TSV from 'score')")
	queries := c.fs.String("queries", "", "query texts")
	coll := c.fs.String("collection", "", "passages: a passage-collection directory or a pid\\tpassage file")
	titles := c.fs.String("titles", "", "pid\\ttitle file for a pid\\tpassage --collection")
	out := c.fs.String("out", "", "dual.train.tsv to write")
	d := denoise.DefaultAugmentOptions()
	posT := c.fs.Float64("pos-threshold", d.PosThreshold, "CE score a pseudo-positive must exceed")
	negT := c.fs.Float64("neg-threshold", d.NegThreshold, "CE score a negative must be below")
	negCount := c.fs.Int("neg-count", d.NegCount, "negatives (lines) per query (MS MARCO 4, NQ 1)")
	topK := c.fs.Int("top-k", d.TopK, "deepest rank examined")
	c.req("de-run", "ce-run", "queries", "collection", "out")
	if err := c.parse(args); err != nil {
		return err
	}
	switch {
	case *posT == 0 || *negT == 0:
		return usagef("--pos-threshold / --neg-threshold 0 is not supported (a zero option takes the default)")
	case *posT < *negT:
		return usagef("--pos-threshold %g is below --neg-threshold %g", *posT, *negT)
	case *negCount <= 0 || *topK <= 0:
		return usagef("--neg-count and --top-k must be positive")
	}
	in, err := candidateInput(ctx, *deRun, *ceRun, *queries, *coll, *titles, nil)
	if err != nil {
		return err
	}
	st, err := denoise.Augment(ctx, in, denoise.AugmentOptions{PosThreshold: *posT, NegThreshold: *negT, NegCount: *negCount, TopK: *topK}, *out)
	if err != nil {
		return err
	}
	logf("augment", "%s", st)
	fmt.Fprintf(stdout, "%s\t%d lines\n", *out, st.Lines)
	return nil
}

func runMerge(ctx context.Context, args []string) error {
	c := newCmd("merge",
		"rocketqa merge --out merged.tsv IN.tsv [IN.tsv...]",
		`Concatenates dual.train.tsv files in the order given (the official "cat de1 unlabel > de2" that makes the
training file of M_D(2)). Every line is checked (6 columns, non-empty query and passages, integer label); a bad line
stops with its file and line and leaves no output. --out may be one of the inputs.`,
		`rocketqa merge --out de2.tsv de1.tsv unlabel.tsv`)
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
	for _, f := range ins {
		if err := mustFile("input", f); err != nil {
			return err
		}
	}
	if err := denoise.Merge(ctx, *out, ins...); err != nil {
		return err
	}
	n, err := countLines(*out)
	if err != nil {
		return err
	}
	fmt.Fprintf(stdout, "%s\t%d lines\n", *out, n)
	return nil
}

func countLines(path string) (int, error) {
	r, err := dataset.OpenDualTrain(path)
	if err != nil {
		return 0, err
	}
	defer r.Close()
	n := 0
	for r.Next() {
		n++
	}
	return n, r.Err()
}
