// Command ceprobe trains a small RocketQA v1 cross-encoder on a cross.train.tsv and measures whether it learns:
// AUC on its own training pairs, the score range, and the dev MRR@10 of a dual encoder's top 50 re-ranked by it.
// It is a diagnostic for the demo corpus (examples/pipeline writes the files it reads).
package main

import (
	"context"
	"flag"
	"fmt"
	"log"
	"os"
	"path/filepath"
	"sort"

	"github.com/rocketqa-go/rocketqa/dataset"
	"github.com/rocketqa-go/rocketqa/eval"
	"github.com/rocketqa-go/rocketqa/rocketqa"
	"github.com/rocketqa-go/rocketqa/train"
)

func main() {
	trainFile := flag.String("train", "", "cross.train.tsv")
	initDir := flag.String("init", "", "init dir (MLM or dual encoder); empty: -config/-vocab random init")
	config := flag.String("config", "", "config.json for random init")
	vocab := flag.String("vocab", "", "vocab.txt for random init")
	devRun := flag.String("devrun", "", "M_D(0) dev.run.tsv")
	data := flag.String("data", "/work/main/data/demo", "demo corpus")
	out := flag.String("out", "", "output dir")
	epochs := flag.Int("epochs", 4, "epochs")
	bs := flag.Int("bs", 32, "batch")
	lr := flag.Float64("lr", 5e-4, "lr")
	warm := flag.Float64("warmup", 0, "warmup proportion")
	sched := flag.String("sched", "constant", "constant or linear")
	plen := flag.Int("len", 96, "pair length")
	perturb := flag.Bool("perturb", false, "embedding perturbation")
	seed := flag.Uint64("seed", 1, "seed")
	dump := flag.String("dump", "", "write the re-ranked dev run (qid, pid, rank, score) here")
	model := flag.String("model", "", "evaluate this trained cross-encoder instead of training one")
	match := flag.Bool("match-types", false, "exact-match token types (rocketqa.CrossConfig.MatchTypes)")
	flag.Parse()
	ctx := context.Background()
	s := train.Constant
	if *sched == "linear" {
		s = train.Linear
	}
	c := rocketqa.CrossConfig{InitSpec: rocketqa.InitSpec{Init: *initDir, Config: *config, Vocab: *vocab}, TrainFile: *trainFile, MatchTypes: *match,
		MaxSeqLen: *plen, ForCN: true, Perturb: *perturb,
		Train: train.Options{OutDir: *out, Epochs: *epochs, BatchSize: *bs, LR: *lr, WeightDecay: 0.01, WarmupProportion: *warm,
			Schedule: s, Seed: *seed, LogEvery: 50, NoResume: true}}
	final := *model
	if final == "" {
		res, err := rocketqa.TrainCross(ctx, c)
		if err != nil {
			log.Fatal(err)
		}
		final = res.FinalDir
	}
	m, err := rocketqa.Load(final, rocketqa.LoadOptions{BatchSize: 64})
	if err != nil {
		log.Fatal(err)
	}
	defer m.Close()
	exs, err := rocketqa.ReadCrossExamples(ctx, *trainFile)
	if err != nil {
		log.Fatal(err)
	}
	var qs, ts, ps []string
	for _, e := range exs {
		qs, ts, ps = append(qs, e.Query), append(ts, e.Title), append(ps, e.Para)
	}
	sc, err := m.Reranker().Score(ctx, qs, ts, ps)
	if err != nil {
		log.Fatal(err)
	}
	labels := make([]int, len(exs))
	for i, e := range exs {
		labels[i] = e.Label
	}
	fmt.Printf("train AUC %.4f acc@0.5 %.4f scores %s\n", auc(sc, labels), acc(sc, labels), spread(sc))
	if *devRun == "" {
		return
	}
	qids, hits, err := dataset.ReadRun(*devRun, 0)
	if err != nil {
		log.Fatal(err)
	}
	qq, err := dataset.ReadQ2QID(filepath.Join(*data, "dev", "q2qid.dev.json"))
	if err != nil {
		log.Fatal(err)
	}
	text := map[string]string{}
	for _, q := range qq {
		text[q.QID] = q.Query
	}
	texts := make([]string, len(qids))
	for i, q := range qids {
		texts[i] = text[q]
	}
	pool, err := dataset.LoadDuReaderCollection(filepath.Join(*data, "passage-collection"))
	if err != nil {
		log.Fatal(err)
	}
	scored, err := rocketqa.ScoreRun(ctx, m.Reranker(), texts, hits, pool, 50)
	if err != nil {
		log.Fatal(err)
	}
	if *dump != "" {
		if err := dataset.WriteRun(*dump, "", qids, scored); err != nil {
			log.Fatal(err)
		}
	}
	ref, err := eval.LoadDuReaderReference(filepath.Join(*data, "dev", "dev.json"))
	if err != nil {
		log.Fatal(err)
	}
	top50 := make([][]dataset.Hit, len(hits))
	for i := range hits {
		top50[i] = hits[i][:min(50, len(hits[i]))]
	}
	before, _ := eval.DuReader(rocketqa.RunFromHits(qids, top50), ref)
	after, _ := eval.DuReader(rocketqa.RunFromHits(qids, scored), ref)
	var all []float32
	n01, n09 := 0, 0
	for _, hs := range scored {
		for _, h := range hs {
			all = append(all, h.Score)
			if h.Score < 0.1 {
				n01++
			}
			if h.Score > 0.9 {
				n09++
			}
		}
	}
	fmt.Printf("dev MRR@10 %.2f -> %.2f; dev scores %s; <0.1: %d >0.9: %d of %d\n", 100*before.MRR10, 100*after.MRR10, spread(all), n01, n09, len(all))
	_ = os.Stdout.Sync()
}

func auc(s []float32, y []int) float64 {
	var pos, neg []float32
	for i, v := range s {
		if y[i] == 1 {
			pos = append(pos, v)
		} else {
			neg = append(neg, v)
		}
	}
	var w float64
	for _, p := range pos {
		for _, n := range neg {
			if p > n {
				w++
			} else if p == n {
				w += 0.5
			}
		}
	}
	return w / float64(len(pos)*len(neg))
}

func acc(s []float32, y []int) float64 {
	ok := 0
	for i, v := range s {
		if (v > 0.5) == (y[i] == 1) {
			ok++
		}
	}
	return float64(ok) / float64(len(s))
}

func spread(s []float32) string {
	c := append([]float32(nil), s...)
	sort.Slice(c, func(i, j int) bool { return c[i] < c[j] })
	q := func(f float64) float32 { return c[int(f*float64(len(c)-1))] }
	return fmt.Sprintf("min %.3f p10 %.3f p50 %.3f p90 %.3f max %.3f", c[0], q(0.1), q(0.5), q(0.9), c[len(c)-1])
}
