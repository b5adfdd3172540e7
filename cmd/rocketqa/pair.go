package main

import (
	"context"

	"github.com/rocketqa-go/rocketqa/pair"
	"github.com/rocketqa-go/rocketqa/rocketqa"
)

func runTrainPair(ctx context.Context, args []string) error {
	c := newCmd("train-pair",
		"rocketqa train-pair --stage pretrain|finetune --train dual.train.tsv --init DIR --out DIR [flags]\n"+
			"rocketqa launch --nproc N -- train-pair ...   (cross-batch over N processes)",
		`Trains a PAIR dual encoder (Ren et al., Findings of ACL 2021): one shared tower for queries and passages
(raw [CLS], dot product) with the query-centric loss L_Q (each query against all positives and hard negatives of
the global batch) and, in pre-training, the passage-centric loss L_P (each positive against all queries and hard
negatives of the global batch, target its own query): L = (1-alpha)*L_Q + alpha*L_P.

Stage 1, --stage pretrain: pseudo-labelled data, the output of 'rocketqa augment' (positive: CE > 0.9, negatives:
CE < 0.1), loss with both terms (--alpha 0.1). Start from a pretrained model (--init).
Stage 2, --stage finetune: labelled queries with denoised hard negatives ('rocketqa mine'), L_Q only; --init is
stage 1's --out/final.

Input: --train, a dual.train.tsv (6 columns: query, positive title, positive passage, negative title, negative
passage, label). --init must be a pretrained model directory or a shared-tower dual encoder (a two-tower one is
refused). Output in --out: final/ (an ordinary shared-tower dual encoder for encode / index / search and
rocketqa.Load), checkpoints (a rerun with the same --out and settings resumes; another --stage, --alpha or
--train is refused), metrics.jsonl, pair.json (the stage's settings). Defaults are the official PAIR runs'
(lr 3e-5, 10% warmup, 10 epochs, q 32; --lang en: p 128); the official MS MARCO runs use LAMB (--lamb: Paddle's
LambOptimizer, weight decay 0.01 unless --wd is given).`,
		`rocketqa train-pair --stage pretrain --lang en --train marco_pretrain.tsv --init ernie-base --out pair1
rocketqa train-pair --stage finetune --lang en --train marco_finetune.tsv --init pair1/final --out pair2`)
	stage := c.fs.String("stage", "", "pretrain (L_Q and L_P) or finetune (L_Q)")
	alpha := c.fs.Float64("alpha", 0.1, "weight of the passage-centric loss in pre-training, in [0, 1]")
	lamb := c.fs.Bool("lamb", false, "LAMB optimizer (the official MS MARCO runs)")
	c.fs.String("train", "", "training file (dual.train.tsv, 6 columns)")
	in := addInit(c)
	out := c.fs.String("out", "", "output directory (model, checkpoints, metrics)")
	dev := c.fs.String("dev", "", "DuReader-layout directory evaluated during training (MRR@10)")
	lang := addLang(c)
	qLen := c.fs.Int("q-len", 32, "query length in tokens, [CLS] and [SEP] included")
	pLen := c.fs.Int("p-len", 384, "passage length in tokens (default 384; 128 with --lang en)")
	o := addOpt(c, optDefaults{batch: 512, epochs: 10, lr: 3e-5, warmup: 0.1, wd: 0, schedule: "paddle",
		batchNote: "official PAIR: 512 on each of 8 GPUs (NQ fine-tuning: 1 GPU)"})
	chunk := c.fs.Int("chunk", 0, "encode at most N sequences per forward pass (0: the whole batch at once)")
	gradCache := c.fs.Bool("grad-cache", false, "gradient caching: a large batch in the memory of one --chunk (same gradients)")
	noCross := c.fs.Bool("no-cross-batch", false, "under launch, use the in-batch candidates of each process only (official NQ runs)")
	autocast := c.fs.Bool("autocast", false, "bfloat16 autocast for the forward passes (CUDA only)")
	evalEvery := c.fs.Int("eval-every", 0, "evaluate on --dev every N steps (0: only at the end)")
	evalBatch := c.fs.Int("eval-batch", 64, "encoding batch of the --dev evaluation")
	rt := addRuntime(c, true)
	c.req("stage", "train", "out")
	if err := c.parse(args); err != nil {
		return err
	}
	st, err := pair.ParseStage(*stage)
	if err != nil {
		return usagef("--stage %q: want pretrain or finetune", *stage)
	}
	trainFile := c.fs.Lookup("train").Value.String()
	if err := lang.apply(c, map[string]*int{"p-len": pLen}, map[string]int{"p-len": 128}); err != nil {
		return err
	}
	if err := in.check(); err != nil {
		return err
	}
	if err := o.check(); err != nil {
		return err
	}
	switch {
	case !(*alpha >= 0 && *alpha <= 1):
		return usagef("--alpha %v: must be in [0, 1]", *alpha)
	case *qLen < 3 || *pLen < 3:
		return usagef("--q-len %d / --p-len %d: must be at least 3", *qLen, *pLen)
	case *chunk < 0 || *evalEvery < 0 || *evalBatch <= 0:
		return usagef("--chunk and --eval-every must not be negative, --eval-batch must be positive")
	case *evalEvery > 0 && *dev == "":
		return usagef("--eval-every needs --dev")
	}
	if err := mustFile("--train", trainFile); err != nil {
		return err
	}
	if *dev != "" {
		if err := mustDir("--dev", *dev); err != nil {
			return err
		}
	}
	if err := checkLengths(in, map[string]int{"--q-len": *qLen, "--p-len": *pLen}); err != nil {
		return err
	}
	ensureBLAS()
	device, err := rt.resolve()
	if err != nil {
		return err
	}
	pg, err := joinGroup(o, device)
	if err != nil {
		return err
	}
	defer pg.Close()
	rank, world := rankWorld(pg)
	if *lamb { // --lamb is --optimizer lamb (and its weight-decay default)
		if o.c.set("optimizer") && o.optimizer != "lamb" {
			return usagef("--lamb with --optimizer %s: choose one", o.optimizer)
		}
		o.optimizer = "lamb"
		if !o.c.set("wd") {
			o.wd = 0.01
		}
	}
	topts := o.trainOptions(*out, pg)
	topts.EvalEvery = *evalEvery
	if rank == 0 {
		cands := 2 * o.batch
		if pg != nil && !*noCross {
			cands = 2 * o.batch * world
		}
		logf("train-pair", "stage %s (alpha %v); %s; %d process(es) x batch %d, %d candidates per query; device %s; %s",
			st, *alpha, trainFile, world, o.batch, cands, device, runtimeInfo())
	}
	res, err := pair.Train(ctx, pair.Config{Stage: st, Alpha: *alpha, LAMB: *lamb, Dual: rocketqa.DualConfig{
		InitSpec:  rocketqa.InitSpec{Init: in.init, Config: in.config, Vocab: in.vocab},
		TrainFile: trainFile, DevDir: *dev,
		QMaxLen: *qLen, PMaxLen: *pLen, ForCN: lang.forCN, Cased: lang.cased,
		ChunkSize: *chunk, GradCache: *gradCache, Device: device, Autocast: *autocast, EvalBatch: *evalBatch,
		NoCrossBatch: *noCross, Train: topts,
	}})
	if err != nil {
		return err
	}
	return trainSummary("train-pair", res, rank)
}
