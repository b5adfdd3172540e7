package rocketqa

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"sync"

	"github.com/rocketqa-go/rocketqa/dataset"
	"github.com/rocketqa-go/rocketqa/encoder"
	"github.com/rocketqa-go/rocketqa/tokenizer"
	"github.com/rocketqa-go/rocketqa/torch"
	"github.com/rocketqa-go/rocketqa/train"
)

// OfficialModels are the names the official Python package downloads (docs/method.md §8). They are PaddlePaddle checkpoints;
// this library loads HuggingFace-layout directories only.
var OfficialModels = []string{
	"v1_marco_de", "v1_marco_ce", "v1_nq_de", "v1_nq_ce", "pair_marco_de", "pair_nq_de",
	"v2_marco_de", "v2_marco_ce", "v2_nq_de", "zh_dureader_de", "zh_dureader_ce", "zh_dureader_de_v2", "zh_dureader_ce_v2",
}

// LoadOptions configure Load.
type LoadOptions struct {
	Device    torch.Device // [CPU]
	BatchSize int          // inference batch [32]
	// TokenBudget, when > 0, batches by padded tokens (after length sorting) instead of BatchSize sequences.
	TokenBudget int
	// BF16 encodes and scores in bfloat16 autocast: on CUDA, or on a CPU that multiplies bfloat16 natively
	// (avx512_bf16 or amx_bf16); elsewhere in float32 (torch.CPUBF16 gives the message). Outputs stay float32.
	BF16 bool
}

// Model is a loaded dual or cross encoder with the official package's methods. Safe for concurrent use, Close
// included: Close stops the calls in flight at their next batch, waits for them, then frees the weights; calls after
// Close return ErrClosed.
type Model struct {
	Info  *encoder.ModelInfo
	Dual  *encoder.DualEncoder  // set for a dual encoder
	Cross *encoder.CrossEncoder // set for a cross encoder
	Tok   *tokenizer.Tokenizer
	emb   *encoder.Embedder
	rr    *Reranker

	mu     sync.RWMutex // held for reading by every call, for writing by Close
	closed bool
	life   context.Context // cancelled by Close: stops the calls in flight
	kill   context.CancelFunc
}

// ErrClosed is returned by the methods of a Model after Close.
var ErrClosed = errors.New("rocketqa: the model is closed")

// TokenizerFor builds the tokenizer a model directory's settings call for (do_lower_case; for_cn removes spaces).
func TokenizerFor(vocab string, info encoder.ModelInfo) (*tokenizer.Tokenizer, error) {
	return tokenizer.New(vocab, tokenizerOptions(info))
}

// TokenizerFromVocab is TokenizerFor over a vocabulary already read (encoder.ReadVocab): a training run builds its
// tokenizer and the vocabulary its models carry from one read of the file, so they cannot differ, and a vocabulary
// that can be read only once (a FIFO, a shell's <(...)) works.
func TokenizerFromVocab(v *encoder.Vocab, info encoder.ModelInfo) (*tokenizer.Tokenizer, error) {
	return tokenizer.NewFromBytes(v.Path, v.Bytes(), tokenizerOptions(info))
}

func tokenizerOptions(info encoder.ModelInfo) tokenizer.Options {
	o := tokenizer.DefaultOptions()
	o.Lowercase = info.DoLowerCase
	o.RemoveSpaces = info.ForCN
	return o
}

// Load reads a model directory written by this library (rocketqa.json beside HF-layout weights), like the
// official rocketqa.load_model. It also takes an official model name, release folder or config.json, which it
// converts once into a cache (ResolvePaddle, docs/paddle.md).
func Load(dir string, o LoadOptions) (*Model, error) {
	// an official model name or PaddlePaddle release folder: converted once into a cache beside it (convert.go)
	dir, err := ResolvePaddle(dir)
	if err != nil {
		return nil, err
	}
	if st, err := os.Stat(dir); err != nil || !st.IsDir() {
		if slices.Contains(OfficialModels, dir) {
			return nil, fmt.Errorf("rocketqa: %q is an official PaddlePaddle model name; download and convert it to a HuggingFace-layout directory (see README, \"Official checkpoints\") and pass that directory", dir)
		}
		return nil, fmt.Errorf("rocketqa: model directory %s: not found", dir)
	}
	if o.BatchSize <= 0 {
		o.BatchSize = 32
	}
	info, err := encoder.ReadModelInfo(dir)
	if err != nil {
		return nil, err
	}
	m := &Model{Info: info}
	m.life, m.kill = context.WithCancel(context.Background())
	switch info.ModelType {
	case "dual_encoder":
		d, err := loadOn(dir, o.Device, encoder.LoadDual)
		if err != nil {
			return nil, err
		}
		paraDir := encoder.ParaDir
		if d.Shared {
			paraDir = encoder.QueryDir
		}
		if err := typesFit(filepath.Join(dir, paraDir), d.Para.Cfg, 2, "passages ([CLS] title [SEP] paragraph [SEP])"); err != nil {
			d.Close()
			return nil, err
		}
		if m.Tok, err = TokenizerFor(filepath.Join(dir, encoder.QueryDir, "vocab.txt"), *info); err != nil {
			d.Close()
			return nil, err
		}
		m.Dual = d
		m.emb = &encoder.Embedder{Model: d, Tok: m.Tok, QMaxLen: orDefault(info.QMaxSeqLen, 32), PMaxLen: orDefault(info.PMaxSeqLen, 384),
			Options: encoder.EncodeOptions{BatchSize: o.BatchSize, TokenBudget: o.TokenBudget, Device: o.Device, BF16: o.BF16}}
	default:
		c, err := loadOn(dir, o.Device, encoder.LoadCross)
		if err != nil {
			return nil, err
		}
		types, what := 2, "query-passage pairs"
		if info.MatchTypes {
			types, what = 4, "query-passage pairs with match_token_types"
		}
		if err := typesFit(dir, c.Enc.Cfg, types, what); err != nil {
			c.Close()
			return nil, err
		}
		if m.Tok, err = TokenizerFor(filepath.Join(dir, "vocab.txt"), *info); err != nil {
			c.Close()
			return nil, err
		}
		m.Cross = c
		m.rr = &Reranker{Model: c, Tok: m.Tok, MaxSeqLen: orDefault(info.MaxSeqLen, 384), BatchSize: o.BatchSize, MatchTypes: info.MatchTypes,
			TokenBudget: o.TokenBudget, Device: o.Device, BF16: o.BF16}
	}
	return m, nil
}

// typesFit refuses, before any input is encoded, a tower (model directory dir) whose token type table has fewer
// than types rows, the token types that inputs of kind what carry (libtorch would only say "index out of range
// in self" at the first batch).
func typesFit(dir string, cfg *encoder.Config, types int, what string) error {
	if cfg.TypeVocabSize < types {
		return fmt.Errorf("rocketqa: %s: type_vocab_size %d, but %s use token types 0..%d",
			filepath.Join(dir, encoder.ConfigFile), cfg.TypeVocabSize, what, types-1)
	}
	return nil
}

// loadOn reads the model in dir with load and moves it to dev; on failure nothing stays allocated.
func loadOn[M interface {
	ToDevice(torch.Device) error
	Close()
}](dir string, dev torch.Device, load func(string) (M, *encoder.ModelInfo, error)) (M, error) {
	var none M
	m, _, err := load(dir)
	if err != nil {
		return none, err
	}
	if err := m.ToDevice(dev); err != nil {
		m.Close()
		return none, err
	}
	return m, nil
}

func orDefault(v, d int) int {
	if v > 0 {
		return v
	}
	return d
}

// use runs f under the model's read lock with a context that also ends when Close is called; it returns
// ErrClosed after Close, and for a call that Close interrupted.
func (m *Model) use(ctx context.Context, f func(ctx context.Context) error) error {
	m.mu.RLock()
	defer m.mu.RUnlock()
	if m.closed {
		return ErrClosed
	}
	if m.life != nil { // a Model built by hand (not by Load) has no Close-cancellation
		var cancel context.CancelFunc
		ctx, cancel = context.WithCancel(ctx)
		defer cancel()
		defer context.AfterFunc(m.life, cancel)()
	}
	err := f(ctx)
	if err != nil && m.life != nil && m.life.Err() != nil && errors.Is(err, context.Canceled) {
		return ErrClosed
	}
	return err
}

// EncodeQuery returns the query vectors (raw [CLS]) of a dual encoder.
func (m *Model) EncodeQuery(ctx context.Context, queries []string) (out [][]float32, err error) {
	if m.emb == nil {
		return nil, errors.New("rocketqa: EncodeQuery needs a dual encoder")
	}
	err = m.use(ctx, func(ctx context.Context) error {
		out, err = m.emb.EncodeQueries(ctx, queries)
		return err
	})
	return out, err
}

// EncodePara returns passage vectors; titles may be nil or empty (no titles, as the official title=[]).
func (m *Model) EncodePara(ctx context.Context, paras, titles []string) (out [][]float32, err error) {
	if m.emb == nil {
		return nil, errors.New("rocketqa: EncodePara needs a dual encoder")
	}
	err = m.use(ctx, func(ctx context.Context) error {
		out, err = m.emb.EncodePassages(ctx, titles, paras)
		return err
	})
	return out, err
}

// Matching scores query i against passage i: the dot product of their vectors for a dual encoder, the
// cross-encoder's score (P(relevant) for v1, the logit for v2) for a cross encoder.
func (m *Model) Matching(ctx context.Context, queries, paras, titles []string) ([]float32, error) {
	if len(queries) != len(paras) {
		return nil, fmt.Errorf("rocketqa: Matching: %d queries and %d passages", len(queries), len(paras))
	}
	if m.rr != nil {
		var out []float32
		err := m.use(ctx, func(ctx context.Context) (err error) {
			out, err = m.rr.Score(ctx, queries, titles, paras)
			return err
		})
		return out, err
	}
	q, err := m.EncodeQuery(ctx, queries)
	if err != nil {
		return nil, err
	}
	p, err := m.EncodePara(ctx, paras, titles)
	if err != nil {
		return nil, err
	}
	out := make([]float32, len(q))
	for i := range q {
		var s float32
		for j := range q[i] {
			s += q[i][j] * p[i][j]
		}
		out[i] = s
	}
	return out, nil
}

// Embedder exposes the dual encoder's batched encoder (nil for a cross encoder). Its calls are not guarded by
// the Model: the caller must not Close the Model while they run.
func (m *Model) Embedder() *encoder.Embedder { return m.emb }

// Reranker exposes the cross encoder's scorer (nil for a dual encoder). Its calls are not guarded by the Model:
// the caller must not Close the Model while they run.
func (m *Model) Reranker() *Reranker { return m.rr }

// Close stops the calls in flight (at their next batch; they return ErrClosed), waits for them and frees the
// model. Later calls return ErrClosed. Safe to call twice and from several goroutines.
func (m *Model) Close() {
	if m.kill != nil {
		m.kill()
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.closed {
		return
	}
	m.closed = true
	if m.Dual != nil {
		m.Dual.Close()
	}
	if m.Cross != nil {
		m.Cross.Close()
	}
}

// ---- training entry points ----

// InitSpec says where the initial weights come from.
type InitSpec struct {
	// Init is a pretrained HuggingFace model directory (config.json, model.safetensors or pytorch_model.bin,
	// vocab.txt): both towers start from it ("twin init"). Or a directory written by this library
	// (rocketqa.json) to continue from.
	Init string
	// Config is a config.json for a randomly initialised model when Init is empty; Vocab then names vocab.txt.
	Config string
	Vocab  string
}

func (s InitSpec) vocab() (string, error) {
	if s.Vocab != "" {
		return s.Vocab, nil
	}
	if s.Init == "" {
		return "", errors.New("rocketqa: no vocab.txt: set Init or Vocab")
	}
	for _, p := range []string{filepath.Join(s.Init, "vocab.txt"), filepath.Join(s.Init, encoder.QueryDir, "vocab.txt")} {
		if _, err := os.Stat(p); err == nil {
			return p, nil
		}
	}
	return "", fmt.Errorf("rocketqa: %s has no vocab.txt", s.Init)
}

// randomConfig reads s.Config (random init, Init empty) once for all the towers a task builds, so that a FIFO or
// /dev/stdin works, and checks the sequence lengths (field and value pairs) against its positions (MaxPositions
// leaves a config that is not a regular file unread). It returns nil when s starts from Init.
func (s InitSpec) randomConfig(lens ...any) (*encoder.Config, error) {
	if s.Init != "" {
		return nil, nil
	}
	if s.Config == "" {
		return nil, errors.New("rocketqa: set Init (pretrained model directory) or Config (config.json for random init)")
	}
	cfg, err := encoder.ReadConfig(s.Config)
	if err != nil {
		return nil, err
	}
	if err := positionsWithin(cfg.MaxPositionEmbeddings, s.Config, lens...); err != nil {
		return nil, err
	}
	return cfg, nil
}

// newBERT builds one tower from the spec (a fresh copy each call): from Init, or randomly initialised from cfg
// (s.randomConfig).
func (s InitSpec) newBERT(cfg *encoder.Config, withPooler bool, sub string) (*encoder.BERT, error) {
	if s.Init == "" {
		if cfg == nil {
			return nil, errors.New("rocketqa: set Init (pretrained model directory) or Config (config.json for random init)")
		}
		c := *cfg
		return encoder.NewBERT(&c, withPooler)
	}
	dir := s.Init
	if _, err := os.Stat(filepath.Join(dir, encoder.InfoFile)); err == nil {
		if sub == "" {
			sub = encoder.QueryDir // a cross-encoder started from a dual encoder: its (query) tower
		}
		if _, err := os.Stat(filepath.Join(dir, sub)); err == nil {
			dir = filepath.Join(dir, sub)
		} else if _, err := os.Stat(filepath.Join(dir, encoder.QueryDir)); err == nil {
			dir = filepath.Join(dir, encoder.QueryDir) // shared towers are saved once
		}
	}
	if !withPooler {
		return encoder.LoadBERT(dir, false)
	}
	raw, _, err := encoder.ReadStateDict(dir)
	if err != nil {
		return nil, err
	}
	if _, ok := encoder.Canonicalize(raw, "")["pooler.dense.weight"]; ok {
		return encoder.LoadBERT(dir, true)
	}
	// no pretrained pooler (e.g. a dual-encoder tower): a new one, as the papers' code initialises new layers
	m, err := encoder.LoadBERT(dir, false)
	if err != nil {
		return nil, err
	}
	if err := m.AddPooler(); err != nil {
		m.Close()
		return nil, err
	}
	return m, nil
}

// DualConfig configures TrainDual.
type DualConfig struct {
	InitSpec
	TrainFile string // dual.train.tsv (6 columns)
	DevDir    string // optional DuReader-layout directory evaluated during training (MRR@10 over its collection)
	QMaxLen   int    // [32]
	PMaxLen   int    // [384] (DuReader; 128 for MS MARCO)
	ForCN     bool   // remove spaces before tokenizing (DuReader / Chinese)
	Cased     bool   // keep case (default: lower-case, as BERT uncased and ERNIE)
	Shared    bool   // one tower for queries and passages (PAIR)
	ChunkSize int
	GradCache bool
	Device    torch.Device
	Autocast  bool
	EvalBatch int
	// CrossBatch gathers passages across processes when Train.PG is set [true unless NoCrossBatch].
	NoCrossBatch bool
	// Loss is the training loss [CrossBatchLoss, RocketQA v1]; a paper package (e.g. pair) passes its own.
	Loss  DualLoss
	Train train.Options
}

// ReadDualExamples loads a dual-encoder training file into memory. It returns ctx.Err() (wrapped with the file
// and line) soon after ctx ends, also while the read is blocked (a FIFO without a writer, or with a silent one):
// dataset's readers do that with Options.Context.
func ReadDualExamples(ctx context.Context, path string) ([]dataset.DualExample, error) {
	r, err := dataset.OpenDualTrain(path, dataset.Options{Context: ctx})
	if err != nil {
		return nil, err
	}
	return readAll[dataset.DualExample](r)
}

// ReadCrossExamples loads a cross-encoder training file into memory; cancellation as ReadDualExamples.
func ReadCrossExamples(ctx context.Context, path string) ([]dataset.CrossExample, error) {
	r, err := dataset.OpenCrossTrain(path, dataset.Options{Context: ctx})
	if err != nil {
		return nil, err
	}
	return readAll[dataset.CrossExample](r)
}

// exampleReader is what dataset's training-file readers have in common.
type exampleReader[T any] interface {
	Next() bool
	Example() T
	Err() error
	Close() error
}

// readAll collects every record of r and closes it.
func readAll[T any](r exampleReader[T]) ([]T, error) {
	defer r.Close()
	var out []T
	for r.Next() {
		out = append(out, r.Example())
	}
	if err := r.Err(); err != nil {
		return nil, err
	}
	return out, nil
}

// NewDualTask builds the model and task of a DualConfig without training.
func NewDualTask(ctx context.Context, c DualConfig) (*DualTask, error) {
	exs, err := ReadDualExamples(ctx, c.TrainFile)
	if err != nil {
		return nil, err
	}
	vocab, err := c.vocab()
	if err != nil {
		return nil, err
	}
	vocabFiles, err := encoder.ReadVocab(vocab)
	if err != nil {
		return nil, err
	}
	info := encoder.ModelInfo{QMaxSeqLen: orDefault(c.QMaxLen, 32), PMaxSeqLen: orDefault(c.PMaxLen, 384), ForCN: c.ForCN, DoLowerCase: !c.Cased}
	tok, err := TokenizerFromVocab(vocabFiles, info)
	if err != nil {
		return nil, err
	}
	cfg, err := c.randomConfig("QMaxLen", info.QMaxSeqLen, "PMaxLen", info.PMaxSeqLen)
	if err != nil {
		return nil, err
	}
	torch.ManualSeed(max(c.Train.Seed, 1))
	q, err := c.newBERT(cfg, false, encoder.QueryDir)
	if err != nil {
		return nil, err
	}
	p := q
	if !c.Shared {
		if p, err = c.newBERT(cfg, false, encoder.ParaDir); err != nil {
			q.Close()
			return nil, err
		}
	}
	d := encoder.NewDualEncoder(q, p)
	if err := d.ToDevice(c.Device); err != nil {
		d.Close()
		return nil, err
	}
	return &DualTask{Model: d, Tok: tok, Examples: exs, Info: info, Vocab: vocab, VocabFiles: vocabFiles, ChunkSize: c.ChunkSize, GradCache: c.GradCache,
		Loss: c.Loss, PG: c.Train.PG, CrossBatch: !c.NoCrossBatch, Device: c.Device, Autocast: c.Autocast}, nil
}

// TrainDual trains a dual encoder: RocketQA v1 (step 1, 3 or 4 of the pipeline, depending on the training file),
// or with c.Loss any loss of the grouped layout.
func TrainDual(ctx context.Context, c DualConfig) (*train.Result, error) {
	task, err := NewDualTask(ctx, c)
	if err != nil {
		return nil, err
	}
	defer task.Model.Close()
	if c.DevDir != "" {
		dev, err := LoadDuReaderDev(c.DevDir)
		if err != nil {
			return nil, err
		}
		c.Train.Eval = task.Evaluator(dev, orDefault(c.EvalBatch, 64))
	}
	return train.Run(ctx, task, c.Train)
}

// CrossConfig configures TrainCross.
type CrossConfig struct {
	InitSpec
	TrainFile string // cross.train.tsv (4 columns)
	MaxSeqLen int    // pair length [384] (DuReader; 160 for MS MARCO)
	ForCN     bool
	Cased     bool
	V2Head    bool // raw [CLS] -> Linear(H,1) (RocketQA v2) instead of pooler -> Linear(H,2)
	Perturb   bool // the official embedding-gradient step
	// MatchTypes marks exact query-passage token matches with token types 2 and 3 (tokenizer.MarkMatches), the
	// table grown to 4 rows first (encoder.BERT.ExtendTypeVocab: a pretrained model starts unchanged; a table that
	// already has 4 rows, as ERNIE 2.0 en's, is used as it is). Not in the
	// papers: for cross-encoders trained from random or collection-only pre-trained weights, which otherwise do not
	// learn on small corpora (docs/method.md §3.6). Saved in rocketqa.json; scoring then applies it too.
	MatchTypes bool
	Device     torch.Device
	// Autocast runs the forward passes in bfloat16 autocast (CUDA, or a CPU with native bfloat16; see
	// torch.CPUBF16); weights, optimizer state and the loss stay float32.
	Autocast bool
	Train    train.Options
}

// NewCrossTask builds the model and task of a CrossConfig without training.
func NewCrossTask(ctx context.Context, c CrossConfig) (*CrossTask, error) {
	exs, err := ReadCrossExamples(ctx, c.TrainFile)
	if err != nil {
		return nil, err
	}
	vocab, err := c.vocab()
	if err != nil {
		return nil, err
	}
	vocabFiles, err := encoder.ReadVocab(vocab)
	if err != nil {
		return nil, err
	}
	info := encoder.ModelInfo{MaxSeqLen: orDefault(c.MaxSeqLen, 384), ForCN: c.ForCN, DoLowerCase: !c.Cased, JointTraining: c.V2Head,
		MatchTypes: c.MatchTypes}
	tok, err := TokenizerFromVocab(vocabFiles, info)
	if err != nil {
		return nil, err
	}
	cfg, err := c.randomConfig("MaxSeqLen", info.MaxSeqLen)
	if err != nil {
		return nil, err
	}
	torch.ManualSeed(max(c.Train.Seed, 1))
	v := encoder.HeadV1
	if c.V2Head {
		v = encoder.HeadV2
	}
	enc, err := c.newBERT(cfg, v == encoder.HeadV1, "")
	if err != nil {
		return nil, err
	}
	if c.MatchTypes {
		if err := enc.ExtendTypeVocab(4); err != nil {
			enc.Close()
			return nil, err
		}
	}
	model, err := encoder.NewCrossEncoder(enc, v)
	if err != nil {
		enc.Close()
		return nil, err
	}
	if err := model.ToDevice(c.Device); err != nil {
		model.Close()
		return nil, err
	}
	return &CrossTask{Model: model, Tok: tok, Examples: exs, Info: info, Vocab: vocab, VocabFiles: vocabFiles, Perturb: c.Perturb, Device: c.Device, Autocast: c.Autocast}, nil
}

// TrainCross trains a RocketQA v1 cross-encoder (step 2 of the pipeline).
func TrainCross(ctx context.Context, c CrossConfig) (*train.Result, error) {
	task, err := NewCrossTask(ctx, c)
	if err != nil {
		return nil, err
	}
	defer task.Model.Close()
	if c.Train.Schedule == "" {
		c.Train.Schedule = train.Constant
	}
	return train.Run(ctx, task, c.Train)
}
