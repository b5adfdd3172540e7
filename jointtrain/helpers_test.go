package jointtrain

import (
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/rocketqa-go/rocketqa/dataset"
	"github.com/rocketqa-go/rocketqa/encoder"
	"github.com/rocketqa-go/rocketqa/internal/tinytest"
	"github.com/rocketqa-go/rocketqa/torch"
)

// tinyBert is the tiny random BERT of the joint-training fixtures' passage tower (the query tower is
// tinytest.ErnieDir's ERNIE).
const tinyBert = "../encoder/testdata/tiny_bert"

func noDropout(ms ...*encoder.BERT) {
	for _, m := range ms {
		m.Cfg.HiddenDropoutProb, m.Cfg.AttentionDropoutProb = 0, 0
	}
}

// tinyTask builds random tiny towers (seeded) and a v2 cross-encoder for text lists.
func tinyTask(t *testing.T, lists []dataset.JointList, m int, dropout bool) *Task {
	cfg := tinytest.Config(t, dropout)
	torch.ManualSeed(42)
	mk := func() *encoder.BERT {
		c := *cfg
		b, err := encoder.NewBERT(&c, false)
		require.NoError(t, err)
		return b
	}
	de := encoder.NewDualEncoder(mk(), mk())
	t.Cleanup(de.Close)
	ce, err := encoder.NewCrossEncoder(mk(), encoder.HeadV2)
	require.NoError(t, err)
	t.Cleanup(ce.Close)
	return &Task{DE: de, CE: ce, Tok: tinytest.Tokenizer(t), Lists: lists, M: m, Vocab: tinytest.Vocab(t),
		DEInfo: encoder.ModelInfo{QMaxSeqLen: 8, PMaxSeqLen: 16}, CEInfo: encoder.ModelInfo{MaxSeqLen: 20}}
}
