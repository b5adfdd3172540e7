package main

import (
	"context"
	"fmt"
	"path/filepath"
	"slices"
	"strings"
	"time"

	"github.com/rocketqa-go/rocketqa/internal/cli"
	"github.com/rocketqa-go/rocketqa/retrieval"
	"github.com/rocketqa-go/rocketqa/rocketqa"
	"github.com/rocketqa-go/rocketqa/torch"
)

// inference is what encode, search and score share: the model, its per-run settings and the runtime.
type inference struct {
	Model string
	Batch int
	o     rocketqa.InferenceOptions
	rt    *runtimeFlags
}

// addInference declares --model, --batch (default batch), the speed flags (bfloat16 autocast, token budgets)
// and the runtime flags; lenFlag is the length flag of the stage on its InferenceOptions field.
func addInference(c *cmd, what string, batch int, lenFlag cli.Flag) *inference {
	in := &inference{Batch: batch}
	c.Bind(in, cli.Flag{"model", "Model", what + " model directory"})
	c.Bind(&in.o, lenFlag, cli.Flag{"bf16", "BF16", "bfloat16 autocast (CUDA; on the CPU where it multiplies bfloat16 natively: avx512_bf16 or\namx_bf16, else float32 with a note); vectors and scores are written as float32"},
		cli.Flag{"force-bf16", "ForceBF16", "bfloat16 autocast on any CPU (emulated where not native: slow; for checks)"},
		cli.Flag{"token-budget", "TokenBudget", "batch by padded tokens (after length sorting) instead of --batch sequences (0: off)"})
	in.rt = addRuntime(c, true)
	c.Positive("batch")
	return in
}

// options resolves the device and returns the load options; it notes why bf16 was asked for but does not run.
func (in *inference) options(name string) (rocketqa.LoadOptions, error) {
	dev, err := in.rt.resolve()
	if _, msg := torch.CPUBF16(in.o.BF16, in.o.ForceBF16); err == nil && dev.Type == torch.CPUDevice && msg != "" {
		logf(name, "%s", msg)
	}
	return rocketqa.LoadOptions{Device: dev, BatchSize: in.Batch}, err
}

func runEncode(ctx context.Context, args []string) error {
	c := helpCmd("encode")
	f := struct {
		Collection, Out string
		FP16            bool
	}{}
	in := addInference(c, "dual-encoder", 64, cli.Flag{"p-len", "PMaxLen", "passage length in tokens (default: the model's, from rocketqa.json)"})
	c.Bind(in, cli.Flag{"batch", "Batch", "passages per forward pass"})
	c.Bind(&f, cli.Flag{"collection", "Collection", "passage-collection directory (part-* + passage2id.map.json)"},
		cli.Flag{"out", "Out", "output directory of the embedding shards"},
		cli.Flag{"fp16", "FP16", "write float16 shards (half the size; values rounded to nearest even, widened to float32 by index)"})
	c.Require("model", "collection", "out")
	if err := c.parse(args); err != nil {
		return err
	}
	if err := cli.FirstErr(in.o.Validate(), cli.MustDir("--model", in.Model), rocketqa.CheckCollectionDir(f.Collection)); err != nil {
		return err
	}
	lo, err := in.options("encode")
	if err != nil {
		return err
	}
	m, emb, err := rocketqa.LoadEmbedder(in.Model, lo, in.o)
	if err != nil {
		return err
	}
	defer m.Close()
	var prog *cli.Progress
	shards, err := rocketqa.EncodeCollectionWith(ctx, emb, f.Collection, f.Out, rocketqa.EncodeHooks{
		DType: map[bool]retrieval.DType{false: retrieval.Float32, true: retrieval.Float16}[f.FP16],
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
	o := rocketqa.IndexOptions{Factory: "Flat", Seed: 1}
	f := struct{ Emb, Out, Metric string }{Metric: "ip"}
	c.Bind(&f, cli.Flag{"emb", "Emb", "embedding shards: a directory (its *.emb files) or a comma-separated list of files"},
		cli.Flag{"out", "Out", "output directory of the indexes"}, cli.Flag{"metric", "Metric", "ip (inner product, what RocketQA is trained for) or l2"})
	c.Bind(&o, cli.Flag{"factory", "Factory", "FAISS index_factory string"},
		cli.Flag{"single", "Single", "build one index over all shards (out/all.index) instead of one per shard"},
		cli.Flag{"train-size", "TrainSize", "rows sampled to train IVF/PQ indexes (default max(100000, 64*nlist))"},
		cli.Flag{"seed", "Seed", "seed of the training sample"}, cli.Flag{"force", "Force", "rebuild indexes that already exist in --out"})
	rt := addRuntime(c, false)
	c.Require("emb", "out")
	if err := c.parse(args); err != nil {
		return err
	}
	var ok bool
	if o.Metric, ok = map[string]retrieval.Metric{"ip": retrieval.InnerProduct, "l2": retrieval.L2}[strings.ToLower(f.Metric)]; !ok {
		return usagef("--metric %q: want ip or l2", f.Metric)
	}
	if err := o.Validate(); err != nil {
		return err
	}
	shards, err := cli.ExpandFiles("--emb", f.Emb, ".emb")
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
	_, err = rocketqa.BuildIndexes(ctx, shards, f.Out, o)
	return err
}

func runSearch(ctx context.Context, args []string) error {
	c := helpCmd("search")
	f, o := rocketqa.SearchFiles{}, rocketqa.SearchOptions{TopK: 50, Chunk: 4096}
	in := addInference(c, "dual-encoder", 64, cli.Flag{"q-len", "QMaxLen", "query length in tokens (default: the model's)"})
	flags := struct{ Index, Params string }{}
	c.Bind(in, cli.Flag{"batch", "Batch", "queries per forward pass"})
	c.Bind(&flags, cli.Flag{"index", "Index", "indexes: a directory (its *.index files) or a comma-separated list of files"},
		cli.Flag{"param", "Params", "FAISS search parameters, e.g. nprobe=64 or efSearch=128 (comma-separated)"})
	c.Bind(&f, cli.Flag{"queries", "Queries", "queries: q2qid.dev.json, dev.json or a qid\\tquery TSV"},
		cli.Flag{"out", "Out", "run file to write (TSV)"}, cli.Flag{"json", "JSON", "also write the run in the DuReader JSON format"})
	c.Bind(&o, cli.Flag{"top-k", "TopK", "passages per query (DuReader and the MS MARCO CE input: 50; MS MARCO eval: 1000)"},
		cli.Flag{"chunk", "Chunk", "queries encoded and searched at a time (memory bound)"})
	c.Require("model", "index", "queries", "out")
	c.Positive("top-k", "chunk")
	if err := c.parse(args); err != nil {
		return err
	}
	var err error
	if f.Params, err = rocketqa.ParseIndexParams(flags.Params); err != nil {
		return err
	}
	if err := cli.FirstErr(in.o.Validate(), cli.MustDir("--model", in.Model), f.Validate()); err != nil {
		return err
	}
	if f.Indexes, err = cli.ExpandFiles("--index", flags.Index, ".index"); err != nil {
		return err
	}
	lo, err := in.options("search")
	if err != nil {
		return err
	}
	m, emb, err := rocketqa.LoadEmbedder(in.Model, lo, in.o)
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
	f, o := rocketqa.ScoreFiles{}, rocketqa.ScoreOptions{TopK: 50}
	in := addInference(c, "cross-encoder", 32, cli.Flag{"max-len", "MaxSeqLen", "pair length in tokens (default: the model's)"})
	c.Bind(in, cli.Flag{"batch", "Batch", "pairs per forward pass"})
	c.Bind(&f, cli.Flag{"run", "Run", "run file to re-score (TSV)"},
		cli.Flag{"queries", "Queries", "queries: q2qid.dev.json, dev.json or a qid\\tquery TSV"},
		cli.Flag{"collection", "Collection", "passages: a passage-collection directory or a pid\\tpassage file"},
		cli.Flag{"titles", "Titles", "pid\\ttitle file for a pid\\tpassage --collection (MS MARCO para.title.txt)"},
		cli.Flag{"out", "Out", "scored run file to write (TSV)"}, cli.Flag{"json", "JSON", "also write the re-ranked run in the DuReader JSON format"})
	c.Bind(&o, cli.Flag{"top-k", "TopK", "passages of each query to score (the official: 50)"})
	c.Require("model", "run", "queries", "collection", "out")
	c.Positive("top-k")
	if err := c.parse(args); err != nil {
		return err
	}
	if err := cli.FirstErr(in.o.Validate(), cli.MustDir("--model", in.Model), f.Validate()); err != nil {
		return err
	}
	lo, err := in.options("score")
	if err != nil {
		return err
	}
	m, rr, err := rocketqa.LoadReranker(in.Model, lo, in.o)
	if err != nil {
		return err
	}
	defer m.Close()
	var prog *cli.Progress
	o.Progress = func(done, _ int) { prog.Update(done, "") }
	err = rocketqa.ScoreToFiles(ctx, rr, f, o, func(s rocketqa.ScoreInfo) {
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
