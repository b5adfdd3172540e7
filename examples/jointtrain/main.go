// Command jointtrain runs RocketQA v2 joint training on the demo corpus (scripts/demo-corpus.sh) on CPU, from
// small models pre-trained on the collection with the Inverse Cloze Task (cached in OUT/ict; -pretrain none: random
// weights): it trains M_D(0) (a v1 dual encoder) and a v1 cross-encoder (from M_D(0)'s tower),
// retrieves the training
// queries' top 50 with M_D(0) and scores them with the cross-encoder, then
//
//   - RocketQA v1 step 3: denoised hard negatives (denoise.Mine) and M_D(1) trained on them;
//   - RocketQA v2: undenoised + denoised lists of m (jointtrain.BuildLists) and joint training from M_D(0) and the
//     cross-encoder, with the official loss (both cross-encoder head choices) and the static-distillation ablation;
//
// and prints MRR@10 / R@1 / R@50 of every dual encoder on dev, and the re-ranking MRR of the dev top 50 of M_D(0) by
// the cross-encoder before and after joint training.
//
//	go run ./examples/jointtrain -data data/demo -out out/jointtrain
package main

import (
	"context"
	"flag"
	"fmt"
	"log/slog"
	"os"
	"os/signal"
	"path/filepath"
	"runtime"
	"strconv"
	"time"

	"github.com/rocketqa-go/rocketqa/dataset"
	"github.com/rocketqa-go/rocketqa/encoder"
	"github.com/rocketqa-go/rocketqa/eval"
	"github.com/rocketqa-go/rocketqa/examples/internal/demo"
	"github.com/rocketqa-go/rocketqa/jointtrain"
	"github.com/rocketqa-go/rocketqa/retrieval"
	"github.com/rocketqa-go/rocketqa/rocketqa"
	"github.com/rocketqa-go/rocketqa/rocketqa/denoise"
	"github.com/rocketqa-go/rocketqa/torch"
	"github.com/rocketqa-go/rocketqa/train"
)

type opts struct {
	data, out                               string
	deEpochs, de1Epochs, ceEpochs, jtEpochs int
	m, lists, chunk                         int
	deLR, ceLR, jtLR                        float64
	threads, plen, celen                    int
	pretrain, pretrainDir                   string
}

func main() {
	var o opts
	flag.StringVar(&o.data, "data", "data/demo", "demo corpus in DuReader layout")
	flag.StringVar(&o.out, "out", "out/jointtrain", "work directory")
	flag.IntVar(&o.deEpochs, "de-epochs", 20, "epochs of M_D(0) and M_D(1)")
	flag.IntVar(&o.de1Epochs, "de1-epochs", 0, "epochs of M_D(1) (0: -de-epochs)")
	flag.IntVar(&o.ceEpochs, "ce-epochs", 4, "epochs of the cross-encoder")
	flag.IntVar(&o.jtEpochs, "joint-epochs", 2, "epochs of joint training")
	flag.IntVar(&o.m, "m", 8, "list size")
	flag.IntVar(&o.lists, "batch", 8, "lists per joint step")
	flag.IntVar(&o.chunk, "chunk", 32, "rows per forward pass of the two-pass joint step")
	flag.Float64Var(&o.deLR, "de-lr", 1e-3, "dual-encoder learning rate")
	flag.Float64Var(&o.ceLR, "ce-lr", 5e-4, "cross-encoder learning rate")
	flag.Float64Var(&o.jtLR, "joint-lr", 1e-4, "joint-training learning rate")
	flag.IntVar(&o.threads, "threads", 0, "libtorch threads (0: all cores)")
	flag.IntVar(&o.plen, "p-len", 64, "passage length")
	flag.IntVar(&o.celen, "ce-len", 96, "pair length")
	flag.StringVar(&o.pretrain, "pretrain", "ict", "pre-training on the collection every model starts from: ict (Inverse Cloze Task) or none (random weights)")
	flag.StringVar(&o.pretrainDir, "pretrain-dir", "", "where the pre-trained encoder is cached (default OUT/ict; out/demo/ict of scripts/demo.sh is the same model)")
	flag.Parse()
	demo.RejectArgs("jointtrain")
	if o.pretrain != "ict" && o.pretrain != "none" {
		fmt.Fprintf(os.Stderr, "jointtrain: -pretrain %q: want ict or none\n", o.pretrain)
		os.Exit(2)
	}
	if err := run(o); err != nil {
		fmt.Fprintln(os.Stderr, "jointtrain:", err)
		os.Exit(1)
	}
}

func run(o opts) error {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt)
	defer stop()
	if o.threads <= 0 {
		o.threads = runtime.NumCPU()
	}
	torch.SetNumThreads(o.threads)
	start := time.Now()
	if err := os.MkdirAll(o.out, 0o755); err != nil {
		return err
	}
	vocab := filepath.Join(o.out, "vocab.txt")
	n, err := demo.BuildVocab(o.data, vocab, 3)
	if err != nil {
		return err
	}
	cfgPath := filepath.Join(o.out, "config.json")
	if err := demo.SmallConfig(n, 160, 2, 0.1).WriteFile(cfgPath); err != nil {
		return err
	}
	init := rocketqa.InitSpec{Config: cfgPath, Vocab: vocab}
	if o.pretrain == "ict" {
		coll, err := dataset.LoadDuReaderCollection(filepath.Join(o.data, "passage-collection"))
		if err != nil {
			return err
		}
		po := demo.DefaultICT()
		po.Dir, po.Passages, po.Vocab, po.VocabSize, po.PLen = o.pretrainDir, coll, vocab, n, o.plen
		if po.Dir == "" {
			po.Dir = filepath.Join(o.out, "ict")
		}
		pre, err := demo.PretrainICT(ctx, po)
		if err != nil {
			return err
		}
		init = rocketqa.InitSpec{Init: pre}
	}
	topts := func(dir string, epochs, batch int, lr float64, sched train.Schedule, warm float64) train.Options {
		return train.Options{OutDir: filepath.Join(o.out, dir), Epochs: epochs, BatchSize: batch, LR: lr, Schedule: sched,
			WarmupProportion: warm, Seed: 1, LogEvery: 50, WeightDecay: 0.01}
	}
	dual := func(dir, file string, epochs int) (string, error) {
		c := rocketqa.DualConfig{InitSpec: init, TrainFile: file, QMaxLen: 32, PMaxLen: o.plen,
			ForCN: true, Shared: true, Train: topts(dir, epochs, 32, o.deLR, train.Linear, 0.1)}
		// a rerun into the same -out resumes (or reuses) a model only with the same start, file and lengths
		var err error
		if c.Train.Identity, err = c.RunIdentity("examples/jointtrain", file, c.ForCN, c.Cased, map[string]string{
			"q_len": strconv.Itoa(c.QMaxLen), "p_len": strconv.Itoa(c.PMaxLen), "shared": strconv.FormatBool(c.Shared)}); err != nil {
			return "", err
		}
		res, err := rocketqa.TrainDual(ctx, c)
		if err != nil {
			return "", err
		}
		return res.FinalDir, nil
	}
	timing := map[string]time.Duration{}
	t0 := time.Now()
	md0, err := dual("md0", filepath.Join(o.data, "train", "dual.train.tsv"), o.deEpochs)
	if err != nil {
		return err
	}
	timing["M_D(0)"] = time.Since(t0)
	t0 = time.Now()
	// the cross-encoder starts from M_D(0)'s tower, with exact-match token types (docs/method.md §3.6: on plain
	// segment types a cross-encoder without a pretrained start does not learn on this corpus; the official one
	// starts from pretrained ERNIE)
	ceInit := rocketqa.InitSpec{Init: filepath.Join(md0, encoder.QueryDir)}
	cc := rocketqa.CrossConfig{InitSpec: ceInit, TrainFile: filepath.Join(o.data, "train", "cross.train.tsv"),
		MaxSeqLen: o.celen, ForCN: true, MatchTypes: true, Train: topts("ce", o.ceEpochs, 32, o.ceLR, train.Linear, 0.1)}
	if cc.Train.Identity, err = cc.RunIdentity("examples/jointtrain", cc.TrainFile, cc.ForCN, cc.Cased, map[string]string{
		"max_len": strconv.Itoa(cc.MaxSeqLen), "match_types": strconv.FormatBool(cc.MatchTypes)}); err != nil {
		return err
	}
	ceRes, err := rocketqa.TrainCross(ctx, cc)
	if err != nil {
		return err
	}
	ce := ceRes.FinalDir
	timing["CE"] = time.Since(t0)

	dev, err := rocketqa.LoadDuReaderDev(o.data)
	if err != nil {
		return err
	}
	lq, missing, err := rocketqa.QueriesFromDualTrain(ctx, filepath.Join(o.data, "train", "dual.train.tsv"), dev.Pool)
	if err != nil {
		return err
	}
	slog.Info("training queries", "n", len(lq.QIDs), "positive not in the collection", missing)

	// M_D(0)'s top 200 of the training queries, the top 50 scored by the CE
	deHits, err := search(ctx, md0, lq.Texts(lq.QIDs), dev.Pool, 200)
	if err != nil {
		return err
	}
	ceHits, err := scoreRun(ctx, ce, lq.Texts(lq.QIDs), deHits, dev.Pool, o.celen)
	if err != nil {
		return err
	}
	in := denoise.MineInput{QIDs: lq.QIDs, Queries: lq.Text, Positives: lq.Positives, Candidates: map[string][]denoise.Candidate{}, Passages: dev.Pool}
	for i, q := range lq.QIDs {
		score := map[string]float32{}
		for _, h := range ceHits[i] {
			score[h.PID] = h.Score
		}
		for r, h := range deHits[i] {
			s, ok := score[h.PID]
			in.Candidates[q] = append(in.Candidates[q], denoise.Candidate{PID: h.PID, Rank: r + 1, CEScore: s, Scored: ok})
		}
	}

	// RocketQA v1 step 3: M_D(1) on denoised hard negatives
	t0 = time.Now()
	de1File := filepath.Join(o.out, "dual.denoised.tsv")
	if _, err := denoise.Mine(ctx, in, denoise.MineOptions{NegPerPos: 4, TopK: 50, FillFrom: 51, FillTo: 200}, de1File); err != nil {
		return err
	}
	if o.de1Epochs == 0 {
		o.de1Epochs = o.deEpochs
	}
	md1, err := dual("md1", de1File, o.de1Epochs)
	if err != nil {
		return err
	}
	timing["M_D(1)"] = time.Since(t0)

	// RocketQA v2 lists and joint training
	listFile := filepath.Join(o.out, fmt.Sprintf("joint.rand%d+aug%d", o.m, o.m))
	st, err := jointtrain.BuildLists(in, jointtrain.ListOptions{M: o.m, TopN: 50}, listFile)
	if err != nil {
		return err
	}
	slog.Info("lists", "stats", st.String())
	joint := func(dir string, v jointtrain.Variant, head jointtrain.CEHead) (string, error) {
		t := time.Now()
		res, err := jointtrain.Train(ctx, jointtrain.Config{DE: md0, CE: ce, CEHead: head, TrainFile: listFile, ListSize: o.m,
			Variant: v, ChunkSize: o.chunk, Cached: o.chunk > 0, QMaxSeqLen: 32, PMaxSeqLen: o.plen, CEMaxSeqLen: o.celen,
			Train: topts(dir, o.jtEpochs, o.lists, o.jtLR, train.Constant, 0)})
		if err != nil {
			return "", err
		}
		timing[dir] = time.Since(t)
		return res.FinalDir, nil
	}
	jKeep, err := joint("joint-keep", jointtrain.Official, jointtrain.KeepV1Head)
	if err != nil {
		return err
	}
	jV2, err := joint("joint-v2head", jointtrain.Official, jointtrain.NewV2Head)
	if err != nil {
		return err
	}
	jStatic, err := joint("joint-static", jointtrain.Static, jointtrain.KeepV1Head)
	if err != nil {
		return err
	}

	// evaluation
	var rows []demo.Row
	for _, r := range []struct{ name, dir string }{
		{"M_D(0) (v1 step 1)", md0}, {"M_D(1) (v1 step 3, denoised)", md1},
		{"v2 joint, CE v1 head kept (z1-z0)", filepath.Join(jKeep, jointtrain.DEDir)},
		{"v2 joint, new v2 CE head", filepath.Join(jV2, jointtrain.DEDir)},
		{"v2 static distillation (CE frozen)", filepath.Join(jStatic, jointtrain.DEDir)},
	} {
		m, err := evalDual(ctx, r.dir, dev)
		if err != nil {
			return err
		}
		rows = append(rows, demo.Row{Name: r.name, M: m})
	}
	devHits, err := search(ctx, md0, dev.Queries, dev.Pool, 50)
	if err != nil {
		return err
	}
	var rr []demo.Row
	rr = append(rr, demo.Row{Name: "M_D(0) top 50, no re-ranking", M: runMetrics(dev, devHits)})
	for _, r := range []struct{ name, dir string }{
		{"CE before joint training (v1)", ce},
		{"CE after joint, v1 head kept", filepath.Join(jKeep, jointtrain.CEDir)},
		{"CE after joint, new v2 head", filepath.Join(jV2, jointtrain.CEDir)},
	} {
		hs, err := scoreRun(ctx, r.dir, dev.Queries, devHits, dev.Pool, o.celen)
		if err != nil {
			return err
		}
		rr = append(rr, demo.Row{Name: r.name, M: runMetrics(dev, hs)})
	}
	fmt.Printf("\nDemo corpus %s: %d dev queries, exact search over %d passages, top 50; lists of %d (%s).\n\nRetrieval:\n",
		o.data, len(dev.QIDs), dev.Pool.Len(), o.m, st)
	demo.PrintTable(os.Stdout, rows)
	fmt.Printf("\nRe-ranking M_D(0)'s dev top 50:\n")
	demo.PrintTable(os.Stdout, rr)
	fmt.Printf("\ntimes:")
	for _, k := range []string{"M_D(0)", "CE", "M_D(1)", "joint-keep", "joint-v2head", "joint-static"} {
		fmt.Printf(" %s %s;", k, timing[k].Round(time.Second))
	}
	fmt.Printf(" total %s (%d threads)\n", time.Since(start).Round(time.Second), torch.NumThreads())
	return nil
}

func search(ctx context.Context, dir string, queries []string, pool *dataset.Passages, k int) ([][]retrieval.Hit, error) {
	m, err := rocketqa.Load(dir, rocketqa.LoadOptions{BatchSize: 64})
	if err != nil {
		return nil, err
	}
	defer m.Close()
	titles, paras := make([]string, pool.Len()), make([]string, pool.Len())
	for i := range paras {
		p := pool.At(i)
		titles[i], paras[i] = p.Title, p.Text
	}
	pv, err := m.EncodePara(ctx, paras, titles)
	if err != nil {
		return nil, err
	}
	qv, err := m.EncodeQuery(ctx, queries)
	if err != nil {
		return nil, err
	}
	return rocketqa.SearchExact(qv, pv, pool.PIDs(), k)
}

func scoreRun(ctx context.Context, dir string, queries []string, hits [][]retrieval.Hit, pool *dataset.Passages, maxLen int) ([][]retrieval.Hit, error) {
	m, err := rocketqa.Load(dir, rocketqa.LoadOptions{BatchSize: 64})
	if err != nil {
		return nil, err
	}
	defer m.Close()
	rr := *m.Reranker()
	rr.MaxSeqLen = maxLen
	return rocketqa.ScoreRun(ctx, &rr, queries, hits, pool, 50)
}

func evalDual(ctx context.Context, dir string, dev *rocketqa.DevSet) (eval.Metrics, error) {
	m, err := rocketqa.Load(dir, rocketqa.LoadOptions{BatchSize: 64})
	if err != nil {
		return eval.Metrics{}, err
	}
	defer m.Close()
	return rocketqa.EvaluateDual(ctx, m.Embedder(), dev)
}

func runMetrics(dev *rocketqa.DevSet, hits [][]retrieval.Hit) eval.Metrics {
	run := eval.Run{}
	for i, q := range dev.QIDs {
		for _, h := range hits[i] {
			run[q] = append(run[q], h.PID)
		}
	}
	m, err := eval.DuReader(run, dev.Qrels)
	if err != nil {
		slog.Error("eval", "err", err)
	}
	return m
}
