package train

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"math"
	"math/rand/v2"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/rocketqa-go/rocketqa/encoder"
	"github.com/rocketqa-go/rocketqa/internal/canceltest"
	"github.com/rocketqa-go/rocketqa/internal/dirlock"
	"github.com/rocketqa-go/rocketqa/torch"
)

// linTask is a tiny regression task: y = dropout(x) W + b with a hidden width h, 24 examples of 4 features.
type linTask struct {
	w, b     *torch.Tensor
	h        int64
	dev      torch.Device
	x, y     []float32
	failSave func(dir string) error // when set and it returns an error, SaveModel fails after writing part of dir
	onStep   func() error
}

const linN, linIn = 24, 4

func newLinTask(t *testing.T, h int64) *linTask { return newLinTaskOn(t, h, torch.CPU) }

func newLinTaskOn(t *testing.T, h int64, dev torch.Device) *linTask {
	t.Helper()
	r := rand.New(rand.NewPCG(1, 2))
	lt := &linTask{h: h, dev: dev}
	for i := 0; i < linN*linIn; i++ {
		lt.x = append(lt.x, float32(r.NormFloat64()))
	}
	for i := 0; i < linN*int(h); i++ {
		lt.y = append(lt.y, float32(r.NormFloat64()))
	}
	torch.ManualSeed(5)
	lt.w = torch.Randn([]int64{linIn, h}, torch.Float32, dev).SetRequiresGrad(true)
	lt.b = torch.Zeros([]int64{h}, torch.Float32, dev).SetRequiresGrad(true)
	require.NoError(t, errors.Join(lt.w.Err(), lt.b.Err()))
	t.Cleanup(func() { lt.w.Close(); lt.b.Close() })
	return lt
}

func (l *linTask) Params() []encoder.Param {
	return []encoder.Param{{Name: "lin.weight", Tensor: l.w}, {Name: "lin.bias", Tensor: l.b}}
}
func (l *linTask) NumExamples() int { return linN }

func (l *linTask) Step(s *torch.Scope, ex []int) (float64, error) {
	if l.onStep != nil {
		if err := l.onStep(); err != nil {
			return 0, err
		}
	}
	var xs, ys []float32
	for _, i := range ex {
		xs = append(xs, l.x[i*linIn:(i+1)*linIn]...)
		ys = append(ys, l.y[i*int(l.h):(i+1)*int(l.h)]...)
	}
	// dropout draws from the generator of the device: exact resume needs it restored
	x := s.FromFloat32(xs, int64(len(ex)), linIn).ToDevice(l.dev).Dropout(0.3, true)
	y := s.FromFloat32(ys, int64(len(ex)), l.h).ToDevice(l.dev)
	loss := x.MatMul(s.Use(l.w)).Add(s.Use(l.b)).Sub(y).Square().Mean()
	if err := loss.Backward(); err != nil {
		return 0, err
	}
	return loss.Item()
}

func (l *linTask) weights() ([]float32, error) {
	w, err := l.w.Float32s()
	if err != nil {
		return nil, err
	}
	b, err := l.b.Float32s()
	return append(w, b...), err
}

func (l *linTask) SaveModel(dir string) error {
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return err
	}
	v, err := l.weights()
	if err != nil {
		return err
	}
	var buf bytes.Buffer
	for _, f := range v {
		buf.WriteString(fmtG(f) + "\n")
	}
	if l.failSave != nil {
		if err := l.failSave(dir); err != nil {
			os.WriteFile(filepath.Join(dir, "weights.txt"), buf.Bytes()[:buf.Len()/2], 0o644)
			return err
		}
	}
	return os.WriteFile(filepath.Join(dir, "weights.txt"), buf.Bytes(), 0o644)
}

func (l *linTask) LoadModel(dir string) error {
	b, err := os.ReadFile(filepath.Join(dir, "weights.txt"))
	if err != nil {
		return err
	}
	var v []float32
	for _, f := range strings.Fields(string(b)) {
		v = append(v, parseF(f))
	}
	nw := int64(len(v)) - l.h
	if nw < 0 {
		return errors.New("short weights file")
	}
	w := torch.FromFloat32(v[:nw], nw/l.h, l.h).ToDevice(l.dev)
	defer w.Close()
	bb := torch.FromFloat32(v[nw:], l.h).ToDevice(l.dev)
	defer bb.Close()
	var e error
	torch.NoGrad(func() { e = errors.Join(l.w.CopyFrom(w), l.b.CopyFrom(bb)) })
	return e
}

func opts(dir string, steps int) Options {
	return Options{OutDir: dir, BatchSize: 4, MaxSteps: steps, LR: 0.05, WarmupProportion: 0.1, SaveEvery: 4,
		KeepCheckpoints: 2, Log: &bytes.Buffer{}, Identity: map[string]string{"train": "tiny"}}
}

func run(t *testing.T, task Task, o Options) (*Result, error) {
	t.Helper()
	return Run(context.Background(), task, o)
}

// TestNoResumeMovesOldRunAside: a --no-resume run into a folder holding a longer earlier run keeps its own
// checkpoints (not the old run's higher step numbers), and a later plain run resumes the new run, not the old one.
func TestNoResumeMovesOldRunAside(t *testing.T) {
	dir := t.TempDir()
	_, err := run(t, newLinTask(t, 3), opts(dir, 40))
	require.NoError(t, err)

	b := newLinTask(t, 3)
	o := opts(dir, 12)
	o.NoResume = true
	res, err := run(t, b, o)
	require.NoError(t, err)
	require.Equal(t, 12, res.Steps)
	require.Equal(t, filepath.Join(dir, "checkpoints", "step-00000012"), Latest(dir))
	want, err := b.weights()
	require.NoError(t, err)
	prev, err := filepath.Glob(filepath.Join(dir, PreviousDir, "*", "checkpoints", "step-00000040"))
	require.NoError(t, err)
	require.Len(t, prev, 1, "the earlier run is kept aside")

	c := newLinTask(t, 3)
	res, err = run(t, c, opts(dir, 12))
	require.NoError(t, err)
	require.Equal(t, 12, res.Resumed)
	got, err := c.weights()
	require.NoError(t, err)
	require.Equal(t, want, got, "final/ is the new run's model")
	final := newLinTask(t, 3)
	require.NoError(t, final.LoadModel(filepath.Join(dir, "final")))
	fw, _ := final.weights()
	require.Equal(t, want, fw)
}

// TestResumeRefusesOtherRun: a finished 40-step run rerun with 12 steps (or another LR, optimizer, data) fails
// with a message naming the difference, instead of exiting with the 40-step model.
func TestResumeRefusesOtherRun(t *testing.T) {
	dir := t.TempDir()
	_, err := run(t, newLinTask(t, 3), opts(dir, 40))
	require.NoError(t, err)
	_, err = run(t, newLinTask(t, 3), opts(dir, 12))
	require.ErrorContains(t, err, `total_steps "40" there, "12" here`)
	require.ErrorContains(t, err, "no-resume")

	o := opts(dir, 40)
	o.LR = 0.01
	_, err = run(t, newLinTask(t, 3), o)
	require.ErrorContains(t, err, `lr "0.05" there, "0.01" here`)
	o = opts(dir, 40)
	o.Identity = map[string]string{"train": "other file"}
	_, err = run(t, newLinTask(t, 3), o)
	require.ErrorContains(t, err, `train "tiny" there, "other file" here`)
	o = opts(dir, 40)
	o.Optimizer = LAMB
	_, err = run(t, newLinTask(t, 3), o)
	require.ErrorContains(t, err, `optimizer "adamw" there, "lamb" here`)
	// the same settings resume (nothing left to do) and succeed
	res, err := run(t, newLinTask(t, 3), opts(dir, 40))
	require.NoError(t, err)
	require.Equal(t, 40, res.Resumed)
}

// TestResumeOtherConfig: resuming with a model of other shapes says so (naming the tensor), before libtorch's
// CopyFrom size message can appear.
func TestResumeOtherConfig(t *testing.T) {
	dir := t.TempDir()
	o := opts(dir, 8)
	o.StopAfter = 4
	_, err := run(t, newLinTask(t, 3), o)
	require.NoError(t, err)
	_, err = run(t, newLinTask(t, 5), opts(dir, 8))
	require.ErrorContains(t, err, "another model configuration")
	require.ErrorContains(t, err, "lin.weight [4 3] there, lin.weight [4 5] here")
	require.NotContains(t, err.Error(), "CopyFrom")
}

// TestRunLocksOutDir: while a run trains, a second run into the same folder fails at once naming the holder; a
// folder already locked refuses a run.
func TestRunLocksOutDir(t *testing.T) {
	dir := t.TempDir()
	task := newLinTask(t, 3)
	var second error
	task.onStep = func() error {
		if second == nil {
			_, second = run(t, newLinTask(t, 3), opts(dir, 4))
			if second == nil {
				second = errors.New("the second run succeeded")
			}
		}
		return nil
	}
	_, err := run(t, task, opts(dir, 4))
	require.NoError(t, err)
	require.ErrorIs(t, second, dirlock.ErrLocked)
	require.ErrorContains(t, second, "training")
	require.ErrorContains(t, second, "pid")

	l, err := dirlock.Acquire(dir, "encode")
	require.NoError(t, err)
	defer l.Release()
	_, err = run(t, newLinTask(t, 3), opts(dir, 4))
	require.ErrorIs(t, err, dirlock.ErrLocked)
}

// TestOptionsRejectNonNumbers: NaN / Inf / negative options fail naming the option (NaN clip used to disable
// clipping silently).
func TestOptionsRejectNonNumbers(t *testing.T) {
	nan, inf := math.NaN(), math.Inf(1)
	for name, mod := range map[string]func(*Options){
		"MaxGradNorm":      func(o *Options) { o.MaxGradNorm = nan },
		"MaxGradNorm ":     func(o *Options) { o.MaxGradNorm = inf },
		"LR":               func(o *Options) { o.LR = nan },
		"LR ":              func(o *Options) { o.LR = inf },
		"WeightDecay":      func(o *Options) { o.WeightDecay = nan },
		"WeightDecay ":     func(o *Options) { o.WeightDecay = -0.1 },
		"WarmupProportion": func(o *Options) { o.WarmupProportion = nan },
		"SaveEvery":        func(o *Options) { o.SaveEvery = -1 },
		"optimizer":        func(o *Options) { o.Optimizer = "sgd" },
	} {
		o := opts(t.TempDir(), 4)
		mod(&o)
		_, err := run(t, newLinTask(t, 3), o)
		require.ErrorContains(t, err, strings.TrimSpace(name), name)
	}
}

// TestCheckpointFailureRemovesTmp: a checkpoint that fails half-written (disk full) leaves no step-N.tmp behind.
func TestCheckpointFailureRemovesTmp(t *testing.T) {
	dir := t.TempDir()
	task := newLinTask(t, 3)
	task.failSave = func(d string) error {
		if strings.Contains(d, "step-00000008.tmp") {
			return syscall.ENOSPC
		}
		return nil
	}
	_, err := run(t, task, opts(dir, 12))
	require.ErrorIs(t, err, syscall.ENOSPC)
	left, _ := filepath.Glob(filepath.Join(dir, "checkpoints", "*.tmp"))
	require.Empty(t, left)
	require.Equal(t, filepath.Join(dir, "checkpoints", "step-00000004"), Latest(dir))
}

// TestExactResume: for both optimizers, a run stopped at step 5 and resumed ends with the weights of an
// uninterrupted run (model, optimizer state and RNG restored; dropout draws from the RNG), on the CPU and, where
// there is one, on a CUDA device (whose generator the checkpoint holds too).
func TestExactResume(t *testing.T) {
	for _, c := range []struct {
		opt string
		dev torch.Device
	}{{AdamW, torch.CPU}, {LAMB, torch.CPU}, {AdamW, torch.CUDA(0)}, {LAMB, torch.CUDA(0)}} {
		optName, dev := c.opt, c.dev
		t.Run(optName+"-"+dev.String(), func(t *testing.T) {
			if dev.Type == torch.CUDADevice && !torch.CUDAAvailable() {
				t.Skip("no CUDA device")
			}
			newLinTask := func(t *testing.T, h int64) *linTask { return newLinTaskOn(t, h, dev) }
			straight := newLinTask(t, 3)
			o := opts(t.TempDir(), 10)
			o.Optimizer, o.SaveEvery = optName, 5
			_, err := run(t, straight, o)
			require.NoError(t, err)
			want, _ := straight.weights()

			dir := t.TempDir()
			o = opts(dir, 10)
			o.Optimizer, o.SaveEvery, o.StopAfter = optName, 5, 5
			_, err = run(t, newLinTask(t, 3), o)
			require.NoError(t, err)
			o.StopAfter = 0
			torch.ManualSeed(12345) // the resume must restore the generator, not rely on it
			resumed := newLinTask(t, 3)
			res, err := run(t, resumed, o)
			require.NoError(t, err)
			require.Equal(t, 5, res.Resumed)
			got, _ := resumed.weights()
			require.Equal(t, want, got)
		})
	}
}

func fmtG(f float32) string { return strconv.FormatFloat(float64(f), 'g', -1, 32) }

func parseF(s string) float32 {
	v, _ := strconv.ParseFloat(s, 32)
	return float32(v)
}

// FileIdentity must not read a FIFO or a device: before, hashing a training FIFO blocked train-de before its
// context-aware reading began, and /dev/zero never ended (no Ctrl-C).
func TestFileIdentityOfNonRegularFiles(t *testing.T) {
	fifo := canceltest.FIFO(t, "fifo")
	done := make(chan string, 2)
	go func() {
		for _, p := range []string{fifo, "/dev/zero"} {
			id, err := FileIdentity(p)
			require.NoError(t, err)
			done <- id
		}
	}()
	for range 2 {
		select {
		case id := <-done:
			require.Contains(t, id, "not a regular file")
		case <-time.After(5 * time.Second):
			t.Fatal("FileIdentity blocked on a FIFO or /dev/zero")
		}
	}
	reg := filepath.Join(t.TempDir(), "f.tsv")
	require.NoError(t, os.WriteFile(reg, []byte("a\tb\n"), 0o644))
	id, err := FileIdentity(reg)
	require.NoError(t, err)
	require.Contains(t, id, "size 4 sha256 ")
}

// TestRerunOfFinishedRun: starting a finished run again (same OutDir, same settings) resumes at its last step and
// neither evaluates again nor appends to metrics.jsonl: before, the final evaluation ran a second time and wrote a
// second eval line for the last step.
func TestRerunOfFinishedRun(t *testing.T) {
	dir := t.TempDir()
	evals := 0
	o := opts(dir, 8)
	o.EvalEvery = 4
	o.Eval = func(context.Context) (float64, map[string]float64, error) { evals++; return float64(evals), nil, nil }
	res, err := run(t, newLinTask(t, 3), o)
	require.NoError(t, err)
	require.Equal(t, 2, evals)
	require.Equal(t, 8, res.BestStep)
	before, err := os.ReadFile(filepath.Join(dir, "metrics.jsonl"))
	require.NoError(t, err)

	res, err = run(t, newLinTask(t, 3), o)
	require.NoError(t, err)
	require.Equal(t, 8, res.Resumed)
	require.Equal(t, 2, evals, "a finished run is not evaluated again")
	require.Equal(t, 2.0, res.Best)
	require.Equal(t, 8, res.BestStep)
	require.Equal(t, filepath.Join(dir, "final"), res.FinalDir)
	require.Equal(t, filepath.Join(dir, "best"), res.BestDir)
	after, err := os.ReadFile(filepath.Join(dir, "metrics.jsonl"))
	require.NoError(t, err)
	require.Equal(t, string(before), string(after))
}

// TestMetricsOfNaNEval: an evaluation that scores NaN (or reports a non-finite metric) still gets its line in
// metrics.jsonl, with null for the value JSON cannot hold, and does not stay the best model once a real score comes.
// Before, json.Marshal failed on the NaN and an empty line was written instead of the step's record.
func TestMetricsOfNaNEval(t *testing.T) {
	dir := t.TempDir()
	evals := 0
	o := opts(dir, 8)
	o.EvalEvery = 4
	o.Eval = func(context.Context) (float64, map[string]float64, error) {
		evals++
		if evals == 1 {
			return math.NaN(), map[string]float64{"recall": math.Inf(1)}, nil
		}
		return 0.5, map[string]float64{"recall": 0.25}, nil
	}
	res, err := run(t, newLinTask(t, 3), o)
	require.NoError(t, err)
	require.Equal(t, 0.5, res.Best)
	require.Equal(t, 8, res.BestStep)
	b, err := os.ReadFile(filepath.Join(dir, "metrics.jsonl"))
	require.NoError(t, err)
	var evalLines []string
	for _, l := range strings.Split(strings.TrimSuffix(string(b), "\n"), "\n") {
		var rec map[string]any
		require.NoError(t, json.Unmarshal([]byte(l), &rec), "line %q", l)
		if _, ok := rec["eval"]; ok {
			evalLines = append(evalLines, l)
		}
	}
	require.Equal(t, []string{`{"eval":null,"recall":null,"step":4}`, `{"eval":0.5,"recall":0.25,"step":8}`}, evalLines)
}

// TestResumeRefusesBadStep: a checkpoint whose state.json holds a step outside [0, the run's steps] (edited or
// damaged) is refused naming the file. Before, a negative step panicked in Batches (slice bounds out of range).
func TestResumeRefusesBadStep(t *testing.T) {
	for _, step := range []int{-1, 9} {
		dir := t.TempDir()
		o := opts(dir, 8)
		o.StopAfter = 4
		_, err := run(t, newLinTask(t, 3), o)
		require.NoError(t, err)
		p := filepath.Join(Latest(dir), "state.json")
		b, err := os.ReadFile(p)
		require.NoError(t, err)
		require.NoError(t, os.WriteFile(p, []byte(strings.Replace(string(b), `"step": 4,`, `"step": `+strconv.Itoa(step)+`,`, 1)), 0o644))
		o.StopAfter = 0
		_, err = run(t, newLinTask(t, 3), o)
		require.Error(t, err)
		require.Contains(t, err.Error(), p)
		require.Contains(t, err.Error(), "step "+strconv.Itoa(step)+" is not in [0, 8]")
	}
}
