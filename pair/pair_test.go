package pair

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"math"
	"os"
	"os/exec"
	"path/filepath"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/rocketqa-go/rocketqa/encoder"
	"github.com/rocketqa-go/rocketqa/internal/tinytest"
	"github.com/rocketqa-go/rocketqa/rocketqa"
	"github.com/rocketqa-go/rocketqa/tokenizer"
	"github.com/rocketqa-go/rocketqa/torch"
	"github.com/rocketqa-go/rocketqa/train"
)

// tinyTask is a shared-tower task over n random lines with PAIR's loss.
func tinyTask(t testing.TB, dir string, n int, loss rocketqa.DualLoss) *rocketqa.DualTask {
	tok, err := tokenizer.New(filepath.Join(dir, "vocab.txt"), tokenizer.DefaultOptions())
	require.NoError(t, err)
	m, err := encoder.LoadBERT(dir, false)
	require.NoError(t, err)
	d := encoder.NewDualEncoder(m, m)
	t.Cleanup(d.Close)
	return &rocketqa.DualTask{Model: d, Tok: tok, Examples: tinytest.DualExamples(t, n, 1), Vocab: filepath.Join(dir, "vocab.txt"),
		Info: encoder.ModelInfo{QMaxSeqLen: 8, PMaxSeqLen: 16}, CrossBatch: true, Loss: loss}
}

type batchJSON struct {
	IDs   []int64 `json:"ids"`
	Types []int64 `json:"types"`
	Mask  []int64 `json:"mask"`
	Rows  int     `json:"rows"`
	Cols  int     `json:"cols"`
}

func padded(tok *tokenizer.Tokenizer, encs []tokenizer.Encoding) batchJSON {
	b := tok.Pad(encs)
	return batchJSON{b.IDs, b.TypeIDs, b.Mask, b.Rows, b.Cols}
}

// TestLossMatchesPyTorch: the loss value and every parameter gradient of a PAIR step equal a plain PyTorch
// re-statement of the official loss (testdata/ref_pair.py on the reference BERT), for α in {0, 0.1, 1}, in
// pre-training and fine-tuning.
func TestLossMatchesPyTorch(t *testing.T) {
	if _, err := exec.Command("/usr/bin/python3", "-c", "import torch").CombinedOutput(); err != nil {
		t.Skip("no /usr/bin/python3 with torch")
	}
	dir := tinytest.ModelDir(t, false)
	task := tinyTask(t, dir, 6, nil)
	idx := []int{3, 0, 5, 1, 4}
	var qs, pos, neg []tokenizer.Encoding
	for _, j := range idx {
		ex := task.Examples[j]
		qs = append(qs, task.Tok.EncodeQuery(ex.Query, task.Info.QMaxSeqLen))
		pos = append(pos, task.Tok.EncodePassage(ex.PosTitle, ex.PosPara, task.Info.PMaxSeqLen))
		neg = append(neg, task.Tok.EncodePassage(ex.NegTitle, ex.NegPara, task.Info.PMaxSeqLen))
	}
	type tcase struct {
		Stage Stage   `json:"stage"`
		Alpha float64 `json:"alpha"`
	}
	var cases []tcase
	for _, st := range []Stage{Pretrain, Finetune} {
		for _, a := range []float64{0, 0.1, 1} {
			cases = append(cases, tcase{st, a})
		}
	}
	in, err := json.Marshal(map[string]any{"model": dir, "q": padded(task.Tok, qs), "p": padded(task.Tok, append(pos, neg...)), "cases": cases})
	require.NoError(t, err)
	inPath, outPath := filepath.Join(t.TempDir(), "in.json"), filepath.Join(t.TempDir(), "out.json")
	require.NoError(t, os.WriteFile(inPath, in, 0o644))
	out, err := exec.Command("/usr/bin/python3", filepath.Join("testdata", "ref_pair.py"), inPath, outPath).CombinedOutput()
	require.NoError(t, err, "%s", out)
	b, err := os.ReadFile(outPath)
	require.NoError(t, err)
	var want []struct {
		Loss  float64
		Grads map[string][]float64
	}
	require.NoError(t, json.Unmarshal(b, &want))
	require.Len(t, want, len(cases))
	losses := map[tcase]float64{}
	for i, c := range cases {
		task.Loss = Loss(c.Stage, c.Alpha)
		loss, got := tinytest.Step(t, task, idx)
		what := fmt.Sprintf("%s α=%v", c.Stage, c.Alpha)
		tinytest.RequireClose(t, []float64{want[i].Loss}, []float64{loss}, what+" loss")
		// the reference has the pooler too (unused: no gradient); every Go parameter must be there
		for name, g := range got {
			require.Contains(t, want[i].Grads, name, what)
			tinytest.RequireClose(t, want[i].Grads[name], tinytest.F64(g), what+" grad "+name)
		}
		losses[c] = loss
	}
	// the passage-centric term is really there (and weighted), and fine-tuning ignores it
	require.Greater(t, math.Abs(losses[tcase{Pretrain, 1}]-losses[tcase{Pretrain, 0}]), 1e-3)
	require.Equal(t, losses[tcase{Finetune, 0}], losses[tcase{Finetune, 1}])
	t.Logf("losses: %v", losses)
}

// TestAlphaZeroIsV1: with α = 0 (and in fine-tuning) PAIR's loss is the RocketQA v1 loss on the shared tower.
func TestAlphaZeroIsV1(t *testing.T) {
	dir := tinytest.ModelDir(t, false)
	task := tinyTask(t, dir, 8, nil)
	idx := []int{0, 1, 2, 3, 4, 5}
	v1Loss, v1 := tinytest.Step(t, task, idx)
	for _, l := range []rocketqa.DualLoss{Loss(Pretrain, 0), Loss(Finetune, 0.1)} {
		task.Loss = l
		loss, g := tinytest.Step(t, task, idx)
		tinytest.RequireClose(t, []float64{v1Loss}, []float64{loss}, "loss")
		tinytest.RequireGradsClose(t, v1, g, "grad")
	}
}

// TestGradCacheEqualsPlain: with dropout on, the grad-cached pre-training step (chunks of 3, restored generator
// state) gives the loss and gradients of the plain step with the same chunks and masks.
func TestGradCacheEqualsPlain(t *testing.T) {
	dir := tinytest.ModelDir(t, true)
	task := tinyTask(t, dir, 10, Loss(Pretrain, 0.1))
	task.ChunkSize = 3
	tinytest.RequireCachedStepExact(t, task, []int{0, 1, 2, 3, 4, 5, 6, 7}, func(on bool) { task.GradCache = on })
}

// ---- two processes (Gloo): cross-batch PAIR equals one process holding the concatenated batch ----

func TestTwoProcesses(t *testing.T) {
	model := tinytest.ModelDir(t, false)
	res := tinytest.TwoProcesses(t, "TestTwoProcessesWorker", "PAIR_TEST_MODEL="+model)
	task := tinyTask(t, model, 16, Loss(Pretrain, 0.1))
	loss, want := tinytest.Step(t, task, []int{0, 1, 2, 3, 4, 5, 6, 7})
	for r := range res {
		tinytest.RequireClose(t, []float64{loss}, []float64{res[r].Loss}, fmt.Sprintf("rank %d loss", r))
		tinytest.RequireGradsClose(t, want, res[r].Grads, fmt.Sprintf("rank %d", r))
	}
}

// TestTwoProcessesWorker is one process of TestTwoProcesses: 4 local lines, gathered candidates, loss and
// gradients averaged over the processes as the trainer does.
func TestTwoProcessesWorker(t *testing.T) {
	tinytest.Worker(t, func(pg *torch.ProcessGroup, s *torch.Scope) (float64, []encoder.Param, error) {
		task := tinyTask(t, os.Getenv("PAIR_TEST_MODEL"), 16, Loss(Pretrain, 0.1))
		task.PG = pg
		r := pg.Rank()
		loss, err := task.Step(s, []int{4 * r, 4*r + 1, 4*r + 2, 4*r + 3})
		return loss, task.Params(), err
	})
}

// ---- Train: the two stages, resume, bad input ----

func tinyConfig(t testing.TB, stage Stage, init, trainFile, out string) Config {
	c := NQFinetune
	if stage == Pretrain {
		c = NQPretrain
	}
	c.Stage = stage
	c.Dual.InitSpec = rocketqa.InitSpec{Init: init}
	c.Dual.TrainFile, c.Dual.QMaxLen, c.Dual.PMaxLen = trainFile, 8, 16
	c.Dual.Train.OutDir, c.Dual.Train.BatchSize, c.Dual.Train.Epochs, c.Dual.Train.LR = out, 4, 2, 1e-3
	c.Dual.Train.SaveEvery, c.Dual.Train.Log = 2, io.Discard
	return c
}

// TestTwoStages: stage 1 stopped half-way and resumed ends with the weights of an uninterrupted run; stage 2
// starts from it; both outputs are shared-tower dual encoders that rocketqa.Load reads.
func TestTwoStages(t *testing.T) {
	init := tinytest.ModelDir(t, true)
	work := t.TempDir()
	data := filepath.Join(work, "pretrain.tsv")
	tinytest.WriteDualTrain(t, data, tinytest.DualExamples(t, 12, 3))
	weights := func(dir string) []float32 {
		m, err := rocketqa.Load(dir, rocketqa.LoadOptions{})
		require.NoError(t, err)
		defer m.Close()
		require.True(t, m.Dual.Shared)
		require.True(t, m.Info.ShareParameter)
		return tinytest.Weights(t, m.Dual.Params())
	}
	full := tinyConfig(t, Pretrain, init, data, filepath.Join(work, "full"))
	res, err := Train(context.Background(), full)
	require.NoError(t, err)
	require.Equal(t, 6, res.Steps)

	cut := tinyConfig(t, Pretrain, init, data, filepath.Join(work, "cut"))
	cut.Dual.Train.StopAfter = 4
	_, err = Train(context.Background(), cut)
	require.NoError(t, err)
	cut.Dual.Train.StopAfter = 0
	res2, err := Train(context.Background(), cut)
	require.NoError(t, err)
	require.Equal(t, 4, res2.Resumed)
	require.Equal(t, weights(res.FinalDir), weights(res2.FinalDir), "bit-identical weights after stop and resume")

	// a rerun into the same directory with another stage is refused
	other := tinyConfig(t, Finetune, init, data, filepath.Join(work, "cut"))
	_, err = Train(context.Background(), other)
	require.ErrorContains(t, err, "holds a run with other settings")

	// stage 2 from stage 1's model
	ft := tinyConfig(t, Finetune, res.FinalDir, data, filepath.Join(work, "ft"))
	res3, err := Train(context.Background(), ft)
	require.NoError(t, err)
	require.NotEqual(t, weights(res.FinalDir), weights(res3.FinalDir))
}

// TestBadInput: clear errors naming the flag or file.
func TestBadInput(t *testing.T) {
	init := tinytest.ModelDir(t, false)
	work := t.TempDir()
	data := filepath.Join(work, "pretrain.tsv")
	tinytest.WriteDualTrain(t, data, tinytest.DualExamples(t, 4, 3))
	ctx := context.Background()
	for _, a := range []float64{-0.1, 1.5, math.NaN()} {
		c := tinyConfig(t, Pretrain, init, data, filepath.Join(work, "a"))
		c.Alpha = a
		_, err := Train(ctx, c)
		require.ErrorContains(t, err, "--alpha")
		s := torch.NewScope()
		l := Loss(Pretrain, a)(s, rocketqa.Reps{Q: s.Zeros([]int64{1, 2}, torch.Float32, torch.CPU), P: s.Zeros([]int64{2, 2}, torch.Float32, torch.CPU), G: 2})
		_, err = l.Item()
		require.ErrorContains(t, err, "outside [0, 1]")
		s.Close()
	}
	c := tinyConfig(t, "warmup", init, data, filepath.Join(work, "b"))
	_, err := Train(ctx, c)
	require.ErrorContains(t, err, "--stage")

	// a pre-training file without negatives (the fifth column empty on line 2)
	noNeg := filepath.Join(work, "noneg.tsv")
	require.NoError(t, os.WriteFile(noNeg, []byte("q\t\tpos\t\tneg\t0\nq2\t\tpos2\t\t\t0\n"), 0o644))
	_, err = Train(ctx, tinyConfig(t, Pretrain, init, noNeg, filepath.Join(work, "c")))
	require.ErrorContains(t, err, noNeg+":2")
	require.ErrorContains(t, err, "negative")
	// a 4-column (cross-encoder) file
	four := filepath.Join(work, "four.tsv")
	require.NoError(t, os.WriteFile(four, []byte("q\t\tpos\t1\n"), 0o644))
	_, err = Train(ctx, tinyConfig(t, Pretrain, init, four, filepath.Join(work, "d")))
	require.ErrorContains(t, err, four+":1")

	// a two-tower dual encoder as the initial model
	q, err := encoder.LoadBERT(init, false)
	require.NoError(t, err)
	p, err := encoder.LoadBERT(init, false)
	require.NoError(t, err)
	two := encoder.NewDualEncoder(q, p)
	defer two.Close()
	twoDir := filepath.Join(work, "two")
	require.NoError(t, encoder.SaveDual(twoDir, two, encoder.ModelInfo{QMaxSeqLen: 8, PMaxSeqLen: 16}, filepath.Join(init, "vocab.txt")))
	_, err = Train(ctx, tinyConfig(t, Finetune, twoDir, data, filepath.Join(work, "e")))
	require.ErrorContains(t, err, "--init "+twoDir+" is a two-tower dual encoder")

	c = tinyConfig(t, Pretrain, init, data, filepath.Join(work, "f"))
	c.LAMB = true
	c.Dual.Train.Optimizer = train.AdamW
	_, err = Train(ctx, c)
	require.ErrorContains(t, err, "--lamb")
	_, err = Train(ctx, tinyConfig(t, Pretrain, init, data, ""))
	require.ErrorContains(t, err, "--out")
}

// BenchmarkStep times a training step of PAIR's pre-training loss against the v1 loss on the same batch and
// shared tower (alternating, so both see the same machine load); it reports the ratio of their medians.
func BenchmarkStep(b *testing.B) {
	dir := tinytest.ModelDir(b, false)
	task := tinyTask(b, dir, 64, nil)
	idx := make([]int, 64)
	for i := range idx {
		idx[i] = i
	}
	run := func(l rocketqa.DualLoss) time.Duration {
		task.Loss = l
		t0 := time.Now()
		s := torch.NewScope()
		_, err := task.Step(s, idx)
		s.Close()
		require.NoError(b, err)
		d := time.Since(t0)
		for _, p := range task.Params() {
			require.NoError(b, p.Tensor.ZeroGrad())
		}
		return d
	}
	run(nil)
	var v1, pr []time.Duration
	for i := 0; i < b.N; i++ {
		v1 = append(v1, run(nil))
		pr = append(pr, run(Loss(Pretrain, 0.1)))
	}
	med := func(d []time.Duration) float64 {
		s := append([]time.Duration(nil), d...)
		for i := range s {
			for j := i + 1; j < len(s); j++ {
				if s[j] < s[i] {
					s[i], s[j] = s[j], s[i]
				}
			}
		}
		return float64(s[len(s)/2])
	}
	b.ReportMetric(med(v1)/1e6, "v1-ms/step")
	b.ReportMetric(med(pr)/1e6, "pair-ms/step")
	b.ReportMetric(med(pr)/med(v1), "pair/v1")
}

// LAMB reaches the training loop's optimizer setting, with Paddle's weight decay in the official MS MARCO presets.
func TestLAMBReachesTheLoop(t *testing.T) {
	require.Equal(t, train.LAMB, MarcoPretrain.DualConfig().Train.Optimizer)
	require.Equal(t, 0.01, MarcoPretrain.Dual.Train.WeightDecay)
	require.Equal(t, "", NQFinetune.DualConfig().Train.Optimizer) // AdamW, the loop's default
	require.Equal(t, 0.0, NQFinetune.Dual.Train.WeightDecay)
}
