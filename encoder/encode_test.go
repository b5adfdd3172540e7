package encoder

import (
	"context"
	"fmt"
	"path/filepath"
	"sync"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/rocketqa-go/rocketqa/internal/closeto"
	"github.com/rocketqa-go/rocketqa/tokenizer"
	"github.com/rocketqa-go/rocketqa/torch"
)

func tinyEmbedder(t *testing.T) *Embedder {
	dir := filepath.Join("testdata", "tiny_ernie")
	cfg, err := ReadConfig(filepath.Join(dir, "config.json"))
	require.NoError(t, err)
	tok, err := tokenizer.New(filepath.Join(dir, "vocab.txt"), tokenizer.DefaultOptions())
	require.NoError(t, err)
	torch.ManualSeed(3)
	q, err := NewBERT(cfg, false)
	require.NoError(t, err)
	p, err := NewBERT(cfg, false)
	require.NoError(t, err)
	d := NewDualEncoder(q, p)
	t.Cleanup(d.Close)
	return &Embedder{Model: d, Tok: tok, QMaxLen: 8, PMaxLen: 20}
}

func texts(n int) []string {
	words := []string{"a", "b", "c", "d", "e", "f", "g", "hello", "x", "y"}
	out := make([]string, n)
	for i := range out {
		s := ""
		for j := 0; j < 1+(i*7)%15; j++ {
			s += words[(i+j*3)%len(words)] + " "
		}
		out[i] = s
	}
	return out
}

func TestEmbedderSortingDoesNotChangeVectors(t *testing.T) {
	e := tinyEmbedder(t)
	paras := texts(37)
	e.Options = EncodeOptions{BatchSize: 5, SortWindow: 1}
	plain, err := e.EncodePassages(context.Background(), nil, paras)
	require.NoError(t, err)
	var calls int
	e.Options = EncodeOptions{BatchSize: 4, SortWindow: 16, Progress: func(done, total int) { calls++; require.Equal(t, 37, total) }}
	sorted, err := e.EncodePassages(context.Background(), nil, paras)
	require.NoError(t, err)
	require.Equal(t, 10, calls)
	require.Len(t, sorted, len(paras))
	for i := range paras {
		// other batch shapes: other BLAS blocking and summation order
		require.NoError(t, closeto.Slices(sorted[i], plain[i], closeto.Float32), "passage %d", i)
	}
	// a single-sequence batch (no padding at all) agrees too
	e.Options = EncodeOptions{BatchSize: 1}
	single, err := e.EncodePassages(context.Background(), nil, paras[:3])
	require.NoError(t, err)
	for i := range single {
		require.NoError(t, closeto.Slices(single[i], plain[i], closeto.Float32), "passage %d alone", i)
	}
	_, err = e.EncodePassages(context.Background(), []string{"t"}, paras)
	require.Error(t, err)
}

func TestEmbedderConcurrentAndCancel(t *testing.T) {
	e := tinyEmbedder(t)
	qs := texts(20)
	want, err := e.EncodeQueries(context.Background(), qs)
	require.NoError(t, err)
	var wg sync.WaitGroup
	errs := make([]error, 4)
	for g := 0; g < 4; g++ {
		wg.Add(1)
		go func(g int) {
			defer wg.Done()
			got, err := e.EncodeQueries(context.Background(), qs)
			if err == nil {
				for i := range got {
					if e := closeto.Slices(got[i], want[i], closeto.Float32); e != nil {
						err = fmt.Errorf("goroutine %d query %d: %v", g, i, e)
					}
				}
			}
			errs[g] = err
		}(g)
	}
	wg.Wait()
	for _, err := range errs {
		require.NoError(t, err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	_, err = e.EncodeQueries(ctx, qs)
	require.ErrorIs(t, err, context.Canceled)
}
