package encoder

import (
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/rocketqa-go/rocketqa/torch"
)

// A forward pass keeps one tensor per layer in the caller's scope (the layer's output), not every intermediate of
// every layer: the layers' temporaries are freed as each layer ends, with or without autograd, and the gradients
// are those of the same model (backward still finds what autograd saved).
func TestForwardFreesLayerTemporaries(t *testing.T) {
	held := func(layers int, grad bool) (scopeLen int, live int64, gradSum float64) {
		cfg := validConfig()
		cfg.NumHiddenLayers = layers
		cfg.HiddenDropoutProb, cfg.AttentionDropoutProb = 0, 0
		torch.ManualSeed(1)
		m, err := NewBERT(&cfg, false)
		require.NoError(t, err)
		s := torch.NewScope()
		defer s.Close()
		ids := s.FromInt64([]int64{2, 5, 7, 3, 2, 9, 3, 0}, 2, 4)
		types := s.FromInt64([]int64{0, 0, 1, 1, 0, 0, 1, 0}, 2, 4)
		mask := s.FromInt64([]int64{1, 1, 1, 1, 1, 1, 1, 0}, 2, 4)
		before := torch.LiveTensors()
		var out *torch.Tensor
		run := func() { out = m.Forward(s, ids, types, mask, grad) }
		if grad {
			run()
		} else {
			torch.NoGrad(run)
		}
		require.NoError(t, out.Err())
		scopeLen, live = s.Len(), torch.LiveTensors()-before
		if grad {
			require.NoError(t, out.Sum().Backward())
			for _, p := range m.Params() {
				g := p.Tensor.Grad()
				if g == nil {
					continue
				}
				v, err := g.Float32s()
				require.NoError(t, err)
				for _, x := range v {
					gradSum += float64(x * x)
				}
				g.Close()
			}
		}
		return scopeLen, live, gradSum
	}
	for _, grad := range []bool{false, true} {
		n1, l1, _ := held(1, grad)
		n4, l4, g4 := held(4, grad)
		t.Logf("grad %v: scope holds %d tensors with 1 layer, %d with 4; live handles +%d / +%d", grad, n1, n4, l1, l4)
		// the scope's list also keeps an entry for the handle each layer moved into its own scope (Use): 2 a layer
		require.LessOrEqual(t, n4-n1, 6, "grad %v: each extra layer left more than its output in the caller's scope", grad)
		require.LessOrEqual(t, l4-l1, int64(3), "grad %v: live handles grow with the layers", grad)
		if grad {
			require.Greater(t, g4, 0.0, "backward through freed intermediates produced no gradient")
		}
	}
}
