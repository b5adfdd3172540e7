package main

import (
	"bytes"
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"

	"github.com/rocketqa-go/rocketqa/encoder"
	"github.com/rocketqa-go/rocketqa/internal/cli"
	"github.com/rocketqa-go/rocketqa/jointtrain"
	"github.com/rocketqa-go/rocketqa/rocketqa"
	"github.com/rocketqa-go/rocketqa/rocketqa/denoise"
)

// The RocketQA v2 subcommands: train-joint, lists, rerank, memory (package jointtrain).

func runTrainJoint(ctx context.Context, args []string) error {
	// the loop's defaults are rocketqa.V2Marco's, with the batch in lists; the rest (zero: the preset's) are
	// laid over the --preset after parsing
	c, p := helpCmd("train-joint"), rocketqa.V2Marco
	j, preset := jointtrain.Config{Variant: jointtrain.Official, CEHead: jointtrain.DefaultCEHead, Cached: true}, "marco"
	p.Batch = p.ListsPerProcess()
	l := addLoop(c, &j, "Train.", &j.Train, p, "lists; official: 3 of 128 per GPU x 32 GPUs (marco), 12 of 32 x 8 (nq)")
	c.Bind(&j, cli.Flag{"de", "DE", "dual-encoder directory to start from"}, cli.Flag{"ce", "CE", "cross-encoder directory to start from"},
		cli.Flag{"train", "TrainFile", "list file"}, cli.Flag{"out", "Train.OutDir", "output directory"},
		cli.Flag{"list-size", "ListSize", "m, the lines of one list (default: the preset's)"},
		cli.Flag{"variant", "Variant", "loss: official, seed, paper or static"},
		cli.Flag{"ce-head", "CEHead", "for a v1 cross-encoder: keep (its head, score z1 - z0) or v2 (a new raw-[CLS] head)"},
		cli.Flag{"query-once", "QueryOnce", "encode every query once instead of once per list line (the official data repeats it)"},
		cli.Flag{"chunk", "ChunkSize", "rows per forward pass (0: all rows of a tower at once)"},
		cli.Flag{"cached", "Cached", "with --chunk: the two-pass step (one chunk's graph in memory)"},
		cli.Flag{"q-len", "QMaxSeqLen", "query length (default: the preset's)"}, cli.Flag{"p-len", "PMaxSeqLen", "passage length (default: the preset's)"},
		cli.Flag{"ce-len", "CEMaxSeqLen", "pair length (default: the preset's)"}, cli.Flag{"bf16", "Autocast", "bfloat16 autocast for the forward passes (CUDA, or a CPU with avx512_bf16/amx_bf16;\nweights, optimizer state and losses stay float32)"})
	c.FS.StringVar(&preset, "preset", preset, "official settings: marco (m=128) or nq (m=32)")
	rt := addRuntime(c, true)
	c.Require("de", "ce", "train", "out")
	c.OneOf("preset", "marco", "nq")
	c.Positive("list-size")
	if err := c.parse(args); err != nil {
		return err
	}
	if l.parsed(c); !c.Set("epochs") {
		j.Train.Epochs = jointtrain.Presets[preset].Train.Epochs
	}
	cfg := jointOver(jointtrain.Presets[preset], j)
	if err := cfg.Validate(); err != nil {
		return err
	}
	l.o = &cfg.Train
	dev, pg, err := l.join(rt)
	if err != nil {
		return err
	}
	defer pg.Close()
	cfg.Device, cfg.Cached = dev, cfg.Cached && cfg.ChunkSize > 0
	if rank, world := rocketqa.RankWorld(pg); rank == 0 {
		logf("train-joint", "%s: lists of %d, %d process(es) x %d lists; variant %s; chunk %d (cached %v); device %s; %s",
			cfg.TrainFile, cfg.ListSize, world, l.batch, cfg.Variant, cfg.ChunkSize, cfg.Cached, dev, runtimeInfo())
		autocastNote("train-joint", cfg.Autocast, dev)
	}
	cfg.Train.Identity = map[string]string{"command": "train-joint", "preset": preset}
	res, err := jointtrain.Train(ctx, cfg)
	return trainSummary("train-joint", res, err, pg)
}

// jointOver lays the flags' settings j over the preset: its list size and lengths where j's are 0, its loop
// options replaced by j's.
func jointOver(cfg, j jointtrain.Config) jointtrain.Config {
	for _, f := range [][2]*int{{&cfg.ListSize, &j.ListSize}, {&cfg.QMaxSeqLen, &j.QMaxSeqLen}, {&cfg.PMaxSeqLen, &j.PMaxSeqLen}, {&cfg.CEMaxSeqLen, &j.CEMaxSeqLen}} {
		if *f[1] > 0 {
			*f[0] = *f[1]
		}
	}
	cfg.DE, cfg.CE, cfg.TrainFile, cfg.Variant, cfg.CEHead = j.DE, j.CE, j.TrainFile, j.Variant, j.CEHead
	cfg.QueryOnce, cfg.ChunkSize, cfg.Cached, cfg.Autocast, cfg.Train = j.QueryOnce, j.ChunkSize, j.Cached, j.Autocast, j.Train
	return cfg
}

func runLists(ctx context.Context, args []string) error {
	c, in, o := helpCmd("lists"), candidates{}, jointtrain.ListOptions{TopN: 50, NegThreshold: 0.1, PosThreshold: 0.9, Seed: 1}
	c.Bind(&in, append(candidateFlags(true), cli.Flag{"out", "Out", "list file to write"})...)
	c.Bind(&o, cli.Flag{"list-size", "M", "m, passages per list (official: 128 MS MARCO, 32 NQ)"},
		cli.Flag{"top-n", "TopN", "the dual encoder's top ranks the negatives come from"},
		cli.Flag{"neg-threshold", "NegThreshold", "denoised negatives have a CE score below this"},
		cli.Flag{"pos-threshold", "PosThreshold", "an unlabelled query's pseudo-positive scores above this"},
		cli.Flag{"seed", "Seed", "seed of the negative sampling"}, cli.Flag{"no-denoised", "NoDenoised", "undenoised lists only"})
	c.Require("de-run", "ce-run", "queries", "qrels", "collection", "out", "list-size")
	c.Positive("top-n", "neg-threshold", "pos-threshold")
	if err := c.parse(args); err != nil {
		return err
	}
	if o.M < 2 {
		return usagef("--list-size %d: want at least 2", o.M)
	}
	mi, err := denoise.LoadLabelled(ctx, in.Files, in.Qrels, in.Additional)
	if err != nil {
		return err
	}
	st, err := jointtrain.BuildLists(mi, o, in.Out)
	if err != nil {
		return err
	}
	logf("lists", "%s", st)
	fmt.Fprintf(stdout, "%s\t%d lists\n", in.Out, st.Undenoised+st.Denoised)
	return nil
}

// runRerank is 'score' for any cross-encoder, accepting a joint run's directory (its ce/ is used).
func runRerank(ctx context.Context, args []string) error {
	args = append([]string(nil), args...)
	for i, a := range args {
		switch {
		case a == "--help" || a == "-help" || a == "-h":
			var buf bytes.Buffer
			so := stdout
			stdout = &buf
			err := runScore(ctx, []string{"--help"})
			stdout = so
			h := strings.ReplaceAll(buf.String(), "rocketqa score", "rocketqa rerank")
			h = strings.Replace(h, "\n\nRe-scores", "\n\n'score' for any cross-encoder: --model may also be a train-joint output (final/ or a checkpoint;\nits ce/ is used).\n\nRe-scores", 1)
			fmt.Fprint(stdout, h)
			return err
		case (a == "--model" || a == "-model") && i+1 < len(args):
			if _, err := os.Stat(filepath.Join(args[i+1], jointtrain.CEDir, encoder.InfoFile)); err == nil {
				args[i+1] = filepath.Join(args[i+1], jointtrain.CEDir)
			}
		}
	}
	return runScore(ctx, args)
}

func runMemory(_ context.Context, args []string) error {
	c := helpCmd("memory")
	f := struct {
		Table     bool
		BudgetGiB float64
		DType     string
	}{BudgetGiB: 24, DType: "fp32"}
	cfg := jointtrain.BERTBase()
	v2 := rocketqa.V2Marco
	cfg.B, cfg.M, cfg.QLen, cfg.PLen, cfg.CELen, cfg.Optimizer = v2.ListsPerProcess(), v2.ListSize, v2.QLen, v2.PLen, v2.PairLen, v2.Optimizer
	c.Bind(&f, cli.Flag{"table", "Table", "print the table of official settings"}, cli.Flag{"budget-gib", "BudgetGiB", "device memory to compare with (GiB)"},
		cli.Flag{"dtype", "DType", "activation dtype: fp32, or bf16 (autocast)"})
	c.Bind(&cfg, cli.Flag{"hidden", "Hidden", "hidden size"}, cli.Flag{"layers", "Layers", "layers"}, cli.Flag{"heads", "Heads", "attention heads"},
		cli.Flag{"intermediate", "Intermediate", "FFN size"}, cli.Flag{"vocab", "Vocab", "vocabulary size"}, cli.Flag{"b", "B", "lists per device"},
		cli.Flag{"m", "M", "list size"}, cli.Flag{"q-len", "QLen", "query length"}, cli.Flag{"p-len", "PLen", "passage length"},
		cli.Flag{"ce-len", "CELen", "pair length"}, cli.Flag{"chunk", "ChunkSize", "rows per forward pass"},
		cli.Flag{"cached", "Cached", "the two-pass chunked step"}, cli.Flag{"query-once", "QueryOnce", "queries encoded once per list"},
		cli.Flag{"static", "FrozenCE", "the cross-encoder frozen"}, cli.Flag{"optimizer", "Optimizer", "adamw, lamb or none"})
	c.OneOf("dtype", "fp32", "bf16", "fp16")
	if err := c.parse(args); err != nil {
		return err
	}
	b := int64(f.BudgetGiB * (1 << 30))
	if f.Table {
		return jointtrain.WriteMemTable(stdout, jointtrain.OfficialMemRows(), b)
	}
	if cfg.ActivationBytes = 4; f.DType != "fp32" {
		cfg.ActivationBytes = 2
	}
	if _, err := jointtrain.EstimateMemory(cfg); err != nil {
		return usagef("%v", err)
	}
	name := "B=" + strconv.Itoa(cfg.B) + " m=" + strconv.Itoa(cfg.M) + " full"
	if cfg.Cached {
		name = strings.Replace(name, "full", "chunk "+strconv.Itoa(cfg.ChunkSize), 1)
	}
	return jointtrain.WriteMemTable(stdout, []jointtrain.MemRow{{Name: name, Cfg: cfg}}, b)
}
