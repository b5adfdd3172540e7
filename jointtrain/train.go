package jointtrain

import (
	"bytes"
	"context"
	"fmt"
	"maps"
	"os"
	"path/filepath"
	"strconv"

	"github.com/rocketqa-go/rocketqa/encoder"
	"github.com/rocketqa-go/rocketqa/rocketqa"
	"github.com/rocketqa-go/rocketqa/torch"
	"github.com/rocketqa-go/rocketqa/train"
)

// CEHead says what to do with a v1 cross-encoder (pooler + 2-class head); a v2 head is always used as it is.
type CEHead string

// Cross-encoder head choices.
const (
	// KeepV1Head trains the v1 head as it is and scores a list item by z1 − z0 (the ranking of its softmax[:, 1]).
	KeepV1Head CEHead = "keep"
	// NewV2Head drops the pooler and the 2-class head and puts a new official v2 head (raw [CLS] -> dropout 0.1 ->
	// Linear(H, 1), initialised as the official code does) on the encoder.
	NewV2Head CEHead = "v2"
)

// DefaultCEHead is the head choice for a v1 cross-encoder when Config.CEHead is empty.
const DefaultCEHead = KeepV1Head

// Config configures Train. Zero values take the defaults in brackets.
type Config struct {
	// DE is a dual-encoder directory (rocketqa.json, query_encoder/, para_encoder/): M_D(0) in the paper.
	DE string
	// CE is a cross-encoder directory (v1 or v2 head).
	CE string
	// CEHead applies to a v1 cross-encoder [DefaultCEHead].
	CEHead CEHead
	// TrainFile is a list file (ReadLists); ListSize its m.
	TrainFile string
	ListSize  int
	Variant   Variant // [Official]
	QueryOnce bool    // encode each query once instead of once per list line
	// ChunkSize and Cached: see Task.
	ChunkSize int
	Cached    bool
	// QMaxSeqLen, PMaxSeqLen: the dual encoder's lengths [from its rocketqa.json, else 32 / 128]; CEMaxSeqLen the
	// pair length [from the cross-encoder's rocketqa.json, else 160].
	QMaxSeqLen, PMaxSeqLen, CEMaxSeqLen int
	Device                              torch.Device
	Autocast                            bool
	// Train holds the loop's options; BatchSize counts lists per optimizer step over all processes.
	Train train.Options
}

// Official presets (RocketQAv2_EMNLP2021 run_joint_model_train.sh and the paper): Adam lr 1e-5 constant, weight
// decay 0.01, clip 1.0; 96 lists per step (3 lists of 128 on each of 32 GPUs for MS MARCO, 12 lists of 32 on each
// of 8 GPUs for NQ); q 32, p 128, pair 160. Copy one and set the directories and the file. The values live in
// rocketqa.V2Marco and rocketqa.V2NQ (rocketqa/presets.go).
var (
	MSMARCO = officialConfig(rocketqa.V2Marco)
	NQ      = officialConfig(rocketqa.V2NQ)
)

// officialConfig is the joint-training configuration of an official preset: 96 lists per optimizer step, clip 1.
func officialConfig(p rocketqa.Preset) Config {
	return Config{ListSize: p.ListSize, QMaxSeqLen: p.QLen, PMaxSeqLen: p.PLen, CEMaxSeqLen: p.PairLen,
		Train: train.Options{BatchSize: 96, Epochs: p.Epochs, LR: p.LR, WeightDecay: p.WeightDecay, Schedule: p.Schedule, MaxGradNorm: 1}}
}

// Models loads the two models of a joint run as Config says (the head choice included), with a tokenizer for the
// dual encoder's vocabulary. The cross-encoder's vocab.txt must be the same file content.
func Models(cfg Config) (*Task, error) {
	de, deInfo, err := encoder.LoadDual(cfg.DE)
	if err != nil {
		return nil, err
	}
	fail := func(err error) (*Task, error) {
		de.Close()
		return nil, err
	}
	if hq, hp := de.Query.Cfg.HiddenSize, de.Para.Cfg.HiddenSize; hq != hp {
		return fail(fmt.Errorf("jointtrain: %s: the query tower has hidden size %d, the passage tower %d (a dot product needs one size)", cfg.DE, hq, hp))
	}
	ce, ceInfo, err := encoder.LoadCross(cfg.CE)
	if err != nil {
		return fail(err)
	}
	head := cfg.CEHead
	if head == "" {
		head = DefaultCEHead
	}
	if head != KeepV1Head && head != NewV2Head {
		ce.Close()
		return fail(fmt.Errorf("jointtrain: cross-encoder head %q (want keep or v2)", head))
	}
	if ce.Version == encoder.HeadV1 && head == NewV2Head {
		ce.Close()
		enc, err := encoder.LoadBERT(cfg.CE, false)
		if err != nil {
			return fail(err)
		}
		torch.ManualSeed(cfg.Train.Seed)
		if ce, err = encoder.NewCrossEncoder(enc, encoder.HeadV2); err != nil {
			enc.Close()
			return fail(err)
		}
	}
	vocab := filepath.Join(cfg.DE, encoder.QueryDir, "vocab.txt")
	vocabFiles, err := encoder.ReadVocab(vocab) // read once: the tokenizer and every saved model use these bytes
	if err != nil {
		ce.Close()
		return fail(err)
	}
	b, err := os.ReadFile(filepath.Join(cfg.CE, "vocab.txt"))
	if err != nil {
		ce.Close()
		return fail(err)
	}
	if !bytes.Equal(vocabFiles.Bytes(), b) {
		ce.Close()
		return fail(fmt.Errorf("jointtrain: %s and %s differ: the dual encoder and the cross-encoder must share one vocabulary", vocab, filepath.Join(cfg.CE, "vocab.txt")))
	}
	tok, err := rocketqa.TokenizerFromVocab(vocabFiles, *deInfo)
	if err != nil {
		ce.Close()
		return fail(err)
	}
	di, ci := *deInfo, *ceInfo
	di.QMaxSeqLen = pick(cfg.QMaxSeqLen, di.QMaxSeqLen, 32)
	di.PMaxSeqLen = pick(cfg.PMaxSeqLen, di.PMaxSeqLen, 128)
	ci.MaxSeqLen = pick(cfg.CEMaxSeqLen, ci.MaxSeqLen, 160)
	ci.ForCN, ci.DoLowerCase = di.ForCN, di.DoLowerCase
	return &Task{DE: de, CE: ce, Tok: tok, M: cfg.ListSize, Variant: cfg.Variant, QueryOnce: cfg.QueryOnce,
		ChunkSize: cfg.ChunkSize, Cached: cfg.Cached, DEInfo: di, CEInfo: ci, Vocab: vocab, VocabFiles: vocabFiles, Device: cfg.Device,
		Autocast: cfg.Autocast}, nil
}

func pick(vs ...int) int {
	for _, v := range vs {
		if v > 0 {
			return v
		}
	}
	return 0
}

// Close frees the task's models.
func (t *Task) Close() {
	t.DE.Close()
	t.CE.Close()
}

// Train runs RocketQA v2 joint training: it loads the models (Models), reads the lists, and runs the shared loop.
// The output directory's final/ (and every checkpoint) holds de/ and ce/, each a model directory rocketqa.Load
// serves; a v2 cross-encoder's Matching returns the logit.
func Train(ctx context.Context, cfg Config) (*train.Result, error) {
	if cfg.ListSize < 2 {
		return nil, fmt.Errorf("jointtrain: list size %d: want at least 2", cfg.ListSize)
	}
	if _, err := ParseVariant(string(orVariant(cfg.Variant))); err != nil {
		return nil, err
	}
	lists, err := ReadLists(cfg.TrainFile, cfg.ListSize)
	if err != nil {
		return nil, err
	}
	task, err := Models(cfg)
	if err != nil {
		return nil, err
	}
	defer task.Close()
	task.Lists = lists
	if err := task.Check(); err != nil {
		return nil, err
	}
	if err := task.DE.ToDevice(cfg.Device); err != nil {
		return nil, err
	}
	if err := task.CE.ToDevice(cfg.Device); err != nil {
		return nil, err
	}
	o := cfg.Train
	id, err := Identity(cfg)
	if err != nil {
		return nil, err
	}
	o.Identity = id
	return train.Run(ctx, task, o)
}

func orVariant(v Variant) Variant {
	if v == "" {
		return Official
	}
	return v
}

// Identity is what a joint run's checkpoints belong to (train.Options.Identity): the list file (path, size,
// hash), the model directories (config.json content), the head choice, the variant and the step's settings that
// change its result (list size, lengths, chunking, autocast). The caller's Train.Identity entries are kept.
func Identity(cfg Config) (map[string]string, error) {
	id := maps.Clone(cfg.Train.Identity)
	if id == nil {
		id = map[string]string{}
	}
	fi, err := train.FileIdentity(cfg.TrainFile)
	if err != nil {
		return nil, err
	}
	id["train"] = fi
	for k, f := range map[string]string{"de_query_config": filepath.Join(cfg.DE, encoder.QueryDir, "config.json"),
		"ce_config": filepath.Join(cfg.CE, "config.json")} {
		if id[k], err = train.FileIdentity(f); err != nil {
			return nil, err
		}
	}
	id["de"], id["ce"] = cfg.DE, cfg.CE
	head := cfg.CEHead
	if head == "" {
		head = DefaultCEHead
	}
	id["ce_head"] = string(head)
	id["variant"] = string(orVariant(cfg.Variant))
	id["list_size"] = strconv.Itoa(cfg.ListSize)
	id["query_once"] = strconv.FormatBool(cfg.QueryOnce)
	id["chunk_size"] = strconv.Itoa(cfg.ChunkSize) // padding and dropout streams follow the chunks
	id["lengths"] = fmt.Sprintf("%d/%d/%d", cfg.QMaxSeqLen, cfg.PMaxSeqLen, cfg.CEMaxSeqLen)
	id["autocast"] = strconv.FormatBool(cfg.Autocast) // bf16 forward passes give other losses, so another run
	return id, nil
}
