package encoder

import (
	"fmt"
	"math"
	"sort"
	"strings"

	"github.com/rocketqa-go/rocketqa/safetensors"
	"github.com/rocketqa-go/rocketqa/torch"
)

// maskBias is the additive attention bias of padded keys, as Paddle ERNIE and HF BERT of the PyTorch 1.13 era.
const maskBias = -10000.0

// Param is a named trainable tensor (HF state-dict name, without prefix).
type Param struct {
	Name   string
	Tensor *torch.Tensor
}

// linear is a Linear layer's weight [out, in] and bias [out].
type linear struct{ w, b *torch.Tensor }

func (l linear) apply(x *torch.Tensor) *torch.Tensor { return torch.Linear(x, l.w, l.b) }

type layerNorm struct {
	w, b *torch.Tensor
	eps  float64
}

func (l layerNorm) apply(x *torch.Tensor) *torch.Tensor {
	return torch.LayerNorm(x, []int64{x.Size(-1)}, l.w, l.b, l.eps)
}

type layer struct {
	q, k, v, attnOut linear
	attnLN           layerNorm
	inter, out       linear
	outLN            layerNorm
}

// BERT is a BERT/ERNIE encoder (post-LN transformer) with an optional pooler. Its parameters carry HuggingFace names.
// Inference (Forward under torch.NoGrad with train=false) is safe from several goroutines; training is not.
type BERT struct {
	Cfg    *Config
	word   *torch.Tensor
	pos    *torch.Tensor
	typ    *torch.Tensor
	embLN  layerNorm
	layers []layer
	pooler *linear
	params []Param
	byName map[string]*torch.Tensor
}

// NewBERT creates a randomly initialised encoder: weights from a normal(0, initializer_range) truncated at two
// standard deviations (Paddle's TruncatedNormal, as the official code initialises new parameters), zero biases,
// LayerNorm ones/zeros, and a zero row for the padding token's embedding. Call torch.ManualSeed first for
// reproducible weights.
func NewBERT(cfg *Config, withPooler bool) (*BERT, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	m := &BERT{Cfg: cfg, byName: map[string]*torch.Tensor{}}
	shapes := ExpectedShapes(cfg, withPooler)
	names := sortedNames(shapes)
	std := cfg.InitializerRange
	for _, n := range names {
		kind := initNormal
		switch {
		case strings.HasSuffix(n, "LayerNorm.weight"):
			kind = initOnes
		case strings.HasSuffix(n, ".bias"):
			kind = initZeros
		}
		t, err := initTensor(n, shapes[n], torch.CPU, kind, std)
		if err != nil {
			m.Close()
			return nil, err
		}
		m.register(n, t)
	}
	if err := m.wire(withPooler); err != nil {
		m.Close()
		return nil, err
	}
	if err := m.zeroPadRow(); err != nil {
		m.Close()
		return nil, err
	}
	return m, nil
}

// initKind is how initTensor fills a new parameter.
type initKind int

const (
	initZeros  initKind = iota // biases, LayerNorm biases
	initOnes                   // LayerNorm weights
	initNormal                 // weights: truncated normal, as BERT initialises them
)

// initTensor makes the float32 parameter n of shape on dev: zeros, ones, or normal(0, std) truncated to ±2 std.
func initTensor(n string, shape []int64, dev torch.Device, kind initKind, std float64) (*torch.Tensor, error) {
	t := torch.Zeros(shape, torch.Float32, dev)
	var err error
	switch kind {
	case initOnes:
		err = t.Fill(1)
	case initNormal:
		err = t.TruncNormal(0, std, -2*std, 2*std)
	}
	if err == nil {
		err = t.Err()
	}
	if err != nil {
		t.Close()
		return nil, fmt.Errorf("encoder: init %s: %w", n, err)
	}
	return t, nil
}

func (m *BERT) zeroPadRow() error {
	pad := int64(m.Cfg.PadTokenID)
	if pad < 0 || pad >= int64(m.Cfg.VocabSize) {
		return nil
	}
	row := m.word.Select(0, pad)
	defer row.Close()
	return row.Zero()
}

func sortedNames(shapes map[string][]int64) []string {
	names := make([]string, 0, len(shapes))
	for n := range shapes {
		names = append(names, n)
	}
	sort.Strings(names)
	return names
}

func (m *BERT) register(name string, t *torch.Tensor) {
	t.SetRequiresGrad(true)
	m.params = append(m.params, Param{Name: name, Tensor: t})
	m.byName[name] = t
}

// wire points the typed fields at the registered tensors.
func (m *BERT) wire(withPooler bool) error {
	get := func(n string) *torch.Tensor { return m.byName[n] }
	lin := func(p string) linear { return linear{get(p + ".weight"), get(p + ".bias")} }
	ln := func(p string) layerNorm { return layerNorm{get(p + ".weight"), get(p + ".bias"), m.Cfg.LayerNormEps} }
	m.word = get("embeddings.word_embeddings.weight")
	m.pos = get("embeddings.position_embeddings.weight")
	m.typ = get("embeddings.token_type_embeddings.weight")
	m.embLN = ln("embeddings.LayerNorm")
	m.layers = make([]layer, m.Cfg.NumHiddenLayers)
	for i := range m.layers {
		p := fmt.Sprintf("encoder.layer.%d.", i)
		m.layers[i] = layer{
			q: lin(p + "attention.self.query"), k: lin(p + "attention.self.key"), v: lin(p + "attention.self.value"),
			attnOut: lin(p + "attention.output.dense"), attnLN: ln(p + "attention.output.LayerNorm"),
			inter: lin(p + "intermediate.dense"), out: lin(p + "output.dense"), outLN: ln(p + "output.LayerNorm"),
		}
	}
	if withPooler {
		l := lin("pooler.dense")
		m.pooler = &l
	}
	for n, t := range m.byName {
		if t == nil {
			return fmt.Errorf("encoder: parameter %s missing", n)
		}
	}
	return nil
}

// LoadBERT reads config.json and model.safetensors (or pytorch_model.bin) from dir. prefix selects a sub-model
// inside the checkpoint ("" for a plain BERT, e.g. "bert." is stripped automatically). The pooler is loaded when
// withPooler is set (an error if the checkpoint lacks it).
func LoadBERT(dir string, withPooler bool) (*BERT, error) {
	cfg, err := ReadConfig(dir + "/config.json")
	if err != nil {
		return nil, err
	}
	raw, file, err := ReadStateDict(dir)
	if err != nil {
		return nil, err
	}
	return FromStateDict(cfg, Canonicalize(raw, ""), file, withPooler)
}

// FromStateDict builds an encoder from canonical tensors (see Canonicalize); file names the source in errors.
func FromStateDict(cfg *Config, sd map[string]safetensors.Tensor, file string, withPooler bool) (*BERT, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	want := ExpectedShapes(cfg, withPooler)
	// all of sd: encoder tensors the config has no place for (a layer past num_hidden_layers) are an error, not a
	// truncated model; task heads are CheckShapes' to ignore
	if err := CheckShapes(file, sd, want); err != nil {
		return nil, err
	}
	sub := make(map[string]safetensors.Tensor, len(want))
	for n := range want {
		sub[n] = sd[n]
	}
	m := &BERT{Cfg: cfg, byName: map[string]*torch.Tensor{}}
	for _, n := range sortedNames(want) {
		t, err := tensorFrom(sub[n])
		if err != nil {
			m.Close()
			return nil, fmt.Errorf("encoder: %s: tensor %s: %w", file, n, err)
		}
		m.register(n, t)
	}
	if err := m.wire(withPooler); err != nil {
		m.Close()
		return nil, err
	}
	return m, nil
}

// tensorFrom converts a safetensors tensor to an untracked float32 torch tensor.
func tensorFrom(st safetensors.Tensor) (*torch.Tensor, error) {
	var dt torch.DType
	switch st.DType {
	case "F32":
		dt = torch.Float32
	case "F16":
		dt = torch.Float16
	case "BF16":
		dt = torch.BFloat16
	case "F64":
		dt = torch.Float64
	default:
		return nil, fmt.Errorf("dtype %s is not a floating-point type", st.DType)
	}
	raw := torch.FromBytes(st.Data, dt, torch.CPU, st.Shape...)
	if dt == torch.Float32 {
		return raw, raw.Err()
	}
	defer raw.Close()
	t := raw.To(torch.Float32)
	return t, t.Err()
}

// tensorTo converts a torch tensor to a float32 safetensors tensor.
func tensorTo(name string, t *torch.Tensor) (safetensors.Tensor, error) {
	v, err := t.Float32s()
	if err != nil {
		return safetensors.Tensor{}, fmt.Errorf("encoder: %s: %w", name, err)
	}
	return safetensors.F32(name, t.Shape(), v), nil
}

// Params returns the trainable parameters in a fixed (sorted-name) order.
func (m *BERT) Params() []Param { return m.params }

// Param returns the parameter with the given HF name, nil when absent.
func (m *BERT) Param(name string) *torch.Tensor { return m.byName[name] }

// HasPooler reports whether the pooler is part of the model.
func (m *BERT) HasPooler() bool { return m.pooler != nil }

// StateDict copies the parameters out as float32 safetensors tensors with their HF names, each prefixed by prefix.
func (m *BERT) StateDict(prefix string) ([]safetensors.Tensor, error) {
	return stateDict(prefix, m.params)
}

// stateDict copies params out as float32 safetensors tensors, each name prefixed by prefix.
func stateDict(prefix string, params []Param) ([]safetensors.Tensor, error) {
	out := make([]safetensors.Tensor, 0, len(params))
	for _, p := range params {
		st, err := tensorTo(prefix+p.Name, p.Tensor)
		if err != nil {
			return nil, err
		}
		out = append(out, st)
	}
	return out, nil
}

// closeParams frees the tensors of params.
func closeParams(params []Param) {
	for _, p := range params {
		p.Tensor.Close()
	}
}

// Close frees the parameters; safe to call twice.
func (m *BERT) Close() {
	if m == nil {
		return
	}
	closeParams(m.params)
	m.params = nil
}

// Forward runs the encoder on a padded batch: ids and typeIDs int64 [B, L], mask [B, L] (1 for tokens, 0 for
// padding; any dtype). It returns the sequence output [B, L, H]. With train set, dropout is active. Every tensor it
// creates goes into s.
func (m *BERT) Forward(s *torch.Scope, ids, typeIDs, mask *torch.Tensor, train bool) *torch.Tensor {
	if s == nil {
		return s.Error(fmt.Errorf("encoder: Forward needs a scope"))
	}
	ids, typeIDs, mask = s.Use(ids), s.Use(typeIDs), s.Use(mask)
	if err := ids.Err(); err != nil {
		return s.Error(err)
	}
	if ids.Dim() != 2 {
		return s.Error(fmt.Errorf("encoder: input ids of shape %v, want [batch, length]", ids.Shape()))
	}
	l := ids.Size(1)
	if l > int64(m.Cfg.MaxPositionEmbeddings) {
		return s.Error(fmt.Errorf("encoder: sequence length %d exceeds max_position_embeddings %d", l, m.Cfg.MaxPositionEmbeddings))
	}
	c := m.Cfg
	x := torch.Embedding(m.word, ids, int64(c.PadTokenID))
	x = x.Add(s.Use(m.pos).Narrow(0, 0, l))
	x = x.Add(torch.Embedding(m.typ, typeIDs, -1))
	x = m.embLN.apply(x).Dropout(c.HiddenDropoutProb, train)

	b := ids.Size(0)
	bias := mask.To(torch.Float32).RSubScalar(1).MulScalar(maskBias).Reshape(b, 1, 1, l)
	for i := range m.layers {
		x = m.layer(s, i, x, bias, b, l, train)
	}
	return x
}

// layer runs encoder layer i on x [b, l, H] (in s) and returns its output in s. The layer's intermediates live in
// a scope of their own, freed when it ends: autograd keeps what backward needs (freeing a handle only drops a
// reference), so a forward pass holds one layer's temporaries at a time, as PyTorch eager does, instead of every
// layer's until the caller's scope closes.
func (m *BERT) layer(s *torch.Scope, i int, x, bias *torch.Tensor, b, l int64, train bool) *torch.Tensor {
	c, ly := m.Cfg, m.layers[i]
	ls := torch.NewScope()
	defer ls.Close()
	x = ls.Use(x)
	heads := int64(c.NumAttentionHeads)
	h := int64(c.HiddenSize)
	hd := h / heads
	split := func(t *torch.Tensor) *torch.Tensor { return t.View(b, l, heads, hd).Transpose(1, 2) }
	q, k, v := split(ly.q.apply(x)), split(ly.k.apply(x)), split(ly.v.apply(x))
	scores := q.MatMul(k.Transpose(-1, -2)).DivScalar(math.Sqrt(float64(hd))).Add(bias)
	probs := scores.Softmax(-1).Dropout(c.AttentionDropoutProb, train)
	ctx := probs.MatMul(v).Transpose(1, 2).Reshape(b, l, h)
	x = ly.attnLN.apply(x.Add(ly.attnOut.apply(ctx).Dropout(c.HiddenDropoutProb, train)))
	f := ly.inter.apply(x)
	if c.HiddenAct == "relu" {
		f = f.Relu()
	} else {
		f = f.Gelu()
	}
	x = ly.outLN.apply(x.Add(ly.out.apply(f).Dropout(c.HiddenDropoutProb, train)))
	return s.Adopt(ls.Keep(x))
}

// CLS returns the first token's vector [B, H] of a sequence output.
func CLS(seq *torch.Tensor) *torch.Tensor { return seq.Select(1, 0) }

// Pool applies the pretrained pooler tanh(W·cls + b) to the [CLS] vector of a sequence output.
func (m *BERT) Pool(seq *torch.Tensor) *torch.Tensor {
	if m.pooler == nil {
		return seq.Scope().Error(fmt.Errorf("encoder: this model has no pooler"))
	}
	return m.pooler.apply(CLS(seq)).Tanh()
}

// ToDevice moves every parameter to dev (a no-op on the current device). Parameters stay leaves requiring grad.
func (m *BERT) ToDevice(dev torch.Device) error {
	if len(m.params) == 0 || m.params[0].Tensor.Device() == dev {
		return nil
	}
	moved := make([]*torch.Tensor, len(m.params))
	var err error
	torch.NoGrad(func() {
		for i, p := range m.params {
			moved[i] = p.Tensor.ToDevice(dev)
			if err = moved[i].Err(); err != nil {
				return
			}
		}
	})
	if err != nil {
		for _, t := range moved {
			t.Close()
		}
		return fmt.Errorf("encoder: move to %s: %w", dev, err)
	}
	for i := range m.params {
		m.params[i].Tensor.Close()
		m.params[i].Tensor = moved[i].SetRequiresGrad(true)
		m.byName[m.params[i].Name] = m.params[i].Tensor
	}
	return m.wire(m.pooler != nil)
}

// CopyFrom copies the parameter values of src (same config) into m, in place.
func (m *BERT) CopyFrom(src *BERT) error {
	for _, p := range m.params {
		q := src.byName[p.Name]
		if q == nil {
			return fmt.Errorf("encoder: CopyFrom: source has no %s", p.Name)
		}
		if err := p.Tensor.CopyFrom(q); err != nil {
			return fmt.Errorf("encoder: CopyFrom %s: %w", p.Name, err)
		}
	}
	return nil
}

// AddPooler gives a model loaded without a pooler a new one (truncated normal with std initializer_range, zero
// bias), as when a cross-encoder starts from a checkpoint that has none (e.g. a dual-encoder tower). It is a no-op
// when the model has a pooler.
func (m *BERT) AddPooler() error {
	if m.pooler != nil {
		return nil
	}
	h := int64(m.Cfg.HiddenSize)
	dev := m.word.Device()
	w := torch.Zeros([]int64{h, h}, torch.Float32, dev)
	std := m.Cfg.InitializerRange
	if err := w.TruncNormal(0, std, -2*std, 2*std); err != nil {
		w.Close()
		return err
	}
	b := torch.Zeros([]int64{h}, torch.Float32, dev)
	if err := b.Err(); err != nil {
		w.Close()
		return err
	}
	m.register("pooler.dense.weight", w)
	m.register("pooler.dense.bias", b)
	sort.Slice(m.params, func(i, j int) bool { return m.params[i].Name < m.params[j].Name })
	return m.wire(true)
}

// ExtendTypeVocab grows the token type embedding table to n rows (type_vocab_size n, e.g. 4 for
// tokenizer.MarkMatches); nothing happens when it has n rows or more. Row i >= the old size starts as a copy of row
// (i - old) mod old, so types 2 and 3 start as segments 0 and 1 and the extended model computes what it did before
// any step, whatever its training.
func (m *BERT) ExtendTypeVocab(n int) error {
	old := int64(m.Cfg.TypeVocabSize)
	if int64(n) <= old {
		return nil
	}
	const name = "embeddings.token_type_embeddings.weight"
	det := m.typ.Detach()
	defer det.Close()
	rows := []*torch.Tensor{det}
	for i := old; i < int64(n); i++ {
		r := det.Narrow(0, (i-old)%old, 1)
		defer r.Close()
		rows = append(rows, r)
	}
	nt := torch.Cat(rows, 0)
	if err := nt.Err(); err != nil {
		return fmt.Errorf("encoder: extending %s to %d rows: %w", name, n, err)
	}
	nt.SetRequiresGrad(true)
	for i := range m.params {
		if m.params[i].Name == name {
			m.params[i].Tensor = nt
		}
	}
	m.typ.Close()
	m.typ, m.byName[name] = nt, nt
	m.Cfg.TypeVocabSize = n
	return nil
}
