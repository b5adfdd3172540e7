package encoder

import (
	"context"
	"errors"
	"fmt"

	"github.com/rocketqa-go/rocketqa/tokenizer"
	"github.com/rocketqa-go/rocketqa/torch"
)

// Batch is a padded model input on the host: row-major [Rows, Cols] ids, type ids and mask.
type Batch = tokenizer.Batch

// Tensors copies a padded batch into int64 tensors (ids, type ids, mask) owned by s, on dev.
func Tensors(s *torch.Scope, b Batch, dev torch.Device) (ids, types, mask *torch.Tensor) {
	r, c := int64(b.Rows), int64(b.Cols)
	ids, types, mask = s.FromInt64(b.IDs, r, c), s.FromInt64(b.TypeIDs, r, c), s.FromInt64(b.Mask, r, c)
	if dev != torch.CPU {
		ids, types, mask = ids.ToDevice(dev), types.ToDevice(dev), mask.ToDevice(dev)
	}
	return ids, types, mask
}

// EncodeOptions control batched inference.
type EncodeOptions struct {
	BatchSize int          // sequences per forward pass when TokenBudget is 0 (default 64)
	Device    torch.Device // where the model lives (default CPU)
	// SortWindow is how many sequences are sorted by length together to cut padding (default 50 batches; 1
	// disables sorting). Output order is always the input order.
	SortWindow int
	// TokenBudget, when > 0, batches by padded tokens instead of by count (see Batching).
	TokenBudget int
	// BF16 runs the forward passes in bfloat16 autocast (as torch.autocast): on CUDA always, on the CPU when it
	// multiplies bfloat16 natively (torch.BF16Supported), else in float32 (torch.CPUBF16 gives the message).
	// Vectors are returned as float32 either way.
	BF16 bool
	// ForceBF16 runs bfloat16 autocast on the CPU even without native support (emulated: slow; for tests).
	ForceBF16 bool
	// Progress, when set, is called after each batch with the number of sequences done and the total.
	Progress func(done, total int)
}

// Batching returns the batching part of the options.
func (o EncodeOptions) Batching() Batching {
	return Batching{BatchSize: o.BatchSize, TokenBudget: o.TokenBudget, SortWindow: o.SortWindow}
}

// Autocast reports whether forward passes under these options run in bfloat16 autocast, and on which device type.
func (o EncodeOptions) Autocast() (torch.DeviceType, bool) {
	return AutocastFor(o.Device, o.BF16, o.ForceBF16)
}

// AutocastFor reports whether bfloat16 autocast runs on device dev when it is wanted: on CUDA always, on the CPU
// as torch.CPUBF16(want, force).
func AutocastFor(dev torch.Device, want, force bool) (torch.DeviceType, bool) {
	if dev.Type == torch.CUDADevice {
		return torch.CUDADevice, want
	}
	use, _ := torch.CPUBF16(want, force)
	return torch.CPUDevice, use
}

// WithAutocast runs fn under bfloat16 autocast on the device type when on is set, else runs it as is.
func WithAutocast(dt torch.DeviceType, on bool, fn func()) error {
	if !on {
		fn()
		return nil
	}
	return torch.Autocast(dt, torch.BFloat16, fn)
}

// Embedder turns text into vectors with a dual encoder: the library side of rocketqa.EncodeQuery / EncodePara.
// It is safe for concurrent use (the model is only read, under no_grad).
type Embedder struct {
	Model      *DualEncoder
	Tok        *tokenizer.Tokenizer
	QMaxLen    int // query length limit in tokens, [CLS] and [SEP] included (official default 32)
	PMaxLen    int // passage length limit (official default 384 for DuReader, 128 for MS MARCO)
	Options    EncodeOptions
	Normalized bool // L2-normalise the output vectors (off: RocketQA scores with the raw dot product)
}

// tokenizeCheck is how many texts are tokenized between two looks at the context (few: a text can be long, and
// tokenizing one is not always cheap).
const tokenizeCheck = 16

// Tokenize returns encode(i) for i in [0, n), in order. It returns ctx.Err() when ctx ends, checked every few
// texts.
func Tokenize(ctx context.Context, n int, encode func(i int) tokenizer.Encoding) ([]tokenizer.Encoding, error) {
	encs := make([]tokenizer.Encoding, n)
	for i := range encs {
		if i%tokenizeCheck == 0 && ctx.Err() != nil {
			return nil, ctx.Err()
		}
		encs[i] = encode(i)
	}
	return encs, nil
}

// Infer runs forward on every batch of plan (indices into encs), in order, under no_grad, each batch in a scope of
// its own: the batch's encodings are padded by tok and copied to dev, and rows are the batch's indices into encs.
// After each batch it calls progress, when not nil, with the number of sequences done and len(encs). It returns
// the first error of forward, or ctx.Err() when ctx ends (checked before every batch).
func Infer(ctx context.Context, tok *tokenizer.Tokenizer, encs []tokenizer.Encoding, plan [][]int, dev torch.Device,
	progress func(done, total int), forward func(s *torch.Scope, ids, types, mask *torch.Tensor, rows []int) error) error {
	var err error
	done := 0
	torch.NoGrad(func() {
		for _, idx := range plan {
			if err = ctx.Err(); err != nil {
				return
			}
			batch := make([]tokenizer.Encoding, len(idx))
			for i, j := range idx {
				batch[i] = encs[j]
			}
			err = torch.With(func(s *torch.Scope) error {
				ids, types, mask := Tensors(s, tok.Pad(batch), dev)
				return forward(s, ids, types, mask, idx)
			})
			if err != nil {
				return
			}
			done += len(idx)
			if progress != nil {
				progress(done, len(encs))
			}
		}
	})
	return err
}

// EncodeQueries returns one vector per query, in input order. It returns ctx.Err() when ctx ends, checked while
// tokenizing and before every batch.
func (e *Embedder) EncodeQueries(ctx context.Context, queries []string) ([][]float32, error) {
	encs, err := Tokenize(ctx, len(queries), func(i int) tokenizer.Encoding { return e.Tok.EncodeQuery(queries[i], e.QMaxLen) })
	if err != nil {
		return nil, err
	}
	return e.run(ctx, encs, e.Model.Query)
}

// EncodePassages returns one vector per passage; titles may be nil or empty (no titles, as the official
// encode_para with title=[]) or have one entry per passage. Cancellation as EncodeQueries.
func (e *Embedder) EncodePassages(ctx context.Context, titles, paras []string) ([][]float32, error) {
	if len(titles) != 0 && len(titles) != len(paras) {
		return nil, fmt.Errorf("encoder: %d titles for %d passages", len(titles), len(paras))
	}
	encs, err := Tokenize(ctx, len(paras), func(i int) tokenizer.Encoding {
		t := ""
		if len(titles) != 0 {
			t = titles[i]
		}
		return e.Tok.EncodePassage(t, paras[i], e.PMaxLen)
	})
	if err != nil {
		return nil, err
	}
	return e.run(ctx, encs, e.Model.Para)
}

func (e *Embedder) run(ctx context.Context, encs []tokenizer.Encoding, m *BERT) ([][]float32, error) {
	if e.Model == nil || e.Tok == nil {
		return nil, errors.New("encoder: Embedder needs a Model and a Tok")
	}
	o := e.Options
	out := make([][]float32, len(encs))
	h := m.Cfg.HiddenSize
	dt, bf16 := o.Autocast()
	err := Infer(ctx, e.Tok, encs, o.Batching().Plan(Lengths(encs)), o.Device, o.Progress,
		func(s *torch.Scope, ids, types, mask *torch.Tensor, rows []int) error {
			var v *torch.Tensor
			if err := WithAutocast(dt, bf16, func() { v = CLS(m.Forward(s, ids, types, mask, false)) }); err != nil {
				return err
			}
			v = v.To(torch.Float32)
			if e.Normalized {
				v = v.Div(v.Norm(1).Unsqueeze(1).ClampMin(1e-12))
			}
			flat, err := v.Float32s()
			if err != nil {
				return err
			}
			for i, j := range rows {
				out[j] = flat[i*h : (i+1)*h : (i+1)*h]
			}
			return nil
		})
	if err != nil {
		return nil, err
	}
	return out, nil
}

// Lengths returns the token count of each encoding.
func Lengths(encs []tokenizer.Encoding) []int {
	out := make([]int, len(encs))
	for i := range encs {
		out[i] = len(encs[i].IDs)
	}
	return out
}
