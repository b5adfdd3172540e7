package encoder

import (
	"fmt"
	"slices"
	"sort"
	"strings"

	"github.com/rocketqa-go/rocketqa/safetensors"
	"github.com/rocketqa-go/rocketqa/torch"
)

// MLMPrefix is the name prefix of the encoder's tensors in a masked-LM checkpoint (HF BertForMaskedLM's
// base_model_prefix); the head's tensors are named cls.predictions.*.
const MLMPrefix = "bert."

// MLM head tensor names, as HuggingFace BertForMaskedLM (BertOnlyMLMHead) names them.
const (
	mlmDenseW = "cls.predictions.transform.dense.weight"
	mlmDenseB = "cls.predictions.transform.dense.bias"
	mlmLNW    = "cls.predictions.transform.LayerNorm.weight"
	mlmLNB    = "cls.predictions.transform.LayerNorm.bias"
	mlmBias   = "cls.predictions.bias"
	// mlmDecoderW is the decoder weight, tied to the word embeddings: HF's save_pretrained drops it from
	// model.safetensors (a shared tensor), older pytorch_model.bin files carry a copy, which is ignored on load.
	mlmDecoderW = "cls.predictions.decoder.weight"
	mlmDecoderB = "cls.predictions.decoder.bias"
)

// MLMHead is BERT's masked-language-model head (HF BertOnlyMLMHead): transform = LayerNorm(act(W·h + b)) with the
// encoder's hidden_act and layer_norm_eps, then logits = transform · Eᵀ + bias, where E is the encoder's word
// embedding table (tied: the decoder has no weight of its own, so training the head trains the embeddings).
type MLMHead struct {
	Enc    *BERT
	dense  linear
	ln     layerNorm
	bias   *torch.Tensor
	params []Param
}

// MLMShapes returns the head's own tensor names and shapes (without the tied decoder weight).
func MLMShapes(cfg *Config) map[string][]int64 {
	H, V := int64(cfg.HiddenSize), int64(cfg.VocabSize)
	return map[string][]int64{mlmDenseW: {H, H}, mlmDenseB: {H}, mlmLNW: {H}, mlmLNB: {H}, mlmBias: {V}}
}

// NewMLMHead gives enc a new MLM head initialised as BERT does: dense weight truncated normal with std
// initializer_range, zero biases, LayerNorm ones/zeros. enc stays owned by the caller.
func NewMLMHead(enc *BERT) (*MLMHead, error) {
	h := &MLMHead{Enc: enc}
	dev := enc.word.Device()
	shapes := MLMShapes(enc.Cfg)
	std := enc.Cfg.InitializerRange
	for _, n := range sortedNames(shapes) {
		kind := initZeros
		switch n {
		case mlmLNW:
			kind = initOnes
		case mlmDenseW:
			kind = initNormal
		}
		t, err := initTensor(n, shapes[n], dev, kind, std)
		if err != nil {
			h.Close()
			return nil, err
		}
		h.add(n, t)
	}
	h.wire()
	return h, nil
}

// MLMHeadFromStateDict builds the head from the raw tensors of a checkpoint (names cls.predictions.*, as
// BertForMaskedLM and BertForPreTraining save them; a decoder.bias stands in for a missing cls.predictions.bias).
// It returns (nil, nil) when the checkpoint has no MLM head at all, and an error naming file when the head is
// incomplete or misshapen.
func MLMHeadFromStateDict(enc *BERT, raw map[string]safetensors.Tensor, file string) (*MLMHead, error) {
	shapes := MLMShapes(enc.Cfg)
	found := map[string]safetensors.Tensor{}
	for name, t := range raw {
		n := name
		for _, p := range []string{"bert.", "ernie."} {
			n = strings.TrimPrefix(n, p)
		}
		if n == mlmDecoderB {
			if _, ok := found[mlmBias]; !ok {
				found[mlmBias] = t
			}
			continue
		}
		if _, ok := shapes[n]; ok {
			found[n] = t
		}
	}
	if len(found) == 0 {
		return nil, nil
	}
	var problems []string
	for _, n := range sortedNames(shapes) {
		t, ok := found[n]
		switch {
		case !ok:
			problems = append(problems, "missing "+n)
		case !slices.Equal(t.Shape, shapes[n]):
			problems = append(problems, fmt.Sprintf("%s has shape %v, want %v", n, t.Shape, shapes[n]))
		case !isFloat(t.DType):
			problems = append(problems, fmt.Sprintf("%s has dtype %s", n, t.DType))
		}
	}
	if len(problems) > 0 {
		return nil, fmt.Errorf("encoder: %s: MLM head: %s", file, strings.Join(problems, "; "))
	}
	h := &MLMHead{Enc: enc}
	dev := enc.word.Device()
	for _, n := range sortedNames(shapes) {
		t, err := tensorFrom(found[n])
		if err == nil && dev != torch.CPU {
			moved := t.ToDevice(dev)
			t.Close()
			t, err = moved, moved.Err()
		}
		if err != nil {
			h.Close()
			return nil, fmt.Errorf("encoder: %s: tensor %s: %w", file, n, err)
		}
		h.add(n, t)
	}
	h.wire()
	return h, nil
}

func (h *MLMHead) add(name string, t *torch.Tensor) {
	t.SetRequiresGrad(true)
	h.params = append(h.params, Param{Name: name, Tensor: t})
}

func (h *MLMHead) wire() {
	get := func(n string) *torch.Tensor {
		for _, p := range h.params {
			if p.Name == n {
				return p.Tensor
			}
		}
		return nil
	}
	h.dense = linear{get(mlmDenseW), get(mlmDenseB)}
	h.ln = layerNorm{get(mlmLNW), get(mlmLNB), h.Enc.Cfg.LayerNormEps}
	h.bias = get(mlmBias)
	sort.Slice(h.params, func(i, j int) bool { return h.params[i].Name < h.params[j].Name })
}

// Params returns the head's own parameters (the decoder weight is the encoder's word embedding table).
func (h *MLMHead) Params() []Param { return h.params }

// Logits maps hidden states [..., H] to vocabulary logits [..., V].
func (h *MLMHead) Logits(x *torch.Tensor) *torch.Tensor {
	x = h.dense.apply(x)
	if h.Enc.Cfg.HiddenAct == "relu" {
		x = x.Relu()
	} else {
		x = x.Gelu()
	}
	x = h.ln.apply(x)
	return torch.Linear(x, h.Enc.word, h.bias)
}

// Loss is the masked-LM loss of a padded batch: the mean cross-entropy of the vocabulary logits at the flat
// positions (row*L + column, int64 [N]) against labels (int64 [N]), i.e. HF BertForMaskedLM's loss with
// labels -100 everywhere else. Only the N selected positions go through the head.
func (h *MLMHead) Loss(s *torch.Scope, ids, typeIDs, mask, positions, labels *torch.Tensor, train bool) *torch.Tensor {
	seq := h.Enc.Forward(s, ids, typeIDs, mask, train)
	flat := seq.Reshape(-1, seq.Size(-1)).IndexSelect(0, s.Use(positions))
	return torch.CrossEntropy(h.Logits(flat), s.Use(labels))
}

// StateDict copies the head's own tensors out with their HF names.
func (h *MLMHead) StateDict() ([]safetensors.Tensor, error) { return stateDict("", h.params) }

// Close frees the head's own tensors (not the encoder); safe to call twice.
func (h *MLMHead) Close() {
	if h == nil {
		return
	}
	closeParams(h.params)
	h.params = nil
}

// SaveMLM writes a HuggingFace BertForMaskedLM directory (see SaveDir): the encoder's tensors named bert.* (no
// pooler: BertForMaskedLM has none), the head's cls.predictions.* and no decoder weight (tied to
// bert.embeddings.word_embeddings.weight, as HF's save_pretrained writes it). LoadBERT and InitSpec.Init read it
// as a plain encoder; LoadMLM reads it with its head; BertForMaskedLM.from_pretrained loads it with the head.
func SaveMLM(dir string, h *MLMHead, vocabPath string) error {
	enc := slices.DeleteFunc(slices.Clone(h.Enc.Params()), func(p Param) bool { return strings.HasPrefix(p.Name, "pooler.") })
	ts, err := stateDict(MLMPrefix, enc)
	if err != nil {
		return err
	}
	head, err := h.StateDict()
	if err != nil {
		return err
	}
	return SaveDir(dir, h.Enc.Cfg, append(ts, head...), vocabPath)
}

// LoadMLM reads an encoder (without pooler) and its MLM head from a model directory. A checkpoint without an MLM
// head (e.g. a plain BertModel) gets a new one, and fresh reports it.
func LoadMLM(dir string) (h *MLMHead, fresh bool, err error) {
	cfg, err := ReadConfig(dir + "/config.json")
	if err != nil {
		return nil, false, err
	}
	raw, file, err := ReadStateDict(dir)
	if err != nil {
		return nil, false, err
	}
	enc, err := FromStateDict(cfg, Canonicalize(raw, ""), file, false)
	if err != nil {
		return nil, false, err
	}
	h, err = MLMHeadFromStateDict(enc, raw, file)
	if err == nil && h == nil {
		fresh = true
		h, err = NewMLMHead(enc)
	}
	if err != nil {
		enc.Close()
		return nil, false, err
	}
	return h, fresh, nil
}
