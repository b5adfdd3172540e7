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

// pretrainFlags are pretrain's flags.
type pretrainFlags struct {
	c               *cmd
	collection, out string
	masking         string
	maxLen          int
	maskProb        float64
	in              *initFlags
	lang            *langFlags
	o               *optFlags
	rt              *runtimeFlags
}

func addPretrain(c *cmd) *pretrainFlags {
	p := &pretrainFlags{c: c}
	c.fs.StringVar(&p.collection, "collection", "", "passage-collection directory (DuReader layout)")
	p.in = addInit(c)
	c.fs.StringVar(&p.out, "out", "", "output directory (model, checkpoints, metrics)")
	p.lang = addLang(c)
	c.fs.IntVar(&p.maxLen, "max-len", 256, "sequence length in tokens, [CLS] and [SEP]s included (default 256; 128 with --lang en)")
	c.fs.StringVar(&p.masking, "masking", "wwm", "masking unit: wwm (whole words: a word and its ## pieces) or char (every token)")
	c.fs.Float64Var(&p.maskProb, "mask-prob", 0.15, "share of the tokens of each sequence that is predicted")
	p.o = addOpt(c, pretrainDefaults, "sequences")
	p.rt = addRuntime(c, true)
	c.req("collection", "out")
	return p
}

// checks parses and checks the flags.
func (p *pretrainFlags) checks(args []string) error {
	c := p.c
	if err := c.parse(args); err != nil {
		return err
	}
	if err := p.lang.apply(c, map[string]*int{"max-len": &p.maxLen}, map[string]int{"max-len": 128}); err != nil {
		return err
	}
	if err := p.in.check(); err != nil {
		return err
	}
	if err := p.o.check(); err != nil {
		return err
	}
	switch {
	case p.maxLen < 8:
		return usagef("--max-len %d: must be at least 8", p.maxLen)
	case p.masking != string(pretrain.WholeWord) && p.masking != string(pretrain.Char):
		return usagef("--masking %q: want wwm or char", p.masking)
	case !(p.maskProb > 0 && p.maskProb < 1):
		return usagef("--mask-prob %g: must be in (0, 1)", p.maskProb)
	}
	if err := mustDir("--collection", p.collection); err != nil {
		return err
	}
	if maxPos, cfg, err := p.in.MaxPositions(); err != nil {
		return err
	} else if maxPos > 0 && p.maxLen > maxPos {
		return usagef("--max-len %d exceeds max_position_embeddings %d of %s", p.maxLen, maxPos, cfg)
	}
	return nil
}

func runPretrain(ctx context.Context, args []string) error {
	p := addPretrain(helpCmd("pretrain"))
	if err := p.checks(args); err != nil {
		return err
	}
	ensureBLAS()
	device, err := p.rt.resolve()
	if err != nil {
		return err
	}
	pg, err := rocketqa.JoinProcessGroup(p.o.backend, device, p.o.distTimeout)
	if err != nil {
		return err
	}
	defer pg.Close()
	rank, world := rocketqa.RankWorld(pg)
	if rank == 0 {
		logf("pretrain", "%s; %d process(es) x batch %d, masking %s %.0f%%; device %s; %s",
			p.collection, world, p.o.batch, p.masking, 100*p.maskProb, device, runtimeInfo())
	}
	res, err := pretrain.Run(ctx, pretrain.Config{
		Collection: p.collection, Init: p.in.Init, Config: p.in.Config, Vocab: p.in.Vocab,
		MaxLen: p.maxLen, ForCN: p.lang.forCN, Cased: p.lang.cased,
		Masking: pretrain.Masking(p.masking), MaskProb: p.maskProb, Device: device,
		Train: p.o.trainOptions(p.out, pg),
	})
	return trainSummary("pretrain", res, err, pg)
}
