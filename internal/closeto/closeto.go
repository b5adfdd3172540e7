// Package closeto compares floating-point results with a reference the way PyTorch's torch.testing.assert_close
// does: an element passes when |got - want| <= ATol + RTol*|want|. Tests use it instead of exact equality or a bare
// absolute tolerance, because results of the same float32 computation differ in their last bits between CPUs (Intel
// and AMD, BLAS kernels chosen by OPENBLAS_CORETYPE) and thread counts; a fixed absolute tolerance is both too tight
// for large values and too loose for small ones.
package closeto

import (
	"fmt"
	"math"
)

// Tol is a tolerance pair of the assert_close rule |got - want| <= ATol + RTol*|want|.
type Tol struct {
	RTol, ATol float64
}

// Float32 is assert_close's default tolerance for float32 results (rtol 1.3e-6, atol 1e-5).
var Float32 = Tol{RTol: 1.3e-6, ATol: 1e-5}

// Float64 is assert_close's default tolerance for float64 results (rtol 1e-7, atol 1e-7).
var Float64 = Tol{RTol: 1e-7, ATol: 1e-7}

// Exact accepts bit-identical values only (NaN still matches NaN).
var Exact = Tol{}

// Ok reports whether one value passes: equal infinities and two NaNs pass, a NaN against a number does not.
func (tol Tol) Ok(got, want float64) bool {
	if math.IsNaN(got) || math.IsNaN(want) {
		return math.IsNaN(got) && math.IsNaN(want)
	}
	if got == want {
		return true
	}
	if math.IsInf(got, 0) || math.IsInf(want, 0) {
		return false
	}
	return math.Abs(got-want) <= tol.ATol+tol.RTol*math.Abs(want)
}

// Number compares two scalars; the error (nil when they pass) states both values and the tolerance.
func Number(got, want float64, tol Tol) error {
	if tol.Ok(got, want) {
		return nil
	}
	return fmt.Errorf("got %.9g, want %.9g: |diff| %.3g > atol %.3g + rtol %.3g * |want| = %.3g",
		got, want, math.Abs(got-want), tol.ATol, tol.RTol, tol.ATol+tol.RTol*math.Abs(want))
}

// Slices compares got with want element by element. The error (nil when all pass) gives the number of
// mismatched elements and the worst one (the largest |diff| / (atol + rtol*|want|)) with its index.
func Slices[T float32 | float64](got, want []T, tol Tol) error {
	if len(got) != len(want) {
		return fmt.Errorf("length %d, want %d", len(got), len(want))
	}
	bad, worst, worstRatio := 0, -1, 0.0
	for i := range got {
		g, w := float64(got[i]), float64(want[i])
		if tol.Ok(g, w) {
			continue
		}
		bad++
		r := math.Inf(1)
		if lim := tol.ATol + tol.RTol*math.Abs(w); lim > 0 && !math.IsNaN(g-w) && !math.IsInf(g-w, 0) {
			r = math.Abs(g-w) / lim
		}
		if worst < 0 || r > worstRatio {
			worst, worstRatio = i, r
		}
	}
	if bad == 0 {
		return nil
	}
	return fmt.Errorf("%d of %d elements differ; worst [%d]: %v", bad, len(got), worst,
		Number(float64(got[worst]), float64(want[worst]), tol))
}

// Normwise compares as Slices does but scales the relative term by the largest |want| of the whole slice:
// |got[i] - want[i]| <= ATol + RTol*max_j |want[j]|. Use it, and say so, for results that are sums of many terms
// (gradients accumulated over a batch, a mask gradient scaled by 10000): their rounding error follows the size of
// the terms, so an element that nearly cancels to a small value carries the error of the large ones, which the
// elementwise rule would hold to its own small size.
func Normwise[T float32 | float64](got, want []T, tol Tol) error {
	m := 0.0
	for _, w := range want {
		if a := math.Abs(float64(w)); !math.IsInf(a, 0) && !math.IsNaN(a) {
			m = math.Max(m, a)
		}
	}
	scaled := Tol{RTol: 0, ATol: tol.ATol + tol.RTol*m}
	if err := Slices(got, want, scaled); err != nil {
		return fmt.Errorf("normwise (atol %.3g + rtol %.3g * max|want| %.3g): %w", tol.ATol, tol.RTol, m, err)
	}
	return nil
}

// MaxAbsDiff returns max |got[i] - want[i]| (+Inf when a NaN or an infinity mismatches), for test logs.
func MaxAbsDiff[T float32 | float64](got, want []T) float64 {
	m := 0.0
	for i := range got {
		if i >= len(want) {
			return math.Inf(1)
		}
		g, w := float64(got[i]), float64(want[i])
		if g == w || (math.IsNaN(g) && math.IsNaN(w)) {
			continue
		}
		d := math.Abs(g - w)
		if math.IsNaN(d) {
			d = math.Inf(1)
		}
		m = math.Max(m, d)
	}
	return m
}

// Cosine is the cosine similarity of two vectors of equal length, in float64 (NaN when one is all zeros).
func Cosine[T float32 | float64](a, b []T) float64 {
	var ab, aa, bb float64
	for i := range a {
		ab += float64(a[i]) * float64(b[i])
		aa += float64(a[i]) * float64(a[i])
		bb += float64(b[i]) * float64(b[i])
	}
	return ab / math.Sqrt(aa*bb)
}
