package jointtrain

import (
	"math"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/rocketqa-go/rocketqa/internal/tinytest"
	"github.com/rocketqa-go/rocketqa/torch"
)

// TestStepBF16: the joint step with bfloat16 autocast forced on the CPU (before, Autocast was ignored on the CPU)
// gives a finite loss close to the float32 step's and different from it (autocast ran), with float32 weights and
// gradients close to the float32 ones.
func TestStepBF16(t *testing.T) {
	lists := tinytest.JointLists(t, 6, 4, 3)
	idx := []int{0, 1, 2}
	task := tinyTask(t, lists, 4, false)
	// weights of std 0.1 instead of 0.02: at the usual init every score is nearly equal, the softmaxes are uniform
	// and the gradients are differences of near-equal terms, which bfloat16's rounding swamps (measured: 133%
	// relative error at std 0.02, 2.7% at 0.1)
	torch.ManualSeed(7)
	for _, p := range task.Params() {
		if p.Tensor.Dim() == 2 {
			require.NoError(t, torch.With(func(s *torch.Scope) error {
				return p.Tensor.CopyFrom(s.Randn(p.Tensor.Shape(), torch.Float32, torch.CPU).MulScalar(0.1))
			}))
		}
	}
	want, g32 := tinytest.Step(t, task, idx)
	task.Autocast, task.ForceAutocast = true, true
	got, g16 := tinytest.Step(t, task, idx)
	for _, p := range task.Params() {
		require.Equal(t, torch.Float32, p.Tensor.DType(), p.Name)
	}
	require.False(t, math.IsNaN(got) || math.IsInf(got, 0))
	require.NotEqual(t, want, got, "autocast did not run")
	require.InDelta(t, want, got, 0.02*math.Abs(want), "loss bf16 %v fp32 %v", got, want)
	var d2, w2 float64
	for name, w := range g32 {
		g := g16[name]
		require.Len(t, g, len(w), name)
		for i := range w {
			d2 += (float64(g[i]) - float64(w[i])) * (float64(g[i]) - float64(w[i]))
			w2 += float64(w[i]) * float64(w[i])
		}
	}
	rel := math.Sqrt(d2 / w2)
	t.Logf("loss fp32 %.6f bf16 %.6f; gradient relative L2 error %.4f", want, got, rel)
	require.Less(t, rel, 0.15)
	require.Greater(t, rel, 1e-6)
}
