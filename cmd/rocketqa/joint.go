package main

import (
	"bytes"
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"

	"github.com/rocketqa-go/rocketqa/dataset"
	"github.com/rocketqa-go/rocketqa/encoder"
	"github.com/rocketqa-go/rocketqa/jointtrain"
	"github.com/rocketqa-go/rocketqa/rocketqa"
	"github.com/rocketqa-go/rocketqa/rocketqa/denoise"
)

// The RocketQA v2 subcommands: train-joint, lists, rerank, memory (package jointtrain).

// jointDefaults are the training-loop flag defaults of train-joint (docs/method.md §5.4; the batch counts lists).
var jointDefaults = rocketqa.Preset{Batch: 3, Epochs: rocketqa.V2Marco.Epochs, LR: rocketqa.V2Marco.LR,
	WeightDecay: rocketqa.V2Marco.WeightDecay, Schedule: rocketqa.V2Marco.Schedule, Optimizer: rocketqa.V2Marco.Optimizer}

func jointPreset(name string) (jointtrain.Config, error) {
	switch name {
	case "marco":
		return jointtrain.MSMARCO, nil
	case "nq":
		return jointtrain.NQ, nil
	}
	return jointtrain.Config{}, usagef("--preset %q: want marco or nq", name)
}

// jointFlags are train-joint's flags.
type jointFlags struct {
	c                           *cmd
	preset, de, ce, train, out  string
	variant, ceHead             string
	m, chunk, qLen, pLen, ceLen int
	once, cached, autocast      bool
	o                           *optFlags
	rt                          *runtimeFlags
}

func addJoint(c *cmd) *jointFlags {
	j, fs := &jointFlags{c: c}, c.fs
	fs.StringVar(&j.preset, "preset", "marco", "official settings: marco (m=128) or nq (m=32)")
	fs.StringVar(&j.de, "de", "", "dual-encoder directory to start from")
	fs.StringVar(&j.ce, "ce", "", "cross-encoder directory to start from")
	fs.StringVar(&j.train, "train", "", "list file")
	fs.StringVar(&j.out, "out", "", "output directory")
	fs.IntVar(&j.m, "list-size", 0, "m, the lines of one list (default: the preset's)")
	fs.StringVar(&j.variant, "variant", "official", "loss: official, seed, paper or static")
	fs.StringVar(&j.ceHead, "ce-head", string(jointtrain.DefaultCEHead), "for a v1 cross-encoder: keep (its head, score z1 - z0) or v2 (a new raw-[CLS] head)")
	fs.BoolVar(&j.once, "query-once", false, "encode every query once instead of once per list line (the official data repeats it)")
	fs.IntVar(&j.chunk, "chunk", 0, "rows per forward pass (0: all rows of a tower at once)")
	fs.BoolVar(&j.cached, "cached", true, "with --chunk: the two-pass step (one chunk's graph in memory)")
	fs.IntVar(&j.qLen, "q-len", 0, "query length (default: the preset's)")
	fs.IntVar(&j.pLen, "p-len", 0, "passage length (default: the preset's)")
	fs.IntVar(&j.ceLen, "ce-len", 0, "pair length (default: the preset's)")
	fs.BoolVar(&j.autocast, "bf16", false, "bfloat16 autocast on CUDA")
	j.o = addOpt(c, jointDefaults, "lists; official: 3 of 128 per GPU x 32 GPUs (marco), 12 of 32 x 8 (nq)")
	j.rt = addRuntime(c, true)
	c.req("de", "ce", "train", "out")
	return j
}

// config parses and checks the flags and returns the joint-training configuration (without device and loop).
func (j *jointFlags) config(args []string) (jointtrain.Config, error) {
	c := j.c
	if err := c.parse(args); err != nil {
		return jointtrain.Config{}, err
	}
	cfg, err := jointPreset(j.preset)
	if err != nil {
		return cfg, err
	}
	if !c.set("epochs") {
		j.o.epochs = cfg.Train.Epochs
	}
	if err := j.o.check(); err != nil {
		return cfg, err
	}
	v, err := jointtrain.ParseVariant(j.variant)
	if err != nil {
		return cfg, usagef("--variant %q: want official, seed, paper or static", j.variant)
	}
	if err := j.check(); err != nil {
		return cfg, err
	}
	if j.m > 0 {
		cfg.ListSize = j.m
	}
	for _, l := range []struct {
		dst *int
		v   int
	}{{&cfg.QMaxSeqLen, j.qLen}, {&cfg.PMaxSeqLen, j.pLen}, {&cfg.CEMaxSeqLen, j.ceLen}} {
		if l.v > 0 {
			*l.dst = l.v
		}
	}
	cfg.DE, cfg.CE, cfg.TrainFile = j.de, j.ce, j.train
	cfg.Variant, cfg.CEHead, cfg.QueryOnce, cfg.ChunkSize, cfg.Cached = v, jointtrain.CEHead(j.ceHead), j.once, j.chunk, j.cached && j.chunk > 0
	cfg.Autocast = j.autocast
	return cfg, nil
}

// check checks --ce-head, the sizes and the input paths.
func (j *jointFlags) check() error {
	if j.ceHead != string(jointtrain.KeepV1Head) && j.ceHead != string(jointtrain.NewV2Head) {
		return usagef("--ce-head %q: want keep or v2", j.ceHead)
	}
	for _, f := range []struct {
		name string
		v    int
	}{{"--list-size", j.m}, {"--chunk", j.chunk}, {"--q-len", j.qLen}, {"--p-len", j.pLen}, {"--ce-len", j.ceLen}} {
		if f.v < 0 {
			return usagef("%s %d: must not be negative", f.name, f.v)
		}
	}
	if j.c.set("list-size") && j.m < 2 {
		return usagef("--list-size %d: want at least 2", j.m)
	}
	for _, d := range [][2]string{{"--de", j.de}, {"--ce", j.ce}} {
		if err := mustDir(d[0], d[1]); err != nil {
			return err
		}
	}
	return mustFile("--train", j.train)
}

func runTrainJoint(ctx context.Context, args []string) error {
	j := addJoint(helpCmd("train-joint"))
	cfg, err := j.config(args)
	if err != nil {
		return err
	}
	ensureBLAS()
	device, err := j.rt.resolve()
	if err != nil {
		return err
	}
	cfg.Device = device
	pg, err := rocketqa.JoinProcessGroup(j.o.backend, device, j.o.distTimeout)
	if err != nil {
		return err
	}
	defer pg.Close()
	rank, world := rocketqa.RankWorld(pg)
	if rank == 0 {
		logf("train-joint", "%s: lists of %d, %d process(es) x %d lists; variant %s; chunk %d (cached %v); device %s; %s",
			j.train, cfg.ListSize, world, j.o.batch, cfg.Variant, cfg.ChunkSize, cfg.Cached, device, runtimeInfo())
	}
	cfg.Train = j.o.trainOptions(j.out, pg)
	cfg.Train.Identity = map[string]string{"command": "train-joint", "preset": j.preset}
	res, err := jointtrain.Train(ctx, cfg)
	return trainSummary("train-joint", res, err, pg)
}

func runLists(ctx context.Context, args []string) error {
	c := helpCmd("lists")
	deRun := c.fs.String("de-run", "", "dual-encoder run of the training queries (TSV)")
	ceRun := c.fs.String("ce-run", "", "cross-encoder scores of its top ranks (TSV from 'score')")
	queries := c.fs.String("queries", "", "query texts")
	qrels := c.fs.String("qrels", "", "positives: qrels TSV or dev.json")
	additional := c.fs.String("additional", "", "additional positives never used as negatives (qrels TSV)")
	coll := c.fs.String("collection", "", "passages: a passage-collection directory or a pid\\tpassage file")
	titles := c.fs.String("titles", "", "pid\\ttitle file for a pid\\tpassage --collection")
	out := c.fs.String("out", "", "list file to write")
	m := c.fs.Int("list-size", 0, "m, passages per list (official: 128 MS MARCO, 32 NQ)")
	topN := c.fs.Int("top-n", 50, "the dual encoder's top ranks the negatives come from")
	negT := c.fs.Float64("neg-threshold", 0.1, "denoised negatives have a CE score below this")
	posT := c.fs.Float64("pos-threshold", 0.9, "an unlabelled query's pseudo-positive scores above this")
	seed := c.fs.Uint64("seed", 1, "seed of the negative sampling")
	noDen := c.fs.Bool("no-denoised", false, "undenoised lists only")
	c.req("de-run", "ce-run", "queries", "qrels", "collection", "out", "list-size")
	if err := c.parse(args); err != nil {
		return err
	}
	if *m < 2 || *topN < 1 || !(*negT > 0) || !(*posT > 0) {
		return usagef("--list-size must be at least 2, --top-n positive, the thresholds positive numbers")
	}
	if err := mustFile("--qrels", *qrels); err != nil {
		return err
	}
	pos, err := dataset.ReadPositives(*qrels, dataset.Options{Context: ctx})
	if err != nil {
		return err
	}
	var add map[string][]string
	if *additional != "" {
		if err := mustFile("--additional", *additional); err != nil {
			return err
		}
		if add, err = dataset.ReadPositives(*additional, dataset.Options{Context: ctx}); err != nil {
			return err
		}
	}
	in, err := denoise.LoadInput(ctx, denoise.Files{DERun: *deRun, CERun: *ceRun, Queries: *queries, Collection: *coll, Titles: *titles}, pos)
	if err != nil {
		return err
	}
	in.Positives, in.Additional = pos, add
	st, err := jointtrain.BuildLists(in, jointtrain.ListOptions{M: *m, TopN: *topN, NegThreshold: *negT, PosThreshold: *posT,
		Seed: *seed, NoDenoised: *noDen}, *out)
	if err != nil {
		return err
	}
	logf("lists", "%s", st)
	fmt.Fprintf(stdout, "%s\t%d lists\n", *out, st.Undenoised+st.Denoised)
	return nil
}

// runRerank is 'score' for any cross-encoder, accepting a joint run's directory (its ce/ is used).
func runRerank(ctx context.Context, args []string) error {
	for i := 0; i < len(args); i++ {
		a := args[i]
		if a == "--help" || a == "-help" || a == "-h" {
			var buf bytes.Buffer
			so := stdout
			stdout = &buf
			err := runScore(ctx, []string{"--help"})
			stdout = so
			h := strings.ReplaceAll(buf.String(), "rocketqa score", "rocketqa rerank")
			h = strings.Replace(h, "\n\nRe-scores", "\n\n'score' for any cross-encoder: --model may also be a train-joint output (final/ or a checkpoint;\nits ce/ is used).\n\nRe-scores", 1)
			fmt.Fprint(stdout, h)
			return err
		}
		var v *string
		if a == "--model" || a == "-model" {
			if i+1 < len(args) {
				v = &args[i+1]
			}
		}
		if v != nil {
			if _, err := os.Stat(filepath.Join(*v, jointtrain.CEDir, encoder.InfoFile)); err == nil {
				args = append([]string(nil), args...)
				args[i+1] = filepath.Join(*v, jointtrain.CEDir)
			}
		}
	}
	return runScore(ctx, args)
}

func runMemory(_ context.Context, args []string) error {
	c := helpCmd("memory")
	table := c.fs.Bool("table", false, "print the table of official settings")
	budget := c.fs.Float64("budget-gib", 24, "device memory to compare with (GiB)")
	cfg := jointtrain.BERTBase()
	c.fs.IntVar(&cfg.Hidden, "hidden", cfg.Hidden, "hidden size")
	c.fs.IntVar(&cfg.Layers, "layers", cfg.Layers, "layers")
	c.fs.IntVar(&cfg.Heads, "heads", cfg.Heads, "attention heads")
	c.fs.IntVar(&cfg.Intermediate, "intermediate", cfg.Intermediate, "FFN size")
	c.fs.IntVar(&cfg.Vocab, "vocab", cfg.Vocab, "vocabulary size")
	c.fs.IntVar(&cfg.B, "b", 3, "lists per device")
	c.fs.IntVar(&cfg.M, "m", 128, "list size")
	c.fs.IntVar(&cfg.QLen, "q-len", 32, "query length")
	c.fs.IntVar(&cfg.PLen, "p-len", 128, "passage length")
	c.fs.IntVar(&cfg.CELen, "ce-len", 160, "pair length")
	c.fs.IntVar(&cfg.ChunkSize, "chunk", 0, "rows per forward pass")
	c.fs.BoolVar(&cfg.Cached, "cached", false, "the two-pass chunked step")
	c.fs.BoolVar(&cfg.QueryOnce, "query-once", false, "queries encoded once per list")
	c.fs.BoolVar(&cfg.FrozenCE, "static", false, "the cross-encoder frozen")
	c.fs.StringVar(&cfg.Optimizer, "optimizer", "adamw", "adamw, lamb or none")
	dtype := c.fs.String("dtype", "fp32", "activation dtype: fp32, or bf16 (autocast)")
	if err := c.parse(args); err != nil {
		return err
	}
	b := int64(*budget * (1 << 30))
	if *table {
		return jointtrain.WriteMemTable(stdout, jointtrain.OfficialMemRows(), b)
	}
	switch *dtype {
	case "fp32":
		cfg.ActivationBytes = 4
	case "bf16", "fp16":
		cfg.ActivationBytes = 2
	default:
		return usagef("--dtype %q: want fp32 or bf16", *dtype)
	}
	if _, err := jointtrain.EstimateMemory(cfg); err != nil {
		return usagef("%v", err)
	}
	name := "B=" + strconv.Itoa(cfg.B) + " m=" + strconv.Itoa(cfg.M)
	if cfg.Cached {
		name += " chunk " + strconv.Itoa(cfg.ChunkSize)
	} else {
		name += " full"
	}
	return jointtrain.WriteMemTable(stdout, []jointtrain.MemRow{{Name: name, Cfg: cfg}}, b)
}
