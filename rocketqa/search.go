package rocketqa

import (
	"context"
	"errors"
	"fmt"
	"strings"

	"github.com/rocketqa-go/rocketqa/dataset"
	"github.com/rocketqa-go/rocketqa/encoder"
	"github.com/rocketqa-go/rocketqa/retrieval"
)

// SearchOptions tune Search.
type SearchOptions struct {
	TopK int // passages per query [50]; more than the index holds is clamped to its size
	// Chunk is how many queries are encoded and searched at a time: it bounds the memory of the query vectors and
	// hits [4096].
	Chunk int
	// Progress, when set, is called with the number of queries done and the total.
	Progress func(done, total int)
}

func (o *SearchOptions) defaults(ix *retrieval.ShardedIndex) {
	if o.TopK <= 0 {
		o.TopK = 50
	}
	if o.Chunk <= 0 {
		o.Chunk = 4096
	}
	o.TopK = int(min(int64(o.TopK), ix.Ntotal()))
}

// Search encodes the queries with the query tower chunk by chunk, retrieves the top passages of each from ix
// (merged over its shards by score) and hands them to emit in query order, so that a run of millions of queries is
// written as it is searched (emit is typically a dataset.RunWriter's Write). An empty query text is an error
// naming its qid, as is a query length beyond the model's positions, a query vector with a NaN or infinite value,
// or a query encoder of another dimension than the index's (refused before any query is encoded, as is an index
// of no passages). It returns the number of passages per query it used (TopK clamped to the index size).
func Search(ctx context.Context, emb *encoder.Embedder, ix *retrieval.ShardedIndex, qids, texts []string, o SearchOptions, emit func(qid string, hits []dataset.Hit) error) (int, error) {
	if err := checkQueries(emb, qids, texts); err != nil {
		return 0, err
	}
	if ix.Ntotal() == 0 {
		return 0, errors.New("rocketqa: Search: the index holds no passages")
	}
	o.defaults(ix)
	if q := emb.Model.Query; q != nil && q.Cfg != nil && q.Cfg.HiddenSize != ix.Dim() {
		return 0, fmt.Errorf("rocketqa: the query encoder gives vectors of dimension %d, the index %d: another model than the one that encoded the passages?", q.Cfg.HiddenSize, ix.Dim())
	}
	for start := 0; start < len(qids); start += o.Chunk {
		end := min(start+o.Chunk, len(qids))
		e := *emb
		if o.Progress != nil {
			e.Options.Progress = func(done, _ int) { o.Progress(start+done, len(qids)) }
		}
		vecs, err := e.EncodeQueries(ctx, texts[start:end])
		if err != nil {
			return 0, err
		}
		flat := make([]float32, 0, len(vecs)*ix.Dim())
		for i, v := range vecs {
			if len(v) != ix.Dim() {
				return 0, fmt.Errorf("rocketqa: query vectors have dimension %d, the index %d: another model than the one that encoded the passages?", len(v), ix.Dim())
			}
			if j := retrieval.NonFinite(v); j >= 0 {
				return 0, fmt.Errorf("rocketqa: the vector of query %q has value %v at dimension %d: the model gives non-finite outputs (diverged weights, or a bfloat16 overflow?)", qids[start+i], v[j], j)
			}
			flat = append(flat, v...)
		}
		hits, err := ix.Search(flat, o.TopK)
		if err != nil {
			return 0, err
		}
		for i, h := range hits {
			if err := emit(qids[start+i], h); err != nil {
				return 0, err
			}
		}
	}
	return o.TopK, nil
}

// checkQueries refuses, before anything is read, a search Search would fail.
func checkQueries(emb *encoder.Embedder, qids, texts []string) error {
	if emb == nil || emb.Model == nil {
		return errors.New("rocketqa: Search: the embedder has no model")
	}
	if len(qids) != len(texts) {
		return fmt.Errorf("rocketqa: Search: %d qids for %d queries", len(qids), len(texts))
	}
	if err := checkSeqLen("query", emb.QMaxLen, emb.Model.Query); err != nil {
		return err
	}
	for i, q := range texts {
		if strings.TrimSpace(q) == "" {
			return fmt.Errorf("rocketqa: query %d is empty (qid %q)", i, qids[i])
		}
	}
	return nil
}

// SearchQueries encodes the queries and returns their top-k passages over the sharded indexes (merged by score):
// Search into memory.
func SearchQueries(ctx context.Context, emb *encoder.Embedder, indexes []string, queries []string, k int) ([][]retrieval.Hit, error) {
	qids := make([]string, len(queries))
	for i := range qids {
		qids[i] = fmt.Sprint(i)
	}
	if err := checkQueries(emb, qids, queries); err != nil {
		return nil, err
	}
	ix, err := retrieval.OpenShardedIndex(indexes...)
	if err != nil {
		return nil, err
	}
	defer ix.Close()
	var out [][]retrieval.Hit
	_, err = Search(ctx, emb, ix, qids, queries, SearchOptions{TopK: k}, func(_ string, h []dataset.Hit) error {
		out = append(out, h)
		return nil
	})
	return out, err
}

// IndexParam is a FAISS search parameter (nprobe, efSearch, ...).
type IndexParam struct {
	Name  string
	Value float64
}

// SearchFiles is a search from and to files: the indexes, the queries (any format of dataset.ReadQueries) and
// the run files to write.
type SearchFiles struct {
	Indexes []string
	Params  []IndexParam
	Queries string
	Out     string // TSV run file
	JSON    string // DuReader JSON prediction file too, if not empty
}

// SearchInfo describes a search once its inputs are open (for the log).
type SearchInfo struct {
	Queries, Passages, Shards, TopK int
}

// SearchToFiles reads the queries, opens the indexes (with their parameters), and streams the top passages of
// every query to the run files, which appear only when the search succeeded. start, when set, is called once the
// inputs are read, before the search.
func SearchToFiles(ctx context.Context, emb *encoder.Embedder, f SearchFiles, o SearchOptions, start func(SearchInfo)) error {
	qids, texts, err := dataset.ReadQueries(f.Queries, dataset.Options{Context: ctx})
	if err != nil {
		return err
	}
	ix, err := retrieval.OpenShardedIndex(f.Indexes...)
	if err != nil {
		return err
	}
	defer ix.Close()
	for _, p := range f.Params {
		if err := ix.SetParam(p.Name, p.Value); err != nil {
			return err
		}
	}
	if start != nil {
		o.defaults(ix)
		start(SearchInfo{Queries: len(qids), Passages: int(ix.Ntotal()), Shards: ix.NumShards(), TopK: o.TopK})
	}
	w, err := dataset.CreateRun(f.Out, f.JSON)
	if err != nil {
		return err
	}
	if _, err := Search(ctx, emb, ix, qids, texts, o, w.Write); err != nil {
		w.Abort()
		return err
	}
	return w.Commit()
}
