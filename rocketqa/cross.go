package rocketqa

import (
	"context"
	"errors"
	"fmt"
	"math"

	"github.com/rocketqa-go/rocketqa/dataset"
	"github.com/rocketqa-go/rocketqa/encoder"
	"github.com/rocketqa-go/rocketqa/tokenizer"
	"github.com/rocketqa-go/rocketqa/torch"
)

// CrossTask trains a RocketQA v1 cross-encoder: pointwise 2-class softmax cross-entropy on (query, title, para,
// label) lines of cross.train.tsv (docs/method.md §3.2). It implements train.Task.
type CrossTask struct {
	Model    *encoder.CrossEncoder
	Tok      *tokenizer.Tokenizer
	Examples []dataset.CrossExample
	Info     encoder.ModelInfo // MaxSeqLen (pair length), for_cn
	Vocab    string            // vocab.txt copied into saved models (when VocabFiles is nil)
	// VocabFiles is the vocabulary as read when the task was made (NewCrossTask sets it).
	VocabFiles *encoder.Vocab
	Device     torch.Device
	// Perturb adds the official embedding-gradient step: a first pass without dropout gives g = ∂L/∂E (E the word
	// embedding table); E is moved by Epsilon·g/‖g‖ for the training pass (with dropout), then restored.
	Perturb bool
	Epsilon float64 // [0.01]
	// Autocast runs the forward passes in bfloat16 autocast: on CUDA always, on the CPU when it multiplies bfloat16
	// natively (torch.BF16Supported) or ForceAutocast is set, else in float32. Weights, gradients, optimizer state
	// and the loss stay float32.
	Autocast, ForceAutocast bool
}

// Params implements train.Task.
func (t *CrossTask) Params() []encoder.Param { return t.Model.Params() }

// NumExamples implements train.Task.
func (t *CrossTask) NumExamples() int { return len(t.Examples) }

// SaveModel implements train.Task.
func (t *CrossTask) SaveModel(dir string) error {
	return t.VocabFiles.With(dir, t.Vocab, func(vocab string) error { return encoder.SaveCross(dir, t.Model, t.Info, vocab) })
}

// LoadModel implements train.Task.
func (t *CrossTask) LoadModel(dir string) error { return loadInto(dir, t.Model, encoder.LoadCross) }

// Step implements train.Task.
func (t *CrossTask) Step(s *torch.Scope, idx []int) (float64, error) {
	if len(idx) == 0 {
		return 0, errors.New("rocketqa: empty batch")
	}
	encs := make([]tokenizer.Encoding, len(idx))
	labels := make([]int64, len(idx))
	for i, j := range idx {
		ex := &t.Examples[j]
		encs[i] = t.Tok.EncodePairMatched(ex.Query, ex.Title, ex.Para, t.Info.MaxSeqLen, t.Info.MatchTypes)
		labels[i] = int64(ex.Label)
	}
	ids, types, mask := encoder.Tensors(s, t.Tok.Pad(encs), t.Device)
	target := s.FromInt64(labels, int64(len(labels))).ToDevice(t.Device)
	dt, bf16 := encoder.AutocastFor(t.Device, t.Autocast, t.ForceAutocast)
	loss := func(train bool) *torch.Tensor {
		var logits *torch.Tensor
		if err := encoder.WithAutocast(dt, bf16, func() { logits = t.Model.Logits(s, ids, types, mask, train) }); err != nil {
			return s.Error(err)
		}
		return torch.CrossEntropy(logits.To(torch.Float32), target)
	}
	if !t.Perturb {
		l := loss(true)
		if err := l.Backward(); err != nil {
			return 0, err
		}
		return l.Item()
	}
	eps := t.Epsilon
	if eps == 0 {
		eps = 0.01
	}
	word := t.Model.Enc.Param("embeddings.word_embeddings.weight")
	if err := loss(false).Backward(); err != nil {
		return 0, err
	}
	g := s.Adopt(word.Grad())
	if g == nil {
		return 0, errors.New("rocketqa: no gradient on the word embeddings")
	}
	norm, err := g.Square().Sum().AddScalar(1e-8).Sqrt().Item()
	if err != nil {
		return 0, err
	}
	delta := g.MulScalar(eps / norm).Clone()
	for _, p := range t.Params() {
		if err := p.Tensor.ZeroGrad(); err != nil {
			return 0, err
		}
	}
	if err := word.AddInPlace(delta, 1); err != nil {
		return 0, err
	}
	l := loss(true)
	berr := l.Backward()
	if err := word.AddInPlace(delta, -1); err != nil {
		return 0, err
	}
	if berr != nil {
		return 0, berr
	}
	return l.Item()
}

// Reranker scores (query, passage) pairs with a cross-encoder: softmax[:, 1] for the v1 head, the logit for v2.
// Pairs are sorted by length and batched as the Embedder's passages (encoder.Batching); scores come back in input
// order. It is safe for concurrent use.
type Reranker struct {
	Model     *encoder.CrossEncoder
	Tok       *tokenizer.Tokenizer
	MaxSeqLen int
	BatchSize int // pairs per forward pass when TokenBudget is 0 [32]
	// SortWindow is how many pairs are sorted by length together [50 batches]; 1 keeps the input order.
	SortWindow int
	// TokenBudget, when > 0, batches by padded tokens instead of by count (encoder.Batching).
	TokenBudget int
	Device      torch.Device
	// BF16 and ForceBF16 run the forward passes in bfloat16 autocast, as encoder.EncodeOptions.
	BF16, ForceBF16 bool
	// MatchTypes marks exact matches in the token types, as the model was trained (ModelInfo.MatchTypes).
	MatchTypes bool
	Progress   func(done, total int)
}

// Score returns one score per pair; titles may be nil or empty (no titles, as the official matching with
// title=[]). It returns ctx.Err() when ctx ends, checked while
// tokenizing and before every batch.
func (r *Reranker) Score(ctx context.Context, queries, titles, paras []string) ([]float32, error) {
	if len(queries) != len(paras) || (len(titles) != 0 && len(titles) != len(paras)) {
		return nil, fmt.Errorf("rocketqa: %d queries, %d titles, %d passages: lengths differ", len(queries), len(titles), len(paras))
	}
	if r.Model == nil || r.Tok == nil {
		return nil, errors.New("rocketqa: Reranker needs a Model and a Tok")
	}
	bs := r.BatchSize
	if bs <= 0 {
		bs = 32
	}
	encs, err := encoder.Tokenize(ctx, len(paras), func(i int) tokenizer.Encoding {
		title := ""
		if len(titles) != 0 {
			title = titles[i]
		}
		return r.Tok.EncodePairMatched(queries[i], title, paras[i], r.MaxSeqLen, r.MatchTypes)
	})
	if err != nil {
		return nil, err
	}
	plan := encoder.Batching{BatchSize: bs, TokenBudget: r.TokenBudget, SortWindow: r.SortWindow}.Plan(encoder.Lengths(encs))
	dt, bf16 := encoder.AutocastFor(r.Device, r.BF16, r.ForceBF16)
	out := make([]float32, len(paras))
	err = encoder.Infer(ctx, r.Tok, encs, plan, r.Device, r.Progress, func(s *torch.Scope, ids, types, mask *torch.Tensor, rows []int) error {
		var logits *torch.Tensor
		if err := encoder.WithAutocast(dt, bf16, func() { logits = r.Model.Logits(s, ids, types, mask, false) }); err != nil {
			return err
		}
		v, err := r.Model.Scores(logits.To(torch.Float32)).Float32s()
		if err != nil {
			return err
		}
		for i, j := range rows {
			out[j] = v[i]
		}
		return nil
	})
	if err != nil {
		return nil, err
	}
	for i, v := range out {
		if math.IsNaN(float64(v)) {
			return nil, fmt.Errorf("rocketqa: score of pair %d is NaN", i)
		}
	}
	return out, nil
}
