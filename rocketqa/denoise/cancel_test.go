package denoise

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/rocketqa-go/rocketqa/dataset"
	"github.com/rocketqa-go/rocketqa/internal/canceltest"
)

func requireNoFile(t *testing.T, p string) {
	t.Helper()
	_, err := os.Stat(p)
	require.True(t, os.IsNotExist(err), "%s must not exist (%v)", p, err)
}

// bigInput is n queries with 60 candidates each (one shared slice) and their passages.
func bigInput(t *testing.T, n int) MineInput {
	ps := dataset.NewPassages()
	var cands []Candidate
	for r := 1; r <= 60; r++ {
		pid := fmt.Sprint("p", r)
		require.NoError(t, ps.Add(pid, "", "passage "+pid))
		cands = append(cands, Candidate{PID: pid, Rank: r, CEScore: float32(r%3) * 0.45, Scored: r <= 50})
	}
	in := MineInput{Queries: map[string]string{}, Positives: map[string][]string{}, Candidates: map[string][]Candidate{}, Passages: ps}
	for i := range n {
		q := fmt.Sprint("q", i)
		in.QIDs = append(in.QIDs, q)
		in.Queries[q] = "query " + q
		in.Positives[q] = []string{"p2"}
		in.Candidates[q] = cands
	}
	return in
}

// Mine and Augment stop when ctx ends and leave no file.
func TestMineAugmentCancel(t *testing.T) {
	in := bigInput(t, 200000)
	out := filepath.Join(t.TempDir(), "out.tsv")
	t0 := time.Now()
	_, err := Mine(context.Background(), bigInput(t, 20000), MineOptions{}, out)
	require.NoError(t, err)
	tenth := time.Since(t0)
	t.Logf("Mine of a tenth of the input takes %s", tenth)
	require.NoError(t, os.Remove(out))
	// the whole input takes ~10 tenths; a cancelled run must stop well before (a loaded machine slows both)
	limit := max(time.Second, 4*tenth)
	canceltest.Within(t, limit, func() {
		_, err := Mine(canceltest.CancelAfter(t, 50*time.Millisecond), in, MineOptions{}, out)
		require.ErrorIs(t, err, context.Canceled)
	})
	requireNoFile(t, out)
	canceltest.Within(t, limit, func() {
		_, err := Augment(canceltest.CancelAfter(t, 50*time.Millisecond), in, AugmentOptions{PosThreshold: 0.8}, out)
		require.ErrorIs(t, err, context.Canceled)
	})
	requireNoFile(t, out)
}

// LoadCandidates returns within a second of cancellation while a run file blocks (a FIFO without a writer, or
// with a silent one) or is large.
func TestLoadCandidatesCancel(t *testing.T) {
	dir := t.TempDir()
	var de, ce strings.Builder
	for q := range 10000 {
		for r := 1; r <= 50; r++ {
			fmt.Fprintf(&de, "q%d\tp%d\t%d\t%g\n", q, r, r, 1.0/float64(r))
			fmt.Fprintf(&ce, "q%d\tp%d\t%d\t0.5\n", q, r, r)
		}
	}
	bigDE, bigCE := writeFile(t, dir, "de.tsv", de.String()), writeFile(t, dir, "ce.tsv", ce.String())
	smallCE := writeFile(t, dir, "small.ce.tsv", "q0\tp1\t1\t0.5\n") // the CE run is read first
	cases := []struct {
		name   string
		de, ce func(t *testing.T) string
		wait   time.Duration
	}{
		{"ce fifo without writer", func(*testing.T) string { return bigDE }, func(t *testing.T) string { return canceltest.FIFO(t, "ce") }, 100 * time.Millisecond},
		{"de fifo with silent writer", func(t *testing.T) string { return canceltest.SilentFIFO(t, "de") }, func(*testing.T) string { return smallCE }, 100 * time.Millisecond},
		{"ce fifo with silent writer", func(*testing.T) string { return bigDE }, func(t *testing.T) string { return canceltest.SilentFIFO(t, "ce") }, 100 * time.Millisecond},
		{"large files", func(*testing.T) string { return bigDE }, func(*testing.T) string { return bigCE }, 50 * time.Millisecond},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			deRun, ceRun := c.de(t), c.ce(t)
			canceltest.Within(t, time.Second, func() {
				_, _, err := LoadCandidates(canceltest.CancelAfter(t, c.wait), deRun, ceRun)
				require.ErrorIs(t, err, context.Canceled)
			})
		})
	}
	t0 := time.Now()
	cands, qids, err := LoadCandidates(context.Background(), bigDE, bigCE)
	require.NoError(t, err)
	t.Logf("loading the large files in full takes %s", time.Since(t0))
	require.Len(t, qids, 10000)
	require.Len(t, cands["q7"], 50)
}

// Merge returns within a second of cancellation while an input blocks, and leaves no file.
func TestMergeCancel(t *testing.T) {
	dir := t.TempDir()
	good := writeFile(t, dir, "a.tsv", "q\tt\tpos\tt\tneg\t0\n")
	for _, c := range []struct {
		name string
		in   func(t *testing.T) string
	}{
		{"fifo without writer", func(t *testing.T) string { return canceltest.FIFO(t, "b.tsv") }},
		{"fifo with silent writer", func(t *testing.T) string { return canceltest.SilentFIFO(t, "b.tsv") }},
		{"endless line", func(t *testing.T) string { return canceltest.EndlessLineFIFO(t, "b.tsv") }},
	} {
		t.Run(c.name, func(t *testing.T) {
			out := filepath.Join(t.TempDir(), "out.tsv")
			in := c.in(t)
			canceltest.Within(t, time.Second, func() {
				require.ErrorIs(t, Merge(canceltest.CancelAfter(t, 100*time.Millisecond), out, good, in, good), context.Canceled)
			})
			time.Sleep(100 * time.Millisecond) // a read left running must not commit the output later
			requireNoFile(t, out)
		})
	}
}
