package demo

import (
	"context"
	"encoding/json"
	"log/slog"
	"os"
	"path/filepath"
	"time"

	"github.com/rocketqa-go/rocketqa/dataset"
	"github.com/rocketqa-go/rocketqa/pretrain"
	"github.com/rocketqa-go/rocketqa/rocketqa"
	"github.com/rocketqa-go/rocketqa/torch"
	"github.com/rocketqa-go/rocketqa/train"
)

// ICTOptions configure PretrainICT: the small demo encoder's Inverse Cloze Task pre-training on the demo
// collection (pretrain.WriteICT lines, trained as a shared-tower dual encoder).
type ICTOptions struct {
	Dir       string            // cache directory (ict.train.tsv, checkpoints/, final/, settings.json)
	Passages  *dataset.Passages // the collection
	Vocab     string            // vocab.txt (BuildVocab)
	VocabSize int
	// Init continues from a model (e.g. Pretrain's masked-LM encoder); "" starts from random weights:
	// SmallConfig with Layers layers and initializer_range InitStd (2 and 0.1, as the demos' models from random
	// weights).
	Init       string
	Layers     int
	InitStd    float64
	PerPassage int     // pseudo-queries per passage
	Epochs     int     // passes over the ICT lines
	Batch      int     // queries per step (in-batch negatives: 2·Batch−1 passages per query)
	LR         float64 // peak learning rate (linear warmup 10%, linear decay)
	QLen, PLen int     // the dual encoder's query and passage lengths
	Device     torch.Device
}

// DefaultICT are the settings of the small presets: 4 pseudo-queries per passage, 6 epochs, batch 32, lr 1e-3, the
// small presets' query and passage lengths (about two minutes per thousand passages on 2 CPU cores).
func DefaultICT() ICTOptions {
	return ICTOptions{Layers: 2, InitStd: 0.1, PerPassage: 4, Epochs: 6, Batch: 32, LR: 1e-3, QLen: 32, PLen: 64}
}

// PretrainICT pre-trains the small encoder with the Inverse Cloze Task on the collection, or reuses the model cached
// in o.Dir, and returns the model directory (a shared-tower dual encoder written by rocketqa.TrainDual), to be given
// as Init to every model of the demos: dual encoders start from its tower, cross-encoders from its tower with a new
// pooler and head. An interrupted run resumes.
func PretrainICT(ctx context.Context, o ICTOptions) (string, error) {
	lock, err := lockCache(o.Dir, "ICT pre-training of the demo encoder")
	if err != nil {
		return "", err
	}
	defer lock.Release()
	spec := rocketqa.InitSpec{Init: o.Init}
	var cfgJSON []byte
	if o.Init == "" {
		var cfgPath string
		if cfgPath, cfgJSON, err = writeSmallConfig(o.Dir, o.VocabSize, o.Layers, o.InitStd); err != nil {
			return "", err
		}
		spec = rocketqa.InitSpec{Config: cfgPath, Vocab: o.Vocab}
	}
	vocab, err := os.ReadFile(o.Vocab)
	if err != nil {
		return "", err
	}
	want, err := json.Marshal(struct {
		Objective                 string
		Init                      string
		PerPassage, Epochs, Batch int
		LR                        float64
		QLen, PLen                int
		Vocab                     string
		Config                    json.RawMessage `json:",omitempty"`
		Passages                  int
	}{"ict", o.Init, o.PerPassage, o.Epochs, o.Batch, o.LR, o.QLen, o.PLen, string(vocab), cfgJSON, o.Passages.Len()})
	if err != nil {
		return "", err
	}
	final, cached, err := checkCache(o.Dir, want, "rocketqa.json")
	if err != nil || cached {
		return final, err
	}
	lines := filepath.Join(o.Dir, "ict.train.tsv")
	if _, err := os.Stat(lines); err != nil {
		st, err := pretrain.WriteICT(ctx, o.Passages, lines, pretrain.ICTOptions{PerPassage: o.PerPassage})
		if err != nil {
			return "", err
		}
		slog.Info("ICT pseudo-queries", "file", lines, "stats", st.String())
	}
	slog.Info("ICT pre-training on the collection", "epochs", o.Epochs, "batch", o.Batch, "out", o.Dir)
	t0 := time.Now()
	res, err := rocketqa.TrainDual(ctx, rocketqa.DualConfig{InitSpec: spec, TrainFile: lines, QMaxLen: o.QLen, PMaxLen: o.PLen,
		ForCN: true, Shared: true, Device: o.Device,
		Train: train.Options{OutDir: o.Dir, Epochs: o.Epochs, BatchSize: o.Batch, LR: o.LR, WarmupProportion: 0.1,
			Schedule: train.Linear, Seed: 1, LogEvery: 100, SaveEvery: 200}})
	if err != nil {
		return "", err
	}
	slog.Info("pre-trained", "steps", res.Steps, "last_loss", res.LastLoss, "time", time.Since(t0).Round(time.Second))
	return res.FinalDir, nil
}
