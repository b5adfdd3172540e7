package closeto

import (
	"math"
	"testing"

	"github.com/stretchr/testify/require"
)

func TestRule(t *testing.T) {
	// the two failures of issue 9 on AMD EPYC: relative 4e-7 at 30,956 passes; 1.34e-5 at ~0.1 does not
	require.NoError(t, Number(30956.01171875, 30956, Float32))
	require.Error(t, Number(0.1+1.34e-5, 0.1, Float32))
	require.NoError(t, Number(0.1+1.01e-5, 0.1, Float32)) // limit 1e-5 + 1.3e-7
	require.Error(t, Number(0.1+1.02e-5, 0.1, Float32))
	require.NoError(t, Number(math.Inf(1), math.Inf(1), Float32))
	require.Error(t, Number(math.Inf(1), math.Inf(-1), Float32))
	require.Error(t, Number(1, math.Inf(1), Float32))
	require.NoError(t, Number(math.NaN(), math.NaN(), Float32))
	require.Error(t, Number(math.NaN(), 0, Float32))
	require.Error(t, Number(0, math.NaN(), Float32))
	require.Error(t, Number(1e-30, 0, Exact))
	require.NoError(t, Number(-0.0, 0, Exact))
}

func TestSlices(t *testing.T) {
	require.NoError(t, Slices([]float32{1, 2, 1000}, []float32{1, 2.000005, 1000.001}, Float32))
	err := Slices([]float32{1, 2, 3}, []float32{1.1, 2, 3.001}, Float32)
	require.ErrorContains(t, err, "2 of 3 elements differ; worst [0]")
	require.ErrorContains(t, Slices([]float64{1}, []float64{1, 2}, Float64), "length 1, want 2")
	require.InDelta(t, 0.1, MaxAbsDiff([]float64{1, 2}, []float64{1.1, 2}), 1e-12)
	require.True(t, math.IsInf(MaxAbsDiff([]float64{math.NaN()}, []float64{1}), 1))
}

func TestNormwise(t *testing.T) {
	// a mask gradient (x10000) of issue 9 on another BLAS kernel: 0.0125 off at 2557 in a tensor reaching 30956
	got, want := []float32{-2557.17407, 30956}, []float32{-2557.18652, 30956}
	require.Error(t, Slices(got, want, Float32))
	require.NoError(t, Normwise(got, want, Float32))
	require.ErrorContains(t, Normwise([]float32{0.1, 1}, []float32{0.1001, 1}, Float32), "normwise (atol 1e-05 + rtol 1.3e-06 * max|want| 1)")
	require.Error(t, Normwise([]float64{math.NaN()}, []float64{1}, Float32))
	require.NoError(t, Normwise([]float64{math.Inf(1), 1}, []float64{math.Inf(1), 1}, Float32))
}

func TestCosine(t *testing.T) {
	if c := Cosine([]float32{1, 2, 3}, []float32{2, 4, 6}); math.Abs(c-1) > 1e-12 {
		t.Fatalf("parallel: %v", c)
	}
	if c := Cosine([]float64{1, 0}, []float64{0, 3}); c != 0 {
		t.Fatalf("orthogonal: %v", c)
	}
	if c := Cosine([]float64{1, 1}, []float64{-1, -1}); math.Abs(c+1) > 1e-12 {
		t.Fatalf("opposite: %v", c)
	}
}
