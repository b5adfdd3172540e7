// Package tinytest holds the fixtures that the training tests of rocketqa, pair and jointtrain share: the tiny
// random ERNIE of encoder/testdata/tiny_ernie (its config, vocabulary and a copy of its directory), random training
// examples drawn from its vocabulary, the gradients and weights of a task, the project's tolerance rule over them
// (internal/closeto), and the two-process (Gloo) run that checks a step sharded over processes against one process.
package tinytest

import (
	"context"
	"math"
	"math/rand/v2"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/rocketqa-go/rocketqa/dataset"
	"github.com/rocketqa-go/rocketqa/encoder"
	"github.com/rocketqa-go/rocketqa/internal/closeto"
	"github.com/rocketqa-go/rocketqa/tokenizer"
	"github.com/rocketqa-go/rocketqa/torch"
	"github.com/rocketqa-go/rocketqa/train"
)

var (
	rootOnce sync.Once
	root     string
	rootErr  error
)

// moduleRoot is the directory of go.mod above the working directory (a test runs in its package's directory).
func moduleRoot(t testing.TB) string {
	t.Helper()
	rootOnce.Do(func() {
		dir, err := os.Getwd()
		if err != nil {
			rootErr = err
			return
		}
		for {
			if _, err := os.Stat(filepath.Join(dir, "go.mod")); err == nil {
				root = dir
				return
			}
			up := filepath.Dir(dir)
			if up == dir {
				rootErr = os.ErrNotExist
				return
			}
			dir = up
		}
	})
	require.NoError(t, rootErr, "no go.mod above the working directory")
	return root
}

// ErnieDir is the directory of the tiny random ERNIE (config.json, vocab.txt, model.safetensors).
func ErnieDir(t testing.TB) string {
	return filepath.Join(moduleRoot(t), "encoder", "testdata", "tiny_ernie")
}

// Vocab is the tiny ERNIE's vocabulary file.
func Vocab(t testing.TB) string { return filepath.Join(ErnieDir(t), "vocab.txt") }

// Config reads the tiny ERNIE's configuration, with both dropout probabilities set to 0 unless dropout is set.
func Config(t testing.TB, dropout bool) *encoder.Config {
	cfg, err := encoder.ReadConfig(filepath.Join(ErnieDir(t), "config.json"))
	require.NoError(t, err)
	if !dropout {
		cfg.HiddenDropoutProb, cfg.AttentionDropoutProb = 0, 0
	}
	return cfg
}

// Tokenizer is the tokenizer of the tiny vocabulary with the default options.
func Tokenizer(t testing.TB) *tokenizer.Tokenizer {
	tok, err := tokenizer.New(Vocab(t), tokenizer.DefaultOptions())
	require.NoError(t, err)
	return tok
}

// ModelDir copies the tiny ERNIE (weights and vocabulary) into a new temporary directory, with its configuration
// as Config gives it, and returns the directory.
func ModelDir(t testing.TB, dropout bool) string {
	dir := t.TempDir()
	for _, f := range []string{"model.safetensors", "vocab.txt"} {
		b, err := os.ReadFile(filepath.Join(ErnieDir(t), f))
		require.NoError(t, err)
		require.NoError(t, os.WriteFile(filepath.Join(dir, f), b, 0o644))
	}
	require.NoError(t, Config(t, dropout).WriteFile(filepath.Join(dir, "config.json")))
	return dir
}

// texts returns a generator of random texts of lo to hi tokens of the tiny vocabulary (its special tokens
// excepted), seeded with seed.
func texts(t testing.TB, seed uint64) func(lo, hi int) string {
	b, err := os.ReadFile(Vocab(t))
	require.NoError(t, err)
	toks := strings.Fields(string(b))[5:]
	r := rand.New(rand.NewPCG(seed, 7))
	return func(lo, hi int) string {
		var sb strings.Builder
		for i := 0; i < lo+r.IntN(hi-lo+1); i++ {
			sb.WriteString(toks[r.IntN(len(toks))])
		}
		return sb.String()
	}
}

// DualExamples makes n dual-encoder training lines (query, positive title and paragraph, negative paragraph) of
// random tokens of the tiny vocabulary, the same for the same seed.
func DualExamples(t testing.TB, n int, seed uint64) []dataset.DualExample {
	text := texts(t, seed)
	out := make([]dataset.DualExample, n)
	for i := range out {
		out[i] = dataset.DualExample{Query: text(2, 6), PosTitle: text(0, 2), PosPara: text(3, 12), NegPara: text(3, 12)}
	}
	return out
}

// JointLists makes n lists of m passages of random tokens of the tiny vocabulary for one query each, the first
// labelled positive, the same for the same seed.
func JointLists(t testing.TB, n, m int, seed uint64) []dataset.JointList {
	text := texts(t, seed)
	out := make([]dataset.JointList, n)
	for i := range out {
		q := text(2, 6)
		l := dataset.JointList{Query: q}
		for j := 0; j < m; j++ {
			lab := 0
			if j == 0 {
				lab = 1
			}
			l.Items = append(l.Items, dataset.CrossExample{Query: q, Title: text(0, 2), Para: text(3, 12), Label: lab})
		}
		out[i] = l
	}
	return out
}

// WriteDualTrain writes exs as a dual-encoder training file at path.
func WriteDualTrain(t testing.TB, path string, exs []dataset.DualExample) {
	w, err := dataset.CreateDualTrain(path)
	require.NoError(t, err)
	for _, ex := range exs {
		require.NoError(t, w.Write(ex))
	}
	require.NoError(t, w.Close())
}

// Task is what the tests step: a training task (train.Task has these methods).
type Task interface {
	Params() []encoder.Param
	Step(s *torch.Scope, examples []int) (float64, error)
}

// Grads returns the gradient of every parameter by name and clears it; a parameter without one fails the test.
func Grads(t testing.TB, params []encoder.Param) map[string][]float32 {
	t.Helper()
	out := map[string][]float32{}
	for _, p := range params {
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

// Step runs one step of task on the examples idx in a scope of its own and returns the loss and the gradients
// (cleared, as Grads does).
func Step(t testing.TB, task Task, idx []int) (float64, map[string][]float32) {
	t.Helper()
	s := torch.NewScope()
	defer s.Close()
	l, err := task.Step(s, idx)
	require.NoError(t, err)
	return l, Grads(t, task.Params())
}

// Weights returns the values of all params, one after the other.
func Weights(t testing.TB, params []encoder.Param) []float32 {
	var all []float32
	for _, p := range params {
		v, err := p.Tensor.Float32s()
		require.NoError(t, err)
		all = append(all, v...)
	}
	return all
}

// F64 converts float32 values to float64.
func F64(v []float32) []float64 {
	out := make([]float64, len(v))
	for i, x := range v {
		out[i] = float64(x)
	}
	return out
}

// RequireClose fails the test unless got has the length of want, every value of got is finite, and each passes
// the float32 tolerance rule |got - want| <= 1e-5 + 1.3e-6*|want| (closeto.Float32). what names the values.
func RequireClose(t testing.TB, want, got []float64, what string) {
	t.Helper()
	require.Len(t, got, len(want), what)
	for i, g := range got {
		if math.IsNaN(g) || math.IsInf(g, 0) {
			require.Failf(t, "not finite", "%s[%d] = %v", what, i, g)
		}
	}
	require.NoError(t, closeto.Slices(got, want, closeto.Float32), what)
}

// RequireGradsClose fails the test unless got has the gradients of the same parameters as want, each close to
// want's by RequireClose. what names the comparison.
func RequireGradsClose(t testing.TB, want, got map[string][]float32, what string) {
	t.Helper()
	require.Len(t, got, len(want), what)
	for name, g := range want {
		require.Contains(t, got, name, what)
		RequireClose(t, F64(g), F64(got[name]), what+" "+name)
	}
}

// RequireCachedStepExact checks a task's memory-saving step (grad cache, chunked two-pass step) against its plain
// step with dropout on: cached(on) switches the task between the two. With the generator seeded alike (the same
// dropout masks), the cached step must give the loss and gradients of the plain one (RequireClose); and two plain
// steps without reseeding must give different losses, so that the masks are live and a mask mismatch would show.
func RequireCachedStepExact(t testing.TB, task Task, idx []int, cached func(on bool)) {
	t.Helper()
	cached(false)
	torch.ManualSeed(9)
	plainLoss, plain := Step(t, task, idx)
	cached(true)
	torch.ManualSeed(9)
	cachedLoss, got := Step(t, task, idx)
	RequireClose(t, []float64{plainLoss}, []float64{cachedLoss}, "loss")
	RequireGradsClose(t, plain, got, "grad")
	t.Logf("loss %.6f; %d gradient tensors within the tolerance rule", plainLoss, len(plain))
	cached(false)
	other, _ := Step(t, task, idx) // no reseed: other masks
	require.NotEqual(t, plainLoss, other, "two plain steps with dropout on give the same loss")
}

// RequireResumeExact checks that a training run of o (o.MaxSteps steps, a checkpoint every o.SaveEvery) stopped
// after stopAfter steps and resumed with a fresh task from newTask (as a new process would: new model, new
// optimizer, the checkpoint's state) ends with the weights of an uninterrupted run, bit for bit.
func RequireResumeExact(t testing.TB, newTask func() train.Task, o train.Options, stopAfter int) {
	t.Helper()
	run := func(stop int) []float32 {
		o := o
		o.OutDir, o.StopAfter = t.TempDir(), stop
		task := newTask()
		_, err := train.Run(context.Background(), task, o)
		require.NoError(t, err)
		if stop > 0 {
			task = newTask()
			o.StopAfter = 0
			res, err := train.Run(context.Background(), task, o)
			require.NoError(t, err)
			require.Equal(t, stop, res.Resumed)
		}
		return Weights(t, task.Params())
	}
	full := run(0)
	resumed := run(stopAfter)
	require.Equal(t, full, resumed, "bit-identical weights after kill and resume")
}
