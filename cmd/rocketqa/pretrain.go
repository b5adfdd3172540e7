package main

import (
	"context"

	"github.com/rocketqa-go/rocketqa/pretrain"
	"github.com/rocketqa-go/rocketqa/rocketqa"
	"github.com/rocketqa-go/rocketqa/train"
)

// pretrainDefaults are the flag defaults of pretrain (BERT-style MLM settings: AdamW, 6% linear warm-up).
var pretrainDefaults = rocketqa.Preset{Batch: 64, Epochs: 10, LR: 1e-4, Warmup: 0.06, WeightDecay: 0.01,
	Schedule: train.Linear, Optimizer: train.AdamW}

func runPretrain(ctx context.Context, args []string) error {
	c := helpCmd("pretrain")
	collection := c.fs.String("collection", "", "passage-collection directory (DuReader layout)")
	in := addInit(c)
	out := c.fs.String("out", "", "output directory (model, checkpoints, metrics)")
	lang := addLang(c)
	maxLen := c.fs.Int("max-len", 256, "sequence length in tokens, [CLS] and [SEP]s included (default 256; 128 with --lang en)")
	masking := c.fs.String("masking", "wwm", "masking unit: wwm (whole words: a word and its ## pieces) or char (every token)")
	maskProb := c.fs.Float64("mask-prob", 0.15, "share of the tokens of each sequence that is predicted")
	o := addOpt(c, pretrainDefaults, "sequences")
	rt := addRuntime(c, true)
	c.req("collection", "out")
	if err := c.parse(args); err != nil {
		return err
	}
	if err := lang.apply(c, map[string]*int{"max-len": maxLen}, map[string]int{"max-len": 128}); err != nil {
		return err
	}
	if err := in.check(); err != nil {
		return err
	}
	if err := o.check(); err != nil {
		return err
	}
	switch {
	case *maxLen < 8:
		return usagef("--max-len %d: must be at least 8", *maxLen)
	case *masking != string(pretrain.WholeWord) && *masking != string(pretrain.Char):
		return usagef("--masking %q: want wwm or char", *masking)
	case !(*maskProb > 0 && *maskProb < 1):
		return usagef("--mask-prob %g: must be in (0, 1)", *maskProb)
	}
	if err := mustDir("--collection", *collection); err != nil {
		return err
	}
	if maxPos, cfg, err := in.MaxPositions(); err != nil {
		return err
	} else if maxPos > 0 && *maxLen > maxPos {
		return usagef("--max-len %d exceeds max_position_embeddings %d of %s", *maxLen, maxPos, cfg)
	}
	ensureBLAS()
	device, err := rt.resolve()
	if err != nil {
		return err
	}
	pg, err := rocketqa.JoinProcessGroup(o.backend, device, o.distTimeout)
	if err != nil {
		return err
	}
	defer pg.Close()
	rank, world := rocketqa.RankWorld(pg)
	if rank == 0 {
		logf("pretrain", "%s; %d process(es) x batch %d, masking %s %.0f%%; device %s; %s",
			*collection, world, o.batch, *masking, 100**maskProb, device, runtimeInfo())
	}
	res, err := pretrain.Run(ctx, pretrain.Config{
		Collection: *collection, Init: in.Init, Config: in.Config, Vocab: in.Vocab,
		MaxLen: *maxLen, ForCN: lang.forCN, Cased: lang.cased,
		Masking: pretrain.Masking(*masking), MaskProb: *maskProb, Device: device,
		Train: o.trainOptions(*out, pg),
	})
	return trainSummary("pretrain", res, err, pg)
}
