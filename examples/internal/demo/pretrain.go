package demo

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"time"

	"github.com/rocketqa-go/rocketqa/dataset"
	"github.com/rocketqa-go/rocketqa/internal/dirlock"
	"github.com/rocketqa-go/rocketqa/pretrain"
	"github.com/rocketqa-go/rocketqa/torch"
	"github.com/rocketqa-go/rocketqa/train"
)

// PretrainOptions configure Pretrain: the small demo encoder's masked-LM pre-training on the demo collection.
type PretrainOptions struct {
	Dir       string            // cache directory (checkpoints/, final/, settings.json)
	Passages  *dataset.Passages // the collection
	Vocab     string            // vocab.txt (BuildVocab)
	VocabSize int
	Steps     int     // optimizer steps
	Batch     int     // sequences per step
	MaxLen    int     // tokens per sequence
	LR        float64 // peak learning rate (linear warmup 6%, linear decay)
	Device    torch.Device
}

// DefaultPretrain are the settings of the small presets (a few minutes on 2 CPU cores).
func DefaultPretrain() PretrainOptions {
	return PretrainOptions{Steps: 800, Batch: 32, MaxLen: 128, LR: 1e-3}
}

// settings identify a pre-training run; a cache made with other settings (or another vocabulary) is refused.
type settings struct {
	Steps, Batch, MaxLen int
	LR                   float64
	Vocab                string
	Config               json.RawMessage
}

// Pretrain pre-trains the small encoder (SmallConfig with BERT's initializer_range 0.02) with whole-word masked
// LM on the collection, or reuses the model cached in o.Dir, and returns the model directory (HuggingFace
// BertForMaskedLM layout), to be given as Init to every model of the demos. An interrupted run resumes.
func Pretrain(ctx context.Context, o PretrainOptions) (string, error) {
	lock, err := lockCache(o.Dir, "masked-LM pre-training of the demo encoder")
	if err != nil {
		return "", err
	}
	defer lock.Release()
	cfgPath, cfgJSON, err := writeSmallConfig(o.Dir, o.VocabSize, 2, 0.02)
	if err != nil {
		return "", err
	}
	vocab, err := os.ReadFile(o.Vocab)
	if err != nil {
		return "", err
	}
	want, err := json.Marshal(settings{o.Steps, o.Batch, o.MaxLen, o.LR, string(vocab), cfgJSON})
	if err != nil {
		return "", err
	}
	final, cached, err := checkCache(o.Dir, want, "model.safetensors")
	if err != nil || cached {
		return final, err
	}
	slog.Info("masked-LM pre-training on the collection", "steps", o.Steps, "batch", o.Batch, "len", o.MaxLen, "out", o.Dir)
	t0 := time.Now()
	res, err := pretrain.Run(ctx, pretrain.Config{Passages: o.Passages, Config: cfgPath, Vocab: o.Vocab, MaxLen: o.MaxLen,
		ForCN: true, Masking: pretrain.WholeWord, Device: o.Device,
		Train: train.Options{OutDir: o.Dir, MaxSteps: o.Steps, BatchSize: o.Batch, LR: o.LR, WarmupProportion: 0.06,
			WeightDecay: 0.01, Seed: 1, LogEvery: 100, SaveEvery: 200}})
	if err != nil {
		return "", err
	}
	slog.Info("pre-trained", "steps", res.Steps, "last_loss", res.LastLoss, "time", time.Since(t0).Round(time.Second))
	return res.FinalDir, nil
}

// checkCache records the settings of a cached pre-training in dir/settings.json, or refuses a cache made with other
// settings, and reports whether dir/final already holds the model (its file marker).
func checkCache(dir string, want []byte, marker string) (final string, cached bool, err error) {
	sPath := filepath.Join(dir, "settings.json")
	if got, err := os.ReadFile(sPath); err == nil {
		if !bytes.Equal(got, want) {
			return "", false, fmt.Errorf("%s holds a pre-training with other settings or another vocabulary: delete it or choose another directory", dir)
		}
	} else if err := dataset.WriteFileAtomic(sPath, func(w *dataset.AtomicFile) error { _, err := w.Write(want); return err }); err != nil {
		return "", false, err
	}
	final = filepath.Join(dir, "final")
	if _, err := os.Stat(filepath.Join(final, marker)); err == nil {
		slog.Info("pre-trained encoder (cached)", "model", final)
		return final, true, nil
	}
	return final, false, nil
}

// lockCache creates a cache directory and takes its own lock (dir/cache/.lock; train.Run locks dir itself while it
// trains).
func lockCache(dir, what string) (*dirlock.Lock, error) {
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return nil, err
	}
	return dirlock.Acquire(filepath.Join(dir, "cache"), what)
}

// writeSmallConfig writes dir/config.json of the small demo encoder and returns its path and bytes.
func writeSmallConfig(dir string, vocabSize, layers int, initStd float64) (string, []byte, error) {
	path := filepath.Join(dir, "config.json")
	if err := SmallConfig(vocabSize, 160, layers, initStd).WriteFile(path); err != nil {
		return "", nil, err
	}
	b, err := os.ReadFile(path)
	return path, b, err
}
