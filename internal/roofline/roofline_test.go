package roofline

import (
	"math"
	"testing"
)

// TestEncoderFLOPs: BERT-base (768 × 12, feed-forward 3072) on one 384-token sequence is 2 FLOPs per weight of
// the 12 layers' matrices (12 × (4·768² + 2·768·3072) weights) per token, plus the two attention products
// (2 · 2·384²·768 per layer): 70.7 GFLOP.
func TestEncoderFLOPs(t *testing.T) {
	weights := 12.0 * (4*768*768 + 2*768*3072)
	want := 2*weights*384 + 12*2*2*384*384*768
	got := EncoderFLOPs(768, 3072, 12, 1, 384)
	if math.Abs(got-want) > 1e-9*want || math.Abs(got-70.7e9) > 0.1e9 {
		t.Fatalf("EncoderFLOPs = %.4g, want %.4g (~70.7e9)", got, want)
	}
	if b := EncoderFLOPs(768, 3072, 12, 16, 384); math.Abs(b-16*got) > 1e-9*b {
		t.Fatalf("16 rows: %.4g, want 16 × %.4g", b, got)
	}
	if TrainFLOPs(got) != 3*got {
		t.Fatal("TrainFLOPs")
	}
}
