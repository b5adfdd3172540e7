package rocketqa

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strings"

	"github.com/rocketqa-go/rocketqa/dataset"
	"github.com/rocketqa-go/rocketqa/encoder"
	"github.com/rocketqa-go/rocketqa/eval"
	"github.com/rocketqa-go/rocketqa/retrieval"
)

// The retrieval stages, each a library call and a CLI subcommand, joined by files (design.md section 4):
// encode passages -> embedding shards -> FAISS indexes -> search -> run file -> eval.

// EncodeCollection encodes every part-* file of a DuReader-layout collection directory (passage2id.map.json maps
// rows to pids) into outDir/<part>.emb, one embedding shard per part. Shards already present are kept (each is
// written atomically), so an interrupted run resumes where it stopped. It returns the shard paths in part order.
func EncodeCollection(ctx context.Context, emb *encoder.Embedder, collectionDir, outDir string, progress func(part string, done, total int)) ([]string, error) {
	pids, err := dataset.ReadPassageIDMap(filepath.Join(collectionDir, "passage2id.map.json"))
	if err != nil {
		return nil, err
	}
	parts, err := dataset.CollectionParts(collectionDir)
	if err != nil {
		return nil, err
	}
	if err := os.MkdirAll(outDir, 0o755); err != nil {
		return nil, err
	}
	var shards []string
	row := 0
	for _, part := range parts {
		out := filepath.Join(outDir, filepath.Base(part)+".emb")
		shards = append(shards, out)
		r, err := dataset.OpenCollectionPart(part, row)
		if err != nil {
			return nil, err
		}
		var titles, texts, ids []string
		for r.Next() {
			p := r.Passage()
			if p.Row >= len(pids) {
				r.Close()
				return nil, fmt.Errorf("rocketqa: %s: row %d has no pid in passage2id.map.json (%d entries)", part, p.Row, len(pids))
			}
			titles, texts, ids = append(titles, p.Title), append(texts, p.Text), append(ids, pids[p.Row])
		}
		r.Close()
		if err := r.Err(); err != nil {
			return nil, err
		}
		row += len(texts)
		if _, err := os.Stat(out); err == nil {
			if rd, err := retrieval.OpenEmbeddingReader(out); err == nil && rd.Count() == int64(len(texts)) {
				rd.Close()
				continue // done by an earlier run
			}
		}
		o := emb.Options
		if progress != nil {
			name := filepath.Base(part)
			o.Progress = func(done, total int) { progress(name, done, total) }
		}
		e := *emb
		e.Options = o
		vecs, err := e.EncodePassages(ctx, titles, texts)
		if err != nil {
			return nil, err
		}
		if err := writeShard(out, ids, vecs); err != nil {
			return nil, err
		}
	}
	return shards, nil
}

func writeShard(path string, ids []string, vecs [][]float32) error {
	dim := 0
	if len(vecs) > 0 {
		dim = len(vecs[0])
	}
	w, err := retrieval.NewEmbeddingWriter(path, dim, retrieval.Float32)
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

// IndexShards builds one FAISS index per embedding shard (as the official code does with its 4 or 8 parts):
// outDir/<shard>.index plus its .pids file. Existing indexes are kept. factory "" means IndexFlatIP.
func IndexShards(ctx context.Context, shards []string, outDir, factory string) ([]string, error) {
	if err := os.MkdirAll(outDir, 0o755); err != nil {
		return nil, err
	}
	var out []string
	for _, sh := range shards {
		p := filepath.Join(outDir, strings.TrimSuffix(filepath.Base(sh), ".emb")+".index")
		out = append(out, p)
		if _, err := os.Stat(retrieval.PIDsPath(p)); err == nil {
			if _, err := os.Stat(p); err == nil {
				continue
			}
		}
		if _, err := retrieval.BuildIndex(ctx, []string{sh}, factory, p, retrieval.BuildOptions{}); err != nil {
			return nil, err
		}
	}
	return out, nil
}

// SearchQueries encodes the queries and returns their top-k passages over the sharded indexes (merged by score).
func SearchQueries(ctx context.Context, emb *encoder.Embedder, indexes []string, queries []string, k int) ([][]retrieval.Hit, error) {
	ix, err := retrieval.OpenShardedIndex(indexes...)
	if err != nil {
		return nil, err
	}
	defer ix.Close()
	qv, err := emb.EncodeQueries(ctx, queries)
	if err != nil {
		return nil, err
	}
	flat := make([]float32, 0, len(qv)*ix.Dim())
	for _, v := range qv {
		if len(v) != ix.Dim() {
			return nil, fmt.Errorf("rocketqa: query vectors have dimension %d, the index %d", len(v), ix.Dim())
		}
		flat = append(flat, v...)
	}
	return ix.Search(flat, k)
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
	if err := retrieval.WriteRunTSV(filepath.Join(workDir, "dev.run.tsv"), qids, hits); err != nil {
		return eval.Metrics{}, err
	}
	if err := retrieval.WriteRunJSON(filepath.Join(workDir, "dev.run.json"), qids, hits); err != nil {
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
