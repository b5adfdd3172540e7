package main

import (
	"context"
	"strconv"

	"github.com/rocketqa-go/rocketqa/internal/cli"
	"github.com/rocketqa-go/rocketqa/pair"
	"github.com/rocketqa-go/rocketqa/rocketqa"
	"github.com/rocketqa-go/rocketqa/train"
)

func runTrainPair(ctx context.Context, args []string) error {
	// the official PAIR runs' settings (rocketqa.PAIRNQ: AdamW; --lamb for the MS MARCO ones), DuReader passage
	// length unless --lang en
	c, p := helpCmd("train-pair"), rocketqa.PAIRNQ
	cfg := pair.Config{Alpha: 0.1, Dual: rocketqa.DualConfig{QMaxLen: p.QLen, PMaxLen: rocketqa.DuReaderDE.PLen, ForCN: rocketqa.DuReaderDE.ForCN, EvalBatch: 64}}
	l := addLoop(c, &cfg, "Dual.Train.", &cfg.Dual.Train, p, "official PAIR: 512 on each of 8 GPUs (NQ fine-tuning: 1 GPU)")
	c.Bind(&cfg, append(dualFlags("Dual.", "under launch, use the in-batch candidates of each process only (official NQ runs)"),
		pLenFlag("Dual.PMaxLen", rocketqa.DuReaderDE.PLen, p.PLen),
		cli.Flag{"stage", "Stage", "pretrain (L_Q and L_P) or finetune (L_Q)"},
		cli.Flag{"alpha", "Alpha", "weight of the passage-centric loss in pre-training, in [0, 1]"},
		cli.Flag{"lamb", "LAMB", "LAMB optimizer (the official MS MARCO runs; = --optimizer lamb)"})...)
	lang, rt := addLang(c, &cfg, "Dual."), addRuntime(c, true)
	c.Require("train", "out", "stage")
	c.Positive("eval-batch")
	if err := c.parse(args); err != nil {
		return err
	}
	applyLang(c, *lang, map[string]any{"p-len": p.PLen})
	if cfg.LAMB && !c.Set("optimizer") {
		cfg.Dual.Train.Optimizer = train.LAMB
	}
	l.parsed(c)
	if err := cfg.Validate(); err != nil {
		return err
	}
	dev, pg, err := l.join(rt)
	if err != nil {
		return err
	}
	defer pg.Close()
	d := &cfg.Dual
	d.Device = dev
	if d.Train.Identity, err = d.RunIdentity("train-pair", d.TrainFile, d.ForCN, d.Cased, map[string]string{"stage": string(cfg.Stage),
		"alpha": strconv.FormatFloat(cfg.Alpha, 'g', -1, 64), "q_len": strconv.Itoa(d.QMaxLen), "p_len": strconv.Itoa(d.PMaxLen),
		"cross_batch": strconv.FormatBool(!d.NoCrossBatch), "autocast": strconv.FormatBool(d.Autocast),
		"chunk_size": strconv.Itoa(d.ChunkSize), "grad_cache": strconv.FormatBool(d.GradCache), "dev": devIdentity(d.DevDir)}); err != nil { // dropout and padding follow the chunks
		return err
	}
	if rank, world := rocketqa.RankWorld(pg); rank == 0 {
		logf("train-pair", "stage %s (alpha %v); %s; %d process(es) x batch %d, %d candidates per query; device %s; %s",
			cfg.Stage, cfg.Alpha, d.TrainFile, world, l.batch, 2*l.candidates(d.NoCrossBatch), dev, runtimeInfo())
		autocastNote("train-pair", d.Autocast, dev)
	}
	res, err := pair.Train(ctx, cfg)
	return trainSummary("train-pair", res, err, pg)
}
