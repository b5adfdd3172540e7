package main

import (
	"context"

	"github.com/rocketqa-go/rocketqa/internal/cli"
	"github.com/rocketqa-go/rocketqa/pretrain"
	"github.com/rocketqa-go/rocketqa/rocketqa"
)

func runPretrain(ctx context.Context, args []string) error {
	c, p := helpCmd("pretrain"), rocketqa.MLMPretrain
	cfg := pretrain.Config{MaxLen: p.PLen, Masking: pretrain.WholeWord, MaskProb: 0.15}
	l := addLoop(c, &cfg, "Train.", &cfg.Train, p, "sequences")
	c.Bind(&cfg, append(initFlags(""), cli.Flag{"collection", "Collection", "passage-collection directory (DuReader layout)"},
		cli.Flag{"out", "Train.OutDir", "output directory (model, checkpoints, metrics)"},
		cli.Flag{"max-len", "MaxLen", "sequence length in tokens, [CLS] and [SEP]s included (default 256; 128 with --lang en)"},
		cli.Flag{"masking", "Masking", "masking unit: wwm (whole words: a word and its ## pieces) or char (every token)"},
		cli.Flag{"mask-prob", "MaskProb", "share of the tokens of each sequence that is predicted"})...)
	lang, rt := addLang(c, &cfg, ""), addRuntime(c, true)
	c.Require("collection", "out")
	if err := c.parse(args); err != nil {
		return err
	}
	applyLang(c, *lang, map[string]any{"max-len": rocketqa.MSMarcoDE.PLen})
	l.parsed(c)
	if cfg.MaskProb == 0 { // 0 is the library's "default"; on the command line it is a mistake
		return usagef("--mask-prob 0: must be in (0, 1)")
	}
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
		logf("pretrain", "%s; %d process(es) x batch %d, masking %s %.0f%%; device %s; %s",
			cfg.Collection, world, l.batch, cfg.Masking, 100*cfg.MaskProb, dev, runtimeInfo())
	}
	res, err := pretrain.Run(ctx, cfg)
	return trainSummary("pretrain", res, err, pg)
}
