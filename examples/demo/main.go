// Command demo is the README's first command: on the Debian demo corpus (scripts/demo-corpus.sh), it trains a
// small RocketQA v1 dual encoder from random initialisation on CPU, then encodes the passage collection, builds
// FAISS indexes, searches the dev queries and evaluates, beside the same model before training; then it pre-trains
// the encoder on the collection without labels (cached), by default with the Inverse Cloze Task (-pretrain ict: a
// sentence of a passage as the query, the rest of the passage as its positive; or -pretrain mlm, masked LM),
// evaluates the pre-trained model as it is, and trains the same model from it.
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
	"strconv"
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
	objective := flag.String("pretrain", "ict", "pre-training on the collection: ict (Inverse Cloze Task), mlm (masked LM) or none")
	ptSteps := flag.Int("pretrain-steps", demo.DefaultPretrain().Steps, "masked-LM pre-training steps (-pretrain mlm)")
	bf16 := flag.Bool("bf16", false, "fine-tune with bfloat16 autocast forward passes and encode in bfloat16 (a CPU with avx512_bf16/amx_bf16; elsewhere a note and float32); the cached pre-training is not redone")
	seed := flag.Uint64("seed", 1, "training seed (initialisation, shuffling, dropout)")
	ptDir := flag.String("pretrain-dir", "", "where the pre-trained encoder is cached (default OUT/ict or OUT/mlm); reused when it is there")
	flag.Parse()
	demo.RejectArgs("demo")
	switch *objective {
	case "ict", "mlm", "none":
	default:
		fmt.Fprintf(os.Stderr, "demo: -pretrain %q: want ict, mlm or none\n", *objective)
		os.Exit(2)
	}
	if *ptDir == "" {
		*ptDir = filepath.Join(*out, *objective)
	}
	pt := pretraining{objective: *objective, mlmSteps: *ptSteps, dir: *ptDir}
	prec := precision{bf16: *bf16, seed: *seed}
	if *objective == "none" || *objective == "mlm" && *ptSteps <= 0 {
		pt.objective = ""
	}
	if err := run(*data, *out, *epochs, *batch, *lr, *threads, *shared, *plen, *layers, *initStd, pt, prec); err != nil {
		fmt.Fprintln(os.Stderr, "demo:", err)
		os.Exit(1)
	}
}

// pretraining is the -pretrain choice: objective "ict", "mlm" or "" (none).
type pretraining struct {
	objective string
	mlmSteps  int
	dir       string
}

// precision is the -bf16 and -seed choice for the trained models.
type precision struct {
	bf16 bool
	seed uint64
}

func run(data, out string, epochs, batch int, lr float64, threads int, shared bool, plen, layers int, initStd float64, pt pretraining, prec precision) error {
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
	if _, note := torch.CPUBF16(prec.bf16, false); note != "" {
		slog.Warn(note)
	}

	cfg := rocketqa.DualConfig{
		InitSpec:  rocketqa.InitSpec{Config: cfgPath, Vocab: vocab},
		TrainFile: filepath.Join(data, "train", "dual.train.tsv"),
		QMaxLen:   32, PMaxLen: plen, ForCN: true, Shared: shared,
		Train: train.Options{OutDir: filepath.Join(out, "de"), Epochs: epochs, BatchSize: batch, LR: lr,
			WarmupProportion: 0.1, Seed: prec.seed, LogEvery: 20},
		Autocast: prec.bf16,
	}
	if err := identify(&cfg); err != nil {
		return err
	}
	evaluate := func(name, dir string) (demo.Row, error) {
		m, err := rocketqa.Load(dir, rocketqa.LoadOptions{BatchSize: 64, BF16: prec.bf16})
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
	var ptDesc string
	if pt.objective != "" {
		// the same training, started from the encoder pre-trained on the collection without labels
		collection, err := dataset.LoadDuReaderCollection(filepath.Join(data, "passage-collection"))
		if err != nil {
			return err
		}
		t0 = time.Now()
		var pre string
		if pt.objective == "mlm" {
			o := demo.DefaultPretrain()
			o.Dir, o.Passages, o.Vocab, o.VocabSize, o.Steps = pt.dir, collection, vocab, n, pt.mlmSteps
			pre, err = demo.Pretrain(ctx, o)
			ptDesc = fmt.Sprintf("masked-LM pre-training (%d steps, cached in %s)", pt.mlmSteps, pt.dir)
		} else {
			o := demo.DefaultICT()
			o.Dir, o.Passages, o.Vocab, o.VocabSize, o.PLen, o.Batch = pt.dir, collection, vocab, n, plen, batch
			o.Layers, o.InitStd = layers, initStd // the same architecture as the model trained from random weights
			pre, err = demo.PretrainICT(ctx, o)
			ptDesc = fmt.Sprintf("ICT pre-training (%d epochs, cached in %s)", o.Epochs, pt.dir)
		}
		if err != nil {
			return err
		}
		ptTime = time.Since(t0)
		if pt.objective == "ict" {
			// the ICT model is itself a dual encoder: how far the collection alone takes retrieval
			row, err := evaluate("ICT pre-trained, no labels", pre)
			if err != nil {
				return err
			}
			rows = append(rows, row)
		}
		pcfg := cfg
		pcfg.InitSpec = rocketqa.InitSpec{Init: pre}
		pcfg.Train.OutDir = filepath.Join(out, "de-pretrained")
		if pt.objective != "ict" {
			pcfg.Train.OutDir += "-" + pt.objective // beside the ICT one: scripts/demo.sh -pretrain mlm after scripts/demo.sh
		}
		if err := identify(&pcfg); err != nil {
			return err
		}
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
	mode := "float32"
	if use, _ := torch.CPUBF16(prec.bf16, false); use {
		mode = "bfloat16 autocast"
	}
	fmt.Printf("\ntraining (%s, seed %d): %d steps of %d queries in %s (%.1f queries/s, %d threads)", mode, prec.seed, res.Steps, batch, trainTime.Round(time.Second), res.ExamplesS, torch.NumThreads())
	if pt.objective != "" {
		fmt.Printf("; %s %s, training from it %s", ptDesc, ptTime.Round(time.Second), ptTrainTime.Round(time.Second))
	}
	fmt.Printf("\ntotal wall time %s\n", time.Since(start).Round(time.Second))
	fmt.Printf("model: %s (HuggingFace layout, %s/ holds the shared tower)\n", final, encoder.QueryDir)
	return nil
}

// identify sets the run identity of a training: a rerun into the same -out resumes (or reuses) a model only when
// it was trained on the same file, from the same config (-layers, -init-std) and vocabulary or pre-trained model,
// with the same -p-len, -shared and -bf16; train.Run compares the hyperparameters itself.
func identify(c *rocketqa.DualConfig) error {
	id, err := c.RunIdentity("examples/demo", c.TrainFile, c.ForCN, c.Cased, map[string]string{
		"q_len": strconv.Itoa(c.QMaxLen), "p_len": strconv.Itoa(c.PMaxLen), "shared": strconv.FormatBool(c.Shared),
		"autocast": strconv.FormatBool(c.Autocast)})
	c.Train.Identity = id
	return err
}
