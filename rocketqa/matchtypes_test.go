package rocketqa

import (
	"context"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/rocketqa-go/rocketqa/encoder"
	"github.com/rocketqa-go/rocketqa/internal/tinytest"
	"github.com/rocketqa-go/rocketqa/train"
)

// TestCrossMatchTypes: TrainCross with MatchTypes from a random config (type_vocab_size 2) saves a model with 4
// token types and match_token_types in rocketqa.json; Load gives its Reranker the flag, and its scores are those of
// inputs with the matches marked, not of plain segment types (after training, types 2 and 3 differ from 0 and 1).
func TestCrossMatchTypes(t *testing.T) {
	dir := t.TempDir()
	var b strings.Builder
	exs := tinytest.DualExamples(t, 12, 3)
	for _, d := range exs {
		fmt.Fprintf(&b, "%s\t%s\t%s\t1\n%s\t\t%s\t0\n", d.Query, d.PosTitle, d.Query+d.PosPara, d.Query, d.NegPara)
	}
	trainFile := filepath.Join(dir, "cross.train.tsv")
	require.NoError(t, os.WriteFile(trainFile, []byte(b.String()), 0o600))
	cfgPath := filepath.Join(dir, "config.json")
	require.NoError(t, tinytest.Config(t, false).WriteFile(cfgPath))
	res, err := TrainCross(context.Background(), CrossConfig{InitSpec: InitSpec{Config: cfgPath, Vocab: tinytest.Vocab(t)},
		TrainFile: trainFile, MaxSeqLen: 24, MatchTypes: true,
		Train: train.Options{OutDir: filepath.Join(dir, "ce"), MaxSteps: 6, BatchSize: 4, LR: 1e-2, Log: io.Discard}})
	require.NoError(t, err)

	cfg, err := encoder.ReadConfig(filepath.Join(res.FinalDir, "config.json"))
	require.NoError(t, err)
	require.Equal(t, 4, cfg.TypeVocabSize)
	info, err := encoder.ReadModelInfo(res.FinalDir)
	require.NoError(t, err)
	require.True(t, info.MatchTypes)

	m, err := Load(res.FinalDir, LoadOptions{BatchSize: 4})
	require.NoError(t, err)
	defer m.Close()
	require.True(t, m.rr.MatchTypes)
	qs, ps := make([]string, len(exs)), make([]string, len(exs))
	for i, d := range exs {
		qs[i], ps[i] = d.Query, d.Query+d.PosPara
	}
	got, err := m.Matching(context.Background(), qs, ps, nil)
	require.NoError(t, err)
	plain := *m.rr
	plain.MatchTypes = false
	unmarked, err := plain.Score(context.Background(), qs, nil, ps)
	require.NoError(t, err)
	require.False(t, slices.Equal(got, unmarked), "marked and unmarked inputs score alike: the match types are not used")
}
