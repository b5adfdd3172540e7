package jointtrain

import (
	"errors"
	"fmt"
	"path/filepath"

	"github.com/rocketqa-go/rocketqa/dataset"
	"github.com/rocketqa-go/rocketqa/encoder"
	"github.com/rocketqa-go/rocketqa/tokenizer"
	"github.com/rocketqa-go/rocketqa/torch"
)

// Sub-directories of a joint-training output (every checkpoint, final/, best/): a dual-encoder directory and a
// cross-encoder directory, each of which rocketqa.Load serves.
const (
	DEDir = "de"
	CEDir = "ce"
)

// Task is one RocketQA v2 training step over lists: it implements train.Task with one example per list. For B
// lists of m passages it encodes the queries (B·m copies, one per list line as the official data does, or B with
// QueryOnce), the B·m passages and the B·m (query, passage) pairs, and backpropagates Loss.
type Task struct {
	DE *encoder.DualEncoder
	CE *encoder.CrossEncoder
	// Tok tokenizes queries, passages and pairs (one vocabulary for the three towers, as in the official code).
	Tok   *tokenizer.Tokenizer
	Lists []dataset.JointList
	// M is the list size every list must have.
	M       int
	Variant Variant // [Official]
	// QueryOnce encodes every query once and uses its vector for the m rows of its list (the official data
	// repeats the query on every line, so the official code encodes it m times with m dropout masks).
	QueryOnce bool
	// ChunkSize is the number of rows (queries, passages or pairs) of one forward pass (0: a tower's rows at once).
	ChunkSize int
	// Cached runs the step in two passes (the exact list chunking): pass 1 without a graph, the loss and the
	// gradients of the vectors and scores on detached values, pass 2 chunk by chunk with the same dropout masks
	// (restored generator state) backpropagating the cached gradients. Gradients equal the plain step's with the
	// same ChunkSize; memory is one chunk's graph.
	Cached bool
	// DEInfo (q/p lengths) and CEInfo (pair length) are saved with the models.
	DEInfo, CEInfo encoder.ModelInfo
	Vocab          string // vocab.txt copied into saved models (when VocabFiles is nil)
	// VocabFiles is the vocabulary as read when the task was made (Train sets it).
	VocabFiles *encoder.Vocab
	Device     torch.Device
	// Autocast runs the forward passes in bfloat16 autocast: on CUDA always, on the CPU when it multiplies bfloat16
	// natively (torch.BF16Supported) or ForceAutocast is set, else in float32. Weights, gradients, optimizer state
	// and the losses stay float32.
	Autocast, ForceAutocast bool

	// Last holds the terms of the last step's loss.
	Last struct{ Sup, KL float64 }
}

// Check reports an unusable configuration: towers of different hidden sizes, a bad list size, a list of the wrong
// size (naming the list).
func (t *Task) Check() error {
	if t.DE == nil || t.CE == nil || t.Tok == nil {
		return errors.New("jointtrain: Task needs DE, CE and Tok")
	}
	if hq, hp := t.DE.Query.Cfg.HiddenSize, t.DE.Para.Cfg.HiddenSize; hq != hp {
		return fmt.Errorf("jointtrain: the query tower has hidden size %d, the passage tower %d (a dot product needs one size)", hq, hp)
	}
	if t.M < 2 {
		return fmt.Errorf("jointtrain: list size %d: want at least 2 (a positive and a negative)", t.M)
	}
	for i, l := range t.Lists {
		if len(l.Items) != t.M {
			return fmt.Errorf("jointtrain: list %d (query %q) has %d items, want %d", i, l.Query, len(l.Items), t.M)
		}
	}
	if _, err := ParseVariant(string(t.variant())); err != nil {
		return err
	}
	return nil
}

func (t *Task) variant() Variant {
	if t.Variant == "" {
		return Official
	}
	return t.Variant
}

// Params implements train.Task: the dual encoder's parameters ("de." prefix) and, unless the variant freezes it,
// the cross-encoder's ("ce." prefix).
func (t *Task) Params() []encoder.Param {
	var out []encoder.Param
	for _, p := range t.DE.Params() {
		out = append(out, encoder.Param{Name: "de." + p.Name, Tensor: p.Tensor})
	}
	if t.variant().FrozenCE() {
		return out
	}
	for _, p := range t.CE.Params() {
		out = append(out, encoder.Param{Name: "ce." + p.Name, Tensor: p.Tensor})
	}
	return out
}

// NumExamples implements train.Task: the number of lists.
func (t *Task) NumExamples() int { return len(t.Lists) }

// SaveModel implements train.Task: dir/de (a dual encoder) and dir/ce (a cross-encoder).
func (t *Task) SaveModel(dir string) error {
	return t.VocabFiles.With(dir, t.Vocab, func(vocab string) error {
		if err := encoder.SaveDual(filepath.Join(dir, DEDir), t.DE, t.DEInfo, vocab); err != nil {
			return err
		}
		return encoder.SaveCross(filepath.Join(dir, CEDir), t.CE, t.CEInfo, vocab)
	})
}

// LoadModel implements train.Task: it copies the weights saved in dir/de and dir/ce into the models.
func (t *Task) LoadModel(dir string) error {
	de, _, err := encoder.LoadDual(filepath.Join(dir, DEDir))
	if err != nil {
		return err
	}
	defer de.Close()
	if de.Shared != t.DE.Shared {
		return fmt.Errorf("jointtrain: %s: shared towers %v, model %v", dir, de.Shared, t.DE.Shared)
	}
	if err := t.DE.Query.CopyFrom(de.Query); err != nil {
		return err
	}
	if !t.DE.Shared {
		if err := t.DE.Para.CopyFrom(de.Para); err != nil {
			return err
		}
	}
	ce, _, err := encoder.LoadCross(filepath.Join(dir, CEDir))
	if err != nil {
		return err
	}
	defer ce.Close()
	if ce.Version != t.CE.Version {
		return fmt.Errorf("jointtrain: %s: cross-encoder head v%d, model v%d", dir, ce.Version, t.CE.Version)
	}
	dst, src := t.CE.Params(), ce.Params()
	if len(dst) != len(src) {
		return fmt.Errorf("jointtrain: %s has %d cross-encoder tensors, the model %d", dir, len(src), len(dst))
	}
	for i := range dst {
		if err := dst[i].Tensor.CopyFrom(src[i].Tensor); err != nil {
			return fmt.Errorf("jointtrain: load %s: %w", dst[i].Name, err)
		}
	}
	return nil
}

// Batch is a tokenized step: Q holds B·m query rows (one per list line) or B with QueryOnce, P the B·m passages
// and C the B·m pairs, list-major (row b·m+j is item j of list b).
type Batch struct {
	Q, P, C []tokenizer.Encoding
	B, M    int
}

// Encode tokenizes the lists idx.
func (t *Task) Encode(idx []int) (*Batch, error) {
	if len(idx) == 0 {
		return nil, errors.New("jointtrain: empty batch")
	}
	m := t.M
	bt := &Batch{B: len(idx), M: m}
	for _, j := range idx {
		if j < 0 || j >= len(t.Lists) {
			return nil, fmt.Errorf("jointtrain: list index %d out of range (%d lists)", j, len(t.Lists))
		}
		l := t.Lists[j]
		if len(l.Items) != m {
			return nil, fmt.Errorf("jointtrain: list %d (query %q) has %d items, want %d", j, l.Query, len(l.Items), m)
		}
		q := t.Tok.EncodeQuery(l.Query, t.DEInfo.QMaxSeqLen)
		if t.QueryOnce {
			bt.Q = append(bt.Q, q)
		}
		for _, it := range l.Items {
			if !t.QueryOnce {
				bt.Q = append(bt.Q, q)
			}
			bt.P = append(bt.P, t.Tok.EncodePassage(it.Title, it.Para, t.DEInfo.PMaxSeqLen))
			// the official v2 reader cuts q and title+para to the dual encoder's lengths before joining them
			c := t.Tok.EncodePairCut(l.Query, it.Title, it.Para, t.DEInfo.QMaxSeqLen, t.DEInfo.PMaxSeqLen, t.CEInfo.MaxSeqLen)
			if t.CEInfo.MatchTypes {
				t.Tok.MarkMatches(c)
			}
			bt.C = append(bt.C, c)
		}
	}
	return bt, nil
}

// Step implements train.Task.
func (t *Task) Step(s *torch.Scope, idx []int) (float64, error) {
	bt, err := t.Encode(idx)
	if err != nil {
		return 0, err
	}
	return t.StepBatch(s, bt)
}

// tower is one of the three encoders of a step.
type tower int

const (
	towerQ tower = iota
	towerP
	towerC
)

type chunk struct {
	tw     tower
	encs   []tokenizer.Encoding
	off    int64
	rng    []byte
	devRNG []byte
}

func spans(n, size int) [][2]int {
	if size <= 0 || size > n {
		size = n
	}
	var out [][2]int
	for s := 0; s < n; s += size {
		out = append(out, [2]int{s, min(s+size, n)})
	}
	return out
}

func (t *Task) chunks(bt *Batch) []chunk {
	var cs []chunk
	for tw, encs := range [][]tokenizer.Encoding{bt.Q, bt.P, bt.C} {
		for _, sp := range spans(len(encs), t.ChunkSize) {
			cs = append(cs, chunk{tw: tower(tw), encs: encs[sp[0]:sp[1]], off: int64(sp[0])})
		}
	}
	return cs
}

// forward runs one chunk: [n, H] vectors for the towers of the dual encoder, [n] scores for the cross-encoder
// (the v2 logit, or z1 − z0 for a v1 head: the ranking of its softmax[:, 1]). The cross-encoder of a frozen
// variant runs in eval mode.
func (t *Task) forward(s *torch.Scope, c chunk) *torch.Tensor {
	ids, types, mask := encoder.Tensors(s, t.Tok.Pad(c.encs), t.Device)
	var out *torch.Tensor
	run := func() {
		switch c.tw {
		case towerQ:
			out = t.DE.EncodeQuery(s, ids, types, mask, true)
		case towerP:
			out = t.DE.EncodePara(s, ids, types, mask, true)
		default:
			out = CEScores(t.CE, t.CE.Logits(s, ids, types, mask, !t.variant().FrozenCE()))
		}
	}
	if dt, on := encoder.AutocastFor(t.Device, t.Autocast, t.ForceAutocast); on {
		if err := torch.Autocast(dt, torch.BFloat16, run); err != nil {
			return s.Error(err)
		}
		return out.To(torch.Float32)
	}
	run()
	return out
}

// CEScores turns cross-encoder logits into the list scores of joint training: the logit of a v2 head, z1 − z0 of a
// v1 head (softmax[:, 1] = sigmoid(z1 − z0), so the same ranking). Shape [N].
func CEScores(ce *encoder.CrossEncoder, logits *torch.Tensor) *torch.Tensor {
	if ce.Version == encoder.HeadV1 {
		return logits.Select(1, 1).Sub(logits.Select(1, 0))
	}
	return logits.Select(1, 0)
}

// scores turns the step's vectors into de [B, m] and ce [B, m].
func (t *Task) scores(bt *Batch, q, p, c *torch.Tensor) (de, ce *torch.Tensor) {
	b, m := int64(bt.B), int64(bt.M)
	if t.QueryOnce {
		de = q.Unsqueeze(1).Mul(p.Reshape(b, m, -1)).Sum(2)
	} else {
		de = q.Mul(p).Sum(1).Reshape(b, m)
	}
	return de, c.Reshape(b, m)
}

func (t *Task) loss(s *torch.Scope, bt *Batch, q, p, c *torch.Tensor) (*torch.Tensor, error) {
	de, ce := t.scores(bt, q, p, c)
	l := Loss(s, t.variant(), de, ce)
	sup, err := l.Sup.Item()
	if err != nil {
		return nil, err
	}
	kl, err := l.KL.Item()
	if err != nil {
		return nil, err
	}
	t.Last.Sup, t.Last.KL = sup, kl
	return l.Total, nil
}

// StepBatch runs forward and backward on a tokenized batch and returns the loss.
func (t *Task) StepBatch(s *torch.Scope, bt *Batch) (float64, error) {
	if hq, hp := t.DE.Query.Cfg.HiddenSize, t.DE.Para.Cfg.HiddenSize; hq != hp {
		return 0, fmt.Errorf("jointtrain: the query tower has hidden size %d, the passage tower %d", hq, hp)
	}
	if t.Cached {
		return t.cachedStep(s, bt)
	}
	cs := t.chunks(bt)
	parts := [3][]*torch.Tensor{}
	for _, c := range cs {
		var out *torch.Tensor
		if c.tw == towerC && t.variant().FrozenCE() {
			torch.NoGrad(func() { out = t.forward(s, c) })
		} else {
			out = t.forward(s, c)
		}
		parts[c.tw] = append(parts[c.tw], out)
	}
	loss, err := t.loss(s, bt, torch.Cat(parts[0], 0), torch.Cat(parts[1], 0), torch.Cat(parts[2], 0))
	if err != nil {
		return 0, err
	}
	if err := loss.Backward(); err != nil {
		return 0, err
	}
	return loss.Item()
}

func (t *Task) rngState() (cpu, dev []byte, err error) {
	if cpu, err = torch.RNGState(torch.CPU); err != nil {
		return nil, nil, err
	}
	if t.Device.Type == torch.CUDADevice {
		dev, err = torch.RNGState(t.Device)
	}
	return cpu, dev, err
}

func (t *Task) setRNG(cpu, dev []byte) error {
	if err := torch.SetRNGState(torch.CPU, cpu); err != nil {
		return err
	}
	if dev != nil {
		return torch.SetRNGState(t.Device, dev)
	}
	return nil
}

// cachedStep is the two-pass step (see Cached).
func (t *Task) cachedStep(s *torch.Scope, bt *Batch) (float64, error) {
	cs := t.chunks(bt)
	outs := make([]*torch.Tensor, len(cs))
	var err error
	torch.NoGrad(func() {
		for i := range cs {
			if cs[i].rng, cs[i].devRNG, err = t.rngState(); err != nil {
				return
			}
			// each chunk in its own scope: only its vectors or scores outlive it (own storage, not a view)
			inner := torch.NewScope()
			outs[i] = s.Adopt(t.forward(inner, cs[i]).Clone())
			err = inner.Err()
			inner.Close()
			if err == nil {
				err = outs[i].Err()
			}
			if err != nil {
				return
			}
		}
	})
	if err != nil {
		return 0, fmt.Errorf("jointtrain: pass 1: %w", err)
	}
	after, afterDev, err := t.rngState()
	if err != nil {
		return 0, err
	}
	frozen := t.variant().FrozenCE()
	parts := [3][]*torch.Tensor{}
	for i, c := range cs {
		parts[c.tw] = append(parts[c.tw], outs[i])
	}
	leaves := [3]*torch.Tensor{}
	for tw := range leaves {
		leaves[tw] = torch.Cat(parts[tw], 0).Detach()
		if !(tower(tw) == towerC && frozen) {
			leaves[tw] = leaves[tw].SetRequiresGrad(true)
		}
	}
	loss, err := t.loss(s, bt, leaves[0], leaves[1], leaves[2])
	if err != nil {
		return 0, err
	}
	if err := loss.Backward(); err != nil {
		return 0, err
	}
	var grads [3]*torch.Tensor
	for tw := range leaves {
		if !(tower(tw) == towerC && frozen) {
			if grads[tw] = s.Adopt(leaves[tw].Grad()); grads[tw] == nil {
				return 0, fmt.Errorf("jointtrain: the loss gave no gradient for tower %d", tw)
			}
		}
	}
	for i, c := range cs {
		if c.tw == towerC && frozen {
			continue
		}
		if err := t.setRNG(c.rng, c.devRNG); err != nil {
			return 0, err
		}
		err := torch.With(func(inner *torch.Scope) error {
			out := t.forward(inner, c)
			return out.BackwardWith(grads[c.tw].Narrow(0, c.off, int64(len(c.encs))), false)
		})
		if err != nil {
			return 0, fmt.Errorf("jointtrain: pass 2, chunk %d: %w", i, err)
		}
	}
	if err := t.setRNG(after, afterDev); err != nil {
		return 0, err
	}
	return loss.Item()
}
