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

// MatmulPeak measures the best GFLOP/s of an [m, k] by [k, n] matrix product in dtype dt on the CPU with libtorch's
// current thread count: two untimed products (thread pool and caches warm), then timed ones until minTime has
// passed (at least 3). A fixed handful of products measured a cold machine: 105 GFLOP/s fp32 where the same run's
// encoder then reached 150.
func MatmulPeak(dt torch.DType, m, k, n int, minTime time.Duration) (float64, error) {
	best := 0.0
	err := torch.With(func(s *torch.Scope) error {
		a := s.Randn([]int64{int64(m), int64(k)}, torch.Float32, torch.CPU).To(dt)
		b := s.Randn([]int64{int64(k), int64(n)}, torch.Float32, torch.CPU).To(dt)
		if err := a.Err(); err != nil {
			return err
		}
		start := time.Time{}
		for r := 0; r < 5 || time.Since(start) < minTime; r++ {
			if r == 2 {
				start = time.Now()
			}
			t0 := time.Now()
			c := a.MatMul(b)
			if err := c.Err(); err != nil {
				return err
			}
			sec := time.Since(t0).Seconds()
			c.Close()
			if r >= 2 {
				best = max(best, 2*float64(m)*float64(k)*float64(n)/sec/1e9)
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

// peakShapes are the products Measure tries: a square one and BERT-base's feed-forward product on 4096 tokens.
var peakShapes = [][3]int{{1024, 1024, 1024}, {4096, 768, 3072}}

// Measure measures both peaks: the best over peakShapes, each timed for a second (see MatmulPeak). Without native
// bfloat16 (emulated and slow) the bfloat16 peak is one 512-square product timed briefly.
func Measure() (Peaks, error) {
	var p Peaks
	peak := func(dt torch.DType, shapes [][3]int, minTime time.Duration) (float64, error) {
		best := 0.0
		for _, sh := range shapes {
			g, err := MatmulPeak(dt, sh[0], sh[1], sh[2], minTime)
			if err != nil {
				return 0, err
			}
			best = max(best, g)
		}
		return best, nil
	}
	var err error
	if p.FP32, err = peak(torch.Float32, peakShapes, time.Second); err != nil {
		return p, err
	}
	if torch.BF16Supported() {
		p.BF16, err = peak(torch.BFloat16, peakShapes, time.Second)
	} else {
		p.BF16, err = peak(torch.BFloat16, [][3]int{{512, 512, 512}}, 0)
	}
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
