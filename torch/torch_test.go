package torch_test

import (
	"fmt"
	"math"
	"os"
	"runtime/debug"
	"strconv"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/rocketqa-go/rocketqa/torch"
)

func TestRoundTripDTypes(t *testing.T) {
	s := torch.NewScope()
	defer s.Close()
	x := s.FromFloat32([]float32{1, 2, 3, 4, 5, 6}, 2, 3)
	require.Equal(t, []int64{2, 3}, x.Shape())
	require.Equal(t, torch.Float32, x.DType())
	require.Equal(t, torch.CPU, x.Device())
	v, err := x.T().Contiguous().Float32s()
	require.NoError(t, err)
	require.Equal(t, []float32{1, 4, 2, 5, 3, 6}, v)

	for _, dt := range []torch.DType{torch.Float16, torch.BFloat16, torch.Int64, torch.Float64, torch.Int32} {
		y := x.To(dt)
		require.Equal(t, dt, y.DType(), dt.String())
		got, err := y.Float32s()
		require.NoError(t, err)
		require.Equal(t, []float32{1, 2, 3, 4, 5, 6}, got, dt.String())
	}
	ids := s.FromInt64([]int64{-3, 7, 1 << 40}, 3)
	iv, err := ids.Int64s()
	require.NoError(t, err)
	require.Equal(t, []int64{-3, 7, 1 << 40}, iv)
	b := s.FromBool([]bool{true, false, true}, 3)
	bv, err := b.LogicalNot().Bools()
	require.NoError(t, err)
	require.Equal(t, []bool{false, true, false}, bv)
	raw, err := s.FromBytes([]byte{0, 0, 128, 63}, torch.Float32, torch.CPU, 1).Item()
	require.NoError(t, err)
	require.Equal(t, 1.0, raw)

	ar, err := s.Arange(0, 5, 1, torch.Int64, torch.CPU).Int64s()
	require.NoError(t, err)
	require.Equal(t, []int64{0, 1, 2, 3, 4}, ar)
	f, err := s.Full([]int64{2, 2}, 2.5, torch.Float32, torch.CPU).Sum().Item()
	require.NoError(t, err)
	require.Equal(t, 10.0, f)
	require.NoError(t, s.Err())
}

func TestErrorsComeBackAsGoErrors(t *testing.T) {
	s := torch.NewScope()
	defer s.Close()
	a := s.FromFloat32(make([]float32, 6), 2, 3)
	b := s.FromFloat32(make([]float32, 20), 4, 5)

	mm := a.MatMul(b)
	require.Error(t, mm.Err())
	require.Contains(t, mm.Err().Error(), "MatMul")
	require.Contains(t, mm.Err().Error(), "2x3 and 4x5", "libtorch's shape message")
	// the error propagates through a chain without calling libtorch, and the scope remembers it
	chained := mm.Relu().Add(a).Sum()
	require.ErrorIs(t, chained.Err(), mm.Err())
	require.Equal(t, mm.Err(), s.Err())
	_, err := chained.Float32s()
	require.Error(t, err)

	// wrong dtype: float ids into an embedding
	emb := torch.Embedding(b, a, -1)
	require.Error(t, emb.Err())
	require.Contains(t, strings.ToLower(emb.Err().Error()), "long")

	// index out of range
	idx := s.FromInt64([]int64{0, 9}, 2)
	sel := a.IndexSelect(0, idx)
	require.Error(t, sel.Err())
	require.Contains(t, strings.ToLower(sel.Err().Error()), "out of range")

	// CUDA where there is none (CPU build or no device)
	if !torch.CUDAAvailable() {
		c := a.ToDevice(torch.CUDA(0))
		require.Error(t, c.Err())
		z := s.Zeros([]int64{2}, torch.Float32, torch.CUDA(0))
		require.Error(t, z.Err())
		require.Error(t, torch.Autocast(torch.CUDADevice, torch.Float16, func() {}))
	}

	// Go-side validation
	require.Error(t, s.FromFloat32([]float32{1, 2, 3}, 2, 2).Err())
	require.Error(t, s.FromFloat32([]float32{1}, -1).Err())
	require.Error(t, torch.Cat(nil, 0).Err())
	require.Error(t, torch.CrossEntropyLoss(a, idx, torch.ReduceBatchMean, -100, 0).Err())
	_, err = a.Item()
	require.Error(t, err)

	// closed and nil tensors
	c := s.FromFloat32([]float32{1}, 1)
	c.Close()
	c.Close() // twice is fine
	require.Error(t, c.Add(a).Err())
	require.Error(t, c.Err())
	var nilT *torch.Tensor
	require.Error(t, a.Add(nilT).Err())
	require.Error(t, nilT.Err())
	require.Error(t, c.Backward())
	_, err = torch.ParseDevice("gpu7")
	require.Error(t, err)
}

// TestScopeErrorKeepsTheLibtorchError: code built on torch that checks sizes of an invalid result (Size gives -1)
// reports a derived error through Scope.Error; the libtorch error that caused it must still be what the caller
// sees first. (Before: training printed "-1 passage vectors for -1 queries" and lost libtorch's
// "index out of range in self".)
func TestScopeErrorKeepsTheLibtorchError(t *testing.T) {
	s := torch.NewScope()
	defer s.Close()
	w := s.FromFloat32(make([]float32, 12), 4, 3)
	q := torch.Embedding(w, s.FromInt64([]int64{1, 7}, 2), -1) // id 7 of a 4-row table
	require.ErrorContains(t, q.Err(), "index out of range")
	require.Equal(t, int64(-1), q.Size(0), "Size of an invalid tensor")
	derived := fmt.Errorf("loss: %d passage vectors for %d queries", q.Size(0), q.Size(0))
	loss := s.Error(derived)
	require.ErrorIs(t, loss.Err(), q.Err())
	require.ErrorIs(t, loss.Err(), derived)
	require.True(t, strings.HasPrefix(loss.Err().Error(), q.Err().Error()), "libtorch's error first: %v", loss.Err())
	require.ErrorContains(t, loss.Err(), "(then: loss: -1 passage vectors for -1 queries)")
	require.Equal(t, q.Err(), s.Err())
	// reporting the scope's own error again does not nest it
	require.Equal(t, q.Err(), s.Error(q.Err()).Err())

	// in a scope without an earlier failure the error is reported as given
	s2 := torch.NewScope()
	defer s2.Close()
	require.Equal(t, derived, s2.Error(derived).Err())
}

func TestScopeFreesEverything(t *testing.T) {
	base := torch.LiveTensors()
	w := torch.Randn([]int64{8, 8}, torch.Float32, torch.CPU).SetRequiresGrad(true)
	require.Equal(t, base+1, torch.LiveTensors())
	err := torch.With(func(s *torch.Scope) error {
		x := s.Randn([]int64{4, 8}, torch.Float32, torch.CPU)
		y := x.MatMul(w).Tanh().Sum()
		require.Equal(t, s, y.Scope(), "results join the operand's scope")
		return y.Backward()
	})
	require.NoError(t, err)
	require.Equal(t, base+1, torch.LiveTensors(), "scope freed all intermediates")
	g := w.Grad()
	require.NotNil(t, g)
	require.Nil(t, g.Scope(), "grad of an untracked parameter is untracked")
	g.Close()

	s := torch.NewScope()
	kept := s.Keep(s.Ones([]int64{2}, torch.Float32, torch.CPU).MulScalar(3))
	s.Close()
	s.Close()
	v, err := kept.Float32s()
	require.NoError(t, err)
	require.Equal(t, []float32{3, 3}, v)
	kept.Close()
	w.Close()
	require.Equal(t, base, torch.LiveTensors())
}

func TestAutogradHelpers(t *testing.T) {
	s := torch.NewScope()
	defer s.Close()
	x := s.FromFloat32([]float32{1, 2, 3}, 3).SetRequiresGrad(true)
	y := x.Square().Sum()
	require.NoError(t, y.Backward())
	g, err := s.Adopt(x.Grad()).Float32s()
	require.NoError(t, err)
	require.Equal(t, []float32{2, 4, 6}, g)

	// backward with a given gradient (gradient caching)
	require.NoError(t, x.ZeroGrad())
	require.Nil(t, x.Grad())
	z := x.MulScalar(2)
	require.NoError(t, z.BackwardWith(s.FromFloat32([]float32{1, 10, 100}, 3), false))
	g, err = s.Adopt(x.Grad()).Float32s()
	require.NoError(t, err)
	require.Equal(t, []float32{2, 20, 200}, g)

	var inside bool
	torch.NoGrad(func() {
		inside = torch.GradEnabled()
		require.False(t, x.MulScalar(3).RequiresGrad())
	})
	require.False(t, inside)
	require.True(t, torch.GradEnabled())
	require.False(t, x.Detach().RequiresGrad())
}

func TestAutocastCPU(t *testing.T) {
	s := torch.NewScope()
	defer s.Close()
	a := s.Randn([]int64{4, 4}, torch.Float32, torch.CPU)
	var dt torch.DType
	require.NoError(t, torch.Autocast(torch.CPUDevice, torch.BFloat16, func() { dt = a.MatMul(a).DType() }))
	require.Equal(t, torch.BFloat16, dt)
	require.Equal(t, torch.Float32, a.MatMul(a).DType(), "autocast is off again")
	require.Error(t, torch.Autocast(torch.CPUDevice, torch.Int64, func() {}))
}

func TestRNGStateRestore(t *testing.T) {
	s := torch.NewScope()
	defer s.Close()
	torch.ManualSeed(3)
	st, err := torch.RNGState(torch.CPU)
	require.NoError(t, err)
	a, _ := s.Randn([]int64{5}, torch.Float32, torch.CPU).Float32s()
	d1, _ := s.Ones([]int64{20}, torch.Float32, torch.CPU).Dropout(0.5, true).Float32s()
	require.NoError(t, torch.SetRNGState(torch.CPU, st))
	b, _ := s.Randn([]int64{5}, torch.Float32, torch.CPU).Float32s()
	d2, _ := s.Ones([]int64{20}, torch.Float32, torch.CPU).Dropout(0.5, true).Float32s()
	require.Equal(t, a, b)
	require.Equal(t, d1, d2, "same dropout mask after restoring the generator")
	require.Error(t, torch.SetRNGState(torch.CPU, []byte{1, 2, 3}))
}

func TestTruncNormal(t *testing.T) {
	torch.ManualSeed(1)
	w := torch.Zeros([]int64{200, 50}, torch.Float32, torch.CPU)
	defer w.Close()
	require.NoError(t, w.TruncNormal(0, 0.02, -0.04, 0.04))
	v, err := w.Float32s()
	require.NoError(t, err)
	var sum, sq float64
	for _, x := range v {
		require.LessOrEqual(t, math.Abs(float64(x)), 0.04)
		sum += float64(x)
		sq += float64(x) * float64(x)
	}
	n := float64(len(v))
	std := math.Sqrt(sq/n - (sum/n)*(sum/n))
	// std of N(0, σ) truncated at ±2σ is 0.8796σ
	require.InDelta(t, 0.8796*0.02, std, 0.0005)
}

func TestAdamWStateRoundTrip(t *testing.T) {
	run := func(restore bool) []float32 {
		torch.ManualSeed(11)
		p := torch.Randn([]int64{6}, torch.Float32, torch.CPU).SetRequiresGrad(true)
		defer p.Close()
		opt, err := torch.NewAdamW([]torch.ParamGroup{{Params: []*torch.Tensor{p}, LR: 0.1, WeightDecay: 0.01}}, torch.AdamWOptions{})
		require.NoError(t, err)
		defer opt.Close()
		step := func() {
			require.NoError(t, torch.With(func(s *torch.Scope) error {
				return s.Use(p).Tanh().Square().Sum().Backward()
			}))
			require.NoError(t, opt.Step())
			require.NoError(t, opt.ZeroGrad())
		}
		for i := 0; i < 3; i++ {
			step()
		}
		if restore {
			state, err := opt.StateDict()
			require.NoError(t, err)
			saved, err := p.Float32s()
			require.NoError(t, err)
			// a fresh optimizer and parameter, restored
			q := torch.FromFloat32(saved, 6).SetRequiresGrad(true)
			defer q.Close()
			opt2, err := torch.NewAdamW([]torch.ParamGroup{{Params: []*torch.Tensor{q}, LR: 0.1, WeightDecay: 0.01}}, torch.AdamWOptions{})
			require.NoError(t, err)
			defer opt2.Close()
			require.NoError(t, opt2.LoadStateDict(state))
			require.Error(t, opt2.LoadStateDict([]byte("garbage")))
			p, opt = q, opt2
		}
		for i := 0; i < 2; i++ {
			step()
		}
		v, err := p.Float32s()
		require.NoError(t, err)
		return v
	}
	require.Equal(t, run(false), run(true), "restored optimizer continues the same trajectory")
}

// rss returns the resident set size in bytes.
func rss(t *testing.T) int64 {
	b, err := os.ReadFile("/proc/self/statm")
	require.NoError(t, err)
	f := strings.Fields(string(b))
	pages, err := strconv.ParseInt(f[1], 10, 64)
	require.NoError(t, err)
	return pages * int64(os.Getpagesize())
}

// TestTrainingMemoryIsFlat runs 2,000 training steps of an attention block and checks RSS stays flat after warm-up.
func TestTrainingMemoryIsFlat(t *testing.T) {
	if testing.Short() {
		t.Skip("long")
	}
	const h, inter = 64, 128
	torch.ManualSeed(5)
	shapes := [][]int64{{h, h}, {h}, {h, h}, {h}, {h, h}, {h}, {h, h}, {h}, {h}, {h}, {inter, h}, {inter}, {h, inter}, {h}, {h}, {h}}
	var params []*torch.Tensor
	for _, sh := range shapes {
		p := torch.Randn(sh, torch.Float32, torch.CPU)
		p2 := p.MulScalar(0.1)
		p.Close()
		params = append(params, p2.SetRequiresGrad(true))
	}
	defer func() {
		for _, p := range params {
			p.Close()
		}
	}()
	opt, err := torch.NewAdamW([]torch.ParamGroup{{Params: params, LR: 1e-3, WeightDecay: 0.01}}, torch.AdamWOptions{})
	require.NoError(t, err)
	defer opt.Close()
	maskv := make([]float32, 8*32)
	for i := range maskv {
		if i%32 < 28 {
			maskv[i] = 1
		}
	}
	step := func() {
		err := torch.With(func(s *torch.Scope) error {
			x := s.Randn([]int64{8, 32, h}, torch.Float32, torch.CPU)
			mask := s.FromFloat32(maskv, 8, 32)
			out := attentionLayer(x, mask, params, 4).Dropout(0.1, true)
			loss := out.Select(1, 0).MatMul(out.Select(1, 0).T()).LogSoftmax(-1).Mean().Neg()
			if err := loss.Backward(); err != nil {
				return err
			}
			if _, err := torch.ClipGradNorm(params, 1.0); err != nil {
				return err
			}
			if err := opt.Step(); err != nil {
				return err
			}
			return opt.ZeroGrad()
		})
		require.NoError(t, err)
	}
	// warm-up: until the allocator's high-water mark is reached (glibc keeps freed memory for reuse, see malloc.go)
	for i := 0; i < 500; i++ {
		step()
	}
	debug.FreeOSMemory()
	live0 := torch.LiveTensors()
	r0 := rss(t)
	for i := 0; i < 2000; i++ {
		step()
	}
	debug.FreeOSMemory()
	r1 := rss(t)
	t.Logf("RSS after warm-up %.1f MiB, after 2,000 more steps %.1f MiB (%+.2f%%)", float64(r0)/(1<<20), float64(r1)/(1<<20), 100*float64(r1-r0)/float64(r0))
	require.Equal(t, live0, torch.LiveTensors(), "no tensor handle leaked")
	require.LessOrEqual(t, float64(r1), 1.05*float64(r0), "RSS grew more than 5%")
}

// TestSaveRestoreRNG: SaveRNG/RestoreRNG replay the CPU generator; a CUDA device without CUDA and malformed states
// are refused with an error.
func TestSaveRestoreRNG(t *testing.T) {
	torch.ManualSeed(9)
	st, err := torch.SaveRNG(torch.CPU)
	require.NoError(t, err)
	a := torch.Randn([]int64{16}, torch.Float32, torch.CPU)
	defer a.Close()
	av, _ := a.Float32s()
	c := torch.Randn([]int64{16}, torch.Float32, torch.CPU) // the generator moved on
	defer c.Close()
	cv, _ := c.Float32s()
	require.NotEqual(t, av, cv)
	require.NoError(t, torch.RestoreRNG(torch.CPU, st))
	b := torch.Randn([]int64{16}, torch.Float32, torch.CPU)
	defer b.Close()
	bv, _ := b.Float32s()
	require.Equal(t, av, bv)

	for _, bad := range [][]byte{nil, []byte("junk"), st[:len(st)-1], append(append([]byte(nil), st...), 0)} {
		require.Error(t, torch.RestoreRNG(torch.CPU, bad))
	}
	// a raw generator state (RNGState) is not a SaveRNG state
	raw, err := torch.RNGState(torch.CPU)
	require.NoError(t, err)
	require.Error(t, torch.RestoreRNG(torch.CPU, raw))
	if torch.CUDAAvailable() { // both generators replay
		dev := torch.CUDA(0)
		st, err := torch.SaveRNG(dev)
		require.NoError(t, err)
		draw := func() ([]float32, []float32) {
			x := torch.Randn([]int64{8}, torch.Float32, dev)
			defer x.Close()
			y := torch.Randn([]int64{8}, torch.Float32, torch.CPU)
			defer y.Close()
			xv, err := x.Float32s()
			require.NoError(t, err)
			yv, err := y.Float32s()
			require.NoError(t, err)
			return xv, yv
		}
		x1, y1 := draw()
		require.NoError(t, torch.RestoreRNG(dev, st))
		x2, y2 := draw()
		require.Equal(t, x1, x2)
		require.Equal(t, y1, y2)
	} else {
		_, err := torch.SaveRNG(torch.CUDA(0))
		require.ErrorContains(t, err, "CUDA")
		require.ErrorContains(t, torch.RestoreRNG(torch.CUDA(0), st), "CUDA")
	}
}
