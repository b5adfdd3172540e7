package rocketqa

import (
	"context"
	"math"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/rocketqa-go/rocketqa/internal/closeto"
	"github.com/rocketqa-go/rocketqa/internal/tinytest"
	"github.com/rocketqa-go/rocketqa/torch"
)

// relErr is ‖got − want‖ / ‖want‖ over every gradient tensor together, and the worst per tensor (tensors with a
// nonzero float32 gradient).
func relErr(t *testing.T, got, want map[string][]float32) (all, worst float64, worstName string) {
	var d2, w2 float64
	for name, w := range want {
		g := got[name]
		require.Len(t, g, len(w), name)
		var td, tw float64
		for i := range w {
			require.False(t, math.IsNaN(float64(g[i])) || math.IsInf(float64(g[i]), 0), "%s[%d] = %v", name, i, g[i])
			td += (float64(g[i]) - float64(w[i])) * (float64(g[i]) - float64(w[i]))
			tw += float64(w[i]) * float64(w[i])
		}
		d2, w2 = d2+td, w2+tw
		// the key biases' true gradient is zero (softmax ignores a shift shared by all keys): pure rounding noise
		if tw > 0 && !strings.HasSuffix(name, "key.bias") && math.Sqrt(td/tw) > worst {
			worst, worstName = math.Sqrt(td/tw), name
		}
	}
	return math.Sqrt(d2 / w2), worst, worstName
}

// TestDualStepBF16: the dual-encoder step with bfloat16 autocast forced on the CPU gives a finite float32 loss and
// gradients close to the float32 step's (the weights and gradients stay float32; only the forward matmuls round),
// and different from them (so autocast did run). At random initialisation the in-batch softmax is nearly uniform and
// the batch gradient is a difference of near-equal terms, so bfloat16's ~0.4% rounding of each term shows up as
// several per cent of the difference: measured 7.4% overall on this batch (a single-example cross-encoder gradient,
// with no such cancellation, is within 1%, see TestCrossStepBF16).
func TestDualStepBF16(t *testing.T) {
	task := tinyTask(t, 10, false)
	idx := []int{0, 1, 2, 3, 4, 5, 6, 7}
	want, g32 := tinytest.Step(t, task, idx)

	task.Autocast, task.ForceAutocast = true, true
	got, g16 := tinytest.Step(t, task, idx)
	for _, p := range task.Params() {
		require.Equal(t, torch.Float32, p.Tensor.DType(), p.Name)
	}
	require.False(t, math.IsNaN(got) || math.IsInf(got, 0))
	require.InDelta(t, want, got, 0.02*math.Abs(want), "loss bf16 %v fp32 %v", got, want)
	require.NotEqual(t, want, got, "autocast did not run")
	all, worst, name := relErr(t, g16, g32)
	t.Logf("loss fp32 %.6f bf16 %.6f; gradient relative L2 error %.4f overall, worst tensor %.4f (%s)", want, got, all, worst, name)
	require.Less(t, all, 0.15)
	require.Greater(t, all, 1e-6)

	// GradCache under autocast runs too
	task.GradCache, task.ChunkSize = true, 3
	gc, gcg := tinytest.Step(t, task, idx)
	all, _, _ = relErr(t, gcg, g32)
	require.InDelta(t, want, gc, 0.02*math.Abs(want))
	require.Less(t, all, 0.15)
}

// TestCrossStepBF16 as TestDualStepBF16 for the cross-encoder, with the embedding perturbation, on one example (the
// gradient of a batch at random initialisation nearly cancels, see TestDualStepBF16; measured: 0.8% on one example).
func TestCrossStepBF16(t *testing.T) {
	task := tinyCrossTask(t, false)
	task.Perturb = true
	idx := []int{1}
	want, g32 := tinytest.Step(t, task, idx)
	task.Autocast, task.ForceAutocast = true, true
	got, g16 := tinytest.Step(t, task, idx)
	require.InDelta(t, want, got, 0.02*math.Abs(want))
	require.NotEqual(t, want, got, "autocast did not run")
	all, worst, name := relErr(t, g16, g32)
	t.Logf("loss fp32 %.6f bf16 %.6f; gradient relative L2 error %.4f overall, worst tensor %.4f (%s)", want, got, all, worst, name)
	require.Less(t, all, 0.03)
}

// TestRerankerBatching: length-sorted and token-budget batches give the scores of input-order batches, in input
// order; forced bfloat16 scores stay close.
func TestRerankerBatching(t *testing.T) {
	task := tinyCrossTask(t, false)
	var qs, ps []string
	for _, ex := range task.Examples {
		qs, ps = append(qs, ex.Query), append(ps, ex.Para)
	}
	r := &Reranker{Model: task.Model, Tok: task.Tok, MaxSeqLen: 24, BatchSize: 5, SortWindow: 1}
	want, err := r.Score(context.Background(), qs, nil, ps)
	require.NoError(t, err)
	for _, c := range []Reranker{{BatchSize: 4}, {TokenBudget: 60}, {TokenBudget: 1}} {
		var done int
		r := &Reranker{Model: task.Model, Tok: task.Tok, MaxSeqLen: 24, BatchSize: c.BatchSize, TokenBudget: c.TokenBudget,
			Progress: func(d, n int) { done = d; require.Equal(t, len(ps), n) }}
		got, err := r.Score(context.Background(), qs, nil, ps)
		require.NoError(t, err)
		require.Equal(t, len(ps), done)
		require.NoError(t, closeto.Slices(got, want, closeto.Float32), "batch %d, budget %d", c.BatchSize, c.TokenBudget)
	}
	r = &Reranker{Model: task.Model, Tok: task.Tok, MaxSeqLen: 24, TokenBudget: 100, BF16: true, ForceBF16: true}
	got, err := r.Score(context.Background(), qs, nil, ps)
	require.NoError(t, err)
	require.NoError(t, closeto.Slices(got, want, closeto.Tol{ATol: 0.01, RTol: 0.01}), "bfloat16 scores (probabilities)")
	require.Error(t, closeto.Slices(got, want, closeto.Float32), "autocast did not run")

	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	_, err = r.Score(ctx, qs, nil, ps)
	require.ErrorIs(t, err, context.Canceled)
}

// TestLoadBF16: LoadOptions.BF16 and TokenBudget reach the dual encoder's Embedder and the cross encoder's Reranker.
// On a CPU that multiplies bfloat16 natively the vectors and scores differ from float32 (autocast ran) and stay
// close (cosine >= 0.999, scores within 2%); elsewhere BF16 falls back to float32 and they are identical.
func TestLoadBF16(t *testing.T) {
	native := torch.BF16Supported()
	qs, ps := make([]string, 12), make([]string, 12)
	for i, ex := range tinytest.DualExamples(t, 12, 5) {
		qs[i], ps[i] = ex.Query, ex.PosPara
	}
	ctx := context.Background()

	de := filepath.Join(t.TempDir(), "de")
	require.NoError(t, tinyTask(t, 8, false).SaveModel(de))
	m32, err := Load(de, LoadOptions{BatchSize: 4})
	require.NoError(t, err)
	defer m32.Close()
	m16, err := Load(de, LoadOptions{BatchSize: 4, BF16: true, TokenBudget: 64})
	require.NoError(t, err)
	defer m16.Close()
	require.True(t, m16.Embedder().Options.BF16)
	require.Equal(t, 64, m16.Embedder().Options.TokenBudget)
	v32, err := m32.EncodePara(ctx, ps, nil)
	require.NoError(t, err)
	v16, err := m16.EncodePara(ctx, ps, nil)
	require.NoError(t, err)
	same := true
	for i := range v32 {
		c := closeto.Cosine(v32[i], v16[i])
		require.GreaterOrEqual(t, c, 0.999, "passage %d", i)
		same = same && slices.Equal(v32[i], v16[i])
	}
	require.Equal(t, !native, same, "native bf16 %v: vectors identical to float32 %v", native, same)

	ce := filepath.Join(t.TempDir(), "ce")
	require.NoError(t, tinyCrossTask(t, false).SaveModel(ce))
	c32, err := Load(ce, LoadOptions{BatchSize: 4})
	require.NoError(t, err)
	defer c32.Close()
	c16, err := Load(ce, LoadOptions{BatchSize: 4, BF16: true, TokenBudget: 64})
	require.NoError(t, err)
	defer c16.Close()
	require.True(t, c16.rr.BF16)
	require.Equal(t, 64, c16.rr.TokenBudget)
	s32, err := c32.Matching(ctx, qs, ps, nil)
	require.NoError(t, err)
	s16, err := c16.Matching(ctx, qs, ps, nil)
	require.NoError(t, err)
	for i := range s32 {
		require.InDelta(t, s32[i], s16[i], 0.02*math.Abs(float64(s32[i]))+1e-3, "pair %d", i)
	}
	require.Equal(t, !native, slices.Equal(s32, s16), "native bf16 %v", native)
}
