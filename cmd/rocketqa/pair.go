package main

import (
	"context"
	"fmt"
	"strconv"

	"github.com/rocketqa-go/rocketqa/pair"
	"github.com/rocketqa-go/rocketqa/rocketqa"
	"github.com/rocketqa-go/rocketqa/train"
)

// pairDefaults are the official PAIR runs' settings (docs/method.md §4) as flag defaults: AdamW (the NQ runs;
// --lamb for the MS MARCO ones), DuReader passage length unless --lang en.
var pairDefaults = rocketqa.Preset{Batch: rocketqa.PAIRMarco.Batch, Processes: rocketqa.PAIRMarco.Processes,
	Epochs: rocketqa.PAIRMarco.Epochs, LR: rocketqa.PAIRMarco.LR, Warmup: rocketqa.PAIRMarco.Warmup,
	Schedule: rocketqa.PAIRMarco.Schedule, Optimizer: train.AdamW, QLen: rocketqa.PAIRMarco.QLen,
	PLen: rocketqa.DuReaderDE.PLen}

// pairFlags are train-pair's flags beyond the shared training ones.
type pairFlags struct {
	*trainFlags
	stage, dev                              string
	alpha                                   float64
	lamb, gradCache, noCross, autocast      bool
	qLen, pLen, chunk, evalEvery, evalBatch int
}

func addPair(c *cmd) *pairFlags {
	p, fs := &pairFlags{}, c.fs
	fs.StringVar(&p.stage, "stage", "", "pretrain (L_Q and L_P) or finetune (L_Q)")
	fs.Float64Var(&p.alpha, "alpha", 0.1, "weight of the passage-centric loss in pre-training, in [0, 1]")
	fs.BoolVar(&p.lamb, "lamb", false, "LAMB optimizer (the official MS MARCO runs; = --optimizer lamb)")
	p.trainFlags = addTrain(c, "dual.train.tsv, 6 columns", pairDefaults, "official PAIR: 512 on each of 8 GPUs (NQ fine-tuning: 1 GPU)")
	fs.StringVar(&p.dev, "dev", "", "DuReader-layout directory evaluated during training (MRR@10)")
	fs.IntVar(&p.qLen, "q-len", pairDefaults.QLen, "query length in tokens, [CLS] and [SEP] included")
	fs.IntVar(&p.pLen, "p-len", pairDefaults.PLen, fmt.Sprintf("passage length in tokens (default %d; %d with --lang en)", pairDefaults.PLen, rocketqa.PAIRMarco.PLen))
	fs.IntVar(&p.chunk, "chunk", 0, "encode at most N sequences per forward pass (0: the whole batch at once)")
	fs.BoolVar(&p.gradCache, "grad-cache", false, "gradient caching: a large batch in the memory of one --chunk (same gradients)")
	fs.BoolVar(&p.noCross, "no-cross-batch", false, "under launch, use the in-batch candidates of each process only (official NQ runs)")
	fs.BoolVar(&p.autocast, "autocast", false, "bfloat16 autocast for the forward passes")
	fs.IntVar(&p.evalEvery, "eval-every", 0, "evaluate on --dev every N steps (0: only at the end)")
	fs.IntVar(&p.evalBatch, "eval-batch", 64, "encoding batch of the --dev evaluation")
	p.rt = addRuntime(c, true)
	c.req("stage")
	return p
}

// checks parses and checks the flags; --lamb selects LAMB and its weight decay.
func (p *pairFlags) checks(args []string, lens map[string]*int) (pair.Stage, error) {
	if err := p.trainFlags.checks(args, lens, map[string]int{"p-len": rocketqa.PAIRMarco.PLen}); err != nil {
		return "", err
	}
	st, err := pair.ParseStage(p.stage)
	if err := check(err == nil, fmt.Sprintf("--stage %q: want pretrain or finetune", p.stage),
		p.alpha >= 0 && p.alpha <= 1, fmt.Sprintf("--alpha %v: must be in [0, 1]", p.alpha),
		p.qLen >= 3 && p.pLen >= 3, fmt.Sprintf("--q-len %d / --p-len %d: must be at least 3", p.qLen, p.pLen),
		p.chunk >= 0 && p.evalEvery >= 0 && p.evalBatch > 0, "--chunk and --eval-every must not be negative, --eval-batch must be positive",
		p.evalEvery == 0 || p.dev != "", "--eval-every needs --dev",
		!p.lamb || !p.c.set("optimizer") || p.o.optimizer == train.LAMB, "--lamb and --optimizer "+p.o.optimizer+": choose one"); err != nil {
		return st, err
	}
	if p.lamb {
		p.o.optimizer = train.LAMB
		if !p.c.set("wd") {
			p.o.wd = rocketqa.PAIRMarco.WeightDecay // Paddle's lamb_weight_decay
		}
	}
	if p.dev != "" {
		if err := mustDir("--dev", p.dev); err != nil {
			return st, err
		}
	}
	return st, nil
}

func runTrainPair(ctx context.Context, args []string) error {
	p := addPair(helpCmd("train-pair"))
	lens := map[string]*int{"q-len": &p.qLen, "p-len": &p.pLen}
	st, err := p.checks(args, lens)
	if err != nil {
		return err
	}
	device, pg, err := p.begin(lens)
	if err != nil {
		return err
	}
	defer pg.Close()
	topts, err := p.options(pg, "train-pair", map[string]string{"stage": string(st), "alpha": strconv.FormatFloat(p.alpha, 'g', -1, 64),
		"q_len": strconv.Itoa(p.qLen), "p_len": strconv.Itoa(p.pLen), "cross_batch": strconv.FormatBool(!p.noCross), "autocast": strconv.FormatBool(p.autocast)})
	if err != nil {
		return err
	}
	topts.EvalEvery = p.evalEvery
	if rank, world := rocketqa.RankWorld(pg); rank == 0 {
		cands := 2 * p.o.batch * map[bool]int{true: world, false: 1}[pg != nil && !p.noCross]
		logf("train-pair", "stage %s (alpha %v); %s; %d process(es) x batch %d, %d candidates per query; device %s; %s",
			st, p.alpha, p.train, world, p.o.batch, cands, device, runtimeInfo())
	}
	res, err := pair.Train(ctx, pair.Config{Stage: st, Alpha: p.alpha, Dual: rocketqa.DualConfig{
		InitSpec: p.in.InitSpec, TrainFile: p.train, DevDir: p.dev,
		QMaxLen: p.qLen, PMaxLen: p.pLen, ForCN: p.lang.forCN, Cased: p.lang.cased,
		ChunkSize: p.chunk, GradCache: p.gradCache, Device: device, Autocast: p.autocast, EvalBatch: p.evalBatch,
		NoCrossBatch: p.noCross, Train: topts,
	}})
	return trainSummary("train-pair", res, err, pg)
}
