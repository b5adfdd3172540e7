package rocketqa

import (
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
	tinytest.RequireCachedStepExact(t, task, []int{0, 1, 2, 3, 4, 5, 6, 7}, func(on bool) { task.GradCache = on })
}

// TestResumeIsExact: a run stopped at step 3 and resumed ends with the weights of an uninterrupted 6-step run.
func TestResumeIsExact(t *testing.T) {
	tinytest.RequireResumeExact(t, func() train.Task { return tinyTask(t, 24, true) }, train.Options{BatchSize: 4, MaxSteps: 6,
		LR: 1e-3, WarmupProportion: 0.2, SaveEvery: 3, Seed: 5, Log: io.Discard}, 3)
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
