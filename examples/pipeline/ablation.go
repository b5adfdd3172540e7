package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"math"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/rocketqa-go/rocketqa/dataset"
	"github.com/rocketqa-go/rocketqa/eval"
	"github.com/rocketqa-go/rocketqa/examples/internal/demo"
	"github.com/rocketqa-go/rocketqa/rocketqa"
	"github.com/rocketqa-go/rocketqa/rocketqa/denoise"
)

// counts are the figures that explain each step of one pipeline run.
type counts struct {
	mine, augment denoise.Stats
	// ceBefore / ceAfter: dev metrics of M_D(0)'s top 50 as retrieved and as re-ranked by the cross-encoder
	ceBefore, ceAfter eval.Metrics
	// extra holds the rows of the ablations beside the pipeline (twice the batch at equal steps)
	extra []demo.Row
}

func writeStats(path string, st denoise.Stats) error {
	b, err := json.Marshal(st)
	if err != nil {
		return err
	}
	return dataset.WriteFileAtomic(path, func(w *dataset.AtomicFile) error { _, err := w.Write(b); return err })
}

func readStats(path string, st *denoise.Stats) error {
	b, err := os.ReadFile(path)
	if errors.Is(err, os.ErrNotExist) {
		return nil // a work directory of an older version: the counts are unknown
	}
	if err != nil {
		return err
	}
	if err := json.Unmarshal(b, st); err != nil {
		return fmt.Errorf("%s: %w", path, err)
	}
	return nil
}

// pretrain runs (or reuses) the small preset's pre-training on the collection (r.p.pretrain) and returns the model
// directory every model starts from.
func (r *runner) pretrain(ctx context.Context, vocabSize int, vocab string) (string, error) {
	dir := r.pretrainDir
	if dir == "" {
		dir = r.path(pretrainDirName(r.p.pretrain))
	}
	if err := checkSettings(dir, "-pretrain-dir", r.pretrainSettings()); err != nil {
		return "", err
	}
	mlm := func(dir string) (string, error) {
		o := demo.DefaultPretrain()
		o.Dir, o.Passages, o.Vocab, o.VocabSize, o.Device = dir, r.collection, vocab, vocabSize, r.dev
		o.Steps, o.Batch, o.MaxLen, o.LR = r.p.pretrainSteps, r.p.pretrainBatch, r.p.pretrainLen, r.p.pretrainLR
		return demo.Pretrain(ctx, o)
	}
	ict := func(dir, init string) (string, error) {
		o := demo.DefaultICT()
		o.Dir, o.Passages, o.Vocab, o.VocabSize, o.Device, o.Init = dir, r.collection, vocab, vocabSize, r.dev, init
		o.QLen, o.PLen, o.Batch, o.Layers, o.InitStd = r.p.qLen, r.p.pLen, r.p.deBatch, r.p.layers, r.p.initStd
		return demo.PretrainICT(ctx, o)
	}
	switch r.p.pretrain {
	case "mlm":
		return mlm(dir)
	case "ict":
		return ict(dir, "")
	case "mlm+ict":
		m, err := mlm(filepath.Join(dir, "mlm"))
		if err != nil {
			return "", err
		}
		return ict(dir, m)
	}
	return "", fmt.Errorf("pipeline: unknown pre-training %q", r.p.pretrain)
}

// pretrainDirName is the default cache directory of a pre-training under OUT.
func pretrainDirName(objective string) string {
	return strings.ReplaceAll(objective, "+", "-")
}

// pretrainName describes a pre-training in the tables.
func pretrainName(objective string) string {
	switch objective {
	case "mlm":
		return "pre-trained (masked LM on the collection)"
	case "ict":
		return "pre-trained (ICT on the collection)"
	}
	return "pre-trained (masked LM, then ICT on the collection)"
}

// rerankDev scores M_D(0)'s dev top 50 (written by evaluate) with the cross-encoder and evaluates both rankings.
func (r *runner) rerankDev(ctx context.Context, ce, md0 string) error {
	runPath := filepath.Join(filepath.Dir(md0), "dev", "dev.run.tsv")
	qids, hits, err := dataset.ReadRun(runPath, 0)
	if err != nil {
		return err
	}
	qs, err := dataset.ReadQ2QID(filepath.Join(r.data, "dev", "q2qid.dev.json"))
	if err != nil {
		return err
	}
	text := map[string]string{}
	for _, q := range qs {
		text[q.QID] = q.Query
	}
	texts := make([]string, len(qids))
	for i, q := range qids {
		texts[i] = text[q]
	}
	out := r.path("ce", "dev.ce50.tsv")
	if err := r.scoreRun(ctx, ce, out, qids, texts, hits, r.collection); err != nil {
		return err
	}
	_, scored, err := dataset.ReadRun(out, 0)
	if err != nil {
		return err
	}
	ref, err := eval.LoadDuReaderReference(filepath.Join(r.data, "dev", "dev.json"))
	if err != nil {
		return err
	}
	if r.counts.ceBefore, err = eval.DuReader(rocketqa.RunFromHits(qids, hits), ref); err != nil {
		return err
	}
	if r.counts.ceAfter, err = eval.DuReader(rocketqa.RunFromHits(qids, scored), ref); err != nil {
		return err
	}
	slog.Info("dev re-ranking of M_D(0) top 50", "MRR@10 before", r.counts.ceBefore.MRR10, "after", r.counts.ceAfter.MRR10)
	return nil
}

// batchAblation trains M_D(0) again with twice the batch for the same number of steps: each query then sees twice
// as many in-batch negatives, exactly what cross-batch negatives over 2 processes of the preset's batch give (the
// loss over a gathered batch is the single-process loss over the whole batch).
func (r *runner) batchAblation(ctx context.Context, de0 string) error {
	ex, err := rocketqa.ReadDualExamples(ctx, de0)
	if err != nil {
		return err
	}
	steps := r.p.deEpochs * (len(ex) / r.p.deBatch)
	model, err := r.trainDEWith(ctx, "md0-batch2x", de0, 1, 2*r.p.deBatch, steps)
	if err != nil {
		return err
	}
	n := len(r.rows)
	if err := r.evaluate(ctx, fmt.Sprintf("M_D(0) batch %d (2 x %d cross-batch)", 2*r.p.deBatch, r.p.deBatch), model); err != nil {
		return err
	}
	r.counts.extra = append(r.counts.extra, r.rows[n])
	r.rows = r.rows[:n]
	return nil
}

func (r *runner) printCounts(w io.Writer) {
	c := r.counts
	for _, row := range c.extra {
		fmt.Fprintf(w, "%-34s %8.2f %8.2f %8.2f  (ablation)\n", row.Name, 100*row.M.MRR10, 100*row.M.Recall1, 100*row.M.Recall50)
	}
	fmt.Fprintf(w, "cross-encoder on dev, M_D(0) top 50: MRR@10 %.2f -> %.2f re-ranked\n", 100*c.ceBefore.MRR10, 100*c.ceAfter.MRR10)
	fmt.Fprintf(w, "step 3: %d denoised hard negatives (CE < 0.1), %d filled at random, %d of %d queries needed the fill\n",
		c.mine.CENegatives, c.mine.FilledNegatives, c.mine.FilledQueries, c.mine.Queries)
	fmt.Fprintf(w, "step 4: %d pseudo-positives (CE > 0.9) of %d unlabelled queries, %d negatives\n",
		c.augment.Positives, c.augment.Queries, c.augment.CENegatives)
}

func parseSeeds(s string) ([]uint64, error) {
	var out []uint64
	for _, f := range strings.Split(s, ",") {
		v, err := strconv.ParseUint(strings.TrimSpace(f), 10, 64)
		if err != nil || v == 0 {
			return nil, fmt.Errorf("%q is not a positive integer", f)
		}
		out = append(out, v)
	}
	return out, nil
}

// runSeeds runs the pipeline once per seed (and, with scratch, once more per seed without pre-training) and prints
// mean and spread of every figure. With one seed and no scratch it is the plain pipeline in base.out.
func runSeeds(ctx context.Context, base runner, seeds []uint64, scratch bool) error {
	start := time.Now()
	if len(seeds) == 1 && !scratch {
		r := base
		r.seed = seeds[0]
		return r.run(ctx)
	}
	if base.pretrainDir == "" && base.p.pretrain != "" {
		base.pretrainDir = filepath.Join(base.out, pretrainDirName(base.p.pretrain))
	}
	variants := []bool{false}
	if scratch && base.p.pretrain != "" {
		variants = append(variants, true)
	}
	type result struct {
		name string
		runs []*runner
	}
	var results []result
	for _, noPT := range variants {
		res := result{name: pretrainName(base.p.pretrain)}
		if base.p.pretrain == "" {
			res.name = "from the given init"
			if base.init == "" {
				res.name = "from random weights"
			}
		}
		if noPT {
			res.name = "from random weights (no pre-training)"
		}
		for _, seed := range seeds {
			r := base
			r.seed, r.noPretrain, r.rows = seed, noPT, nil
			sub := fmt.Sprintf("seed-%d", seed)
			if noPT {
				sub = "scratch-" + sub
			}
			r.out = filepath.Join(base.out, sub)
			t0 := time.Now()
			if err := r.run(ctx); err != nil {
				return err
			}
			slog.Info("run done", "variant", res.name, "seed", seed, "time", time.Since(t0).Round(time.Second))
			res.runs = append(res.runs, &r)
		}
		results = append(results, res)
	}
	fmt.Printf("\nRocketQA v1 pipeline on %s, %d seeds (%v): mean ± sample standard deviation [min, max], percent\n", base.data, len(seeds), seeds)
	for _, res := range results {
		fmt.Printf("\n%s\n", res.name)
		printAggregate(os.Stdout, res.runs)
	}
	fmt.Printf("\nwall time %s\n", time.Since(start).Round(time.Second))
	return nil
}

type series struct {
	name string
	vals [][3]float64 // MRR@10, R@1, R@50 per run
}

func printAggregate(w io.Writer, runs []*runner) {
	var rows []series
	add := func(i int, name string, m eval.Metrics) {
		for len(rows) <= i {
			rows = append(rows, series{})
		}
		rows[i].name = name
		rows[i].vals = append(rows[i].vals, [3]float64{100 * m.MRR10, 100 * m.Recall1, 100 * m.Recall50})
	}
	var ceB, ceA, negs, filled, pseudo []float64
	for _, r := range runs {
		i := 0
		for _, row := range r.rows {
			add(i, row.Name, row.M)
			i++
			if strings.HasPrefix(row.Name, "M_D(0)") {
				for _, e := range r.counts.extra {
					add(i, e.Name, e.M)
					i++
				}
				add(i, "M_C re-ranks M_D(0) top 50", r.counts.ceAfter)
				i++
			}
		}
		ceB = append(ceB, 100*r.counts.ceBefore.MRR10)
		ceA = append(ceA, 100*r.counts.ceAfter.MRR10)
		negs = append(negs, float64(r.counts.mine.CENegatives))
		filled = append(filled, float64(r.counts.mine.FilledNegatives))
		pseudo = append(pseudo, float64(r.counts.augment.Positives))
	}
	// the last column pairs each run with its own M_D(0) (the first row): same seed, same pre-training, so the
	// difference is freer of the seed's noise than two means are
	width := 36 // the model column fits the longest name
	for _, s := range rows {
		width = max(width, utf8.RuneCountInString(s.name))
	}
	fmt.Fprintf(w, "%-*s %-26s %-26s %-26s %s\n", width, "model", "MRR@10", "R@1", "R@50", "MRR@10 - M_D(0), paired")
	for i, s := range rows {
		fmt.Fprintf(w, "%-*s", width, s.name)
		for k := 0; k < 3; k++ {
			v := make([]float64, len(s.vals))
			for j := range s.vals {
				v[j] = s.vals[j][k]
			}
			fmt.Fprintf(w, " %-26s", meanSpread(v))
		}
		if i > 0 && len(s.vals) == len(rows[0].vals) {
			d := make([]float64, len(s.vals))
			for j := range s.vals {
				d[j] = s.vals[j][0] - rows[0].vals[j][0]
			}
			fmt.Fprintf(w, " %s", meanSpread(d))
		}
		fmt.Fprintln(w)
	}
	fmt.Fprintf(w, "cross-encoder, dev MRR@10 of M_D(0) top 50: %s -> %s re-ranked\n", meanSpread(ceB), meanSpread(ceA))
	fmt.Fprintf(w, "denoised hard negatives (step 3): %s; filled at random: %s; pseudo-positives (step 4): %s\n",
		meanSpread(negs), meanSpread(filled), meanSpread(pseudo))
}

// meanSpread formats mean ± sample standard deviation [min, max].
func meanSpread(v []float64) string {
	if len(v) == 0 {
		return "-"
	}
	mean, lo, hi := 0.0, math.Inf(1), math.Inf(-1)
	for _, x := range v {
		mean += x
		lo, hi = math.Min(lo, x), math.Max(hi, x)
	}
	mean /= float64(len(v))
	sd := 0.0
	for _, x := range v {
		sd += (x - mean) * (x - mean)
	}
	if len(v) > 1 {
		sd = math.Sqrt(sd / float64(len(v)-1))
	}
	return fmt.Sprintf("%.2f±%.2f [%.2f,%.2f]", mean, sd, lo, hi)
}
