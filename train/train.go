// Package train is the training loop shared by the RocketQA papers: AdamW (or LAMB) with no-decay groups,
// learning-rate schedules, global-norm clipping, seeded data order, gradient all-reduce across processes, atomic
// checkpoints with exact resume, evaluation that keeps the best model, progress lines and JSON-lines metrics.
//
// A paper package supplies a Task (the model, its loss on a batch of example indices, how to save and load it);
// Run does the rest. Checkpoints live in OutDir/checkpoints/step-NNNNNNNN and hold the model, the optimizer state,
// every rank's RNG state (CPU and device generators) and the step; the data position is a function of (seed, step),
// so a run killed at step k and resumed ends with the same weights as an uninterrupted run.
//
// A checkpoint belongs to one run: state.json records the run's identity (the caller's Options.Identity, e.g. the
// training file's size and hash, plus the hyperparameters, the step count and the model's parameter shapes), and
// Run resumes only a checkpoint of the same identity. NoResume moves an earlier run's outputs aside into
// OutDir/previous/. Run holds an exclusive lock on OutDir (internal/dirlock) for its whole duration.
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
	"github.com/rocketqa-go/rocketqa/internal/dirlock"
	"github.com/rocketqa-go/rocketqa/torch"
)

// Optimizer is what the loop needs of an optimizer; *torch.AdamW and *torch.LAMB implement it.
type Optimizer interface {
	Step() error
	ZeroGrad() error
	// SetLRFactor sets every group's learning rate to its initial LR times f.
	SetLRFactor(f float64) error
	// StateDict and LoadStateDict save and restore the optimizer state exactly.
	StateDict() ([]byte, error)
	LoadStateDict(b []byte) error
	Close()
}

// Optimizers.
const (
	// AdamW is torch.optim.AdamW (β 0.9/0.999, ε 1e-8), the default.
	AdamW = "adamw"
	// LAMB is Paddle's LambOptimizer as the official RocketQA MS MARCO runs use it (β 0.9/0.999, ε 1e-6, the decay
	// WeightDecay inside the update, layer-wise trust ratio); see torch.LAMB.
	LAMB = "lamb"
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
	// Paddle: the official RocketQA schedule (docs/method.md §2.5): lr·t/warmup during warmup, then lr·(1 − t/T) with the
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
	Optimizer        string   // AdamW or LAMB [AdamW]

	// Identity says what the run trains on, as the caller sees it (e.g. "train": the training file's path, size
	// and hash from FileIdentity; "config": the model configuration): recorded in every checkpoint next to the
	// hyperparameters, and a resume refuses a checkpoint whose identity differs.
	Identity map[string]string

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
	Run    map[string]string `json:"run"`    // the run identity
	Params []string          `json:"params"` // "name [shape]" of every parameter

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
	finite := func(v float64) bool { return !math.IsNaN(v) && !math.IsInf(v, 0) }
	switch {
	case !finite(o.LR) || o.LR <= 0:
		return fmt.Errorf("train: LR %v must be a positive number", o.LR)
	case !finite(o.WeightDecay) || o.WeightDecay < 0:
		return fmt.Errorf("train: WeightDecay %v must be a number, not negative", o.WeightDecay)
	case !finite(o.WarmupProportion) || o.WarmupProportion < 0 || o.WarmupProportion >= 1:
		return fmt.Errorf("train: WarmupProportion %v must be in [0, 1)", o.WarmupProportion)
	case !finite(o.MaxGradNorm):
		return fmt.Errorf("train: MaxGradNorm %v must be a number (negative disables clipping)", o.MaxGradNorm)
	case o.Epochs < 0 || o.MaxSteps < 0 || o.SaveEvery < 0 || o.EvalEvery < 0 || o.StopAfter < 0 || o.KeepCheckpoints < 0:
		return fmt.Errorf("train: Epochs %d, MaxSteps %d, SaveEvery %d, EvalEvery %d, StopAfter %d, KeepCheckpoints %d must not be negative",
			o.Epochs, o.MaxSteps, o.SaveEvery, o.EvalEvery, o.StopAfter, o.KeepCheckpoints)
	}
	if o.Optimizer == "" {
		o.Optimizer = AdamW
	}
	if o.Optimizer != AdamW && o.Optimizer != LAMB {
		return fmt.Errorf("train: unknown optimizer %q (adamw or lamb)", o.Optimizer)
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
	// Every process must run the same training, checked before the output directory is touched.
	var shapes []string
	for _, p := range task.Params() {
		shapes = append(shapes, fmt.Sprintf("%s %v", p.Name, p.Tensor.Shape()))
	}
	rc := runCtx{id: runIdentity(o, n, total, world), params: shapes}
	if err := sameRun(o.PG, o, rc); err != nil {
		return nil, err
	}
	// One run per output directory: rank 0 holds the lock until Run returns; every rank learns whether it got it.
	var lock *dirlock.Lock
	var err error
	if rank == 0 {
		what := "training"
		if c := o.Identity["command"]; c != "" {
			what = c
		}
		lock, err = dirlock.Acquire(o.OutDir, what)
		if err != nil {
			err = fmt.Errorf("train: %w", err)
		}
	}
	defer lock.Release()
	if err := agree(o.PG, rank, err); err != nil {
		return nil, err
	}
	if rank == 0 {
		err = prepareOutDir(o)
	}
	if err := agree(o.PG, rank, err); err != nil {
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
	if len(all) == 0 {
		return nil, errors.New("train: the task has no parameters")
	}
	var opt Optimizer
	if o.Optimizer == LAMB {
		opt, err = torch.NewLAMB(groups, torch.LAMBOptions{})
	} else {
		opt, err = torch.NewAdamW(groups, torch.AdamWOptions{})
	}
	if err != nil {
		return nil, err
	}
	defer opt.Close()
	rc.dev = all[0].Device()

	torch.ManualSeed(o.Seed + uint64(rank))
	res := &Result{Best: math.NaN()}
	start := 0
	if !o.NoResume {
		if dir := Latest(o.OutDir); dir != "" {
			st, err := loadCheckpoint(dir, task, opt, rank, rc)
			if err != nil {
				return nil, fmt.Errorf("train: resume from %s: %w", dir, err)
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
			if err := saveCheckpoint(o, task, opt, rank, rc, mkState(cur, loss, res, o, total, world, rc)); err != nil {
				return nil, err
			}
		}
	}
	res.Steps = total
	// a checkpoint of the last step is written after its evaluation: a finished run started again is not evaluated
	// (nor its eval line written) a second time
	if start < total {
		if err := evaluate(total); err != nil {
			return nil, err
		}
	}
	if err := saveCheckpoint(o, task, opt, rank, rc, mkState(total, res.LastLoss, res, o, total, world, rc)); err != nil {
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

func mkState(step int, loss float64, res *Result, o Options, total, world int, rc runCtx) ckptState {
	st := ckptState{Run: rc.id, Params: rc.params, Step: step, Loss: loss, BestStep: res.BestStep, Seed: o.Seed, Batch: o.BatchSize, Total: total, World: world}
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
