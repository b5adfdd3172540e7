package main

import (
	"embed"
	"errors"
	"flag"
	"fmt"
	"math"
	"os"
	"strconv"
	"strings"
	"time"

	"github.com/rocketqa-go/rocketqa/internal/cli"
	"github.com/rocketqa-go/rocketqa/rocketqa"
	"github.com/rocketqa-go/rocketqa/torch"
)

// cmd is a subcommand: internal/cli's Command with this binary's errors (usage errors exit 2, help exits 0).
type cmd struct {
	*cli.Command
	fs      *flag.FlagSet
	posArgs string // "" when positional arguments are refused; else their name in the help
}

func newCmd(name, synopsis, desc, example string) *cmd {
	cc := cli.NewCommand(name, synopsis, desc, example)
	return &cmd{Command: cc, fs: cc.FS}
}

//go:embed help/*.txt
var helpFiles embed.FS

// helpCmd is newCmd with the help text of help/<name>.txt: synopsis, description and example separated by "---"
// lines.
func helpCmd(name string) *cmd {
	b, err := helpFiles.ReadFile("help/" + name + ".txt")
	if err != nil {
		panic(err) // a help file missing from the build: TestHelp covers every command
	}
	p := append(strings.SplitN(string(b), "\n---\n", 3), "", "")
	return newCmd(name, strings.TrimSpace(p[0]), strings.TrimSpace(p[1]), strings.TrimSpace(p[2]))
}

// req marks flags as required (checked by parse, shown in the help).
func (c *cmd) req(names ...string) {
	for _, n := range names {
		c.Required[n] = true
	}
}

// parse parses args; --help prints the help to stdout and returns errHelp.
func (c *cmd) parse(args []string) error {
	c.PosArgs = c.posArgs
	return cliErr(c.Parse(args, stdout))
}

// set reports whether the flag was given on the command line.
func (c *cmd) set(name string) bool { return c.Set(name) }

// cliErr turns internal/cli's usage errors and help into this command's.
func cliErr(err error) error {
	var ue *cli.UsageError
	switch {
	case errors.Is(err, cli.ErrHelp):
		return errHelp
	case errors.As(err, &ue):
		return usagef("%s", ue.Msg)
	}
	return err
}

// check returns a usage error for the first failed condition: pairs of (ok, message).
func check(conds ...any) error { return cliErr(cli.Check(conds...)) }

// ---- shared flag groups ----

// runtimeFlags: device and threads.
type runtimeFlags struct {
	device  string
	threads int
}

func addRuntime(c *cmd, withDevice bool) *runtimeFlags {
	r := &runtimeFlags{device: "cpu"}
	if withDevice {
		c.fs.StringVar(&r.device, "device", "cpu", "cpu, cuda or cuda:N (under launch, \"cuda\" means cuda:LOCAL_RANK)")
	}
	c.fs.IntVar(&r.threads, "threads", 0, "CPU threads for libtorch and FAISS (default: all cores, divided among the\nprocesses of a launch)")
	return r
}

// resolve parses the device and applies the thread count.
func (r *runtimeFlags) resolve() (torch.Device, error) {
	ensureBLAS()
	dev, err := torch.ParseDevice(r.device)
	if err != nil {
		return dev, usagef("--device: %v", strings.TrimPrefix(err.Error(), "torch: "))
	}
	if lr, err := strconv.Atoi(os.Getenv("LOCAL_RANK")); r.device == "cuda" && err == nil && lr >= 0 {
		dev = torch.CUDA(lr)
	}
	if dev.Type == torch.CUDADevice {
		if !torch.CUDAAvailable() {
			return dev, fmt.Errorf("--device %s: this libtorch has no CUDA or no GPU is visible", dev)
		}
		if n := torch.CUDADeviceCount(); dev.Index >= n {
			return dev, fmt.Errorf("--device %s: only %d CUDA devices are visible", dev, n)
		}
	}
	if r.threads < 0 {
		return dev, usagef("--threads %d: must be positive", r.threads)
	}
	setThreads(r.threads)
	return dev, nil
}

// langFlags: --lang switches the length and tokenisation defaults between DuReader (zh) and MS MARCO (en).
type langFlags struct {
	lang         string
	forCN, cased bool
}

func addLang(c *cmd) *langFlags {
	l := &langFlags{}
	c.fs.StringVar(&l.lang, "lang", "zh", "zh: DuReader-retrieval defaults (passage 384, pair 384, for_cn);\nen: MS MARCO defaults (passage 128, pair 160, no for_cn)")
	c.fs.BoolVar(&l.forCN, "for-cn", rocketqa.DuReaderDE.ForCN, fmt.Sprintf("remove spaces before tokenizing, as the official for_cn (default %v for\n--lang zh, %v for en)", rocketqa.DuReaderDE.ForCN, rocketqa.MSMarcoDE.ForCN))
	c.fs.BoolVar(&l.cased, "cased", false, "keep letter case (default: lower-case, as ERNIE and BERT uncased)")
	return l
}

// apply validates --lang; with en, the length flags the user did not give take the MS MARCO preset's values.
func (l *langFlags) apply(c *cmd, en map[string]*int, enValues map[string]int) error {
	switch l.lang {
	case "zh":
	case "en":
		if !c.set("for-cn") {
			l.forCN = rocketqa.MSMarcoDE.ForCN
		}
		for name, p := range en {
			if !c.set(name) {
				*p = enValues[name]
			}
		}
	default:
		return usagef("--lang %q: want zh or en", l.lang)
	}
	return nil
}

// initFlags: where the initial weights come from.
type initFlags struct{ rocketqa.InitSpec }

func addInit(c *cmd) *initFlags {
	f := &initFlags{}
	c.fs.StringVar(&f.Init, "init", "", "pretrained model directory (HuggingFace layout: config.json, model.safetensors or\npytorch_model.bin, vocab.txt), or a model directory written by this tool to continue from")
	c.fs.StringVar(&f.Config, "config", "", "config.json of a randomly initialised model (instead of --init; needs --vocab)")
	c.fs.StringVar(&f.Vocab, "vocab", "", "vocab.txt (with --config; overrides the vocabulary of --init)")
	return f
}

func (f *initFlags) check() error {
	if err := check(f.Init != "" || f.Config != "", "give --init DIR (pretrained model) or --config config.json with --vocab vocab.txt",
		f.Init == "" || f.Config == "", "--init and --config exclude each other",
		f.Config == "" || f.Vocab != "", "--config needs --vocab"); err != nil {
		return err
	}
	if f.Init != "" {
		if err := mustDir("--init", f.Init); err != nil {
			return err
		}
	}
	for _, p := range [][2]string{{"--config", f.Config}, {"--vocab", f.Vocab}} {
		if p[1] != "" {
			if err := mustFile(p[0], p[1]); err != nil {
				return err
			}
		}
	}
	return nil
}

// optFlags: the training loop's knobs.
type optFlags struct {
	batch, epochs, maxSteps   int
	lr, warmup, wd, clip      float64
	schedule, optimizer       string
	seed                      uint64
	saveEvery, keep, logEvery int
	noResume                  bool
	backend                   string
	distTimeout               time.Duration
	c                         *cmd
}

// addOpt declares the training flags with the defaults of preset p (batchNote describes its batch).
func addOpt(c *cmd, p rocketqa.Preset, batchNote string) *optFlags {
	o, fs := &optFlags{c: c}, c.fs
	fs.IntVar(&o.batch, "batch", p.Batch, "training examples per step and process ("+batchNote+"); the global batch\nis --batch times the number of processes")
	fs.IntVar(&o.epochs, "epochs", p.Epochs, "passes over the training file")
	fs.IntVar(&o.maxSteps, "max-steps", 0, "optimizer steps to run; overrides --epochs when set")
	fs.Float64Var(&o.lr, "lr", p.LR, "peak learning rate")
	fs.StringVar(&o.optimizer, "optimizer", p.Optimizer, "adamw, or lamb: Paddle's LambOptimizer as the official MS MARCO runs (Adam moments,\n--wd inside the update, layer-wise trust ratio, eps 1e-6; --wd defaults to 0.01 with lamb)")
	fs.Float64Var(&o.warmup, "warmup", p.Warmup, "fraction of the steps spent in linear warmup")
	fs.StringVar(&o.schedule, "schedule", string(p.Schedule), "learning-rate schedule: paddle (official: warmup, then lr*(1-t/T); constant when\n--warmup is 0), linear (HF warmup + linear decay) or constant")
	fs.Float64Var(&o.wd, "wd", p.WeightDecay, "decoupled weight decay (not on biases and LayerNorm)")
	fs.Float64Var(&o.clip, "clip", 1.0, "global gradient-norm clip; negative disables")
	fs.Uint64Var(&o.seed, "seed", 1, "seed of the initialisation, dropout and data order")
	fs.IntVar(&o.saveEvery, "save-every", 1000, "write a resumable checkpoint every N steps (0: only at the end)")
	fs.IntVar(&o.keep, "keep", 2, "checkpoints to keep")
	fs.IntVar(&o.logEvery, "log-every", 10, "progress line every N steps")
	fs.BoolVar(&o.noResume, "no-resume", false, "start over even when --out holds checkpoints: the earlier run's checkpoints/, final/,\nbest/ and metrics.jsonl move to --out/previous/TIME (default: resume the latest checkpoint,\nwhich must come from the same run: training file, model, settings)")
	fs.StringVar(&o.backend, "backend", "", "c10d backend under launch: gloo or nccl (default: gloo on CPU, nccl on CUDA)")
	fs.DurationVar(&o.distTimeout, "dist-timeout", 5*time.Minute, "under launch: how long to wait for the other processes (rendezvous and\nevery collective)")
	return o
}

func (o *optFlags) check() error {
	num := func(v float64) bool { return !math.IsNaN(v) && !math.IsInf(v, 0) }
	if o.optimizer == "lamb" && !o.c.set("wd") {
		o.wd = rocketqa.PAIRMarco.WeightDecay // Paddle's lamb_weight_decay default, the official runs' setting
	}
	return check(o.batch > 0, fmt.Sprintf("--batch %d: must be positive", o.batch),
		o.epochs > 0, fmt.Sprintf("--epochs %d: must be positive", o.epochs),
		o.maxSteps >= 0, fmt.Sprintf("--max-steps %d: must not be negative", o.maxSteps),
		o.lr > 0 && num(o.lr), fmt.Sprintf("--lr %g: must be a positive number", o.lr),
		o.warmup >= 0 && o.warmup < 1, fmt.Sprintf("--warmup %g: must be in [0, 1)", o.warmup),
		o.wd >= 0 && num(o.wd), fmt.Sprintf("--wd %g: must be a number, not negative", o.wd),
		num(o.clip), fmt.Sprintf("--clip %g: must be a number (negative disables clipping)", o.clip),
		o.optimizer == "adamw" || o.optimizer == "lamb", fmt.Sprintf("--optimizer %q: want adamw or lamb", o.optimizer),
		o.schedule == "paddle" || o.schedule == "linear" || o.schedule == "constant", fmt.Sprintf("--schedule %q: want paddle, linear or constant", o.schedule),
		o.saveEvery >= 0 && o.keep >= 1 && o.logEvery >= 1, "--save-every must not be negative, --keep and --log-every must be positive",
		o.backend == "" || o.backend == "gloo" || o.backend == "nccl", fmt.Sprintf("--backend %q: want gloo or nccl", o.backend),
		o.distTimeout > 0, fmt.Sprintf("--dist-timeout %v: must be positive", o.distTimeout))
}
