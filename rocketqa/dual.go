package rocketqa

import (
	"errors"
	"fmt"

	"github.com/rocketqa-go/rocketqa/dataset"
	"github.com/rocketqa-go/rocketqa/encoder"
	"github.com/rocketqa-go/rocketqa/tokenizer"
	"github.com/rocketqa-go/rocketqa/torch"
)

// DualTask trains a RocketQA v1 dual encoder on (query, positive, hard negative) lines with the cross-batch loss
// (spec 3.1): every query is scored against all positives and negatives of the global batch, gathered from every
// process through c10d's differentiable all_gather, target index 2·B·rank + i. It implements train.Task.
type DualTask struct {
	Model    *encoder.DualEncoder
	Tok      *tokenizer.Tokenizer
	Examples []dataset.DualExample
	Info     encoder.ModelInfo // q/p max lengths, for_cn: saved with the model
	Vocab    string            // vocab.txt copied into saved models

	// ChunkSize is the micro-batch of one forward pass (0: the whole local batch at once).
	ChunkSize int
	// GradCache runs the step as GradCache does: encode every chunk without a graph, compute the loss and the
	// gradients of the embeddings, then re-encode chunk by chunk with the same dropout masks (restored generator
	// state) and backpropagate the cached gradients. Gradients equal the plain step's; memory is one chunk's graph.
	GradCache bool
	// PG, when set and CrossBatch is on, gathers passages from every process (cross-batch negatives).
	PG         *torch.ProcessGroup
	CrossBatch bool
	Device     torch.Device
	// Autocast runs the forward passes in bfloat16 autocast on CUDA (ignored on CPU).
	Autocast bool
}

// Params implements train.Task.
func (t *DualTask) Params() []encoder.Param { return t.Model.Params() }

// NumExamples implements train.Task.
func (t *DualTask) NumExamples() int { return len(t.Examples) }

// SaveModel implements train.Task.
func (t *DualTask) SaveModel(dir string) error {
	return encoder.SaveDual(dir, t.Model, t.Info, t.Vocab)
}

// LoadModel implements train.Task: it copies the weights saved in dir into the model.
func (t *DualTask) LoadModel(dir string) error {
	src, _, err := encoder.LoadDual(dir)
	if err != nil {
		return err
	}
	defer src.Close()
	if src.Shared != t.Model.Shared {
		return fmt.Errorf("rocketqa: %s: shared towers %v, model %v", dir, src.Shared, t.Model.Shared)
	}
	if err := t.Model.Query.CopyFrom(src.Query); err != nil {
		return err
	}
	if t.Model.Shared {
		return nil
	}
	return t.Model.Para.CopyFrom(src.Para)
}

// encodings tokenizes the batch: B queries, then 2B passages (B positives, B negatives).
func (t *DualTask) encodings(idx []int) (qs, ps []tokenizer.Encoding) {
	qs = make([]tokenizer.Encoding, len(idx))
	ps = make([]tokenizer.Encoding, 2*len(idx))
	for i, j := range idx {
		ex := &t.Examples[j]
		qs[i] = t.Tok.EncodeQuery(ex.Query, t.Info.QMaxSeqLen)
		ps[i] = t.Tok.EncodePassage(ex.PosTitle, ex.PosPara, t.Info.PMaxSeqLen)
		ps[len(idx)+i] = t.Tok.EncodePassage(ex.NegTitle, ex.NegPara, t.Info.PMaxSeqLen)
	}
	return qs, ps
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
	if t.Autocast && t.Device.Type == torch.CUDADevice {
		if err := torch.Autocast(torch.CUDADevice, torch.BFloat16, run); err != nil {
			return s.Error(err)
		}
		return out.To(torch.Float32)
	}
	run()
	return out
}

// Loss is the cross-batch loss of local query vectors q [B, H] against local passages p [2B, H] (positives first).
func (t *DualTask) Loss(s *torch.Scope, q, p *torch.Tensor) *torch.Tensor {
	return CrossBatchLoss(s, q, p, t.PG, t.CrossBatch)
}

// CrossBatchLoss is the RocketQA v1 loss: q [B, H] against p [2B, H] (B positives then B negatives). With a process
// group and crossBatch, p is all-gathered (rank-major, differentiable) and the target of query i on rank r is
// 2·B·r + i; otherwise in-batch negatives (target i). Mean over the local queries.
func CrossBatchLoss(s *torch.Scope, q, p *torch.Tensor, pg *torch.ProcessGroup, crossBatch bool) *torch.Tensor {
	b := q.Size(0)
	if p.Size(0) != 2*b {
		return s.Error(fmt.Errorf("rocketqa: %d passage vectors for %d queries (want 2 per query)", p.Size(0), b))
	}
	off := int64(0)
	if pg != nil && crossBatch {
		p = pg.AllGather(p)
		off = 2 * b * int64(pg.Rank())
	}
	target := s.Arange(float64(off), float64(off+b), 1, torch.Int64, q.Device())
	return torch.CrossEntropy(q.MatMul(p.T()), target)
}

// Step implements train.Task.
func (t *DualTask) Step(s *torch.Scope, idx []int) (float64, error) {
	if len(idx) == 0 {
		return 0, errors.New("rocketqa: empty batch")
	}
	qe, pe := t.encodings(idx)
	if !t.GradCache {
		var qs, ps []*torch.Tensor
		for _, c := range chunks(len(qe), t.ChunkSize) {
			qs = append(qs, t.forward(s, t.Model.Query, qe[c[0]:c[1]]))
		}
		for _, c := range chunks(len(pe), t.ChunkSize) {
			ps = append(ps, t.forward(s, t.Model.Para, pe[c[0]:c[1]]))
		}
		loss := t.Loss(s, torch.Cat(qs, 0), torch.Cat(ps, 0))
		if err := loss.Backward(); err != nil {
			return 0, err
		}
		return loss.Item()
	}
	return t.gradCacheStep(s, qe, pe)
}

type cachedChunk struct {
	m      *encoder.BERT
	encs   []tokenizer.Encoding
	rng    []byte
	devRNG []byte
	off    int64
}

func (t *DualTask) rngState() (cpu, dev []byte, err error) {
	if cpu, err = torch.RNGState(torch.CPU); err != nil {
		return nil, nil, err
	}
	if t.Device.Type == torch.CUDADevice {
		dev, err = torch.RNGState(t.Device)
	}
	return cpu, dev, err
}

func (t *DualTask) setRNG(cpu, dev []byte) error {
	if err := torch.SetRNGState(torch.CPU, cpu); err != nil {
		return err
	}
	if dev != nil {
		return torch.SetRNGState(t.Device, dev)
	}
	return nil
}

// gradCacheStep: pass 1 without a graph, loss on detached embeddings, pass 2 chunk by chunk with the cached
// embedding gradients.
func (t *DualTask) gradCacheStep(s *torch.Scope, qe, pe []tokenizer.Encoding) (float64, error) {
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
			if cs[i].rng, cs[i].devRNG, err = t.rngState(); err != nil {
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
	after, afterDev, err := t.rngState()
	if err != nil {
		return 0, err
	}
	q := torch.Cat(reps[:nq], 0).Detach().SetRequiresGrad(true)
	p := torch.Cat(reps[nq:], 0).Detach().SetRequiresGrad(true)
	loss := t.Loss(s, q, p)
	if err := loss.Backward(); err != nil {
		return 0, err
	}
	gq, gp := s.Adopt(q.Grad()), s.Adopt(p.Grad())
	for i, c := range cs {
		g := gq
		if i >= nq {
			g = gp
		}
		if err := t.setRNG(c.rng, c.devRNG); err != nil {
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
	if err := t.setRNG(after, afterDev); err != nil {
		return 0, err
	}
	return loss.Item()
}
