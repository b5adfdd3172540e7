// Command pipeline runs RocketQA v1's four steps (Qu et al., NAACL 2021; docs/method.md §3.4) on a DuReader-layout corpus:
//
//  1. train the dual encoder M_D(0) with random negatives;
//  2. retrieve the training queries' top passages with M_D(0) and train the cross-encoder M_C on them;
//  3. let M_C score M_D(0)'s top 50, mine denoised hard negatives (CE score < 0.1), train M_D(1) from the same init;
//  4. retrieve and score the top 50 of unlabelled queries with M_D(1) and M_C, keep pseudo-positives (> 0.9) and
//     negatives (< 0.1), merge with step 3's data and train M_D(2) from the same init;
//
// evaluating every dual encoder on the dev set. Every stage writes its outputs under -out and is skipped when they
// are already there, so an interrupted run resumes; training itself resumes from its checkpoints. To redo a step,
// delete its directory (md0/, ce/, md1/, md2/) and the data files it produced (data/).
//
//	go run ./examples/pipeline -preset small -data data/demo -out out/pipeline        # Debian demo corpus, CPU
//	go run ./examples/pipeline -preset dureader -init ernie-1.0-base-zh -data dureader-retrieval-baseline-dataset
//
// The small preset first pre-trains its tiny encoder on the collection, without labels, and starts every model
// from it: by default with the Inverse Cloze Task (a sentence of a passage as the query, the rest of the passage as
// its positive; pretrain.WriteICT), or with -pretrain mlm (masked LM, package pretrain) or mlm+ict; cached in
// OUT/ict (OUT/mlm, OUT/mlm-ict) or -pretrain-dir, -pretrain none to skip. -seeds 1,2,3 runs every step
// once per seed (OUT/seed-N) and prints mean and spread; -compare-scratch adds the same runs from random weights
// (OUT/scratch-seed-N); -ablate-batch also trains M_D(0) with twice the batch at equal steps (the negatives of
// cross-batch training over 2 processes). Each run prints the cross-encoder's dev re-ranking of M_D(0)'s top 50
// and the counts of steps 3 and 4 (denoised negatives, random fill, pseudo-positives).
//
// Variants of steps 3 and 4, in their own files and directories beside the official ones (data/de1-sampled...,
// md1-from-md0/, ...), so that they share steps 1 and 2: -later-init md0 starts M_D(1) and M_D(2) from M_D(0);
// -sample-negatives draws the denoised negatives from the whole CE-filtered top 50 (denoise.MineOptions.Sample);
// -mix-random gives two of the four lines per positive a random negative instead.
//
// The small preset's models are tiny; the labelled queries are 70% of the training queries and the
// other 30% play the unlabelled queries of step 4. The dureader and marco presets use the papers' settings and need a
// pretrained checkpoint (-init) and, realistically, GPUs (-device cuda:0, or several processes with rocketqa launch).
package main

import (
	"context"
	"flag"
	"fmt"
	"log/slog"
	"os"
	"os/signal"
	"path/filepath"
	"runtime"
	"time"

	"github.com/rocketqa-go/rocketqa/dataset"
	"github.com/rocketqa-go/rocketqa/examples/internal/demo"
	"github.com/rocketqa-go/rocketqa/retrieval"
	"github.com/rocketqa-go/rocketqa/rocketqa"
	"github.com/rocketqa-go/rocketqa/rocketqa/denoise"
	"github.com/rocketqa-go/rocketqa/torch"
	"github.com/rocketqa-go/rocketqa/train"
)

// preset holds one column of hyperparameters.
type preset struct {
	deEpochs, ceEpochs, deBatch, ceBatch int
	// deEpochsLater is the epoch count of steps 3 and 4, whose files hold 4 lines per positive (the official MS MARCO
	// scripts: 40 epochs for step 1, 10 for steps 3 and 4)
	deEpochsLater                  int
	deLR, ceLR, deWarmup, ceWD     float64
	qLen, pLen, pairLen, retrieveK int
	forCN, shared, perturb         bool
	// matchTypes: the cross-encoder marks exact query-passage token matches in its token types
	// (rocketqa.CrossConfig.MatchTypes; not in the papers, whose cross-encoders start from ERNIE)
	matchTypes    bool
	labelledShare float64
	// pretrain names the small preset's pre-training on the collection, which every model then starts from, as the
	// papers start from ERNIE: "ict" (the Inverse Cloze Task, pretrain.WriteICT, trained as a dual encoder), "mlm"
	// (masked LM, package pretrain), "mlm+ict" (ICT continued from the masked-LM encoder) or "" (none)
	pretrain string
	// pretrainSteps are the masked-LM steps (mlm, mlm+ict)
	pretrainSteps, pretrainBatch, pretrainLen int
	pretrainLR                                float64
	deSchedule                                train.Schedule // "" is train's default (linear)
	// laterFromMD0: M_D(1) and M_D(2) start from M_D(0) instead of the twin init. The official scripts start them
	// from the twin init again; their comment says that starting from M_D(0) (with cross-batch off) does better.
	laterFromMD0 bool
	// sampleNegatives: step 3 draws its denoised negatives at random from the CE-filtered top 50
	// (denoise.MineOptions.Sample) instead of taking the first ones in rank order as the official scripts
	sampleNegatives bool
	// mixRandom: step 3's four lines per positive are two with denoised negatives and two with random ones (from the
	// whole collection, as step 1's) instead of four denoised
	mixRandom bool
	// layers of the small preset's encoder [2] (its width is 160) and the std of its random init [0.1]
	layers  int
	initStd float64
}

// official builds a preset from the library's official values (the same as the rocketqa CLI's flag defaults): the
// global batch of one process is the official per-GPU batch times the GPUs.
func official(de, ce rocketqa.Preset, retrieveK int) preset {
	return preset{deEpochs: de.Epochs, deEpochsLater: de.LaterEpochs, ceEpochs: ce.Epochs, deBatch: de.GlobalBatch(),
		ceBatch: ce.GlobalBatch(), deLR: de.LR, ceLR: ce.LR, deWarmup: de.Warmup, ceWD: ce.WeightDecay, qLen: de.QLen,
		pLen: de.PLen, pairLen: ce.PairLen, retrieveK: retrieveK, forCN: de.ForCN, perturb: ce.Perturb,
		labelledShare: 1, deSchedule: de.Schedule}
}

var presets = map[string]preset{
	// tiny models from scratch on the Debian demo corpus, minutes on 2 CPU cores
	"small": {deEpochs: 12, deEpochsLater: 4, ceEpochs: 4, deBatch: 32, ceBatch: 32, deLR: 1e-3, ceLR: 5e-4, deWarmup: 0.1, ceWD: 0.01,
		qLen: 32, pLen: 64, pairLen: 96, retrieveK: 100, forCN: true, shared: true, matchTypes: true, labelledShare: 0.7, pretrain: "ict", layers: 2, initStd: 0.1,
		pretrainSteps: demo.DefaultPretrain().Steps, pretrainBatch: demo.DefaultPretrain().Batch,
		pretrainLen: demo.DefaultPretrain().MaxLen, pretrainLR: demo.DefaultPretrain().LR},
	// DuReader-retrieval baseline (docs/method.md §6.2): ERNIE 1.0 twin init, batch 512 over cross-batch, 10 epochs DE, 3 CE
	"dureader": official(rocketqa.DuReaderDE, rocketqa.DuReaderCE, 1000),
	// MS MARCO (docs/method.md §3.5): ERNIE 2.0 base twin init, global batch 4096, 40 epochs for step 1, 10 for steps 3-4
	"marco": official(rocketqa.MSMarcoDE, rocketqa.MSMarcoCE, 1000),
}

func main() {
	name := flag.String("preset", "small", "small | dureader | marco")
	data := flag.String("data", "data/demo", "DuReader-layout corpus (train/dual.train.tsv, dev/, passage-collection/)")
	out := flag.String("out", "out/pipeline", "work directory")
	init := flag.String("init", "", "pretrained HuggingFace model directory (required by the dureader and marco presets)")
	unlabelled := flag.String("unlabelled", "", "qid\\tquery file of unlabelled queries for step 4 (default: the preset's held-out training queries)")
	device := flag.String("device", "cpu", "cpu or cuda:N")
	chunk := flag.Int("chunk", 0, "forward micro-batch; with -grad-cache the whole batch still shares one softmax")
	gradCache := flag.Bool("grad-cache", false, "gradient caching for batches larger than memory")
	threads := flag.Int("threads", runtime.NumCPU(), "libtorch threads")
	pretrainObj := flag.String("pretrain", "", "pre-training on the collection before step 1 (small preset): ict, mlm, mlm+ict or none (default: the preset's, ict)")
	pretrainSteps := flag.Int("pretrain-steps", -1, "masked-LM pre-training steps (-pretrain mlm, mlm+ict; -1: the preset's, 0: no pre-training)")
	pretrainDir := flag.String("pretrain-dir", "", "where the pre-trained encoder is cached (default: OUT/ict, OUT/mlm or OUT/mlm-ict); reused when it is there")
	seeds := flag.String("seeds", "1", "comma-separated training seeds: every step runs once per seed and the table prints mean and spread")
	scratch := flag.Bool("compare-scratch", false, "also run every step without pre-training (the same models from random weights)")
	ablateBatch := flag.Bool("ablate-batch", false, "also train M_D(0) with twice the batch at equal steps (= cross-batch negatives over 2 processes)")
	plainCE := flag.Bool("plain-ce", false, "cross-encoder on the papers' input, without the small preset's exact-match token types")
	sampleNegs := flag.Bool("sample-negatives", false, "step 3 draws the denoised negatives at random from the CE-filtered top 50 (default: the first in rank order, as the official scripts)")
	mixRandom := flag.Bool("mix-random", false, "step 3: two of the four lines per positive take a random negative instead of a denoised one")
	layers := flag.Int("layers", 0, "small preset: transformer layers of the encoder (default: the preset's, 2); another count needs another -out (and -pretrain-dir)")
	initStd := flag.Float64("init-std", 0, "small preset: std of the encoder's random init (default: the preset's, 0.1; BERT's is 0.02); another value needs another -out (and -pretrain-dir)")
	laterInit := flag.String("later-init", "", "what M_D(1) and M_D(2) start from: twin (the init of M_D(0), as the official scripts) or md0 (continue from M_D(0)); default: the preset's")
	flag.Parse()
	demo.RejectArgs("pipeline")
	p, ok := presets[*name]
	if !ok {
		fmt.Fprintf(os.Stderr, "pipeline: unknown preset %q (small, dureader, marco)\n", *name)
		os.Exit(2)
	}
	if *plainCE {
		p.matchTypes = false
	}
	p.sampleNegatives = p.sampleNegatives || *sampleNegs
	p.mixRandom = p.mixRandom || *mixRandom
	if *layers < 0 || *layers > 0 && *name != "small" {
		fmt.Fprintln(os.Stderr, "pipeline: -layers: a positive count, for the small preset only")
		os.Exit(2)
	} else if *layers > 0 {
		p.layers = *layers
	}
	if *initStd < 0 || *initStd > 0 && *name != "small" {
		fmt.Fprintln(os.Stderr, "pipeline: -init-std: a positive value, for the small preset only")
		os.Exit(2)
	} else if *initStd > 0 {
		p.initStd = *initStd
	}
	switch *laterInit {
	case "":
	case "twin", "md0":
		p.laterFromMD0 = *laterInit == "md0"
	default:
		fmt.Fprintf(os.Stderr, "pipeline: -later-init %q: want twin or md0\n", *laterInit)
		os.Exit(2)
	}
	if *name != "small" && *init == "" {
		fmt.Fprintf(os.Stderr, "pipeline: the %s preset starts from a pretrained checkpoint: set -init\n", *name)
		os.Exit(2)
	}
	dev, err := torch.ParseDevice(*device)
	if err != nil {
		fmt.Fprintln(os.Stderr, "pipeline:", err)
		os.Exit(2)
	}
	torch.SetNumThreads(*threads)
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt)
	defer stop()
	switch *pretrainObj {
	case "":
	case "ict", "mlm", "mlm+ict":
		p.pretrain = *pretrainObj
	case "none":
		p.pretrain = ""
	default:
		fmt.Fprintf(os.Stderr, "pipeline: -pretrain %q: want ict, mlm, mlm+ict or none\n", *pretrainObj)
		os.Exit(2)
	}
	if *pretrainSteps >= 0 {
		p.pretrainSteps = *pretrainSteps
	}
	if *init != "" || p.pretrainSteps == 0 && p.pretrain != "ict" {
		p.pretrain = ""
	}
	seedList, err := parseSeeds(*seeds)
	if err != nil {
		fmt.Fprintln(os.Stderr, "pipeline: -seeds:", err)
		os.Exit(2)
	}
	base := runner{p: p, data: *data, out: *out, init: *init, unlabelledFile: *unlabelled, dev: dev, chunk: *chunk, gradCache: *gradCache,
		pretrainDir: *pretrainDir, ablateBatch: *ablateBatch}
	if err := runSeeds(ctx, base, seedList, *scratch); err != nil {
		fmt.Fprintln(os.Stderr, "pipeline:", err)
		os.Exit(1)
	}
}

type runner struct {
	p               preset
	data, out, init string
	unlabelledFile  string
	dev             torch.Device
	chunk           int
	gradCache       bool
	pool            *rocketqa.DevSet
	spec            rocketqa.InitSpec
	labelled        *rocketqa.LabelledQueries
	unlabelled      []string
	unlabelledText  map[string]string
	rows            []demo.Row

	seed        uint64 // training seed of every model [1]
	pretrainDir string // cached pre-training [OUT/ict, OUT/mlm or OUT/mlm-ict]
	noPretrain  bool   // train from random weights even when the preset pre-trains
	ablateBatch bool   // also train M_D(0) with twice the batch at equal steps
	collection  *dataset.Passages
	counts      counts
}

func (r *runner) path(parts ...string) string {
	return filepath.Join(append([]string{r.out}, parts...)...)
}

func exists(p string) bool { _, err := os.Stat(p); return err == nil }

func (r *runner) run(ctx context.Context) error {
	start := time.Now()
	if err := os.MkdirAll(r.path("data"), 0o755); err != nil {
		return err
	}
	collection, err := dataset.LoadDuReaderCollection(filepath.Join(r.data, "passage-collection"))
	if err != nil {
		return err
	}
	all, missing, err := rocketqa.QueriesFromDualTrain(ctx, filepath.Join(r.data, "train", "dual.train.tsv"), collection)
	if err != nil {
		return err
	}
	if missing > 0 {
		slog.Warn("training lines whose positive is not in the collection were left out", "lines", missing)
	}
	r.collection = collection
	if r.seed == 0 {
		r.seed = 1
	}
	if err := checkSettings(r.out, "-out", r.settings()); err != nil {
		return err
	}
	r.labelled, r.unlabelled = all.Split(r.p.labelledShare, 1)
	r.unlabelledText = all.Text
	if r.unlabelledFile != "" {
		recs, err := dataset.ReadIDText(r.unlabelledFile)
		if err != nil {
			return err
		}
		r.unlabelled, r.unlabelledText = nil, map[string]string{}
		for _, rec := range recs {
			r.unlabelled = append(r.unlabelled, rec.ID)
			r.unlabelledText[rec.ID] = rec.Text
		}
	}
	slog.Info("queries", "labelled", len(r.labelled.QIDs), "unlabelled", len(r.unlabelled), "passages", collection.Len())

	r.spec = rocketqa.InitSpec{Init: r.init}
	if r.init == "" { // small preset: a vocabulary and a small config built from the corpus
		vocab := r.path("data", "vocab.txt")
		n, err := demo.BuildVocab(r.data, vocab, 3)
		if err != nil {
			return err
		}
		cfg := r.path("data", "config.json")
		if err := demo.SmallConfig(n, 160, r.p.layers, r.p.initStd).WriteFile(cfg); err != nil {
			return err
		}
		r.spec = rocketqa.InitSpec{Config: cfg, Vocab: vocab}
		if r.p.pretrain != "" && !r.noPretrain {
			pre, err := r.pretrain(ctx, n, vocab)
			if err != nil {
				return err
			}
			r.spec = rocketqa.InitSpec{Init: pre}
		}
	}

	// step 1: M_D(0) with random negatives
	de0 := r.path("data", "de0.train.tsv")
	if !exists(de0) {
		if err := r.labelled.WriteDualTrain(de0, collection, 1); err != nil {
			return err
		}
	}
	md0, err := r.trainDE(ctx, "md0", de0, r.p.deEpochs)
	if err != nil {
		return err
	}
	if err := r.evaluate(ctx, "M_D(0) random negatives", md0); err != nil {
		return err
	}
	if r.ablateBatch {
		if err := r.batchAblation(ctx, de0); err != nil {
			return err
		}
	}

	// step 2: retrieve for the labelled queries with M_D(0), train M_C
	trainRun0 := r.path("md0", "train.run.tsv")
	hits0, err := r.retrieve(ctx, md0, "md0", trainRun0, r.labelled.QIDs, r.labelled.Texts(r.labelled.QIDs), r.p.retrieveK)
	if err != nil {
		return err
	}
	ceTrain := r.path("data", "cross.train.tsv")
	if !exists(ceTrain) {
		if err := rocketqa.WriteCrossTrain(ceTrain, r.labelled, hits0, collection, 4, 1); err != nil {
			return err
		}
	}
	ce, err := r.trainCE(ctx, ceTrain)
	if err != nil {
		return err
	}
	if err := r.rerankDev(ctx, ce, md0); err != nil {
		return err
	}

	// step 3: denoised hard negatives -> M_D(1)
	ceRun0 := r.path("md0", "train.ce50.tsv")
	if err := r.scoreRun(ctx, ce, ceRun0, r.labelled.QIDs, r.labelled.Texts(r.labelled.QIDs), hits0, collection); err != nil {
		return err
	}
	// variants of steps 3 and 4 work in their own files and directories beside the official ones
	// (de1Suffix names step 3's data, suffix its model and everything after it, from the rows of the table)
	de1Suffix, later, suffix, from := "", r.spec, "", ""
	if r.p.sampleNegatives {
		de1Suffix, suffix, from = "-sampled", "-sampled", " (sampled)"
	}
	if r.p.mixRandom {
		de1Suffix, suffix, from = de1Suffix+"-mix", suffix+"-mix", from+" (+ random)"
	}
	if r.p.laterFromMD0 {
		later, suffix, from = rocketqa.InitSpec{Init: md0}, suffix+"-from-md0", from+" (from M_D(0))"
	}
	de1 := r.path("data", "de1"+de1Suffix+".train.tsv")
	if !exists(de1) {
		cands, _, err := denoise.LoadCandidates(ctx, trainRun0, ceRun0)
		if err != nil {
			return err
		}
		mined, opt := de1, denoise.MineOptions{FillTo: r.p.retrieveK, Sample: r.p.sampleNegatives}
		if r.p.mixRandom {
			mined, opt.NegPerPos = de1+".denoised", 2
		}
		st, err := denoise.Mine(ctx, denoise.MineInput{QIDs: r.labelled.QIDs, Queries: r.labelled.Text, Positives: r.labelled.Positives,
			Candidates: cands, Passages: collection}, opt, mined)
		if err != nil {
			return err
		}
		if r.p.mixRandom {
			if err := r.mixInRandom(ctx, de1, mined); err != nil {
				return err
			}
		}
		slog.Info("mined denoised negatives", "stats", st.String())
		if err := writeStats(de1+".stats.json", st); err != nil {
			return err
		}
	}
	if err := readStats(de1+".stats.json", &r.counts.mine); err != nil {
		return err
	}
	md1Name := "md1" + suffix
	md1, err := r.trainDEFrom(ctx, later, md1Name, de1, r.p.deEpochsLater, r.p.deBatch, 0)
	if err != nil {
		return err
	}
	if err := r.evaluate(ctx, "M_D(1) + denoised hard negatives"+from, md1); err != nil {
		return err
	}

	// step 4: augmentation with unlabelled queries -> M_D(2)
	de2 := r.path("data", "de2"+suffix+".train.tsv")
	if !exists(de2) {
		utexts := make([]string, len(r.unlabelled))
		for i, q := range r.unlabelled {
			utexts[i] = r.unlabelledText[q]
		}
		uRun := r.path(md1Name, "unlabelled.run.tsv")
		hits1, err := r.retrieve(ctx, md1, md1Name, uRun, r.unlabelled, utexts, 50)
		if err != nil {
			return err
		}
		uCE := r.path(md1Name, "unlabelled.ce50.tsv")
		if err := r.scoreRun(ctx, ce, uCE, r.unlabelled, utexts, hits1, collection); err != nil {
			return err
		}
		cands, _, err := denoise.LoadCandidates(ctx, uRun, uCE)
		if err != nil {
			return err
		}
		aug := r.path("data", "augment"+suffix+".train.tsv")
		st, err := denoise.Augment(ctx, denoise.MineInput{QIDs: r.unlabelled, Queries: r.unlabelledText, Candidates: cands, Passages: collection},
			denoise.AugmentOptions{}, aug)
		if err != nil {
			return err
		}
		slog.Info("augmented", "stats", st.String())
		if err := writeStats(de2+".stats.json", st); err != nil {
			return err
		}
		if err := denoise.Merge(ctx, de2, de1, aug); err != nil {
			return err
		}
	}
	if err := readStats(de2+".stats.json", &r.counts.augment); err != nil {
		return err
	}
	md2, err := r.trainDEFrom(ctx, later, "md2"+suffix, de2, r.p.deEpochsLater, r.p.deBatch, 0)
	if err != nil {
		return err
	}
	if err := r.evaluate(ctx, "M_D(2) + augmentation"+from, md2); err != nil {
		return err
	}

	fmt.Printf("\nRocketQA v1 pipeline on %s (dev queries %d, retrieval over the whole collection, top 50):\n", r.data, r.rows[0].M.ReferenceQueries)
	demo.PrintTable(os.Stdout, r.rows)
	r.printCounts(os.Stdout)
	fmt.Printf("\nwall time %s\n", time.Since(start).Round(time.Second))
	return nil
}

func (r *runner) trainDE(ctx context.Context, name, trainFile string, epochs int) (string, error) {
	return r.trainDEWith(ctx, name, trainFile, epochs, r.p.deBatch, 0)
}

// mixInRandom writes out: the lines of mined and two lines per positive with a random negative each. Its inputs
// (mined and the two random files it writes) are removed whether or not the merge succeeds.
func (r *runner) mixInRandom(ctx context.Context, out, mined string) error {
	files := []string{mined}
	defer func() {
		for _, f := range files {
			os.Remove(f)
		}
	}()
	for _, seed := range []uint64{2, 3} {
		f := fmt.Sprintf("%s.random%d", out, seed)
		files = append(files, f)
		if err := r.labelled.WriteDualTrain(f, r.collection, seed); err != nil {
			return err
		}
	}
	return denoise.Merge(ctx, out, files...)
}

// trainDEWith trains a dual encoder from r.spec with the given batch; maxSteps > 0 overrides epochs.
func (r *runner) trainDEWith(ctx context.Context, name, trainFile string, epochs, batch, maxSteps int) (string, error) {
	return r.trainDEFrom(ctx, r.spec, name, trainFile, epochs, batch, maxSteps)
}

// trainDEFrom trains a dual encoder from init.
func (r *runner) trainDEFrom(ctx context.Context, init rocketqa.InitSpec, name, trainFile string, epochs, batch, maxSteps int) (string, error) {
	final := r.path(name, "final")
	if exists(filepath.Join(final, "rocketqa.json")) {
		slog.Info("skip: already trained", "model", final)
		return final, nil
	}
	slog.Info("train dual encoder", "model", name, "data", trainFile)
	res, err := rocketqa.TrainDual(ctx, rocketqa.DualConfig{InitSpec: init, TrainFile: trainFile, QMaxLen: r.p.qLen, PMaxLen: r.p.pLen,
		ForCN: r.p.forCN, Shared: r.p.shared, Device: r.dev, ChunkSize: r.chunk, GradCache: r.gradCache,
		Train: train.Options{OutDir: r.path(name), Epochs: epochs, MaxSteps: maxSteps, BatchSize: batch, LR: r.p.deLR,
			WarmupProportion: r.p.deWarmup, Schedule: r.p.deSchedule, Seed: r.seed, LogEvery: 50, SaveEvery: 200}})
	if err != nil {
		return "", err
	}
	return res.FinalDir, nil
}

func (r *runner) trainCE(ctx context.Context, trainFile string) (string, error) {
	final := r.path("ce", "final")
	if exists(filepath.Join(final, "rocketqa.json")) {
		slog.Info("skip: already trained", "model", final)
		return final, nil
	}
	slog.Info("train cross encoder", "data", trainFile)
	res, err := rocketqa.TrainCross(ctx, rocketqa.CrossConfig{InitSpec: r.spec, TrainFile: trainFile, MaxSeqLen: r.p.pairLen,
		ForCN: r.p.forCN, Perturb: r.p.perturb, MatchTypes: r.p.matchTypes,
		Train: train.Options{OutDir: r.path("ce"), Epochs: r.p.ceEpochs, BatchSize: r.p.ceBatch, LR: r.p.ceLR, WeightDecay: r.p.ceWD,
			Schedule: train.Constant, Seed: r.seed, LogEvery: 50, SaveEvery: 200}})
	if err != nil {
		return "", err
	}
	return res.FinalDir, nil
}

// retrieve encodes the collection with the model (once per model), searches the queries and writes the run.
func (r *runner) retrieve(ctx context.Context, model, name, runPath string, qids, texts []string, k int) ([][]retrieval.Hit, error) {
	if exists(runPath) {
		rq, hits, err := dataset.ReadRun(runPath, 0)
		if err == nil && len(rq) == len(qids) {
			return hits, nil
		}
	}
	m, err := rocketqa.Load(model, rocketqa.LoadOptions{Device: r.dev, BatchSize: 64})
	if err != nil {
		return nil, err
	}
	defer m.Close()
	shards, err := rocketqa.EncodeCollection(ctx, m.Embedder(), filepath.Join(r.data, "passage-collection"), r.path(name, "emb"), nil)
	if err != nil {
		return nil, err
	}
	idx, err := rocketqa.IndexShards(ctx, shards, r.path(name, "index"), "")
	if err != nil {
		return nil, err
	}
	ix, err := retrieval.OpenShardedIndex(idx...)
	if err != nil {
		return nil, err
	}
	defer ix.Close()
	var hits [][]retrieval.Hit
	err = writeRun(runPath, func(w *dataset.RunWriter) error {
		_, err := rocketqa.Search(ctx, m.Embedder(), ix, qids, texts, rocketqa.SearchOptions{TopK: k}, func(q string, h []dataset.Hit) error {
			hits = append(hits, h)
			return w.Write(q, h)
		})
		return err
	})
	return hits, err
}

// writeRun streams a run to path through fill, as the rocketqa CLI's search and score do.
func writeRun(path string, fill func(w *dataset.RunWriter) error) error {
	w, err := dataset.CreateRun(path, "")
	if err != nil {
		return err
	}
	if err := fill(w); err != nil {
		w.Abort()
		return err
	}
	return w.Commit()
}

func (r *runner) scoreRun(ctx context.Context, ceDir, out string, qids, texts []string, hits [][]retrieval.Hit, pool *dataset.Passages) error {
	if exists(out) {
		return nil
	}
	m, err := rocketqa.Load(ceDir, rocketqa.LoadOptions{BatchSize: 64})
	if err != nil {
		return err
	}
	defer m.Close()
	return writeRun(out, func(w *dataset.RunWriter) error {
		return rocketqa.ScoreHits(ctx, m.Reranker(), qids, texts, hits, pool, rocketqa.ScoreOptions{TopK: 50}, w.Write)
	})
}

func (r *runner) evaluate(ctx context.Context, label, model string) error {
	m, err := rocketqa.Load(model, rocketqa.LoadOptions{Device: r.dev, BatchSize: 64})
	if err != nil {
		return err
	}
	defer m.Close()
	work := filepath.Join(filepath.Dir(model), "dev")
	os.RemoveAll(work) // always re-encoded: cheap, and never stale
	met, err := rocketqa.RetrieveAndEvaluate(ctx, m.Embedder(), r.data, work, "", nil)
	if err != nil {
		return err
	}
	slog.Info("dev", "model", label, "MRR@10", met.MRR10, "R@1", met.Recall1, "R@50", met.Recall50)
	r.rows = append(r.rows, demo.Row{Name: label, M: met})
	return nil
}
