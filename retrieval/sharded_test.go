package retrieval

import (
	"context"
	"fmt"
	"math"
	"math/rand/v2"
	"os"
	"path/filepath"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// shardSet writes the given row counts as consecutive shard files of one random corpus and returns their
// paths with the whole corpus.
func shardSet(t *testing.T, dir string, rng *rand.Rand, dim int, sizes []int) (paths []string, ids []string, vecs []float32) {
	t.Helper()
	for s, n := range sizes {
		sv := randVecs(rng, n, dim)
		si := make([]string, n)
		for i := range si {
			si[i] = fmt.Sprintf("s%d-p%d", s, i)
		}
		p := filepath.Join(dir, fmt.Sprintf("part-%02d.emb", s))
		writeShard(t, p, dim, Float32, si, sv, 100)
		paths = append(paths, p)
		ids, vecs = append(ids, si...), append(vecs, sv...)
	}
	return paths, ids, vecs
}

func TestBuildIndexFlat(t *testing.T) {
	rng := rand.New(rand.NewPCG(21, 22))
	dir := t.TempDir()
	const dim, k = 16, 12
	shards, ids, xb := shardSet(t, dir, rng, dim, []int{300, 0, 450, 250})
	out := filepath.Join(dir, "all.faiss")
	var calls int
	var last [2]int64
	res, err := BuildIndex(context.Background(), shards, "Flat", out, BuildOptions{BatchSize: 128, Progress: func(done, total int64) {
		calls++
		last = [2]int64{done, total}
	}})
	require.NoError(t, err)
	assert.Equal(t, int64(1000), res.Rows)
	assert.Equal(t, dim, res.Dim)
	assert.Equal(t, 0, res.TrainRows)
	assert.Equal(t, [2]int64{1000, 1000}, last)
	assert.Equal(t, 3+4+2, calls) // ceil(300/128)+ceil(450/128)+ceil(250/128)

	pids, err := ReadPIDs(PIDsPath(out))
	require.NoError(t, err)
	assert.Equal(t, ids, pids)
	ix, err := ReadIndex(out)
	require.NoError(t, err)
	defer ix.Close()
	xq := randVecs(rng, 25, dim)
	scores, got, err := ix.Search(xq, k)
	require.NoError(t, err)
	requireSameTopK(t, bruteForce(xb, xq, dim, k, InnerProduct), scores, got, k, 1e-5)
}

func TestShardedSearchEqualsSingleIndex(t *testing.T) {
	for _, metric := range []Metric{InnerProduct, L2} {
		t.Run(metric.String(), func(t *testing.T) {
			rng := rand.New(rand.NewPCG(23, 24))
			dir := t.TempDir()
			const dim, k = 24, 30
			sizes := []int{400, 10, 0, 590} // a shard smaller than k and an empty one
			shards, ids, xb := shardSet(t, dir, rng, dim, sizes)
			single := filepath.Join(dir, "single.faiss")
			_, err := BuildIndex(context.Background(), shards, "", single, BuildOptions{Metric: metric})
			require.NoError(t, err)
			var parts []string
			for i, s := range shards {
				p := filepath.Join(dir, fmt.Sprintf("part-%d.faiss", i))
				_, err := BuildIndex(context.Background(), []string{s}, "", p, BuildOptions{Metric: metric})
				require.NoError(t, err)
				parts = append(parts, p)
			}
			sh, err := OpenShardedIndex(parts...)
			require.NoError(t, err)
			defer sh.Close()
			assert.Equal(t, 4, sh.NumShards())
			assert.Equal(t, int64(1000), sh.Ntotal())
			assert.Equal(t, metric, sh.Metric())
			one, err := OpenShardedIndex(single)
			require.NoError(t, err)
			defer one.Close()

			xq := randVecs(rng, 40, dim)
			got, err := sh.Search(xq, k)
			require.NoError(t, err)
			want, err := one.Search(xq, k)
			require.NoError(t, err)
			require.Len(t, got, 40)
			bf := bruteForce(xb, xq, dim, k, metric)
			for q := range got {
				require.Len(t, got[q], k)
				for r := range got[q] {
					assert.Equal(t, want[q][r].PID, got[q][r].PID, "query %d rank %d", q, r)
					assert.InDelta(t, want[q][r].Score, got[q][r].Score, 1e-5)
					assert.Equal(t, ids[bf[q][r].id], got[q][r].PID, "brute force, query %d rank %d", q, r)
					if r > 0 {
						assert.False(t, metric.Better(got[q][r].Score, got[q][r-1].Score), "sorted best first")
					}
				}
			}
			// Fewer rows than k: every row comes back once.
			few, err := sh.Search(xq[:dim], 2000)
			require.NoError(t, err)
			require.Len(t, few[0], 1000)
			seen := map[string]bool{}
			for _, h := range few[0] {
				seen[h.PID] = true
			}
			assert.Len(t, seen, 1000)
		})
	}
}

func TestShardedMergeTieBreak(t *testing.T) {
	// Two shards with identical vectors, and within shard 0 rows 1 and 3 identical: equal scores must come
	// back shard 0 before shard 1, and row 1 before row 3.
	const dim = 4
	vecs := []float32{
		1, 0, 0, 0,
		0, 2, 0, 0,
		0, 0, 3, 0,
		0, 2, 0, 0,
	}
	mk := func(prefix string) (*Index, []string) {
		ix, err := NewIndex(dim, "", InnerProduct)
		require.NoError(t, err)
		require.NoError(t, ix.Add(vecs))
		return ix, pidsN(prefix, 4)
	}
	a, pa := mk("a")
	b, pb := mk("b")
	sh, err := NewShardedIndex([]*Index{a, b}, [][]string{pa, pb})
	require.NoError(t, err)
	defer sh.Close()
	hits, err := sh.Search([]float32{1, 1, 1, 0}, 8)
	require.NoError(t, err)
	var got []string
	for _, h := range hits[0] {
		got = append(got, h.PID)
	}
	assert.Equal(t, []string{"a2", "b2", "a1", "a3", "b1", "b3", "a0", "b0"}, got)
	assert.Equal(t, []float32{3, 3, 2, 2, 2, 2, 1, 1}, []float32{hits[0][0].Score, hits[0][1].Score, hits[0][2].Score,
		hits[0][3].Score, hits[0][4].Score, hits[0][5].Score, hits[0][6].Score, hits[0][7].Score})
	top3, err := sh.Search([]float32{1, 1, 1, 0}, 3)
	require.NoError(t, err)
	assert.Equal(t, []Hit{{PID: "a2", Score: 3}, {PID: "b2", Score: 3}, {PID: "a1", Score: 2}}, top3[0])
}

func TestBuildIndexIVFTrainsOnSample(t *testing.T) {
	rng := rand.New(rand.NewPCG(25, 26))
	dir := t.TempDir()
	const dim, k = 16, 10
	shards, _, xb := shardSet(t, dir, rng, dim, []int{700, 800})
	build := func(name string, seed uint64) []byte {
		out := filepath.Join(dir, name)
		res, err := BuildIndex(context.Background(), shards, "IVF8,Flat", out, BuildOptions{TrainSize: 600, Seed: seed, BatchSize: 333})
		require.NoError(t, err)
		assert.Equal(t, 600, res.TrainRows)
		b, err := os.ReadFile(out)
		require.NoError(t, err)
		return b
	}
	a, b, c := build("a.faiss", 1), build("b.faiss", 1), build("c.faiss", 2)
	assert.Equal(t, a, b, "same seed, same index")
	assert.NotEqual(t, a, c, "another seed samples other rows")

	ix, err := ReadIndex(filepath.Join(dir, "a.faiss"))
	require.NoError(t, err)
	defer ix.Close()
	require.Equal(t, int64(1500), ix.Ntotal())
	require.NoError(t, ix.SetParam("nprobe", 8))
	xq := randVecs(rng, 20, dim)
	scores, ids, err := ix.Search(xq, k)
	require.NoError(t, err)
	requireSameTopK(t, bruteForce(xb, xq, dim, k, InnerProduct), scores, ids, k, 1e-5)

	// Default train size: all 1500 rows (fewer than 100000).
	res, err := BuildIndex(context.Background(), shards, "IVF8,Flat", filepath.Join(dir, "d.faiss"), BuildOptions{})
	require.NoError(t, err)
	assert.Equal(t, 1500, res.TrainRows)
}

func TestBuildIndexErrorsLeaveNoOutput(t *testing.T) {
	rng := rand.New(rand.NewPCG(27, 28))
	dir := t.TempDir()
	shards, _, _ := shardSet(t, dir, rng, 8, []int{50, 60})
	other := filepath.Join(dir, "other.emb")
	writeShard(t, other, 6, Float32, pidsN("o", 5), randVecs(rng, 5, 6), 5)
	corrupt := corruptCopy(t, shards[1], func(b []byte) []byte { b[200] ^= 1; return b })
	out := filepath.Join(dir, "out.faiss")
	ctx := context.Background()
	canceled, cancel := context.WithCancel(ctx)
	cancel()

	for name, c := range map[string]struct {
		ctx     context.Context
		shards  []string
		factory string
		want    string
	}{
		"no shards":        {ctx, nil, "", "no shard files"},
		"dim mismatch":     {ctx, []string{shards[0], other}, "", "dimension 6"},
		"corrupt shard":    {ctx, []string{shards[0], corrupt}, "", "checksum"},
		"missing shard":    {ctx, []string{shards[0], filepath.Join(dir, "nope.emb")}, "", "no such file"},
		"bad factory":      {ctx, shards, "IVFoops", "could not parse"},
		"too few to train": {ctx, shards, "IVF256,Flat", "train"},
		"canceled":         {canceled, shards, "", "context canceled"},
	} {
		_, err := BuildIndex(c.ctx, c.shards, c.factory, out, BuildOptions{})
		require.ErrorContains(t, err, c.want, name)
		_, err = os.Stat(out)
		require.ErrorIs(t, err, os.ErrNotExist, name)
		_, err = os.Stat(PIDsPath(out))
		require.ErrorIs(t, err, os.ErrNotExist, name)
	}
	entries, err := os.ReadDir(dir)
	require.NoError(t, err)
	for _, e := range entries {
		require.NotContains(t, e.Name(), ".tmp", "temporary file left behind")
	}
}

func TestShardedIndexBadInputs(t *testing.T) {
	a, err := NewIndex(4, "", InnerProduct)
	require.NoError(t, err)
	defer a.Close()
	require.NoError(t, a.Add(make([]float32, 8)))
	b, err := NewIndex(5, "", InnerProduct)
	require.NoError(t, err)
	defer b.Close()
	c, err := NewIndex(4, "", L2)
	require.NoError(t, err)
	defer c.Close()

	_, err = NewShardedIndex(nil, nil)
	require.Error(t, err)
	_, err = NewShardedIndex([]*Index{a}, [][]string{{"x"}})
	require.ErrorContains(t, err, "holds 2 vectors but 1 passage ids")
	_, err = NewShardedIndex([]*Index{a, b}, [][]string{{"x", "y"}, {}})
	require.ErrorContains(t, err, "dimension 5")
	_, err = NewShardedIndex([]*Index{a, c}, [][]string{{"x", "y"}, {}})
	require.ErrorContains(t, err, "metric L2")
	_, err = NewShardedIndex([]*Index{a, nil}, [][]string{{"x", "y"}, {}})
	require.ErrorContains(t, err, "nil")
	_, err = NewShardedIndex([]*Index{a}, nil)
	require.Error(t, err)

	sh, err := NewShardedIndex([]*Index{a}, [][]string{{"x", "y"}})
	require.NoError(t, err)
	_, err = sh.Search(make([]float32, 5), 1)
	require.ErrorContains(t, err, "not a multiple of dimension 4")
	_, err = sh.Search(make([]float32, 4), 0)
	require.Error(t, err)
	require.ErrorContains(t, sh.SetParam("nprobe", 2), "shard 0")
	require.NoError(t, sh.Close())
	require.NoError(t, sh.Close())
	_, err = sh.Search(make([]float32, 4), 1)
	require.ErrorIs(t, err, ErrClosed)

	// OpenShardedIndex: a pids file that does not match the index.
	dir := t.TempDir()
	ix, err := NewIndex(4, "", InnerProduct)
	require.NoError(t, err)
	require.NoError(t, ix.Add(make([]float32, 12)))
	p := filepath.Join(dir, "x.faiss")
	require.NoError(t, ix.WriteFile(p))
	require.NoError(t, ix.Close())
	_, err = OpenShardedIndex(p)
	require.ErrorIs(t, err, os.ErrNotExist, "no pids file")
	require.NoError(t, WritePIDs(PIDsPath(p), []string{"a", "b"}))
	_, err = OpenShardedIndex(p)
	require.ErrorContains(t, err, "holds 3 vectors but 2 passage ids")
	require.NoError(t, os.WriteFile(PIDsPath(p), []byte("a\n\nc\n"), 0o644))
	_, err = OpenShardedIndex(p)
	require.ErrorContains(t, err, "x.faiss.pids:2")
	require.Error(t, WritePIDs(PIDsPath(p), []string{"a\tb"}))
}

func TestShardedSearchRefusesNonFiniteQueries(t *testing.T) {
	// FAISS returns no hits for a NaN query of a flat index (a query silently missing from the run) and
	// arbitrary hits with infinite or NaN scores for others (HNSW, an infinite query on IP).
	rng := rand.New(rand.NewPCG(31, 32))
	const dim = 4
	xb := randVecs(rng, 20, dim)
	for _, factory := range []string{"Flat", "HNSW8"} {
		ix, err := NewIndex(dim, factory, InnerProduct)
		require.NoError(t, err)
		require.NoError(t, ix.Add(xb))
		sh, err := NewShardedIndex([]*Index{ix}, [][]string{pidsN("p", 20)})
		require.NoError(t, err)
		for _, bad := range []float32{float32(math.NaN()), float32(math.Inf(1)), float32(math.Inf(-1))} {
			q := randVecs(rng, 3, dim)
			q[dim+2] = bad
			_, err := sh.Search(q, 5)
			require.ErrorContains(t, err, fmt.Sprintf("query 1 has value %v at dimension 2", bad), factory)
		}
		hits, err := sh.Search(randVecs(rng, 2, dim), 5)
		require.NoError(t, err)
		require.Len(t, hits[1], 5)
		require.NoError(t, sh.Close())
	}
	assert.Equal(t, -1, NonFinite([]float32{0, 1, -math.MaxFloat32}))
}
