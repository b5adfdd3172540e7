// Package roofline counts the matrix-multiply FLOPs of BERT forward passes on padded shapes and measures this
// machine's matrix-multiply peak through libtorch, so throughput benchmarks can say how far they are from the
// physical limit.
package roofline

import (
	"fmt"
	"time"

	"github.com/rocketqa-go/rocketqa/torch"
)

// EncoderFLOPs is the multiply-add FLOPs (2 per multiply-add) of one BERT forward pass on a padded [rows, cols]
// batch: per layer the Q, K, V and output projections (4·2·n·H²), the feed-forward pair (2·2·n·H·I) and the two
// attention products QKᵀ and PV (2·2·rows·cols²·H), n = rows·cols. Embeddings, layer norms, softmax and the pooler
// are left out (a few per cent at most).
func EncoderFLOPs(hidden, intermediate, layers, rows, cols int) float64 {
	h, i, n := float64(hidden), float64(intermediate), float64(rows)*float64(cols)
	perLayer := 8*n*h*h + 4*n*h*i + 4*n*float64(cols)*h
	return float64(layers) * perLayer
}

// TrainFLOPs is the FLOPs of a forward and backward pass: 3 × forward (the backward of a matmul is two matmuls).
func TrainFLOPs(forward float64) float64 { return 3 * forward }

// MatmulPeak measures the best GFLOP/s of an n×n by n×n matrix product in dtype dt on the CPU with libtorch's
// current thread count, over reps timed products after one warm-up.
func MatmulPeak(dt torch.DType, n, reps int) (float64, error) {
	best := 0.0
	err := torch.With(func(s *torch.Scope) error {
		a := s.Randn([]int64{int64(n), int64(n)}, torch.Float32, torch.CPU).To(dt)
		b := s.Randn([]int64{int64(n), int64(n)}, torch.Float32, torch.CPU).To(dt)
		if err := a.Err(); err != nil {
			return err
		}
		for r := 0; r <= reps; r++ {
			t0 := time.Now()
			c := a.MatMul(b)
			if err := c.Err(); err != nil {
				return err
			}
			sec := time.Since(t0).Seconds()
			c.Close()
			if r > 0 {
				best = max(best, 2*float64(n)*float64(n)*float64(n)/sec/1e9)
			}
		}
		return nil
	})
	if err != nil {
		return 0, fmt.Errorf("roofline: %s matmul: %w", dt, err)
	}
	return best, nil
}

// Peaks are the float32 and bfloat16 matmul peaks of one run, in GFLOP/s.
type Peaks struct{ FP32, BF16 float64 }

// Measure measures both peaks (n = 1024, 5 products each; bfloat16 with n = 512 and 2 products when the CPU has no
// native bfloat16, which is then emulated and slow).
func Measure() (Peaks, error) {
	var p Peaks
	var err error
	if p.FP32, err = MatmulPeak(torch.Float32, 1024, 5); err != nil {
		return p, err
	}
	n, reps := 1024, 5
	if !torch.BF16Supported() {
		n, reps = 512, 2
	}
	p.BF16, err = MatmulPeak(torch.BFloat16, n, reps)
	return p, err
}

// String is the roofline line of a benchmark.
func (p Peaks) String() string {
	native := "native: " + torch.CPUBF16Flag()
	if !torch.BF16Supported() {
		native = "emulated: no avx512_bf16/amx_bf16"
	}
	return fmt.Sprintf("matmul peak this run (libtorch, %d threads): fp32 %.1f GFLOP/s, bf16 %.1f GFLOP/s (%s)",
		torch.NumThreads(), p.FP32, p.BF16, native)
}

// Fraction formats achieved GFLOP/s and its share of peak.
func Fraction(flops, seconds, peak float64) string {
	g := flops / seconds / 1e9
	return fmt.Sprintf("%6.1f GFLOP/s = %3.0f%% of peak", g, 100*g/peak)
}
