package pair

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"

	"github.com/rocketqa-go/rocketqa/dataset"
	"github.com/rocketqa-go/rocketqa/encoder"
	"github.com/rocketqa-go/rocketqa/internal/dirlock"
	"github.com/rocketqa-go/rocketqa/rocketqa"
	"github.com/rocketqa-go/rocketqa/train"
)

// Config configures one PAIR stage. Start from a preset (MarcoPretrain, ...) and set the paths.
type Config struct {
	Stage Stage
	// Alpha weighs the passage-centric loss in pre-training (0.1 in the official runs); fine-tuning uses L_Q alone
	// and ignores it. It must be in [0, 1].
	Alpha float64
	// LAMB asks for the LAMB optimizer (train.LAMB: Paddle's LambOptimizer semantics), as the official MS MARCO
	// runs use; it sets Dual.Train.Optimizer. False keeps the loop's default (AdamW) or what Dual.Train says.
	LAMB bool
	// Dual holds the rest: Init (stage 1: a pretrained model directory; stage 2: stage 1's model), TrainFile,
	// lengths, ForCN, chunking, gradient caching, device, NoCrossBatch and the training options (OutDir, batch,
	// epochs, learning rate). Train sets Shared and Loss.
	Dual rocketqa.DualConfig
}

// official is a preset of the official runs, whose values live in rocketqa.PAIRMarco (rocketqa/presets.go).
func official(stage Stage, lamb, crossBatch bool, processes int) Config {
	p := rocketqa.PAIRMarco
	c := Config{Stage: stage, Alpha: 0.1, LAMB: lamb, Dual: rocketqa.DualConfig{
		QMaxLen: p.QLen, PMaxLen: p.PLen, Shared: true, NoCrossBatch: !crossBatch,
		Train: train.Options{Epochs: p.Epochs, BatchSize: p.Batch * processes, LR: p.LR, WarmupProportion: p.Warmup, Seed: 1},
	}}
	if lamb { // Paddle's LambOptimizer: lamb_weight_decay 0.01
		c.Dual.Train.WeightDecay = p.WeightDecay
	}
	return c
}

// The official presets (PAIR_ACL2021/model/script/run_dual_encoder_train.sh and run_{marco,nq}.sh): 512 queries
// per GPU, q 32 / p 128 tokens, lr 3e-5 with 10% warm-up then linear decay, weight decay 0, 10 epochs, seed 1,
// α = 0.1. BatchSize is the global batch (512 × the official number of GPUs); with fewer processes, gradient
// caching (Dual.GradCache, Dual.ChunkSize) gives the same batch on one device.
var (
	// MarcoPretrain: MS MARCO stage 1, 8 GPUs, cross-batch on, LAMB.
	MarcoPretrain = official(Pretrain, true, true, 8)
	// MarcoFinetune: MS MARCO stage 2, 8 GPUs, cross-batch on, LAMB.
	MarcoFinetune = official(Finetune, true, true, 8)
	// NQPretrain: NQ stage 1, 8 GPUs, cross-batch off, AdamW.
	NQPretrain = official(Pretrain, false, false, 8)
	// NQFinetune: NQ stage 2, 1 GPU, cross-batch off, AdamW.
	NQFinetune = official(Finetune, false, false, 1)
)

// Check validates the configuration, naming the command-line flag of each setting.
func (c Config) Check() error {
	if _, err := ParseStage(string(c.Stage)); err != nil {
		return fmt.Errorf("%w (--stage)", err)
	}
	if !(c.Alpha >= 0 && c.Alpha <= 1) {
		return fmt.Errorf("pair: --alpha %v: must be in [0, 1]", c.Alpha)
	}
	if c.LAMB && c.Dual.Train.Optimizer != "" && c.Dual.Train.Optimizer != train.LAMB {
		return fmt.Errorf("pair: --lamb with optimizer %q: choose one", c.Dual.Train.Optimizer)
	}
	if c.Dual.TrainFile == "" {
		return errors.New("pair: --train: no training file")
	}
	if init := c.Dual.Init; init != "" {
		if _, err := os.Stat(filepath.Join(init, encoder.InfoFile)); err == nil {
			info, err := encoder.ReadModelInfo(init)
			if err != nil {
				return fmt.Errorf("pair: --init %s: %w", init, err)
			}
			if info.ModelType != "dual_encoder" {
				return fmt.Errorf("pair: --init %s is a %s; PAIR starts from a pretrained model or a shared-tower dual encoder", init, info.ModelType)
			}
			if !info.ShareParameter {
				return fmt.Errorf("pair: --init %s is a two-tower dual encoder (share_parameter false in %s); PAIR trains one shared tower: start from a pretrained model directory or a shared-tower dual encoder (stage 1's output)",
					init, encoder.InfoFile)
			}
		}
	}
	return nil
}

// settings is OutDir/pair.json: what a rerun into the same directory must repeat to resume.
type settings struct {
	Stage     Stage   `json:"stage"`
	Alpha     float64 `json:"alpha"`
	TrainFile string  `json:"train_file"`
}

const settingsFile = "pair.json"

func (c Config) settings() settings {
	s := settings{Stage: c.Stage, TrainFile: c.Dual.TrainFile}
	if c.Stage == Pretrain {
		s.Alpha = c.Alpha
	}
	if abs, err := filepath.Abs(s.TrainFile); err == nil {
		s.TrainFile = abs
	}
	return s
}

// claim records the stage's settings in dir, or checks them against an earlier run's, so that a rerun resumes
// only the same stage and loss. With Dual.Train.NoResume (the earlier run is moved aside) rank 0 records them
// over the earlier run's, holding dir's lock so as not to overwrite those of a run still training there.
func (c Config) claim(dir string) error {
	want := c.settings()
	path := filepath.Join(dir, settingsFile)
	if c.Dual.Train.NoResume {
		if pg := c.Dual.Train.PG; pg != nil && pg.Rank() != 0 {
			return nil
		}
		lock, err := dirlock.Acquire(dir, "train-pair")
		if err != nil {
			return fmt.Errorf("pair: %w", err)
		}
		defer lock.Release()
	} else if b, err := os.ReadFile(path); err == nil {
		var got settings
		if err := json.Unmarshal(b, &got); err != nil {
			return fmt.Errorf("pair: %s: %w", path, err)
		}
		if got != want {
			return fmt.Errorf("pair: --out %s holds a run with other settings (%s: stage %s, alpha %v, train %s; now stage %s, alpha %v, train %s): use another directory or remove it",
				dir, settingsFile, got.Stage, got.Alpha, got.TrainFile, want.Stage, want.Alpha, want.TrainFile)
		}
		return nil
	} else if !errors.Is(err, os.ErrNotExist) {
		return fmt.Errorf("pair: %w", err)
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return fmt.Errorf("pair: %w", err)
	}
	return dataset.WriteJSONAtomic(path, want)
}

// DualConfig returns the rocketqa configuration Train runs: c.Dual with one shared tower and PAIR's loss.
func (c Config) DualConfig() rocketqa.DualConfig {
	d := c.Dual
	d.Shared = true
	d.Loss = Loss(c.Stage, c.Alpha)
	if c.LAMB {
		d.Train.Optimizer = train.LAMB
	}
	return d
}

// Train runs one stage. A rerun into the same Dual.Train.OutDir resumes from its last checkpoint (the train
// package's exact resume); one with another stage, alpha or training file is refused, unless Dual.Train.NoResume.
func Train(ctx context.Context, c Config) (*train.Result, error) {
	if err := c.Check(); err != nil {
		return nil, err
	}
	if c.Dual.Train.OutDir == "" {
		return nil, errors.New("pair: --out: no output directory")
	}
	if err := c.claim(c.Dual.Train.OutDir); err != nil {
		return nil, err
	}
	return rocketqa.TrainDual(ctx, c.DualConfig())
}
