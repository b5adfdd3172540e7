package rocketqa

import (
	"context"
	"encoding/json"
	"fmt"
	"math"
	"math/rand/v2"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/rocketqa-go/rocketqa/dataset"
	"github.com/rocketqa-go/rocketqa/encoder"
	"github.com/rocketqa-go/rocketqa/tokenizer"
	"github.com/rocketqa-go/rocketqa/torch"
	"github.com/rocketqa-go/rocketqa/train"
)

const tinyDir = "../encoder/testdata/tiny_ernie"

// tinyExamples makes n (query, pos, neg) lines of random characters from the tiny vocab.
func tinyExamples(t *testing.T, n int, seed uint64) []dataset.DualExample {
	b, err := os.ReadFile(filepath.Join(tinyDir, "vocab.txt"))
	require.NoError(t, err)
	toks := strings.Fields(string(b))[5:]
	r := rand.New(rand.NewPCG(seed, 7))
	text := func(lo, hi int) string {
		var sb strings.Builder
		for i := 0; i < lo+r.IntN(hi-lo+1); i++ {
			sb.WriteString(toks[r.IntN(len(toks))])
		}
		return sb.String()
	}
	out := make([]dataset.DualExample, n)
	for i := range out {
		out[i] = dataset.DualExample{Query: text(2, 6), PosTitle: text(0, 2), PosPara: text(3, 12), NegPara: text(3, 12)}
	}
	return out
}

func tinyTask(t *testing.T, n int, dropout bool) *DualTask {
	cfg, err := encoder.ReadConfig(filepath.Join(tinyDir, "config.json"))
	require.NoError(t, err)
	if !dropout {
		cfg.HiddenDropoutProb, cfg.AttentionDropoutProb = 0, 0
	}
	tok, err := tokenizer.New(filepath.Join(tinyDir, "vocab.txt"), tokenizer.DefaultOptions())
	require.NoError(t, err)
	torch.ManualSeed(42)
	q, err := encoder.NewBERT(cfg, false)
	require.NoError(t, err)
	p, err := encoder.NewBERT(cfg, false)
	require.NoError(t, err)
	m := encoder.NewDualEncoder(q, p)
	t.Cleanup(m.Close)
	return &DualTask{Model: m, Tok: tok, Examples: tinyExamples(t, n, 1), Vocab: filepath.Join(tinyDir, "vocab.txt"),
		Info: encoder.ModelInfo{QMaxSeqLen: 8, PMaxSeqLen: 16}, CrossBatch: true}
}

func grads(t *testing.T, task *DualTask) map[string][]float32 {
	out := map[string][]float32{}
	for _, p := range task.Params() {
		g := p.Tensor.Grad()
		require.NotNil(t, g, p.Name)
		v, err := g.Float32s()
		require.NoError(t, err)
		g.Close()
		out[p.Name] = v
		require.NoError(t, p.Tensor.ZeroGrad())
	}
	return out
}

// TestGradCacheEqualsFullBatch: with dropout active, the grad-cached step gives the gradients of the plain
// full-batch step (same chunks, same dropout masks).
func TestGradCacheEqualsFullBatch(t *testing.T) {
	task := tinyTask(t, 10, true)
	task.ChunkSize = 3
	idx := []int{0, 1, 2, 3, 4, 5, 6, 7}
	torch.ManualSeed(9)
	s := torch.NewScope()
	plainLoss, err := task.Step(s, idx)
	s.Close()
	require.NoError(t, err)
	plain := grads(t, task)

	torch.ManualSeed(9)
	task.GradCache = true
	s = torch.NewScope()
	gcLoss, err := task.Step(s, idx)
	s.Close()
	require.NoError(t, err)
	cached := grads(t, task)
	requireClose(t, []float64{plainLoss}, []float64{gcLoss}, "loss")
	for name, g := range plain {
		requireClose(t, f64(g), f64(cached[name]), "grad "+name)
	}
	t.Logf("loss %.6f; %d gradient tensors within the tolerance rule", plainLoss, len(plain))

	// and the dropout masks really differ between two plain steps (so the test would catch a mask mismatch)
	task.GradCache = false
	s = torch.NewScope()
	other, err := task.Step(s, idx)
	s.Close()
	require.NoError(t, err)
	grads(t, task)
	require.NotEqual(t, plainLoss, other)
}

// TestResumeIsExact: a run stopped at step 3 and resumed ends with the weights of an uninterrupted 6-step run.
func TestResumeIsExact(t *testing.T) {
	run := func(dir string, stopAfter int) []float32 {
		task := tinyTask(t, 24, true)
		o := train.Options{OutDir: dir, BatchSize: 4, MaxSteps: 6, LR: 1e-3, WarmupProportion: 0.2, SaveEvery: 3,
			Seed: 5, StopAfter: stopAfter, Log: ioDiscard{}}
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
		var all []float32
		for _, p := range task.Params() {
			v, err := p.Tensor.Float32s()
			require.NoError(t, err)
			all = append(all, v...)
		}
		return all
	}
	full := run(t.TempDir(), 0)
	resumed := run(t.TempDir(), 3)
	require.Equal(t, full, resumed, "bit-identical weights after kill and resume")
}

// requireClose applies the project's tolerance rule (torch.testing.assert_close's): |got - want| <= atol +
// rtol*|want| with the float32 defaults rtol 1.3e-6, atol 1e-5, for every element.
func requireClose(t testing.TB, want, got []float64, what string) {
	t.Helper()
	const rtol, atol = 1.3e-6, 1e-5
	require.Len(t, got, len(want), what)
	for i := range want {
		d := math.Abs(got[i] - want[i])
		if d > atol+rtol*math.Abs(want[i]) {
			require.Failf(t, "not close", "%s[%d]: got %.8g, want %.8g (|diff| %.3g)", what, i, got[i], want[i], d)
		}
	}
}

func f64(v []float32) []float64 {
	out := make([]float64, len(v))
	for i, x := range v {
		out[i] = float64(x)
	}
	return out
}

type ioDiscard struct{}

func (ioDiscard) Write(p []byte) (int, error) { return len(p), nil }

// ---- two processes: cross-batch negatives across processes equal one process on the concatenated batch ----

type deWorkerResult struct {
	Loss  float64
	Grads map[string][]float32
	Error string
}

func TestCrossBatchTwoProcesses(t *testing.T) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	port := l.Addr().(*net.TCPAddr).Port
	l.Close()
	dir := t.TempDir()
	var cmds []*exec.Cmd
	for r := 0; r < 2; r++ {
		c := exec.Command(os.Args[0], "-test.run=^TestCrossBatchWorker$")
		c.Env = append(os.Environ(), "ROCKETQA_TEST_WORKER=1", fmt.Sprintf("RANK=%d", r), "WORLD_SIZE=2",
			"MASTER_ADDR=127.0.0.1", fmt.Sprintf("MASTER_PORT=%d", port), "ROCKETQA_TEST_OUT="+dir)
		out, err := os.Create(filepath.Join(dir, fmt.Sprintf("log%d", r)))
		require.NoError(t, err)
		c.Stdout, c.Stderr = out, out
		require.NoError(t, c.Start())
		cmds = append(cmds, c)
	}
	for r, c := range cmds {
		err := c.Wait()
		log, _ := os.ReadFile(filepath.Join(dir, fmt.Sprintf("log%d", r)))
		require.NoError(t, err, "rank %d:\n%s", r, log)
	}
	// single process, concatenated batch of 8
	task := tinyTask(t, 16, false)
	s := torch.NewScope()
	loss, err := task.Step(s, []int{0, 1, 2, 3, 4, 5, 6, 7})
	s.Close()
	require.NoError(t, err)
	want := grads(t, task)
	for r := 0; r < 2; r++ {
		b, err := os.ReadFile(filepath.Join(dir, fmt.Sprintf("rank%d.json", r)))
		require.NoError(t, err)
		var res deWorkerResult
		require.NoError(t, json.Unmarshal(b, &res))
		require.Empty(t, res.Error)
		requireClose(t, []float64{loss}, []float64{res.Loss}, fmt.Sprintf("rank %d loss", r))
		for name, g := range want {
			requireClose(t, f64(g), f64(res.Grads[name]), fmt.Sprintf("rank %d grad %s", r, name))
		}
	}
}

// TestCrossBatchWorker is one process of TestCrossBatchTwoProcesses: local batch of 4, loss with gathered
// passages, gradients averaged over the processes as the trainer does.
func TestCrossBatchWorker(t *testing.T) {
	if os.Getenv("ROCKETQA_TEST_WORKER") == "" {
		t.Skip("spawned by TestCrossBatchTwoProcesses")
	}
	res := deWorkerResult{Grads: map[string][]float32{}}
	err := func() error {
		pg, err := torch.InitFromEnv("gloo", 30*time.Second)
		if err != nil {
			return err
		}
		defer pg.Close()
		task := tinyTask(t, 16, false)
		task.PG = pg
		r := pg.Rank()
		s := torch.NewScope()
		defer s.Close()
		loss, err := task.Step(s, []int{4 * r, 4*r + 1, 4*r + 2, 4*r + 3})
		if err != nil {
			return err
		}
		l := s.FromFloat32([]float32{float32(loss)}, 1)
		if err := pg.AllReduce(l, torch.ReduceOpSum); err != nil {
			return err
		}
		v, _ := l.Item()
		res.Loss = v / 2
		for _, p := range task.Params() {
			g := s.Adopt(p.Tensor.Grad())
			if err := pg.AllReduce(g, torch.ReduceOpSum); err != nil {
				return err
			}
			vals, err := g.DivScalar(2).Float32s()
			if err != nil {
				return err
			}
			res.Grads[p.Name] = vals
		}
		return nil
	}()
	if err != nil {
		res.Error = err.Error()
	}
	b, _ := json.Marshal(res)
	path := filepath.Join(os.Getenv("ROCKETQA_TEST_OUT"), "rank"+os.Getenv("RANK")+".json")
	require.NoError(t, os.WriteFile(path, b, 0o644))
	require.NoError(t, err)
}
