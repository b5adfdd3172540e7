package rocketqa_test

import (
	"os"
	"path/filepath"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/rocketqa-go/rocketqa/fielderr"
	"github.com/rocketqa-go/rocketqa/rocketqa"
	"github.com/rocketqa-go/rocketqa/torch"
	"github.com/rocketqa-go/rocketqa/train"
)

// tinyBERT has 40 positions.
var tinyBERT = filepath.Join("..", "encoder", "testdata", "tiny_bert")

// fieldErr returns err as a *fielderr.Error (failing the test when it is none).
func fieldErr(t *testing.T, err error) *fielderr.Error {
	t.Helper()
	var fe *fielderr.Error
	require.ErrorAs(t, err, &fe)
	return fe
}

func validDual(t *testing.T) rocketqa.DualConfig {
	f := filepath.Join(t.TempDir(), "dual.train.tsv")
	require.NoError(t, os.WriteFile(f, []byte("q\t\tp\t\tn\t0\n"), 0o644))
	return rocketqa.DualConfig{InitSpec: rocketqa.InitSpec{Init: tinyBERT}, TrainFile: f, QMaxLen: 16, PMaxLen: 40,
		Train: train.Options{OutDir: "out", BatchSize: 4, LR: 1e-3}}
}

func TestInitSpecValidate(t *testing.T) {
	cfg, vocab := filepath.Join(tinyBERT, "config.json"), filepath.Join(tinyBERT, "vocab.txt")
	assert.NoError(t, rocketqa.InitSpec{Init: tinyBERT}.Validate())
	assert.NoError(t, rocketqa.InitSpec{Config: cfg, Vocab: vocab}.Validate())
	for _, c := range []struct {
		spec   rocketqa.InitSpec
		msg    string
		fields []string
		file   bool
	}{
		{rocketqa.InitSpec{}, "rocketqa: give Init DIR (pretrained model) or Config config.json with Vocab vocab.txt", []string{"Init", "Config", "Vocab"}, false},
		{rocketqa.InitSpec{Init: tinyBERT, Config: cfg}, "rocketqa: Init and Config exclude each other", []string{"Init", "Config"}, false},
		{rocketqa.InitSpec{Config: cfg}, "rocketqa: Config needs Vocab", []string{"Config", "Vocab"}, false},
		{rocketqa.InitSpec{Init: "nodir"}, "rocketqa: Init nodir: no such file or directory", []string{"Init"}, true},
		{rocketqa.InitSpec{Config: cfg, Vocab: "novocab"}, "rocketqa: Vocab novocab: no such file or directory", []string{"Vocab"}, true},
	} {
		fe := fieldErr(t, c.spec.Validate())
		assert.Equal(t, c.msg, fe.Error())
		assert.Equal(t, c.fields, fe.Fields())
		assert.Equal(t, c.file, fe.File, c.msg)
	}
}

func TestDualConfigValidate(t *testing.T) {
	require.NoError(t, validDual(t).Validate())
	cases := []struct {
		edit func(*rocketqa.DualConfig)
		msg  string
		file bool
	}{
		{func(c *rocketqa.DualConfig) { c.Train.LR = -1 }, "train: Train.LR -1: must be a positive number", false},
		{func(c *rocketqa.DualConfig) { c.Train.Optimizer = "sgd" }, `train: Train.Optimizer "sgd": want adamw or lamb`, false},
		{func(c *rocketqa.DualConfig) { c.Init = "" }, "rocketqa: give Init DIR", false},
		{func(c *rocketqa.DualConfig) { c.QMaxLen = 2 }, "rocketqa: QMaxLen 2 / PMaxLen 40: must be at least 3", false},
		{func(c *rocketqa.DualConfig) { c.ChunkSize = -1 }, "rocketqa: ChunkSize -1: must not be negative", false},
		{func(c *rocketqa.DualConfig) { c.Train.EvalEvery = 5 }, "rocketqa: Train.EvalEvery needs DevDir", false},
		{func(c *rocketqa.DualConfig) { c.DevDir = "nodir" }, "rocketqa: DevDir nodir: no such file", true},
		{func(c *rocketqa.DualConfig) { c.TrainFile = "" }, "rocketqa: TrainFile: no training file", false},
		{func(c *rocketqa.DualConfig) { c.TrainFile = "missing.tsv" }, "rocketqa: TrainFile missing.tsv: no such file", true},
		{func(c *rocketqa.DualConfig) { c.PMaxLen = 41 }, "rocketqa: PMaxLen 41 exceeds max_position_embeddings 40 of ", false},
		// a zero length takes the default (384), which this model cannot take either
		{func(c *rocketqa.DualConfig) { c.PMaxLen = 0 }, "rocketqa: PMaxLen 384 exceeds max_position_embeddings 40", false},
	}
	for _, c := range cases {
		cfg := validDual(t)
		c.edit(&cfg)
		fe := fieldErr(t, cfg.Validate())
		assert.Contains(t, fe.Error(), c.msg)
		assert.Equal(t, c.file, fe.File, c.msg)
	}
}

func TestCrossConfigValidate(t *testing.T) {
	d := validDual(t)
	c := rocketqa.CrossConfig{InitSpec: d.InitSpec, TrainFile: d.TrainFile, MaxSeqLen: 40, Train: d.Train}
	require.NoError(t, c.Validate())
	c.MaxSeqLen = 3
	assert.EqualError(t, c.Validate(), "rocketqa: MaxSeqLen 3: must be at least 4")
	c.MaxSeqLen = 48
	assert.Contains(t, c.Validate().Error(), "rocketqa: MaxSeqLen 48 exceeds max_position_embeddings 40")
	c.MaxSeqLen, c.Train.BatchSize = 40, 0
	assert.EqualError(t, c.Validate(), "train: Train.BatchSize 0: must be positive")
}

func TestResolveDevice(t *testing.T) {
	dev, err := rocketqa.ResolveDevice("cpu")
	require.NoError(t, err)
	assert.Equal(t, torch.CPU, dev)
	fe := fieldErr(t, func() error { _, err := rocketqa.ResolveDevice("tpu"); return err }())
	assert.Equal(t, `rocketqa: Device: bad device "tpu" (want cpu, cuda or cuda:N)`, fe.Error())
	assert.False(t, fe.File)
	if !torch.CUDAAvailable() {
		t.Setenv("LOCAL_RANK", "1") // under a launcher "cuda" is the process's own GPU
		_, err := rocketqa.ResolveDevice("cuda")
		fe := fieldErr(t, err)
		assert.Equal(t, "rocketqa: Device cuda:1: this libtorch has no CUDA or no GPU is visible", fe.Error())
		assert.True(t, fe.File, "not a usage error: the machine lacks the device")
	}
}

func TestInferenceValidate(t *testing.T) {
	assert.NoError(t, rocketqa.InferenceOptions{PMaxLen: 64, TokenBudget: 100}.Validate())
	assert.EqualError(t, rocketqa.InferenceOptions{TokenBudget: -1}.Validate(), "rocketqa: TokenBudget -1: must not be negative")
	assert.EqualError(t, rocketqa.InferenceOptions{QMaxLen: -2}.Validate(), "rocketqa: QMaxLen -2: must not be negative")
	_, _, err := rocketqa.LoadEmbedder(t.TempDir()+"/none", rocketqa.LoadOptions{}, rocketqa.InferenceOptions{})
	assert.Equal(t, []string{"Model"}, fieldErr(t, err).Fields())

	ps, err := rocketqa.ParseIndexParams("nprobe=64, efSearch=128,")
	require.NoError(t, err)
	assert.Equal(t, []rocketqa.IndexParam{{Name: "nprobe", Value: 64}, {Name: "efSearch", Value: 128}}, ps)
	_, err = rocketqa.ParseIndexParams("nprobe")
	assert.EqualError(t, err, `rocketqa: Params "nprobe": want name=number`)

	dir := t.TempDir()
	q := filepath.Join(dir, "q.tsv")
	require.NoError(t, os.WriteFile(q, []byte("q1\tx\n"), 0o644))
	assert.NoError(t, rocketqa.SearchFiles{Queries: q, Out: filepath.Join(dir, "run.tsv")}.Validate())
	fe := fieldErr(t, rocketqa.SearchFiles{Queries: q, Out: dir}.Validate())
	assert.Equal(t, []string{"Out"}, fe.Fields())
	fe = fieldErr(t, rocketqa.SearchFiles{Queries: q, Out: filepath.Join(dir, "r.tsv"), Indexes: []string{filepath.Join(dir, "x.index")}}.Validate())
	assert.Equal(t, []string{"Indexes"}, fe.Fields())
	fe = fieldErr(t, rocketqa.ScoreFiles{Run: q, Queries: q, Collection: filepath.Join(dir, "nocoll"), Out: filepath.Join(dir, "s.tsv")}.Validate())
	assert.Equal(t, []string{"Collection"}, fe.Fields())
	assert.True(t, fe.File)
	assert.EqualError(t, rocketqa.SearchOptions{TopK: -1}.Validate(), "rocketqa: TopK -1: must be positive")
	assert.EqualError(t, rocketqa.IndexOptions{TrainSize: -1}.Validate(), "rocketqa: TrainSize -1: must not be negative")
	fe = fieldErr(t, rocketqa.CheckCollectionDir(dir))
	assert.Contains(t, fe.Error(), "passage2id.map.json: no such file")
}
