// Command demo is the README's first command: on the Debian demo corpus (scripts/demo-corpus.sh), it trains a
// small RocketQA v1 dual encoder from random initialisation on CPU, then encodes the passage collection, builds
// FAISS indexes, searches the dev queries and evaluates, beside the same model before training; then it pre-trains
// the encoder with masked LM on the collection (cached) and trains the same model from that checkpoint.
//
//	go run ./examples/demo -data data/demo -out out/demo
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
	"time"

	"github.com/rocketqa-go/rocketqa/dataset"
	"github.com/rocketqa-go/rocketqa/encoder"
	"github.com/rocketqa-go/rocketqa/examples/internal/demo"
	"github.com/rocketqa-go/rocketqa/rocketqa"
	"github.com/rocketqa-go/rocketqa/torch"
	"github.com/rocketqa-go/rocketqa/train"
)

func main() {
	data := flag.String("data", "data/demo", "demo corpus in DuReader layout (scripts/demo-corpus.sh)")
	out := flag.String("out", "out/demo", "work directory (models, embeddings, indexes, runs)")
	epochs := flag.Int("epochs", 20, "training epochs")
	batch := flag.Int("batch", 32, "training batch (queries per step; each brings a positive and a hard negative)")
	lr := flag.Float64("lr", 1e-3, "peak learning rate")
	threads := flag.Int("threads", 0, "libtorch threads (0: all cores)")
	shared := flag.Bool("shared", true, "one encoder for queries and passages (share_parameter; learns lexical matching from scratch far faster than two towers)")
	plen := flag.Int("p-len", 64, "passage length in tokens")
	layers := flag.Int("layers", 2, "transformer layers")
	initStd := flag.Float64("init-std", 0.1, "initializer_range of the random init")
	ptSteps := flag.Int("pretrain-steps", demo.DefaultPretrain().Steps, "masked-LM pre-training steps on the collection (0: none, only the model from random weights)")
	ptDir := flag.String("pretrain-dir", "", "where the pre-trained encoder is cached (default OUT/mlm); reused when it is there")
	flag.Parse()
	if *ptDir == "" {
		*ptDir = filepath.Join(*out, "mlm")
	}
	if err := run(*data, *out, *epochs, *batch, *lr, *threads, *shared, *plen, *layers, *initStd, *ptSteps, *ptDir); err != nil {
		fmt.Fprintln(os.Stderr, "demo:", err)
		os.Exit(1)
	}
}

func run(data, out string, epochs, batch int, lr float64, threads int, shared bool, plen, layers int, initStd float64, ptSteps int, ptDir string) error {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt)
	defer stop()
	if threads <= 0 {
		threads = runtime.NumCPU()
	}
	torch.SetNumThreads(threads)
	start := time.Now()
	if err := os.MkdirAll(out, 0o755); err != nil {
		return err
	}
	vocab := filepath.Join(out, "vocab.txt")
	n, err := demo.BuildVocab(data, vocab, 3)
	if err != nil {
		return err
	}
	cfgPath := filepath.Join(out, "config.json")
	if err := demo.SmallConfig(n, 160, layers, initStd).WriteFile(cfgPath); err != nil {
		return err
	}
	slog.Info("demo corpus", "dir", data, "vocab", n, "threads", torch.NumThreads(), "blas", os.Getenv("OPENBLAS_CORETYPE"))

	cfg := rocketqa.DualConfig{
		InitSpec:  rocketqa.InitSpec{Config: cfgPath, Vocab: vocab},
		TrainFile: filepath.Join(data, "train", "dual.train.tsv"),
		QMaxLen:   32, PMaxLen: plen, ForCN: true, Shared: shared,
		Train: train.Options{OutDir: filepath.Join(out, "de"), Epochs: epochs, BatchSize: batch, LR: lr,
			WarmupProportion: 0.1, Seed: 1, LogEvery: 20},
	}
	evaluate := func(name, dir string) (demo.Row, error) {
		m, err := rocketqa.Load(dir, rocketqa.LoadOptions{BatchSize: 64})
		if err != nil {
			return demo.Row{}, err
		}
		defer m.Close()
		t0 := time.Now()
		work := filepath.Join(out, "retrieval-"+filepath.Base(dir))
		os.RemoveAll(work) // embeddings of an earlier run's model must not be reused
		met, err := rocketqa.RetrieveAndEvaluate(ctx, m.Embedder(), data, work, "",
			func(s string) { slog.Info(name, "stage", s) })
		return demo.Row{Name: name, M: met, Note: fmt.Sprintf("(retrieval %s)", time.Since(t0).Round(time.Second))}, err
	}

	// the untrained model: the same architecture and seed, saved before any step
	task, err := rocketqa.NewDualTask(ctx, cfg)
	if err != nil {
		return err
	}
	untrained := filepath.Join(out, "untrained")
	os.RemoveAll(untrained)
	err = task.SaveModel(untrained)
	task.Model.Close()
	if err != nil {
		return err
	}
	before, err := evaluate("untrained (random init)", untrained)
	if err != nil {
		return err
	}

	t0 := time.Now()
	res, err := rocketqa.TrainDual(ctx, cfg)
	if err != nil {
		return err
	}
	trainTime := time.Since(t0)
	after, err := evaluate(fmt.Sprintf("trained from random (%d steps)", res.Steps), res.FinalDir)
	if err != nil {
		return err
	}
	rows := []demo.Row{before, after}
	final := res.FinalDir

	var ptTime, ptTrainTime time.Duration
	if ptSteps > 0 {
		// the same training, started from the encoder pre-trained with masked LM on the collection
		collection, err := dataset.LoadDuReaderCollection(filepath.Join(data, "passage-collection"))
		if err != nil {
			return err
		}
		t0 = time.Now()
		o := demo.DefaultPretrain()
		o.Dir, o.Passages, o.Vocab, o.VocabSize, o.Steps = ptDir, collection, vocab, n, ptSteps
		mlm, err := demo.Pretrain(ctx, o)
		if err != nil {
			return err
		}
		ptTime = time.Since(t0)
		pcfg := cfg
		pcfg.InitSpec = rocketqa.InitSpec{Init: mlm}
		pcfg.Train.OutDir = filepath.Join(out, "de-pretrained")
		t0 = time.Now()
		pres, err := rocketqa.TrainDual(ctx, pcfg)
		if err != nil {
			return err
		}
		ptTrainTime = time.Since(t0)
		row, err := evaluate(fmt.Sprintf("trained from pre-trained (%d steps)", pres.Steps), pres.FinalDir)
		if err != nil {
			return err
		}
		rows, final = append(rows, row), pres.FinalDir
	}
	fmt.Println()
	fmt.Printf("Demo corpus %s: dev queries %d, passages retrieved from the whole collection, FAISS IndexFlatIP, top 50.\n", data, before.M.ReferenceQueries)
	demo.PrintTable(os.Stdout, rows)
	fmt.Printf("\ntraining: %d steps of %d queries in %s (%.1f queries/s, %d threads)", res.Steps, batch, trainTime.Round(time.Second), res.ExamplesS, torch.NumThreads())
	if ptSteps > 0 {
		fmt.Printf("; masked-LM pre-training %s (%d steps, cached in %s), training from it %s", ptTime.Round(time.Second), ptSteps, ptDir, ptTrainTime.Round(time.Second))
	}
	fmt.Printf("\ntotal wall time %s\n", time.Since(start).Round(time.Second))
	fmt.Printf("model: %s (HuggingFace layout, %s/ holds the shared tower)\n", final, encoder.QueryDir)
	return nil
}
