package jointtrain

import (
	"fmt"
	"io"
	"strings"
	"text/tabwriter"
)

// MemConfig describes a joint-training step for EstimateMemory. Zero values take the defaults in brackets.
type MemConfig struct {
	// The encoder size (all three towers the same): BERT-base is 768 / 12 / 12 / 3072, vocabulary 30522 (18000 for
	// ERNIE 1.0 zh), 512 positions, 2 token types.
	Hidden, Layers, Heads, Intermediate, Vocab, Positions, TypeVocab int
	// B lists of M passages on this device.
	B, M int
	// QLen, PLen, CELen are the (padded) sequence lengths of queries, passages and pairs.
	QLen, PLen, CELen int
	// ActivationBytes is the size of a saved activation element: 4 for float32 [4], 2 for bfloat16/fp16 autocast
	// (an approximation: autocast keeps LayerNorm and softmax in float32).
	ActivationBytes int
	// ChunkSize rows per forward pass [0: a tower's rows at once]; Cached is the two-pass step (only one chunk's
	// graph alive).
	ChunkSize int
	Cached    bool
	// QueryOnce encodes B queries instead of B·M.
	QueryOnce bool
	// FrozenCE: the static variant (the cross-encoder keeps no graph, no gradients, no optimizer state).
	FrozenCE bool
	// V1Head adds the cross-encoder's pooler (H² + H) and a 2-logit head.
	V1Head bool
	// Optimizer "adamw" or "lamb" (two float32 moments per parameter) or "none" (no state: one step's peak before
	// the first update) ["adamw"].
	Optimizer string
}

// BERTBase returns a MemConfig with BERT-base's sizes (vocabulary 30522) and no step settings.
func BERTBase() MemConfig {
	return MemConfig{Hidden: 768, Layers: 12, Heads: 12, Intermediate: 3072, Vocab: 30522, Positions: 512, TypeVocab: 2}
}

// MemEstimate is EstimateMemory's answer, in bytes.
type MemEstimate struct {
	Weights, Gradients, Optimizer, Activations int64
	// Peak is the sum; ActivationsBy names the tower whose graph decides the activation peak.
	Peak          int64
	ActivationsBy string
}

// BERTParams is the number of parameters of one encoder (no pooler).
func (c MemConfig) BERTParams() int64 {
	h, i := int64(c.Hidden), int64(c.Intermediate)
	emb := int64(c.Vocab+c.Positions+c.TypeVocab)*h + 2*h
	layer := 4*h*h + 4*h + 2*h*i + i + h + 4*h
	return emb + int64(c.Layers)*layer
}

// seqBytes is the memory a training forward pass holds until its backward pass, per sequence of length l, for the
// encoder as this repository runs it: libtorch eager on the CPU, post-LN BERT, dropout on. Each layer's
// intermediates are freed as the layer ends (encoder.BERT.Forward), so what stays is what autograd saved, per layer
// and token: the contiguous copies matmul makes of the transposed Q, K and V (3H); the softmax output, the dropout
// noise (CPU dropout multiplies by a float noise tensor) and output (3·A·L); the re-laid-out context (H); for each
// of the two sub-layers the dropout noise, the LayerNorm input and output (6H); the FFN pre-activation and
// activation (2I): 10H + 3·A·L + 2I elements. The embeddings, in the caller's scope, add 7H (three lookups, two
// sums, the LayerNorm, the dropout noise and output).
func (c MemConfig) seqBytes(l int) int64 {
	h, i, a, L := int64(c.Hidden), int64(c.Intermediate), int64(c.Heads), int64(l)
	e := int64(c.ActivationBytes)
	perTok := (10*h + 3*a*L + 2*i) * e
	return L * (int64(c.Layers)*perTok + 7*h*e)
}

// backwardBytes is the working memory of one layer's backward pass on n sequences of length l (the gradients of
// its attention scores and FFN activations alive at once, float32), the transient on top of the saved graph.
func (c MemConfig) backwardBytes(n, l int) int64 {
	h, i, a, L := int64(c.Hidden), int64(c.Intermediate), int64(c.Heads), int64(l)
	return int64(n) * L * (3*a*L + 2*i + 6*h) * 4
}

// forwardPeakBytes is the transient of a forward pass without a graph on n sequences (one layer's largest
// intermediates: the attention scores and probabilities, the FFN activations).
func (c MemConfig) forwardPeakBytes(n, l int) int64 {
	h, i, a, L := int64(c.Hidden), int64(c.Intermediate), int64(c.Heads), int64(l)
	return int64(n) * L * (3*a*L + 2*i + 4*h) * 4
}

// EstimateMemory returns the peak memory of one joint-training step: the three towers' float32 weights, their
// gradients and optimizer state, and the peak of the activations (the saved graph plus one layer's backward
// working memory). Without Cached every forward pass's graph is alive at once; with Cached only one chunk's graph
// is (pass 1 keeps nothing but the vectors and scores), so the peak is the largest chunk of the longest tower.
func EstimateMemory(c MemConfig) (MemEstimate, error) {
	if c.Hidden <= 0 || c.Layers <= 0 || c.Heads <= 0 || c.Intermediate <= 0 || c.Vocab <= 0 || c.B <= 0 || c.M <= 0 ||
		c.QLen <= 0 || c.PLen <= 0 || c.CELen <= 0 || c.ChunkSize < 0 {
		return MemEstimate{}, fmt.Errorf("jointtrain: memory config %+v: sizes, B, M and lengths must be positive", c)
	}
	if c.Positions == 0 {
		c.Positions = 512
	}
	if c.TypeVocab == 0 {
		c.TypeVocab = 2
	}
	if c.ActivationBytes == 0 {
		c.ActivationBytes = 4
	}
	opt := c.Optimizer
	if opt == "" {
		opt = "adamw"
	}
	states := int64(2)
	switch opt {
	case "adamw", "lamb":
	case "none":
		states = 0
	default:
		return MemEstimate{}, fmt.Errorf("jointtrain: optimizer %q (want adamw, lamb or none)", opt)
	}
	h := int64(c.Hidden)
	enc := c.BERTParams()
	ceParams := enc + h + 1
	if c.V1Head {
		ceParams = enc + h*h + h + 2*h + 2
	}
	trained := 2*enc + ceParams
	if c.FrozenCE {
		trained = 2 * enc
	}
	var e MemEstimate
	e.Weights = (2*enc + ceParams) * 4
	e.Gradients = trained * 4
	e.Optimizer = trained * 4 * states

	rows := c.B * c.M
	qRows := rows
	if c.QueryOnce {
		qRows = c.B
	}
	type tw struct {
		name   string
		n, l   int
		frozen bool
	}
	towers := []tw{{"query", qRows, c.QLen, false}, {"passage", rows, c.PLen, false}, {"cross-encoder", rows, c.CELen, c.FrozenCE}}
	chunk := func(n int) int {
		if c.ChunkSize <= 0 || c.ChunkSize > n {
			return n
		}
		return c.ChunkSize
	}
	// the vectors and scores of the step (and their gradients under Cached)
	cached := int64(qRows+rows)*h*4 + int64(rows)*4
	if c.Cached {
		cached *= 2
	}
	var act int64
	if c.Cached {
		for _, t := range towers {
			n := chunk(t.n)
			v := c.forwardPeakBytes(n, t.l) // pass 1
			if !t.frozen {
				v = max(v, int64(n)*c.seqBytes(t.l)+c.backwardBytes(n, t.l)) // pass 2
			}
			if v > act {
				act, e.ActivationsBy = v, t.name
			}
		}
	} else {
		var graph, back int64
		for _, t := range towers {
			if t.frozen {
				back = max(back, c.forwardPeakBytes(chunk(t.n), t.l))
				continue
			}
			graph += int64(t.n) * c.seqBytes(t.l)
			if b := c.backwardBytes(chunk(t.n), t.l); b > back {
				back, e.ActivationsBy = b, t.name
			}
		}
		act = graph + back
		e.ActivationsBy = "all towers' graphs"
	}
	e.Activations = act + cached
	e.Peak = e.Weights + e.Gradients + e.Optimizer + e.Activations
	return e, nil
}

// MemRow is one line of a memory table.
type MemRow struct {
	Name string
	Cfg  MemConfig
}

// OfficialMemRows are the settings of the memory table: the official MS MARCO (3 lists of 128 per GPU) and NQ
// setups (12 lists of 32), DuReader lengths (passage 384, pair 416, as the seed uses them) at the MS MARCO list
// size, and the seed's 24 GB case (1 list of 24), each full and with the two-pass chunking.
func OfficialMemRows() []MemRow {
	mk := func(b, m, q, p, ce, chunk int, cached bool, vocab int) MemConfig {
		c := BERTBase()
		c.Vocab = vocab
		c.B, c.M, c.QLen, c.PLen, c.CELen, c.ChunkSize, c.Cached = b, m, q, p, ce, chunk, cached
		return c
	}
	return []MemRow{
		{"MS MARCO B=3 m=128 (q32 p128 ce160) full", mk(3, 128, 32, 128, 160, 0, false, 30522)},
		{"MS MARCO B=3 m=128 chunk 32", mk(3, 128, 32, 128, 160, 32, true, 30522)},
		{"MS MARCO B=1 m=128 chunk 16", mk(1, 128, 32, 128, 160, 16, true, 30522)},
		{"NQ B=12 m=32 (q32 p128 ce160) full", mk(12, 32, 32, 128, 160, 0, false, 30522)},
		{"NQ B=12 m=32 chunk 32", mk(12, 32, 32, 128, 160, 32, true, 30522)},
		{"DuReader B=3 m=128 (q32 p384 ce416) full", mk(3, 128, 32, 384, 416, 0, false, 18000)},
		{"DuReader B=3 m=128 chunk 8", mk(3, 128, 32, 384, 416, 8, true, 18000)},
		{"seed 24GB B=1 m=24 (q32 p384 ce416) full", mk(1, 24, 32, 384, 416, 0, false, 21128)},
		{"seed 24GB B=1 m=24 chunk 8", mk(1, 24, 32, 384, 416, 8, true, 21128)},
	}
}

// GiB formats bytes in GiB.
func GiB(b int64) string { return fmt.Sprintf("%.2f", float64(b)/(1<<30)) }

// WriteMemTable prints rows with their breakdown (GiB) and whether each fits in budget bytes (0: no column).
func WriteMemTable(w io.Writer, rows []MemRow, budget int64) error {
	tw := tabwriter.NewWriter(w, 2, 4, 2, ' ', tabwriter.AlignRight)
	head := []string{"setting", "weights", "grads", "optim", "activ", "peak GiB", "peak by"}
	if budget > 0 {
		head = append(head, fmt.Sprintf("fits %s GiB", GiB(budget)))
	}
	fmt.Fprintln(tw, strings.Join(head, "\t")+"\t")
	for _, r := range rows {
		e, err := EstimateMemory(r.Cfg)
		if err != nil {
			return err
		}
		cols := []string{r.Name, GiB(e.Weights), GiB(e.Gradients), GiB(e.Optimizer), GiB(e.Activations), GiB(e.Peak), e.ActivationsBy}
		if budget > 0 {
			fit := "no"
			if e.Peak <= budget {
				fit = "yes"
			}
			cols = append(cols, fit)
		}
		fmt.Fprintln(tw, strings.Join(cols, "\t")+"\t")
	}
	return tw.Flush()
}
