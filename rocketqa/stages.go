package rocketqa

import (
	"context"
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"hash/crc32"
	"io/fs"
	"math"
	"os"
	"path/filepath"
	"strings"

	"github.com/rocketqa-go/rocketqa/dataset"
	"github.com/rocketqa-go/rocketqa/encoder"
	"github.com/rocketqa-go/rocketqa/eval"
	"github.com/rocketqa-go/rocketqa/internal/dirlock"
	"github.com/rocketqa-go/rocketqa/retrieval"
)

// The retrieval stages, each a library call and a CLI subcommand, joined by files (docs/method.md §3.4):
// encode passages -> embedding shards -> FAISS indexes -> search -> run file -> eval.

// EncodeCollection encodes every part-* file of a DuReader-layout collection directory (passage2id.map.json maps
// rows to pids) into outDir/<part>.emb, one embedding shard per part. Shards already present are kept (each is
// written atomically), so an interrupted run resumes where it stopped; outDir/encode.json records the model and
// the settings they were made with, and a run with another model or passage length is refused (see
// CheckEncodeDir). outDir is locked (internal/dirlock) for the run: a second run into it fails at once, naming the
// holder. The map must cover exactly the rows of the parts, with distinct pids. It returns the shard paths in part
// order. progress, when set, is called per part with the passages of that part done and its size.
func EncodeCollection(ctx context.Context, emb *encoder.Embedder, collectionDir, outDir string, progress func(part string, done, total int)) ([]string, error) {
	return EncodeCollectionWith(ctx, emb, collectionDir, outDir, EncodeHooks{PartProgress: progress})
}

// EncodeHooks report on EncodeCollectionWith and choose the value type of its shards.
type EncodeHooks struct {
	// DType is the value type of the shards written: retrieval.Float32 (the zero value means it), or
	// retrieval.Float16 (half the disk and page cache; each value rounded to nearest even, a relative error of at
	// most 2^-11, and widened back to float32 when an index is built). encode.json records it, and shards of the
	// other type in outDir are refused.
	DType retrieval.DType
	// Start is called once the inputs and outDir are checked, with the passages already encoded by an earlier run
	// (their shards are kept) and the passages of the collection.
	Start func(encoded, total int)
	// Progress is called with the passages done over the whole collection (those of kept shards included) and
	// the part being encoded.
	Progress func(part string, done int)
	// PartProgress is called with the passages of the current part done and its size.
	PartProgress func(part string, done, total int)
}

// EncodeCollectionWith is EncodeCollection with hooks for a progress display over the whole collection.
func EncodeCollectionWith(ctx context.Context, emb *encoder.Embedder, collectionDir, outDir string, h EncodeHooks) ([]string, error) {
	if emb == nil || emb.Model == nil {
		return nil, errors.New("rocketqa: EncodeCollection: the embedder has no model")
	}
	if err := checkSeqLen("passage", emb.PMaxLen, emb.Model.Para); err != nil {
		return nil, err
	}
	lock, err := dirlock.Acquire(outDir, "encode")
	if err != nil {
		return nil, err
	}
	defer lock.Release()
	ropts := dataset.Options{Context: ctx}
	pids, parts, rows, err := collectionLayout(collectionDir, ropts)
	if err != nil {
		return nil, err
	}
	settings, err := EncodeSettingsOf(emb, len(pids))
	if err != nil {
		return nil, err
	}
	switch h.DType {
	case 0, retrieval.Float32:
		h.DType = retrieval.Float32
	case retrieval.Float16:
		settings.DType = "float16"
	default:
		return nil, fmt.Errorf("rocketqa: EncodeCollection: shard value type %d: want retrieval.Float32 or retrieval.Float16", h.DType)
	}
	if err := checkEncodeDir(outDir, settings, true); err != nil {
		return nil, err
	}
	shards, done := make([]string, len(parts)), make([]bool, len(parts))
	encoded := 0
	for i, part := range parts {
		shards[i] = filepath.Join(outDir, filepath.Base(part)+".emb")
		if rd, err := retrieval.OpenEmbeddingReader(shards[i]); err == nil {
			done[i] = rd.Count() == int64(rows[i]) // made by an earlier run with the same settings
			rd.Close()
		}
		if done[i] {
			encoded += rows[i]
		}
	}
	if h.Start != nil {
		h.Start(encoded, len(pids))
	}
	row := 0
	for i, part := range parts {
		if !done[i] {
			if err := encodePart(ctx, emb, part, row, pids, shards[i], encoded, h, ropts); err != nil {
				return nil, err
			}
			encoded += rows[i]
		}
		row += rows[i]
	}
	return shards, nil
}

// collectionLayout reads the map and the part files of a collection and checks that they agree.
func collectionLayout(dir string, ropts dataset.Options) (pids, parts []string, rows []int, err error) {
	mapPath := filepath.Join(dir, "passage2id.map.json")
	if pids, err = dataset.ReadPassageIDMap(mapPath, ropts); err != nil {
		return nil, nil, nil, err
	}
	if parts, err = dataset.CollectionParts(dir); err != nil {
		return nil, nil, nil, err
	}
	total := 0
	for _, part := range parts {
		n, err := dataset.CountLines(part, ropts)
		if err != nil {
			return nil, nil, nil, err
		}
		if n == 0 {
			return nil, nil, nil, fmt.Errorf("rocketqa: %s is empty: a collection part needs at least one passage; remove the file or fill it", part)
		}
		rows, total = append(rows, n), total+n
	}
	if total != len(pids) {
		return nil, nil, nil, fmt.Errorf("rocketqa: %s maps %d rows but the part files of %s hold %d passages: the map belongs to another collection, or a part is missing or extra", mapPath, len(pids), dir, total)
	}
	return pids, parts, rows, nil
}

// encodePart encodes one part file (whose first row is row) into its shard; before is the passages done before it.
func encodePart(ctx context.Context, emb *encoder.Embedder, part string, row int, pids []string, out string, before int, h EncodeHooks, ropts dataset.Options) error {
	r, err := dataset.OpenCollectionPart(part, row, ropts)
	if err != nil {
		return err
	}
	var titles, texts, ids []string
	for r.Next() {
		p := r.Passage()
		titles, texts, ids = append(titles, p.Title), append(texts, p.Text), append(ids, pids[p.Row])
	}
	r.Close()
	if err := r.Err(); err != nil {
		return err
	}
	e, name := *emb, filepath.Base(part)
	e.Options.Progress = func(done, total int) {
		if h.PartProgress != nil {
			h.PartProgress(name, done, total)
		}
		if h.Progress != nil {
			h.Progress(name, before+done)
		}
	}
	vecs, err := e.EncodePassages(ctx, titles, texts)
	if err != nil {
		return err
	}
	return writeShard(out, ids, vecs, h.DType)
}

// EncodeSettings identify how embedding shards were made: outDir/encode.json of EncodeCollection.
type EncodeSettings struct {
	Format string `json:"format"`
	// Model is a checksum of the passage tower's parameters (names, shapes and values): the model's identity,
	// wherever its directory lies.
	Model      string `json:"model"`
	VocabSize  int    `json:"vocab_size"`
	PLen       int    `json:"p_len"`
	Normalized bool   `json:"normalized"`
	Dim        int    `json:"dim"`
	Passages   int    `json:"passages"`
	// Precision is "bf16-autocast" when the forward passes ran in bfloat16 autocast, "" for float32 (the vectors
	// differ slightly: one collection's shards must not mix the two).
	Precision string `json:"precision,omitempty"`
	// DType is the shards' value type: "float16", or "" for float32.
	DType string `json:"dtype,omitempty"`
}

const encodeSettingsFormat = "rocketqa-encode/1"

// EncodeSettingsFile is the name of the settings record beside the shards.
const EncodeSettingsFile = "encode.json"

// EncodeSettingsOf computes the settings record of emb for a collection of n passages. It reads every
// parameter of the passage tower once (a fraction of a second for a base-size model).
func EncodeSettingsOf(emb *encoder.Embedder, n int) (EncodeSettings, error) {
	if emb == nil || emb.Model == nil || emb.Model.Para == nil || emb.Tok == nil {
		return EncodeSettings{}, fmt.Errorf("rocketqa: EncodeSettingsOf: the embedder needs a model and a tokenizer")
	}
	h := crc32.New(crc32.MakeTable(crc32.Castagnoli))
	var buf []byte
	for _, p := range emb.Model.Para.Params() {
		h.Write([]byte(p.Name))
		for _, d := range p.Tensor.Shape() {
			buf = binary.LittleEndian.AppendUint64(buf[:0], uint64(d))
			h.Write(buf)
		}
		v, err := p.Tensor.Float32s()
		if err != nil {
			return EncodeSettings{}, fmt.Errorf("rocketqa: reading parameter %s: %w", p.Name, err)
		}
		buf = buf[:0]
		for _, x := range v {
			buf = binary.LittleEndian.AppendUint32(buf, math.Float32bits(x))
		}
		h.Write(buf)
	}
	cfg := emb.Model.Para.Cfg
	st := EncodeSettings{Format: encodeSettingsFormat, Model: fmt.Sprintf("crc32c:%08x", h.Sum32()),
		VocabSize: emb.Tok.VocabSize(), PLen: emb.PMaxLen, Normalized: emb.Normalized, Dim: cfg.HiddenSize, Passages: n}
	if _, bf16 := emb.Options.Autocast(); bf16 {
		st.Precision = "bf16-autocast"
	}
	return st, nil
}

// orFloat32 names an empty precision or value type.
func orFloat32(s string) string {
	if s == "" {
		return "float32"
	}
	return s
}

// CheckEncodeDir reports whether the shards already in outDir were made with settings (as EncodeCollection
// would reuse them): nil when outDir holds no shards or shards of the same model and settings. Shards of another
// model, passage length, normalisation or collection size, or shards without a settings record, give an error
// saying what differs and what to do.
func CheckEncodeDir(outDir string, settings EncodeSettings) error {
	return checkEncodeDir(outDir, settings, false)
}

func checkEncodeDir(outDir string, want EncodeSettings, write bool) error {
	path := filepath.Join(outDir, EncodeSettingsFile)
	shards, _ := filepath.Glob(filepath.Join(outDir, "*.emb"))
	b, err := os.ReadFile(path)
	if errors.Is(err, fs.ErrNotExist) {
		if len(shards) > 0 {
			return fmt.Errorf("rocketqa: %s holds embedding shards (%s, ...) but no %s recording the model and settings they were made with; use another output directory, or delete the *.emb files to encode again", outDir, filepath.Base(shards[0]), EncodeSettingsFile)
		}
		if !write {
			return nil
		}
		return dataset.WriteJSONAtomic(path, want)
	}
	if err != nil {
		return err
	}
	var got EncodeSettings
	if err := json.Unmarshal(dataset.StripBOM(b), &got); err != nil || got.Format != encodeSettingsFormat {
		return fmt.Errorf("rocketqa: %s: not an encode settings record of format %s (%v); delete it with the *.emb files to encode again", path, encodeSettingsFormat, err)
	}
	var diff []string
	if got.Model != want.Model || got.VocabSize != want.VocabSize || got.Dim != want.Dim {
		diff = append(diff, fmt.Sprintf("another model (%s, dimension %d; this one is %s, dimension %d)", got.Model, got.Dim, want.Model, want.Dim))
	}
	if got.PLen != want.PLen {
		diff = append(diff, fmt.Sprintf("passage length %d (this run: %d)", got.PLen, want.PLen))
	}
	if got.Normalized != want.Normalized {
		diff = append(diff, fmt.Sprintf("normalized %v (this run: %v)", got.Normalized, want.Normalized))
	}
	if got.Passages != want.Passages {
		diff = append(diff, fmt.Sprintf("a collection of %d passages (this one: %d)", got.Passages, want.Passages))
	}
	if got.Precision != want.Precision {
		diff = append(diff, fmt.Sprintf("precision %s (this run: %s)", orFloat32(got.Precision), orFloat32(want.Precision)))
	}
	if got.DType != want.DType {
		diff = append(diff, fmt.Sprintf("%s shards (this run: %s)", orFloat32(got.DType), orFloat32(want.DType)))
	}
	if len(diff) > 0 {
		return fmt.Errorf("rocketqa: the shards in %s were encoded with %s; use another output directory, or delete its *.emb files and %s to encode again", outDir, strings.Join(diff, ", "), EncodeSettingsFile)
	}
	return nil
}

// checkSeqLen refuses a sequence length beyond the tower's position embeddings before any input is encoded.
func checkSeqLen(what string, n int, m *encoder.BERT) error {
	if m == nil || m.Cfg == nil {
		return nil
	}
	if max := m.Cfg.MaxPositionEmbeddings; max > 0 && n > max {
		return fmt.Errorf("rocketqa: %s length %d tokens exceeds the model's %d positions (max_position_embeddings); use at most %d", what, n, max, max)
	}
	return nil
}

func writeShard(path string, ids []string, vecs [][]float32, dt retrieval.DType) error {
	dim := 0
	if len(vecs) > 0 {
		dim = len(vecs[0])
	}
	w, err := retrieval.NewEmbeddingWriter(path, dim, dt)
	if err != nil {
		return err
	}
	flat := make([]float32, 0, len(vecs)*dim)
	for _, v := range vecs {
		flat = append(flat, v...)
	}
	if err := w.Append(ids, flat); err != nil {
		w.Abort()
		return err
	}
	return w.Close()
}

// IndexOptions tune BuildIndexes.
type IndexOptions struct {
	Factory string // FAISS index_factory string ["Flat": IndexFlatIP, the official]
	// Single builds one index over all shards (outDir/all.index) instead of one per shard (outDir/<shard>.index,
	// as the official code does with its 4 or 8 parts).
	Single bool
	// Force rebuilds indexes already in outDir (otherwise they are kept: an interrupted run resumes).
	Force     bool
	Metric    retrieval.Metric // [InnerProduct]
	TrainSize int              // rows sampled to train IVF/PQ indexes (retrieval.BuildOptions)
	Seed      uint64           // seed of that sample
	// Progress, when set, is called with the index being built and its vectors added so far.
	Progress func(index string, done, total int64)
	// Built, when set, is called after each index with its result (nil when an existing index was kept).
	Built func(index string, res *retrieval.BuildResult)
}

// BuildIndexes builds FAISS indexes from embedding shards into outDir and returns their paths: one per shard, or
// one over all with Single. Existing indexes (with their .pids file) are kept unless Force; one built from other
// shards or with other settings (retrieval.CheckBuiltFrom) is an error. outDir is locked for
// the run (internal/dirlock): a second run into it fails at once, naming the holder.
func BuildIndexes(ctx context.Context, shards []string, outDir string, o IndexOptions) ([]string, error) {
	lock, err := dirlock.Acquire(outDir, "index")
	if err != nil {
		return nil, err
	}
	defer lock.Release()
	if o.Factory == "" {
		o.Factory = "Flat"
	}
	// one dimension over all shards, before hours of building: one index per shard would otherwise build, and
	// only the search over them all would refuse the mix
	dim := 0
	for _, sh := range shards {
		r, err := retrieval.OpenEmbeddingReader(sh)
		if err != nil {
			return nil, err
		}
		d := r.Dim()
		r.Close()
		if dim == 0 {
			dim = d
		} else if d != dim {
			return nil, fmt.Errorf("rocketqa: index: %s has dimension %d, %s has %d: the shards of one index set come from one model", sh, d, shards[0], dim)
		}
	}
	jobs := [][]string{shards}
	outs := []string{filepath.Join(outDir, "all.index")}
	if !o.Single {
		jobs, outs = nil, nil
		for _, sh := range shards {
			jobs = append(jobs, []string{sh})
			outs = append(outs, filepath.Join(outDir, strings.TrimSuffix(filepath.Base(sh), ".emb")+".index"))
		}
	}
	for i, p := range outs {
		bo := retrieval.BuildOptions{Metric: o.Metric, TrainSize: o.TrainSize, Seed: o.Seed}
		if !o.Force && exists(p) && exists(retrieval.PIDsPath(p)) {
			if err := retrieval.CheckBuiltFrom(p, jobs[i], o.Factory, bo); err != nil {
				return nil, err
			}
			if o.Built != nil {
				o.Built(p, nil)
			}
			continue
		}
		if o.Progress != nil {
			bo.Progress = func(done, total int64) { o.Progress(p, done, total) }
		}
		res, err := retrieval.BuildIndex(ctx, jobs[i], o.Factory, p, bo)
		if err != nil {
			return nil, err
		}
		if o.Built != nil {
			o.Built(p, res)
		}
	}
	return outs, nil
}

// IndexShards builds one FAISS index per embedding shard with factory ("" means IndexFlatIP), keeping existing
// ones: BuildIndexes with the default options.
func IndexShards(ctx context.Context, shards []string, outDir, factory string) ([]string, error) {
	return BuildIndexes(ctx, shards, outDir, IndexOptions{Factory: factory})
}

// RunFromHits turns search results into an eval.Run.
func RunFromHits(qids []string, hits [][]retrieval.Hit) eval.Run {
	run := eval.Run{}
	for i, q := range qids {
		for _, h := range hits[i] {
			run[q] = append(run[q], h.PID)
		}
	}
	return run
}

// RetrieveAndEvaluate runs the whole retrieval side on a DuReader-layout directory (passage-collection/,
// dev/q2qid.dev.json, dev/dev.json): encode, index, search top 50, write workDir/dev.run.tsv and
// workDir/dev.run.json, and score with the DuReader semantics.
func RetrieveAndEvaluate(ctx context.Context, emb *encoder.Embedder, dataDir, workDir, factory string, progress func(stage string)) (eval.Metrics, error) {
	say := func(s string) {
		if progress != nil {
			progress(s)
		}
	}
	say("encode passages")
	shards, err := EncodeCollection(ctx, emb, filepath.Join(dataDir, "passage-collection"), filepath.Join(workDir, "emb"), nil)
	if err != nil {
		return eval.Metrics{}, err
	}
	say("build indexes")
	idx, err := IndexShards(ctx, shards, filepath.Join(workDir, "index"), factory)
	if err != nil {
		return eval.Metrics{}, err
	}
	qs, err := dataset.ReadQ2QID(filepath.Join(dataDir, "dev", "q2qid.dev.json"))
	if err != nil {
		return eval.Metrics{}, err
	}
	qids, texts := make([]string, len(qs)), make([]string, len(qs))
	for i, q := range qs {
		qids[i], texts[i] = q.QID, q.Query
	}
	say("search")
	hits, err := SearchQueries(ctx, emb, idx, texts, 50)
	if err != nil {
		return eval.Metrics{}, err
	}
	if err := dataset.WriteRun(filepath.Join(workDir, "dev.run.tsv"), filepath.Join(workDir, "dev.run.json"), qids, hits); err != nil {
		return eval.Metrics{}, err
	}
	ref, err := eval.LoadDuReaderReference(filepath.Join(dataDir, "dev", "dev.json"))
	if err != nil {
		return eval.Metrics{}, err
	}
	say("evaluate")
	m, err := eval.DuReader(RunFromHits(qids, hits), ref)
	if err != nil {
		return m, err
	}
	return m, m.WriteJSON(filepath.Join(workDir, "metrics.json"))
}
