package rocketqa

import (
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"

	"github.com/rocketqa-go/rocketqa/encoder"
	"github.com/rocketqa-go/rocketqa/fielderr"
	"github.com/rocketqa-go/rocketqa/torch"
)

// The configuration checks of the training and inference entry points. Each returns a *fielderr.Error naming
// the fields it is about (cmd/rocketqa shows them as its flags); zero values that take a default pass.

const pkg = "rocketqa"

// Validate checks that s names a model: Init (a directory) or Config with Vocab (files), not both.
func (s InitSpec) Validate() error {
	return fielderr.First(fielderr.Check(pkg,
		s.Init != "" || s.Config != "", "give {Init} DIR (pretrained model) or {Config} config.json with {Vocab} vocab.txt",
		s.Init == "" || s.Config == "", "{Init} and {Config} exclude each other",
		s.Config == "" || s.Vocab != "", "{Config} needs {Vocab}"),
		fielderr.IsDir(pkg, "Init", s.Init), fielderr.IsFile(pkg, "Config", s.Config), fielderr.IsFile(pkg, "Vocab", s.Vocab))
}

// checkPositions refuses sequence lengths (field path and value pairs) beyond the positions of the model s
// starts from.
func (s InitSpec) checkPositions(lens ...any) error {
	maxPos, cfg, err := s.MaxPositions()
	if err != nil {
		return err
	}
	return positionsWithin(maxPos, cfg, lens...)
}

// positionsWithin refuses sequence lengths (field path and value pairs) beyond maxPos, the positions of the model
// configured by cfg (0: unknown, nothing checked).
func positionsWithin(maxPos int, cfg string, lens ...any) error {
	if maxPos == 0 {
		return nil
	}
	for i := 0; i+1 < len(lens); i += 2 {
		if n := lens[i+1].(int); n > maxPos {
			return fielderr.New(pkg, "{%s} %d exceeds max_position_embeddings %d of %s", lens[i], n, maxPos, cfg)
		}
	}
	return nil
}

// trainFile checks the required training file.
func trainFile(path string) error {
	if path == "" {
		return fielderr.New(pkg, "{TrainFile}: no training file")
	}
	return fielderr.IsFile(pkg, "TrainFile", path)
}

// Validate checks c before TrainDual reads anything: the loop's options, the model (InitSpec), the lengths
// (against the model's positions too), chunking and evaluation, and that the training file and DevDir exist.
func (c DualConfig) Validate() error {
	q, p := orDefault(c.QMaxLen, 32), orDefault(c.PMaxLen, 384)
	return fielderr.First(fielderr.In("Train", c.Train.Validate()), c.InitSpec.Validate(),
		fielderr.Check(pkg, q >= 3 && p >= 3, fmt.Sprintf("{QMaxLen} %d / {PMaxLen} %d: must be at least 3", q, p),
			c.ChunkSize >= 0, fmt.Sprintf("{ChunkSize} %d: must not be negative", c.ChunkSize),
			c.EvalBatch >= 0, fmt.Sprintf("{EvalBatch} %d: must be positive", c.EvalBatch),
			c.Train.EvalEvery == 0 || c.DevDir != "", "{Train.EvalEvery} needs {DevDir}"),
		fielderr.IsDir(pkg, "DevDir", c.DevDir), trainFile(c.TrainFile), c.checkPositions("QMaxLen", q, "PMaxLen", p))
}

// Validate checks c before TrainCross reads anything: the loop's options, the model, the pair length and the
// training file.
func (c CrossConfig) Validate() error {
	n := orDefault(c.MaxSeqLen, 384)
	return fielderr.First(fielderr.In("Train", c.Train.Validate()), c.InitSpec.Validate(),
		fielderr.Check(pkg, n >= 4, fmt.Sprintf("{MaxSeqLen} %d: must be at least 4", n)),
		trainFile(c.TrainFile), c.checkPositions("MaxSeqLen", n))
}

// ResolveDevice parses a device ("cpu", "cuda", "cuda:N"; field Device) and checks that it is there. Under a
// launcher (LOCAL_RANK set), "cuda" means cuda:LOCAL_RANK, one GPU per process.
func ResolveDevice(spec string) (torch.Device, error) {
	dev, err := torch.ParseDevice(spec)
	if err != nil {
		return dev, fielderr.New(pkg, "{Device}: %s", strings.TrimPrefix(err.Error(), "torch: "))
	}
	if lr, err := strconv.Atoi(os.Getenv("LOCAL_RANK")); spec == "cuda" && err == nil && lr >= 0 {
		dev = torch.CUDA(lr)
	}
	if dev.Type != torch.CUDADevice {
		return dev, nil
	}
	msg := ""
	if !torch.CUDAAvailable() {
		msg = fmt.Sprintf("{Device} %s: this libtorch has no CUDA or no GPU is visible", dev)
	} else if n := torch.CUDADeviceCount(); dev.Index >= n {
		msg = fmt.Sprintf("{Device} %s: only %d CUDA devices are visible", dev, n)
	}
	if msg != "" {
		return dev, &fielderr.Error{Pkg: pkg, Msg: msg, File: true}
	}
	return dev, nil
}

// InferenceOptions are the settings of one inference run (encode, search, score) on top of a model directory's
// own (rocketqa.json). Zero lengths keep the model's.
type InferenceOptions struct {
	QMaxLen, PMaxLen int // dual encoder
	MaxSeqLen        int // cross-encoder pair length
	// BF16 asks for bfloat16 autocast (CUDA, or a CPU with native bfloat16: torch.CPUBF16); ForceBF16 also on
	// a CPU that emulates it.
	BF16, ForceBF16 bool
	// TokenBudget batches by padded tokens after length sorting instead of a fixed batch [0: off].
	TokenBudget int
}

// Validate checks that no setting is negative.
func (o InferenceOptions) Validate() error {
	return fielderr.Check(pkg, o.QMaxLen >= 0, fmt.Sprintf("{QMaxLen} %d: must not be negative", o.QMaxLen),
		o.PMaxLen >= 0, fmt.Sprintf("{PMaxLen} %d: must not be negative", o.PMaxLen),
		o.MaxSeqLen >= 0, fmt.Sprintf("{MaxSeqLen} %d: must not be negative", o.MaxSeqLen),
		o.TokenBudget >= 0, fmt.Sprintf("{TokenBudget} %d: must not be negative", o.TokenBudget))
}

// seqLen applies a length setting (field path) to the model's *n after refusing, before any input is read, a
// length beyond the tower's position embeddings: the setting when set, else the model's own (rocketqa.json key).
func seqLen(field string, value int, key, dir string, n *int, tower *encoder.BERT) error {
	if tower != nil && tower.Cfg != nil && tower.Cfg.MaxPositionEmbeddings > 0 {
		max := tower.Cfg.MaxPositionEmbeddings
		switch {
		case value > max:
			return fielderr.New(pkg, "{%s} %d: the model has %d positions (max_position_embeddings of %s); use at most %d", field, value, max, dir, max)
		case value == 0 && *n > max:
			return &fielderr.Error{Pkg: pkg, File: true, Msg: fmt.Sprintf("%s/%s: %s %d exceeds the model's %d positions (max_position_embeddings); pass {%s} %d or less",
				dir, encoder.InfoFile, key, *n, max, field, max)}
		}
	}
	if value > 0 {
		*n = value
	}
	return nil
}

// loadKind loads dir (field Model) and refuses the other kind of model.
func loadKind(dir string, lo LoadOptions, dual bool) (*Model, error) {
	if err := fielderr.IsDir(pkg, "Model", dir); err != nil {
		return nil, err
	}
	m, err := Load(dir, lo)
	switch {
	case err != nil:
		return nil, err
	case dual && m.Embedder() == nil:
		err = fielderr.New(pkg, "{Model} %s is a cross-encoder; this stage needs a dual encoder (TrainDual, rocketqa train-de)", dir)
	case !dual && m.Reranker() == nil:
		err = fielderr.New(pkg, "{Model} %s is a dual encoder; scoring needs a cross-encoder (TrainCross, rocketqa train-ce)", dir)
	}
	if err != nil {
		m.Close()
		return nil, err
	}
	return m, nil
}

// LoadEmbedder loads the dual encoder of dir for an inference run and returns it with a copy of its embedder
// that o applies to (lengths checked against the towers' positions before any input is read).
func LoadEmbedder(dir string, lo LoadOptions, o InferenceOptions) (*Model, *encoder.Embedder, error) {
	if err := o.Validate(); err != nil {
		return nil, nil, err
	}
	m, err := loadKind(dir, lo, true)
	if err != nil {
		return nil, nil, err
	}
	emb := *m.Embedder()
	emb.Options.BF16, emb.Options.ForceBF16, emb.Options.TokenBudget = o.BF16 || o.ForceBF16, o.ForceBF16, o.TokenBudget
	err = fielderr.First(seqLen("QMaxLen", o.QMaxLen, "q_max_seq_len", dir, &emb.QMaxLen, emb.Model.Query),
		seqLen("PMaxLen", o.PMaxLen, "p_max_seq_len", dir, &emb.PMaxLen, emb.Model.Para))
	if err != nil {
		m.Close()
		return nil, nil, err
	}
	return m, &emb, nil
}

// LoadReranker loads the cross-encoder of dir for a scoring run and returns it with a copy of its reranker that
// o applies to.
func LoadReranker(dir string, lo LoadOptions, o InferenceOptions) (*Model, *Reranker, error) {
	if err := o.Validate(); err != nil {
		return nil, nil, err
	}
	m, err := loadKind(dir, lo, false)
	if err != nil {
		return nil, nil, err
	}
	rr := *m.Reranker()
	rr.BF16, rr.ForceBF16, rr.TokenBudget = o.BF16 || o.ForceBF16, o.ForceBF16, o.TokenBudget
	if o.MaxSeqLen > 0 { // the model's own pair length is its business (score truncates)
		if err := seqLen("MaxSeqLen", o.MaxSeqLen, "max_seq_len", dir, &rr.MaxSeqLen, rr.Model.Enc); err != nil {
			m.Close()
			return nil, nil, err
		}
	}
	return m, &rr, nil
}

// CheckCollectionDir checks that dir (field Collection) is a DuReader-layout collection directory with its
// passage2id.map.json, before a long run starts.
func CheckCollectionDir(dir string) error {
	return fielderr.First(fielderr.IsDir(pkg, "Collection", dir), fielderr.IsFile(pkg, "Collection", filepath.Join(dir, "passage2id.map.json")))
}

// Validate checks the inputs and outputs of SearchToFiles before it starts: the query file and the index files
// exist, the run files can be created.
func (f SearchFiles) Validate() error {
	errs := []error{fielderr.IsFile(pkg, "Queries", f.Queries), fielderr.CanCreate(pkg, "Out", f.Out), fielderr.CanCreate(pkg, "JSON", f.JSON),
		fielderr.Distinct(pkg, "Out", f.Out, "JSON", f.JSON)}
	for _, ix := range f.Indexes {
		errs = append(errs, fielderr.IsFile(pkg, "Indexes", ix))
	}
	return fielderr.First(errs...)
}

// ParseIndexParams parses FAISS search parameters "name=number,..." (field Params), e.g. "nprobe=64".
func ParseIndexParams(s string) ([]IndexParam, error) {
	var out []IndexParam
	for _, p := range strings.Split(s, ",") {
		if p = strings.TrimSpace(p); p == "" {
			continue
		}
		k, v, ok := strings.Cut(p, "=")
		x, err := strconv.ParseFloat(v, 64)
		if !ok || err != nil || k == "" {
			return nil, fielderr.New(pkg, "{Params} %q: want name=number", p)
		}
		out = append(out, IndexParam{Name: k, Value: x})
	}
	return out, nil
}

// Validate checks that TopK and Chunk are not negative (0 takes the default).
func (o SearchOptions) Validate() error {
	return fielderr.Check(pkg, o.TopK >= 0, fmt.Sprintf("{TopK} %d: must be positive", o.TopK),
		o.Chunk >= 0, fmt.Sprintf("{Chunk} %d: must be positive", o.Chunk))
}

// Validate checks the inputs and outputs of ScoreToFiles before it starts.
func (f ScoreFiles) Validate() error {
	return fielderr.First(fielderr.IsFile(pkg, "Run", f.Run), fielderr.IsFile(pkg, "Queries", f.Queries),
		fielderr.CanCreate(pkg, "Out", f.Out), fielderr.CanCreate(pkg, "JSON", f.JSON), fielderr.Distinct(pkg, "Out", f.Out, "JSON", f.JSON),
		fielderr.Exists(pkg, "Collection", f.Collection), fielderr.IsFile(pkg, "Titles", f.Titles))
}

// Validate checks that TopK is not negative (0 scores every passage of the run).
func (o ScoreOptions) Validate() error {
	return fielderr.Check(pkg, o.TopK >= 0, fmt.Sprintf("{TopK} %d: must not be negative", o.TopK))
}

// Validate checks that TrainSize is not negative.
func (o IndexOptions) Validate() error {
	return fielderr.Check(pkg, o.TrainSize >= 0, fmt.Sprintf("{TrainSize} %d: must not be negative", o.TrainSize))
}
