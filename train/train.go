// Package train is the training loop shared by the RocketQA papers: AdamW with no-decay groups, learning-rate
// schedules, global-norm clipping, seeded data order, gradient all-reduce across processes, atomic checkpoints with
// exact resume, evaluation that keeps the best model, progress lines and JSON-lines metrics.
//
// A paper package supplies a Task (the model, its loss on a batch of example indices, how to save and load it);
// Run does the rest. Checkpoints live in OutDir/checkpoints/step-NNNNNNNN and hold the model, the optimizer state,
// every rank's RNG state and the step; the data position is a function of (seed, step), so a run killed at step k
// and resumed ends with the same weights as an uninterrupted run.
package train

import (
	"context"
	"errors"
	"fmt"
	"io"
	"math"
	"math/rand/v2"
	"os"
	"path/filepath"
	"runtime"
	"sort"
	"strings"
	"time"

	"github.com/rocketqa-go/rocketqa/encoder"
	"github.com/rocketqa-go/rocketqa/torch"
)

// Task is what a paper package trains.
type Task interface {
	// Params are the trainable parameters; names decide the no-weight-decay group (biases and LayerNorm).
	Params() []encoder.Param
	// NumExamples is the size of the training set (one example: one line of the training file).
	NumExamples() int
	// Step runs forward and backward on this rank's examples (indices into the training set), accumulating the
	// gradients of the loss into the parameters, and returns the loss value. The trainer has cleared the gradients.
	Step(s *torch.Scope, examples []int) (float64, error)
	// SaveModel writes the model to dir (a new directory); LoadModel reads the weights saved there into Params.
	SaveModel(dir string) error
	LoadModel(dir string) error
}

// Evaluator scores the current model (higher is better, e.g. MRR@10) and may report more metrics.
type Evaluator func(ctx context.Context) (score float64, metrics map[string]float64, err error)

// Schedule is a learning-rate schedule.
type Schedule string

// Schedules.
const (
	// Linear: linear warmup over the first WarmupProportion of the steps, then linear decay to 0 (HF
	// get_linear_schedule_with_warmup; Tevatron's and sentence-transformers' default).
	Linear Schedule = "linear"
	// Paddle: the official RocketQA schedule (spec 2.5): lr·t/warmup during warmup, then lr·(1 − t/T) with the
	// unshifted step t; a constant LR when WarmupProportion is 0.
	Paddle Schedule = "paddle"
	// Constant keeps the LR fixed (v1 cross-encoder, v2 joint training).
	Constant Schedule = "constant"
)

// Factor returns the LR multiplier at step t (0-based) of T.
func (s Schedule) Factor(t, total int, warmupProportion float64) float64 {
	warm := int(warmupProportion * float64(total))
	switch s {
	case Constant:
		return 1
	case Paddle:
		if warm <= 0 {
			return 1
		}
		if t < warm {
			return float64(t) / float64(warm)
		}
		return math.Max(0, 1-float64(t)/float64(total))
	default:
		if t < warm {
			return float64(t) / float64(max(1, warm))
		}
		return math.Max(0, float64(total-t)/float64(max(1, total-warm)))
	}
}

// Options configure Run. Zero values take the defaults in brackets.
type Options struct {
	OutDir    string // checkpoints, best/, final/, metrics.jsonl (required)
	Epochs    int    // passes over the training set [1]
	MaxSteps  int    // if > 0, the number of optimizer steps (overrides Epochs)
	BatchSize int    // examples per optimizer step over all processes (required)

	LR               float64  // peak learning rate (required)
	WeightDecay      float64  // decoupled weight decay for weights other than biases and LayerNorm
	WarmupProportion float64  // fraction of the steps spent warming up
	Schedule         Schedule // [Linear]
	MaxGradNorm      float64  // global-norm clip [1.0]; negative disables
	Seed             uint64   // data order, dropout and init [1]

	SaveEvery       int // checkpoint every N steps [0: only at the end]
	KeepCheckpoints int // how many recent checkpoints to keep [2]
	EvalEvery       int // evaluate every N steps (and at the end) when Eval is set [0: only at the end]
	Eval            Evaluator

	LogEvery int       // progress line every N steps [10]
	Log      io.Writer // progress lines [os.Stderr]

	PG *torch.ProcessGroup // nil: one process

	// NoResume starts over even when OutDir holds checkpoints.
	NoResume bool
	// StopAfter ends this run after that many steps as if it were killed (no final save): for tests and
	// time-boxed jobs that resume later.
	StopAfter int
}

// Result summarises a run.
type Result struct {
	Steps     int     // optimizer steps done in total
	Resumed   int     // step the run resumed from (0: fresh)
	LastLoss  float64 // loss of the last step
	Best      float64 // best evaluation score (NaN without Eval)
	BestStep  int
	FinalDir  string // OutDir/final (empty when stopped early)
	BestDir   string // OutDir/best (empty without Eval)
	Elapsed   time.Duration
	ExamplesS float64 // training examples per second (this run, all ranks)
}

// state.json of a checkpoint.
type ckptState struct {
	Step     int     `json:"step"`
	Loss     float64 `json:"loss"`
	Best     float64 `json:"best"` // meaningful when HasBest
	HasBest  bool    `json:"has_best"`
	BestStep int     `json:"best_step"`
	Seed     uint64  `json:"seed"`
	Batch    int     `json:"batch_size"`
	Total    int     `json:"total_steps"`
	World    int     `json:"world_size"`
}

func (o *Options) defaults() error {
	if o.OutDir == "" {
		return errors.New("train: OutDir is required")
	}
	if o.BatchSize <= 0 {
		return errors.New("train: BatchSize must be positive")
	}
	if o.LR <= 0 {
		return errors.New("train: LR must be positive")
	}
	if o.Epochs <= 0 {
		o.Epochs = 1
	}
	if o.Schedule == "" {
		o.Schedule = Linear
	}
	if o.Schedule != Linear && o.Schedule != Paddle && o.Schedule != Constant {
		return fmt.Errorf("train: unknown schedule %q (linear, paddle or constant)", o.Schedule)
	}
	if o.MaxGradNorm == 0 {
		o.MaxGradNorm = 1
	}
	if o.Seed == 0 {
		o.Seed = 1
	}
	if o.KeepCheckpoints <= 0 {
		o.KeepCheckpoints = 2
	}
	if o.LogEvery <= 0 {
		o.LogEvery = 10
	}
	if o.Log == nil {
		o.Log = os.Stderr
	}
	return nil
}

// NoDecay reports whether a parameter is exempt from weight decay (biases and LayerNorm weights).
func NoDecay(name string) bool {
	return strings.HasSuffix(name, ".bias") || strings.Contains(name, "LayerNorm") || strings.Contains(name, "layer_norm")
}

// Batches returns this rank's example indices for step t: the data order is a seeded permutation per epoch; each
// step takes the next BatchSize examples (a partial last batch is dropped) and rank r gets its contiguous share.
func Batches(n, batch, t int, seed uint64, rank, world int) ([]int, error) {
	spe := n / batch
	if spe == 0 {
		return nil, fmt.Errorf("train: %d examples is less than one batch of %d", n, batch)
	}
	epoch, pos := t/spe, t%spe
	perm := rand.New(rand.NewPCG(seed, uint64(epoch)+0x9e3779b97f4a7c15)).Perm(n)
	g := perm[pos*batch : (pos+1)*batch]
	per := batch / world
	return g[rank*per : (rank+1)*per], nil
}

// Run trains task until the configured number of steps, resuming from OutDir's latest checkpoint unless NoResume.
func Run(ctx context.Context, task Task, o Options) (*Result, error) {
	if err := o.defaults(); err != nil {
		return nil, err
	}
	// One OS thread for the whole run: libtorch's and OpenMP's per-thread state (thread teams, grad mode) then stay
	// the same from step to step; hopping between OS threads made CPU runs intermittently non-repeatable.
	runtime.LockOSThread()
	defer runtime.UnlockOSThread()
	rank, world := 0, 1
	if o.PG != nil {
		rank, world = o.PG.Rank(), o.PG.WorldSize()
	}
	if o.BatchSize%world != 0 {
		return nil, fmt.Errorf("train: batch size %d is not divisible by the %d processes", o.BatchSize, world)
	}
	n := task.NumExamples()
	spe := n / o.BatchSize
	if spe == 0 {
		return nil, fmt.Errorf("train: %d training examples is less than one batch of %d", n, o.BatchSize)
	}
	total := o.Epochs * spe
	if o.MaxSteps > 0 {
		total = o.MaxSteps
	}
	if err := os.MkdirAll(filepath.Join(o.OutDir, "checkpoints"), 0o755); err != nil {
		return nil, err
	}

	// parameter groups
	var decay, nodecay, all []*torch.Tensor
	for _, p := range task.Params() {
		all = append(all, p.Tensor)
		if NoDecay(p.Name) {
			nodecay = append(nodecay, p.Tensor)
		} else {
			decay = append(decay, p.Tensor)
		}
	}
	var groups []torch.ParamGroup
	if len(decay) > 0 {
		groups = append(groups, torch.ParamGroup{Params: decay, LR: o.LR, WeightDecay: o.WeightDecay})
	}
	if len(nodecay) > 0 {
		groups = append(groups, torch.ParamGroup{Params: nodecay, LR: o.LR})
	}
	opt, err := torch.NewAdamW(groups, torch.AdamWOptions{})
	if err != nil {
		return nil, err
	}
	defer opt.Close()

	torch.ManualSeed(o.Seed + uint64(rank))
	res := &Result{Best: math.NaN()}
	start := 0
	if !o.NoResume {
		if dir := Latest(o.OutDir); dir != "" {
			st, err := loadCheckpoint(dir, task, opt, rank)
			if err != nil {
				return nil, fmt.Errorf("train: resume from %s: %w", dir, err)
			}
			if st.Batch != o.BatchSize || st.Seed != o.Seed || st.World != world {
				return nil, fmt.Errorf("train: %s was written with batch %d, seed %d, %d processes; this run has %d, %d, %d (use another OutDir or NoResume)",
					dir, st.Batch, st.Seed, st.World, o.BatchSize, o.Seed, world)
			}
			start, res.BestStep, res.LastLoss = st.Step, st.BestStep, st.Loss
			if st.HasBest {
				res.Best = st.Best
			}
			res.Resumed = start
			logf(o.Log, rank, "resumed from %s (step %d of %d)", dir, start, total)
		}
	}

	metrics, err := openMetrics(o.OutDir, rank, start)
	if err != nil {
		return nil, err
	}
	defer metrics.Close()

	t0 := time.Now()
	lastLog := t0
	done := 0
	evaluate := func(step int) error {
		if o.Eval == nil {
			return nil
		}
		var score float64
		var ms map[string]float64
		var err error
		if rank == 0 {
			score, ms, err = o.Eval(ctx)
			if err != nil {
				return fmt.Errorf("train: evaluation at step %d: %w", step, err)
			}
			rec := map[string]any{"step": step, "eval": score}
			for k, v := range ms {
				rec[k] = v
			}
			metrics.write(rec)
			logf(o.Log, rank, "step %d eval %.4f %s", step, score, fmtMetrics(ms))
			if math.IsNaN(res.Best) || score > res.Best {
				res.Best, res.BestStep = score, step
				if err := saveModelAtomic(task, filepath.Join(o.OutDir, "best")); err != nil {
					return err
				}
			}
		}
		if o.PG != nil {
			return o.PG.Barrier()
		}
		return nil
	}

	for step := start; step < total; step++ {
		if err := ctx.Err(); err != nil {
			return res, err
		}
		if o.StopAfter > 0 && done >= o.StopAfter {
			res.Steps = step
			return res, nil
		}
		idx, err := Batches(n, o.BatchSize, step, o.Seed, rank, world)
		if err != nil {
			return nil, err
		}
		if err := opt.SetLRFactor(o.Schedule.Factor(step, total, o.WarmupProportion)); err != nil {
			return nil, err
		}
		var loss, gnorm float64
		err = torch.With(func(s *torch.Scope) error {
			var err error
			if loss, err = task.Step(s, idx); err != nil {
				return err
			}
			if o.PG != nil {
				if err := allReduceGrads(s, o.PG, all); err != nil {
					return err
				}
				l := s.FromFloat32([]float32{float32(loss)}, 1)
				if err := o.PG.AllReduce(l, torch.ReduceOpSum); err != nil {
					return err
				}
				v, _ := l.Item()
				loss = v / float64(world)
			}
			if o.MaxGradNorm > 0 {
				if gnorm, err = torch.ClipGradNorm(all, o.MaxGradNorm); err != nil {
					return err
				}
			}
			if err := opt.Step(); err != nil {
				return err
			}
			return opt.ZeroGrad()
		})
		if err != nil {
			return nil, fmt.Errorf("train: step %d: %w", step, err)
		}
		if math.IsNaN(loss) || math.IsInf(loss, 0) {
			return nil, fmt.Errorf("train: step %d: loss is %v", step, loss)
		}
		done++
		res.LastLoss = loss
		cur := step + 1
		lr := o.LR * o.Schedule.Factor(step, total, o.WarmupProportion)
		metrics.write(map[string]any{"step": cur, "loss": loss, "lr": lr, "grad_norm": gnorm, "epoch": float64(step) / float64(spe)})
		if cur%o.LogEvery == 0 || cur == total || time.Since(lastLog) > time.Minute {
			el := time.Since(t0)
			rate := float64(done) / el.Seconds()
			eta := time.Duration(float64(total-cur)/rate) * time.Second
			logf(o.Log, rank, "step %d/%d loss %.4f lr %.2e gnorm %.2f %.2f steps/s %.1f ex/s ETA %s",
				cur, total, loss, lr, gnorm, rate, rate*float64(o.BatchSize), eta.Round(time.Second))
			lastLog = time.Now()
		}
		if o.EvalEvery > 0 && cur%o.EvalEvery == 0 && cur < total {
			if err := evaluate(cur); err != nil {
				return nil, err
			}
		}
		if o.SaveEvery > 0 && cur%o.SaveEvery == 0 && cur < total {
			if err := saveCheckpoint(o, task, opt, rank, mkState(cur, loss, res, o, total, world)); err != nil {
				return nil, err
			}
		}
	}
	res.Steps = total
	if err := evaluate(total); err != nil {
		return nil, err
	}
	if err := saveCheckpoint(o, task, opt, rank, mkState(total, res.LastLoss, res, o, total, world)); err != nil {
		return nil, err
	}
	if rank == 0 {
		res.FinalDir = filepath.Join(o.OutDir, "final")
		if err := saveModelAtomic(task, res.FinalDir); err != nil {
			return nil, err
		}
		if o.Eval != nil {
			res.BestDir = filepath.Join(o.OutDir, "best")
		}
	}
	if o.PG != nil {
		if err := o.PG.Barrier(); err != nil {
			return nil, err
		}
	}
	res.Elapsed = time.Since(t0)
	if done > 0 {
		res.ExamplesS = float64(done*o.BatchSize) / res.Elapsed.Seconds()
	}
	return res, nil
}

func mkState(step int, loss float64, res *Result, o Options, total, world int) ckptState {
	st := ckptState{Step: step, Loss: loss, BestStep: res.BestStep, Seed: o.Seed, Batch: o.BatchSize, Total: total, World: world}
	if !math.IsNaN(res.Best) {
		st.Best, st.HasBest = res.Best, true
	}
	return st
}

func fmtMetrics(ms map[string]float64) string {
	keys := make([]string, 0, len(ms))
	for k := range ms {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	var b strings.Builder
	for _, k := range keys {
		fmt.Fprintf(&b, "%s=%.4f ", k, ms[k])
	}
	return strings.TrimSpace(b.String())
}

func logf(w io.Writer, rank int, format string, args ...any) {
	if rank != 0 {
		return
	}
	fmt.Fprintf(w, "%s %s\n", time.Now().Format("15:04:05"), fmt.Sprintf(format, args...))
}

// allReduceGrads averages every parameter gradient over the processes (DDP semantics), as one flat buffer.
func allReduceGrads(s *torch.Scope, pg *torch.ProcessGroup, params []*torch.Tensor) error {
	var grads []*torch.Tensor
	for _, p := range params {
		g := p.Grad()
		if g == nil {
			return errors.New("train: a parameter got no gradient (every rank must use every parameter)")
		}
		grads = append(grads, s.Adopt(g).Reshape(-1))
	}
	flat := torch.Cat(grads, 0)
	if err := flat.Err(); err != nil {
		return err
	}
	if err := pg.AllReduce(flat, torch.ReduceOpSum); err != nil {
		return err
	}
	if err := flat.MulInPlace(1 / float64(pg.WorldSize())); err != nil {
		return err
	}
	off := int64(0)
	for _, g := range grads {
		n := g.Numel()
		if err := g.CopyFrom(flat.Narrow(0, off, n)); err != nil {
			return err
		}
		off += n
	}
	return nil
}
