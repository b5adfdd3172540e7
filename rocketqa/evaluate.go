package rocketqa

import (
	"context"
	"fmt"
	"path/filepath"

	"github.com/rocketqa-go/rocketqa/dataset"
	"github.com/rocketqa-go/rocketqa/encoder"
	"github.com/rocketqa-go/rocketqa/eval"
	"github.com/rocketqa-go/rocketqa/torch"
	"github.com/rocketqa-go/rocketqa/train"
)

// DevSet is what evaluation during training retrieves over: dev queries with their references and a passage pool
// (the whole collection for small corpora, or the dev positives plus sampled passages for big ones).
type DevSet struct {
	QIDs    []string
	Queries []string
	Qrels   eval.Qrels
	Pool    *dataset.Passages
}

// LoadDuReaderDev reads a DuReader-layout directory: dev/q2qid.dev.json, dev/dev.json and the passage collection
// (passage-collection/part-* + passage2id.map.json) as the pool.
func LoadDuReaderDev(dir string) (*DevSet, error) {
	qs, err := dataset.ReadQ2QID(filepath.Join(dir, "dev", "q2qid.dev.json"))
	if err != nil {
		return nil, err
	}
	ref, err := eval.LoadDuReaderReference(filepath.Join(dir, "dev", "dev.json"))
	if err != nil {
		return nil, err
	}
	pool, err := dataset.LoadDuReaderCollection(filepath.Join(dir, "passage-collection"))
	if err != nil {
		return nil, err
	}
	d := &DevSet{Qrels: ref, Pool: pool}
	for _, q := range qs {
		d.QIDs = append(d.QIDs, q.QID)
		d.Queries = append(d.Queries, q.Query)
	}
	return d, nil
}

// SearchExact returns the top-k passages of pool (vectors, with their ids pids) by inner product for each query
// (exact, chunked matmul on CPU). FAISS (package retrieval) does the same at scale; this is for dev pools and tests.
func SearchExact(queries, pool [][]float32, pids []string, k int) ([][]dataset.Hit, error) {
	if len(pids) != len(pool) {
		return nil, fmt.Errorf("rocketqa: SearchExact: %d pids for %d vectors", len(pids), len(pool))
	}
	if len(pool) == 0 || len(queries) == 0 {
		return make([][]dataset.Hit, len(queries)), nil
	}
	h := len(pool[0])
	k = min(k, len(pool))
	out := make([][]dataset.Hit, len(queries))
	flat := func(vs [][]float32) []float32 {
		f := make([]float32, 0, len(vs)*h)
		for _, v := range vs {
			f = append(f, v...)
		}
		return f
	}
	err := torch.With(func(s *torch.Scope) error {
		var err error
		torch.NoGrad(func() {
			p := s.FromFloat32(flat(pool), int64(len(pool)), int64(h))
			const qc = 256
			for start := 0; start < len(queries); start += qc {
				end := min(start+qc, len(queries))
				q := s.FromFloat32(flat(queries[start:end]), int64(end-start), int64(h))
				vals, idx := q.MatMul(p.T()).TopK(int64(k), 1, true)
				var v []float32
				var ix []int64
				if v, err = vals.Float32s(); err != nil {
					return
				}
				if ix, err = idx.Int64s(); err != nil {
					return
				}
				for i := start; i < end; i++ {
					row := make([]dataset.Hit, k)
					for j := range row {
						row[j] = dataset.Hit{PID: pids[ix[(i-start)*k+j]], Score: v[(i-start)*k+j]}
					}
					out[i] = row
				}
			}
		})
		return err
	})
	return out, err
}

// EvaluateDual encodes the dev pool and queries with emb, retrieves the top 50 exactly and scores the run with the
// DuReader official semantics (MRR@10, Recall@1, Recall@50; denominator = reference queries).
func EvaluateDual(ctx context.Context, emb *encoder.Embedder, dev *DevSet) (eval.Metrics, error) {
	titles := make([]string, dev.Pool.Len())
	paras := make([]string, dev.Pool.Len())
	for i := range paras {
		p := dev.Pool.At(i)
		titles[i], paras[i] = p.Title, p.Text
	}
	pv, err := emb.EncodePassages(ctx, titles, paras)
	if err != nil {
		return eval.Metrics{}, err
	}
	qv, err := emb.EncodeQueries(ctx, dev.Queries)
	if err != nil {
		return eval.Metrics{}, err
	}
	hits, err := SearchExact(qv, pv, dev.Pool.PIDs(), 50)
	if err != nil {
		return eval.Metrics{}, err
	}
	return eval.DuReader(RunFromHits(dev.QIDs, hits), dev.Qrels)
}

// Evaluator returns a train.Evaluator that scores the task's current model on dev (score = MRR@10).
func (t *DualTask) Evaluator(dev *DevSet, batch int) train.Evaluator {
	return func(ctx context.Context) (float64, map[string]float64, error) {
		emb := &encoder.Embedder{Model: t.Model, Tok: t.Tok, QMaxLen: t.Info.QMaxSeqLen, PMaxLen: t.Info.PMaxSeqLen,
			Options: encoder.EncodeOptions{BatchSize: batch, Device: t.Device}}
		m, err := EvaluateDual(ctx, emb, dev)
		if err != nil {
			return 0, nil, fmt.Errorf("dev evaluation: %w", err)
		}
		return m.MRR10, map[string]float64{"MRR@10": m.MRR10, "recall@1": m.Recall1, "recall@50": m.Recall50}, nil
	}
}
