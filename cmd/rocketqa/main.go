// Command rocketqa runs the stages of the RocketQA pipelines, one subcommand per stage, joined by files
// (each stage is a library call; the files are those of docs/method.md §3.3 and §6.1):
//
//	train-de  -> model dir -> encode -> embedding shards -> index -> FAISS files -> search -> run file -> eval
//	train-ce  -> model dir -> score (re-rank a run) -> mine / augment -> merge -> train-de again
//
// Run `rocketqa --help` for the list of subcommands and `rocketqa <subcommand> --help` for the flags, inputs,
// outputs and an example of each. Defaults are those of the official DuReader-retrieval baseline
// (rocketqa.DuReaderDE, DuReaderCE); --lang en switches the lengths and tokenisation to the MS MARCO settings.
//
// Each subcommand parses its flags into the library's configuration (flag tables bound to its fields,
// internal/cli), lets the library validate it (errors name the flags) and makes one library call.
//
// Exit status: 0 on success, 1 when a stage fails (a missing or malformed file, a training error), 2 for a usage
// error (unknown subcommand or flag, missing required flag, bad flag value), 130 when interrupted. SIGINT (Ctrl-C)
// or SIGTERM cancels the command, which stops at its next look at the context (between lines, batches or training
// steps) and exits 130; a second signal quits at once.
package main

import (
	"context"
	"fmt"
	"io"
	"os"
	"strings"

	"github.com/rocketqa-go/rocketqa/internal/cli"
)

// version is the CLI's version; the VCS revision of the build is appended when known.
const version = "0.1.0"

// commands in the order the top-level help lists them (pipeline order).
var commands []*cli.Sub

func init() {
	commands = []*cli.Sub{
		{Name: "pretrain", Summary: "masked-LM pre-training of a BERT/ERNIE encoder on a passage collection (an --init for the others)", Run: runPretrain},
		{Name: "ict", Summary: "Inverse Cloze Task pre-training lines (dual.train.tsv layout) from a passage collection, for train-de", Run: runICT},
		{Name: "train-de", Summary: "train a dual encoder (RocketQA v1 cross-batch loss) from a dual.train.tsv", Run: runTrainDE},
		{Name: "train-pair", Summary: "train a PAIR dual encoder (shared tower, passage-centric loss): --stage pretrain|finetune", Run: runTrainPair},
		{Name: "train-ce", Summary: "train a cross-encoder (re-ranker) from a cross.train.tsv", Run: runTrainCE},
		{Name: "encode", Summary: "encode a passage collection into embedding shards with a dual encoder", Run: runEncode},
		{Name: "index", Summary: "build FAISS indexes from embedding shards", Run: runIndex},
		{Name: "search", Summary: "retrieve the top-k passages of queries: a run file (TSV, and DuReader JSON)", Run: runSearch},
		{Name: "score", Summary: "re-score a run with a cross-encoder and re-rank it by the CE score", Run: runScore},
		{Name: "eval", Summary: "MRR@10 / Recall@1 / Recall@50 of a run against dev.json or qrels", Run: runEval},
		{Name: "train-joint", Summary: "RocketQA v2 joint training of a dual encoder and a cross-encoder on lists", Run: runTrainJoint},
		{Name: "lists", Summary: "RocketQA v2 training lists (undenoised + denoised) from a DE run and its CE scores", Run: runLists},
		{Name: "rerank", Summary: "re-order a run's top-k with any cross-encoder (score; accepts a train-joint output)", Run: runRerank},
		{Name: "memory", Summary: "estimate the peak memory of a joint-training step (full or chunked)", Run: runMemory},
		{Name: "mine", Summary: "denoised hard negatives from a DE run and its CE scores (pipeline step 3)", Run: runMine},
		{Name: "augment", Summary: "pseudo-labelled training lines for unlabelled queries (pipeline step 4)", Run: runAugment},
		{Name: "merge", Summary: "concatenate dual.train.tsv files (checked line by line)", Run: runMerge},
		{Name: "queries", Summary: "query ids and qrels from a dual.train.tsv without ids (DuReader), for search and mine", Run: runQueries},
		{Name: "convert", Summary: "convert an official PaddlePaddle RocketQA model folder into a model directory", Run: runConvert},
		{Name: "launch", Summary: "run a subcommand in N processes (torchrun-style environment) for cross-batch training", Run: runLaunch, OwnSignals: true},
		{Name: "version", Summary: "print the version, libtorch and BLAS configuration", Run: runVersion},
	}
}

// Output streams (variables so that the tests capture them).
var (
	stdout io.Writer = os.Stdout
	stderr io.Writer = os.Stderr
)

func main() {
	os.Exit(realMain(os.Args[1:]))
}

// realMain runs a command line and returns the exit status (cli.App: usage errors 2, failures 1, interrupts 130).
func realMain(args []string) int {
	app := &cli.App{Name: "rocketqa", Subs: commands, Stdout: stdout, Stderr: stderr, Usage: topUsage,
		FlagFor: func(path string) string { return active.FlagFor(path) }}
	return app.Main(args)
}

func topUsage(w io.Writer) {
	head, foot, _ := strings.Cut(helpText("top"), "---\n")
	fmt.Fprint(w, head)
	for _, c := range commands {
		fmt.Fprintf(w, "  %-9s %s\n", c.Name, c.Summary)
	}
	fmt.Fprint(w, "\n"+foot)
}

func runVersion(_ context.Context, args []string) error {
	if err := helpCmd("version").parse(args); err != nil {
		return err
	}
	setThreads(0)
	fmt.Fprintln(stdout, cli.VersionString("rocketqa", version))
	fmt.Fprintln(stdout, runtimeInfo())
	return nil
}
