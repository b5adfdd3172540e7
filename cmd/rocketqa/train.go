package main

import (
	"context"
	"fmt"
	"math"
	"path/filepath"
	"strconv"

	"github.com/rocketqa-go/rocketqa/internal/cli"
	"github.com/rocketqa-go/rocketqa/rocketqa"
	"github.com/rocketqa-go/rocketqa/torch"
	"github.com/rocketqa-go/rocketqa/train"
)

// dualFlags are the rocketqa.DualConfig flags of train-de and train-pair (under prefix).
func dualFlags(prefix, noCross string) []cli.Flag {
	return append(initFlags(prefix), cli.Flag{"train", prefix + "TrainFile", "training file (dual.train.tsv, 6 columns)"},
		cli.Flag{"out", prefix + "Train.OutDir", "output directory (model, checkpoints, metrics)"},
		cli.Flag{"dev", prefix + "DevDir", "DuReader-layout directory evaluated during training (MRR@10)"},
		cli.Flag{"q-len", prefix + "QMaxLen", "query length in tokens, [CLS] and [SEP] included"},
		cli.Flag{"chunk", prefix + "ChunkSize", "encode at most N sequences per forward pass (0: the whole batch at once)"},
		cli.Flag{"grad-cache", prefix + "GradCache", "gradient caching: a large batch in the memory of one --chunk (same gradients)"},
		cli.Flag{"no-cross-batch", prefix + "NoCrossBatch", noCross},
		cli.Flag{"autocast", prefix + "Autocast", "bfloat16 autocast for the forward passes (CUDA, or a CPU with avx512_bf16/amx_bf16; weights,\noptimizer state and losses stay float32)"},
		cli.Flag{"eval-every", prefix + "Train.EvalEvery", "evaluate on --dev every N steps (0: only at the end)"},
		cli.Flag{"eval-batch", prefix + "EvalBatch", "encoding batch of the --dev evaluation"})
}

// autocastNote says, in the log of the command name, why the bfloat16 autocast that was asked for does not run:
// a CPU without avx512_bf16/amx_bf16 trains in float32 instead.
func autocastNote(name string, want bool, dev torch.Device) {
	if _, msg := torch.CPUBF16(want, false); dev.Type == torch.CPUDevice && msg != "" {
		logf(name, "%s", msg)
	}
}

// pLenFlag is --p-len with its two defaults in the usage.
func pLenFlag(field string, zh, en int) cli.Flag {
	return cli.Flag{"p-len", field, fmt.Sprintf("passage length in tokens (default %d; %d with --lang en)", zh, en)}
}

func runTrainDE(ctx context.Context, args []string) error {
	c, p := helpCmd("train-de"), rocketqa.DuReaderDE
	cfg := rocketqa.DualConfig{QMaxLen: p.QLen, PMaxLen: p.PLen, ForCN: p.ForCN, EvalBatch: 64}
	l := addLoop(c, &cfg, "Train.", &cfg.Train, p, "DuReader baseline: 128 on each of 4 GPUs")
	c.Bind(&cfg, append(dualFlags("", "under launch, use in-batch negatives of each process only"), pLenFlag("PMaxLen", p.PLen, rocketqa.MSMarcoDE.PLen),
		cli.Flag{"shared", "Shared", "one tower for queries and passages (PAIR)"})...)
	lang, rt := addLang(c, &cfg, ""), addRuntime(c, true)
	c.Require("train", "out")
	c.Positive("eval-batch")
	if err := c.parse(args); err != nil {
		return err
	}
	applyLang(c, *lang, map[string]any{"q-len": rocketqa.MSMarcoDE.QLen, "p-len": rocketqa.MSMarcoDE.PLen})
	l.parsed(c)
	if err := cfg.Validate(); err != nil {
		return err
	}
	dev, pg, err := l.join(rt)
	if err != nil {
		return err
	}
	defer pg.Close()
	cfg.Device = dev
	if cfg.Train.Identity, err = cfg.RunIdentity("train-de", cfg.TrainFile, cfg.ForCN, cfg.Cased, map[string]string{"q_len": strconv.Itoa(cfg.QMaxLen),
		"p_len": strconv.Itoa(cfg.PMaxLen), "shared": strconv.FormatBool(cfg.Shared), "cross_batch": strconv.FormatBool(!cfg.NoCrossBatch),
		"autocast": strconv.FormatBool(cfg.Autocast), "chunk_size": strconv.Itoa(cfg.ChunkSize), // dropout and padding follow the chunks
		"grad_cache": strconv.FormatBool(cfg.GradCache), "dev": devIdentity(cfg.DevDir)}); err != nil {
		return err
	}
	if rank, world := rocketqa.RankWorld(pg); rank == 0 {
		logf("train-de", "%s; %d process(es) x batch %d, %d negatives per query; device %s; %s", cfg.TrainFile, world, l.batch, 2*l.candidates(cfg.NoCrossBatch)-1, dev, runtimeInfo())
		autocastNote("train-de", cfg.Autocast, dev)
	}
	res, err := rocketqa.TrainDual(ctx, cfg)
	return trainSummary("train-de", res, err, pg)
}

func runTrainCE(ctx context.Context, args []string) error {
	c, p := helpCmd("train-ce"), rocketqa.DuReaderCE
	cfg := rocketqa.CrossConfig{MaxSeqLen: p.PairLen, ForCN: p.ForCN, Perturb: p.Perturb}
	l := addLoop(c, &cfg, "Train.", &cfg.Train, p, "DuReader baseline: 32 on each of 4 GPUs")
	c.Bind(&cfg, append(initFlags(""), cli.Flag{"train", "TrainFile", "training file (cross.train.tsv, 4 columns)"},
		cli.Flag{"out", "Train.OutDir", "output directory (model, checkpoints, metrics)"},
		cli.Flag{"max-len", "MaxSeqLen", fmt.Sprintf("pair length in tokens (default %d; %d with --lang en)", p.PairLen, rocketqa.MSMarcoCE.PairLen)},
		cli.Flag{"v2-head", "V2Head", "raw [CLS] -> Linear(H, 1) head of RocketQA v2 (score = logit) instead of\npooler -> Linear(H, 2) (score = P(relevant))"},
		cli.Flag{"perturb", "Perturb", "the official embedding-gradient (adversarial) step; --perturb=false disables"},
		cli.Flag{"autocast", "Autocast", "bfloat16 autocast for the forward passes (CUDA, or a CPU with avx512_bf16/amx_bf16)"},
		cli.Flag{"match-types", "MatchTypes", "mark exact query-passage token matches with token types 2 and 3 (not in the papers; for\ncross-encoders without a pretrained start, see docs/method.md §3.6); saved with the model"})...)
	lang, rt := addLang(c, &cfg, ""), addRuntime(c, true)
	c.Require("train", "out")
	if err := c.parse(args); err != nil {
		return err
	}
	applyLang(c, *lang, map[string]any{"max-len": rocketqa.MSMarcoCE.PairLen})
	l.parsed(c)
	if err := cfg.Validate(); err != nil {
		return err
	}
	dev, pg, err := l.join(rt)
	if err != nil {
		return err
	}
	defer pg.Close()
	cfg.Device = dev
	if rank, world := rocketqa.RankWorld(pg); rank == 0 {
		logf("train-ce", "%s; %d process(es) x batch %d; device %s; %s", cfg.TrainFile, world, l.batch, dev, runtimeInfo())
		autocastNote("train-ce", cfg.Autocast, dev)
	}
	if cfg.Train.Identity, err = cfg.RunIdentity("train-ce", cfg.TrainFile, cfg.ForCN, cfg.Cased, map[string]string{"max_len": strconv.Itoa(cfg.MaxSeqLen),
		"v2_head": strconv.FormatBool(cfg.V2Head), "perturb": strconv.FormatBool(cfg.Perturb), "autocast": strconv.FormatBool(cfg.Autocast),
		"match_types": strconv.FormatBool(cfg.MatchTypes)}); err != nil {
		return err
	}
	res, err := rocketqa.TrainCross(ctx, cfg)
	return trainSummary("train-ce", res, err, pg)
}

// trainSummary prints the outcome (rank 0): a line on stderr and the model directories on stdout.
func trainSummary(name string, res *train.Result, err error, pg *torch.ProcessGroup) error {
	if rank, _ := rocketqa.RankWorld(pg); err != nil || rank != 0 || res == nil {
		return err
	}
	msg := fmt.Sprintf("%d steps in %s (%.1f examples/s), last loss %.4f", res.Steps, res.Elapsed.Round(1e8), res.ExamplesS, res.LastLoss)
	if res.Resumed > 0 {
		msg += fmt.Sprintf(", resumed at step %d", res.Resumed)
	}
	if !math.IsNaN(res.Best) {
		msg += fmt.Sprintf(", best dev score %.4f at step %d", res.Best, res.BestStep)
	}
	logf(name, "%s", msg)
	if res.FinalDir != "" {
		fmt.Fprintf(stdout, "final\t%s\n", res.FinalDir)
	}
	if res.BestDir != "" {
		fmt.Fprintf(stdout, "best\t%s\n", res.BestDir)
	}
	return nil
}

// devIdentity is the --dev directory of a run identity (absolute; "" for none): the best model of a run is the best
// on its dev set, so a resume that evaluates on another one would compare scores of two dev sets.
func devIdentity(dir string) string {
	if dir == "" {
		return ""
	}
	abs, err := filepath.Abs(dir)
	if err != nil {
		return dir
	}
	return abs
}
