package jointtrain

import (
	"fmt"
	"io"
	"os"
	"path/filepath"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/rocketqa-go/rocketqa/encoder"
	"github.com/rocketqa-go/rocketqa/internal/tinytest"
	"github.com/rocketqa-go/rocketqa/torch"
	"github.com/rocketqa-go/rocketqa/train"
)

// TestChunkedStepEqualsFullStep: with dropout on, the two-pass chunked step gives the loss and gradients of the
// plain step over the same chunks (same dropout masks), for chunk sizes that divide m = 4 and that do not, for the
// official and seed variants and with queries encoded once; a chunked step without dropout also equals the
// unchunked one; and two plain steps differ (the masks are live, so a mask mismatch would show).
func TestChunkedStepEqualsFullStep(t *testing.T) {
	const m = 4
	lists := tinytest.JointLists(t, 6, m, 3)
	idx := []int{0, 1, 2}
	for _, c := range []struct {
		v     Variant
		once  bool
		chunk int
	}{{Official, false, 2}, {Official, false, 3}, {Seed, false, 5}, {Official, true, 3}, {Paper, false, 4}, {Static, false, 3}} {
		t.Run(fmt.Sprintf("%s/once=%v/chunk=%d", c.v, c.once, c.chunk), func(t *testing.T) {
			task := tinyTask(t, lists, m, true)
			task.Variant, task.QueryOnce, task.ChunkSize = c.v, c.once, c.chunk
			tinytest.RequireCachedStepExact(t, task, idx, func(on bool) { task.Cached = on })
		})
	}
	t.Run("no-dropout/chunk=3-vs-whole", func(t *testing.T) {
		task := tinyTask(t, lists, m, false)
		whole, wg := tinytest.Step(t, task, idx)
		task.Cached, task.ChunkSize = true, 3
		cl, cg := tinytest.Step(t, task, idx)
		tinytest.RequireClose(t, []float64{whole}, []float64{cl}, "loss")
		tinytest.RequireGradsClose(t, wg, cg, "grad")
	})
}

// TestResumeIsExact: a joint run stopped at step 3 and resumed in a fresh task ends with the weights of an
// uninterrupted 6-step run, bit for bit (CPU), with the chunked step and dropout on.
func TestResumeIsExact(t *testing.T) {
	lists := tinytest.JointLists(t, 16, 3, 5)
	tinytest.RequireResumeExact(t, func() train.Task {
		task := tinyTask(t, lists, 3, true)
		task.Cached, task.ChunkSize = true, 4
		return task
	}, train.Options{BatchSize: 2, MaxSteps: 6, LR: 1e-3, Schedule: train.Constant, SaveEvery: 3, Seed: 5, Log: io.Discard}, 3)
}

// ---- two processes, lists sharded, equal one process with all lists ----

const twoProcBatch, twoProcSeed = 4, 11

// TestTwoProcessesEqualOne: two processes, each given its shard of a step's lists by train.Batches, with the
// gradients averaged as the trainer does, give the loss and gradients of one process with all the step's lists.
func TestTwoProcessesEqualOne(t *testing.T) {
	res := tinytest.TwoProcesses(t, "TestJointWorker")
	task := tinyTask(t, tinytest.JointLists(t, 12, 3, 8), 3, false)
	idx, err := train.Batches(task.NumExamples(), twoProcBatch, 0, twoProcSeed, 0, 1)
	require.NoError(t, err)
	loss, want := tinytest.Step(t, task, idx)
	for r := range res {
		tinytest.RequireClose(t, []float64{loss}, []float64{res[r].Loss}, fmt.Sprintf("rank %d loss", r))
		tinytest.RequireGradsClose(t, want, res[r].Grads, fmt.Sprintf("rank %d grad", r))
	}
}

// TestJointWorker is one process of TestTwoProcessesEqualOne.
func TestJointWorker(t *testing.T) {
	tinytest.Worker(t, func(pg *torch.ProcessGroup, s *torch.Scope) (float64, []encoder.Param, error) {
		task := tinyTask(t, tinytest.JointLists(t, 12, 3, 8), 3, false)
		task.Cached, task.ChunkSize = true, 2
		idx, err := train.Batches(task.NumExamples(), twoProcBatch, 0, twoProcSeed, pg.Rank(), 2)
		if err != nil {
			return 0, nil, err
		}
		if len(idx) != twoProcBatch/2 {
			return 0, nil, fmt.Errorf("rank %d got %d lists", pg.Rank(), len(idx))
		}
		loss, err := task.Step(s, idx)
		return loss, task.Params(), err
	})
}

// TestBadInput: malformed list blocks, a list size that is not the file's, and towers of different hidden sizes
// give errors that say what is wrong and where.
func TestBadInput(t *testing.T) {
	dir := t.TempDir()
	write := func(name, s string) string {
		p := filepath.Join(dir, name)
		require.NoError(t, os.WriteFile(p, []byte(s), 0o644))
		return p
	}
	good := "q1\tt\tp1\t1\nq1\tt\tp2\t0\nq1\tt\tp3\t0\nq2\tt\tp4\t1\nq2\tt\tp5\t0\nq2\tt\tp6\t0\n"
	p := write("good.tsv", good)
	ls, err := ReadLists(p, 3)
	require.NoError(t, err)
	require.Len(t, ls, 2)

	_, err = ReadLists(p, 2) // m mismatch: the query changes inside the second block of 2
	require.ErrorContains(t, err, "good.tsv:4: query differs")
	require.ErrorContains(t, err, "is 2 the file's list size?")
	six := "q1\tt\tp1\t1\nq1\tt\tp2\t0\nq1\tt\tp3\t0\nq1\tt\tp4\t0\nq1\tt\tp5\t0\nq1\tt\tp6\t0\n"
	_, err = ReadLists(write("six.tsv", six), 3) // m mismatch: the second block of 3 starts with a negative
	require.ErrorContains(t, err, "six.tsv:4: the first line of a list must be its positive (label 1), got label 0 (is 3 the file's list size?)")
	_, err = ReadLists(p, 4) // m mismatch: the query changes inside a block
	require.ErrorContains(t, err, "good.tsv:4:")
	require.ErrorContains(t, err, "is 4 the file's list size?")
	_, err = ReadLists(write("trunc.tsv", good[:len(good)-len("q2\tt\tp6\t0\n")]), 3)
	require.ErrorContains(t, err, "trunc.tsv:5: file ends inside a list")
	_, err = ReadLists(write("neg.tsv", "q1\tt\tp1\t0\nq1\tt\tp2\t1\nq1\tt\tp3\t0\n"), 3)
	require.ErrorContains(t, err, "neg.tsv:1: the first line of a list must be its positive (label 1), got label 0")
	_, err = ReadLists(write("cols.tsv", "q1\tt\tp1\t1\nq1\tp2\t0\nq1\tt\tp3\t0\n"), 3)
	require.ErrorContains(t, err, "cols.tsv:2:")
	_, err = ReadLists(write("empty.tsv", ""), 3)
	require.ErrorContains(t, err, "empty.tsv: no list of 3 lines")

	// a list of the wrong size in memory
	task := tinyTask(t, tinytest.JointLists(t, 2, 3, 1), 4, false)
	require.ErrorContains(t, task.Check(), "list 0")
	s := torch.NewScope()
	_, err = task.Step(s, []int{0})
	s.Close()
	require.ErrorContains(t, err, "has 3 items, want 4")

	// towers of different hidden sizes
	cfg, err := encoder.ReadConfig(filepath.Join(tinytest.ErnieDir(t), "config.json"))
	require.NoError(t, err)
	wide := *cfg
	wide.HiddenSize, wide.IntermediateSize = 48, 96
	pw, err := encoder.NewBERT(&wide, false)
	require.NoError(t, err)
	task = tinyTask(t, tinytest.JointLists(t, 2, 3, 1), 3, false)
	task.DE.Para.Close()
	task.DE.Para = pw
	require.ErrorContains(t, task.Check(), "query tower has hidden size 32, the passage tower 48")
	s = torch.NewScope()
	_, err = task.Step(s, []int{0})
	s.Close()
	require.ErrorContains(t, err, "hidden size 32, the passage tower 48")
}
