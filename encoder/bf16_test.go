package encoder

import (
	"context"
	"path/filepath"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/rocketqa-go/rocketqa/internal/closeto"
	"github.com/rocketqa-go/rocketqa/tokenizer"
	"github.com/rocketqa-go/rocketqa/torch"
)

// midEmbedder is a random BERT of 256 hidden units × 4 layers on the tiny vocabulary (mid-size: enough depth and
// width for bfloat16 rounding to accumulate, small enough for emulated bfloat16 on any CPU).
func midEmbedder(t *testing.T) *Embedder {
	dir := filepath.Join("testdata", "tiny_ernie")
	tok, err := tokenizer.New(filepath.Join(dir, "vocab.txt"), tokenizer.DefaultOptions())
	require.NoError(t, err)
	cfg := &Config{ModelType: "bert", VocabSize: tok.VocabSize(), HiddenSize: 256, NumHiddenLayers: 4,
		NumAttentionHeads: 4, IntermediateSize: 1024, HiddenAct: "gelu", MaxPositionEmbeddings: 512, TypeVocabSize: 2,
		LayerNormEps: 1e-12, InitializerRange: 0.02}
	torch.ManualSeed(5)
	m, err := NewBERT(cfg, false)
	require.NoError(t, err)
	d := NewDualEncoder(m, m)
	t.Cleanup(m.Close)
	return &Embedder{Model: d, Tok: tok, QMaxLen: 16, PMaxLen: 96}
}

// longTexts are texts of 1 to ~90 tokens.
func longTexts(n int) []string {
	words := []string{"a", "b", "c", "d", "e", "f", "g", "hello", "x", "y"}
	out := make([]string, n)
	for i := range out {
		s := ""
		for j := 0; j < 1+(i*37)%90; j++ {
			s += words[(i*3+j*7)%len(words)] + " "
		}
		out[i] = s
	}
	return out
}

// TestEmbedderBF16 runs bfloat16 autocast (forced, so on any CPU) against float32 on the same batches: every vector
// has cosine ≥ 0.999 to its float32 vector (the quality bar of the bfloat16 encoder), yet differs from it (so
// bfloat16 did run), and comes back as float32 of the right size.
func TestEmbedderBF16(t *testing.T) {
	for _, c := range []struct {
		name  string
		e     *Embedder
		paras []string
	}{{"tiny", tinyEmbedder(t), texts(21)}, {"mid", midEmbedder(t), longTexts(16)}} {
		t.Run(c.name, func(t *testing.T) {
			e := c.e
			e.Options = EncodeOptions{BatchSize: 8}
			want, err := e.EncodePassages(context.Background(), nil, c.paras)
			require.NoError(t, err)
			e.Options = EncodeOptions{BatchSize: 8, BF16: true, ForceBF16: true}
			got, err := e.EncodePassages(context.Background(), nil, c.paras)
			require.NoError(t, err)
			worst, differ := 1.0, 0
			for i := range got {
				require.Len(t, got[i], e.Model.Para.Cfg.HiddenSize)
				cos := closeto.Cosine(got[i], want[i])
				require.GreaterOrEqual(t, cos, 0.999, "passage %d", i)
				worst = min(worst, cos)
				if closeto.Slices(got[i], want[i], closeto.Float32) != nil {
					differ++
				}
			}
			t.Logf("%s: worst closeto.Cosine(bf16, fp32) %.6f over %d passages", c.name, worst, len(got))
			require.Equal(t, len(got), differ, "bfloat16 vectors equal float32 ones: autocast did not run")

			// queries and normalised vectors too
			e.Normalized = true
			q, err := e.EncodeQueries(context.Background(), c.paras[:5])
			require.NoError(t, err)
			for i := range q {
				var n float64
				for _, x := range q[i] {
					n += float64(x) * float64(x)
				}
				require.InDelta(t, 1, n, 1e-5, "query %d", i)
			}
			e.Normalized = false
		})
	}
}

// TestEmbedderBF16Detected: BF16 without ForceBF16 runs bfloat16 only on a CPU with native support; elsewhere the
// vectors are the float32 ones.
func TestEmbedderBF16Detected(t *testing.T) {
	e := tinyEmbedder(t)
	paras := texts(9)
	e.Options = EncodeOptions{BatchSize: 4}
	want, err := e.EncodePassages(context.Background(), nil, paras)
	require.NoError(t, err)
	e.Options = EncodeOptions{BatchSize: 4, BF16: true}
	got, err := e.EncodePassages(context.Background(), nil, paras)
	require.NoError(t, err)
	same := true
	for i := range got {
		if closeto.Slices(got[i], want[i], closeto.Float32) != nil {
			same = false
		}
	}
	_, on := e.Options.Autocast()
	require.Equal(t, torch.BF16Supported(), on)
	require.Equal(t, !torch.BF16Supported(), same, "CPU flag %q", torch.CPUBF16Flag())
}

// TestEmbedderTokenBudget: batching by a token budget gives the vectors of fixed-count batching, in input order.
func TestEmbedderTokenBudget(t *testing.T) {
	e := tinyEmbedder(t)
	paras := texts(37)
	e.Options = EncodeOptions{BatchSize: 1}
	want, err := e.EncodePassages(context.Background(), nil, paras)
	require.NoError(t, err)
	var batches, done int
	e.Options = EncodeOptions{TokenBudget: 48, Progress: func(d, total int) { batches++; done = d }}
	got, err := e.EncodePassages(context.Background(), nil, paras)
	require.NoError(t, err)
	require.Equal(t, len(paras), done)
	require.Greater(t, batches, 3)
	for i := range paras {
		require.NoError(t, closeto.Slices(got[i], want[i], closeto.Float32), "passage %d", i)
	}
}
