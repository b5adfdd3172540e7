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

func runTrainPair(ctx context.Context, args []string) error {
	c := helpCmd("train-pair")
	stage := c.fs.String("stage", "", "pretrain (L_Q and L_P) or finetune (L_Q)")
	alpha := c.fs.Float64("alpha", 0.1, "weight of the passage-centric loss in pre-training, in [0, 1]")
	lamb := c.fs.Bool("lamb", false, "LAMB optimizer (the official MS MARCO runs; = --optimizer lamb)")
	t := addTrain(c, "dual.train.tsv, 6 columns", pairDefaults, "official PAIR: 512 on each of 8 GPUs (NQ fine-tuning: 1 GPU)")
	dev := c.fs.String("dev", "", "DuReader-layout directory evaluated during training (MRR@10)")
	qLen := c.fs.Int("q-len", pairDefaults.QLen, "query length in tokens, [CLS] and [SEP] included")
	pLen := c.fs.Int("p-len", pairDefaults.PLen, fmt.Sprintf("passage length in tokens (default %d; %d with --lang en)", pairDefaults.PLen, rocketqa.PAIRMarco.PLen))
	chunk := c.fs.Int("chunk", 0, "encode at most N sequences per forward pass (0: the whole batch at once)")
	gradCache := c.fs.Bool("grad-cache", false, "gradient caching: a large batch in the memory of one --chunk (same gradients)")
	noCross := c.fs.Bool("no-cross-batch", false, "under launch, use the in-batch candidates of each process only (official NQ runs)")
	autocast := c.fs.Bool("autocast", false, "bfloat16 autocast for the forward passes")
	evalEvery := c.fs.Int("eval-every", 0, "evaluate on --dev every N steps (0: only at the end)")
	evalBatch := c.fs.Int("eval-batch", 64, "encoding batch of the --dev evaluation")
	t.rt = addRuntime(c, true)
	c.req("stage")
	lens := map[string]*int{"q-len": qLen, "p-len": pLen}
	if err := t.checks(args, lens, map[string]int{"p-len": rocketqa.PAIRMarco.PLen}); err != nil {
		return err
	}
	st, err := pair.ParseStage(*stage)
	if err := check(err == nil, fmt.Sprintf("--stage %q: want pretrain or finetune", *stage),
		*alpha >= 0 && *alpha <= 1, fmt.Sprintf("--alpha %v: must be in [0, 1]", *alpha),
		*qLen >= 3 && *pLen >= 3, fmt.Sprintf("--q-len %d / --p-len %d: must be at least 3", *qLen, *pLen),
		*chunk >= 0 && *evalEvery >= 0 && *evalBatch > 0, "--chunk and --eval-every must not be negative, --eval-batch must be positive",
		*evalEvery == 0 || *dev != "", "--eval-every needs --dev",
		!*lamb || !c.set("optimizer") || t.o.optimizer == train.LAMB, "--lamb and --optimizer "+t.o.optimizer+": choose one"); err != nil {
		return err
	}
	if *lamb {
		t.o.optimizer = train.LAMB
		if !c.set("wd") {
			t.o.wd = rocketqa.PAIRMarco.WeightDecay // Paddle's lamb_weight_decay
		}
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
	topts, err := t.options(pg, "train-pair", map[string]string{"stage": string(st), "alpha": strconv.FormatFloat(*alpha, 'g', -1, 64),
		"q_len": strconv.Itoa(*qLen), "p_len": strconv.Itoa(*pLen), "cross_batch": strconv.FormatBool(!*noCross), "autocast": strconv.FormatBool(*autocast)})
	if err != nil {
		return err
	}
	topts.EvalEvery = *evalEvery
	if rank, world := rocketqa.RankWorld(pg); rank == 0 {
		cands := 2 * t.o.batch * map[bool]int{true: world, false: 1}[pg != nil && !*noCross]
		logf("train-pair", "stage %s (alpha %v); %s; %d process(es) x batch %d, %d candidates per query; device %s; %s",
			st, *alpha, t.train, world, t.o.batch, cands, device, runtimeInfo())
	}
	res, err := pair.Train(ctx, pair.Config{Stage: st, Alpha: *alpha, Dual: rocketqa.DualConfig{
		InitSpec: t.in.InitSpec, TrainFile: t.train, DevDir: *dev,
		QMaxLen: *qLen, PMaxLen: *pLen, ForCN: t.lang.forCN, Cased: t.lang.cased,
		ChunkSize: *chunk, GradCache: *gradCache, Device: device, Autocast: *autocast, EvalBatch: *evalBatch,
		NoCrossBatch: *noCross, Train: topts,
	}})
	return trainSummary("train-pair", res, err, pg)
}
