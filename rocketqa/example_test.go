package rocketqa_test

import (
	"context"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"

	"github.com/rocketqa-go/rocketqa/rocketqa"
	"github.com/rocketqa-go/rocketqa/torch"
	"github.com/rocketqa-go/rocketqa/train"
)

// A dual encoder trained with a custom loss: a listwise softmax over each query's own group (positive first),
// without in-batch negatives. The loss sees the query vectors [B,H] and the grouped passage vectors [B*G,H].
func ExampleTrainDual_customLoss() {
	dir, _ := os.MkdirTemp("", "rocketqa-example")
	defer os.RemoveAll(dir)
	lines := filepath.Join(dir, "dual.train.tsv") // query, title+, para+, title-, para-, 0
	_ = os.WriteFile(lines, []byte(strings.Repeat("a b\t\tc d a\t\te f\t0\n", 8)), 0o644)
	ownGroup := func(s *torch.Scope, r rocketqa.Reps) *torch.Tensor {
		scores := r.P.Reshape(r.B(), int64(r.G), -1).Mul(r.Q.Reshape(r.B(), 1, -1)).Sum(2) // [B, G]
		return torch.CrossEntropy(scores, s.Zeros([]int64{r.B()}, torch.Int64, r.Q.Device()))
	}
	tiny := "../encoder/testdata/tiny_ernie/"
	res, err := rocketqa.TrainDual(context.Background(), rocketqa.DualConfig{
		InitSpec:  rocketqa.InitSpec{Config: tiny + "config.json", Vocab: tiny + "vocab.txt"},
		TrainFile: lines, QMaxLen: 8, PMaxLen: 16, Loss: ownGroup,
		Train: train.Options{OutDir: filepath.Join(dir, "model"), BatchSize: 4, MaxSteps: 3, LR: 1e-3, Log: io.Discard},
	})
	if err != nil {
		fmt.Println(err)
		return
	}
	fmt.Println("steps:", res.Steps, "saved:", filepath.Base(res.FinalDir))
	// Output: steps: 3 saved: final
}
