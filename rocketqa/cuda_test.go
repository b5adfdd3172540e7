package rocketqa

// CUDA checks of the dual and cross training steps, run by scripts/gpu-check.sh (-test.run 'TestCUDA'). They skip
// without a CUDA device unless ROCKETQA_TEST_DEVICE=cpu, which runs them with the CPU as the device under test (the
// --cpu mode of the script: it proves the plumbing, not CUDA). Each prints one "GPUCHECK|row|status|detail" line for
// the script's table.

import (
	"fmt"
	"math"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/rocketqa-go/rocketqa/internal/closeto"
	"github.com/rocketqa-go/rocketqa/internal/gpucheck"
	"github.com/rocketqa-go/rocketqa/internal/tinytest"
	"github.com/rocketqa-go/rocketqa/torch"
)

// stepTol: a whole training step on another device sums in another order; gradients are compared normwise
// (|got - want| <= atol + rtol*max|want| per tensor).
var stepTol = closeto.Tol{RTol: 1e-5, ATol: 1e-5}

// compareSteps compares the loss (elementwise) and then the gradients (normwise) of a step with a reference step,
// by stepTol; it returns the largest |diff| of the gradients compared and the first mismatch.
func compareSteps(wantLoss, gotLoss float64, want, got map[string][]float32) (float64, error) {
	if err := closeto.Number(gotLoss, wantLoss, stepTol); err != nil {
		return 0, err
	}
	worst := 0.0
	for name, w := range want {
		g, ok := got[name]
		if !ok {
			return worst, fmt.Errorf("no gradient for %s", name)
		}
		worst = math.Max(worst, closeto.MaxAbsDiff(g, w))
		if err := closeto.Normwise(g, w, stepTol); err != nil {
			return worst, fmt.Errorf("grad %s: %w", name, err)
		}
	}
	return worst, nil
}

func dualStepOn(t *testing.T, dev torch.Device, gradCache, autocast bool) (float64, map[string][]float32) {
	task := tinyTask(t, 10, false)
	require.NoError(t, task.Model.ToDevice(dev))
	task.Device, task.GradCache, task.ChunkSize = dev, gradCache, 3
	var loss float64
	run := func() {
		s := torch.NewScope()
		defer s.Close()
		var err error
		loss, err = task.Step(s, []int{0, 1, 2, 3, 4, 5, 6, 7})
		require.NoError(t, err)
	}
	if autocast {
		require.NoError(t, torch.Autocast(dev.Type, torch.BFloat16, run))
	} else {
		run()
	}
	return loss, tinytest.Grads(t, task.Params())
}

// TestCUDADualStep: one dual-encoder step (cross-batch loss, dropout off) on the device equals the CPU step.
func TestCUDADualStep(t *testing.T) {
	dev := gpucheck.Device(t)
	cpuLoss, cpuGrads := dualStepOn(t, torch.CPU, false, false)
	devLoss, devGrads := dualStepOn(t, dev, false, false)
	worst, err := compareSteps(cpuLoss, devLoss, cpuGrads, devGrads)
	gpucheck.Row(t, "dual step "+dev.String()+" vs cpu", err, "loss %.7f vs %.7f; %d grads, max|diff| %.2g", devLoss, cpuLoss, len(cpuGrads), worst)
}

// TestCUDACrossStep: one cross-encoder step (dropout off) on the device equals the CPU step.
func TestCUDACrossStep(t *testing.T) {
	dev := gpucheck.Device(t)
	step := func(d torch.Device) (float64, map[string][]float32) {
		task := tinyCrossTask(t, false)
		require.NoError(t, task.Model.ToDevice(d))
		task.Device = d
		return tinytest.Step(t, task, []int{0, 1, 2, 3, 4, 5})
	}
	cpuLoss, cpuGrads := step(torch.CPU)
	devLoss, devGrads := step(dev)
	worst, err := compareSteps(cpuLoss, devLoss, cpuGrads, devGrads)
	gpucheck.Row(t, "cross step "+dev.String()+" vs cpu", err, "loss %.7f vs %.7f; %d grads, max|diff| %.2g", devLoss, cpuLoss, len(cpuGrads), worst)
}

// TestCUDAGradCache: on the device, the grad-cached step (dropout on, RNG state replayed) gives the loss and the
// gradients of the full step.
func TestCUDAGradCache(t *testing.T) {
	dev := gpucheck.Device(t)
	run := func(gc bool) (float64, map[string][]float32) {
		task := tinyTask(t, 10, true)
		require.NoError(t, task.Model.ToDevice(dev))
		task.Device, task.GradCache, task.ChunkSize = dev, gc, 3
		torch.ManualSeed(9)
		return tinytest.Step(t, task, []int{0, 1, 2, 3, 4, 5, 6, 7})
	}
	fullLoss, full := run(false)
	gcLoss, cached := run(true)
	worst, err := compareSteps(fullLoss, gcLoss, full, cached)
	gpucheck.Row(t, "grad cache "+dev.String()+" (exact vs full step)", err, "loss %.7f vs %.7f, max|grad diff| %.2g", gcLoss, fullLoss, worst)
}

// TestCUDAAutocastBF16: the dual step under bfloat16 autocast on the device stays within 1e-2 of the fp32 loss;
// reports the speed ratio of the two (tiny model: the ratio says little about BERT-base, see the throughput rows).
func TestCUDAAutocastBF16(t *testing.T) {
	dev := gpucheck.Device(t)
	timed := func(ac bool) (float64, time.Duration) {
		loss, _ := dualStepOn(t, dev, false, ac) // warm-up and the loss
		t0 := time.Now()
		for i := 0; i < 3; i++ {
			dualStepOn(t, dev, false, ac)
		}
		require.NoError(t, torch.Synchronize(dev))
		return loss, time.Since(t0) / 3
	}
	fp32, t32 := timed(false)
	bf16, t16 := timed(true)
	var err error
	if d := math.Abs(bf16 - fp32); d > 1e-2 {
		err = fmt.Errorf("bf16 loss %.6f is %.3g from fp32 %.6f (limit 1e-2)", bf16, d, fp32)
	}
	gpucheck.Row(t, "autocast bf16 "+dev.String()+" (tiny dual step)", err, "loss bf16 %.6f fp32 %.6f |diff| %.2g; fp32/bf16 time %.2fx",
		bf16, fp32, math.Abs(bf16-fp32), t32.Seconds()/t16.Seconds())
}
