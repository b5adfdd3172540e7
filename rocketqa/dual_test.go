package rocketqa

import (
	"context"
	"fmt"
	"io"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/rocketqa-go/rocketqa/encoder"
	"github.com/rocketqa-go/rocketqa/internal/tinytest"
	"github.com/rocketqa-go/rocketqa/torch"
	"github.com/rocketqa-go/rocketqa/train"
)

func tinyTask(t *testing.T, n int, dropout bool) *DualTask {
	cfg := tinytest.Config(t, dropout)
	torch.ManualSeed(42)
	q, err := encoder.NewBERT(cfg, false)
	require.NoError(t, err)
	p, err := encoder.NewBERT(cfg, false)
	require.NoError(t, err)
	m := encoder.NewDualEncoder(q, p)
	t.Cleanup(m.Close)
	return &DualTask{Model: m, Tok: tinytest.Tokenizer(t), Examples: tinytest.DualExamples(t, n, 1), Vocab: tinytest.Vocab(t),
		Info: encoder.ModelInfo{QMaxSeqLen: 8, PMaxSeqLen: 16}, CrossBatch: true}
}

// TestGradCacheEqualsFullBatch: with dropout active, the grad-cached step gives the gradients of the plain
// full-batch step (same chunks, same dropout masks).
func TestGradCacheEqualsFullBatch(t *testing.T) {
	task := tinyTask(t, 10, true)
	task.ChunkSize = 3
	idx := []int{0, 1, 2, 3, 4, 5, 6, 7}
	torch.ManualSeed(9)
	plainLoss, plain := tinytest.Step(t, task, idx)
	torch.ManualSeed(9)
	task.GradCache = true
	gcLoss, cached := tinytest.Step(t, task, idx)
	tinytest.RequireClose(t, []float64{plainLoss}, []float64{gcLoss}, "loss")
	tinytest.RequireGradsClose(t, plain, cached, "grad")
	t.Logf("loss %.6f; %d gradient tensors within the tolerance rule", plainLoss, len(plain))

	// and the dropout masks really differ between two plain steps (so the test would catch a mask mismatch)
	task.GradCache = false
	other, _ := tinytest.Step(t, task, idx)
	require.NotEqual(t, plainLoss, other)
}

// TestResumeIsExact: a run stopped at step 3 and resumed ends with the weights of an uninterrupted 6-step run.
func TestResumeIsExact(t *testing.T) {
	run := func(dir string, stopAfter int) []float32 {
		task := tinyTask(t, 24, true)
		o := train.Options{OutDir: dir, BatchSize: 4, MaxSteps: 6, LR: 1e-3, WarmupProportion: 0.2, SaveEvery: 3,
			Seed: 5, StopAfter: stopAfter, Log: io.Discard}
		_, err := train.Run(context.Background(), task, o)
		require.NoError(t, err)
		if stopAfter > 0 {
			// a fresh process: new model, new optimizer, resumed from the checkpoint
			task = tinyTask(t, 24, true)
			o.StopAfter = 0
			res, err := train.Run(context.Background(), task, o)
			require.NoError(t, err)
			require.Equal(t, 3, res.Resumed)
		}
		return tinytest.Weights(t, task.Params())
	}
	full := run(t.TempDir(), 0)
	resumed := run(t.TempDir(), 3)
	require.Equal(t, full, resumed, "bit-identical weights after kill and resume")
}

// ---- two processes: cross-batch negatives across processes equal one process on the concatenated batch ----

func TestCrossBatchTwoProcesses(t *testing.T) {
	res := tinytest.TwoProcesses(t, "TestCrossBatchWorker")
	// single process, concatenated batch of 8
	loss, want := tinytest.Step(t, tinyTask(t, 16, false), []int{0, 1, 2, 3, 4, 5, 6, 7})
	for r := range res {
		tinytest.RequireClose(t, []float64{loss}, []float64{res[r].Loss}, fmt.Sprintf("rank %d loss", r))
		tinytest.RequireGradsClose(t, want, res[r].Grads, fmt.Sprintf("rank %d grad", r))
	}
}

// TestCrossBatchWorker is one process of TestCrossBatchTwoProcesses: local batch of 4, loss with gathered
// passages, gradients averaged over the processes as the trainer does.
func TestCrossBatchWorker(t *testing.T) {
	tinytest.Worker(t, func(pg *torch.ProcessGroup, s *torch.Scope) (float64, []encoder.Param, error) {
		task := tinyTask(t, 16, false)
		task.PG = pg
		r := pg.Rank()
		loss, err := task.Step(s, []int{4 * r, 4*r + 1, 4*r + 2, 4*r + 3})
		return loss, task.Params(), err
	})
}
