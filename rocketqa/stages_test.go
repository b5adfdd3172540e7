package rocketqa

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/rocketqa-go/rocketqa/dataset"
	"github.com/rocketqa-go/rocketqa/encoder"
	"github.com/rocketqa-go/rocketqa/internal/dirlock"
	"github.com/rocketqa-go/rocketqa/internal/tinytest"
	"github.com/rocketqa-go/rocketqa/torch"
)

// tinyEmbedder is a random tiny dual encoder (seeded) with the tiny vocabulary.
func tinyEmbedder(t *testing.T, seed uint64) *encoder.Embedder {
	task := tinyTask(t, 1, false)
	if seed != 42 {
		torch.ManualSeed(seed)
		cfg := task.Model.Para.Cfg
		p, err := encoder.NewBERT(cfg, false)
		require.NoError(t, err)
		m := encoder.NewDualEncoder(task.Model.Query, p)
		task.Model = m
	}
	return &encoder.Embedder{Model: task.Model, Tok: task.Tok, QMaxLen: 8, PMaxLen: 16,
		Options: encoder.EncodeOptions{BatchSize: 8, Device: torch.CPU}}
}

// tinyCollection writes a DuReader-layout collection of n passages in 2 parts.
func tinyCollection(t *testing.T, n int) string {
	dir := filepath.Join(t.TempDir(), "passage-collection")
	ps := dataset.NewPassages()
	for i, ex := range tinytest.DualExamples(t, n, 3) {
		require.NoError(t, ps.Add(fmt.Sprintf("p%d", i), ex.PosTitle, ex.PosPara))
	}
	require.NoError(t, dataset.WriteDuReaderCollection(dir, ps, 2))
	return dir
}

// encode reused the shards of another model or --p-len ("40 already encoded").
func TestEncodeCollectionRefusesShardsOfOtherSettings(t *testing.T) {
	ctx := context.Background()
	coll := tinyCollection(t, 10)
	out := filepath.Join(t.TempDir(), "emb")
	emb := tinyEmbedder(t, 42)
	shards, err := EncodeCollection(ctx, emb, coll, out, nil)
	require.NoError(t, err)
	require.Len(t, shards, 2)
	require.FileExists(t, filepath.Join(out, EncodeSettingsFile))

	// same model and settings: resumes (keeps the shards)
	_, err = EncodeCollection(ctx, emb, coll, out, nil)
	require.NoError(t, err)

	short := *emb
	short.PMaxLen = 12
	_, err = EncodeCollection(ctx, &short, coll, out, nil)
	require.Error(t, err)
	assert.Contains(t, err.Error(), "passage length 16 (this run: 12)")
	assert.Contains(t, err.Error(), "use another output directory")

	_, err = EncodeCollection(ctx, tinyEmbedder(t, 7), coll, out, nil)
	require.ErrorContains(t, err, "another model")

	// shards without a settings record (an older run) are not trusted either
	require.NoError(t, os.Remove(filepath.Join(out, EncodeSettingsFile)))
	_, err = EncodeCollection(ctx, emb, coll, out, nil)
	require.ErrorContains(t, err, "no "+EncodeSettingsFile)
}

// Two runs into one output directory: the second fails at once naming the holder.
func TestEncodeAndIndexLockTheirOutputDirectory(t *testing.T) {
	ctx := context.Background()
	coll := tinyCollection(t, 6)
	out := filepath.Join(t.TempDir(), "emb")
	l, err := dirlock.Acquire(out, "other-encode")
	require.NoError(t, err)
	_, err = EncodeCollection(ctx, tinyEmbedder(t, 42), coll, out, nil)
	require.True(t, errors.Is(err, dirlock.ErrLocked), "%v", err)
	assert.Contains(t, err.Error(), "other-encode")
	require.NoError(t, l.Release())
	shards, err := EncodeCollection(ctx, tinyEmbedder(t, 42), coll, out, nil)
	require.NoError(t, err)

	idx := filepath.Join(t.TempDir(), "index")
	l, err = dirlock.Acquire(idx, "other-index")
	require.NoError(t, err)
	_, err = IndexShards(ctx, shards, idx, "Flat")
	require.ErrorIs(t, err, dirlock.ErrLocked)
	require.NoError(t, l.Release())
	_, err = IndexShards(ctx, shards, idx, "Flat")
	require.NoError(t, err)
}

// A map with more rows than the parts was accepted (with a wrong count); an empty part said "dimension 0".
func TestEncodeCollectionChecksMapAgainstParts(t *testing.T) {
	ctx := context.Background()
	emb := tinyEmbedder(t, 42)
	coll := tinyCollection(t, 6)
	var pids []string
	for i := 0; i < 8; i++ {
		pids = append(pids, fmt.Sprintf("p%d", i))
	}
	require.NoError(t, dataset.WritePassageIDMap(filepath.Join(coll, "passage2id.map.json"), pids))
	_, err := EncodeCollection(ctx, emb, coll, filepath.Join(t.TempDir(), "emb"), nil)
	require.Error(t, err)
	assert.Contains(t, err.Error(), "maps 8 rows")
	assert.Contains(t, err.Error(), "hold 6 passages")

	coll = tinyCollection(t, 6)
	empty := filepath.Join(coll, "part-09")
	require.NoError(t, os.WriteFile(empty, nil, 0o644))
	_, err = EncodeCollection(ctx, emb, coll, filepath.Join(t.TempDir(), "emb"), nil)
	require.Error(t, err)
	assert.Contains(t, err.Error(), empty+" is empty")
	assert.NotContains(t, err.Error(), "dimension 0")
}

// A passage or query length beyond the model's positions failed only when a long input arrived.
func TestSequenceLengthsCheckedAtStart(t *testing.T) {
	ctx := context.Background()
	emb := tinyEmbedder(t, 42)
	max := emb.Model.Para.Cfg.MaxPositionEmbeddings
	long := *emb
	long.PMaxLen = max + 1
	_, err := EncodeCollection(ctx, &long, tinyCollection(t, 4), filepath.Join(t.TempDir(), "emb"), nil)
	require.ErrorContains(t, err, fmt.Sprintf("passage length %d tokens exceeds the model's %d positions", max+1, max))
	long = *emb
	long.QMaxLen = max + 1
	_, err = SearchQueries(ctx, &long, nil, []string{"q"}, 5)
	require.ErrorContains(t, err, "query length")
	_, err = SearchQueries(ctx, emb, nil, []string{"q", " "}, 5)
	require.ErrorContains(t, err, "query 1 is empty")
}
