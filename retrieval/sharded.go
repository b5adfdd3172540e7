package retrieval

import (
	"errors"
	"fmt"
	"math"
	"slices"
	"sync"

	"github.com/rocketqa-go/rocketqa/dataset"
)

// Hit is one retrieved passage: its id and its score (inner product, or squared L2 distance for L2 indexes). It is
// the module's one hits type, dataset.Hit, which the run files (dataset.ReadRun, dataset.RunWriter) hold.
type Hit = dataset.Hit

// ShardedIndex searches several indexes as one, each with its own row -> passage id mapping, the way the
// official RocketQA code and the seed search their 4 (or 8) IndexFlatIP parts and merge the results.
// Search asks every shard for its top k and merges them into the global top k: best score first (descending
// inner product, ascending L2 distance), ties broken by shard order and then by row. For exact (flat) shards
// the result equals one index over the concatenation of the shards.
//
// Searches may run from many goroutines at once (see Index); Close waits for them.
type ShardedIndex struct {
	mu     sync.RWMutex
	shards []*Index
	pids   [][]string
	dim    int
	metric Metric
}

// NewShardedIndex combines indexes with their passage ids (pids[i][r] is the passage at row r of
// indexes[i]). All indexes must share dimension and metric and hold exactly len(pids[i]) vectors, and every
// passage id must occur once over all shards (else one passage could come back at two ranks). The
// ShardedIndex takes ownership: its Close closes them. On error the caller keeps ownership.
func NewShardedIndex(indexes []*Index, pids [][]string) (*ShardedIndex, error) {
	names := make([]string, len(indexes))
	for i := range names {
		names[i] = fmt.Sprintf("shard %d", i)
	}
	return newSharded(indexes, pids, names)
}

func newSharded(indexes []*Index, pids [][]string, names []string) (*ShardedIndex, error) {
	if len(indexes) == 0 {
		return nil, errors.New("retrieval: NewShardedIndex: no shards")
	}
	if len(indexes) != len(pids) {
		return nil, fmt.Errorf("retrieval: NewShardedIndex: %d indexes but %d pid lists", len(indexes), len(pids))
	}
	for i, ix := range indexes {
		if ix == nil {
			return nil, fmt.Errorf("retrieval: NewShardedIndex: shard %d is nil", i)
		}
	}
	s := &ShardedIndex{shards: indexes, pids: pids, dim: indexes[0].Dim(), metric: indexes[0].Metric()}
	for i, ix := range indexes {
		if ix.Dim() != s.dim {
			return nil, fmt.Errorf("retrieval: NewShardedIndex: shard %d has dimension %d, shard 0 has %d", i, ix.Dim(), s.dim)
		}
		if ix.Metric() != s.metric {
			return nil, fmt.Errorf("retrieval: NewShardedIndex: shard %d has metric %v, shard 0 has %v", i, ix.Metric(), s.metric)
		}
		if n := ix.Ntotal(); n != int64(len(pids[i])) {
			return nil, fmt.Errorf("retrieval: NewShardedIndex: shard %d holds %d vectors but %d passage ids", i, n, len(pids[i]))
		}
	}
	if err := duplicatePID(pids, names); err != nil {
		return nil, err
	}
	return s, nil
}

// OpenShardedIndex reads the index files at paths (as written by BuildIndex) with their passage id files
// PIDsPath(path).
func OpenShardedIndex(paths ...string) (*ShardedIndex, error) {
	var indexes []*Index
	var pids [][]string
	fail := func(err error) (*ShardedIndex, error) {
		for _, ix := range indexes {
			ix.Close()
		}
		return nil, err
	}
	for _, p := range paths {
		ix, err := ReadIndex(p)
		if err != nil {
			return fail(err)
		}
		indexes = append(indexes, ix)
		ids, err := ReadPIDs(PIDsPath(p))
		if err != nil {
			return fail(err)
		}
		if err := checkIndexMeta(p, ix, len(ids)); err != nil {
			return fail(err)
		}
		pids = append(pids, ids)
	}
	names := make([]string, len(paths))
	for i, p := range paths {
		names[i] = PIDsPath(p)
	}
	s, err := newSharded(indexes, pids, names)
	if err != nil {
		return fail(fmt.Errorf("%w (files %v)", err, paths))
	}
	return s, nil
}

// NumShards returns the number of shards.
func (s *ShardedIndex) NumShards() int { return len(s.shards) }

// Dim returns the vector dimension.
func (s *ShardedIndex) Dim() int { return s.dim }

// Metric returns the metric shared by the shards.
func (s *ShardedIndex) Metric() Metric { return s.metric }

// Ntotal returns the number of vectors over all shards.
func (s *ShardedIndex) Ntotal() int64 {
	var n int64
	for _, p := range s.pids {
		n += int64(len(p))
	}
	return n
}

// SetParam sets a search parameter (for example "nprobe" or "efSearch") on every shard.
func (s *ShardedIndex) SetParam(name string, v float64) error {
	s.mu.RLock()
	defer s.mu.RUnlock()
	if s.shards == nil {
		return ErrClosed
	}
	for i, ix := range s.shards {
		if err := ix.SetParam(name, v); err != nil {
			return fmt.Errorf("shard %d: %w", i, err)
		}
	}
	return nil
}

type candidate struct {
	score float32
	shard int
	row   int64
}

// Search returns, for each of the row-major queries, the global top k hits over all shards (fewer if the
// shards hold fewer vectors: each shard is asked for at most as many hits as it holds, so a huge k costs no
// more than k = Ntotal). A query with a NaN or infinite value is an error naming it: FAISS would return no
// hits for it, or arbitrary ones with NaN or infinite scores, depending on the index type.
func (s *ShardedIndex) Search(queries []float32, k int) ([][]Hit, error) {
	if len(queries)%s.dim != 0 {
		return nil, fmt.Errorf("retrieval: ShardedIndex.Search: got %d floats, not a multiple of dimension %d", len(queries), s.dim)
	}
	if i := NonFinite(queries); i >= 0 {
		return nil, fmt.Errorf("retrieval: ShardedIndex.Search: query %d has value %v at dimension %d (a diverged model?)", i/s.dim, queries[i], i%s.dim)
	}
	if k <= 0 {
		return nil, fmt.Errorf("retrieval: ShardedIndex.Search: k = %d must be positive", k)
	}
	s.mu.RLock()
	defer s.mu.RUnlock()
	if s.shards == nil {
		return nil, ErrClosed
	}
	nq := len(queries) / s.dim
	k = int(min(int64(k), s.Ntotal()))
	cands := make([][]candidate, nq)
	for i := range cands {
		cands[i] = make([]candidate, 0, min(k*len(s.shards), int(s.Ntotal())))
	}
	for si, ix := range s.shards {
		if len(s.pids[si]) == 0 {
			continue
		}
		ks := min(k, len(s.pids[si])) // clamp before FAISS: it allocates nq*k results
		scores, ids, err := ix.Search(queries, ks)
		if err != nil {
			return nil, fmt.Errorf("shard %d: %w", si, err)
		}
		for q := 0; q < nq; q++ {
			for j := q * ks; j < (q+1)*ks; j++ {
				row := ids[j]
				if row < 0 {
					continue
				}
				if row >= int64(len(s.pids[si])) {
					return nil, fmt.Errorf("retrieval: ShardedIndex.Search: shard %d returned row %d, it has %d passage ids", si, row, len(s.pids[si]))
				}
				cands[q] = append(cands[q], candidate{scores[j], si, row})
			}
		}
	}
	out := make([][]Hit, nq)
	for q, cs := range cands {
		slices.SortFunc(cs, func(a, b candidate) int { return compareCandidates(s.metric, a, b) })
		cs = cs[:min(k, len(cs))]
		hits := make([]Hit, len(cs))
		for i, c := range cs {
			hits[i] = Hit{PID: s.pids[c.shard][c.row], Score: c.score}
		}
		out[q] = hits
	}
	return out, nil
}

// NonFinite returns the index of the first NaN or infinite value of v, or -1 if all are finite.
func NonFinite(v []float32) int {
	for i, x := range v {
		if math.IsNaN(float64(x)) || math.IsInf(float64(x), 0) {
			return i
		}
	}
	return -1
}

// compareCandidates orders best score first (NaN last), then by shard, then by row.
func compareCandidates(m Metric, a, b candidate) int {
	an, bn := math.IsNaN(float64(a.score)), math.IsNaN(float64(b.score))
	switch {
	case an && !bn:
		return 1
	case bn && !an:
		return -1
	case !an && m.Better(a.score, b.score):
		return -1
	case !an && m.Better(b.score, a.score):
		return 1
	case a.shard != b.shard:
		return a.shard - b.shard
	case a.row < b.row:
		return -1
	case a.row > b.row:
		return 1
	}
	return 0
}

// Close closes every shard. It is safe to call more than once.
func (s *ShardedIndex) Close() error {
	s.mu.Lock()
	defer s.mu.Unlock()
	for _, ix := range s.shards {
		ix.Close()
	}
	s.shards = nil
	return nil
}
