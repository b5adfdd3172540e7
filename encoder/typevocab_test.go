package encoder

import (
	"path/filepath"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/rocketqa-go/rocketqa/torch"
)

// TestExtendTypeVocab: a cross-encoder whose type table grows from 2 to 4 rows gives the same scores for types 0/1
// (function preserved), types 2 and 3 give what 0 and 1 give at the start, the new table is a trainable
// parameter of shape [4, H] that the optimiser sees, and a save/load round trip keeps type_vocab_size 4 and the
// scores, with types 2 and 3 accepted.
func TestExtendTypeVocab(t *testing.T) {
	torch.ManualSeed(5)
	b := tinyBERT(t, true)
	require.Equal(t, 2, b.Cfg.TypeVocabSize)
	c, err := NewCrossEncoder(b, HeadV1)
	require.NoError(t, err)
	defer c.Close()
	before := crossScores(t, c, torch.CPU)
	require.NoError(t, b.ExtendTypeVocab(4))
	require.NoError(t, b.ExtendTypeVocab(3)) // no-op: already 4
	require.Equal(t, 4, b.Cfg.TypeVocabSize)
	require.Equal(t, before, crossScores(t, c, torch.CPU))

	scores := func(c *CrossEncoder, types []int64) []float32 {
		s := torch.NewScope()
		defer s.Close()
		ids := s.FromInt64([]int64{2, 5, 7, 3, 2, 9, 3, 0}, 2, 4)
		mask := s.FromInt64([]int64{1, 1, 1, 1, 1, 1, 1, 0}, 2, 4)
		v, err := c.Scores(c.Logits(s, ids, s.FromInt64(types, 2, 4), mask, false)).Float32s()
		require.NoError(t, err)
		return v
	}
	matched := []int64{2, 2, 3, 3, 0, 2, 3, 0}
	require.Equal(t, before, scores(c, matched), "types 2/3 start as 0/1")

	found := false
	for _, p := range c.Params() {
		if p.Name == "embeddings.token_type_embeddings.weight" || p.Name == "bert.embeddings.token_type_embeddings.weight" {
			found = true
			require.Equal(t, []int64{4, int64(b.Cfg.HiddenSize)}, p.Tensor.Shape())
			require.True(t, p.Tensor.RequiresGrad())
		}
	}
	require.True(t, found, "the extended table is among the parameters")

	dir := filepath.Join(t.TempDir(), "ce")
	require.NoError(t, SaveCross(dir, c, ModelInfo{MaxSeqLen: 8}, filepath.Join("testdata", "tiny_bert", "vocab.txt")))
	cfg, err := ReadConfig(filepath.Join(dir, "config.json"))
	require.NoError(t, err)
	require.Equal(t, 4, cfg.TypeVocabSize)
	l, _, err := LoadCross(dir)
	require.NoError(t, err)
	defer l.Close()
	require.Equal(t, scores(c, matched), scores(l, matched))
}
