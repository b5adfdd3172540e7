package rocketqa

import (
	"fmt"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/rocketqa-go/rocketqa/dataset"
	"github.com/rocketqa-go/rocketqa/internal/tinytest"
	"github.com/rocketqa-go/rocketqa/torch"
)

func vals(t *testing.T, x *torch.Tensor) []float64 {
	t.Helper()
	v, err := x.Contiguous().Float32s()
	require.NoError(t, err)
	return tinytest.F64(v)
}

// TestCrossBatchLossGroupedLayout: for groups of 2 and 3, the v1 loss on the grouped layout gives exactly (bit for
// bit: the same scores in the same order) the loss and gradients of the official layout ([positives; negatives],
// target i), and within the tolerance rule those of the scores in grouped order (target G·i): permuting the
// columns of the score matrix leaves the cross-entropy unchanged.
func TestCrossBatchLossGroupedLayout(t *testing.T) {
	for _, g := range []int{2, 3} {
		t.Run(fmt.Sprint("G", g), func(t *testing.T) {
			s := torch.NewScope()
			defer s.Close()
			const b, h = 5, 8
			run := func(form string) (loss float64, gq, gp []float64) {
				torch.ManualSeed(3)
				q := s.Randn([]int64{b, h}, torch.Float32, torch.CPU).MulScalar(3).Detach().SetRequiresGrad(true)
				p := s.Randn([]int64{int64(g * b), h}, torch.Float32, torch.CPU).Detach().SetRequiresGrad(true) // slot-major
				var l *torch.Tensor
				switch form {
				case "loss":
					l = CrossBatchLoss(s, Reps{Q: q, P: regroup(p, b, g), G: g})
				case "official":
					l = torch.CrossEntropy(q.MatMul(p.T()), s.Arange(0, b, 1, torch.Int64, torch.CPU))
				case "grouped":
					l = torch.CrossEntropy(q.MatMul(regroup(p, b, g).T()), s.Arange(0, float64(b*g), float64(g), torch.Int64, torch.CPU))
				}
				require.NoError(t, l.Backward())
				v, err := l.Item()
				require.NoError(t, err)
				return v, vals(t, s.Adopt(q.Grad())), vals(t, s.Adopt(p.Grad()))
			}
			l0, q0, p0 := run("official")
			l1, q1, p1 := run("loss")
			l2, q2, p2 := run("grouped")
			require.Equal(t, l0, l1)
			require.Equal(t, q0, q1)
			require.Equal(t, p0, p1)
			tinytest.RequireClose(t, []float64{l0}, []float64{l2}, "loss")
			tinytest.RequireClose(t, q0, q2, "query grad")
			tinytest.RequireClose(t, p0, p2, "passage grad")
			require.Greater(t, l0, 0.1, "a loss far from 0, so the gradients are not vanishing")
			require.NoError(t, s.Err())
		})
	}
}

// TestRepsViews: Positives and Negatives pick the right rows of the grouped layout, and regroup puts slot k of
// query i at row G·i + k.
func TestRepsViews(t *testing.T) {
	s := torch.NewScope()
	defer s.Close()
	const b, g = 3, 3
	data := make([]float32, b*g)
	for k := 0; k < g; k++ {
		for i := 0; i < b; i++ {
			data[k*b+i] = float32(10*i + k) // slot-major: passage k of query i
		}
	}
	slots := s.FromFloat32(data, b*g, 1)
	r := Reps{Q: s.Zeros([]int64{b, 1}, torch.Float32, torch.CPU), P: regroup(slots, b, g), G: g}
	require.NoError(t, r.Check())
	require.Equal(t, []float64{0, 1, 2, 10, 11, 12, 20, 21, 22}, vals(t, r.P))
	require.Equal(t, []float64{0, 10, 20}, vals(t, r.Positives()))
	require.Equal(t, []float64{1, 2, 11, 12, 21, 22}, vals(t, r.Negatives()))
	require.Equal(t, []float64{0, 3, 6}, func() []float64 {
		v, err := r.Targets(s).To(torch.Float32).Float32s()
		require.NoError(t, err)
		return tinytest.F64(v)
	}())
	bad := Reps{Q: r.Q, P: slots.Narrow(0, 0, 8), G: g}
	require.ErrorContains(t, bad.Check(), "want passages [B*G, H] with B=3, G=3")
}

// ownGroupLoss is a listwise loss over each query's own group only (no in-batch negatives), a loss unlike v1's.
func ownGroupLoss(s *torch.Scope, r Reps) *torch.Tensor {
	scores := r.P.Reshape(r.B(), int64(r.G), -1).Mul(r.Q.Reshape(r.B(), 1, -1)).Sum(2)
	return torch.CrossEntropy(scores, s.Zeros([]int64{r.B()}, torch.Int64, r.Q.Device()))
}

func tinyGroups(t *testing.T, n, g int) []dataset.Group {
	exs := tinytest.DualExamples(t, n*g, 11)
	out := make([]dataset.Group, n)
	for i := range out {
		out[i].Query = exs[i*g].Query
		for k := 0; k < g; k++ {
			out[i].Passages = append(out[i].Passages, dataset.Passage{Title: exs[i*g+k].PosTitle, Text: exs[i*g+k].PosPara})
		}
	}
	return out
}

// TestGradCacheCustomLoss: groups of 3 and a custom loss: the grad-cached step (dropout on, chunks of 4) gives the
// loss and gradients of the plain step.
func TestGradCacheCustomLoss(t *testing.T) {
	task := tinyTask(t, 0, true)
	task.Groups = tinyGroups(t, 6, 3)
	task.Loss = ownGroupLoss
	task.ChunkSize = 4
	idx := []int{5, 0, 2, 3, 1}
	step := func(gc bool) (float64, map[string][]float32) {
		torch.ManualSeed(9)
		task.GradCache = gc
		return tinytest.Step(t, task, idx)
	}
	l0, g0 := step(false)
	l1, g1 := step(true)
	tinytest.RequireClose(t, []float64{l0}, []float64{l1}, "loss")
	tinytest.RequireGradsClose(t, g0, g1, "grad")
	require.Equal(t, 6, task.NumExamples())
}

// TestMixedGroupSizes: a batch whose groups differ in size is an error naming the examples.
func TestMixedGroupSizes(t *testing.T) {
	task := tinyTask(t, 0, false)
	task.Groups = append(tinyGroups(t, 2, 3), tinyGroups(t, 1, 2)...)
	s := torch.NewScope()
	defer s.Close()
	_, err := task.Step(s, []int{0, 2})
	require.ErrorContains(t, err, "example 2 has 2 passages, example 0 of the batch has 3")
}
