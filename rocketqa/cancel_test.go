package rocketqa

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/rocketqa-go/rocketqa/dataset"
	"github.com/rocketqa-go/rocketqa/encoder"
	"github.com/rocketqa-go/rocketqa/internal/canceltest"
	"github.com/rocketqa-go/rocketqa/internal/tinytest"
	"github.com/rocketqa-go/rocketqa/retrieval"
)

// mkfifo is a FIFO without a writer, named as a training file.
func mkfifo(t *testing.T) string { return canceltest.FIFO(t, "train.tsv") }

// Reading a training file returns within a second of cancellation: a FIFO without a writer (open(2) blocks), a
// FIFO whose writer writes nothing (read(2) blocks), a FIFO fed one endless line, a large regular file.
func TestReadExamplesCancel(t *testing.T) {
	bigDual, bigCross := filepath.Join(t.TempDir(), "dual.tsv"), filepath.Join(t.TempDir(), "cross.tsv")
	var sd, sc strings.Builder
	for i := range 300000 {
		fmt.Fprintf(&sd, "query %d\ttitle\tpositive passage %d\t\tnegative passage\t0\n", i, i)
		fmt.Fprintf(&sc, "query %d\ttitle\tpassage %d\t1\n", i, i)
	}
	require.NoError(t, os.WriteFile(bigDual, []byte(sd.String()), 0o600))
	require.NoError(t, os.WriteFile(bigCross, []byte(sc.String()), 0o600))
	silent := func(t *testing.T) string { return canceltest.SilentFIFO(t, "train.tsv") }
	endless := func(t *testing.T) string { return canceltest.EndlessLineFIFO(t, "train.tsv") }
	cases := []struct {
		name        string
		dual, cross func(t *testing.T) string
		wait        time.Duration
	}{
		{"fifo without writer", mkfifo, mkfifo, 100 * time.Millisecond},
		{"fifo with silent writer", silent, silent, 100 * time.Millisecond},
		{"endless line", endless, endless, 100 * time.Millisecond},
		{"large file", func(*testing.T) string { return bigDual }, func(*testing.T) string { return bigCross }, 20 * time.Millisecond},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			p := c.dual(t)
			canceltest.Within(t, time.Second, func() {
				_, err := ReadDualExamples(canceltest.CancelAfter(t, c.wait), p)
				require.ErrorIs(t, err, context.Canceled)
			})
			p = c.cross(t)
			canceltest.Within(t, time.Second, func() {
				_, err := ReadCrossExamples(canceltest.CancelAfter(t, c.wait), p)
				require.ErrorIs(t, err, context.Canceled)
			})
		})
	}
	exs, err := ReadDualExamples(context.Background(), bigDual)
	require.NoError(t, err)
	require.Len(t, exs, 300000, "the large file reads in full without cancellation")
}

// TrainDual (what train-de calls) returns when ctx ends while it reads a FIFO without a writer.
func TestTrainDualFIFOCancel(t *testing.T) {
	p := mkfifo(t)
	canceltest.Within(t, time.Second, func() {
		_, err := TrainDual(canceltest.CancelAfter(t, 100*time.Millisecond), DualConfig{
			InitSpec:  InitSpec{Config: filepath.Join(tinytest.ErnieDir(t), "config.json"), Vocab: tinytest.Vocab(t)},
			TrainFile: p, QMaxLen: 8, PMaxLen: 16})
		require.ErrorIs(t, err, context.Canceled)
	})
}

// tinyBatchEmbedder is an Embedder over a random tiny dual encoder.
func tinyBatchEmbedder(t *testing.T, batch int) *encoder.Embedder {
	task := tinyTask(t, 4, false)
	return &encoder.Embedder{Model: task.Model, Tok: task.Tok, QMaxLen: 8, PMaxLen: 16,
		Options: encoder.EncodeOptions{BatchSize: batch, SortWindow: 1}}
}

// Tokenizing a large input stops at cancellation: before, the Embedder tokenized every text before its first
// look at ctx. The texts are long runs of spaces (which give no tokens, so the tokenizer scans them in full) ending
// in a few words: slow to tokenize, small in memory.
func TestEmbedderCancelWhileTokenizing(t *testing.T) {
	emb := tinyBatchEmbedder(t, 8)
	text := strings.Repeat(" ", 100000) + tinytest.DualExamples(t, 1, 9)[0].PosPara
	t0 := time.Now()
	for range 100 {
		emb.Tok.EncodePassage("", text, emb.PMaxLen)
	}
	per := time.Since(t0) / 100
	// enough texts that tokenizing them all takes about 8 s on this machine (one shared string: small in memory)
	n := max(4000, int(8*time.Second/max(per, time.Microsecond)))
	texts := make([]string, n)
	for i := range texts {
		texts[i] = text
	}
	full := time.Duration(n) * per
	t.Logf("tokenizing all %d texts takes about %s", len(texts), full)
	require.Greater(t, full, 3*time.Second, "the input must be large enough to tell")
	d := canceltest.Within(t, time.Second, func() {
		_, err := emb.EncodePassages(canceltest.CancelAfter(t, 100*time.Millisecond), nil, texts)
		require.ErrorIs(t, err, context.Canceled)
	})
	t.Logf("cancelled after 100ms, returned after %s", d)
	canceltest.Within(t, time.Second, func() {
		_, err := emb.EncodeQueries(canceltest.CancelAfter(t, 100*time.Millisecond), texts)
		require.ErrorIs(t, err, context.Canceled)
	})
}

// A context cancelled between two batches stops the encoding and the scoring: no further batch runs.
func TestBatchesStopAtCancel(t *testing.T) {
	texts := make([]string, 64)
	for i, ex := range tinytest.DualExamples(t, len(texts), 5) {
		texts[i] = ex.PosPara
	}
	t.Run("embedder", func(t *testing.T) {
		emb := tinyBatchEmbedder(t, 4)
		ctx, cancel := context.WithCancel(context.Background())
		defer cancel()
		batches := 0
		emb.Options.Progress = func(done, total int) { batches++; cancel() }
		_, err := emb.EncodePassages(ctx, nil, texts)
		require.ErrorIs(t, err, context.Canceled)
		require.Equal(t, 1, batches)
	})
	t.Run("reranker and ScoreRun", func(t *testing.T) {
		task := tinyCrossTask(t, false)
		rr := &Reranker{Model: task.Model, Tok: task.Tok, MaxSeqLen: 24, BatchSize: 4}
		ctx, cancel := context.WithCancel(context.Background())
		defer cancel()
		batches := 0
		rr.Progress = func(done, total int) { batches++; cancel() }
		_, err := rr.Score(ctx, texts, nil, texts)
		require.ErrorIs(t, err, context.Canceled)
		require.Equal(t, 1, batches)

		pool := dataset.NewPassages()
		hits := make([][]retrieval.Hit, 8)
		for i, s := range texts {
			pid := fmt.Sprint("p", i)
			require.NoError(t, pool.Add(pid, "", s))
			hits[i%8] = append(hits[i%8], retrieval.Hit{PID: pid})
		}
		rr.Progress = nil
		_, err = ScoreRun(canceltest.Cancelled(), rr, texts[:8], hits, pool, 8)
		require.ErrorIs(t, err, context.Canceled)
		got, err := ScoreRun(context.Background(), rr, texts[:8], hits, pool, 8)
		require.NoError(t, err)
		require.Len(t, got, 8)
	})
}

// Close while EncodeQuery / EncodePara / Matching run in many goroutines (run with -race): Close waits for them,
// each call either succeeds or returns ErrClosed, later calls return ErrClosed, and Close twice is safe. Before,
// Close freed the weights under the running forward passes (a data race, and a use after free).
func TestModelCloseWhileEncoding(t *testing.T) {
	task := tinyTask(t, 8, false)
	dir := filepath.Join(t.TempDir(), "de")
	require.NoError(t, task.SaveModel(dir))
	qs, ps := make([]string, 16), make([]string, 16)
	for i, ex := range tinytest.DualExamples(t, 16, 2) {
		qs[i], ps[i] = ex.Query, ex.PosPara
	}
	for round := range 3 {
		m, err := Load(dir, LoadOptions{BatchSize: 2})
		require.NoError(t, err)
		var wg sync.WaitGroup
		var mu sync.Mutex
		var ok, closed int
		start := make(chan struct{})
		for g := range 8 {
			wg.Add(1)
			go func() {
				defer wg.Done()
				<-start
				for {
					var err error
					switch g % 3 {
					case 0:
						_, err = m.EncodeQuery(context.Background(), qs)
					case 1:
						_, err = m.EncodePara(context.Background(), ps, nil)
					default:
						_, err = m.Matching(context.Background(), qs, ps, nil)
					}
					mu.Lock()
					if err == nil {
						ok++
					} else if errors.Is(err, ErrClosed) {
						closed++
					}
					mu.Unlock()
					if err != nil {
						require.ErrorIs(t, err, ErrClosed)
						return
					}
				}
			}()
		}
		close(start)
		time.Sleep(time.Duration(50+100*round) * time.Millisecond)
		m.Close()
		wg.Wait()
		require.Equal(t, 8, closed, "every goroutine ends with ErrClosed")
		t.Logf("round %d: %d calls done before Close", round, ok)
		_, err = m.EncodeQuery(context.Background(), qs)
		require.ErrorIs(t, err, ErrClosed)
		_, err = m.Matching(context.Background(), qs, ps, nil)
		require.ErrorIs(t, err, ErrClosed)
		m.Close()
	}
}

// Close of a cross encoder while Matching runs.
func TestCrossModelCloseWhileScoring(t *testing.T) {
	task := tinyCrossTask(t, false)
	dir := filepath.Join(t.TempDir(), "ce")
	require.NoError(t, task.SaveModel(dir))
	m, err := Load(dir, LoadOptions{BatchSize: 2})
	require.NoError(t, err)
	qs, ps := make([]string, 16), make([]string, 16)
	for i, ex := range tinytest.DualExamples(t, 16, 2) {
		qs[i], ps[i] = ex.Query, ex.PosPara
	}
	var wg sync.WaitGroup
	for range 4 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for {
				if _, err := m.Matching(context.Background(), qs, ps, nil); err != nil {
					require.ErrorIs(t, err, ErrClosed)
					return
				}
			}
		}()
	}
	time.Sleep(100 * time.Millisecond)
	var cw sync.WaitGroup
	for range 2 { // two concurrent Closes
		cw.Add(1)
		go func() { defer cw.Done(); m.Close() }()
	}
	cw.Wait()
	wg.Wait()
	_, err = m.Matching(context.Background(), qs, ps, nil)
	require.ErrorIs(t, err, ErrClosed)
}
