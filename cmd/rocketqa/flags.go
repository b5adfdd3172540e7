package main

import (
	"errors"
	"flag"
	"fmt"
	"io"
	"math"
	"os"
	"runtime"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/rocketqa-go/rocketqa/torch"
)

// cmd is the flag set and help text of one subcommand.
type cmd struct {
	name     string
	synopsis string // the usage line(s) after "Usage:"
	desc     string // what it reads and writes
	example  string
	fs       *flag.FlagSet
	posArgs  string // "" when positional arguments are refused; else their name in the help
	required map[string]bool
}

func newCmd(name, synopsis, desc, example string) *cmd {
	fs := flag.NewFlagSet(name, flag.ContinueOnError)
	fs.SetOutput(io.Discard)
	fs.Usage = func() {}
	return &cmd{name: name, synopsis: synopsis, desc: desc, example: example, fs: fs, required: map[string]bool{}}
}

// req marks flags as required (checked by parse, shown in the help).
func (c *cmd) req(names ...string) {
	for _, n := range names {
		c.required[n] = true
	}
}

// parse parses args; --help prints the help to stdout and returns errHelp.
func (c *cmd) parse(args []string) error {
	err := c.fs.Parse(args)
	if errors.Is(err, flag.ErrHelp) {
		c.printHelp(stdout)
		return errHelp
	}
	if err != nil {
		msg := err.Error()
		if name, ok := strings.CutPrefix(msg, "flag provided but not defined: -"); ok {
			msg = "unknown flag --" + strings.TrimPrefix(name, "-")
		} else if strings.HasPrefix(msg, "invalid value") || strings.HasPrefix(msg, "flag needs an argument: -") {
			msg = strings.Replace(msg, " -", " --", 1)
		}
		return usagef("%s", msg)
	}
	if c.posArgs == "" && c.fs.NArg() > 0 {
		return usagef("unexpected argument %q (every input is given with a flag)", c.fs.Arg(0))
	}
	var missing []string
	for n := range c.required {
		if !c.set(n) {
			missing = append(missing, "--"+n)
		}
	}
	sort.Strings(missing)
	if len(missing) == 1 {
		return usagef("%s is required", missing[0])
	}
	if len(missing) > 1 {
		return usagef("%s are required", strings.Join(missing, ", "))
	}
	return nil
}

// set reports whether the flag was given on the command line.
func (c *cmd) set(name string) bool {
	found := false
	c.fs.Visit(func(f *flag.Flag) {
		if f.Name == name {
			found = true
		}
	})
	return found
}

func (c *cmd) printHelp(w io.Writer) {
	fmt.Fprintf(w, "Usage:\n  %s\n\n%s\n\nFlags:\n", strings.ReplaceAll(c.synopsis, "\n", "\n  "), strings.TrimSpace(c.desc))
	c.fs.VisitAll(func(f *flag.Flag) {
		typ, usage := flag.UnquoteUsage(f)
		line := "  --" + f.Name
		if typ != "" {
			line += " " + typ
		}
		fmt.Fprintln(w, line)
		if c.required[f.Name] {
			usage += " (required)"
		} else if f.DefValue != "" && f.DefValue != "0" && f.DefValue != "false" && !strings.Contains(usage, "(default") {
			usage += fmt.Sprintf(" (default %s)", f.DefValue)
		}
		for _, l := range strings.Split(usage, "\n") {
			fmt.Fprintf(w, "        %s\n", l)
		}
	})
	if c.example != "" {
		fmt.Fprintf(w, "\nExample:\n  %s\n", strings.ReplaceAll(strings.TrimSpace(c.example), "\n", "\n  "))
	}
}

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
	dev, err := torch.ParseDevice(r.device)
	if err != nil {
		return dev, usagef("--device: %v", strings.TrimPrefix(err.Error(), "torch: "))
	}
	if r.device == "cuda" {
		if lr, err := strconv.Atoi(os.Getenv("LOCAL_RANK")); err == nil && lr >= 0 {
			dev = torch.CUDA(lr)
		}
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

// defaultThreads is the core count divided among the processes of a launch on this machine.
func defaultThreads() int {
	n := runtime.NumCPU()
	if lw, err := strconv.Atoi(os.Getenv("LOCAL_WORLD_SIZE")); err == nil && lw > 1 {
		n /= lw
	}
	return max(n, 1)
}

// langFlags: --lang switches the paper defaults between DuReader (zh) and MS MARCO (en).
type langFlags struct {
	lang  string
	forCN bool
	cased bool
}

func addLang(c *cmd) *langFlags {
	l := &langFlags{}
	c.fs.StringVar(&l.lang, "lang", "zh", "zh: DuReader-retrieval defaults (passage 384, pair 384, for_cn);\nen: MS MARCO defaults (passage 128, pair 160, no for_cn)")
	c.fs.BoolVar(&l.forCN, "for-cn", true, "remove spaces before tokenizing, as the official for_cn (default true for\n--lang zh, false for en)")
	c.fs.BoolVar(&l.cased, "cased", false, "keep letter case (default: lower-case, as ERNIE and BERT uncased)")
	return l
}

// apply validates --lang and sets the language-dependent defaults of the flags the user did not give:
// en maps each named int flag to its MS MARCO value.
func (l *langFlags) apply(c *cmd, en map[string]*int, enValues map[string]int) error {
	switch l.lang {
	case "zh":
	case "en":
		if !c.set("for-cn") {
			l.forCN = false
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
type initFlags struct {
	init, config, vocab string
}

func addInit(c *cmd) *initFlags {
	f := &initFlags{}
	c.fs.StringVar(&f.init, "init", "", "pretrained model directory (HuggingFace layout: config.json, model.safetensors or\npytorch_model.bin, vocab.txt), or a model directory written by this tool to continue from")
	c.fs.StringVar(&f.config, "config", "", "config.json of a randomly initialised model (instead of --init; needs --vocab)")
	c.fs.StringVar(&f.vocab, "vocab", "", "vocab.txt (with --config; overrides the vocabulary of --init)")
	return f
}

func (f *initFlags) check() error {
	switch {
	case f.init == "" && f.config == "":
		return usagef("give --init DIR (pretrained model) or --config config.json with --vocab vocab.txt")
	case f.init != "" && f.config != "":
		return usagef("--init and --config exclude each other")
	case f.config != "" && f.vocab == "":
		return usagef("--config needs --vocab")
	}
	if f.init != "" {
		if err := mustDir("--init", f.init); err != nil {
			return err
		}
	}
	for _, p := range [][2]string{{"--config", f.config}, {"--vocab", f.vocab}} {
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

// optDefaults are a stage's paper defaults.
type optDefaults struct {
	batch, epochs  int
	lr, warmup, wd float64
	schedule       string
	batchNote      string
}

func addOpt(c *cmd, d optDefaults) *optFlags {
	o := &optFlags{c: c}
	fs := c.fs
	fs.IntVar(&o.batch, "batch", d.batch, "training examples per step and process ("+d.batchNote+"); the global batch\nis --batch times the number of processes")
	fs.IntVar(&o.epochs, "epochs", d.epochs, "passes over the training file")
	fs.IntVar(&o.maxSteps, "max-steps", 0, "optimizer steps to run; overrides --epochs when set")
	fs.Float64Var(&o.lr, "lr", d.lr, "peak learning rate")
	fs.StringVar(&o.optimizer, "optimizer", "adamw", "adamw, or lamb: Paddle's LambOptimizer as the official MS MARCO runs (Adam moments,\n--wd inside the update, layer-wise trust ratio, eps 1e-6; --wd defaults to 0.01 with lamb)")
	fs.Float64Var(&o.warmup, "warmup", d.warmup, "fraction of the steps spent in linear warmup")
	fs.StringVar(&o.schedule, "schedule", d.schedule, "learning-rate schedule: paddle (official: warmup, then lr*(1-t/T); constant when\n--warmup is 0), linear (HF warmup + linear decay) or constant")
	fs.Float64Var(&o.wd, "wd", d.wd, "decoupled weight decay (not on biases and LayerNorm)")
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
	if o.optimizer == "lamb" && o.c != nil && !o.c.set("wd") {
		o.wd = 0.01 // Paddle's lamb_weight_decay default, the official runs' setting
	}
	switch {
	case o.batch <= 0:
		return usagef("--batch %d: must be positive", o.batch)
	case o.epochs <= 0:
		return usagef("--epochs %d: must be positive", o.epochs)
	case o.maxSteps < 0:
		return usagef("--max-steps %d: must not be negative", o.maxSteps)
	case !(o.lr > 0) || !num(o.lr):
		return usagef("--lr %g: must be a positive number", o.lr)
	case !(o.warmup >= 0 && o.warmup < 1):
		return usagef("--warmup %g: must be in [0, 1)", o.warmup)
	case !(o.wd >= 0) || !num(o.wd):
		return usagef("--wd %g: must be a number, not negative", o.wd)
	case !num(o.clip):
		return usagef("--clip %g: must be a number (negative disables clipping)", o.clip)
	case o.optimizer != "adamw" && o.optimizer != "lamb":
		return usagef("--optimizer %q: want adamw or lamb", o.optimizer)
	case o.schedule != "paddle" && o.schedule != "linear" && o.schedule != "constant":
		return usagef("--schedule %q: want paddle, linear or constant", o.schedule)
	case o.saveEvery < 0 || o.keep < 1 || o.logEvery < 1:
		return usagef("--save-every must not be negative, --keep and --log-every must be positive")
	case o.backend != "" && o.backend != "gloo" && o.backend != "nccl":
		return usagef("--backend %q: want gloo or nccl", o.backend)
	case o.distTimeout <= 0:
		return usagef("--dist-timeout %v: must be positive", o.distTimeout)
	}
	return nil
}

// ---- file checks ----

// mustFile fails (exit 1) naming the flag and the path when path is not a readable regular file.
func mustFile(flagName, path string) error {
	st, err := os.Stat(path)
	if err != nil {
		return fmt.Errorf("%s %s: %v", flagName, path, pathErr(err))
	}
	if st.IsDir() {
		return fmt.Errorf("%s %s: is a directory, want a file", flagName, path)
	}
	return nil
}

// mustDir fails naming the flag and the path when path is not a directory.
func mustDir(flagName, path string) error {
	st, err := os.Stat(path)
	if err != nil {
		return fmt.Errorf("%s %s: %v", flagName, path, pathErr(err))
	}
	if !st.IsDir() {
		return fmt.Errorf("%s %s: not a directory", flagName, path)
	}
	return nil
}

// pathErr strips the "stat PATH: " prefix of an *os.PathError (the caller names the path).
func pathErr(err error) error {
	var pe *os.PathError
	if errors.As(err, &pe) {
		return pe.Err
	}
	return err
}

// splitList splits a comma-separated flag value, dropping empty items.
func splitList(s string) []string {
	var out []string
	for _, p := range strings.Split(s, ",") {
		if p = strings.TrimSpace(p); p != "" {
			out = append(out, p)
		}
	}
	return out
}
