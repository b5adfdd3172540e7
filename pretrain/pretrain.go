// Package pretrain is masked-language-model pre-training of a BERT/ERNIE encoder on a passage collection, from
// random weights or continued from a checkpoint, so that the RocketQA models (dual encoder, cross-encoder) can
// start from a pretrained encoder as the papers do (they start from ERNIE) when none exists for the user's domain
// or language.
//
// The objective is BERT's (Devlin et al., 2019) without next-sentence prediction: 15% of the tokens of each
// sequence are chosen (whole words or single tokens, see Masking), 80% of them replaced by [MASK], 10% by a random
// token, 10% kept, and predicted by an MLM head tied to the word embeddings (encoder.MLMHead). Masks are drawn
// afresh every step (dynamic masking, as RoBERTa) from (seed, batch), so a resumed run repeats the same masks.
// Training uses the shared loop (package train: AdamW, schedule, clipping, checkpoints and exact resume,
// progress, metrics.jsonl). The output, OutDir/final, is a HuggingFace BertForMaskedLM directory (config.json,
// model.safetensors with bert.* and cls.predictions.*, vocab.txt) that rocketqa.InitSpec.Init and the CLI's --init
// take and that transformers' BertForMaskedLM.from_pretrained loads.
package pretrain

import (
	"context"
	"crypto/sha256"
	"encoding/binary"
	"encoding/hex"
	"errors"
	"fmt"
	"hash/fnv"
	"math/rand/v2"
	"os"
	"path/filepath"
	"strconv"

	"github.com/rocketqa-go/rocketqa/dataset"
	"github.com/rocketqa-go/rocketqa/encoder"
	"github.com/rocketqa-go/rocketqa/rocketqa"
	"github.com/rocketqa-go/rocketqa/safetensors"
	"github.com/rocketqa-go/rocketqa/tokenizer"
	"github.com/rocketqa-go/rocketqa/torch"
	"github.com/rocketqa-go/rocketqa/train"
)

// Config configures Run. Zero values take the defaults in brackets.
type Config struct {
	// Collection is a DuReader-layout passage-collection directory (part files of pid \t title \t para lines);
	// or set Passages.
	Collection string
	Passages   *dataset.Passages
	// Init is a model directory to continue from (HF layout; its MLM head is used when it has one, e.g.
	// bert-base-chinese, else a new head is made); a directory written by this library with rocketqa.json gives
	// its query tower. Without Init, Config (a config.json) and Vocab describe a randomly initialised model.
	Init   string
	Config string
	Vocab  string

	MaxLen   int     // tokens per sequence, [CLS] and [SEP]s included [128]
	ForCN    bool    // remove spaces before tokenizing (Chinese, as the RocketQA readers' for_cn)
	Cased    bool    // keep case (default: lower-case)
	Masking  Masking // [WholeWord]
	MaskProb float64 // [0.15]
	Device   torch.Device
	Train    train.Options
}

// Task is MLM pre-training as a train.Task.
type Task struct {
	Head     *encoder.MLMHead
	Tok      *tokenizer.Tokenizer
	Masker   *Masker
	Examples []tokenizer.Encoding // one sequence each: [CLS] title [SEP] window of the passage [SEP]
	Vocab    string               // vocab.txt copied into saved models (when VocabFiles is nil)
	// VocabFiles is the vocabulary as read when the task was made (NewTask sets it).
	VocabFiles *encoder.Vocab
	Device     torch.Device
	Seed       uint64 // masks are drawn from (Seed, the batch's example indices)
	// Fresh reports that the head was newly initialised (no checkpoint, or one without an MLM head).
	Fresh bool
}

func (c *Config) vocab() (string, error) {
	if c.Vocab != "" {
		return c.Vocab, nil
	}
	if c.Init == "" {
		return "", errors.New("pretrain: set Init (a model directory) or Config and Vocab")
	}
	p := filepath.Join(c.Init, encoder.VocabFile)
	if _, err := os.Stat(p); err != nil {
		return "", fmt.Errorf("pretrain: %s has no %s: set Vocab", c.Init, encoder.VocabFile)
	}
	return p, nil
}

// initDir resolves a rocketqa model directory to its (query) tower.
func initDir(dir string) string {
	if _, err := os.Stat(filepath.Join(dir, encoder.InfoFile)); err == nil {
		if _, err := os.Stat(filepath.Join(dir, encoder.QueryDir)); err == nil {
			return filepath.Join(dir, encoder.QueryDir)
		}
	}
	return dir
}

// NewTask loads or creates the model and tokenizes the collection into training sequences. Call torch.ManualSeed
// first for a reproducible random init (Run does).
func NewTask(c Config) (*Task, error) {
	if c.MaxLen == 0 {
		c.MaxLen = 128
	}
	if c.MaxLen < 8 {
		return nil, fmt.Errorf("pretrain: MaxLen %d: must be at least 8", c.MaxLen)
	}
	if c.Init != "" {
		c.Init = initDir(c.Init)
	}
	vocab, err := c.vocab()
	if err != nil {
		return nil, err
	}
	vocabFiles, err := encoder.ReadVocab(vocab) // read once: the tokenizer and every saved model use these bytes
	if err != nil {
		return nil, err
	}
	o := tokenizer.DefaultOptions()
	o.Lowercase = !c.Cased
	o.RemoveSpaces = c.ForCN
	tok, err := tokenizer.NewFromBytes(vocab, vocabFiles.Bytes(), o)
	if err != nil {
		return nil, err
	}
	masker, err := NewMasker(tok, c.Masking, c.MaskProb)
	if err != nil {
		return nil, err
	}
	pool := c.Passages
	if pool == nil {
		if c.Collection == "" {
			return nil, errors.New("pretrain: set Collection (a passage-collection directory) or Passages")
		}
		if pool, err = dataset.LoadDuReaderCollection(c.Collection); err != nil {
			return nil, err
		}
	}
	t := &Task{Tok: tok, Masker: masker, Vocab: vocab, VocabFiles: vocabFiles, Device: c.Device, Seed: c.Train.Seed}
	if t.Seed == 0 {
		t.Seed = 1
	}
	var enc *encoder.BERT
	if c.Init != "" {
		if t.Head, t.Fresh, err = encoder.LoadMLM(c.Init); err != nil {
			return nil, err
		}
		enc = t.Head.Enc
	} else {
		if c.Config == "" {
			return nil, errors.New("pretrain: set Init (a model directory) or Config (config.json for a random init)")
		}
		cfg, err := encoder.ReadConfig(c.Config)
		if err != nil {
			return nil, err
		}
		if enc, err = encoder.NewBERT(cfg, false); err != nil {
			return nil, err
		}
		if t.Head, err = encoder.NewMLMHead(enc); err != nil {
			enc.Close()
			return nil, err
		}
		t.Fresh = true
	}
	if tok.VocabSize() != enc.Cfg.VocabSize {
		t.Close()
		return nil, fmt.Errorf("pretrain: %s has %d tokens, the model's vocab_size is %d", vocab, tok.VocabSize(), enc.Cfg.VocabSize)
	}
	if c.MaxLen > enc.Cfg.MaxPositionEmbeddings {
		t.Close()
		return nil, fmt.Errorf("pretrain: MaxLen %d exceeds max_position_embeddings %d", c.MaxLen, enc.Cfg.MaxPositionEmbeddings)
	}
	if c.Device != torch.CPU {
		if err := t.toDevice(c.Device); err != nil {
			t.Close()
			return nil, err
		}
	}
	t.Examples = Windows(tok, masker, pool, c.MaxLen)
	if len(t.Examples) == 0 {
		t.Close()
		return nil, errors.New("pretrain: the collection gives no sequence with a maskable token")
	}
	return t, nil
}

// toDevice moves encoder and head: the head is rebuilt from its saved tensors on the device.
func (t *Task) toDevice(dev torch.Device) error {
	head, err := t.Head.StateDict()
	if err != nil {
		return err
	}
	if err := t.Head.Enc.ToDevice(dev); err != nil {
		return err
	}
	raw := map[string]safetensors.Tensor{}
	for _, st := range head {
		raw[st.Name] = st
	}
	h, err := encoder.MLMHeadFromStateDict(t.Head.Enc, raw, "memory")
	if err != nil {
		return err
	}
	t.Head.Close()
	t.Head = h
	return nil
}

// Windows cuts every passage into training sequences of at most maxLen tokens in the dual encoder's passage
// layout, [CLS] title [SEP] para [SEP] (type ids 0 then 1): the title (at most half the budget) is repeated in
// every window, the paragraph tokens follow window after window, so no text is lost to truncation. Sequences with
// no maskable token are left out.
func Windows(tok *tokenizer.Tokenizer, m *Masker, pool *dataset.Passages, maxLen int) []tokenizer.Encoding {
	budget := maxLen - 3
	var out []tokenizer.Encoding
	for i := 0; i < pool.Len(); i++ {
		p := pool.At(i)
		title := tok.IDs(p.Title)
		if len(title) > budget/2 {
			title = title[:budget/2]
		}
		para := tok.IDs(p.Text)
		w := budget - len(title)
		for start := 0; start == 0 || start < len(para); start += w {
			chunk := para[start:min(start+w, len(para))]
			n := len(title) + len(chunk) + 3
			e := tokenizer.Encoding{IDs: make([]int32, 0, n), TypeIDs: make([]int32, n)}
			e.IDs = append(e.IDs, tok.CLS())
			e.IDs = append(e.IDs, title...)
			e.IDs = append(e.IDs, tok.SEP())
			e.IDs = append(e.IDs, chunk...)
			e.IDs = append(e.IDs, tok.SEP())
			for j := len(title) + 2; j < n; j++ {
				e.TypeIDs[j] = 1
			}
			if m.maskable(e.IDs) {
				out = append(out, e)
			}
		}
	}
	return out
}

func (m *Masker) maskable(ids []int32) bool {
	for _, id := range ids {
		if id >= 0 && int(id) < len(m.special) && !m.special[id] {
			return true
		}
	}
	return false
}

// Params implements train.Task: the encoder's parameters, then the head's.
func (t *Task) Params() []encoder.Param {
	return append(append([]encoder.Param(nil), t.Head.Enc.Params()...), t.Head.Params()...)
}

// NumExamples implements train.Task.
func (t *Task) NumExamples() int { return len(t.Examples) }

// SaveModel implements train.Task: a HuggingFace BertForMaskedLM directory.
func (t *Task) SaveModel(dir string) error {
	return t.VocabFiles.With(dir, t.Vocab, func(vocab string) error { return encoder.SaveMLM(dir, t.Head, vocab) })
}

// LoadModel implements train.Task.
func (t *Task) LoadModel(dir string) error {
	src, fresh, err := encoder.LoadMLM(dir)
	if err != nil {
		return err
	}
	defer func() { src.Close(); src.Enc.Close() }()
	if fresh {
		return fmt.Errorf("pretrain: %s has no MLM head", dir)
	}
	from := append(append([]encoder.Param(nil), src.Enc.Params()...), src.Params()...)
	dst := t.Params()
	if len(from) != len(dst) {
		return fmt.Errorf("pretrain: %s has %d tensors, the model %d", dir, len(from), len(dst))
	}
	for i := range dst {
		if from[i].Name != dst[i].Name {
			return fmt.Errorf("pretrain: %s: tensor %s where %s was expected", dir, from[i].Name, dst[i].Name)
		}
		if err := dst[i].Tensor.CopyFrom(from[i].Tensor); err != nil {
			return fmt.Errorf("pretrain: load %s: %w", dst[i].Name, err)
		}
	}
	return nil
}

// rng returns the mask generator of a batch: a function of the seed and the batch's example indices.
func (t *Task) rng(idx []int) *rand.Rand {
	h := fnv.New64a()
	var b [8]byte
	for _, i := range idx {
		for k := range b {
			b[k] = byte(uint64(i) >> (8 * k))
		}
		h.Write(b[:])
	}
	return rand.New(rand.NewPCG(t.Seed, h.Sum64()))
}

// Batch is a masked batch ready for the model.
type Batch struct {
	Pad       tokenizer.Batch
	Positions []int64 // flat positions row*Cols + column of the predicted tokens
	Labels    []int64
}

// MaskBatch masks the given examples as Step does.
func (t *Task) MaskBatch(idx []int) Batch {
	rng := t.rng(idx)
	encs := make([]tokenizer.Encoding, len(idx))
	type pl struct {
		pos    []int
		labels []int32
	}
	sel := make([]pl, len(idx))
	for i, j := range idx {
		e := t.Examples[j]
		in, pos, labels := t.Masker.Apply(rng, e.IDs)
		encs[i] = tokenizer.Encoding{IDs: in, TypeIDs: e.TypeIDs}
		sel[i] = pl{pos, labels}
	}
	b := Batch{Pad: t.Tok.Pad(encs)}
	for i, s := range sel {
		for k, p := range s.pos {
			b.Positions = append(b.Positions, int64(i*b.Pad.Cols+p))
			b.Labels = append(b.Labels, int64(s.labels[k]))
		}
	}
	return b
}

// Step implements train.Task.
func (t *Task) Step(s *torch.Scope, idx []int) (float64, error) {
	if len(idx) == 0 {
		return 0, errors.New("pretrain: empty batch")
	}
	b := t.MaskBatch(idx)
	ids, types, mask := encoder.Tensors(s, b.Pad, t.Device)
	n := int64(len(b.Positions))
	pos := s.FromInt64(b.Positions, n).ToDevice(t.Device)
	labels := s.FromInt64(b.Labels, n).ToDevice(t.Device)
	l := t.Head.Loss(s, ids, types, mask, pos, labels, true)
	if err := l.Backward(); err != nil {
		return 0, err
	}
	return l.Item()
}

// Close frees the model; safe to call twice.
func (t *Task) Close() {
	if t == nil || t.Head == nil {
		return
	}
	t.Head.Close()
	t.Head.Enc.Close()
}

// Run pre-trains and returns the training result; the model is in Result.FinalDir (OutDir/final). A run started
// again with the same OutDir resumes from its latest checkpoint.
func Run(ctx context.Context, c Config) (*train.Result, error) {
	seed := c.Train.Seed
	if seed == 0 {
		seed = 1
	}
	torch.ManualSeed(seed)
	t, err := NewTask(c)
	if err != nil {
		return nil, err
	}
	defer t.Close()
	o := c.Train
	if o.Identity, err = identity(c, t); err != nil {
		return nil, err
	}
	return train.Run(ctx, t, o)
}

// identity is what a pre-training run's checkpoints belong to (train.Options.Identity), so that a run with other
// settings does not resume them: where the model comes from (rocketqa.InitSpec.RunIdentity), the collection, the
// training sequences (a hash of their tokens: text, MaxLen, tokenisation and vocabulary) and the masking. The
// caller's Train.Identity entries are kept.
func identity(c Config, t *Task) (map[string]string, error) {
	spec := rocketqa.InitSpec{Init: c.Init, Config: c.Config, Vocab: c.Vocab}
	h := sha256.New()
	var b [4]byte
	for _, e := range t.Examples {
		binary.LittleEndian.PutUint32(b[:], uint32(len(e.IDs)))
		h.Write(b[:])
		for _, v := range append(append([]int32(nil), e.IDs...), e.TypeIDs...) {
			binary.LittleEndian.PutUint32(b[:], uint32(v))
			h.Write(b[:])
		}
	}
	maxLen := c.MaxLen
	if maxLen == 0 {
		maxLen = 128
	}
	id, err := spec.RunIdentity("pretrain", "", c.ForCN, c.Cased, map[string]string{
		"max_len":   strconv.Itoa(maxLen),
		"masking":   string(t.Masker.Mode),
		"mask_prob": strconv.FormatFloat(t.Masker.Prob, 'g', -1, 64),
		"sequences": fmt.Sprintf("%d sha256 %s", len(t.Examples), hex.EncodeToString(h.Sum(nil)))})
	if err != nil {
		return nil, err
	}
	if c.Collection != "" {
		id["collection"], _ = filepath.Abs(c.Collection)
	}
	for k, v := range c.Train.Identity {
		id[k] = v
	}
	return id, nil
}
