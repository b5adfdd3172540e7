package rocketqa

import (
	"context"
	"io"
	"path/filepath"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/rocketqa-go/rocketqa/dataset"
	"github.com/rocketqa-go/rocketqa/encoder"
	"github.com/rocketqa-go/rocketqa/internal/closeto"
	"github.com/rocketqa-go/rocketqa/internal/tinytest"
	"github.com/rocketqa-go/rocketqa/tokenizer"
	"github.com/rocketqa-go/rocketqa/torch"
	"github.com/rocketqa-go/rocketqa/train"
)

func tinyCrossTask(t *testing.T, dropout bool) *CrossTask {
	cfg := tinytest.Config(t, dropout)
	torch.ManualSeed(4)
	enc, err := encoder.NewBERT(cfg, true)
	require.NoError(t, err)
	ce, err := encoder.NewCrossEncoder(enc, encoder.HeadV1)
	require.NoError(t, err)
	t.Cleanup(ce.Close)
	var exs []dataset.CrossExample
	// learnable: a positive passage contains its query's characters, a negative is random text
	for _, d := range tinytest.DualExamples(t, 12, 3) {
		exs = append(exs, dataset.CrossExample{Query: d.Query, Title: d.PosTitle, Para: d.Query + d.PosPara, Label: 1})
		exs = append(exs, dataset.CrossExample{Query: d.Query, Para: d.NegPara, Label: 0})
	}
	return &CrossTask{Model: ce, Tok: tinytest.Tokenizer(t), Examples: exs, Info: encoder.ModelInfo{MaxSeqLen: 24}, Vocab: tinytest.Vocab(t)}
}

// TestCrossPerturbation checks the official embedding-gradient step: the training loss is the loss at
// E + 0.01·g/‖g‖ (g = ∂L/∂E without dropout), and E is restored afterwards.
func TestCrossPerturbation(t *testing.T) {
	task := tinyCrossTask(t, false)
	idx := []int{0, 1, 2, 3, 4}
	word := task.Model.Enc.Param("embeddings.word_embeddings.weight")
	before, err := word.Float32s()
	require.NoError(t, err)

	// the expected loss, computed by hand
	s := torch.NewScope()
	encs := make([]tokenizer.Encoding, len(idx))
	labels := make([]int64, len(idx))
	for i, j := range idx {
		ex := task.Examples[j]
		encs[i] = task.Tok.EncodePair(ex.Query, ex.Title, ex.Para, 24)
		labels[i] = int64(ex.Label)
	}
	ids, types, mask := encoder.Tensors(s, task.Tok.Pad(encs), torch.CPU)
	target := s.FromInt64(labels, int64(len(labels)))
	l0 := torch.CrossEntropy(task.Model.Logits(s, ids, types, mask, false), target)
	require.NoError(t, l0.Backward())
	g := s.Adopt(word.Grad())
	norm, err := g.Square().Sum().AddScalar(1e-8).Sqrt().Item()
	require.NoError(t, err)
	shifted := s.Use(word).Detach().Add(g.MulScalar(0.01 / norm))
	require.NoError(t, word.CopyFrom(shifted))
	want, err := torch.CrossEntropy(task.Model.Logits(s, ids, types, mask, false), target).Item()
	require.NoError(t, err)
	require.NoError(t, word.CopyFrom(s.FromFloat32(before, word.Shape()...)))
	for _, p := range task.Params() {
		require.NoError(t, p.Tensor.ZeroGrad())
	}
	s.Close()

	task.Perturb = true
	s = torch.NewScope()
	got, err := task.Step(s, idx)
	s.Close()
	require.NoError(t, err)
	require.NoError(t, closeto.Number(got, want, closeto.Float32))
	after, err := word.Float32s()
	require.NoError(t, err)
	require.InDeltaSlice(t, before, after, 1e-6, "embeddings restored")
	require.NotNil(t, word.Grad(), "the training pass left gradients")
}

func TestCrossTrainingLearnsAndReloads(t *testing.T) {
	task := tinyCrossTask(t, true)
	task.Perturb = true
	dir := t.TempDir()
	res, err := train.Run(context.Background(), task, train.Options{OutDir: dir, BatchSize: 6, MaxSteps: 60, LR: 1e-3,
		Schedule: train.Constant, Log: io.Discard})
	require.NoError(t, err)
	require.Equal(t, 60, res.Steps)

	m, err := Load(res.FinalDir, LoadOptions{})
	require.NoError(t, err)
	defer m.Close()
	var qs, ps []string
	var labels []int
	for _, ex := range task.Examples {
		qs, ps, labels = append(qs, ex.Query), append(ps, ex.Para), append(labels, ex.Label)
	}
	scores, err := m.Matching(context.Background(), qs, ps, nil)
	require.NoError(t, err)
	var pos, neg float64
	var np, nn int
	for i, sc := range scores {
		require.GreaterOrEqual(t, sc, float32(0))
		require.LessOrEqual(t, sc, float32(1))
		if labels[i] == 1 {
			pos += float64(sc)
			np++
		} else {
			neg += float64(sc)
			nn++
		}
	}
	t.Logf("mean P(relevant): positives %.3f, negatives %.3f", pos/float64(np), neg/float64(nn))
	require.Greater(t, pos/float64(np), neg/float64(nn)+0.1, "the trained cross-encoder separates its training pairs")
	_, err = m.EncodeQuery(context.Background(), qs)
	require.Error(t, err, "a cross encoder has no EncodeQuery")
}

func TestAPIDualMatchingAndErrors(t *testing.T) {
	task := tinyTask(t, 8, true)
	dir := filepath.Join(t.TempDir(), "de")
	require.NoError(t, task.SaveModel(dir))
	m, err := Load(dir, LoadOptions{BatchSize: 3})
	require.NoError(t, err)
	defer m.Close()
	qs := []string{task.Examples[0].Query, task.Examples[1].Query}
	ps := []string{task.Examples[0].PosPara, task.Examples[1].PosPara}
	ctx := context.Background()
	qv, err := m.EncodeQuery(ctx, qs)
	require.NoError(t, err)
	pv, err := m.EncodePara(ctx, ps, nil)
	require.NoError(t, err)
	sc, err := m.Matching(ctx, qs, ps, nil)
	require.NoError(t, err)
	for i := range qs {
		var dot float32
		for j := range qv[i] {
			dot += qv[i][j] * pv[i][j]
		}
		require.InDelta(t, dot, sc[i], 1e-4)
	}
	_, err = m.Matching(ctx, qs, ps[:1], nil)
	require.Error(t, err)
	_, err = Load("zh_dureader_de", LoadOptions{})
	require.ErrorContains(t, err, "official PaddlePaddle model name")
	_, err = Load(t.TempDir(), LoadOptions{})
	require.ErrorContains(t, err, "rocketqa.json")
}

// A cross-encoder can start from a dual encoder's tower: its encoder weights, and a new pooler.
func TestCrossInitFromDualTower(t *testing.T) {
	task := tinyTask(t, 8, false)
	dir := filepath.Join(t.TempDir(), "de")
	require.NoError(t, task.SaveModel(dir))
	m, err := InitSpec{Init: dir}.newBERT(nil, true, "")
	require.NoError(t, err)
	defer m.Close()
	require.True(t, m.HasPooler())
	w, err := m.Param("encoder.layer.0.attention.self.query.weight").Float32s()
	require.NoError(t, err)
	want, err := task.Model.Query.Param("encoder.layer.0.attention.self.query.weight").Float32s()
	require.NoError(t, err)
	require.Equal(t, want, w, "the tower's weights")
	_, err = encoder.NewCrossEncoder(m, encoder.HeadV1)
	require.NoError(t, err)
}

// TestCrossResumeIsExact: a cross-encoder run stopped at step 3 and resumed (CrossTask.LoadModel) ends with the
// weights of an uninterrupted 6-step run.
func TestCrossResumeIsExact(t *testing.T) {
	tinytest.RequireResumeExact(t, func() train.Task { return tinyCrossTask(t, true) }, train.Options{BatchSize: 4, MaxSteps: 6,
		LR: 1e-3, WarmupProportion: 0.2, SaveEvery: 3, Seed: 5, Log: io.Discard}, 3)
}

// TestLoadBothKindsAndDeviceFailure: Load reads a dual and a cross-encoder directory, and a device it cannot move
// them to is an error (without CUDA, cuda:0).
func TestLoadBothKindsAndDeviceFailure(t *testing.T) {
	de, ce := filepath.Join(t.TempDir(), "de"), filepath.Join(t.TempDir(), "ce")
	require.NoError(t, tinyTask(t, 4, false).SaveModel(de))
	require.NoError(t, tinyCrossTask(t, false).SaveModel(ce))
	for _, dir := range []string{de, ce} {
		m, err := Load(dir, LoadOptions{})
		require.NoError(t, err, dir)
		require.Equal(t, dir == de, m.Dual != nil, dir)
		require.Equal(t, dir == ce, m.Cross != nil, dir)
		require.NotNil(t, m.Tok, dir)
		m.Close()
		if !torch.CUDAAvailable() {
			_, err = Load(dir, LoadOptions{Device: torch.CUDA(0)})
			require.Error(t, err, dir)
		}
	}
}

// TestLoadRefusesTooFewTokenTypes: Load refuses, naming the config.json, a model whose token type table lacks the
// types its inputs carry (passages and pairs use types 0 and 1; match_token_types 0..3), instead of loading and
// failing at the first batch with libtorch's "index out of range in self".
func TestLoadRefusesTooFewTokenTypes(t *testing.T) {
	c := *tinytest.Config(t, false)
	c.TypeVocabSize = 1
	q, err := encoder.NewBERT(&c, false)
	require.NoError(t, err)
	d := encoder.NewDualEncoder(q, q)
	defer d.Close()
	de := filepath.Join(t.TempDir(), "de")
	require.NoError(t, encoder.SaveDual(de, d, encoder.ModelInfo{QMaxSeqLen: 8, PMaxSeqLen: 16}, tinytest.Vocab(t)))
	_, err = Load(de, LoadOptions{})
	require.EqualError(t, err, "rocketqa: "+filepath.Join(de, encoder.QueryDir, encoder.ConfigFile)+
		": type_vocab_size 1, but passages ([CLS] title [SEP] paragraph [SEP]) use token types 0..1")

	c.TypeVocabSize = 2
	enc, err := encoder.NewBERT(&c, true)
	require.NoError(t, err)
	ce, err := encoder.NewCrossEncoder(enc, encoder.HeadV1)
	require.NoError(t, err)
	defer ce.Close()
	dir := filepath.Join(t.TempDir(), "ce")
	require.NoError(t, encoder.SaveCross(dir, ce, encoder.ModelInfo{MaxSeqLen: 16}, tinytest.Vocab(t)))
	m, err := Load(dir, LoadOptions{})
	require.NoError(t, err, "two types serve plain pairs")
	m.Close()
	require.NoError(t, encoder.SaveCross(dir, ce, encoder.ModelInfo{MaxSeqLen: 16, MatchTypes: true}, tinytest.Vocab(t)))
	_, err = Load(dir, LoadOptions{})
	require.EqualError(t, err, "rocketqa: "+filepath.Join(dir, encoder.ConfigFile)+
		": type_vocab_size 2, but query-passage pairs with match_token_types use token types 0..3")
}
