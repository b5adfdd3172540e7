package rocketqa

import "github.com/rocketqa-go/rocketqa/train"

// Preset is one column of the official hyperparameters of a training stage (docs/method.md §3.5, §4, §5.4, §6.2).
// The CLI's flag defaults and the example pipeline's presets read these values.
type Preset struct {
	// Batch is the training lines per process (GPU); Processes the GPUs of the official run, so the global batch
	// is Batch*Processes.
	Batch, Processes int
	// Epochs of the stage; LaterEpochs of the dual-encoder steps 3 and 4 of RocketQA v1 (files with 4 lines per
	// positive), where they differ.
	Epochs, LaterEpochs     int
	LR, Warmup, WeightDecay float64
	Schedule                train.Schedule
	Optimizer               string // train.AdamW or train.LAMB
	// Sequence lengths in tokens, [CLS] and [SEP] included: query and passage (dual encoder), pair (cross-encoder).
	QLen, PLen, PairLen int
	ForCN               bool // remove spaces before tokenizing (the Chinese models)
	Perturb             bool // the cross-encoder's embedding-gradient step (docs/method.md §3.2)
	ListSize            int  // passages per list (RocketQA v2 joint training)
}

// GlobalBatch is the batch of one optimizer step over all processes.
func (p Preset) GlobalBatch() int { return p.Batch * p.Processes }

var (
	// DuReaderDE is the DuReader-retrieval baseline dual encoder (docs/method.md §6.2): ERNIE 1.0 twin init,
	// 128 per GPU x 4 with cross-batch negatives, lr 3e-5, 10% warm-up then the official linear decay, 10 epochs,
	// q 32 / p 384.
	DuReaderDE = Preset{Batch: 128, Processes: 4, Epochs: 10, LaterEpochs: 10, LR: 3e-5, Warmup: 0.1,
		Schedule: train.Paddle, Optimizer: train.AdamW, QLen: 32, PLen: 384, ForCN: true}
	// DuReaderCE is the DuReader-retrieval baseline cross-encoder (docs/method.md §6.2): 32 x 4, lr 1e-5 constant,
	// wd 0.01, pair 384, 3 epochs, with the embedding perturbation.
	DuReaderCE = Preset{Batch: 32, Processes: 4, Epochs: 3, LR: 1e-5, WeightDecay: 0.01,
		Schedule: train.Constant, Optimizer: train.AdamW, PairLen: 384, ForCN: true, Perturb: true}
	// MSMarcoDE is the RocketQA v1 MS MARCO dual encoder (docs/method.md §3.5): 512 per GPU x 8, lr 3e-5, 10%
	// warm-up then linear decay, 40 epochs for step 1 and 10 for steps 3 and 4, q 32 / p 128.
	MSMarcoDE = Preset{Batch: 512, Processes: 8, Epochs: 40, LaterEpochs: 10, LR: 3e-5, Warmup: 0.1,
		Schedule: train.Paddle, Optimizer: train.AdamW, QLen: 32, PLen: 128}
	// MSMarcoCE is the RocketQA v1 MS MARCO cross-encoder (docs/method.md §3.5): 64 pairs per GPU, lr 1e-5
	// constant, wd 0.01, 2 epochs, pair 160. Processes 4 is this module's assumption (the notes give no GPU count).
	MSMarcoCE = Preset{Batch: 64, Processes: 4, Epochs: 2, LR: 1e-5, WeightDecay: 0.01,
		Schedule: train.Constant, Optimizer: train.AdamW, PairLen: 160, Perturb: true}
	// PAIRMarco is PAIR's MS MARCO pre-training and fine-tuning (docs/method.md §4): one shared tower, 512 per GPU,
	// lr 3e-5, 10% warm-up, 10 epochs per stage, LAMB. Processes 8 as for MSMarcoDE (the notes give no GPU count).
	PAIRMarco = Preset{Batch: 512, Processes: 8, Epochs: 10, LaterEpochs: 10, LR: 3e-5, Warmup: 0.1, WeightDecay: 0.01,
		Schedule: train.Paddle, Optimizer: train.LAMB, QLen: 32, PLen: 128}
	// V2Marco is RocketQA v2's joint training on MS MARCO (docs/method.md §5.4): lr 1e-5 constant, wd 0.01, 384
	// lines per GPU (3 lists of 128), 2 epochs, q 32 / p 128 / pair 160. Processes 8 as for MSMarcoDE.
	V2Marco = Preset{Batch: 384, Processes: 8, Epochs: 2, LR: 1e-5, WeightDecay: 0.01,
		Schedule: train.Constant, Optimizer: train.AdamW, QLen: 32, PLen: 128, PairLen: 160, ListSize: 128}
)

var (
	// PAIRNQ is PAIR on Natural Questions (docs/method.md §4): as PAIRMarco but AdamW without weight decay and
	// without cross-batch candidates; the CLI's train-pair defaults (with the DuReader passage length unless
	// --lang en).
	PAIRNQ = withOptimizer(PAIRMarco, train.AdamW, 0)
	// V2NQ is RocketQA v2's joint training on Natural Questions (docs/method.md §5.4): as V2Marco but lists of
	// 32 (12 per GPU: 384 lines) and 3 epochs.
	V2NQ = Preset{Batch: 384, Processes: 8, Epochs: 3, LR: 1e-5, WeightDecay: 0.01,
		Schedule: train.Constant, Optimizer: train.AdamW, QLen: 32, PLen: 128, PairLen: 160, ListSize: 32}
	// MLMPretrain is masked-LM pre-training (package pretrain) with BERT's recipe: AdamW, lr 1e-4, 6% linear
	// warm-up, weight decay 0.01, 64 sequences per process, 10 epochs; PLen is the sequence length (256 for
	// Chinese passages; the CLI takes MSMarcoDE.PLen under --lang en). Not from the papers, which start from ERNIE.
	MLMPretrain = Preset{Batch: 64, Processes: 1, Epochs: 10, LR: 1e-4, Warmup: 0.06, WeightDecay: 0.01,
		Schedule: train.Linear, Optimizer: train.AdamW, PLen: 256}
)

// ListsPerProcess is the lists of one process's batch (Batch counts lines): 3 for V2Marco.
func (p Preset) ListsPerProcess() int { return p.Batch / max(p.ListSize, 1) }

// withOptimizer is p with another optimizer and weight decay.
func withOptimizer(p Preset, optimizer string, wd float64) Preset {
	p.Optimizer, p.WeightDecay = optimizer, wd
	return p
}
