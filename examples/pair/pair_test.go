package main

import (
	"math"
	"os"
	"path/filepath"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/rocketqa-go/rocketqa/dataset"
	"github.com/rocketqa-go/rocketqa/examples/internal/demo"
	"github.com/rocketqa-go/rocketqa/rocketqa"
)

// TestPairSmall runs the example for one epoch per stage on the demo corpus, with stand-ins for the pipeline's
// files (the first 200 training lines as the pseudo-labelled file, the next 300 as the denoised file). A smoke test
// of the wiring: so few steps do not train a useful model (the demo needs hundreds), so it checks that every model
// is evaluated over the whole dev set and that the passage-centric term changes stage 1.
func TestPairSmall(t *testing.T) {
	data := os.Getenv("ROCKETQA_DEMO_DATA")
	if data == "" {
		t.Skip("set ROCKETQA_DEMO_DATA to a demo corpus directory (scripts/test.sh does)")
	}
	pipe := t.TempDir()
	d := filepath.Join(pipe, "data")
	require.NoError(t, os.MkdirAll(d, 0o755))
	n, err := demo.BuildVocab(data, filepath.Join(d, "vocab.txt"), 3)
	require.NoError(t, err)
	require.NoError(t, demo.SmallConfig(n, 160, 2, 0.1).WriteFile(filepath.Join(d, "config.json")))
	lines, err := rocketqa.ReadDualExamples(filepath.Join(data, "train", "dual.train.tsv"))
	require.NoError(t, err)
	write := func(name string, exs []dataset.DualExample) {
		w, err := dataset.CreateDualTrain(filepath.Join(d, name))
		require.NoError(t, err)
		for _, ex := range exs {
			require.NoError(t, w.Write(ex))
		}
		require.NoError(t, w.Close())
	}
	write("augment.train.tsv", lines[:200])
	write("de1.train.tsv", lines[200:500])
	rows, err := run(options{pipeline: pipe, data: data, out: t.TempDir(), epochs1: 1, epochs2: 1, batch: 32, lr: 1e-3,
		alpha: 0.1, threads: 1, marginLines: 100})
	require.NoError(t, err)
	require.Len(t, rows, 5)
	for _, r := range rows {
		t.Logf("%-28s MRR@10 %.4f R@50 %.4f margin %+.3f", r.Name, r.M.MRR10, r.M.Recall50, r.Margin)
		require.Equal(t, rows[0].M.ReferenceQueries, r.M.ReferenceQueries, r.Name)
		require.Greater(t, r.M.ReferenceQueries, 100, r.Name)
		require.False(t, math.IsNaN(r.Margin) || math.IsInf(r.Margin, 0), r.Name)
	}
	require.NotEqual(t, rows[1].Margin, rows[3].Margin, "PAIR stage 1 differs from v1 stage 1")
}
