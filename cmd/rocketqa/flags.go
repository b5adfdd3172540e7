package main

import (
	"embed"
	"fmt"
	"strings"
	"time"

	"github.com/rocketqa-go/rocketqa/internal/cli"
	"github.com/rocketqa-go/rocketqa/rocketqa"
	"github.com/rocketqa-go/rocketqa/torch"
	"github.com/rocketqa-go/rocketqa/train"
)

// cmd is the flag set and help of the subcommand being run.
type cmd struct{ *cli.Command }

// active is the command of this process (one per run), whose flag tables name the library's settings in errors.
var active *cmd

// FlagFor names the flag of a library setting (nil-safe: before any command is made there is none).
func (c *cmd) FlagFor(path string) string {
	if c == nil {
		return ""
	}
	return c.Command.FlagFor(path)
}

//go:embed help/*.txt
var helpFiles embed.FS

func helpText(name string) string {
	b, err := helpFiles.ReadFile("help/" + name + ".txt")
	if err != nil {
		panic(err) // a help file missing from the build: TestHelp covers every command
	}
	return string(b)
}

// helpCmd makes the command with the help text of help/<name>.txt: synopsis, description and example separated
// by "---" lines.
func helpCmd(name string) *cmd {
	p := append(strings.SplitN(helpText(name), "\n---\n", 3), "", "")
	active = &cmd{cli.NewCommand(name, strings.TrimSpace(p[0]), strings.TrimSpace(p[1]), strings.TrimSpace(p[2]))}
	return active
}

// parse parses args; --help prints the help to stdout and returns cli.ErrHelp.
func (c *cmd) parse(args []string) error { return c.Parse(args, stdout) }

var usagef = cli.Usagef

// ---- shared flag groups ----

// runtimeFlags: device and threads.
type runtimeFlags struct {
	Device  string
	Threads int
}

func addRuntime(c *cmd, withDevice bool) *runtimeFlags {
	r := &runtimeFlags{Device: "cpu"}
	if withDevice {
		c.Bind(r, cli.Flag{"device", "Device", "cpu, cuda or cuda:N (under launch, \"cuda\" means cuda:LOCAL_RANK)"})
	}
	c.Bind(r, cli.Flag{"threads", "Threads", "CPU threads for libtorch and FAISS (default: all cores, divided among the\nprocesses of a launch)"})
	c.NonNegative("threads")
	return r
}

// resolve sets up BLAS, resolves the device and applies the thread count.
func (r *runtimeFlags) resolve() (torch.Device, error) {
	ensureBLAS()
	dev, err := rocketqa.ResolveDevice(r.Device)
	if err == nil {
		setThreads(r.Threads)
	}
	return dev, err
}

// addLang declares --lang, and --for-cn and --cased on the fields ForCN and Cased under prefix of target.
func addLang(c *cmd, target any, prefix string) *string {
	lang := "zh"
	c.FS.StringVar(&lang, "lang", "zh", "zh: DuReader-retrieval defaults (passage 384, pair 384, for_cn);\nen: MS MARCO defaults (passage 128, pair 160, no for_cn)")
	c.Bind(target, cli.Flag{"for-cn", prefix + "ForCN", fmt.Sprintf("remove spaces before tokenizing, as the official for_cn (default %v for\n--lang zh, %v for en)", rocketqa.DuReaderDE.ForCN, rocketqa.MSMarcoDE.ForCN)},
		cli.Flag{"cased", prefix + "Cased", "keep letter case (default: lower-case, as ERNIE and BERT uncased)"})
	c.OneOf("lang", "zh", "en")
	return &lang
}

// applyLang gives the flags the user did not set the MS MARCO values en under --lang en.
func applyLang(c *cmd, lang string, en map[string]any) {
	if lang == "en" {
		en["for-cn"] = rocketqa.MSMarcoDE.ForCN
		c.SetDefaults(en)
	}
}

// initFlags are where the initial weights come from: the fields Init, Config and Vocab under prefix.
func initFlags(prefix string) []cli.Flag {
	return []cli.Flag{{"init", prefix + "Init", "pretrained model directory (HuggingFace layout: config.json, model.safetensors or\npytorch_model.bin, vocab.txt), or a model directory written by this tool to continue from"},
		{"config", prefix + "Config", "config.json of a randomly initialised model (instead of --init; needs --vocab)"},
		{"vocab", prefix + "Vocab", "vocab.txt (with --config; overrides the vocabulary of --init)"}}
}

// loop is the training loop's flags: train.Options fields (per-process batch) and the process group's.
type loop struct {
	o           *train.Options
	batch       int // per process, as given
	Backend     string
	DistTimeout time.Duration
}

// addLoop declares the training flags on the train.Options at prefix of target (o), with the defaults of
// preset p (batchNote describes its batch).
func addLoop(c *cmd, target any, prefix string, o *train.Options, p rocketqa.Preset, batchNote string) *loop {
	*o = train.Options{BatchSize: p.Batch, Epochs: p.Epochs, LR: p.LR, WarmupProportion: p.Warmup, Schedule: p.Schedule,
		WeightDecay: p.WeightDecay, Optimizer: p.Optimizer, MaxGradNorm: 1, Seed: 1, SaveEvery: 1000, KeepCheckpoints: 2, LogEvery: 10}
	l := &loop{o: o, DistTimeout: 5 * time.Minute}
	c.Bind(target, cli.Flag{"batch", prefix + "BatchSize", "training examples per step and process (" + batchNote + "); the global batch\nis --batch times the number of processes"},
		cli.Flag{"epochs", prefix + "Epochs", "passes over the training file"},
		cli.Flag{"max-steps", prefix + "MaxSteps", "optimizer steps to run; overrides --epochs when set"},
		cli.Flag{"lr", prefix + "LR", "peak learning rate"},
		cli.Flag{"optimizer", prefix + "Optimizer", "adamw, or lamb: Paddle's LambOptimizer as the official MS MARCO runs (Adam moments,\n--wd inside the update, layer-wise trust ratio, eps 1e-6; --wd defaults to 0.01 with lamb)"},
		cli.Flag{"warmup", prefix + "WarmupProportion", "fraction of the steps spent in linear warmup"},
		cli.Flag{"schedule", prefix + "Schedule", "learning-rate schedule: paddle (official: warmup, then lr*(1-t/T); constant when\n--warmup is 0), linear (HF warmup + linear decay) or constant"},
		cli.Flag{"wd", prefix + "WeightDecay", "decoupled weight decay (not on biases and LayerNorm)"},
		cli.Flag{"clip", prefix + "MaxGradNorm", "global gradient-norm clip; negative disables"},
		cli.Flag{"seed", prefix + "Seed", "seed of the initialisation, dropout and data order"},
		cli.Flag{"save-every", prefix + "SaveEvery", "write a resumable checkpoint every N steps (0: only at the end)"},
		cli.Flag{"keep", prefix + "KeepCheckpoints", "checkpoints to keep"},
		cli.Flag{"log-every", prefix + "LogEvery", "progress line every N steps"},
		cli.Flag{"no-resume", prefix + "NoResume", "start over even when --out holds checkpoints: the earlier run's checkpoints/, final/,\nbest/ and metrics.jsonl move to --out/previous/TIME (default: resume the latest checkpoint,\nwhich must come from the same run: training file, model, settings)"})
	c.Bind(l, cli.Flag{"backend", "Backend", "c10d backend under launch: gloo or nccl (default: gloo on CPU, nccl on CUDA)"},
		cli.Flag{"dist-timeout", "DistTimeout", "under launch: how long to wait for the other processes (rendezvous and\nevery collective)"})
	c.Positive("epochs", "keep", "log-every", "dist-timeout")
	c.OneOf("backend", "", "gloo", "nccl")
	return l
}

// parsed completes the options after parsing: LAMB's weight decay default.
func (l *loop) parsed(c *cmd) {
	if l.o.Optimizer == train.LAMB && !c.Set("wd") {
		l.o.WeightDecay = rocketqa.PAIRMarco.WeightDecay // Paddle's lamb_weight_decay default, the official runs' setting
	}
	l.batch = l.o.BatchSize
}

// join resolves the device, joins the process group of a launch and completes the options: the global batch is
// the per-process batch times the processes; --clip 0 disables clipping as a negative value does.
func (l *loop) join(rt *runtimeFlags) (torch.Device, *torch.ProcessGroup, error) {
	dev, err := rt.resolve()
	if err != nil {
		return dev, nil, err
	}
	pg, err := rocketqa.JoinProcessGroup(l.Backend, dev, l.DistTimeout)
	_, world := rocketqa.RankWorld(pg)
	l.o.BatchSize, l.o.PG, l.o.Log = l.batch*world, pg, stderr
	if l.o.MaxGradNorm == 0 {
		l.o.MaxGradNorm = -1
	}
	return dev, pg, err
}

// candidates is the passages a query is scored against per slot: the global batch with cross-batch negatives, the
// process's own without.
func (l *loop) candidates(noCross bool) int {
	if noCross {
		return l.batch
	}
	return l.o.BatchSize
}
