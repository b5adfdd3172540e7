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
// label) lines of cross.train.tsv (spec 3.2). It implements train.Task.
type CrossTask struct {
	Model    *encoder.CrossEncoder
	Tok      *tokenizer.Tokenizer
	Examples []dataset.CrossExample
	Info     encoder.ModelInfo // MaxSeqLen (pair length), for_cn
	Vocab    string
	Device   torch.Device
	// Perturb adds the official embedding-gradient step: a first pass without dropout gives g = ∂L/∂E (E the word
	// embedding table); E is moved by Epsilon·g/‖g‖ for the training pass (with dropout), then restored.
	Perturb bool
	Epsilon float64 // [0.01]
}

// Params implements train.Task.
func (t *CrossTask) Params() []encoder.Param { return t.Model.Params() }

// NumExamples implements train.Task.
func (t *CrossTask) NumExamples() int { return len(t.Examples) }

// SaveModel implements train.Task.
func (t *CrossTask) SaveModel(dir string) error {
	return encoder.SaveCross(dir, t.Model, t.Info, t.Vocab)
}

// LoadModel implements train.Task.
func (t *CrossTask) LoadModel(dir string) error {
	src, _, err := encoder.LoadCross(dir)
	if err != nil {
		return err
	}
	defer src.Close()
	dst, from := t.Model.Params(), src.Params()
	if len(dst) != len(from) {
		return fmt.Errorf("rocketqa: %s has %d tensors, the model %d", dir, len(from), len(dst))
	}
	for i := range dst {
		if err := dst[i].Tensor.CopyFrom(from[i].Tensor); err != nil {
			return fmt.Errorf("rocketqa: load %s: %w", dst[i].Name, err)
		}
	}
	return nil
}

// Step implements train.Task.
func (t *CrossTask) Step(s *torch.Scope, idx []int) (float64, error) {
	if len(idx) == 0 {
		return 0, errors.New("rocketqa: empty batch")
	}
	encs := make([]tokenizer.Encoding, len(idx))
	labels := make([]int64, len(idx))
	for i, j := range idx {
		ex := &t.Examples[j]
		encs[i] = t.Tok.EncodePair(ex.Query, ex.Title, ex.Para, t.Info.MaxSeqLen)
		labels[i] = int64(ex.Label)
	}
	ids, types, mask := encoder.Tensors(s, t.Tok.Pad(encs), t.Device)
	target := s.FromInt64(labels, int64(len(labels))).ToDevice(t.Device)
	loss := func(train bool) *torch.Tensor {
		return torch.CrossEntropy(t.Model.Logits(s, ids, types, mask, train), target)
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
// It is safe for concurrent use.
type Reranker struct {
	Model     *encoder.CrossEncoder
	Tok       *tokenizer.Tokenizer
	MaxSeqLen int
	BatchSize int // [32]
	Device    torch.Device
	Progress  func(done, total int)
}

// Score returns one score per pair; titles may be nil.
func (r *Reranker) Score(ctx context.Context, queries, titles, paras []string) ([]float32, error) {
	if len(queries) != len(paras) || (titles != nil && len(titles) != len(paras)) {
		return nil, fmt.Errorf("rocketqa: %d queries, %d titles, %d passages: lengths differ", len(queries), len(titles), len(paras))
	}
	bs := r.BatchSize
	if bs <= 0 {
		bs = 32
	}
	out := make([]float32, len(paras))
	var runErr error
	torch.NoGrad(func() {
		for start := 0; start < len(paras); start += bs {
			if runErr = ctx.Err(); runErr != nil {
				return
			}
			end := min(start+bs, len(paras))
			encs := make([]tokenizer.Encoding, end-start)
			for i := start; i < end; i++ {
				title := ""
				if titles != nil {
					title = titles[i]
				}
				encs[i-start] = r.Tok.EncodePair(queries[i], title, paras[i], r.MaxSeqLen)
			}
			runErr = torch.With(func(s *torch.Scope) error {
				ids, types, mask := encoder.Tensors(s, r.Tok.Pad(encs), r.Device)
				v, err := r.Model.Scores(r.Model.Logits(s, ids, types, mask, false)).Float32s()
				copy(out[start:end], v)
				return err
			})
			if runErr != nil {
				return
			}
			if r.Progress != nil {
				r.Progress(end, len(paras))
			}
		}
	})
	if runErr != nil {
		return nil, runErr
	}
	for i, v := range out {
		if math.IsNaN(float64(v)) {
			return nil, fmt.Errorf("rocketqa: score of pair %d is NaN", i)
		}
	}
	return out, nil
}
