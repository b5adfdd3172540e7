package rocketqa

import (
	"context"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/rocketqa-go/rocketqa/dataset"
	"github.com/rocketqa-go/rocketqa/eval"
	"github.com/rocketqa-go/rocketqa/train"
)

func TestSearchExact(t *testing.T) {
	pool := [][]float32{{1, 0}, {0, 1}, {0.5, 0.5}, {-1, 0}}
	hits, err := SearchExact([][]float32{{1, 0.1}, {-1, -0.2}}, pool, []string{"a", "b", "c", "d"}, 3)
	require.NoError(t, err)
	require.Equal(t, []string{"a", "c", "b"}, []string{hits[0][0].PID, hits[0][1].PID, hits[0][2].PID})
	require.InDelta(t, 1.0, hits[0][0].Score, 1e-6)
	require.Equal(t, []string{"d", "b", "c"}, []string{hits[1][0].PID, hits[1][1].PID, hits[1][2].PID})
}

// TestTrainingEvaluatesAndKeepsBest: with a dev set, the trainer scores MRR@10 during training, logs it to
// metrics.jsonl and keeps the best model in OutDir/best.
func TestTrainingEvaluatesAndKeepsBest(t *testing.T) {
	task := tinyTask(t, 24, true)
	dev := &DevSet{Qrels: eval.Qrels{}, Pool: dataset.NewPassages()}
	for i, ex := range task.Examples[:12] {
		pid := fmt.Sprintf("p%d", i)
		require.NoError(t, dev.Pool.Add(pid, ex.PosTitle, ex.PosPara))
		qid := fmt.Sprintf("q%d", i)
		dev.QIDs, dev.Queries = append(dev.QIDs, qid), append(dev.Queries, ex.Query)
		dev.Qrels.Add(qid, pid)
	}
	dir := t.TempDir()
	res, err := train.Run(context.Background(), task, train.Options{OutDir: dir, BatchSize: 4, MaxSteps: 6, LR: 1e-3,
		EvalEvery: 3, Eval: task.Evaluator(dev, 8), Log: io.Discard})
	require.NoError(t, err)
	require.False(t, res.Best != res.Best, "a best score was recorded")
	require.Contains(t, []int{3, 6}, res.BestStep)
	require.FileExists(t, filepath.Join(dir, "best", "rocketqa.json"))
	b, err := os.ReadFile(filepath.Join(dir, "metrics.jsonl"))
	require.NoError(t, err)
	require.Equal(t, 2, strings.Count(string(b), `"MRR@10"`), "two evaluations logged")
	require.Equal(t, 6, strings.Count(string(b), `"loss"`), "one line per step")
}
