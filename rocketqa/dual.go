package rocketqa

import (
	"errors"
	"fmt"
	"runtime"

	"github.com/rocketqa-go/rocketqa/dataset"
	"github.com/rocketqa-go/rocketqa/encoder"
	"github.com/rocketqa-go/rocketqa/tokenizer"
	"github.com/rocketqa-go/rocketqa/torch"
)

// DualTask trains a dual encoder on grouped examples (a query and G passages, the positive first) with a pluggable
// loss: by default the RocketQA v1 cross-batch loss (CrossBatchLoss) on (query, positive, hard negative) lines.
// It encodes the batch (at once, in chunks, or with gradient caching) and hands the vectors to Loss as Reps.
// It implements train.Task.
type DualTask struct {
	Model *encoder.DualEncoder
	Tok   *tokenizer.Tokenizer
	// Examples are v1 lines (groups of 2); Groups, when set, replace them (any group size, one per batch).
	Examples []dataset.DualExample
	Groups   []dataset.Group
	// Loss is the training loss [CrossBatchLoss].
	Loss  DualLoss
	Info  encoder.ModelInfo // q/p max lengths, for_cn: saved with the model
	Vocab string            // vocab.txt copied into saved models (when VocabFiles is nil)
	// VocabFiles is the vocabulary as read when the task was made (NewDualTask sets it): saved models carry it even
	// when the file changes or disappears during the run.
	VocabFiles *encoder.Vocab

	// ChunkSize is the micro-batch of one forward pass (0: the whole local batch at once).
	ChunkSize int
	// GradCache runs the step as GradCache does: encode every chunk without a graph, compute the loss and the
	// gradients of the embeddings, then re-encode chunk by chunk with the same dropout masks (restored generator
	// state) and backpropagate the cached gradients. Gradients equal the plain step's; memory is one chunk's graph.
	GradCache bool
	// PG, when set and CrossBatch is on, is handed to the loss to gather from every process (cross-batch negatives).
	PG         *torch.ProcessGroup
	CrossBatch bool
	Device     torch.Device
	// Autocast runs the forward passes in bfloat16 autocast: on CUDA always, on the CPU when it multiplies bfloat16
	// natively (torch.BF16Supported) or ForceAutocast is set, else in float32. Weights, gradients, optimizer state
	// and the loss stay float32.
	Autocast, ForceAutocast bool
}

// Params implements train.Task.
func (t *DualTask) Params() []encoder.Param { return t.Model.Params() }

// NumExamples implements train.Task.
func (t *DualTask) NumExamples() int {
	if t.Groups != nil {
		return len(t.Groups)
	}
	return len(t.Examples)
}

func (t *DualTask) group(j int) dataset.Group {
	if t.Groups != nil {
		return t.Groups[j]
	}
	return t.Examples[j].Group()
}

// SaveModel implements train.Task.
func (t *DualTask) SaveModel(dir string) error {
	return t.VocabFiles.With(dir, t.Vocab, func(vocab string) error { return encoder.SaveDual(dir, t.Model, t.Info, vocab) })
}

// LoadModel implements train.Task: it copies the weights saved in dir into the model.
func (t *DualTask) LoadModel(dir string) error { return loadInto(dir, t.Model, encoder.LoadDual) }

// loadInto copies the weights of the model that load reads from dir into dst.
func loadInto[M interface {
	CopyFrom(M) error
	Close()
}](dir string, dst M, load func(string) (M, *encoder.ModelInfo, error)) error {
	src, _, err := load(dir)
	if err != nil {
		return err
	}
	defer src.Close()
	if err := dst.CopyFrom(src); err != nil {
		return fmt.Errorf("rocketqa: %s: %w", dir, err)
	}
	return nil
}

// encodings tokenizes the batch: B queries, then the B·G passages slot by slot (all positives, then every group's
// first negative, ...), the order v1 always encoded them in, so chunks, padding and dropout masks are those of v1.
// regroup turns the encoded passages into the grouped layout of Reps.
func (t *DualTask) encodings(idx []int) (qs, ps []tokenizer.Encoding, g int, err error) {
	b := len(idx)
	qs = make([]tokenizer.Encoding, b)
	for i, j := range idx {
		gr := t.group(j)
		if i == 0 {
			g = len(gr.Passages)
			ps = make([]tokenizer.Encoding, b*g)
		}
		if len(gr.Passages) != g || g == 0 {
			return nil, nil, 0, fmt.Errorf("rocketqa: example %d has %d passages, example %d of the batch has %d (one group size per batch)",
				j, len(gr.Passages), idx[0], g)
		}
		qs[i] = t.Tok.EncodeQuery(gr.Query, t.Info.QMaxSeqLen)
		for k, p := range gr.Passages {
			ps[k*b+i] = t.Tok.EncodePassage(p.Title, p.Text, t.Info.PMaxSeqLen)
		}
	}
	return qs, ps, g, nil
}

// regroup turns slot-major passage vectors [G*B, H] (encodings' order) into the grouped layout [B*G, H]
// (differentiable, exact: a transpose).
func regroup(p *torch.Tensor, b, g int) *torch.Tensor {
	if g == 1 {
		return p
	}
	return p.Reshape(int64(g), int64(b), -1).Transpose(0, 1).Reshape(int64(b*g), -1)
}

// reps assembles what the loss sees from the local query vectors and the slot-major passage vectors.
func (t *DualTask) reps(q, pSlots *torch.Tensor, g int) Reps {
	r := Reps{Q: q, P: regroup(pSlots, int(q.Size(0)), g), G: g}
	if t.CrossBatch {
		r.PG = t.PG
	}
	return r
}

func (t *DualTask) loss(s *torch.Scope, r Reps) *torch.Tensor {
	if t.Loss != nil {
		return t.Loss(s, r)
	}
	return CrossBatchLoss(s, r)
}

func chunks(n, size int) [][2]int {
	if size <= 0 || size > n {
		size = n
	}
	var out [][2]int
	for s := 0; s < n; s += size {
		out = append(out, [2]int{s, min(s+size, n)})
	}
	return out
}

// forward encodes encs[lo:hi] with tower m in train mode and returns the [CLS] vectors.
func (t *DualTask) forward(s *torch.Scope, m *encoder.BERT, encs []tokenizer.Encoding) *torch.Tensor {
	ids, types, mask := encoder.Tensors(s, t.Tok.Pad(encs), t.Device)
	var out *torch.Tensor
	run := func() { out = encoder.CLS(m.Forward(s, ids, types, mask, true)) }
	if dt, on := encoder.AutocastFor(t.Device, t.Autocast, t.ForceAutocast); on {
		if err := torch.Autocast(dt, torch.BFloat16, run); err != nil {
			return s.Error(err)
		}
		return out.To(torch.Float32)
	}
	run()
	return out
}

// Step implements train.Task. It runs on one OS thread: autograd orders the backward passes of a loss's gathers by
// sequence numbers that libtorch counts per thread, and every rank must run them in the same order (train.Run holds
// one thread for the whole run; this covers direct callers).
func (t *DualTask) Step(s *torch.Scope, idx []int) (float64, error) {
	runtime.LockOSThread()
	defer runtime.UnlockOSThread()
	if len(idx) == 0 {
		return 0, errors.New("rocketqa: empty batch")
	}
	qe, pe, g, err := t.encodings(idx)
	if err != nil {
		return 0, err
	}
	if !t.GradCache {
		var qs, ps []*torch.Tensor
		for _, c := range chunks(len(qe), t.ChunkSize) {
			qs = append(qs, t.forward(s, t.Model.Query, qe[c[0]:c[1]]))
		}
		for _, c := range chunks(len(pe), t.ChunkSize) {
			ps = append(ps, t.forward(s, t.Model.Para, pe[c[0]:c[1]]))
		}
		loss := t.loss(s, t.reps(torch.Cat(qs, 0), torch.Cat(ps, 0), g))
		if err := loss.Backward(); err != nil {
			return 0, err
		}
		return loss.Item()
	}
	return t.gradCacheStep(s, qe, pe, g)
}

type cachedChunk struct {
	m    *encoder.BERT
	encs []tokenizer.Encoding
	rng  []byte
	off  int64
}

// rngState saves the generators a forward pass draws dropout masks from (CPU, and the task's CUDA device).
func (t *DualTask) rngState() ([]byte, error) { return torch.SaveRNG(t.Device) }

// setRNG restores what rngState saved.
func (t *DualTask) setRNG(st []byte) error { return torch.RestoreRNG(t.Device, st) }

// gradCacheStep: pass 1 without a graph, loss on detached embeddings, pass 2 chunk by chunk with the cached
// embedding gradients. Any loss of the vectors alone works: it only has to give their gradients.
func (t *DualTask) gradCacheStep(s *torch.Scope, qe, pe []tokenizer.Encoding, g int) (float64, error) {
	var cs []cachedChunk
	for _, c := range chunks(len(qe), t.ChunkSize) {
		cs = append(cs, cachedChunk{m: t.Model.Query, encs: qe[c[0]:c[1]], off: int64(c[0])})
	}
	nq := len(cs)
	for _, c := range chunks(len(pe), t.ChunkSize) {
		cs = append(cs, cachedChunk{m: t.Model.Para, encs: pe[c[0]:c[1]], off: int64(c[0])})
	}
	reps := make([]*torch.Tensor, len(cs))
	var err error
	torch.NoGrad(func() {
		for i := range cs {
			if cs[i].rng, err = t.rngState(); err != nil {
				return
			}
			// each chunk in its own scope: only the [CLS] vectors outlive it
			inner := torch.NewScope()
			reps[i] = s.Adopt(t.forward(inner, cs[i].m, cs[i].encs).Clone()) // own storage, not a view of the sequence output
			inner.Close()
		}
	})
	if err != nil {
		return 0, err
	}
	after, err := t.rngState()
	if err != nil {
		return 0, err
	}
	q := torch.Cat(reps[:nq], 0).Detach().SetRequiresGrad(true)
	p := torch.Cat(reps[nq:], 0).Detach().SetRequiresGrad(true)
	loss := t.loss(s, t.reps(q, p, g))
	if err := loss.Backward(); err != nil {
		return 0, err
	}
	gq, gp := s.Adopt(q.Grad()), s.Adopt(p.Grad())
	for i, c := range cs {
		g := gq
		if i >= nq {
			g = gp
		}
		if err := t.setRNG(c.rng); err != nil {
			return 0, err
		}
		err := torch.With(func(inner *torch.Scope) error {
			rep := t.forward(inner, c.m, c.encs)
			return rep.BackwardWith(g.Narrow(0, c.off, int64(len(c.encs))), false)
		})
		if err != nil {
			return 0, fmt.Errorf("rocketqa: grad-cache backward of chunk %d: %w", i, err)
		}
	}
	if err := t.setRNG(after); err != nil {
		return 0, err
	}
	return loss.Item()
}
