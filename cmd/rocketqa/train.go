package main

import (
	"context"
	"fmt"
	"math"
	"os"
	"path/filepath"
	"strconv"

	"github.com/rocketqa-go/rocketqa/encoder"
	"github.com/rocketqa-go/rocketqa/rocketqa"
	"github.com/rocketqa-go/rocketqa/torch"
	"github.com/rocketqa-go/rocketqa/train"
)

func runTrainDE(ctx context.Context, args []string) error {
	c := newCmd("train-de",
		"rocketqa train-de --train dual.train.tsv (--init DIR | --config config.json --vocab vocab.txt) --out DIR [flags]\n"+
			"rocketqa launch --nproc N -- train-de ...   (cross-batch negatives over N processes)",
		`Trains a RocketQA v1 dual encoder (a query tower and a passage tower, raw [CLS] vectors, dot product) with the
cross-batch loss: every query is scored against the positives and hard negatives of the whole global batch.

Input: --train, a dual.train.tsv of 6 tab-separated columns per line:
  query, positive title, positive passage, negative title, negative passage, label (unused)
(DuReader-retrieval train/dual.train.tsv, or the output of 'rocketqa mine' / 'augment' / 'merge').
Both towers start from --init (a pretrained BERT/ERNIE directory in HuggingFace layout: "twin init"), or from a
random model described by --config and --vocab.

Output in --out: final/ (the model: rocketqa.json, query_encoder/ and para_encoder/, each a HuggingFace BertModel
directory), best/ (the best model on --dev), checkpoints/step-N (resumable: a run started again with the same --out
and the same training file, model and settings continues where it stopped; other settings are refused, see
--no-resume), metrics.jsonl (loss, lr, grad norm per step; dev metrics). One run at a time holds --out.

With --dev DIR (DuReader layout: dev/q2qid.dev.json, dev/dev.json, passage-collection/) the model is scored
(MRR@10, Recall@1, Recall@50 over the whole collection, encoded in memory: use a small dev pool) every
--eval-every steps and at the end, by rank 0 while the other processes wait (within --dist-timeout).

Under 'rocketqa launch' (RANK, WORLD_SIZE, MASTER_ADDR, MASTER_PORT set) every process joins one c10d group, takes
--batch examples per step and gathers the passages of all processes: each query sees 2*batch*processes-1
negatives. Rank 0 logs and writes the model. Defaults are the DuReader baseline's (ERNIE 1.0, 4 GPUs x 128,
lr 3e-5, 10% warmup, 10 epochs, q 32 / p 384); --lang en gives the MS MARCO lengths (p 128).`,
		`rocketqa launch --nproc 4 -- train-de --device cuda --autocast \
    --train dureader/train/dual.train.tsv --init ernie-1.0-base-zh --dev dureader --eval-every 2000 --out de0`)
	c.fs.String("train", "", "training file (dual.train.tsv, 6 columns)")
	in := addInit(c)
	out := c.fs.String("out", "", "output directory (model, checkpoints, metrics)")
	dev := c.fs.String("dev", "", "DuReader-layout directory evaluated during training (MRR@10)")
	lang := addLang(c)
	qLen := c.fs.Int("q-len", 32, "query length in tokens, [CLS] and [SEP] included")
	pLen := c.fs.Int("p-len", 384, "passage length in tokens (default 384; 128 with --lang en)")
	shared := c.fs.Bool("shared", false, "one tower for queries and passages (PAIR)")
	o := addOpt(c, optDefaults{batch: 128, epochs: 10, lr: 3e-5, warmup: 0.1, wd: 0, schedule: "paddle",
		batchNote: "DuReader baseline: 128 on each of 4 GPUs"})
	chunk := c.fs.Int("chunk", 0, "encode at most N sequences per forward pass (0: the whole batch at once)")
	gradCache := c.fs.Bool("grad-cache", false, "gradient caching: a large batch in the memory of one --chunk (same gradients)")
	noCross := c.fs.Bool("no-cross-batch", false, "under launch, use in-batch negatives of each process only")
	autocast := c.fs.Bool("autocast", false, "bfloat16 autocast for the forward passes (CUDA only)")
	evalEvery := c.fs.Int("eval-every", 0, "evaluate on --dev every N steps (0: only at the end)")
	evalBatch := c.fs.Int("eval-batch", 64, "encoding batch of the --dev evaluation")
	rt := addRuntime(c, true)
	c.req("train", "out")
	if err := c.parse(args); err != nil {
		return err
	}
	trainFile := c.fs.Lookup("train").Value.String()
	if err := lang.apply(c, map[string]*int{"p-len": pLen}, map[string]int{"p-len": 128}); err != nil {
		return err
	}
	if err := o.check(); err != nil {
		return err
	}
	if err := in.check(); err != nil {
		return err
	}
	switch {
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
	topts := o.trainOptions(*out, pg)
	topts.EvalEvery = *evalEvery
	if topts.Identity, err = runIdentity("train-de", trainFile, in, lang, map[string]string{
		"q_len": strconv.Itoa(*qLen), "p_len": strconv.Itoa(*pLen), "shared": strconv.FormatBool(*shared),
		"cross_batch": strconv.FormatBool(!*noCross), "autocast": strconv.FormatBool(*autocast),
	}); err != nil {
		return err
	}
	if rank == 0 {
		neg := 2*o.batch - 1
		if pg != nil && !*noCross {
			neg = 2*o.batch*world - 1
		}
		logf("train-de", "%s; %d process(es) x batch %d, %d negatives per query; device %s; %s",
			trainFile, world, o.batch, neg, device, runtimeInfo())
	}
	res, err := rocketqa.TrainDual(ctx, rocketqa.DualConfig{
		InitSpec:  rocketqa.InitSpec{Init: in.init, Config: in.config, Vocab: in.vocab},
		TrainFile: trainFile, DevDir: *dev,
		QMaxLen: *qLen, PMaxLen: *pLen, ForCN: lang.forCN, Cased: lang.cased, Shared: *shared,
		ChunkSize: *chunk, GradCache: *gradCache, Device: device, Autocast: *autocast, EvalBatch: *evalBatch,
		NoCrossBatch: *noCross, Train: topts,
	})
	if err != nil {
		return err
	}
	return trainSummary("train-de", res, rank)
}

func runTrainCE(ctx context.Context, args []string) error {
	c := newCmd("train-ce",
		"rocketqa train-ce --train cross.train.tsv (--init DIR | --config config.json --vocab vocab.txt) --out DIR [flags]",
		`Trains a RocketQA cross-encoder (re-ranker) on [CLS] query [SEP] title+passage [SEP]: pointwise softmax
cross-entropy over labels {0, 1} with the pooler and a 2-class head (RocketQA v1, DuReader baseline; its score is
P(relevant)), or with --v2-head a raw-[CLS] 1-logit head (RocketQA v2; its score is the logit).

Input: --train, a cross.train.tsv of 4 tab-separated columns per line: query, title, passage, label (0 or 1)
(DuReader-retrieval train/cross.train.tsv). The encoder starts from --init (pretrained HuggingFace-layout
directory) or from a random model (--config, --vocab).

Output in --out: final/ (the model: rocketqa.json, config.json, model.safetensors, vocab.txt), checkpoints/step-N
(resumable), metrics.jsonl. Use the model with 'rocketqa score'.

--perturb (on by default, as the official code) adds the embedding-gradient step: a first pass without dropout
gives the gradient g of the word-embedding table, the table moves by 0.01*g/|g| for the training pass, then back.
Defaults are the DuReader baseline's (ERNIE 1.0 base, 4 GPUs x 32, lr 1e-5 constant, wd 0.01, 3 epochs, pair 384);
--lang en gives the MS MARCO pair length 160. Under 'rocketqa launch' the processes
average their gradients (data parallel).`,
		`rocketqa train-ce --train dureader/train/cross.train.tsv --init ernie-1.0-base-zh --out ce`)
	c.fs.String("train", "", "training file (cross.train.tsv, 4 columns)")
	in := addInit(c)
	out := c.fs.String("out", "", "output directory (model, checkpoints, metrics)")
	lang := addLang(c)
	maxLen := c.fs.Int("max-len", 384, "pair length in tokens (default 384; 160 with --lang en)")
	v2 := c.fs.Bool("v2-head", false, "raw [CLS] -> Linear(H, 1) head of RocketQA v2 (score = logit) instead of\npooler -> Linear(H, 2) (score = P(relevant))")
	perturb := c.fs.Bool("perturb", true, "the official embedding-gradient (adversarial) step; --perturb=false disables")
	o := addOpt(c, optDefaults{batch: 32, epochs: 3, lr: 1e-5, warmup: 0, wd: 0.01, schedule: "constant",
		batchNote: "DuReader baseline: 32 on each of 4 GPUs"})
	rt := addRuntime(c, true)
	c.req("train", "out")
	if err := c.parse(args); err != nil {
		return err
	}
	trainFile := c.fs.Lookup("train").Value.String()
	if err := lang.apply(c, map[string]*int{"max-len": maxLen}, map[string]int{"max-len": 160}); err != nil {
		return err
	}
	if err := o.check(); err != nil {
		return err
	}
	if err := in.check(); err != nil {
		return err
	}
	if *maxLen < 4 {
		return usagef("--max-len %d: must be at least 4", *maxLen)
	}
	if err := mustFile("--train", trainFile); err != nil {
		return err
	}
	if err := checkLengths(in, map[string]int{"--max-len": *maxLen}); err != nil {
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
	if rank == 0 {
		logf("train-ce", "%s; %d process(es) x batch %d; device %s; %s", trainFile, world, o.batch, device, runtimeInfo())
	}
	topts := o.trainOptions(*out, pg)
	if topts.Identity, err = runIdentity("train-ce", trainFile, in, lang, map[string]string{
		"max_len": strconv.Itoa(*maxLen), "v2_head": strconv.FormatBool(*v2), "perturb": strconv.FormatBool(*perturb),
	}); err != nil {
		return err
	}
	res, err := rocketqa.TrainCross(ctx, rocketqa.CrossConfig{
		InitSpec:  rocketqa.InitSpec{Init: in.init, Config: in.config, Vocab: in.vocab},
		TrainFile: trainFile, MaxSeqLen: *maxLen, ForCN: lang.forCN, Cased: lang.cased,
		V2Head: *v2, Perturb: *perturb, Device: device, Train: topts,
	})
	if err != nil {
		return err
	}
	return trainSummary("train-ce", res, rank)
}

// trainOptions turns the flags into train.Options; the global batch is the per-process batch times the processes.
func (o *optFlags) trainOptions(out string, pg *torch.ProcessGroup) train.Options {
	_, world := rankWorld(pg)
	clip := o.clip
	if clip <= 0 {
		clip = -1
	}
	return train.Options{
		OutDir: out, Epochs: o.epochs, MaxSteps: o.maxSteps, BatchSize: o.batch * world,
		LR: o.lr, WeightDecay: o.wd, WarmupProportion: o.warmup, Schedule: train.Schedule(o.schedule),
		MaxGradNorm: clip, Seed: o.seed, SaveEvery: o.saveEvery, KeepCheckpoints: o.keep,
		LogEvery: o.logEvery, Log: stderr, PG: pg, NoResume: o.noResume, Optimizer: o.optimizer,
	}
}

// runIdentity is what a checkpoint of this command belongs to: the training file (path, size, hash), where the
// model came from (the --init directory and its config.json, or the --config and --vocab files, by content), the
// tokenisation and the command's own settings. train.Run adds the hyperparameters and refuses to resume a
// checkpoint of another identity.
func runIdentity(command, trainFile string, in *initFlags, lang *langFlags, extra map[string]string) (map[string]string, error) {
	id := map[string]string{"command": command, "for_cn": strconv.FormatBool(lang.forCN), "cased": strconv.FormatBool(lang.cased)}
	for k, v := range extra {
		id[k] = v
	}
	add := func(key, path string) error {
		fp, err := train.FileIdentity(path)
		if err != nil {
			return err
		}
		abs, _ := filepath.Abs(path)
		id[key] = abs + " " + fp
		return nil
	}
	if err := add("train", trainFile); err != nil {
		return nil, err
	}
	if in.init != "" {
		abs, _ := filepath.Abs(in.init)
		id["init"] = abs
		for _, p := range []string{filepath.Join(in.init, "config.json"), filepath.Join(in.init, encoder.QueryDir, "config.json")} {
			if _, err := os.Stat(p); err == nil {
				if err := add("init_config", p); err != nil {
					return nil, err
				}
				break
			}
		}
	}
	if in.config != "" {
		if err := add("config", in.config); err != nil {
			return nil, err
		}
	}
	if in.vocab != "" {
		if err := add("vocab", in.vocab); err != nil {
			return nil, err
		}
	}
	return id, nil
}

// joinGroup joins the c10d process group described by torchrun's environment when WORLD_SIZE is set and above 1
// (rocketqa launch sets it); nil otherwise.
func joinGroup(o *optFlags, dev torch.Device) (*torch.ProcessGroup, error) {
	if os.Getenv("WORLD_SIZE") == "" {
		return nil, nil
	}
	env, err := torch.DistOptionsFromEnv()
	if err != nil {
		return nil, err
	}
	if env.WorldSize <= 1 {
		return nil, nil
	}
	backend := o.backend
	if backend == "" && dev.Type == torch.CPUDevice {
		backend = "gloo"
	}
	pg, err := torch.InitFromEnv(backend, o.distTimeout)
	if err != nil {
		return nil, fmt.Errorf("join the process group: %w", err)
	}
	return pg, nil
}

func rankWorld(pg *torch.ProcessGroup) (int, int) {
	if pg == nil {
		return 0, 1
	}
	return pg.Rank(), pg.WorldSize()
}

// trainSummary prints the outcome (rank 0): a line on stderr and the model directories on stdout.
func trainSummary(name string, res *train.Result, rank int) error {
	if rank != 0 || res == nil {
		return nil
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

// checkLengths compares sequence-length flags with max_position_embeddings of the model's config.json, when it
// can be found, so that a too-long setting fails before training instead of inside libtorch.
func checkLengths(in *initFlags, lens map[string]int) error {
	cands := []string{in.config}
	if in.init != "" {
		cands = []string{filepath.Join(in.init, "config.json"), filepath.Join(in.init, encoder.QueryDir, "config.json")}
	}
	for _, p := range cands {
		if p == "" {
			continue
		}
		if _, err := os.Stat(p); err != nil {
			continue
		}
		cfg, err := encoder.ReadConfig(p)
		if err != nil {
			return err
		}
		for name, n := range lens {
			if cfg.MaxPositionEmbeddings > 0 && n > cfg.MaxPositionEmbeddings {
				return usagef("%s %d exceeds max_position_embeddings %d of %s", name, n, cfg.MaxPositionEmbeddings, p)
			}
		}
		return nil
	}
	return nil
}
