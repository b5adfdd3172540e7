package main

import (
	"context"
	"math"
	"os"
	"path/filepath"
	"slices"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/rocketqa-go/rocketqa/dataset"
	"github.com/rocketqa-go/rocketqa/examples/internal/demo"
	"github.com/rocketqa-go/rocketqa/retrieval"
	"github.com/rocketqa-go/rocketqa/rocketqa"
)

// TestPairSmall runs the example for one epoch per stage on the demo corpus, with stand-ins for the pipeline's
// files: a confident teacher's run for 120 training queries (their positive first with CE 0.95, ten other passages
// with CE 0.05), from which the example's augmentation (official thresholds) builds stage 1's file, and training
// lines 200..499 as the denoised file. A smoke test of the wiring: so few steps do not train a useful model (the
// demo needs hundreds), so it checks that every model is evaluated over the whole dev set, that the
// pseudo-labels are the teacher's, and that the passage-centric term changes stage 1.
func TestPairSmall(t *testing.T) {
	data := os.Getenv("ROCKETQA_DEMO_DATA")
	if data == "" {
		t.Skip("set ROCKETQA_DEMO_DATA to a demo corpus directory (scripts/test.sh does)")
	}
	pipe := t.TempDir()
	d := filepath.Join(pipe, "data")
	require.NoError(t, os.MkdirAll(d, 0o755))
	require.NoError(t, os.MkdirAll(filepath.Join(pipe, "md1"), 0o755))
	n, err := demo.BuildVocab(data, filepath.Join(d, "vocab.txt"), 3)
	require.NoError(t, err)
	require.NoError(t, demo.SmallConfig(n, 160, 2, 0.1).WriteFile(filepath.Join(d, "config.json")))
	train := filepath.Join(data, "train", "dual.train.tsv")
	lines, err := rocketqa.ReadDualExamples(context.Background(), train)
	require.NoError(t, err)
	w, err := dataset.CreateDualTrain(filepath.Join(d, "de1.train.tsv"))
	require.NoError(t, err)
	for _, ex := range lines[200:500] {
		require.NoError(t, w.Write(ex))
	}
	require.NoError(t, w.Close())
	pool, err := dataset.LoadDuReaderCollection(filepath.Join(data, "passage-collection"))
	require.NoError(t, err)
	qs, _, err := rocketqa.QueriesFromDualTrain(context.Background(), train, pool)
	require.NoError(t, err)
	qids := qs.QIDs[:120]
	var runHits, ce [][]retrieval.Hit
	for i, q := range qids {
		pos := qs.Positives[q][0]
		hs := []retrieval.Hit{{PID: pos, Score: 10}}
		for k := 0; len(hs) < 11; k++ {
			if p := pool.At((37*i + 11*k) % pool.Len()).PID; !slices.Contains(qs.Positives[q], p) {
				hs = append(hs, retrieval.Hit{PID: p, Score: float32(9 - k)})
			}
		}
		runHits = append(runHits, hs)
		scored := make([]retrieval.Hit, len(hs))
		for k, h := range hs {
			scored[k] = retrieval.Hit{PID: h.PID, Score: 0.05}
		}
		scored[0].Score = 0.95
		ce = append(ce, scored)
	}
	require.NoError(t, dataset.WriteRun(filepath.Join(pipe, "md1", "unlabelled.run.tsv"), "", qids, runHits))
	require.NoError(t, dataset.WriteRun(filepath.Join(pipe, "md1", "unlabelled.ce50.tsv"), "", qids, ce))
	out := t.TempDir()
	rows, err := run(options{pipeline: pipe, data: data, out: out, epochs1: 1, epochs2: 1, batch: 32, lr: 1e-3,
		alpha: 0.1, threads: 1, marginLines: 100, posThreshold: 0.9, negThreshold: 0.1})
	require.NoError(t, err)
	pre, err := rocketqa.ReadDualExamples(context.Background(), filepath.Join(out, "pretrain.pos0.9.neg0.1.tsv"))
	require.NoError(t, err)
	require.Len(t, pre, 120*4, "4 negatives per pseudo-labelled query")
	require.Equal(t, qs.Text[qids[0]], pre[0].Query)
	p0, _ := pool.Get(qs.Positives[qids[0]][0])
	require.Equal(t, p0.Text, pre[0].PosPara, "the teacher's positive")
	require.Len(t, rows, 5)
	for _, r := range rows {
		t.Logf("%-28s MRR@10 %.4f R@50 %.4f margin %+.3f", r.Name, r.M.MRR10, r.M.Recall50, r.Margin)
		require.Equal(t, rows[0].M.ReferenceQueries, r.M.ReferenceQueries, r.Name)
		require.Greater(t, r.M.ReferenceQueries, 100, r.Name)
		require.False(t, math.IsNaN(r.Margin) || math.IsInf(r.Margin, 0), r.Name)
	}
	require.NotEqual(t, rows[1].Margin, rows[3].Margin, "PAIR stage 1 differs from v1 stage 1")
}
