// Command rocketqa runs the stages of the RocketQA pipelines, one subcommand per stage, joined by files
// (each stage is a library call; the files are those of docs/method.md §3.3 and §6.1):
//
//	train-de  -> model dir -> encode -> embedding shards -> index -> FAISS files -> search -> run file -> eval
//	train-ce  -> model dir -> score (re-rank a run) -> mine / augment -> merge -> train-de again
//
// Run `rocketqa --help` for the list of subcommands and `rocketqa <subcommand> --help` for the flags, inputs,
// outputs and an example of each. Defaults are those of the official DuReader-retrieval baseline (spec section 6.2);
// --lang en switches the lengths and tokenisation to the MS MARCO settings (spec section 3.5).
//
// Exit status: 0 on success, 1 when a stage fails (a missing or malformed file, a training error), 2 for a usage
// error (unknown subcommand or flag, missing required flag, bad flag value), 130 when interrupted. SIGINT (Ctrl-C)
// or SIGTERM cancels the command, which stops at its next look at the context (between lines, batches or training
// steps) and exits 130; a second signal quits at once.
package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/signal"
	"runtime/debug"
	"strings"
	"syscall"
)

// version is the CLI's version; the VCS revision of the build is appended when known.
const version = "0.1.0"

// command is one subcommand.
type command struct {
	name    string
	summary string // one line for the top-level help
	run     func(ctx context.Context, args []string) error
}

// commands in the order the top-level help lists them (pipeline order).
var commands []*command

func init() {
	commands = []*command{
		{"pretrain", "masked-LM pre-training of a BERT/ERNIE encoder on a passage collection (an --init for the others)", runPretrain},
		{"train-de", "train a dual encoder (RocketQA v1 cross-batch loss) from a dual.train.tsv", runTrainDE},
		{"train-pair", "train a PAIR dual encoder (shared tower, passage-centric loss): --stage pretrain|finetune", runTrainPair},
		{"train-ce", "train a cross-encoder (re-ranker) from a cross.train.tsv", runTrainCE},
		{"encode", "encode a passage collection into embedding shards with a dual encoder", runEncode},
		{"index", "build FAISS indexes from embedding shards", runIndex},
		{"search", "retrieve the top-k passages of queries: a run file (TSV, and DuReader JSON)", runSearch},
		{"score", "re-score a run with a cross-encoder and re-rank it by the CE score", runScore},
		{"eval", "MRR@10 / Recall@1 / Recall@50 of a run against dev.json or qrels", runEval},
		{"train-joint", "RocketQA v2 joint training of a dual encoder and a cross-encoder on lists", runTrainJoint},
		{"lists", "RocketQA v2 training lists (undenoised + denoised) from a DE run and its CE scores", runLists},
		{"rerank", "re-order a run's top-k with any cross-encoder (score; accepts a train-joint output)", runRerank},
		{"memory", "estimate the peak memory of a joint-training step (full or chunked)", runMemory},
		{"mine", "denoised hard negatives from a DE run and its CE scores (pipeline step 3)", runMine},
		{"augment", "pseudo-labelled training lines for unlabelled queries (pipeline step 4)", runAugment},
		{"merge", "concatenate dual.train.tsv files (checked line by line)", runMerge},
		{"queries", "query ids and qrels from a dual.train.tsv without ids (DuReader), for search and mine", runQueries},
		{"convert", "convert an official PaddlePaddle RocketQA model folder into a model directory", runConvert},
		{"launch", "run a subcommand in N processes (torchrun-style environment) for cross-batch training", runLaunch},
		{"version", "print the version, libtorch and BLAS configuration", runVersion},
	}
}

// Output streams (replaced in nothing but kept as variables so that helpers print consistently).
var (
	stdout io.Writer = os.Stdout
	stderr io.Writer = os.Stderr
)

// usageError is a mistake in the command line: exit status 2.
type usageError struct{ msg string }

func (e *usageError) Error() string { return e.msg }

func usagef(format string, a ...any) error { return &usageError{fmt.Sprintf(format, a...)} }

// exitError carries a specific exit status (launch passes on a failed rank's).
type exitError struct {
	code int
	err  error
}

func (e *exitError) Error() string { return e.err.Error() }

// errHelp ends a subcommand after it printed its help: exit status 0.
var errHelp = errors.New("help requested")

func main() {
	os.Exit(realMain(os.Args[1:]))
}

func realMain(args []string) (code int) {
	name := ""
	defer func() {
		if r := recover(); r != nil {
			// no stack trace for users; the message says what broke
			fmt.Fprintf(stderr, "rocketqa %s: internal error: %v\n", name, r)
			if os.Getenv("ROCKETQA_TRACEBACK") != "" {
				fmt.Fprintf(stderr, "%s\n", debug.Stack())
			}
			code = 1
		}
	}()
	if len(args) == 0 {
		topUsage(stderr)
		return 2
	}
	name = args[0]
	switch name {
	case "-h", "-help", "--help", "help":
		if name == "help" && len(args) > 1 {
			return realMain([]string{args[1], "--help"})
		}
		topUsage(stdout)
		return 0
	case "-version", "--version":
		name = "version"
	}
	var cmd *command
	for _, c := range commands {
		if c.name == name {
			cmd = c
		}
	}
	if cmd == nil {
		fmt.Fprintf(stderr, "rocketqa: unknown command %q\nRun 'rocketqa --help' for the list of commands.\n", name)
		return 2
	}
	ctx, stop := interruptContext(name)
	defer stop()
	err := cmd.run(ctx, args[1:])
	return report(ctx, name, err)
}

// interruptContext returns a context that SIGINT or SIGTERM cancels: the command stops at its next look at the
// context, cleaning up (temporary files, checkpoints). A second signal ends the process at once with status 130,
// for a stage stuck in a call that does not look at the context. launch passes the signals on to its processes
// itself, so for it the second signal only cancels too. stop releases the signals.
func interruptContext(name string) (ctx context.Context, stop func()) {
	ctx, cancel := context.WithCancel(context.Background())
	sigs := make(chan os.Signal, 2)
	signal.Notify(sigs, os.Interrupt, syscall.SIGTERM)
	finished := make(chan struct{})
	go func() {
		select {
		case <-sigs:
			cancel()
		case <-finished:
			return
		}
		if name == "launch" {
			return
		}
		select {
		case s := <-sigs:
			fmt.Fprintf(os.Stderr, "rocketqa %s: %v again: quitting at once\n", name, s)
			os.Exit(130)
		case <-finished:
		}
	}()
	return ctx, func() {
		signal.Stop(sigs)
		close(finished)
		cancel()
	}
}

// report prints err the way every subcommand does and returns the exit status.
func report(ctx context.Context, name string, err error) int {
	var ue *usageError
	var ee *exitError
	switch {
	case err == nil:
		return 0
	case errors.Is(err, errHelp):
		return 0
	case errors.As(err, &ue):
		fmt.Fprintf(stderr, "rocketqa %s: %s\nRun 'rocketqa %s --help' for usage.\n", name, ue.msg, name)
		return 2
	case ctx.Err() != nil && errors.Is(err, context.Canceled):
		fmt.Fprintf(stderr, "rocketqa %s: interrupted\n", name)
		return 130
	case errors.As(err, &ee):
		fmt.Fprintf(stderr, "rocketqa %s: %s\n", name, cleanMsg(ee.err))
		return ee.code
	default:
		fmt.Fprintf(stderr, "rocketqa %s: %s\n", name, cleanMsg(err))
		return 1
	}
}

// cleanMsg drops the library's own "rocketqa: " prefix, which would stutter after "rocketqa <sub>: ".
func cleanMsg(err error) string {
	return strings.TrimPrefix(err.Error(), "rocketqa: ")
}

func topUsage(w io.Writer) {
	fmt.Fprintf(w, `rocketqa trains and runs RocketQA dense passage retrievers (libtorch + FAISS).

Usage:
  rocketqa <command> [flags]
  rocketqa <command> --help     flags, inputs, outputs and an example of one command

Commands:
`)
	for _, c := range commands {
		fmt.Fprintf(w, "  %-9s %s\n", c.name, c.summary)
	}
	fmt.Fprintf(w, `
The pipeline (RocketQA v1 on DuReader-retrieval, files between the stages):
  rocketqa train-de --train data/train/dual.train.tsv --init ernie-1.0-base-zh --out de0
  rocketqa encode   --model de0/final --collection data/passage-collection --out emb
  rocketqa index    --emb emb --out index
  rocketqa search   --model de0/final --index index --queries data/dev/q2qid.dev.json --out dev.run.tsv --json dev.run.json
  rocketqa eval     --run dev.run.json --ref data/dev/dev.json
  rocketqa train-ce --train data/train/cross.train.tsv --init ernie-1.0-base-zh --out ce
  rocketqa score    --model ce/final --run dev.run.tsv --queries data/dev/q2qid.dev.json --collection data/passage-collection --out dev.ce.tsv

Multi-process training with cross-batch negatives (c10d; Gloo on CPU, NCCL on CUDA):
  rocketqa launch --nproc 4 -- train-de --device cuda --train ... --out de0

Exit status: 0 success, 1 failure, 2 usage error, 130 interrupted.
`)
}

func runVersion(_ context.Context, args []string) error {
	c := helpCmd("version")
	if err := c.parse(args); err != nil {
		return err
	}
	setThreads(0)
	fmt.Fprintln(stdout, versionString())
	fmt.Fprintln(stdout, runtimeInfo())
	return nil
}

func versionString() string {
	v := "rocketqa " + version
	if bi, ok := debug.ReadBuildInfo(); ok {
		v += " (" + bi.GoVersion
		for _, s := range bi.Settings {
			if s.Key == "vcs.revision" && len(s.Value) >= 12 {
				v += ", " + s.Value[:12]
			}
			if s.Key == "vcs.modified" && s.Value == "true" {
				v += "+dirty"
			}
		}
		v += ")"
	}
	return v
}
