package main

import (
	"context"
	"fmt"
	"math"
	"strconv"

	"github.com/rocketqa-go/rocketqa/rocketqa"
	"github.com/rocketqa-go/rocketqa/torch"
	"github.com/rocketqa-go/rocketqa/train"
)

// trainFlags are what train-de and train-ce share.
type trainFlags struct {
	c          *cmd
	train, out string
	in         *initFlags
	lang       *langFlags
	o          *optFlags
	rt         *runtimeFlags
}

func addTrain(c *cmd, what string, p rocketqa.Preset, batchNote string) *trainFlags {
	t := &trainFlags{c: c}
	c.fs.StringVar(&t.train, "train", "", "training file ("+what+")")
	t.in = addInit(c)
	c.fs.StringVar(&t.out, "out", "", "output directory (model, checkpoints, metrics)")
	t.lang = addLang(c)
	t.o = addOpt(c, p, batchNote)
	c.req("train", "out")
	return t
}

// checks parses and checks the shared flags; with --lang en the length flags lens not given take enValues.
func (t *trainFlags) checks(args []string, lens map[string]*int, enValues map[string]int) error {
	if err := t.c.parse(args); err != nil {
		return err
	}
	if err := t.lang.apply(t.c, lens, enValues); err != nil {
		return err
	}
	if err := t.o.check(); err != nil {
		return err
	}
	return t.in.check()
}

// begin checks the training file and the sequence lengths against the model's positions, resolves the device
// and joins the process group of a launch.
func (t *trainFlags) begin(lens map[string]*int) (torch.Device, *torch.ProcessGroup, error) {
	var dev torch.Device
	if err := mustFile("--train", t.train); err != nil {
		return dev, nil, err
	}
	maxPos, cfg, err := t.in.MaxPositions()
	if err != nil {
		return dev, nil, err
	}
	for name, n := range lens {
		if maxPos > 0 && *n > maxPos {
			return dev, nil, usagef("--%s %d exceeds max_position_embeddings %d of %s", name, *n, maxPos, cfg)
		}
	}
	if dev, err = t.rt.resolve(); err != nil {
		return dev, nil, err
	}
	pg, err := rocketqa.JoinProcessGroup(t.o.backend, dev, t.o.distTimeout)
	return dev, pg, err
}

// options turns the flags into train.Options with the run identity; the global batch is the per-process batch
// times the processes.
func (t *trainFlags) options(pg *torch.ProcessGroup, command string, extra map[string]string) (train.Options, error) {
	o := t.o.trainOptions(t.out, pg)
	id, err := t.in.RunIdentity(command, t.train, t.lang.forCN, t.lang.cased, extra)
	o.Identity = id
	return o, err
}

// trainOptions is the train.Options of the loop's flags alone (no run identity).
func (o *optFlags) trainOptions(out string, pg *torch.ProcessGroup) train.Options {
	_, world := rocketqa.RankWorld(pg)
	clip := o.clip
	if clip <= 0 {
		clip = -1 // train.Options: negative disables, 0 means the default 1
	}
	return train.Options{
		OutDir: out, Epochs: o.epochs, MaxSteps: o.maxSteps, BatchSize: o.batch * world,
		LR: o.lr, WeightDecay: o.wd, WarmupProportion: o.warmup, Schedule: train.Schedule(o.schedule),
		MaxGradNorm: clip, Seed: o.seed, SaveEvery: o.saveEvery,
		KeepCheckpoints: o.keep, LogEvery: o.logEvery, Log: stderr, PG: pg, NoResume: o.noResume,
		Optimizer: o.optimizer,
	}
}

func runTrainDE(ctx context.Context, args []string) error {
	c := helpCmd("train-de")
	t := addTrain(c, "dual.train.tsv, 6 columns", rocketqa.DuReaderDE, "DuReader baseline: 128 on each of 4 GPUs")
	dev := c.fs.String("dev", "", "DuReader-layout directory evaluated during training (MRR@10)")
	qLen := c.fs.Int("q-len", rocketqa.DuReaderDE.QLen, "query length in tokens, [CLS] and [SEP] included")
	pLen := c.fs.Int("p-len", rocketqa.DuReaderDE.PLen, fmt.Sprintf("passage length in tokens (default %d; %d with --lang en)", rocketqa.DuReaderDE.PLen, rocketqa.MSMarcoDE.PLen))
	shared := c.fs.Bool("shared", false, "one tower for queries and passages (PAIR)")
	chunk := c.fs.Int("chunk", 0, "encode at most N sequences per forward pass (0: the whole batch at once)")
	gradCache := c.fs.Bool("grad-cache", false, "gradient caching: a large batch in the memory of one --chunk (same gradients)")
	noCross := c.fs.Bool("no-cross-batch", false, "under launch, use in-batch negatives of each process only")
	autocast := c.fs.Bool("autocast", false, "bfloat16 autocast for the forward passes (CUDA, or a CPU with avx512_bf16/amx_bf16; weights,\noptimizer state and losses stay float32)")
	evalEvery := c.fs.Int("eval-every", 0, "evaluate on --dev every N steps (0: only at the end)")
	evalBatch := c.fs.Int("eval-batch", 64, "encoding batch of the --dev evaluation")
	t.rt = addRuntime(c, true)
	lens := map[string]*int{"q-len": qLen, "p-len": pLen}
	if err := t.checks(args, lens, map[string]int{"q-len": rocketqa.MSMarcoDE.QLen, "p-len": rocketqa.MSMarcoDE.PLen}); err != nil {
		return err
	}
	if err := check(*qLen >= 3 && *pLen >= 3, fmt.Sprintf("--q-len %d / --p-len %d: must be at least 3", *qLen, *pLen),
		*chunk >= 0 && *evalEvery >= 0 && *evalBatch > 0, "--chunk and --eval-every must not be negative, --eval-batch must be positive",
		*evalEvery == 0 || *dev != "", "--eval-every needs --dev"); err != nil {
		return err
	}
	if *dev != "" {
		if err := mustDir("--dev", *dev); err != nil {
			return err
		}
	}
	device, pg, err := t.begin(lens)
	if err != nil {
		return err
	}
	defer pg.Close()
	topts, err := t.options(pg, "train-de", map[string]string{"q_len": strconv.Itoa(*qLen), "p_len": strconv.Itoa(*pLen),
		"shared": strconv.FormatBool(*shared), "cross_batch": strconv.FormatBool(!*noCross), "autocast": strconv.FormatBool(*autocast)})
	if err != nil {
		return err
	}
	topts.EvalEvery = *evalEvery
	if rank, world := rocketqa.RankWorld(pg); rank == 0 {
		neg := 2*t.o.batch*map[bool]int{true: world, false: 1}[pg != nil && !*noCross] - 1
		logf("train-de", "%s; %d process(es) x batch %d, %d negatives per query; device %s; %s", t.train, world, t.o.batch, neg, device, runtimeInfo())
	}
	res, err := rocketqa.TrainDual(ctx, rocketqa.DualConfig{InitSpec: t.in.InitSpec, TrainFile: t.train, DevDir: *dev,
		QMaxLen: *qLen, PMaxLen: *pLen, ForCN: t.lang.forCN, Cased: t.lang.cased, Shared: *shared,
		ChunkSize: *chunk, GradCache: *gradCache, Device: device, Autocast: *autocast, EvalBatch: *evalBatch,
		NoCrossBatch: *noCross, Train: topts})
	return trainSummary("train-de", res, err, pg)
}

func runTrainCE(ctx context.Context, args []string) error {
	c := helpCmd("train-ce")
	t := addTrain(c, "cross.train.tsv, 4 columns", rocketqa.DuReaderCE, "DuReader baseline: 32 on each of 4 GPUs")
	maxLen := c.fs.Int("max-len", rocketqa.DuReaderCE.PairLen, fmt.Sprintf("pair length in tokens (default %d; %d with --lang en)", rocketqa.DuReaderCE.PairLen, rocketqa.MSMarcoCE.PairLen))
	v2 := c.fs.Bool("v2-head", false, "raw [CLS] -> Linear(H, 1) head of RocketQA v2 (score = logit) instead of\npooler -> Linear(H, 2) (score = P(relevant))")
	perturb := c.fs.Bool("perturb", rocketqa.DuReaderCE.Perturb, "the official embedding-gradient (adversarial) step; --perturb=false disables")
	autocast := c.fs.Bool("autocast", false, "bfloat16 autocast for the forward passes (CUDA, or a CPU with avx512_bf16/amx_bf16)")
	t.rt = addRuntime(c, true)
	lens := map[string]*int{"max-len": maxLen}
	if err := t.checks(args, lens, map[string]int{"max-len": rocketqa.MSMarcoCE.PairLen}); err != nil {
		return err
	}
	if *maxLen < 4 {
		return usagef("--max-len %d: must be at least 4", *maxLen)
	}
	device, pg, err := t.begin(lens)
	if err != nil {
		return err
	}
	defer pg.Close()
	if rank, world := rocketqa.RankWorld(pg); rank == 0 {
		logf("train-ce", "%s; %d process(es) x batch %d; device %s; %s", t.train, world, t.o.batch, device, runtimeInfo())
	}
	topts, err := t.options(pg, "train-ce", map[string]string{"max_len": strconv.Itoa(*maxLen),
		"v2_head": strconv.FormatBool(*v2), "perturb": strconv.FormatBool(*perturb), "autocast": strconv.FormatBool(*autocast)})
	if err != nil {
		return err
	}
	res, err := rocketqa.TrainCross(ctx, rocketqa.CrossConfig{InitSpec: t.in.InitSpec, TrainFile: t.train,
		MaxSeqLen: *maxLen, ForCN: t.lang.forCN, Cased: t.lang.cased, V2Head: *v2, Perturb: *perturb,
		Device: device, Autocast: *autocast, Train: topts})
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
