package retrieval

import (
	"fmt"
	"math"
	"math/rand/v2"
	"os"
	"path/filepath"
	"sync"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// TestMain runs FAISS on one OpenMP thread: on a small, busy machine OpenMP's spinning barriers make tiny
// multi-threaded k-means runs many times slower. TestFlatSearchMatchesBruteForce covers two threads.
func TestMain(m *testing.M) {
	SetNumThreads(1)
	os.Exit(m.Run())
}

func TestFlatSearchMatchesBruteForce(t *testing.T) {
	defer SetNumThreads(1)
	for _, c := range []struct {
		metric  Metric
		threads int
	}{{InnerProduct, 1}, {InnerProduct, 2}, {L2, 2}} {
		metric := c.metric
		SetNumThreads(c.threads)
		t.Run(fmt.Sprintf("%v/threads=%d", metric, c.threads), func(t *testing.T) {
			rng := rand.New(rand.NewPCG(1, 2))
			const d, nb, k = 48, 3000, 20
			xb := randVecs(rng, nb, d)
			ix, err := NewIndex(d, "Flat", metric)
			require.NoError(t, err)
			defer ix.Close()
			require.True(t, ix.IsTrained())
			require.NoError(t, ix.Add(xb[:1000*d]))
			require.NoError(t, ix.Add(xb[1000*d:]))
			require.Equal(t, int64(nb), ix.Ntotal())
			require.Equal(t, metric, ix.Metric())
			// 5 queries take FAISS's per-query SIMD path, 64 its BLAS path (>= 20 queries).
			for _, nq := range []int{1, 5, 64} {
				xq := randVecs(rng, nq, d)
				scores, ids, err := ix.Search(xq, k)
				require.NoError(t, err)
				require.Len(t, ids, nq*k)
				requireSameTopK(t, bruteForce(xb, xq, d, k, metric), scores, ids, k, 1e-5)
			}
		})
	}
}

func TestSearchMoreThanNtotalPadsWithMinusOne(t *testing.T) {
	ix, err := NewIndex(4, "", InnerProduct)
	require.NoError(t, err)
	defer ix.Close()
	require.NoError(t, ix.Add([]float32{1, 0, 0, 0, 0, 2, 0, 0}))
	scores, ids, err := ix.Search([]float32{0, 1, 0, 0}, 4)
	require.NoError(t, err)
	assert.Equal(t, []int64{1, 0, -1, -1}, ids)
	assert.Equal(t, float32(2), scores[0])
	assert.Equal(t, float32(0), scores[1])
	assert.Less(t, scores[2], float32(-1e38))
}

func TestApproximateIndexes(t *testing.T) {
	rng := rand.New(rand.NewPCG(3, 4))
	const d, nb, nq, k, nc = 32, 4000, 50, 10, 40
	centres := randVecs(rng, nc, d)
	xb := clusteredVecs(rng, nb, d, nc, centres)
	xq := clusteredVecs(rng, nq, d, nc, centres)
	exact := bruteForce(xb, xq, d, k, InnerProduct)
	cases := []struct {
		factory   string
		trained   bool
		param     string
		value     float64
		minRecall float64
	}{
		{"IVF32,Flat", false, "nprobe", 8, 0.9},
		{"HNSW16", true, "efSearch", 64, 0.95},
		{"IVF16,PQ8np", false, "nprobe", 16, 0.3},
		{"SQ8", false, "", 0, 0.9},
	}
	for _, c := range cases {
		t.Run(c.factory, func(t *testing.T) {
			ix, err := NewIndex(d, c.factory, InnerProduct)
			require.NoError(t, err)
			defer ix.Close()
			require.Equal(t, c.trained, ix.IsTrained())
			if !c.trained {
				require.Error(t, ix.Add(xb[:d]), "adding to an untrained index")
				require.NoError(t, ix.Train(xb))
				require.True(t, ix.IsTrained())
			}
			require.NoError(t, ix.Add(xb))
			require.Equal(t, int64(nb), ix.Ntotal())
			if c.param != "" {
				require.NoError(t, ix.SetParam(c.param, c.value))
			}
			_, ids, err := ix.Search(xq, k)
			require.NoError(t, err)
			r := recallAtK(exact, ids, k)
			t.Logf("%s recall@%d = %.3f", c.factory, k, r)
			require.GreaterOrEqual(t, r, c.minRecall)
			require.Less(t, r, 1.0001)
		})
	}
}

func TestIVFNprobeAllListsIsExact(t *testing.T) {
	rng := rand.New(rand.NewPCG(5, 6))
	const d, nb, nq, k = 16, 2000, 30, 10
	xb, xq := randVecs(rng, nb, d), randVecs(rng, nq, d)
	ix, err := NewIndex(d, "IVF16,Flat", InnerProduct)
	require.NoError(t, err)
	defer ix.Close()
	require.Equal(t, 16, ix.NList())
	require.NoError(t, ix.Train(xb))
	require.NoError(t, ix.Add(xb))
	exact := bruteForce(xb, xq, d, k, InnerProduct)
	require.NoError(t, ix.SetParam("nprobe", 1))
	_, ids1, err := ix.Search(xq, k)
	require.NoError(t, err)
	require.NoError(t, ix.SetParam("nprobe", 16))
	scores, ids, err := ix.Search(xq, k)
	require.NoError(t, err)
	requireSameTopK(t, exact, scores, ids, k, 1e-5)
	// One probed list of 16 misses part of the exact top 10 on random data.
	require.Less(t, recallAtK(exact, ids1, k), 0.9)
}

func TestWriteReadRoundTrip(t *testing.T) {
	rng := rand.New(rand.NewPCG(7, 8))
	const d, nb, nq, k = 24, 1500, 20, 15
	xb, xq := randVecs(rng, nb, d), randVecs(rng, nq, d)
	dir := t.TempDir()
	for _, c := range []struct {
		factory string
		metric  Metric
	}{{"", InnerProduct}, {"Flat", L2}, {"IVF8,Flat", InnerProduct}, {"HNSW8", InnerProduct}, {"IVF8,PQ4np", L2}} {
		ix, err := NewIndex(d, c.factory, c.metric)
		require.NoError(t, err)
		if !ix.IsTrained() {
			require.NoError(t, ix.Train(xb))
		}
		require.NoError(t, ix.Add(xb))
		if ix.NList() > 0 {
			require.NoError(t, ix.SetParam("nprobe", 4))
		}
		s1, i1, err := ix.Search(xq, k)
		require.NoError(t, err)
		path := filepath.Join(dir, "ix.faiss")
		require.NoError(t, ix.WriteFile(path))
		require.NoError(t, ix.Close())
		require.NoError(t, ix.Close(), "Close twice")

		back, err := ReadIndex(path)
		require.NoError(t, err, c.factory)
		assert.Equal(t, d, back.Dim())
		assert.Equal(t, int64(nb), back.Ntotal())
		assert.Equal(t, c.metric, back.Metric())
		assert.True(t, back.IsTrained())
		if back.NList() > 0 {
			// nprobe is a search-time setting and is not stored; set it again.
			require.NoError(t, back.SetParam("nprobe", 4))
		}
		s2, i2, err := back.Search(xq, k)
		require.NoError(t, err)
		assert.Equal(t, i1, i2, c.factory)
		assert.Equal(t, s1, s2, c.factory)
		require.NoError(t, back.Close())
	}
	// No temporary files are left behind.
	entries, err := os.ReadDir(dir)
	require.NoError(t, err)
	require.Len(t, entries, 1)
}

func TestIndexBadInputs(t *testing.T) {
	_, err := NewIndex(0, "", InnerProduct)
	require.ErrorContains(t, err, "dimension 0")
	_, err = NewIndex(8, "", Metric(7))
	require.ErrorContains(t, err, "unknown metric")
	_, err = NewIndex(8, "NotAnIndex42", InnerProduct)
	require.ErrorContains(t, err, "could not parse index string NotAnIndex42")
	_, err = NewIndex(30, "IVF4,PQ7", InnerProduct) // 30 dims do not split into 7 sub-vectors
	require.Error(t, err)

	ix, err := NewIndex(8, "", InnerProduct)
	require.NoError(t, err)
	require.ErrorContains(t, ix.Add(make([]float32, 12)), "12 floats, not a multiple of dimension 8")
	require.Equal(t, int64(0), ix.Ntotal(), "a rejected Add adds nothing")
	require.NoError(t, ix.Add(make([]float32, 16)))
	_, _, err = ix.Search(make([]float32, 7), 1)
	require.ErrorContains(t, err, "not a multiple of dimension 8")
	_, _, err = ix.Search(make([]float32, 8), 0)
	require.ErrorContains(t, err, "k = 0")
	require.ErrorContains(t, ix.SetParam("nprobe", 4), "nprobe")
	require.ErrorContains(t, ix.Train(nil), "no training vectors")
	s, i, err := ix.Search(nil, 3)
	require.NoError(t, err)
	require.Empty(t, s)
	require.Empty(t, i)

	require.NoError(t, ix.Close())
	require.ErrorIs(t, ix.Add(make([]float32, 8)), ErrClosed)
	_, _, err = ix.Search(make([]float32, 8), 1)
	require.ErrorIs(t, err, ErrClosed)
	require.ErrorIs(t, ix.WriteFile(filepath.Join(t.TempDir(), "x")), ErrClosed)
	require.Equal(t, int64(0), ix.Ntotal())

	ivf, err := NewIndex(8, "IVF64,Flat", InnerProduct)
	require.NoError(t, err)
	defer ivf.Close()
	err = ivf.Train(randVecs(rand.New(rand.NewPCG(1, 1)), 10, 8))
	require.Error(t, err, "10 points cannot train 64 centroids")
	_, _, err = ivf.Search(make([]float32, 8), 1)
	require.ErrorContains(t, err, "not trained")
	require.ErrorContains(t, ivf.SetParam("noSuchParam", 1), "noSuchParam")

	hnsw, err := NewIndex(8, "HNSW8", InnerProduct)
	require.NoError(t, err)
	defer hnsw.Close()
	require.NoError(t, hnsw.SetParam("efSearch", 32))
	require.Error(t, hnsw.SetParam("nprobe", 4))
}

func TestReadIndexCorruptFiles(t *testing.T) {
	good, err := os.ReadFile(filepath.Join("testdata", "flat_ip.faiss"))
	require.NoError(t, err)
	ivfGood, err := os.ReadFile(filepath.Join("testdata", "ivf_ip.faiss"))
	require.NoError(t, err)
	dir := t.TempDir()
	mutate := func(b []byte, f func([]byte)) []byte {
		c := append([]byte(nil), b...)
		f(c)
		return c
	}
	cases := map[string][]byte{
		"empty":         {},
		"garbage":       []byte("this is not a faiss index at all, just some text\n"),
		"truncated":     good[:len(good)/2],
		"header only":   good[:20],
		"bad fourcc":    mutate(good, func(b []byte) { copy(b, "ZZZZ") }),
		"dim changed":   mutate(good, func(b []byte) { b[4] = 33 }),
		"negative dim":  mutate(good, func(b []byte) { b[7] = 0x80 }),
		"huge ntotal":   mutate(good, func(b []byte) { b[14] = 0x10 }),
		"ivf truncated": ivfGood[:len(ivfGood)-100],
	}
	for name, b := range cases {
		p := filepath.Join(dir, "bad.faiss")
		require.NoError(t, os.WriteFile(p, b, 0o644))
		ix, err := ReadIndex(p)
		require.Error(t, err, name)
		require.Nil(t, ix, name)
		require.Contains(t, err.Error(), p, name)
		t.Logf("%s: %v", name, err)
	}
	_, err = ReadIndex(filepath.Join(dir, "missing.faiss"))
	require.ErrorIs(t, err, os.ErrNotExist)
	_, err = ReadIndex(dir)
	require.ErrorContains(t, err, "not a regular file")
}

func TestConcurrentSearch(t *testing.T) {
	rng := rand.New(rand.NewPCG(9, 10))
	const d, nb, nq, k = 32, 2000, 40, 10
	xb, xq := randVecs(rng, nb, d), randVecs(rng, nq, d)
	for _, factory := range []string{"Flat", "HNSW16"} {
		ix, err := NewIndex(d, factory, InnerProduct)
		require.NoError(t, err)
		require.NoError(t, ix.Add(xb))
		// One query at a time takes FAISS's SIMD path, a batch its BLAS path, whose last bits differ; the
		// reference is therefore searched one query at a time too.
		wantS, wantI := make([]float32, 0, nq*k), make([]int64, 0, nq*k)
		for q := 0; q < nq; q++ {
			s, i, err := ix.Search(xq[q*d:(q+1)*d], k)
			require.NoError(t, err)
			wantS, wantI = append(wantS, s...), append(wantI, i...)
		}
		var wg sync.WaitGroup
		errs := make(chan error, 8)
		for g := 0; g < 8; g++ {
			wg.Add(1)
			go func(g int) {
				defer wg.Done()
				for rep := 0; rep < 5; rep++ {
					// Each goroutine searches one query at a time, from a different starting point.
					q := (g*5 + rep) % nq
					s, i, err := ix.Search(xq[q*d:(q+1)*d], k)
					if err != nil {
						errs <- err
						return
					}
					assert.Equal(t, wantI[q*k:(q+1)*k], i, "%s goroutine %d query %d", factory, g, q)
					assert.Equal(t, wantS[q*k:(q+1)*k], s)
				}
			}(g)
		}
		wg.Wait()
		close(errs)
		for err := range errs {
			require.NoError(t, err)
		}
		require.NoError(t, ix.Close())
	}
}

func TestThreadsAndBLASInfo(t *testing.T) {
	old := NumThreads()
	defer SetNumThreads(old)
	SetNumThreads(1)
	require.Equal(t, 1, NumThreads())
	info := BLASInfo()
	require.Contains(t, info, "blas=")
	require.Contains(t, info, "omp_threads=1")
	t.Log(info)
}

// TestReserveAfterAdd grows the buffer of an index that already holds vectors: the codes move, and search must
// read them where they are now (FAISS 1.11 caches the data pointer of its code vector beside the vector).
func TestReserveAfterAdd(t *testing.T) {
	rng := rand.New(rand.NewPCG(17, 18))
	const d, n = 8, 100
	xb := randVecs(rng, n, d)
	xq := randVecs(rng, 3, d)
	for _, factory := range []string{"Flat", "SQ8"} {
		ix, err := NewIndex(d, factory, InnerProduct)
		require.NoError(t, err)
		if !ix.IsTrained() {
			require.NoError(t, ix.Train(xb))
		}
		require.NoError(t, ix.Add(xb))
		wantS, wantI, err := ix.Search(xq, n)
		require.NoError(t, err)
		ok, err := ix.Reserve(100000)
		require.NoError(t, err)
		require.True(t, ok, factory)
		gotS, gotI, err := ix.Search(xq, n) // same index and data in one process: identical results
		require.NoError(t, err)
		assert.Equal(t, wantI, gotI, factory)
		assert.Equal(t, wantS, gotS, factory)
		require.NoError(t, ix.Add(xb[:d]))
		assert.Equal(t, int64(n+1), ix.Ntotal())
		require.NoError(t, ix.Close())
	}
}

func TestReserve(t *testing.T) {
	rng := rand.New(rand.NewPCG(15, 16))
	const d = 8
	xb := randVecs(rng, 100, d)
	for _, c := range []struct {
		factory string
		applies bool
	}{{"Flat", true}, {"SQ8", true}, {"HNSW8", false}, {"IVF4,Flat", false}} {
		ix, err := NewIndex(d, c.factory, InnerProduct)
		require.NoError(t, err)
		ok, err := ix.Reserve(1000)
		require.NoError(t, err)
		assert.Equal(t, c.applies, ok, c.factory)
		if !ix.IsTrained() {
			require.NoError(t, ix.Train(xb))
		}
		require.NoError(t, ix.Add(xb))
		assert.Equal(t, int64(100), ix.Ntotal())
		_, err = ix.Reserve(-1)
		require.Error(t, err)
		require.NoError(t, ix.Close())
		_, err = ix.Reserve(10)
		require.ErrorIs(t, err, ErrClosed)
	}
}

func TestSetParamRefusesValuesFAISSMisreads(t *testing.T) {
	// FAISS takes any double: efSearch 0 gave one hit per query (a silently short run), nprobe 0, a negative,
	// NaN or huge nprobe failed every later search, and nprobe 2.7 was truncated to 2.
	rng := rand.New(rand.NewPCG(7, 8))
	const d = 8
	xb := randVecs(rng, 300, d)
	ivf, err := NewIndex(d, "IVF4,Flat", InnerProduct)
	require.NoError(t, err)
	defer ivf.Close()
	require.NoError(t, ivf.Train(xb))
	require.NoError(t, ivf.Add(xb))
	hnsw, err := NewIndex(d, "HNSW8", InnerProduct)
	require.NoError(t, err)
	defer hnsw.Close()
	require.NoError(t, hnsw.Add(xb))
	for _, c := range []struct {
		ix   *Index
		name string
		v    float64
		want string
	}{
		{ivf, "nprobe", 0, "whole number from 1"},
		{ivf, "nprobe", -3, "whole number from 1"},
		{ivf, "nprobe", 2.7, "whole number from 1"},
		{ivf, "nprobe", 1e30, "whole number from 1"},
		{ivf, "nprobe", math.NaN(), "must be finite"},
		{hnsw, "efSearch", 0, "whole number from 1"},
		{hnsw, "efSearch", -5, "whole number from 1"},
		{hnsw, "efSearch", math.Inf(1), "must be finite"},
	} {
		require.ErrorContains(t, c.ix.SetParam(c.name, c.v), c.want, "%s=%v", c.name, c.v)
	}
	for _, ix := range []*Index{ivf, hnsw} {
		_, ids, err := ix.Search(xb[:2*d], 5)
		require.NoError(t, err, "the refused values left the index as it was")
		require.NotContains(t, ids, int64(-1))
	}
	require.NoError(t, ivf.SetParam("nprobe", 100), "more than nlist is allowed (FAISS probes every list)")
	require.NoError(t, hnsw.SetParam("efSearch", 1), "less than k is allowed (FAISS searches with k)")
	_, ids, err := hnsw.Search(xb[:d], 5)
	require.NoError(t, err)
	require.NotContains(t, ids, int64(-1))
}
