package main

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/rocketqa-go/rocketqa/encoder"
	"github.com/rocketqa-go/rocketqa/internal/cli"
	"github.com/rocketqa-go/rocketqa/retrieval"
	"github.com/rocketqa-go/rocketqa/rocketqa"
	"github.com/rocketqa-go/rocketqa/torch"
)

// speedFlags: bfloat16 autocast and token-budget batches of the inference stages (encode, search, score).
type speedFlags struct {
	bf16, force bool
	tokenBudget int
}

func addSpeed(c *cmd) *speedFlags {
	f := &speedFlags{}
	c.fs.BoolVar(&f.bf16, "bf16", false, "bfloat16 autocast (CUDA; on the CPU where it multiplies bfloat16 natively: avx512_bf16 or\namx_bf16, else float32 with a note); vectors and scores are written as float32")
	c.fs.BoolVar(&f.force, "force-bf16", false, "bfloat16 autocast on any CPU (emulated where not native: slow; for checks)")
	c.fs.IntVar(&f.tokenBudget, "token-budget", 0, "batch by padded tokens (after length sorting) instead of --batch sequences (0: off)")
	return f
}

// note prints why bf16 was asked for but does not run on this CPU.
func (f *speedFlags) note(name string, dev torch.Device) {
	if dev.Type == torch.CPUDevice {
		if _, msg := torch.CPUBF16(f.bf16, f.force); msg != "" {
			logf(name, "%s", msg)
		}
	}
}

func (f *speedFlags) check() error {
	return check(f.tokenBudget >= 0, fmt.Sprintf("--token-budget %d: must not be negative", f.tokenBudget))
}

// loadModel loads a model directory for inference; dual says which kind the stage needs.
func loadModel(dir string, rt *runtimeFlags, batch int, dual bool) (*rocketqa.Model, error) {
	dev, err := rt.resolve()
	if err != nil {
		return nil, err
	}
	m, err := rocketqa.Load(dir, rocketqa.LoadOptions{Device: dev, BatchSize: batch})
	switch {
	case err != nil:
		return nil, err
	case dual && m.Embedder() == nil:
		err = fmt.Errorf("--model %s is a cross-encoder; this stage needs a dual encoder (rocketqa train-de)", dir)
	case !dual && m.Reranker() == nil:
		err = fmt.Errorf("--model %s is a dual encoder; score needs a cross-encoder (rocketqa train-ce)", dir)
	}
	if err != nil {
		m.Close()
	}
	return m, err
}

// loadEmbedder loads a dual encoder and applies its length flag (--p-len or --q-len) to a copy of its embedder.
func loadEmbedder(dir string, rt *runtimeFlags, sp *speedFlags, batch int, flagName string, value int) (*rocketqa.Model, *encoder.Embedder, error) {
	m, err := loadModel(dir, rt, batch, true)
	if err != nil {
		return nil, nil, err
	}
	emb := *m.Embedder()
	emb.Options.BF16, emb.Options.ForceBF16, emb.Options.TokenBudget = sp.bf16 || sp.force, sp.force, sp.tokenBudget
	sp.note("encode", emb.Options.Device)
	if flagName == "--p-len" {
		err = seqLen(flagName, value, "p_max_seq_len", dir, &emb.PMaxLen, emb.Model.Para)
	} else {
		err = seqLen(flagName, value, "q_max_seq_len", dir, &emb.QMaxLen, emb.Model.Query)
	}
	if err != nil {
		m.Close()
		return nil, nil, err
	}
	return m, &emb, nil
}

// seqLen applies a sequence-length flag to the model's setting *n after refusing, before any input is read, a
// length beyond the tower's position embeddings: the flag's value when set, else the model's own (rocketqa.json
// key) of dir.
func seqLen(flagName string, value int, key, dir string, n *int, tower *encoder.BERT) error {
	if tower != nil && tower.Cfg != nil && tower.Cfg.MaxPositionEmbeddings > 0 {
		max := tower.Cfg.MaxPositionEmbeddings
		switch {
		case value > max:
			return usagef("%s %d: the model has %d positions (max_position_embeddings of %s); use at most %d", flagName, value, max, dir, max)
		case value == 0 && *n > max:
			return fmt.Errorf("%s/rocketqa.json: %s %d exceeds the model's %d positions (max_position_embeddings); pass %s %d or less", dir, key, *n, max, flagName, max)
		}
	}
	if value > 0 {
		*n = value
	}
	return nil
}

// outFiles and expandFiles check and expand file flags (internal/cli) with this command's usage errors.
func outFiles(pairs ...string) error { return cliErr(cli.OutFiles(pairs...)) }

func expandFiles(flagName, value, ext string) ([]string, error) {
	f, err := cli.ExpandFiles(flagName, value, ext)
	return f, cliErr(err)
}

func runEncode(ctx context.Context, args []string) error {
	c := helpCmd("encode")
	model := c.fs.String("model", "", "dual-encoder model directory")
	coll := c.fs.String("collection", "", "passage-collection directory (part-* + passage2id.map.json)")
	out := c.fs.String("out", "", "output directory of the embedding shards")
	batch := c.fs.Int("batch", 64, "passages per forward pass")
	pLen := c.fs.Int("p-len", 0, "passage length in tokens (default: the model's, from rocketqa.json)")
	sp := addSpeed(c)
	rt := addRuntime(c, true)
	c.req("model", "collection", "out")
	if err := c.parse(args); err != nil {
		return err
	}
	if err := check(*batch > 0 && *pLen >= 0, "--batch must be positive and --p-len not negative"); err != nil {
		return err
	}
	if err := firstErr(mustDir("--model", *model), mustDir("--collection", *coll), mustFile("--collection", filepath.Join(*coll, "passage2id.map.json"))); err != nil {
		return err
	}
	if err := sp.check(); err != nil {
		return err
	}
	m, emb, err := loadEmbedder(*model, rt, sp, *batch, "--p-len", *pLen)
	if err != nil {
		return err
	}
	defer m.Close()
	var prog *cli.Progress
	shards, err := rocketqa.EncodeCollectionWith(ctx, emb, *coll, *out, rocketqa.EncodeHooks{
		Start: func(pre, total int) {
			logf("encode", "%d passages (%d already encoded); p-len %d; %s", total, pre, emb.PMaxLen, runtimeInfo())
			prog = newProgress("rocketqa encode", "passages", total)
			prog.Base = pre
		},
		Progress: func(part string, done int) { prog.Update(done, part) },
	})
	if err := finish("encode", prog, err); err != nil {
		return err
	}
	fmt.Fprintln(stdout, strings.Join(shards, "\n"))
	return nil
}

func runIndex(ctx context.Context, args []string) error {
	c := helpCmd("index")
	embFlag := c.fs.String("emb", "", "embedding shards: a directory (its *.emb files) or a comma-separated list of files")
	out := c.fs.String("out", "", "output directory of the indexes")
	o := rocketqa.IndexOptions{}
	c.fs.StringVar(&o.Factory, "factory", "Flat", "FAISS index_factory string")
	c.fs.BoolVar(&o.Single, "single", false, "build one index over all shards (out/all.index) instead of one per shard")
	metric := c.fs.String("metric", "ip", "ip (inner product, what RocketQA is trained for) or l2")
	c.fs.IntVar(&o.TrainSize, "train-size", 0, "rows sampled to train IVF/PQ indexes (default max(100000, 64*nlist))")
	c.fs.Uint64Var(&o.Seed, "seed", 1, "seed of the training sample")
	c.fs.BoolVar(&o.Force, "force", false, "rebuild indexes that already exist in --out")
	rt := addRuntime(c, false)
	c.req("emb", "out")
	if err := c.parse(args); err != nil {
		return err
	}
	o.Metric = map[string]retrieval.Metric{"ip": retrieval.InnerProduct, "l2": retrieval.L2}[strings.ToLower(*metric)]
	if err := check(strings.ToLower(*metric) == "ip" || strings.ToLower(*metric) == "l2", fmt.Sprintf("--metric %q: want ip or l2", *metric),
		o.TrainSize >= 0, fmt.Sprintf("--train-size %d: must not be negative", o.TrainSize)); err != nil {
		return err
	}
	shards, err := expandFiles("--emb", *embFlag, ".emb")
	if err != nil {
		return err
	}
	if _, err := rt.resolve(); err != nil {
		return err
	}
	t0, prog := time.Now(), newProgress("rocketqa index", "vectors", 0)
	o.Progress = func(index string, done, total int64) {
		prog.Total = int(total)
		prog.Update(int(done), filepath.Base(index))
	}
	o.Built = func(index string, res *retrieval.BuildResult) {
		prog.Done()
		if res == nil {
			logf("index", "%s exists, kept (--force rebuilds it)", index)
		} else {
			logf("index", "%s: %d vectors of dimension %d (%s, %v; %d training rows) in %s", index, res.Rows, res.Dim, o.Factory, o.Metric, res.TrainRows, time.Since(t0).Round(time.Millisecond))
		}
		fmt.Fprintln(stdout, index)
		t0, prog = time.Now(), newProgress("rocketqa index", "vectors", 0)
	}
	_, err = rocketqa.BuildIndexes(ctx, shards, *out, o)
	return err
}

func runSearch(ctx context.Context, args []string) error {
	c := helpCmd("search")
	model := c.fs.String("model", "", "dual-encoder model directory")
	indexFlag := c.fs.String("index", "", "indexes: a directory (its *.index files) or a comma-separated list of files")
	f := rocketqa.SearchFiles{}
	c.fs.StringVar(&f.Queries, "queries", "", "queries: q2qid.dev.json, dev.json or a qid\\tquery TSV")
	c.fs.StringVar(&f.Out, "out", "", "run file to write (TSV)")
	c.fs.StringVar(&f.JSON, "json", "", "also write the run in the DuReader JSON format")
	o := rocketqa.SearchOptions{}
	c.fs.IntVar(&o.TopK, "top-k", 50, "passages per query (DuReader and the MS MARCO CE input: 50; MS MARCO eval: 1000)")
	batch := c.fs.Int("batch", 64, "queries per forward pass")
	c.fs.IntVar(&o.Chunk, "chunk", 4096, "queries encoded and searched at a time (memory bound)")
	qLen := c.fs.Int("q-len", 0, "query length in tokens (default: the model's)")
	sp := addSpeed(c)
	params := c.fs.String("param", "", "FAISS search parameters, e.g. nprobe=64 or efSearch=128 (comma-separated)")
	rt := addRuntime(c, true)
	c.req("model", "index", "queries", "out")
	if err := c.parse(args); err != nil {
		return err
	}
	if err := check(o.TopK > 0 && *batch > 0 && o.Chunk > 0 && *qLen >= 0, "--top-k, --batch and --chunk must be positive, --q-len not negative"); err != nil {
		return err
	}
	for _, p := range splitList(*params) {
		k, v, ok := strings.Cut(p, "=")
		x, err := strconv.ParseFloat(v, 64)
		if !ok || err != nil || k == "" {
			return usagef("--param %q: want name=number", p)
		}
		f.Params = append(f.Params, rocketqa.IndexParam{Name: k, Value: x})
	}
	if err := firstErr(mustDir("--model", *model), mustFile("--queries", f.Queries), outFiles("--out", f.Out, "--json", f.JSON)); err != nil {
		return err
	}
	var err error
	if f.Indexes, err = expandFiles("--index", *indexFlag, ".index"); err != nil {
		return err
	}
	if err := sp.check(); err != nil {
		return err
	}
	m, emb, err := loadEmbedder(*model, rt, sp, *batch, "--q-len", *qLen)
	if err != nil {
		return err
	}
	defer m.Close()
	var prog *cli.Progress
	o.Progress = func(done, _ int) { prog.Update(done, "") }
	err = rocketqa.SearchToFiles(ctx, emb, f, o, func(s rocketqa.SearchInfo) {
		if s.TopK < o.TopK {
			logf("search", "--top-k %d is more than the %d passages of the index(es): every query gets all of them", o.TopK, s.Passages)
		}
		logf("search", "%d queries, %d passages in %d index(es), top %d; %s", s.Queries, s.Passages, s.Shards, s.TopK, runtimeInfo())
		prog = newProgress("rocketqa search", "queries", s.Queries)
	})
	return finish("search", prog, err, f.Out, f.JSON)
}

func runScore(ctx context.Context, args []string) error {
	c := helpCmd("score")
	model := c.fs.String("model", "", "cross-encoder model directory")
	f := rocketqa.ScoreFiles{}
	c.fs.StringVar(&f.Run, "run", "", "run file to re-score (TSV)")
	c.fs.StringVar(&f.Queries, "queries", "", "queries: q2qid.dev.json, dev.json or a qid\\tquery TSV")
	c.fs.StringVar(&f.Collection, "collection", "", "passages: a passage-collection directory or a pid\\tpassage file")
	c.fs.StringVar(&f.Titles, "titles", "", "pid\\ttitle file for a pid\\tpassage --collection (MS MARCO para.title.txt)")
	c.fs.StringVar(&f.Out, "out", "", "scored run file to write (TSV)")
	c.fs.StringVar(&f.JSON, "json", "", "also write the re-ranked run in the DuReader JSON format")
	o := rocketqa.ScoreOptions{}
	c.fs.IntVar(&o.TopK, "top-k", 50, "passages of each query to score (the official: 50)")
	batch := c.fs.Int("batch", 32, "pairs per forward pass")
	maxLen := c.fs.Int("max-len", 0, "pair length in tokens (default: the model's)")
	sp := addSpeed(c)
	rt := addRuntime(c, true)
	c.req("model", "run", "queries", "collection", "out")
	if err := c.parse(args); err != nil {
		return err
	}
	if err := check(o.TopK > 0 && *batch > 0 && *maxLen >= 0, "--top-k and --batch must be positive, --max-len not negative"); err != nil {
		return err
	}
	if err := firstErr(mustDir("--model", *model), mustFile("--run", f.Run), mustFile("--queries", f.Queries), outFiles("--out", f.Out, "--json", f.JSON)); err != nil {
		return err
	}
	if _, err := os.Stat(f.Collection); err != nil {
		return fmt.Errorf("--collection %s: %v", f.Collection, pathErr(err))
	}
	m, err := loadModel(*model, rt, *batch, false)
	if err != nil {
		return err
	}
	defer m.Close()
	rr := *m.Reranker()
	rr.BF16, rr.ForceBF16, rr.TokenBudget = sp.bf16 || sp.force, sp.force, sp.tokenBudget
	sp.note("score", rr.Device)
	if err := sp.check(); err != nil {
		return err
	}
	if *maxLen > 0 {
		rr.MaxSeqLen = *maxLen
	}
	var prog *cli.Progress
	o.Progress = func(done, _ int) { prog.Update(done, "") }
	err = rocketqa.ScoreToFiles(ctx, &rr, f, o, func(s rocketqa.ScoreInfo) {
		logf("score", "%d queries, %d pairs (top %d), pair length %d; %s", s.Queries, s.Pairs, o.TopK, rr.MaxSeqLen, runtimeInfo())
		prog = newProgress("rocketqa score", "pairs", s.Pairs)
	})
	return finish("score", prog, err, f.Out, f.JSON)
}

// finish ends a stage that wrote run files: closes its progress line and logs what it wrote.
func finish(name string, prog *cli.Progress, err error, files ...string) error {
	if prog != nil {
		prog.Done()
	}
	if files = slices.DeleteFunc(files, func(f string) bool { return f == "" }); err == nil && len(files) > 0 {
		logf(name, "wrote %s", strings.Join(files, " and "))
	}
	return err
}
