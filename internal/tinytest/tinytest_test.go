package tinytest

import (
	"math"
	"runtime"
	"testing"
)

// recorder is a testing.TB that records a failure instead of failing the test.
type recorder struct {
	testing.TB
	failed bool
}

func (r *recorder) Helper()               {}
func (r *recorder) Errorf(string, ...any) { r.failed = true }
func (r *recorder) Fatalf(string, ...any) { r.failed = true; runtime.Goexit() }
func (r *recorder) FailNow()              { r.failed = true; runtime.Goexit() }
func (r *recorder) Fail()                 { r.failed = true }
func (r *recorder) Failed() bool          { return r.failed }

// fails reports whether f fails the recorder it is given.
func fails(t *testing.T, f func(tb testing.TB)) bool {
	r := &recorder{TB: t}
	done := make(chan struct{})
	go func() { defer close(done); f(r) }()
	<-done
	return r.failed
}

func TestRequireCloseCanFail(t *testing.T) {
	want := []float64{1, -2, 1e-7}
	for _, c := range []struct {
		name string
		got  []float64
		fail bool
	}{
		{"equal", []float64{1, -2, 1e-7}, false},
		{"within atol + rtol*|want|", []float64{1 + 1e-5, -2 - 1e-5, 5e-6}, false},
		{"outside", []float64{1 + 2e-5, -2, 1e-7}, true},
		{"shorter", []float64{1, -2}, true},
		{"NaN", []float64{1, math.NaN(), 1e-7}, true},
		{"Inf", []float64{1, -2, math.Inf(1)}, true},
	} {
		if got := fails(t, func(tb testing.TB) { RequireClose(tb, want, c.got, c.name) }); got != c.fail {
			t.Errorf("%s: failed %v, want %v", c.name, got, c.fail)
		}
	}
	// NaN in both is not a pass either (the values must be finite)
	if !fails(t, func(tb testing.TB) { RequireClose(tb, []float64{math.NaN()}, []float64{math.NaN()}, "nan") }) {
		t.Error("NaN against NaN passed")
	}
}

func TestRequireGradsCloseCanFail(t *testing.T) {
	want := map[string][]float32{"a": {1, 2}, "b": {3}}
	if fails(t, func(tb testing.TB) { RequireGradsClose(tb, want, map[string][]float32{"a": {1, 2}, "b": {3}}, "same") }) {
		t.Error("equal gradients failed")
	}
	for name, got := range map[string]map[string][]float32{
		"missing":  {"a": {1, 2}},
		"renamed":  {"a": {1, 2}, "c": {3}},
		"extra":    {"a": {1, 2}, "b": {3}, "c": {4}},
		"off":      {"a": {1, 2.001}, "b": {3}},
		"too long": {"a": {1, 2, 0}, "b": {3}},
	} {
		if !fails(t, func(tb testing.TB) { RequireGradsClose(tb, want, got, name) }) {
			t.Errorf("%s: passed", name)
		}
	}
}
