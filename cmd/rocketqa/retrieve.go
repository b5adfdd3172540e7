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

	"github.com/rocketqa-go/rocketqa/dataset"
	"github.com/rocketqa-go/rocketqa/encoder"
	"github.com/rocketqa-go/rocketqa/internal/dirlock"
	"github.com/rocketqa-go/rocketqa/retrieval"
	"github.com/rocketqa-go/rocketqa/rocketqa"
	"github.com/rocketqa-go/rocketqa/torch"
)

// loadDual loads a dual-encoder model directory for inference.
func loadDual(dir string, dev torch.Device, batch int) (*rocketqa.Model, *encoder.Embedder, error) {
	m, err := rocketqa.Load(dir, rocketqa.LoadOptions{Device: dev, BatchSize: batch})
	if err != nil {
		return nil, nil, err
	}
	if m.Embedder() == nil {
		m.Close()
		return nil, nil, fmt.Errorf("--model %s is a cross-encoder; this stage needs a dual encoder (rocketqa train-de)", dir)
	}
	e := *m.Embedder()
	return m, &e, nil
}

func runEncode(ctx context.Context, args []string) error {
	c := newCmd("encode",
		"rocketqa encode --model DE_DIR --collection DIR --out DIR [flags]",
		`Encodes every passage of a collection with the passage tower of a dual encoder.

Input: --model, a dual-encoder directory (final/ or best/ of train-de); --collection, a DuReader-layout
passage-collection directory: part-* files of "-\ttitle\tpassage\t0" lines and passage2id.map.json
({"<row>": "<pid>"}).

Output: one embedding shard per part in --out (part-00.emb, ...: float32 vectors with their pids, the format of
package retrieval). Shards already there are kept, so an interrupted run resumes with the next part. The shard
paths are printed on stdout; progress (passages/s, ETA) goes to stderr.`,
		`rocketqa encode --model de0/final --collection dureader/passage-collection --out emb --device cuda --batch 256`)
	model := c.fs.String("model", "", "dual-encoder model directory")
	coll := c.fs.String("collection", "", "passage-collection directory (part-* + passage2id.map.json)")
	out := c.fs.String("out", "", "output directory of the embedding shards")
	batch := c.fs.Int("batch", 64, "passages per forward pass")
	pLen := c.fs.Int("p-len", 0, "passage length in tokens (default: the model's, from rocketqa.json)")
	rt := addRuntime(c, true)
	c.req("model", "collection", "out")
	if err := c.parse(args); err != nil {
		return err
	}
	if *batch <= 0 || *pLen < 0 {
		return usagef("--batch must be positive and --p-len not negative")
	}
	if err := mustDir("--model", *model); err != nil {
		return err
	}
	if err := mustDir("--collection", *coll); err != nil {
		return err
	}
	mapPath := filepath.Join(*coll, "passage2id.map.json")
	if err := mustFile("--collection", mapPath); err != nil {
		return err
	}
	ensureBLAS()
	dev, err := rt.resolve()
	if err != nil {
		return err
	}
	m, emb, err := loadDual(*model, dev, *batch)
	if err != nil {
		return err
	}
	defer m.Close()
	if err := checkLenFlag("--p-len", *pLen, "p_max_seq_len", *model, emb.PMaxLen, emb.Model.Para); err != nil {
		return err
	}
	if *pLen > 0 {
		emb.PMaxLen = *pLen
	}
	pids, err := dataset.ReadPassageIDMap(mapPath, dataset.Options{Context: ctx})
	if err != nil {
		return err
	}
	parts, err := dataset.CollectionParts(*coll)
	if err != nil {
		return err
	}
	settings, err := rocketqa.EncodeSettingsOf(emb, len(pids))
	if err != nil {
		return err
	}
	if err := rocketqa.CheckEncodeDir(*out, settings); err != nil {
		return fmt.Errorf("--out: %w", err)
	}
	// shards left by an earlier run with these settings are complete (written atomically): count them as done
	pre := 0
	for _, p := range parts {
		if r, err := retrieval.OpenEmbeddingReader(filepath.Join(*out, filepath.Base(p)+".emb")); err == nil {
			pre += int(r.Count())
			r.Close()
		}
	}
	logf("encode", "%d passages in %d parts (%d already encoded); p-len %d; device %s; %s", len(pids), len(parts), pre, emb.PMaxLen, dev, runtimeInfo())
	prog := newProgress("rocketqa encode", "passages", len(pids))
	prog.base = pre
	acc, cur, curTotal := pre, "", 0
	shards, err := rocketqa.EncodeCollection(ctx, emb, *coll, *out, func(part string, done, total int) {
		if part != cur {
			if cur != "" {
				acc += curTotal
			}
			cur = part
		}
		curTotal = total
		prog.update(min(acc+done, len(pids)), part)
	})
	prog.done()
	if err != nil {
		return err
	}
	for _, s := range shards {
		fmt.Fprintln(stdout, s)
	}
	return nil
}

func runIndex(ctx context.Context, args []string) error {
	c := newCmd("index",
		"rocketqa index --emb DIR|FILE,FILE... --out DIR [--factory Flat] [flags]",
		`Builds FAISS indexes from embedding shards (the output of 'rocketqa encode').

By default one index per shard, as the official code does with its 4 or 8 parts: --out/<shard>.index and
<shard>.index.pids (the passage id of every row). With --single, one index over all shards: --out/all.index.
--factory is any FAISS index_factory string: "Flat" (exact inner product, the official IndexFlatIP), "IVF4096,Flat",
"HNSW32", "IVF4096,PQ64", "OPQ64,IVF4096,PQ64", "SQ8"... Indexes that need training are trained on a sample of
--train-size rows. Indexes already in --out are kept unless --force. The index paths are printed on stdout.`,
		`rocketqa index --emb emb --out index
rocketqa index --emb emb --out index-ivf --single --factory IVF4096,Flat`)
	embFlag := c.fs.String("emb", "", "embedding shards: a directory (its *.emb files) or a comma-separated list of files")
	out := c.fs.String("out", "", "output directory of the indexes")
	factory := c.fs.String("factory", "Flat", "FAISS index_factory string")
	single := c.fs.Bool("single", false, "build one index over all shards (out/all.index) instead of one per shard")
	metric := c.fs.String("metric", "ip", "ip (inner product, what RocketQA is trained for) or l2")
	trainSize := c.fs.Int("train-size", 0, "rows sampled to train IVF/PQ indexes (default max(100000, 64*nlist))")
	seed := c.fs.Uint64("seed", 1, "seed of the training sample")
	force := c.fs.Bool("force", false, "rebuild indexes that already exist in --out")
	rt := addRuntime(c, false)
	c.req("emb", "out")
	if err := c.parse(args); err != nil {
		return err
	}
	var m retrieval.Metric
	switch strings.ToLower(*metric) {
	case "ip":
		m = retrieval.InnerProduct
	case "l2":
		m = retrieval.L2
	default:
		return usagef("--metric %q: want ip or l2", *metric)
	}
	if *trainSize < 0 {
		return usagef("--train-size %d: must not be negative", *trainSize)
	}
	shards, err := expandFiles("--emb", *embFlag, ".emb")
	if err != nil {
		return err
	}
	ensureBLAS()
	if _, err := rt.resolve(); err != nil {
		return err
	}
	type job struct {
		in  []string
		out string
	}
	var jobs []job
	if *single {
		jobs = []job{{shards, filepath.Join(*out, "all.index")}}
	} else {
		for _, s := range shards {
			jobs = append(jobs, job{[]string{s}, filepath.Join(*out, strings.TrimSuffix(filepath.Base(s), ".emb")+".index")})
		}
	}
	lock, err := dirlock.Acquire(*out, "rocketqa index")
	if err != nil {
		return fmt.Errorf("--out: %w", err)
	}
	defer lock.Release()
	for _, j := range jobs {
		if !*force && exists(j.out) && exists(retrieval.PIDsPath(j.out)) {
			logf("index", "%s exists, kept (--force rebuilds it)", j.out)
			fmt.Fprintln(stdout, j.out)
			continue
		}
		t0 := time.Now()
		prog := newProgress("rocketqa index", "vectors", 0)
		res, err := retrieval.BuildIndex(ctx, j.in, *factory, j.out, retrieval.BuildOptions{
			Metric: m, TrainSize: *trainSize, Seed: *seed,
			Progress: func(done, total int64) {
				prog.total = int(total)
				prog.update(int(done), filepath.Base(j.out))
			},
		})
		prog.done()
		if err != nil {
			return err
		}
		logf("index", "%s: %d vectors of dimension %d (%s, %v; %d training rows) in %s", j.out, res.Rows, res.Dim, *factory, m, res.TrainRows, time.Since(t0).Round(time.Millisecond))
		fmt.Fprintln(stdout, j.out)
	}
	return nil
}

// checkLenFlag refuses, before any input is read, a sequence length beyond the tower's position embeddings:
// the flag's value when set, else the model's own setting (rocketqa.json key) of dir.
func checkLenFlag(flagName string, value int, key, dir string, modelValue int, tower *encoder.BERT) error {
	if tower == nil || tower.Cfg == nil || tower.Cfg.MaxPositionEmbeddings <= 0 {
		return nil
	}
	max := tower.Cfg.MaxPositionEmbeddings
	switch {
	case value > max:
		return usagef("%s %d: the model has %d positions (max_position_embeddings of %s); use at most %d", flagName, value, max, dir, max)
	case value == 0 && modelValue > max:
		return fmt.Errorf("%s/rocketqa.json: %s %d exceeds the model's %d positions (max_position_embeddings); pass %s %d or less", dir, key, modelValue, max, flagName, max)
	}
	return nil
}

// writableFile fails at start, naming the flag, when an output file path cannot be written: it is a directory,
// or its parent is not one.
func writableFile(flagName, path string) error {
	if path == "" {
		return nil
	}
	if st, err := os.Stat(path); err == nil && st.IsDir() {
		return usagef("%s %s is a directory; give a file path (e.g. %s)", flagName, path, filepath.Join(path, "run.tsv"))
	}
	if st, err := os.Stat(filepath.Dir(path)); err == nil && !st.IsDir() {
		return usagef("%s %s: %s is not a directory", flagName, path, filepath.Dir(path))
	}
	return nil
}

func exists(p string) bool {
	_, err := os.Stat(p)
	return err == nil
}

func runSearch(ctx context.Context, args []string) error {
	c := newCmd("search",
		"rocketqa search --model DE_DIR --index DIR|FILE,... --queries FILE --out RUN.tsv [--json RUN.json] [flags]",
		`Encodes queries with the query tower of a dual encoder and retrieves their top-k passages from FAISS indexes
(the output of 'rocketqa index'; several indexes are searched and merged by score, as the official merge.py).

Queries (--queries): q2qid.dev.json ({"<query>": "<qid>"}), a DuReader dev.json (question_id, question), or a TSV
of "qid\tquery" lines (MS MARCO queries.*.tsv).

Output: --out, a run file of "qid\tpid\trank\tscore" lines (rank 1-based, score = inner product), the official
res.top{K} format read by 'eval', 'score' and 'mine'; with --json also the DuReader prediction file
{qid: [pid, ...]} read by the official evaluation.py.`,
		`rocketqa search --model de0/final --index index --queries dureader/dev/q2qid.dev.json --top-k 50 \
    --out dev.run.tsv --json dev.run.json`)
	model := c.fs.String("model", "", "dual-encoder model directory")
	indexFlag := c.fs.String("index", "", "indexes: a directory (its *.index files) or a comma-separated list of files")
	queries := c.fs.String("queries", "", "queries: q2qid.dev.json, dev.json or a qid\\tquery TSV")
	out := c.fs.String("out", "", "run file to write (TSV)")
	jsonOut := c.fs.String("json", "", "also write the run in the DuReader JSON format")
	topK := c.fs.Int("top-k", 50, "passages per query (DuReader and the MS MARCO CE input: 50; MS MARCO eval: 1000)")
	batch := c.fs.Int("batch", 64, "queries per forward pass")
	chunk := c.fs.Int("chunk", 4096, "queries encoded and searched at a time (memory bound)")
	qLen := c.fs.Int("q-len", 0, "query length in tokens (default: the model's)")
	params := c.fs.String("param", "", "FAISS search parameters, e.g. nprobe=64 or efSearch=128 (comma-separated)")
	rt := addRuntime(c, true)
	c.req("model", "index", "queries", "out")
	if err := c.parse(args); err != nil {
		return err
	}
	if *topK <= 0 || *batch <= 0 || *chunk <= 0 || *qLen < 0 {
		return usagef("--top-k, --batch and --chunk must be positive, --q-len not negative")
	}
	var sets [][2]string
	for _, p := range splitList(*params) {
		k, v, ok := strings.Cut(p, "=")
		if _, err := strconv.ParseFloat(v, 64); !ok || err != nil || k == "" {
			return usagef("--param %q: want name=number", p)
		}
		sets = append(sets, [2]string{k, v})
	}
	if err := mustDir("--model", *model); err != nil {
		return err
	}
	if err := mustFile("--queries", *queries); err != nil {
		return err
	}
	for _, o := range [][2]string{{"--out", *out}, {"--json", *jsonOut}} {
		if err := writableFile(o[0], o[1]); err != nil {
			return err
		}
	}
	idxFiles, err := expandFiles("--index", *indexFlag, ".index")
	if err != nil {
		return err
	}
	qids, texts, err := loadQueries(*queries)
	if err != nil {
		return err
	}
	ensureBLAS()
	dev, err := rt.resolve()
	if err != nil {
		return err
	}
	m, emb, err := loadDual(*model, dev, *batch)
	if err != nil {
		return err
	}
	defer m.Close()
	if err := checkLenFlag("--q-len", *qLen, "q_max_seq_len", *model, emb.QMaxLen, emb.Model.Query); err != nil {
		return err
	}
	if *qLen > 0 {
		emb.QMaxLen = *qLen
	}
	ix, err := retrieval.OpenShardedIndex(idxFiles...)
	if err != nil {
		return err
	}
	defer ix.Close()
	for _, s := range sets {
		v, _ := strconv.ParseFloat(s[1], 64)
		if err := ix.SetParam(s[0], v); err != nil {
			return err
		}
	}
	if int64(*topK) > ix.Ntotal() {
		logf("search", "--top-k %d is more than the %d passages of the index(es): every query gets all of them", *topK, ix.Ntotal())
		*topK = int(ix.Ntotal())
	}
	logf("search", "%d queries, %d passages in %d index(es), top %d; device %s; %s", len(qids), ix.Ntotal(), ix.NumShards(), *topK, dev, runtimeInfo())
	w, err := newRunWriter(*out, *jsonOut)
	if err != nil {
		return err
	}
	prog := newProgress("rocketqa search", "queries", len(qids))
	for start := 0; start < len(qids); start += *chunk {
		end := min(start+*chunk, len(qids))
		e := *emb
		e.Options.Progress = func(done, _ int) { prog.update(start+done, "") }
		vecs, err := e.EncodeQueries(ctx, texts[start:end])
		if err != nil {
			w.abort()
			return err
		}
		flat := make([]float32, 0, len(vecs)*ix.Dim())
		for _, v := range vecs {
			if len(v) != ix.Dim() {
				w.abort()
				return fmt.Errorf("query vectors have dimension %d, the index %d: wrong --model for this --index?", len(v), ix.Dim())
			}
			flat = append(flat, v...)
		}
		hits, err := ix.Search(flat, *topK)
		if err != nil {
			w.abort()
			return err
		}
		for i, h := range hits {
			if err := w.write(qids[start+i], h); err != nil {
				w.abort()
				return err
			}
		}
		prog.update(end, "")
	}
	prog.done()
	if err := w.commit(); err != nil {
		return err
	}
	logf("search", "wrote %s%s", *out, map[bool]string{true: " and " + *jsonOut, false: ""}[*jsonOut != ""])
	return nil
}

func runScore(ctx context.Context, args []string) error {
	c := newCmd("score",
		"rocketqa score --model CE_DIR --run RUN.tsv --queries FILE --collection DIR|para.txt --out SCORED.tsv [flags]",
		`Re-scores the top-k passages of every query of a run with a cross-encoder and re-ranks them by that score.

Inputs: --model, a cross-encoder directory (final/ of train-ce); --run, a run file ("qid\tpid\trank[\tscore]",
the output of 'search'); --queries, the query texts (q2qid.dev.json, dev.json or a qid\tquery TSV); --collection,
a DuReader passage-collection directory (part-* + passage2id.map.json) or an MS MARCO "pid\tpassage" file (with
--titles for "pid\ttitle").

Output: --out, a run file "qid\tpid\trank\tscore" with score = the CE score (P(relevant) for a v1 head, the logit for
a v2 head) and the passages of each query sorted by it (ties keep the retrieval order). This is the CE run that
'mine' and 'augment' read, and the re-ranked run to evaluate with 'eval' (--json writes the DuReader format too).`,
		`rocketqa score --model ce/final --run dev.run.tsv --queries dureader/dev/q2qid.dev.json \
    --collection dureader/passage-collection --top-k 50 --out dev.ce.tsv --json dev.ce.json`)
	model := c.fs.String("model", "", "cross-encoder model directory")
	run := c.fs.String("run", "", "run file to re-score (TSV)")
	queries := c.fs.String("queries", "", "queries: q2qid.dev.json, dev.json or a qid\\tquery TSV")
	coll := c.fs.String("collection", "", "passages: a passage-collection directory or a pid\\tpassage file")
	titles := c.fs.String("titles", "", "pid\\ttitle file for a pid\\tpassage --collection (MS MARCO para.title.txt)")
	out := c.fs.String("out", "", "scored run file to write (TSV)")
	jsonOut := c.fs.String("json", "", "also write the re-ranked run in the DuReader JSON format")
	topK := c.fs.Int("top-k", 50, "passages of each query to score (the official: 50)")
	batch := c.fs.Int("batch", 32, "pairs per forward pass")
	maxLen := c.fs.Int("max-len", 0, "pair length in tokens (default: the model's)")
	rt := addRuntime(c, true)
	c.req("model", "run", "queries", "collection", "out")
	if err := c.parse(args); err != nil {
		return err
	}
	if *topK <= 0 || *batch <= 0 || *maxLen < 0 {
		return usagef("--top-k and --batch must be positive, --max-len not negative")
	}
	if err := mustDir("--model", *model); err != nil {
		return err
	}
	for _, f := range [][2]string{{"--run", *run}, {"--queries", *queries}} {
		if err := mustFile(f[0], f[1]); err != nil {
			return err
		}
	}
	for _, o := range [][2]string{{"--out", *out}, {"--json", *jsonOut}} {
		if err := writableFile(o[0], o[1]); err != nil {
			return err
		}
	}
	if _, err := os.Stat(*coll); err != nil {
		return fmt.Errorf("--collection %s: %v", *coll, pathErr(err))
	}
	qids, hits, err := readRunTop(*run, *topK)
	if err != nil {
		return err
	}
	qs, qt, err := loadQueries(*queries)
	if err != nil {
		return err
	}
	text := make(map[string]string, len(qs))
	for i, q := range qs {
		text[q] = qt[i]
	}
	need := map[string]bool{}
	pairs := 0
	for i, q := range qids {
		if _, ok := text[q]; !ok {
			return fmt.Errorf("%s: qid %q has no text in %s", *run, q, *queries)
		}
		for _, h := range hits[i] {
			need[h.PID] = true
		}
		pairs += len(hits[i])
	}
	ps, err := loadPassages(*coll, *titles, need)
	if err != nil {
		return err
	}
	if ps.Len() < len(need) {
		for i, q := range qids {
			for _, h := range hits[i] {
				if _, ok := ps.Get(h.PID); !ok {
					return fmt.Errorf("%s: qid %q pid %q is not in the collection %s (%d of %d pids missing)", *run, q, h.PID, *coll, len(need)-ps.Len(), len(need))
				}
			}
		}
	}
	ensureBLAS()
	dev, err := rt.resolve()
	if err != nil {
		return err
	}
	m, err := rocketqa.Load(*model, rocketqa.LoadOptions{Device: dev, BatchSize: *batch})
	if err != nil {
		return err
	}
	defer m.Close()
	rr := m.Reranker()
	if rr == nil {
		return fmt.Errorf("--model %s is a dual encoder; score needs a cross-encoder (rocketqa train-ce)", *model)
	}
	r := *rr
	if *maxLen > 0 {
		r.MaxSeqLen = *maxLen
	}
	logf("score", "%d queries, %d pairs (top %d), pair length %d; %s", len(qids), pairs, *topK, r.MaxSeqLen, runtimeInfo())
	w, err := newRunWriter(*out, *jsonOut)
	if err != nil {
		return err
	}
	prog := newProgress("rocketqa score", "pairs", pairs)
	done := 0
	// groups of whole queries of about 8 batches each
	for start := 0; start < len(qids); {
		end, n := start, 0
		for end < len(qids) && (n == 0 || n+len(hits[end]) <= 8**batch) {
			n += len(hits[end])
			end++
		}
		var qq, tt, pp []string
		for i := start; i < end; i++ {
			for _, h := range hits[i] {
				p, _ := ps.Get(h.PID)
				qq, tt, pp = append(qq, text[qids[i]]), append(tt, p.Title), append(pp, p.Text)
			}
		}
		r.Progress = func(d, _ int) { prog.update(done+d, "") }
		scores, err := r.Score(ctx, qq, tt, pp)
		if err != nil {
			w.abort()
			return err
		}
		k := 0
		for i := start; i < end; i++ {
			re := make([]retrieval.Hit, len(hits[i]))
			for j, h := range hits[i] {
				re[j] = retrieval.Hit{PID: h.PID, Score: scores[k]}
				k++
			}
			slices.SortStableFunc(re, func(a, b retrieval.Hit) int {
				switch {
				case a.Score > b.Score:
					return -1
				case a.Score < b.Score:
					return 1
				}
				return 0
			})
			if err := w.write(qids[i], re); err != nil {
				w.abort()
				return err
			}
		}
		done += n
		prog.update(done, "")
		start = end
	}
	prog.done()
	if err := w.commit(); err != nil {
		return err
	}
	logf("score", "wrote %s", *out)
	return nil
}
