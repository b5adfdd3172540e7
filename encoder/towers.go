package encoder

import (
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"

	"github.com/rocketqa-go/rocketqa/safetensors"
	"github.com/rocketqa-go/rocketqa/torch"
)

// HeadVersion selects the cross-encoder head.
type HeadVersion int

const (
	// HeadV1 is RocketQA v1 / DuReader: pooler (tanh) -> dropout -> Linear(H, 2); score = softmax[:, 1]. It has the
	// layout of HuggingFace BertForSequenceClassification with num_labels 2.
	HeadV1 HeadVersion = 1
	// HeadV2 is RocketQA v2: raw [CLS] -> dropout -> Linear(H, 1); score = the logit.
	HeadV2 HeadVersion = 2
)

// CrossEncoder scores a (query, passage) pair from the joint input [CLS] q [SEP] title+para [SEP].
type CrossEncoder struct {
	Enc     *BERT
	Version HeadVersion
	w, b    *torch.Tensor
}

// NewCrossEncoder wraps enc (which must have a pooler for HeadV1) with a new head initialised as the official code
// does (truncated normal with std initializer_range, zero bias). It takes ownership of enc.
func NewCrossEncoder(enc *BERT, v HeadVersion) (*CrossEncoder, error) {
	if v != HeadV1 && v != HeadV2 {
		return nil, fmt.Errorf("encoder: unknown cross-encoder head version %d", v)
	}
	if v == HeadV1 && !enc.HasPooler() {
		return nil, errors.New("encoder: the v1 cross-encoder head needs the pooler")
	}
	n := int64(2)
	if v == HeadV2 {
		n = 1
	}
	h := int64(enc.Cfg.HiddenSize)
	w := torch.Zeros([]int64{n, h}, torch.Float32, torch.CPU)
	std := enc.Cfg.InitializerRange
	if err := w.TruncNormal(0, std, -2*std, 2*std); err != nil {
		w.Close()
		return nil, err
	}
	b := torch.Zeros([]int64{n}, torch.Float32, torch.CPU)
	return &CrossEncoder{Enc: enc, Version: v, w: w.SetRequiresGrad(true), b: b.SetRequiresGrad(true)}, nil
}

// Logits returns [B, 2] (v1) or [B, 1] (v2) logits for a padded pair batch.
func (c *CrossEncoder) Logits(s *torch.Scope, ids, typeIDs, mask *torch.Tensor, train bool) *torch.Tensor {
	seq := c.Enc.Forward(s, ids, typeIDs, mask, train)
	var rep *torch.Tensor
	if c.Version == HeadV1 {
		rep = c.Enc.Pool(seq)
	} else {
		rep = CLS(seq)
	}
	return torch.Linear(rep.Dropout(c.Enc.Cfg.HiddenDropoutProb, train), c.w, c.b)
}

// Scores turns logits into the official relevance scores: softmax[:, 1] for v1, the logit for v2. Shape [B].
func (c *CrossEncoder) Scores(logits *torch.Tensor) *torch.Tensor {
	if c.Version == HeadV1 {
		return logits.Softmax(-1).Select(1, 1)
	}
	return logits.Select(1, 0)
}

// Params returns encoder and head parameters (head last, named classifier.weight / classifier.bias).
func (c *CrossEncoder) Params() []Param {
	return append(append([]Param(nil), c.Enc.Params()...), Param{"classifier.weight", c.w}, Param{"classifier.bias", c.b})
}

// ToDevice moves the encoder and the head to dev (a no-op on the current device); parameters stay leaves requiring
// grad. On failure the model stays where it was.
func (c *CrossEncoder) ToDevice(dev torch.Device) error {
	if c.w.Device() == dev && c.b.Device() == dev {
		return c.Enc.ToDevice(dev)
	}
	var w, b *torch.Tensor
	torch.NoGrad(func() {
		w, b = c.w.ToDevice(dev), c.b.ToDevice(dev)
	})
	if err := errors.Join(w.Err(), b.Err()); err != nil {
		w.Close()
		b.Close()
		return fmt.Errorf("encoder: move the cross-encoder head to %s: %w", dev, err)
	}
	if err := c.Enc.ToDevice(dev); err != nil {
		w.Close()
		b.Close()
		return err
	}
	c.w.Close()
	c.b.Close()
	c.w, c.b = w.SetRequiresGrad(true), b.SetRequiresGrad(true)
	return nil
}

// Device is the device of the model's parameters.
func (c *CrossEncoder) Device() torch.Device { return c.w.Device() }

// CopyFrom copies the weights of src (encoder and head, in Params order) into c, as when a training run loads a
// checkpoint it saved. The head versions and the tensor counts must match.
func (c *CrossEncoder) CopyFrom(src *CrossEncoder) error {
	if src.Version != c.Version {
		return fmt.Errorf("encoder: CopyFrom: cross-encoder head v%d, destination v%d", src.Version, c.Version)
	}
	dst, from := c.Params(), src.Params()
	if len(dst) != len(from) {
		return fmt.Errorf("encoder: CopyFrom: %d cross-encoder tensors, destination %d", len(from), len(dst))
	}
	for i := range dst {
		if err := dst[i].Tensor.CopyFrom(from[i].Tensor); err != nil {
			return fmt.Errorf("encoder: CopyFrom %s: %w", dst[i].Name, err)
		}
	}
	return nil
}

// Close frees the model; safe to call twice.
func (c *CrossEncoder) Close() {
	if c == nil {
		return
	}
	c.Enc.Close()
	c.w.Close()
	c.b.Close()
}

// DualEncoder holds the query and passage towers; with Shared both are the same BERT (PAIR, share_parameter=1).
// The representation is the raw [CLS] vector and the score is the dot product.
type DualEncoder struct {
	Query, Para *BERT
	Shared      bool
}

// NewDualEncoder builds a dual encoder from a query tower and a passage tower (the same pointer when shared).
func NewDualEncoder(q, p *BERT) *DualEncoder { return &DualEncoder{Query: q, Para: p, Shared: q == p} }

// CopyFrom copies the weights of src into d: both towers, or the one tower when shared (src must be shared too).
func (d *DualEncoder) CopyFrom(src *DualEncoder) error {
	if src.Shared != d.Shared {
		return fmt.Errorf("encoder: CopyFrom: shared towers %v, destination %v", src.Shared, d.Shared)
	}
	if err := d.Query.CopyFrom(src.Query); err != nil {
		return err
	}
	if d.Shared {
		return nil
	}
	return d.Para.CopyFrom(src.Para)
}

// EncodeQuery returns the [CLS] vectors [B, H] of a padded query batch.
func (d *DualEncoder) EncodeQuery(s *torch.Scope, ids, typeIDs, mask *torch.Tensor, train bool) *torch.Tensor {
	return CLS(d.Query.Forward(s, ids, typeIDs, mask, train))
}

// EncodePara returns the [CLS] vectors [B, H] of a padded passage batch.
func (d *DualEncoder) EncodePara(s *torch.Scope, ids, typeIDs, mask *torch.Tensor, train bool) *torch.Tensor {
	return CLS(d.Para.Forward(s, ids, typeIDs, mask, train))
}

// Params returns the parameters of both towers (once when shared), names prefixed "query." / "para.".
func (d *DualEncoder) Params() []Param {
	if d.Shared {
		return d.Query.Params()
	}
	var out []Param
	for _, p := range d.Query.Params() {
		out = append(out, Param{"query." + p.Name, p.Tensor})
	}
	for _, p := range d.Para.Params() {
		out = append(out, Param{"para." + p.Name, p.Tensor})
	}
	return out
}

// ToDevice moves both towers (one when shared) to dev (a no-op on the current device); parameters stay leaves
// requiring grad. On failure both towers stay where they were.
func (d *DualEncoder) ToDevice(dev torch.Device) error {
	var from torch.Device
	if ps := d.Query.Params(); len(ps) > 0 {
		from = ps[0].Tensor.Device()
	}
	if err := d.Query.ToDevice(dev); err != nil {
		return err
	}
	if d.Shared {
		return nil
	}
	if err := d.Para.ToDevice(dev); err != nil {
		d.Query.ToDevice(from) // both towers stay on one device
		return err
	}
	return nil
}

// Close frees both towers; safe to call twice.
func (d *DualEncoder) Close() {
	if d == nil {
		return
	}
	d.Query.Close()
	if !d.Shared {
		d.Para.Close()
	}
}

// ModelInfo is rocketqa.json, the file that says what a model directory holds, with the official package's
// config fields (spec section 8).
type ModelInfo struct {
	ModelType      string `json:"model_type"` // "dual_encoder" or "cross_encoder"
	QMaxSeqLen     int    `json:"q_max_seq_len,omitempty"`
	PMaxSeqLen     int    `json:"p_max_seq_len,omitempty"`
	MaxSeqLen      int    `json:"max_seq_len,omitempty"`
	ForCN          bool   `json:"for_cn"`
	DoLowerCase    bool   `json:"do_lower_case"`
	ShareParameter bool   `json:"share_parameter,omitempty"`
	// JointTraining selects the v2 cross-encoder head (score = logit) as the official flag does.
	JointTraining bool `json:"joint_training,omitempty"`
	// MatchTypes: the cross-encoder's token types mark exact matches (tokenizer.MarkMatches; type_vocab_size 4).
	// Training and scoring apply it alike; not an official RocketQA field.
	MatchTypes bool `json:"match_token_types,omitempty"`
}

// Sub-directories of a dual-encoder model directory. Each is a HuggingFace BertModel directory (config.json,
// model.safetensors, vocab.txt, tokenizer_config.json) that Python loads with BertModel.from_pretrained.
const (
	QueryDir = "query_encoder"
	ParaDir  = "para_encoder"
	InfoFile = "rocketqa.json"
)

// readModelInfoOf reads dir/rocketqa.json and requires its model_type to be modelType.
func readModelInfoOf(dir, modelType string) (*ModelInfo, error) {
	mi, err := ReadModelInfo(dir)
	if err != nil {
		return nil, err
	}
	if mi.ModelType != modelType {
		return nil, fmt.Errorf("encoder: %s holds a %s, not a %s", dir, mi.ModelType, modelType)
	}
	return mi, nil
}

// ReadModelInfo reads dir/rocketqa.json.
func ReadModelInfo(dir string) (*ModelInfo, error) {
	b, err := os.ReadFile(filepath.Join(dir, InfoFile))
	if err != nil {
		return nil, fmt.Errorf("encoder: %w (a model directory holds %s; see encoder.SaveDual / SaveCross)", err, InfoFile)
	}
	var mi ModelInfo
	if err := json.Unmarshal(b, &mi); err != nil {
		return nil, fmt.Errorf("encoder: %s: %w", filepath.Join(dir, InfoFile), err)
	}
	if mi.ModelType != "dual_encoder" && mi.ModelType != "cross_encoder" {
		return nil, fmt.Errorf("encoder: %s: model_type %q (want dual_encoder or cross_encoder)", filepath.Join(dir, InfoFile), mi.ModelType)
	}
	return &mi, nil
}

func writeInfo(dir string, mi *ModelInfo) error {
	b, err := json.MarshalIndent(mi, "", "  ")
	if err != nil {
		return err
	}
	return safetensors.WriteFileAtomic(filepath.Join(dir, InfoFile), append(b, '\n'), 0o644)
}

// SaveDual writes a dual encoder: dir/rocketqa.json plus one HuggingFace model directory per tower (one, the query
// directory, when shared). Each tower directory is written atomically; vocab is the vocab.txt to copy.
func SaveDual(dir string, d *DualEncoder, mi ModelInfo, vocab string) error {
	mi.ModelType, mi.ShareParameter = "dual_encoder", d.Shared
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return err
	}
	towers := []struct {
		sub string
		m   *BERT
	}{{QueryDir, d.Query}}
	if !d.Shared {
		towers = append(towers, struct {
			sub string
			m   *BERT
		}{ParaDir, d.Para})
	}
	for _, tw := range towers {
		sd, err := tw.m.StateDict("")
		if err != nil {
			return err
		}
		if err := SaveDir(filepath.Join(dir, tw.sub), tw.m.Cfg, sd, vocab); err != nil {
			return err
		}
	}
	return writeInfo(dir, &mi)
}

// LoadDual reads a directory written by SaveDual.
func LoadDual(dir string) (*DualEncoder, *ModelInfo, error) {
	mi, err := readModelInfoOf(dir, "dual_encoder")
	if err != nil {
		return nil, nil, err
	}
	q, err := LoadBERT(filepath.Join(dir, QueryDir), false)
	if err != nil {
		return nil, nil, err
	}
	if mi.ShareParameter {
		return NewDualEncoder(q, q), mi, nil
	}
	p, err := LoadBERT(filepath.Join(dir, ParaDir), false)
	if err != nil {
		q.Close()
		return nil, nil, err
	}
	if q.Cfg.HiddenSize != p.Cfg.HiddenSize {
		q.Close()
		p.Close()
		return nil, nil, fmt.Errorf("encoder: %s: the query tower has hidden_size %d (%s) but the passage tower %d (%s): their vectors are compared by dot product",
			dir, q.Cfg.HiddenSize, filepath.Join(dir, QueryDir, ConfigFile), p.Cfg.HiddenSize, filepath.Join(dir, ParaDir, ConfigFile))
	}
	if err := sameVocab(filepath.Join(dir, QueryDir, VocabFile), filepath.Join(dir, ParaDir, VocabFile)); err != nil {
		q.Close()
		p.Close()
		return nil, nil, err
	}
	return NewDualEncoder(q, p), mi, nil
}

// sameVocab refuses a passage tower whose vocab.txt (pv) differs from the query tower's (qv): both towers are fed
// by one tokenizer, the query tower's, so passages would be tokenized with a vocabulary their tower was not
// trained with. A passage tower without a vocab.txt is fine.
func sameVocab(qv, pv string) error {
	pb, err := os.ReadFile(pv)
	if errors.Is(err, os.ErrNotExist) {
		return nil
	}
	if err != nil {
		return fmt.Errorf("encoder: %w", err)
	}
	qb, err := os.ReadFile(qv)
	if err != nil {
		return fmt.Errorf("encoder: %w", err)
	}
	if !slices.Equal(vocabTokens(qb), vocabTokens(pb)) {
		return fmt.Errorf("encoder: %s differs from %s: both towers are fed by one tokenizer (the query tower's), so the towers must share a vocabulary", pv, qv)
	}
	return nil
}

// vocabTokens are the tokens of a vocab.txt, one a line, as the tokenizer reads them: line endings (LF or CRLF)
// and trailing blank lines do not count.
func vocabTokens(b []byte) []string {
	lines := strings.Split(string(b), "\n")
	for i, l := range lines {
		lines[i] = strings.TrimSuffix(l, "\r")
	}
	for len(lines) > 0 && lines[len(lines)-1] == "" {
		lines = lines[:len(lines)-1]
	}
	return lines
}

// SaveCross writes a cross-encoder as one HuggingFace directory (encoder weights + classifier.*, loadable as
// BertForSequenceClassification) plus rocketqa.json.
func SaveCross(dir string, c *CrossEncoder, mi ModelInfo, vocab string) error {
	mi.ModelType, mi.JointTraining = "cross_encoder", c.Version == HeadV2
	sd, err := stateDict("", c.Params()) // the encoder's tensors, then classifier.weight and classifier.bias
	if err != nil {
		return err
	}
	if err := SaveDir(dir, c.Enc.Cfg, sd, vocab); err != nil {
		return err
	}
	return writeInfo(dir, &mi)
}

// LoadCross reads a cross-encoder directory written by SaveCross (or any BertForSequenceClassification-like
// checkpoint with rocketqa.json beside it).
func LoadCross(dir string) (*CrossEncoder, *ModelInfo, error) {
	mi, err := readModelInfoOf(dir, "cross_encoder")
	if err != nil {
		return nil, nil, err
	}
	c, err := loadCrossWeights(dir, mi.JointTraining)
	return c, mi, err
}

func loadCrossWeights(dir string, v2 bool) (*CrossEncoder, error) {
	cfg, err := ReadConfig(filepath.Join(dir, "config.json"))
	if err != nil {
		return nil, err
	}
	raw, file, err := ReadStateDict(dir)
	if err != nil {
		return nil, err
	}
	sd := Canonicalize(raw, "")
	v := HeadV1
	if v2 {
		v = HeadV2
	}
	enc, err := FromStateDict(cfg, sd, file, v == HeadV1)
	if err != nil {
		return nil, err
	}
	n := int64(2)
	if v == HeadV2 {
		n = 1
	}
	h := int64(cfg.HiddenSize)
	head := map[string]safetensors.Tensor{}
	for _, k := range []string{"classifier.weight", "classifier.bias"} {
		if t, ok := sd[k]; ok {
			head[k] = t
		}
	}
	if err := CheckShapes(file, head, map[string][]int64{"classifier.weight": {n, h}, "classifier.bias": {n}}); err != nil {
		enc.Close()
		return nil, err
	}
	w, err := tensorFrom(head["classifier.weight"])
	if err != nil {
		enc.Close()
		return nil, err
	}
	b, err := tensorFrom(head["classifier.bias"])
	if err != nil {
		enc.Close()
		w.Close()
		return nil, err
	}
	return &CrossEncoder{Enc: enc, Version: v, w: w.SetRequiresGrad(true), b: b.SetRequiresGrad(true)}, nil
}
